package mesh

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/iris-oculus/iris/internal/volume"
)

// The volume correction (restoreVolume) makes every surface enclose exactly
// its voxels' volume, so the volume error is zero by construction and says
// nothing about where the surface lies. The boundary distance does:
//
// A label's voxel boundary is the union of the voxel faces that separate a
// voxel of the label from a voxel of another label or from outside the
// grid; each face is the parallelogram, in RAS mm through the label map's
// affine, between two voxel centres' midpoints (index ±½ along its axis).
// The boundary distance of a mesh vertex is the Euclidean distance in mm
// from the vertex to the nearest such face. A surface's figures are the
// 95th percentile (nearest rank: the ⌈0.95·n⌉-th smallest of its n
// vertices) and the maximum over its vertices. Vertices only: a triangle's
// interior may lie a little farther. bench/mesh/evaluate.py computes the
// same figures from written meshes, by the same definition.

// BoundaryStats is a surface's boundary distance, in mm.
type BoundaryStats struct {
	P95, Max float64
}

// BoundaryDistances returns, for every vertex of m (RAS mm), its distance
// in mm to the nearest voxel-boundary face of label in lm. It is exact: it
// searches the voxels around each vertex in growing shells until no face
// outside the searched ones can be nearer.
func BoundaryDistances(lm *volume.LabelMap, label uint16, m *Mesh) ([]float64, error) {
	bf, err := newBoundaryFinder(lm, label)
	if err != nil {
		return nil, err
	}
	d := make([]float64, m.Vertices())
	for v := range d {
		d[v] = bf.distance(m.pos(uint32(v)))
	}
	if len(d) > 0 && math.IsInf(slices.Max(d), 1) {
		return nil, fmt.Errorf("mesh: label %d has no voxels", label)
	}
	return d, nil
}

// Boundary summarises BoundaryDistances: P95 (nearest rank) and Max.
func Boundary(lm *volume.LabelMap, label uint16, m *Mesh) (BoundaryStats, error) {
	d, err := BoundaryDistances(lm, label, m)
	if err != nil {
		return BoundaryStats{}, err
	}
	return BoundaryStats{P95: NearestRank(d, 0.95), Max: NearestRank(d, 1)}, nil
}

// NearestRank is the q-quantile of d by nearest rank: the ⌈q·n⌉-th
// smallest value (the smallest for q = 0); NaN for no values. d is sorted
// in place.
func NearestRank(d []float64, q float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	slices.Sort(d)
	k := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(k, 0), len(d)-1)]
}

type boundaryFinder struct {
	lm    *volume.LabelMap
	label uint16
	a     [3][4]float64 // index → RAS
	inv   volume.Affine // RAS → index
	// bound: any point whose index coordinates differ from q by at least r
	// along some axis a is at least r·bound mm from q: |Δq_a| = |row_a(A⁻¹)·Δp|
	// ≤ ‖row_a(A⁻¹)‖‖Δp‖, so bound = min over a of 1/‖row_a(A⁻¹)‖ (the
	// smallest spacing, for an axis-aligned grid).
	bound float64
	// per face axis: the two edge vectors in mm, and their Gram inverse
	face [3]faceGeom
}

type faceGeom struct {
	u, w     [3]float64 // edges: affine columns of the two other axes
	n        [3]float64 // unit normal, u × w normalised
	b, c     int        // which axes those are
	g00, g01 float64    // inverse Gram matrix of (u, w)
	g11      float64
}

func newBoundaryFinder(lm *volume.LabelMap, label uint16) (*boundaryFinder, error) {
	if lm.Len() != len(lm.Data) || lm.Len() == 0 {
		return nil, errors.New("mesh: label map is empty or its data does not match its dimensions")
	}
	inv, err := lm.Affine.Inverse()
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	bf := &boundaryFinder{lm: lm, label: label, inv: inv}
	var maxRow float64
	for r := range 3 {
		for c := range 4 {
			bf.a[r][c] = lm.Affine[r][c]
		}
		maxRow = max(maxRow, math.Sqrt(inv[r][0]*inv[r][0]+inv[r][1]*inv[r][1]+inv[r][2]*inv[r][2]))
	}
	bf.bound = 1 / maxRow
	col := func(c int) [3]float64 { return [3]float64{bf.a[0][c], bf.a[1][c], bf.a[2][c]} }
	for ax := range 3 {
		b, c := (ax+1)%3, (ax+2)%3
		u, w := col(b), col(c)
		uu, uw, ww := dot3(u, u), dot3(u, w), dot3(w, w)
		det := uu*ww - uw*uw
		if !(det > 0) {
			return nil, errors.New("mesh: affine is singular")
		}
		n := cross3(u, w)
		n = scale3(n, 1/norm3(n))
		bf.face[ax] = faceGeom{u: u, w: w, n: n, b: b, c: c, g00: ww / det, g01: -uw / det, g11: uu / det}
	}
	return bf, nil
}

