package decimate

import "math"

// Small helpers the decimator shares in kind (not in code) with package
// mesh: a vector type for the hot loops, buffer reuse and a union-find. They
// are copied rather than imported so that this package depends on nothing
// of mesh's, which calls it.

// vec3 is a point or vector for the hot loops. A struct rather than an
// array: the compiler keeps its fields in registers, where it copies arrays
// through memory.
type vec3 struct{ x, y, z float64 }

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

// grow returns s resized to n, reallocated (contents lost) if too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// zeroed is grow, with the elements zero: fresh memory already is.
func zeroed[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// reserve returns s emptied, with room for n.
func reserve[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

// forest is a union-find over vertices, for connected components.
type forest []int32

// newForest makes every vertex its own tree in buf.
func newForest(buf []int32) forest {
	for i := range buf {
		buf[i] = int32(i)
	}
	return forest(buf)
}

// find returns v's root, halving the path on the way.
func (f forest) find(v int32) int32 {
	for f[v] != v {
		f[v] = f[f[v]]
		v = f[v]
	}
	return v
}

func (f forest) union(a, b int32) {
	if ra, rb := f.find(a), f.find(b); ra != rb {
		f[rb] = ra
	}
}
