// Package geom holds the small pieces that the mesher and its decimator
// share: a 3-vector for the hot loops, buffer reuse, and a union-find over
// vertices. It exists so that package mesh and package mesh/decimate,
// which mesh calls, need neither copy them nor import each other.
package geom

import (
	"math"

	"github.com/iris-oculus/iris/internal/hugepage"
)

// Vec3 is a point or vector for the hot loops. A struct rather than an
// array: the compiler keeps its fields in registers, where it copies arrays
// through memory.
type Vec3 struct{ X, Y, Z float64 }

func Add(a, b Vec3) Vec3 { return Vec3{a.X + b.X, a.Y + b.Y, a.Z + b.Z} }
func Sub(a, b Vec3) Vec3 { return Vec3{a.X - b.X, a.Y - b.Y, a.Z - b.Z} }
func Scale(a Vec3, s float64) Vec3 {
	return Vec3{a.X * s, a.Y * s, a.Z * s}
}
func Dot(a, b Vec3) float64 { return a.X*b.X + a.Y*b.Y + a.Z*b.Z }
func Len(a Vec3) float64    { return math.Sqrt(Dot(a, a)) }
func Dist2(a, b Vec3) float64 {
	s := Sub(a, b)
	return Dot(s, s)
}
func Cross(a, b Vec3) Vec3 {
	return Vec3{a.Y*b.Z - a.Z*b.Y, a.Z*b.X - a.X*b.Z, a.X*b.Y - a.Y*b.X}
}

// Grow returns s resized to n, reallocated (contents lost) if too small.
func Grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return hugepage.Make[T](n)
	}
	return s[:n]
}

// Zeroed is Grow, with the elements zero: fresh memory already is.
func Zeroed[T any](s []T, n int) []T {
	if cap(s) < n {
		return hugepage.Make[T](n)
	}
	s = s[:n]
	clear(s)
	return s
}

// Reserve returns s emptied, with room for n.
func Reserve[T any](s []T, n int) []T {
	if cap(s) < n {
		return hugepage.Make[T](n)[:0]
	}
	return s[:0]
}

// Forest is a union-find over vertices, for connected components.
type Forest []int32

// NewForest makes every vertex its own tree in buf.
func NewForest(buf []int32) Forest {
	for i := range buf {
		buf[i] = int32(i)
	}
	return Forest(buf)
}

// Find returns v's root, halving the path on the way.
func (f Forest) Find(v int32) int32 {
	for f[v] != v {
		f[v] = f[f[v]]
		v = f[v]
	}
	return v
}

// Union joins the trees of a and b.
func (f Forest) Union(a, b int32) {
	if ra, rb := f.Find(a), f.Find(b); ra != rb {
		f[rb] = ra
	}
}

// V is the vector (x, y, z).
func V(x, y, z float64) Vec3 { return Vec3{x, y, z} }
