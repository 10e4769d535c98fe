package mesh

import (
	"slices"
	"testing"
)

// TestSchedule: every organ exactly once, the biggest working set first
// wherever the cost order puts it, the rest by descending cost, and a
// budget of the biggest working set and an eighth.
func TestSchedule(t *testing.T) {
	// org makes an organ with a bounding box of n×n×n voxels and f faces.
	org := func(n int32, f int64) organ {
		return organ{stats: labelStats{count: 1, faces: f, hi: [3]int32{n - 1, n - 1, n - 1}}}
	}
	for _, c := range []struct {
		name   string
		organs []organ
		want   []int
	}{
		{"none", nil, []int{}},
		{"one", []organ{org(10, 100)}, []int{0}},
		{"biggest already first", []organ{org(10, 100), org(50, 10000)}, []int{1, 0}},
		// A long thin organ (costal cartilages) costs most by its box; the
		// compact one with the most faces (the liver) still goes first.
		{"biggest moved to the front", []organ{org(300, 1000), org(10, 5000), org(200, 2000), org(5, 10)}, []int{1, 0, 2, 3}},
		{"biggest last by cost", []organ{org(300, 10), org(200, 20), org(2, 30)}, []int{2, 0, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			order, budget := schedule(c.organs)
			if !slices.Equal(order, c.want) {
				t.Errorf("order %v, want %v", order, c.want)
			}
			var most int64
			for _, j := range c.organs {
				most = max(most, workingSet(j))
			}
			if want := most + most/8; budget != want {
				t.Errorf("budget %d, want %d", budget, want)
			}
		})
	}
}
