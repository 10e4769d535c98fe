// Package mesh turns label maps into surfaces: per-label extraction,
// volume-preserving smoothing, quadric decimation, normals and measurements.
package mesh

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
