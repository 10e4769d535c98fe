package export

import (
	"math"

	"github.com/iris-oculus/iris/internal/mesh"
)

// vertexNormals computes area-weighted vertex normals for a mesh that has
// none: the sum of the (unnormalized) cross products of the triangles
// around each vertex, normalized. A vertex in no triangle gets zero.
func vertexNormals(m *mesh.Mesh) []float32 {
	acc := make([]float64, len(m.Positions))
	p := m.Positions
	for t := 0; t+2 < len(m.Indices); t += 3 {
		a, b, c := 3*int(m.Indices[t]), 3*int(m.Indices[t+1]), 3*int(m.Indices[t+2])
		n := cross(sub(p, b, a), sub(p, c, a))
		for _, v := range [3]int{a, b, c} {
			acc[v] += n[0]
			acc[v+1] += n[1]
			acc[v+2] += n[2]
		}
	}
	out := make([]float32, len(acc))
	for i := 0; i < len(acc); i += 3 {
		n := unit([3]float64{acc[i], acc[i+1], acc[i+2]})
		out[i], out[i+1], out[i+2] = float32(n[0]), float32(n[1]), float32(n[2])
	}
	return out
}

// sub is p[i:i+3] − p[j:j+3] in float64.
func sub(p []float32, i, j int) [3]float64 {
	return [3]float64{
		float64(p[i]) - float64(p[j]),
		float64(p[i+1]) - float64(p[j+1]),
		float64(p[i+2]) - float64(p[j+2]),
	}
}

func cross(u, v [3]float64) [3]float64 {
	return [3]float64{u[1]*v[2] - u[2]*v[1], u[2]*v[0] - u[0]*v[2], u[0]*v[1] - u[1]*v[0]}
}

func dot(u, v [3]float64) float64 { return u[0]*v[0] + u[1]*v[1] + u[2]*v[2] }

// unit returns v scaled to length 1, or zero for a zero vector.
func unit(v [3]float64) [3]float64 {
	l := math.Sqrt(dot(v, v))
	if l == 0 {
		return [3]float64{}
	}
	return [3]float64{v[0] / l, v[1] / l, v[2] / l}
}

// snormNormal quantizes a normal to normalized int8. The Khronos validator
// rejects a NORMAL whose decoded length is off 1 by more than 0.00674
// (0.86 in int8 units); plain rounding can miss that by a hair (up to
// √3/2), so such a vector is replaced by the neighbouring lattice point
// closest in direction among those of acceptable length. A zero normal
// (a vertex in no triangle) becomes +Y, since glTF wants unit normals.
func snormNormal(v [3]float64) [3]int8 {
	n := unit(v)
	if n == ([3]float64{}) {
		return [3]int8{0, normalQ, 0}
	}
	var r [3]float64
	for a := range 3 {
		r[a] = math.Round(n[a] * normalQ)
	}
	if lenOK(r) {
		return toInt8(r)
	}
	best, bestCos := r, math.Inf(-1)
	for d := range 27 {
		c := [3]float64{r[0] + float64(d%3-1), r[1] + float64(d/3%3-1), r[2] + float64(d/9-1)}
		if math.Abs(c[0]) > normalQ || math.Abs(c[1]) > normalQ || math.Abs(c[2]) > normalQ || !lenOK(c) {
			continue
		}
		if cos := dot(c, n) / math.Sqrt(dot(c, c)); cos > bestCos {
			best, bestCos = c, cos
		}
	}
	return toInt8(best)
}

// lenOK reports whether an int8 normal decodes within a safe margin inside
// the validator's unit-length tolerance.
// It compares squares: the same test as |len−127| ≤ 0.75 without a root.
func lenOK(q [3]float64) bool {
	const lo, hi = (normalQ - 0.75) * (normalQ - 0.75), (normalQ + 0.75) * (normalQ + 0.75)
	d := dot(q, q)
	return d >= lo && d <= hi
}

func toInt8(q [3]float64) [3]int8 { return [3]int8{int8(q[0]), int8(q[1]), int8(q[2])} }

// linearColor converts an 8-bit sRGB colour to linear RGB (IEC 61966-2-1),
// which glTF's baseColorFactor is.
func linearColor(c [3]uint8) [3]float64 {
	var out [3]float64
	for i, v := range c {
		s := float64(v) / 255
		if s <= 0.04045 {
			out[i] = s / 12.92
		} else {
			out[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return out
}
