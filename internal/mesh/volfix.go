package mesh

import (
	"math"

	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
)

// volumeOffsetLimit bounds the volume-correcting offset, as a fraction of
// the smallest voxel spacing: the correction is for what smoothing and
// decimation lose, not a licence to move the surface off the voxels.
const volumeOffsetLimit = 0.25

// restoreVolume moves every vertex of the closed mesh m along its
// area-weighted unit normal by one common offset δ, |δ| ≤ maxOffset, so that
// the enclosed volume becomes target. Components too thin to take the
// offset without turning inside out (a one-voxel hole's surface, say) stay
// where they are. The volume after the move is a cubic
// in δ whose coefficients one pass over the triangles gives; its linear
// coefficient is about the area, so Newton's method from δ = 0 converges in
// a few steps. buf is scratch space, returned for reuse.
func restoreVolume(m *Mesh, target, maxOffset float64, buf []float64) []float64 {
	nv := m.Vertices()
	if nv == 0 || len(m.Indices) == 0 || !(target > 0) || !(maxOffset > 0) {
		return buf
	}
	buf = geom.Grow(buf, 6*nv)
	p, n := buf[:3*nv], buf[3*nv:]
	// Positions relative to one vertex keep the terms small.
	var o [3]float64
	for k := range 3 {
		o[k] = float64(m.Positions[k])
	}
	for i, x := range m.Positions {
		p[i] = float64(x) - o[i%3]
	}
	vertexNormals(n, p, m.Indices)
	holdThin(n, p, m.Indices, thinFactor*maxOffset)

	// V(δ) = Σ (a+δA)·((b+δB)×(c+δC)) / 6 over triangles abc with normals ABC.
	var c0, c1, c2, c3 float64
	for t := 0; t+2 < len(m.Indices); t += 3 {
		i, j, k := m.Indices[t], m.Indices[t+1], m.Indices[t+2]
		a, b, c := vec(p, i), vec(p, j), vec(p, k)
		na, nb, nc := vec(n, i), vec(n, j), vec(n, k)
		bc := cross3(b, c)
		mixed := add3(cross3(b, nc), cross3(nb, c))
		nbc := cross3(nb, nc)
		c0 += dot3(a, bc)
		c1 += dot3(a, mixed) + dot3(na, bc)
		c2 += dot3(a, nbc) + dot3(na, mixed)
		c3 += dot3(na, nbc)
	}
	c0, c1, c2, c3 = c0/6, c1/6, c2/6, c3/6
	if !(c1 > 0) {
		return buf // not a closed outward surface; leave it alone
	}
	var d float64
	for range 8 {
		f := c0 + d*(c1+d*(c2+d*c3)) - target
		df := c1 + d*(2*c2+3*d*c3)
		if !(df > 0) {
			break
		}
		next := min(max(d-f/df, -maxOffset), maxOffset)
		if next == d {
			break
		}
		d = next
	}
	if d == 0 {
		return buf
	}
	for v := range nv {
		for k := range 3 {
			m.Positions[3*v+k] = float32(p[3*v+k] + d*n[3*v+k] + o[k])
		}
	}
	return buf
}

// thinFactor: a component is held still when its thickness, 3·|volume| /
// area (a sphere's radius), is under this many times the largest offset.
// A sphere turns inside out at one; shapes flatter than a sphere sooner.
const thinFactor = 4

// holdThin zeroes the normals n of every vertex in a connected component of
// the surface (positions p, triangles tris) thinner than thickness, so
// that the offset leaves it alone.
func holdThin(n, p []float64, tris []uint32, thickness float64) {
	nv := len(p) / 3
	f := geom.NewForest(make([]int32, nv))
	for t := 0; t+2 < len(tris); t += 3 {
		f.Union(int32(tris[t]), int32(tris[t+1]))
		f.Union(int32(tris[t]), int32(tris[t+2]))
	}
	vol, area := make([]float64, nv), make([]float64, nv) // by root
	for t := 0; t+2 < len(tris); t += 3 {
		a, b, c := vecAt(p, tris[t]), vecAt(p, tris[t+1]), vecAt(p, tris[t+2])
		r := f.Find(int32(tris[t]))
		vol[r] += geom.Dot(a, geom.Cross(b, c)) / 6
		area[r] += geom.Len(geom.Cross(geom.Sub(b, a), geom.Sub(c, a))) / 2
	}
	for v := range nv {
		r := f.Find(int32(v))
		if 3*math.Abs(vol[r]) < thickness*area[r] {
			n[3*v], n[3*v+1], n[3*v+2] = 0, 0, 0
		}
	}
}

func vec(p []float64, v uint32) [3]float64 {
	return [3]float64{p[3*v], p[3*v+1], p[3*v+2]}
}
