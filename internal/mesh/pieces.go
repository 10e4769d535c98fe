package mesh

import (
	"fmt"
	"slices"

	"github.com/iris-oculus/iris/internal/volume"
)

// PieceRule says which pieces of each label to keep, for prints: a piece
// is a 6-connected set of a label's voxels, the same connectivity Build's
// surfaces give their foreground, so each piece is one closed surface
// (with its cavities).
type PieceRule struct {
	// MinVolumeMl drops pieces smaller than this many millilitres; 0
	// drops none on size.
	MinVolumeMl float64
	// LargestOnly keeps only each label's largest piece.
	LargestOnly bool
}

// Zero reports whether the rule keeps everything.
func (r PieceRule) Zero() bool { return r.MinVolumeMl <= 0 && !r.LargestOnly }

// Pieces counts one label's pieces before and after DropPieces.
type Pieces struct {
	Before, Kept int
	DroppedMl    float64 // the volume of the pieces dropped
}

// DropPieces returns a copy of lm without the pieces rule drops (their
// voxels become background), and each label's piece counts. A label whose
// every piece is dropped by size keeps its largest, so that no chosen
// organ disappears from a print without a word: its Pieces say so.
func DropPieces(lm *volume.LabelMap, rule PieceRule) (*volume.LabelMap, map[uint16]Pieces, error) {
	if rule.MinVolumeMl < 0 {
		return nil, nil, fmt.Errorf("mesh: negative MinVolumeMl %v", rule.MinVolumeMl)
	}
	nx, ny, nz := lm.Dims[0], lm.Dims[1], lm.Dims[2]
	if nx*ny*nz != len(lm.Data) {
		return nil, nil, fmt.Errorf("mesh: label map of %v holds %d voxels", lm.Dims, len(lm.Data))
	}
	out := &volume.LabelMap{Grid: lm.Grid, Data: slices.Clone(lm.Data), Extensions: lm.Extensions}
	voxelMl := lm.VoxelVolume() / 1000
	comp := make([]int32, len(lm.Data)) // 0: unvisited or background; else piece id + 1
	type piece struct {
		label  uint16
		voxels int
	}
	var pieces []piece
	var stack []int
	for start, v := range lm.Data {
		if v == 0 || comp[start] != 0 {
			continue
		}
		id := int32(len(pieces) + 1)
		n := 0
		comp[start] = id
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n++
			i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
			for _, q := range [6]int{
				ifIn(i > 0, p-1), ifIn(i < nx-1, p+1),
				ifIn(j > 0, p-nx), ifIn(j < ny-1, p+nx),
				ifIn(k > 0, p-nx*ny), ifIn(k < nz-1, p+nx*ny),
			} {
				if q >= 0 && comp[q] == 0 && lm.Data[q] == v {
					comp[q] = id
					stack = append(stack, q)
				}
			}
		}
		pieces = append(pieces, piece{label: v, voxels: n})
	}
	// The largest piece of each label.
	largest := map[uint16]int{}
	for i, p := range pieces {
		if b, ok := largest[p.label]; !ok || p.voxels > pieces[b].voxels {
			largest[p.label] = i
		}
	}
	keep := make([]bool, len(pieces))
	counts := map[uint16]Pieces{}
	for i, p := range pieces {
		ok := i == largest[p.label] ||
			(!rule.LargestOnly && float64(p.voxels)*voxelMl >= rule.MinVolumeMl)
		keep[i] = ok
		c := counts[p.label]
		c.Before++
		if ok {
			c.Kept++
		} else {
			c.DroppedMl += float64(p.voxels) * voxelMl
		}
		counts[p.label] = c
	}
	for p, id := range comp {
		if id != 0 && !keep[id-1] {
			out.Data[p] = 0
		}
	}
	return out, counts, nil
}

func ifIn(ok bool, q int) int {
	if ok {
		return q
	}
	return -1
}
