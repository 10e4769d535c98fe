package mesh

// Decimate simplifies m to about target triangles with quadric error metrics,
// keeping it closed, manifold and consistently oriented.
// STUB: being written; returns m unchanged.
func Decimate(m *Mesh, target int) *Mesh { return m }
