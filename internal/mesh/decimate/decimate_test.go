package decimate_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/mesh/decimate"
	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func TestDecimate(t *testing.T) {
	const r = 20.0
	sphere := decTetSurface(decSphere(0, 0, 0, r), 48, 1)
	tests := []struct {
		name     string
		m        *mesh.Mesh
		frac     float64 // target as a fraction of the input
		slack    int     // triangles above target the constraints may leave
		maxDVol  float64 // relative volume change allowed
		sphereR  float64 // if > 0, every vertex must stay near this sphere
		maxDist  float64 // ... within this distance
		wantComp int
	}{
		{name: "sphere", m: sphere, frac: 0.1, maxDVol: 0.005, sphereR: r, maxDist: 0.15, wantComp: 1},
		{name: "sphere 1%", m: sphere, frac: 0.01, maxDVol: 0.01, sphereR: r, maxDist: 1, wantComp: 1},
		{name: "torus", m: decTetSurface(decTorus(18, 6), 52, 1), frac: 0.1, maxDVol: 0.01, wantComp: 1},
		{name: "two spheres", m: decTetSurface(decUnion(decSphere(-12, 0, 0, 9), decSphere(12, 0, 0, 9)), 48, 1), frac: 0.1, maxDVol: 0.01, wantComp: 2},
		{name: "thin plate", m: decTetSurface(decBox(20, 14, 1.2), 48, 1), frac: 0.1, maxDVol: 0.02, wantComp: 1},
		{name: "noisy blob", m: decTetSurface(decBlob(18, 0.15), 52, 1), frac: 0.1, maxDVol: 0.01, wantComp: 1},
		{name: "small sphere to 0", m: decTetSurface(decSphere(0, 0, 0, 4), 12, 1), frac: 0, slack: 16, maxDVol: 0.5, wantComp: 1},
		{name: "octahedron to 0", m: decOctahedron(), frac: 0, maxDVol: 1, wantComp: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.m
			if err := decCheck(in); err != nil {
				t.Fatalf("input: %v", err)
			}
			target := int(tc.frac * float64(in.Triangles()))
			out := Decimate(in, target)
			if err := decCheck(out); err != nil {
				t.Fatalf("output: %v", err)
			}
			// Closed surfaces lose triangles in pairs; a target of 0 stops at
			// a tetrahedron per component.
			want := max(target, 4*tc.wantComp) + tc.slack
			if out.Triangles() > want {
				t.Errorf("%d triangles from %d, want ≤ %d", out.Triangles(), in.Triangles(), want)
			}
			if got, want := decEuler(out), decEuler(in); got != want {
				t.Errorf("Euler characteristic %d, want %d", got, want)
			}
			if got := decComponents(out); got != tc.wantComp {
				t.Errorf("%d components, want %d", got, tc.wantComp)
			}
			v0, v1 := decVolume(in), decVolume(out)
			if dv := math.Abs(v1-v0) / v0; !(dv <= tc.maxDVol) {
				t.Errorf("volume %.6g → %.6g: relative change %.4f > %.4f", v0, v1, dv, tc.maxDVol)
			}
			if tc.sphereR > 0 {
				if d := decSphereDist(out, tc.sphereR); d > tc.maxDist {
					t.Errorf("vertex %.3f from the sphere, want ≤ %.3f", d, tc.maxDist)
				}
			}
			t.Logf("%d → %d triangles, volume change %+.4f%%", in.Triangles(), out.Triangles(), 100*(v1-v0)/v0)
		})
	}
}

// TestDecimateUnusedVertices gives the decimator more unused vertices than
// the surface has half-edges, so that the Morton sort cannot borrow the
// half-edge array: the output is still closed, compact and at target.
func TestDecimateUnusedVertices(t *testing.T) {
	in := decTetSurface(decSphere(0, 0, 0, 10), 24, 1)
	m := &mesh.Mesh{Positions: slices.Clone(in.Positions), Indices: in.Indices}
	for i := range 2 * len(in.Indices) {
		x := float32(i%19) - 9 // inside the sphere's box
		m.Positions = append(m.Positions, x, -x, x/2)
	}
	target := in.Triangles() / 10
	decCheckDecimated(t, in, Decimate(m, target), target)
}

