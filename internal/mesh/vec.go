package mesh

import "math"

// vec3 is a point or vector for the hot loops. A struct rather than an
// array: the compiler keeps its fields in registers, where it copies arrays
// through memory.
type vec3 struct{ x, y, z float64 }

// vecAt is vertex v of p, 3 values per vertex.
func vecAt(p []float64, v uint32) vec3 {
	q := p[3*v : 3*v+3 : 3*v+3]
	return vec3{q[0], q[1], q[2]}
}

func vAdd(a, b vec3) vec3 { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func vSub(a, b vec3) vec3 { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }
func vScale(a vec3, s float64) vec3 {
	return vec3{a.x * s, a.y * s, a.z * s}
}
func vDot(a, b vec3) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }
func vLen(a vec3) float64    { return math.Sqrt(vDot(a, a)) }
func vDist2(a, b vec3) float64 {
	s := vSub(a, b)
	return vDot(s, s)
}
func vCross(a, b vec3) vec3 {
	return vec3{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}
