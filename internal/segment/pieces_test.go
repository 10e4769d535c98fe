package segment

import (
	"math"
	"testing"
)

func TestLargestEigen(t *testing.T) {
	for _, tc := range []struct {
		c    [3][3]float64
		want float64
	}{
		{[3][3]float64{{4, 0, 0}, {0, 9, 0}, {0, 0, 1}}, 9},
		{[3][3]float64{{2, 1, 0}, {1, 2, 0}, {0, 0, 1}}, 3},
		{[3][3]float64{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}, 3},
		{[3][3]float64{}, 0},
	} {
		if got := largestEigen(tc.c); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("largestEigen(%v) = %g, want %g", tc.c, got, tc.want)
		}
	}
}

// TestDropPieces puts on a 1 mm grid a small lump (a calcification), a
// thin rod as small but 40 mm long (a rib cut short by the slab) and a
// large block, and expects only the lump given back to the body.
func TestDropPieces(t *testing.T) {
	fr := frame{dims: [3]int{60, 60, 20}, sp: [3]float64{1, 1, 1}}
	lab := make([]uint16, fr.len())
	for p := range lab {
		lab[p] = labBody
	}
	set := func(i0, i1, j0, j1, k0, k1 int) {
		for k := k0; k < k1; k++ {
			for j := j0; j < j1; j++ {
				for i := i0; i < i1; i++ {
					lab[i+60*(j+60*k)] = labSkeleton
				}
			}
		}
	}
	set(5, 13, 5, 13, 5, 13)    // lump: 512 mm³, spread 2.3 mm
	set(10, 50, 30, 33, 10, 13) // rod: 360 mm³, spread 11.5 mm
	set(30, 50, 40, 60, 0, 20)  // block: 8 mL
	dropPieces(fr, lab, defaultBone)
	for _, tc := range []struct {
		name    string
		i, j, k int
		want    uint16
	}{
		{"lump", 8, 8, 8, labBody},
		{"rod", 20, 31, 11, labSkeleton},
		{"block", 40, 50, 10, labSkeleton},
		{"background", 1, 1, 1, labBody},
	} {
		if got := lab[tc.i+60*(tc.j+60*tc.k)]; got != tc.want {
			t.Errorf("%s: label %d, want %d", tc.name, got, tc.want)
		}
	}
	for p, l := range lab {
		if l&boneFlag != 0 {
			t.Fatalf("voxel %d keeps the visit flag", p)
		}
	}
}