// decCheckDecimated checks out, decimated from in to target: closed,
// compact, at target, of in's topology and within 1 % of its volume.
func decCheckDecimated(t *testing.T, in, out *mesh.Mesh, target int) {
	t.Helper()
	if err := decCheck(out); err != nil {
		t.Fatal(err)
	}
	if out.Triangles() > target {
		t.Errorf("%d triangles, want ≤ %d", out.Triangles(), target)
	}
	if got, want := decEuler(out), decEuler(in); got != want {
		t.Errorf("Euler characteristic %d, want %d", got, want)
	}
	v0, v1 := decVolume(in), decVolume(out)
	if dv := math.Abs(v1-v0) / v0; dv > 0.01 {
		t.Errorf("volume %.6g → %.6g: relative change %.4f", v0, v1, dv)
	}
}

// TestDecimateSideBySide splits every pass between two goroutines, as big
// organs' passes are: the surfaces stay closed, of the same topology and
// volume, reach the target, and come out the same on one core as on two.
// Run with -race, it also checks that the two never touch the same memory.
func TestDecimateSideBySide(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *mesh.Mesh
	}{
		{"sphere", decTetSurface(decSphere(0, 0, 0, 20), 48, 1)},
		{"torus", decTetSurface(decTorus(18, 6), 52, 1)},
		{"two spheres", decTetSurface(decUnion(decSphere(-12, 0, 0, 9), decSphere(12, 0, 0, 9)), 48, 1)},
		{"noisy blob", decTetSurface(decBlob(18, 0.15), 52, 1)},
		// Enough half-edges for the scoring scan to split too.
		{"big sphere", decTetSurface(decSphere(0, 0, 0, 40), 88, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.m
			target := in.Triangles() / 10
			var outs [2]*mesh.Mesh
			for i, procs := range []int{2, 1} {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				var d decimate.Decimator
				decimate.SetSideBySideMin(&d, 1)
				p, idx, ok := d.Simplify(in.Positions, in.Indices, target)
				if !ok {
					t.Fatal("Simplify did nothing")
				}
				outs[i] = &mesh.Mesh{Positions: p, Indices: idx}
			}
			decCheckDecimated(t, in, outs[0], target)
			if !slices.Equal(outs[0].Positions, outs[1].Positions) || !slices.Equal(outs[0].Indices, outs[1].Indices) {
				t.Error("one core and two give different surfaces")
			}
			t.Logf("%d → %d triangles", in.Triangles(), outs[0].Triangles())
		})
	}
}

func TestDecimateUnchanged(t *testing.T) {
	tet := decTetrahedron()
	sphere := decTetSurface(decSphere(0, 0, 0, 5), 14, 1)
	sphere.Normals = make([]float32, len(sphere.Positions))
	tests := []struct {
		name   string
		m      *mesh.Mesh
		target int
	}{
		{"tetrahedron to 0", tet, 0},
		{"tetrahedron to -1", tet, -1},
		{"target equals input", sphere, sphere.Triangles()},
		{"target above input", sphere, sphere.Triangles() + 10},
		{"empty", &mesh.Mesh{}, 0},
		{"index out of range", &mesh.Mesh{Positions: []float32{0, 0, 0, 1, 0, 0, 0, 1, 0}, Indices: []uint32{0, 1, 3}}, 0},
		{"indices not in triples", &mesh.Mesh{Positions: []float32{0, 0, 0, 1, 0, 0, 0, 1, 0}, Indices: []uint32{0, 1}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Decimate(tc.m, tc.target)
			if !slices.Equal(out.Positions, tc.m.Positions) || !slices.Equal(out.Indices, tc.m.Indices) || !slices.Equal(out.Normals, tc.m.Normals) {
				t.Fatalf("changed: %d→%d triangles", tc.m.Triangles(), out.Triangles())
			}
			if len(tc.m.Positions) > 0 && &out.Positions[0] == &tc.m.Positions[0] {
				t.Error("result shares Positions with the input")
			}
		})
	}
	if Decimate(nil, 10) != nil {
		t.Error("Decimate(nil) is not nil")
	}
}

func TestDecimateDropsNormalsAndKeepsInput(t *testing.T) {
	m := decTetSurface(decSphere(0, 0, 0, 8), 20, 1)
	m.Normals = make([]float32, len(m.Positions))
	before := &mesh.Mesh{Positions: slices.Clone(m.Positions), Normals: slices.Clone(m.Normals), Indices: slices.Clone(m.Indices)}
	out := Decimate(m, m.Triangles()/4)
	if out.Normals != nil {
		t.Error("Normals kept after moving vertices")
	}
	if !slices.Equal(m.Positions, before.Positions) || !slices.Equal(m.Indices, before.Indices) || !slices.Equal(m.Normals, before.Normals) {
		t.Error("input modified")
	}
}

