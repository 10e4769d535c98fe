package mesher

import (
	"testing"

	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/volume"
)

func TestMeshBudget(t *testing.T) {
	lambda := limits.For(3008<<20, 2)
	for _, c := range []struct {
		name   string
		lim    limits.Limits
		voxels int
		want   int64
	}{
		{"empty map", limits.Limits{Job: 1000}, 0, 500},
		{"map over the job's memory", limits.Limits{Job: 1000}, 600, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			lm := &volume.LabelMap{Data: make([]uint16, c.voxels)}
			if got := meshBudget(c.lim, lm); got != c.want {
				t.Errorf("meshBudget = %d, want %d", got, c.want)
			}
		})
	}
	if got := meshBudget(lambda, &volume.LabelMap{Data: make([]uint16, 512*512*600)}); got < 1<<30 || got > 1300<<20 {
		t.Errorf("Lambda 3008 MB, 512×512×600: budget %d MB, want about 1.2 GB", got>>20)
	}
}
