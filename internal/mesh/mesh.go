// Package mesh turns label maps into surfaces: per-label extraction,
// volume-preserving smoothing, quadric decimation, normals and measurements.
//
// Build makes, for each label, a closed, watertight, 2-manifold triangle
// surface with outward normals in patient millimetres (RAS):
//
//   - marching cubes on the label's binary mask, cropped to its bounding
//     box, with a case table that is topologically consistent for every
//     configuration (foreground 6-connected, background 18-connected), so
//     the surface is closed and manifold whatever the voxels;
//   - windowed-sinc smoothing that does not shrink, not even thin
//     structures, folds no triangle and moves no vertex more than a voxel
//     along any axis from where marching cubes put it, on the voxel
//     boundary;
//   - quadric decimation (package decimate), to a fraction of the
//     triangles or a scene budget;
//   - one offset along the normals, a fraction of a voxel at most, that
//     brings the enclosed volume back to the voxels' volume (components
//     too thin to take it, such as a one-voxel hole's, stay put).
//
// Surface extraction, smoothing and volume correction are written by hand
// because no Go library does label-map meshing with these guarantees.
// Build knows nothing of what labels mean.
package mesh

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Mesh is an indexed triangle surface in patient millimetres (RAS+).
// Triangles are counter-clockwise seen from outside (outward normals).
type Mesh struct {
	Positions []float32 // x,y,z per vertex
	Normals   []float32 // x,y,z per vertex, unit length; may be nil
	Indices   []uint32  // 3 per triangle
}

// Triangles is the number of triangles.
func (m *Mesh) Triangles() int { return len(m.Indices) / 3 }

// Vertices is the number of vertices.
func (m *Mesh) Vertices() int { return len(m.Positions) / 3 }

func (m *Mesh) pos(v uint32) [3]float64 {
	p := m.Positions[3*v : 3*v+3 : 3*v+3]
	return [3]float64{float64(p[0]), float64(p[1]), float64(p[2])}
}

// Volume is the enclosed volume by the divergence theorem: positive for a
// closed surface with outward normals, in cubic millimetres.
func (m *Mesh) Volume() float64 {
	if len(m.Indices) == 0 {
		return 0
	}
	// Relative to one vertex, to keep the terms small where the surface is
	// far from the origin; a closed surface's volume does not depend on it.
	o := m.pos(m.Indices[0])
	var v float64
	for t := 0; t+2 < len(m.Indices); t += 3 {
		a := sub3(m.pos(m.Indices[t]), o)
		b := sub3(m.pos(m.Indices[t+1]), o)
		c := sub3(m.pos(m.Indices[t+2]), o)
		v += dot3(a, cross3(b, c))
	}
	return v / 6
}

// Area is the surface area in square millimetres.
func (m *Mesh) Area() float64 {
	var s float64
	for t := 0; t+2 < len(m.Indices); t += 3 {
		a := m.pos(m.Indices[t])
		s += math.Sqrt(norm2(cross3(sub3(m.pos(m.Indices[t+1]), a), sub3(m.pos(m.Indices[t+2]), a))))
	}
	return s / 2
}

// ComputeNormals sets Normals to the area-weighted average of the normals
// of each vertex's triangles, unit length. A vertex in no triangle, or only
// in degenerate ones, gets +z.
func (m *Mesh) ComputeNormals() {
	n := make([]float64, len(m.Positions))
	for t := 0; t+2 < len(m.Indices); t += 3 {
		i, j, k := m.Indices[t], m.Indices[t+1], m.Indices[t+2]
		a := m.pos(i)
		c := cross3(sub3(m.pos(j), a), sub3(m.pos(k), a)) // length = 2·area
		for _, v := range [3]uint32{i, j, k} {
			n[3*v] += c[0]
			n[3*v+1] += c[1]
			n[3*v+2] += c[2]
		}
	}
	if cap(m.Normals) >= len(m.Positions) {
		m.Normals = m.Normals[:len(m.Positions)]
	} else {
		m.Normals = make([]float32, len(m.Positions))
	}
	for v := 0; v+2 < len(n); v += 3 {
		l := math.Sqrt(n[v]*n[v] + n[v+1]*n[v+1] + n[v+2]*n[v+2])
		if l == 0 || math.IsNaN(l) || math.IsInf(l, 0) {
			m.Normals[v], m.Normals[v+1], m.Normals[v+2] = 0, 0, 1
			continue
		}
		m.Normals[v] = float32(n[v] / l)
		m.Normals[v+1] = float32(n[v+1] / l)
		m.Normals[v+2] = float32(n[v+2] / l)
	}
}