// Vertices where the surface is not a manifold must survive untouched: two
// boxes touching at one shared vertex (a pinched vertex with two fans).
func TestDecimateNonManifoldInput(t *testing.T) {
	a := decTetSurface(decBox(6, 6, 6), 16, 1)
	b := decTetSurface(decBox(6, 6, 6), 16, 1)
	pa, pb := decExtreme(a, 1), decExtreme(b, -1) // a's rightmost, b's leftmost vertex
	m := &mesh.Mesh{Positions: slices.Clone(a.Positions), Indices: slices.Clone(a.Indices)}
	off := uint32(a.Vertices())
	for i, p := range b.Positions {
		m.Positions = append(m.Positions, p+a.Positions[3*pa+uint32(i%3)]-b.Positions[3*pb+uint32(i%3)])
	}
	for _, i := range b.Indices {
		if i == pb {
			m.Indices = append(m.Indices, pa)
		} else {
			m.Indices = append(m.Indices, i+off)
		}
	}
	out := Decimate(m, 0)
	if out.Triangles() >= m.Triangles()/4 {
		t.Errorf("only %d → %d triangles", m.Triangles(), out.Triangles())
	}
	p := m.Positions[3*pa : 3*pa+3]
	found := false
	for v := range out.Vertices() {
		if slices.Equal(out.Positions[3*v:3*v+3], p) {
			found = true
			if fans := decFans(out)[v]; fans != 2 {
				t.Errorf("pinched vertex has %d fans, want 2", fans)
			}
		}
	}
	if !found {
		t.Error("pinched vertex moved or removed")
	}
	// Two spheres (χ = 2 each) sharing one vertex.
	if got := decEuler(out); got != 3 {
		t.Errorf("Euler characteristic %d, want 3", got)
	}
}

// decExtreme is the vertex with the largest sign·x.
func decExtreme(m *mesh.Mesh, sign float32) uint32 {
	best := uint32(0)
	for v := range uint32(m.Vertices()) {
		if sign*m.Positions[3*v] > sign*m.Positions[3*best] {
			best = v
		}
	}
	return best
}

// Real organ surfaces: all 41 labels of TotalSegmentator's example, extracted
// here by marching tetrahedra on the lightly blurred mask (so this test does
// not depend on the package's own extraction) and decimated to 10%.
func TestDecimateOrgans(t *testing.T) {
	lmap := loadLM(t, "ct_3mm_seg.nii.gz")
	lm, dims, spacing := lmap.Data, lmap.Dims, spacing(lmap.Affine)
	present := map[uint16]int{}
	for _, v := range lm {
		if v != 0 {
			present[v]++
		}
	}
	if len(present) != 41 {
		t.Fatalf("%d labels, want 41", len(present))
	}
	worst := 0.0
	for label := range present {
		m := decLabelSurface(lm, dims, spacing, label)
		if err := decCheck(m); err != nil {
			t.Fatalf("label %d input: %v", label, err)
		}
		target := m.Triangles() / 10
		out := Decimate(m, target)
		if err := decCheck(out); err != nil {
			t.Errorf("label %d output: %v", label, err)
			continue
		}
		if got, want := decEuler(out), decEuler(m); got != want {
			t.Errorf("label %d: Euler characteristic %d, want %d", label, got, want)
		}
		// Tiny components stop at tetrahedra, so allow those above target.
		if limit := target + 4*decComponents(m); out.Triangles() > limit {
			t.Errorf("label %d: %d → %d triangles, want ≤ %d", label, m.Triangles(), out.Triangles(), limit)
		}
		v0, v1 := decVolume(m), decVolume(out)
		dv := math.Abs(v1-v0) / v0
		worst = max(worst, dv)
		t.Logf("label %d: %d->%d dv %.3f%%", label, m.Triangles(), out.Triangles(), 100*dv)
		if dv > 0.01 {
			t.Errorf("label %d (%d triangles): volume %.1f → %.1f mm³ (%.2f%%)", label, m.Triangles(), v0, v1, 100*dv)
		}
	}
	t.Logf("worst volume change over 41 organs: %.3f%%", 100*worst)
}

