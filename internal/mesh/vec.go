package mesh

import "github.com/iris-oculus/iris/internal/mesh/internal/geom"

// vec3 is geom's vector for the hot loops.
type vec3 = geom.Vec3

// vecAt is vertex v of p, 3 values per vertex.
func vecAt(p []float64, v uint32) vec3 {
	q := p[3*v : 3*v+3 : 3*v+3]
	return geom.V(q[0], q[1], q[2])
}