// Check returns nil if and only if m is a closed, 2-manifold, consistently
// oriented triangle surface: indices in range, no triangle with a repeated
// vertex or zero area, finite coordinates (and normals, if any), every edge
// in exactly two triangles that run along it in opposite directions, and
// every vertex's triangles forming a single fan. Vertices in no triangle are
// allowed. The error names the first problem found and where it is.
func (m *Mesh) Check() error {
	if m == nil {
		return errors.New("mesh: nil")
	}
	if len(m.Positions)%3 != 0 {
		return fmt.Errorf("mesh: %d position values, not a multiple of 3", len(m.Positions))
	}
	if len(m.Indices)%3 != 0 {
		return fmt.Errorf("mesh: %d indices, not a multiple of 3", len(m.Indices))
	}
	if len(m.Indices) == 0 {
		return errors.New("mesh: no triangles")
	}
	if len(m.Normals) != 0 && len(m.Normals) != len(m.Positions) {
		return fmt.Errorf("mesh: %d normal values for %d position values", len(m.Normals), len(m.Positions))
	}
	nv := m.Vertices()
	if nv > math.MaxUint32 {
		return fmt.Errorf("mesh: %d vertices, more than 32-bit indices address", nv)
	}
	for i, x := range m.Positions {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("mesh: vertex %d has a non-finite coordinate %v", i/3, x)
		}
	}
	for i, x := range m.Normals {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("mesh: vertex %d has a non-finite normal %v", i/3, x)
		}
	}
	if err := m.checkTriangles(nv); err != nil {
		return err
	}
	if err := m.checkEdges(); err != nil {
		return err
	}
	return m.checkFans(nv)
}

func (m *Mesh) checkTriangles(nv int) error {
	for t := 0; t < len(m.Indices); t += 3 {
		i, j, k := m.Indices[t], m.Indices[t+1], m.Indices[t+2]
		if int(i) >= nv || int(j) >= nv || int(k) >= nv {
			return fmt.Errorf("mesh: triangle %d (%d %d %d) indexes past the %d vertices", t/3, i, j, k, nv)
		}
		if i == j || j == k || k == i {
			return fmt.Errorf("mesh: triangle %d (%d %d %d) repeats a vertex", t/3, i, j, k)
		}
		a, b, c := m.pos(i), m.pos(j), m.pos(k)
		l := max(norm2(sub3(b, a)), norm2(sub3(c, b)), norm2(sub3(a, c)))
		cr := math.Sqrt(norm2(cross3(sub3(b, a), sub3(c, a))))
		if !(cr > 1e-10*l) {
			return fmt.Errorf("mesh: triangle %d (%d %d %d) at %v is degenerate (zero area)", t/3, i, j, k, a)
		}
	}
	return nil
}

// checkEdges requires each directed edge to occur once and its reverse to
// occur too: then every edge has exactly two triangles, oppositely oriented.
func (m *Mesh) checkEdges() error {
	keys := make([]uint64, len(m.Indices))
	for t := 0; t < len(m.Indices); t += 3 {
		for k := range 3 {
			a, b := m.Indices[t+k], m.Indices[t+(k+1)%3]
			keys[t+k] = uint64(a)<<32 | uint64(b)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		a, b := uint32(k>>32), uint32(k)
		if i > 0 && keys[i-1] == k {
			return fmt.Errorf("mesh: edge %d→%d at %v is in more than one triangle in the same direction (non-manifold edge or inconsistent orientation)", a, b, m.pos(a))
		}
		if _, ok := slices.BinarySearch(keys, uint64(b)<<32|uint64(a)); !ok {
			return fmt.Errorf("mesh: edge %d→%d at %v has no triangle on its other side (open surface or inconsistent orientation)", a, b, m.pos(a))
		}
	}
	return nil
}

// checkFans follows each vertex's ring of triangles: with the edge checks
// passed, the link of a vertex is a union of cycles, and it must be one.
func (m *Mesh) checkFans(nv int) error {
	start := make([]int32, nv+1)
	for _, v := range m.Indices {
		start[v+1]++
	}
	for v := range nv {
		start[v+1] += start[v]
	}
	fill := slices.Clone(start[:nv])
	link := make([][2]uint32, len(m.Indices)) // per corner: next, prev
	for t := 0; t < len(m.Indices); t += 3 {
		for k := range 3 {
			v := m.Indices[t+k]
			link[fill[v]] = [2]uint32{m.Indices[t+(k+1)%3], m.Indices[t+(k+2)%3]}
			fill[v]++
		}
	}
	for v := range nv {
		ring := link[start[v]:start[v+1]]
		if len(ring) == 0 {
			continue
		}
		first, cur, steps := ring[0][0], ring[0][1], 1
		for cur != first && steps <= len(ring) {
			found := false
			for _, l := range ring {
				if l[0] == cur {
					cur, found = l[1], true
					break
				}
			}
			if !found {
				break
			}
			steps++
		}
		if cur != first || steps != len(ring) {
			return fmt.Errorf("mesh: vertex %d at %v: its %d triangles do not form a single fan (non-manifold vertex)", v, m.pos(uint32(v)), len(ring))
		}
	}
	return nil
}