func BenchmarkDecimate(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    *mesh.Mesh
	}{
		{"sphere", decTetSurface(decSphere(0, 0, 0, 60), 128, 1)},
		{"blob", decTetSurface(decBlob(50, 0.15), 128, 1)},
	} {
		b.Run(fmt.Sprintf("%s/%dk", bc.name, bc.m.Triangles()/1000), func(b *testing.B) {
			var out *mesh.Mesh
			for b.Loop() {
				out = Decimate(bc.m, bc.m.Triangles()/10)
			}
			b.ReportMetric(float64(bc.m.Triangles())*float64(b.N)/b.Elapsed().Seconds(), "tris/s")
			b.ReportMetric(float64(out.Triangles()), "out-tris")
		})
	}
}

// --- test surfaces ---

type decField func(x, y, z float64) float64

func decSphere(cx, cy, cz, r float64) decField {
	return func(x, y, z float64) float64 {
		return math.Sqrt((x-cx)*(x-cx)+(y-cy)*(y-cy)+(z-cz)*(z-cz)) - r
	}
}

func decTorus(big, small float64) decField {
	return func(x, y, z float64) float64 {
		q := math.Hypot(x, y) - big
		return math.Hypot(q, z) - small
	}
}

func decBox(a, b, c float64) decField {
	return func(x, y, z float64) float64 {
		return max(math.Abs(x)-a, math.Abs(y)-b, math.Abs(z)-c)
	}
}

func decBlob(r, noise float64) decField {
	return func(x, y, z float64) float64 {
		n := math.Sin(0.31*x+1)*math.Sin(0.23*y+2)*math.Sin(0.27*z) + 0.5*math.Sin(0.71*x)*math.Sin(0.67*y+0.5)*math.Sin(0.59*z+1)
		return math.Sqrt(x*x+y*y+z*z) - r*(1+noise*n)
	}
}

func decUnion(f, g decField) decField {
	return func(x, y, z float64) float64 { return min(f(x, y, z), g(x, y, z)) }
}

// decTetSurface extracts the zero set of f by marching tetrahedra over an
// n³ grid of spacing h centred on the origin.
func decTetSurface(f decField, n int, h float64) *mesh.Mesh {
	lo := -float64(n-1) / 2 * h
	vals := make([]float64, n*n*n)
	for k := range n {
		for j := range n {
			for i := range n {
				vals[(k*n+j)*n+i] = f(lo+float64(i)*h, lo+float64(j)*h, lo+float64(k)*h)
			}
		}
	}
	return decMarchTets(vals, [3]int{n, n, n}, [3]float64{lo, lo, lo}, [3]float64{h, h, h})
}

