package mesh

import (
	"math"

	"github.com/iris-oculus/iris/internal/volume"
)

// spacing returns the lengths of the affine's three columns.
func spacing(a volume.Affine) [3]float64 {
	var s [3]float64
	for c := range 3 {
		s[c] = math.Sqrt(a[0][c]*a[0][c] + a[1][c]*a[1][c] + a[2][c]*a[2][c])
	}
	return s
}

// voxelDiagonal is the length of a voxel's diagonal, mm.
func voxelDiagonal(a volume.Affine) float64 {
	s := spacing(a)
	return math.Sqrt(s[0]*s[0] + s[1]*s[1] + s[2]*s[2])
}

// invert3 returns the inverse of the affine's 3×3 part.
func invert3(a volume.Affine) [3][3]float64 {
	m := [3][3]float64{{a[0][0], a[0][1], a[0][2]}, {a[1][0], a[1][1], a[1][2]}, {a[2][0], a[2][1], a[2][2]}}
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) + m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var inv [3][3]float64
	for r := range 3 {
		for c := range 3 {
			r1, r2, c1, c2 := (c+1)%3, (c+2)%3, (r+1)%3, (r+2)%3
			inv[r][c] = (m[r1][c1]*m[r2][c2] - m[r1][c2]*m[r2][c1]) / det
		}
	}
	return inv
}

// maxBoundaryDistance is the largest distance, in mm, from a vertex of m to
// the nearest voxel face between label and anything else (the boundary of
// the voxel set, the volume's edge included). Faces are searched within
// reach voxels of each vertex; a vertex with none that near counts as
// reach+1 voxel diagonals away. The affine's columns must be orthogonal.
func maxBoundaryDistance(lm *volume.LabelMap, label uint16, m *Mesh, reach int) float64 {
	a := lm.Affine
	inv := invert3(a)
	d := lm.Dims
	in := func(i, j, k int) bool {
		if i < 0 || j < 0 || k < 0 || i >= d[0] || j >= d[1] || k >= d[2] {
			return false
		}
		return lm.Data[i+d[0]*(j+d[1]*k)] == label
	}
	sp := spacing(a)
	var worst float64
	for v := range m.Vertices() {
		w := m.pos(uint32(v))
		q := [3]float64{w[0] - a[0][3], w[1] - a[1][3], w[2] - a[2][3]}
		var p [3]float64 // index coordinates
		for r := range 3 {
			p[r] = inv[r][0]*q[0] + inv[r][1]*q[1] + inv[r][2]*q[2]
		}
		best := math.Inf(1)
		c := [3]int{int(math.Round(p[0])), int(math.Round(p[1])), int(math.Round(p[2]))}
		for k := c[2] - reach; k <= c[2]+reach; k++ {
			for j := c[1] - reach; j <= c[1]+reach; j++ {
				for i := c[0] - reach; i <= c[0]+reach; i++ {
					if !in(i, j, k) {
						continue
					}
					vox := [3]int{i, j, k}
					for axis := range 3 {
						for _, side := range [2]int{-1, 1} {
							n := vox
							n[axis] += side
							if in(n[0], n[1], n[2]) {
								continue
							}
							// Distance from p to the face, per axis in mm:
							// the face is at vox[axis]+side/2 along axis and
							// spans ±1/2 across it.
							var d2 float64
							for k2 := range 3 {
								var g float64
								if k2 == axis {
									g = p[k2] - (float64(vox[k2]) + float64(side)/2)
								} else {
									g = max(math.Abs(p[k2]-float64(vox[k2]))-0.5, 0)
								}
								d2 += g * g * sp[k2] * sp[k2]
							}
							best = min(best, math.Sqrt(d2))
						}
					}
				}
			}
		}
		if math.IsInf(best, 1) {
			best = float64(reach+1) * voxelDiagonal(a)
		}
		worst = max(worst, best)
	}
	return worst
}
