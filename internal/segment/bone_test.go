package segment

import (
	"fmt"
	"testing"
)

// TestMarrowBehindCorticalGap builds a vertebral body in cross-section: a
// ring of cortex 30 mm across around marrow of 100 HU (denser than
// muscle, as trabecular bone of an elderly spine is), repeated over a few
// slices. Where the cortex is lost to partial volume for two pixels in a
// row (a gap of 6 mm on 3 mm pixels) the closing must still seal it and
// the marrow must be filled. A ring open by much more than that is a
// concavity and its inside stays soft tissue.
func TestMarrowBehindCorticalGap(t *testing.T) {
	for _, tc := range []struct {
		spMM       float64
		gapMM      float64
		wantMarrow bool
	}{
		{3, 0, true},
		{3, 6, true}, // left open by a plus-shaped closing
		{3, 15, false},
		{1, 0, true},
		{1, 15, false},
	} {
		t.Run(fmt.Sprintf("%gmm_gap%gmm", tc.spMM, tc.gapMM), func(t *testing.T) {
			lab, centre := corticalRing(tc.spMM, tc.gapMM)
			if got := lab[centre] == labSkeleton; got != tc.wantMarrow {
				t.Errorf("marrow at the centre labelled %d, want skeleton %v", lab[centre], tc.wantMarrow)
			}
		})
	}
}

// corticalRing segments the skeleton of a square ring of cortex (600 HU,
// 2 mm thick, outer side 30 mm) around 100 HU marrow, in muscle of 40 HU,
// with a gap of gapMM cut through one wall, on pixels of spMM and slices
// of 3 mm. It returns the labels and the index of a voxel at the ring's
// centre in the middle slice.
func corticalRing(spMM, gapMM float64) ([]uint16, int) {
	n := int(90 / spMM)
	const nz = 7
	fr := frame{dims: [3]int{n, n, nz}, sp: [3]float64{spMM, spMM, 3}, rightSign: 1, antSign: 1, supSign: 1}
	hu := make([]int16, fr.len())
	lab := make([]uint16, fr.len())
	mid := make([]float64, nz) // the body's midline, far from the ring
	ring := func(x, y float64) int16 {
		dx, dy := max(x-45, 45-x), max(y-45, 45-y) // Chebyshev distance from the centre, mm
		d := max(dx, dy)
		switch {
		case d > 15:
			return 40
		case d > 13:
			// The gap is cut in the wall at x = 30..32 mm.
			if dx > 13 && x < 45 && y-45 >= -gapMM/2 && y-45 < gapMM/2 {
				return 40
			}
			return 600
		default:
			return 100
		}
	}
	for k := range nz {
		for j := range n {
			for i := range n {
				p := i + n*(j+n*k)
				hu[p] = ring((float64(i)+0.5)*spMM, (float64(j)+0.5)*spMM)
				lab[p] = labBody
			}
		}
	}
	skeleton(fr, hu, lab, mid, defaultBone)
	c := n / 2
	return lab, c + n*(c+n*(nz/2))
}
