package mesh

import (
	"math"
	"testing"
)

// TestRestoreVolume offsets a marching-cubes sphere to several target
// volumes: reachable ones exactly, others only as far as the limit.
func TestRestoreVolume(t *testing.T) {
	lm := newLabelMap([3]int{20, 20, 20}, identity, func(i, j, k int) uint16 {
		x, y, z := float64(i)-9.5, float64(j)-9.5, float64(k)-9.5
		if x*x+y*y+z*z <= 64 {
			return 1
		}
		return 0
	})
	base := extractRaw(t, lm, 1)
	v0, a0 := base.Volume(), base.Area()
	for _, c := range []struct {
		target, limit float64
		want          float64 // volume after
	}{
		{v0 * 1.02, 0.5, v0 * 1.02},
		{v0 * 0.97, 0.5, v0 * 0.97},
		{v0, 0.5, v0},
		// 0.05 voxel of offset adds about 0.05·area.
		{v0 * 1.5, 0.05, v0 + 0.05*a0},
		{v0 * 0.5, 0.05, v0 - 0.05*a0},
	} {
		m := &Mesh{Positions: append([]float32(nil), base.Positions...), Indices: base.Indices}
		restoreVolume(m, c.target, c.limit, nil)
		if got := m.Volume(); math.Abs(got-c.want) > 0.002*c.want {
			t.Errorf("target %.1f, limit %v: volume %.1f, want %.1f", c.target, c.limit, got, c.want)
		}
		if err := m.Check(); err != nil {
			t.Error(err)
		}
		for i := range m.Positions {
			if d := math.Abs(float64(m.Positions[i] - base.Positions[i])); d > c.limit+1e-5 {
				t.Fatalf("target %.1f: a coordinate moved %v, limit %v", c.target, d, c.limit)
			}
		}
	}
}