// decMarchTets extracts the zero set of the samples vals (x fastest) on a
// grid of the given size, origin and spacing, negative inside, by marching
// tetrahedra. It has no ambiguous cases, so the result is a closed, oriented
// 2-manifold, with the slivers and flat patches of marching cubes.
func decMarchTets(vals []float64, dims [3]int, origin, h [3]float64) *mesh.Mesh {
	for i, v := range vals {
		if v == 0 {
			vals[i] = 1e-9 // keep vertices off grid points
		}
	}
	point := func(id int32) vec3 {
		i := int(id)
		return geom.V(
			origin[0]+float64(i%dims[0])*h[0],
			origin[1]+float64(i/dims[0]%dims[1])*h[1],
			origin[2]+float64(i/(dims[0]*dims[1]))*h[2],
		)
	}
	m := &mesh.Mesh{}
	edges := map[[2]int32]uint32{}
	vertex := func(p, q int32) uint32 {
		if p > q {
			p, q = q, p
		}
		if v, ok := edges[[2]int32{p, q}]; ok {
			return v
		}
		s := vals[p] / (vals[p] - vals[q])
		x := geom.Add(point(p), geom.Scale(geom.Sub(point(q), point(p)), s))
		m.Positions = append(m.Positions, float32(x.X), float32(x.Y), float32(x.Z))
		v := uint32(m.Vertices() - 1)
		edges[[2]int32{p, q}] = v
		return v
	}
	centroid := func(ids []int32) vec3 {
		var c vec3
		for _, id := range ids {
			c = geom.Add(c, point(id))
		}
		return geom.Scale(c, 1/float64(len(ids)))
	}
	emit := func(a, b, c uint32, in, out []int32) {
		pa, pb, pc := decVec(m, a), decVec(m, b), decVec(m, c)
		nrm := geom.Cross(geom.Sub(pb, pa), geom.Sub(pc, pa))
		if geom.Dot(nrm, geom.Sub(centroid(out), centroid(in))) < 0 {
			b, c = c, b
		}
		m.Indices = append(m.Indices, a, b, c)
	}
	corner := [8][3]int{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}}
	// Kuhn's six tetrahedra around the main diagonal tile the grid conformingly.
	tets := [6][4]int{{0, 1, 3, 7}, {0, 1, 5, 7}, {0, 2, 3, 7}, {0, 2, 6, 7}, {0, 4, 5, 7}, {0, 4, 6, 7}}
	var in, out []int32
	for k := range dims[2] - 1 {
		for j := range dims[1] - 1 {
			for i := range dims[0] - 1 {
				var ids [8]int32
				for c, d := range corner {
					ids[c] = int32(((k+d[2])*dims[1]+j+d[1])*dims[0] + i + d[0])
				}
				for _, tet := range tets {
					in, out = in[:0], out[:0]
					for _, c := range tet {
						if vals[ids[c]] < 0 {
							in = append(in, ids[c])
						} else {
							out = append(out, ids[c])
						}
					}
					switch {
					case len(in) == 0 || len(out) == 0:
					case len(in) == 1:
						emit(vertex(in[0], out[0]), vertex(in[0], out[1]), vertex(in[0], out[2]), in, out)
					case len(out) == 1:
						emit(vertex(out[0], in[0]), vertex(out[0], in[1]), vertex(out[0], in[2]), in, out)
					default:
						e00, e01 := vertex(in[0], out[0]), vertex(in[0], out[1])
						e11, e10 := vertex(in[1], out[1]), vertex(in[1], out[0])
						emit(e00, e01, e11, in, out)
						emit(e00, e11, e10, in, out)
					}
				}
			}
		}
	}
	return m
}

func decTetrahedron() *mesh.Mesh {
	return &mesh.Mesh{
		Positions: []float32{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1},
		Indices:   []uint32{0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3},
	}
}

func decOctahedron() *mesh.Mesh {
	return &mesh.Mesh{
		Positions: []float32{1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1},
		Indices: []uint32{
			0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4,
			2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5,
		},
	}
}

// decLabelSurface extracts one label of a label map, in millimetres, by
// marching tetrahedra at level 1/2 on the mean of the mask and its 3×3×3 box
// blur: every voxel keeps its side of the surface, which the blur only
// smooths. The grid is cropped to the label, with two voxels to spare.
func decLabelSurface(lm []uint16, dims [3]int, spacing [3]float64, label uint16) *mesh.Mesh {
	lo, hi := dims, [3]int{-1, -1, -1}
	for k := range dims[2] {
		for j := range dims[1] {
			for i := range dims[0] {
				if lm[(k*dims[1]+j)*dims[0]+i] == label {
					lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
					hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
				}
			}
		}
	}
	var n [3]int
	for a := range 3 {
		lo[a] -= 2
		n[a] = hi[a] - lo[a] + 3
	}
	at := func(i, j, k int) int { return (k*n[1]+j)*n[0] + i }
	mask := make([]float64, n[0]*n[1]*n[2])
	for k := range n[2] {
		for j := range n[1] {
			for i := range n[0] {
				x, y, z := i+lo[0], j+lo[1], k+lo[2]
				if x >= 0 && y >= 0 && z >= 0 && x < dims[0] && y < dims[1] && z < dims[2] && lm[(z*dims[1]+y)*dims[0]+x] == label {
					mask[at(i, j, k)] = 1
				}
			}
		}
	}
	vals := make([]float64, len(mask))
	for k := range n[2] {
		for j := range n[1] {
			for i := range n[0] {
				s := 0.0
				for dk := max(k-1, 0); dk <= min(k+1, n[2]-1); dk++ {
					for dj := max(j-1, 0); dj <= min(j+1, n[1]-1); dj++ {
						for di := max(i-1, 0); di <= min(i+1, n[0]-1); di++ {
							s += mask[at(di, dj, dk)]
						}
					}
				}
				vals[at(i, j, k)] = 0.5 - (mask[at(i, j, k)]+s/27)/2
			}
		}
	}
	var origin [3]float64
	for a := range 3 {
		origin[a] = float64(lo[a]) * spacing[a]
	}
	return decMarchTets(vals, n, origin, spacing)
}

