package mesh

import (
	"bytes"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// piecesMap is a 10×10×10 map of 2 mm voxels (0.008 mL each): label 1 as
// a 3×3×3 cube (27 voxels), a 2×2×2 cube (8) and a lone voxel touching
// the big cube only at a corner (not 6-connected: a piece of its own);
// label 2 as a 2×2×2 cube touching label 1's big cube face to face.
func piecesMap() *volume.LabelMap {
	lm := &volume.LabelMap{Grid: volume.Grid{Dims: [3]int{10, 10, 10},
		Affine: volume.Affine{{2, 0, 0, 0}, {0, 2, 0, 0}, {0, 0, 2, 0}, {0, 0, 0, 1}}}, Data: make([]uint16, 1000)}
	set := func(i, j, k int, v uint16) { lm.Data[i+10*(j+10*k)] = v }
	box := func(i0, j0, k0, n int, v uint16) {
		for k := k0; k < k0+n; k++ {
			for j := j0; j < j0+n; j++ {
				for i := i0; i < i0+n; i++ {
					set(i, j, k, v)
				}
			}
		}
	}
	box(1, 1, 1, 3, 1)
	box(6, 6, 6, 2, 1)
	set(4, 4, 4, 1)
	box(1, 1, 4, 2, 2)
	return lm
}

func count(lm *volume.LabelMap, v uint16) int {
	n := 0
	for _, x := range lm.Data {
		if x == v {
			n++
		}
	}
	return n
}

func TestDropPieces(t *testing.T) {
	tests := []struct {
		name     string
		rule     PieceRule
		voxels1  int
		kept1    int
		dropped1 float64 // mL
	}{
		{"keep everything", PieceRule{}, 36, 3, 0},
		{"under 0.05 mL (6.25 voxels)", PieceRule{MinVolumeMl: 0.05}, 35, 2, 0.008},
		{"under 0.1 mL (12.5 voxels)", PieceRule{MinVolumeMl: 0.1}, 27, 1, 0.072},
		{"largest only", PieceRule{LargestOnly: true}, 27, 1, 0.072},
		{"under 10 mL: the largest stays", PieceRule{MinVolumeMl: 10}, 27, 1, 0.072},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := piecesMap()
			out, counts, err := DropPieces(in, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if n := count(out, 1); n != tt.voxels1 {
				t.Errorf("label 1 keeps %d voxels, want %d", n, tt.voxels1)
			}
			if n := count(out, 2); n != 8 {
				t.Errorf("label 2 keeps %d voxels, want 8", n)
			}
			c := counts[1]
			if c.Before != 3 || c.Kept != tt.kept1 || c.DroppedMl < tt.dropped1-1e-9 || c.DroppedMl > tt.dropped1+1e-9 {
				t.Errorf("label 1 pieces %+v, want 3 before, %d kept, %.3f mL dropped", c, tt.kept1, tt.dropped1)
			}
			if c := counts[2]; c.Before != 1 || c.Kept != 1 {
				t.Errorf("label 2 pieces %+v", c)
			}
			if count(in, 1) != 36 {
				t.Error("DropPieces changed its input")
			}
		})
	}
	if _, _, err := DropPieces(piecesMap(), PieceRule{MinVolumeMl: -1}); err == nil {
		t.Error("a negative size is accepted")
	}
}

// TestDropPiecesRealMap: on TotalSegmentator's map of the example CT, where
// several labels have more than one piece, largest-only leaves one piece
// of every label.
func TestDropPiecesRealMap(t *testing.T) {
	img, err := volume.Read(bytes.NewReader(testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	out, counts, err := DropPieces(lm, PieceRule{LargestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	multi := 0
	for _, c := range counts {
		if c.Before > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatal("no label of the example has several pieces; the test shows nothing")
	}
	_, again, err := DropPieces(out, PieceRule{})
	if err != nil {
		t.Fatal(err)
	}
	for l, c := range again {
		if c.Before != 1 || c.Kept != 1 {
			t.Errorf("label %d: %+v after largest-only", l, c)
		}
	}
	if len(again) != len(counts) {
		t.Errorf("%d labels left of %d", len(again), len(counts))
	}
	t.Logf("%d of %d labels had several pieces", multi, len(counts))
}