func (bf *boundaryFinder) is(i, j, k int) bool {
	d := bf.lm.Dims
	if i < 0 || j < 0 || k < 0 || i >= d[0] || j >= d[1] || k >= d[2] {
		return false
	}
	return bf.lm.Data[i+d[0]*(j+d[1]*k)] == bf.label
}

// distance searches Chebyshev shells of voxels around the voxel nearest p
// in index space. q is within ½ of that voxel's centre on every axis, and
// a face of a voxel in shell r+1 or beyond lies at least r index units from
// q along some axis, so after shell r nothing unsearched is nearer than
// r·bound mm.
func (bf *boundaryFinder) distance(p [3]float64) float64 {
	q := bf.inv.Apply(p[0], p[1], p[2])
	var c [3]int
	for k := range 3 {
		c[k] = int(math.Round(q[k]))
	}
	d := bf.lm.Dims
	maxR := max(d[0], d[1], d[2]) + max(abs(c[0]), abs(c[1]), abs(c[2])) + 1
	best := math.Inf(1)
	for r := 0; r <= maxR; r++ {
		for k := c[2] - r; k <= c[2]+r; k++ {
			if k < 0 || k >= d[2] {
				continue
			}
			for j := c[1] - r; j <= c[1]+r; j++ {
				if j < 0 || j >= d[1] {
					continue
				}
				onShell := abs(k-c[2]) == r || abs(j-c[1]) == r
				step := 1
				if !onShell && r > 0 {
					step = 2 * r // only the two ends of this row are on the shell
				}
				for i := c[0] - r; i <= c[0]+r; i += step {
					if !bf.is(i, j, k) {
						continue
					}
					v := [3]int{i, j, k}
					for ax := range 3 {
						for _, s := range [2]int{-1, 1} {
							n := v
							n[ax] += s
							if bf.is(n[0], n[1], n[2]) {
								continue
							}
							best = min(best, bf.faceDistance(p, v, ax, s, best))
						}
					}
				}
			}
		}
		if best <= float64(r)*bf.bound {
			break
		}
	}
	return best
}

// faceDistance is the distance from p to the face of voxel v on side s of
// axis ax: a parallelogram with corner at index v + s·½·e_ax − ½·e_b − ½·e_c
// and edges u, w. When p's distance to the face's plane, a lower bound, is
// already at least best, it returns that instead (min with best is best
// either way).
func (bf *boundaryFinder) faceDistance(p [3]float64, v [3]int, ax, s int, best float64) float64 {
	f := &bf.face[ax]
	var idx [3]float64
	for k := range 3 {
		idx[k] = float64(v[k])
	}
	idx[ax] += 0.5 * float64(s)
	idx[f.b] -= 0.5
	idx[f.c] -= 0.5
	var dd [3]float64
	for r := range 3 {
		dd[r] = p[r] - (bf.a[r][0]*idx[0] + bf.a[r][1]*idx[1] + bf.a[r][2]*idx[2] + bf.a[r][3])
	}
	if pd := math.Abs(dot3(dd, f.n)); pd >= best {
		return pd
	}
	du, dw := dot3(dd, f.u), dot3(dd, f.w)
	su := f.g00*du + f.g01*dw
	sw := f.g01*du + f.g11*dw
	if su >= 0 && su <= 1 && sw >= 0 && sw <= 1 {
		return norm3(sub3(dd, add3(scale3(f.u, su), scale3(f.w, sw))))
	}
	// Outside: the nearest point is on one of the four edges.
	zero := [3]float64{}
	return min(
		segmentDistance(dd, zero, f.u),
		segmentDistance(dd, zero, f.w),
		segmentDistance(dd, f.u, f.w),
		segmentDistance(dd, f.w, f.u),
	)
}

// segmentDistance is the distance from p to the segment from a to a+e.
func segmentDistance(p, a, e [3]float64) float64 {
	d := sub3(p, a)
	t := 0.0
	if ee := dot3(e, e); ee > 0 {
		t = min(max(dot3(d, e)/ee, 0), 1)
	}
	return norm3(sub3(d, scale3(e, t)))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func scale3(a [3]float64, s float64) [3]float64 { return [3]float64{a[0] * s, a[1] * s, a[2] * s} }
func norm3(a [3]float64) float64                { return math.Sqrt(dot3(a, a)) }