// --- checks ---

// decCheck is Mesh.Check, and also that every vertex is used (Decimate
// compacts) and every component encloses positive volume (faces outward).
func decCheck(m *mesh.Mesh) error {
	if err := m.Check(); err != nil {
		return err
	}
	used := make([]bool, m.Vertices())
	for _, v := range m.Indices {
		used[v] = true
	}
	if v := slices.Index(used, false); v >= 0 {
		return fmt.Errorf("vertex %d unused: not compact", v)
	}
	for c, vol := range decComponentVolumes(m) {
		if !(vol > 0) {
			return fmt.Errorf("component %d has volume %g: not oriented outward", c, vol)
		}
	}
	return nil
}

// decCorner is the corner of a triangle at v, from one neighbour to the next.
type decCorner struct{ v, from, to uint32 }

// decFans counts the separate triangle fans around each vertex: the cycles
// of its wedges' from→to map.
func decFans(m *mesh.Mesh) []int {
	ws := make([]decCorner, 0, len(m.Indices))
	for t := 0; t < len(m.Indices); t += 3 {
		for k := range 3 {
			ws = append(ws, decCorner{m.Indices[t+k], m.Indices[t+(k+1)%3], m.Indices[t+(k+2)%3]})
		}
	}
	slices.SortFunc(ws, func(a, b decCorner) int { return cmp.Or(cmp.Compare(a.v, b.v), cmp.Compare(a.from, b.from)) })
	fans := make([]int, m.Vertices())
	for i := 0; i < len(ws); {
		j := i
		for j < len(ws) && ws[j].v == ws[i].v {
			j++
		}
		fans[ws[i].v] = decCycles(ws[i:j])
		i = j
	}
	return fans
}

// decCycles counts the cycles of the wedges of one vertex, sorted by from.
func decCycles(ws []decCorner) int {
	seen := make([]bool, len(ws))
	n := 0
	for i := range ws {
		if seen[i] {
			continue
		}
		n++
		for j := i; j >= 0 && !seen[j]; {
			seen[j] = true
			k, ok := slices.BinarySearchFunc(ws, ws[j].to, func(w decCorner, f uint32) int { return cmp.Compare(w.from, f) })
			if !ok {
				break
			}
			j = k
		}
	}
	return n
}

func decEuler(m *mesh.Mesh) int {
	return m.Vertices() - len(m.Indices)/2 + m.Triangles()
}

func decVolume(m *mesh.Mesh) float64 {
	v := 0.0
	for _, c := range decComponentVolumes(m) {
		v += c
	}
	return v
}

// decComponentVolumes gives the enclosed volume of each connected component.
func decComponentVolumes(m *mesh.Mesh) []float64 {
	root := decLabelComponents(m)
	ids := map[uint32]int{}
	var vols []float64
	for t := 0; t < len(m.Indices); t += 3 {
		r := root[m.Indices[t]]
		c, ok := ids[r]
		if !ok {
			c = len(vols)
			ids[r] = c
			vols = append(vols, 0)
		}
		a, b, d := decVec(m, m.Indices[t]), decVec(m, m.Indices[t+1]), decVec(m, m.Indices[t+2])
		vols[c] += geom.Dot(a, geom.Cross(b, d)) / 6
	}
	return vols
}

func decComponents(m *mesh.Mesh) int { return len(decComponentVolumes(m)) }

func decLabelComponents(m *mesh.Mesh) []uint32 {
	parent := make([]uint32, m.Vertices())
	for i := range parent {
		parent[i] = uint32(i)
	}
	var find func(uint32) uint32
	find = func(x uint32) uint32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for t := 0; t < len(m.Indices); t += 3 {
		a := find(m.Indices[t])
		for _, v := range m.Indices[t+1 : t+3] {
			if b := find(v); b != a {
				parent[b] = a
			}
		}
	}
	for i := range parent {
		parent[i] = find(uint32(i))
	}
	return parent
}

func decVec(m *mesh.Mesh, v uint32) vec3 {
	return geom.V(float64(m.Positions[3*v]), float64(m.Positions[3*v+1]), float64(m.Positions[3*v+2]))
}

// decSphereDist is the largest distance of a vertex from the sphere of
// radius r about the origin.
func decSphereDist(m *mesh.Mesh, r float64) float64 {
	d := 0.0
	for v := range m.Vertices() {
		d = max(d, math.Abs(geom.Len(decVec(m, uint32(v)))-r))
	}
	return d
}

// FuzzDecimate meshes clouds of random voxels, the hardest topology a label
// map gives (many tiny components, handles, near-pinches), with and
// without decimation, and checks that decimation leaves every surface a
// closed, oriented 2-manifold with the same Euler characteristic and
// components, within the triangle budget but for what tiny components keep.
func FuzzDecimate(f *testing.F) {
	f.Add(uint64(1), uint8(90), uint8(10))
	f.Add(uint64(2), uint8(150), uint8(0))
	f.Add(uint64(3), uint8(210), uint8(30))
	f.Add(uint64(4), uint8(40), uint8(5))
	f.Fuzz(func(t *testing.T, seed uint64, fill, percent uint8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		sp := [3]float64{0.8, 1.1, 2.5}
		a := volume.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
		for c := range 3 {
			a[c][c] = sp[c]
		}
		any := false
		dims := [3]int{14, 13, 12}
		lm := &volume.LabelMap{Grid: volume.Grid{Dims: dims, Affine: a}, Data: make([]uint16, dims[0]*dims[1]*dims[2])}
		for i := range lm.Data {
			if rng.IntN(256) < int(fill) {
				any = true
				lm.Data[i] = 1
			}
		}
		if !any {
			return
		}
		ss, err := mesh.Build(context.Background(), lm, mesh.Options{Smooth: 0.5, Reduce: 1, Workers: 1})
		if err != nil || len(ss) != 1 {
			t.Fatalf("build: %d surfaces, %v", len(ss), err)
		}
		want := ss[0].Mesh
		reduce := max(float64(percent%101), 1) / 100
		got := Decimate(want, int(math.Round(reduce*float64(want.Triangles()))))
		if err := decCheckLoose(got); err != nil {
			t.Fatalf("decimated to %.0f%%: %v", 100*reduce, err)
		}
		if g, w := decEuler(got), decEuler(want); g != w {
			t.Errorf("Euler characteristic %d, undecimated %d", g, w)
		}
		// Cavities are components of negative volume: decimation must keep
		// each component, and each on its side.
		if g, w := decSigns(got), decSigns(want); g != w {
			t.Errorf("components (outer, cavities) %v, undecimated %v", g, w)
		}
		t.Logf("%d → %d triangles (target %.0f%%), %d components", want.Triangles(), got.Triangles(), 100*reduce, decComponents(want))
	})
}

// decCheckLoose is decCheck for surfaces that may hold cavities: every
// component's volume must be non-zero, and the whole's positive.
func decCheckLoose(m *mesh.Mesh) error {
	if err := decCheck(m); err != nil && !strings.Contains(err.Error(), "not oriented outward") {
		return err
	}
	vols := decComponentVolumes(m)
	total := 0.0
	for c, v := range vols {
		if v == 0 || math.IsNaN(v) {
			return fmt.Errorf("component %d has volume %g", c, v)
		}
		total += v
	}
	if !(total > 0) {
		return fmt.Errorf("total volume %g: inside out", total)
	}
	return nil
}

// decSigns counts the components of positive and of negative volume.
func decSigns(m *mesh.Mesh) [2]int {
	var n [2]int
	for _, v := range decComponentVolumes(m) {
		if v > 0 {
			n[0]++
		} else {
			n[1]++
		}
	}
	return n
}

// Decimate runs the decimator on m, or returns a copy of m when it does
// nothing.
func Decimate(m *mesh.Mesh, target int) *mesh.Mesh {
	if m == nil {
		return nil
	}
	if p, i, ok := decimate.Simplify(m.Positions, m.Indices, target); ok {
		return &mesh.Mesh{Positions: p, Indices: i}
	}
	return &mesh.Mesh{Positions: slices.Clone(m.Positions), Normals: slices.Clone(m.Normals), Indices: slices.Clone(m.Indices)}
}

type vec3 = geom.Vec3

func loadLM(tb testing.TB, name string) *volume.LabelMap {
	tb.Helper()
	path := testdata.Path(tb, "totalsegmentator-example", name)
	im, err := volume.ReadFile(path, volume.ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return lm
}

func spacing(a volume.Affine) [3]float64 {
	var s [3]float64
	for c := range 3 {
		s[c] = math.Sqrt(a[0][c]*a[0][c] + a[1][c]*a[1][c] + a[2][c]*a[2][c])
	}
	return s
}
