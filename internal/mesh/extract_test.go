package mesh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/iris-oculus/iris/internal/volume"
)

// identity is the index = millimetre affine.
var identity = volume.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}

// newLabelMap makes a label map whose voxels are set by f.
func newLabelMap(dims [3]int, a volume.Affine, f func(i, j, k int) uint16) *volume.LabelMap {
	lm := &volume.LabelMap{Grid: volume.Grid{Dims: dims, Affine: a}, Data: make([]uint16, dims[0]*dims[1]*dims[2])}
	for k := range dims[2] {
		for j := range dims[1] {
			for i := range dims[0] {
				lm.Data[i+dims[0]*(j+dims[1]*k)] = f(i, j, k)
			}
		}
	}
	return lm
}

// extractRaw runs marching cubes alone (no smoothing, no decimation) and
// returns the surface in index coordinates.
func extractRaw(t testing.TB, lm *volume.LabelMap, label uint16) *Mesh {
	t.Helper()
	st := measureLabels(lm, 1)
	if int(label) >= len(st) || st[label].count == 0 {
		t.Fatalf("label %d not in the label map", label)
	}
	s := st[label]
	var e extractor
	b := box{lo: [3]int{int(s.lo[0]), int(s.lo[1]), int(s.lo[2])}, hi: [3]int{int(s.hi[0]), int(s.hi[1]), int(s.hi[2])}}
	if err := e.extract(context.Background(), lm, label, b, int(s.faces)); err != nil {
		t.Fatal(err)
	}
	// One vertex per crossing voxel edge, i.e. per boundary voxel face,
	// which the scan counted independently.
	if len(e.pos) != 3*int(s.faces) {
		t.Fatalf("label %d: %d vertices, the scan counted %d boundary faces", label, len(e.pos)/3, s.faces)
	}
	m := &Mesh{Positions: make([]float32, len(e.pos)), Indices: append([]uint32(nil), e.tris...)}
	for i, x := range e.pos {
		m.Positions[i] = float32(x)
	}
	return m
}

// component is one connected piece of a mesh.
type component struct {
	euler  int
	volume float64
}

// components splits a mesh into its vertex-connected pieces, with each
// piece's Euler characteristic and enclosed volume.
func components(m *Mesh) []component {
	parent := make([]int, m.Vertices())
	for i := range parent {
		parent[i] = i
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for t := 0; t < len(m.Indices); t += 3 {
		a := find(int(m.Indices[t]))
		parent[find(int(m.Indices[t+1]))] = a
		parent[find(int(m.Indices[t+2]))] = a
	}
	id := map[int]int{}
	var comps []component
	var tris []int
	used := make([]bool, m.Vertices())
	for t := 0; t < len(m.Indices); t += 3 {
		r := find(int(m.Indices[t]))
		ci, ok := id[r]
		if !ok {
			ci = len(comps)
			id[r] = ci
			comps = append(comps, component{})
			tris = append(tris, 0)
		}
		tris[ci]++
		a, b, c := m.pos(m.Indices[t]), m.pos(m.Indices[t+1]), m.pos(m.Indices[t+2])
		comps[ci].volume += dot3(a, cross3(b, c)) / 6
		for _, v := range m.Indices[t : t+3] {
			used[v] = true
		}
	}
	for v, u := range used {
		if u {
			comps[id[find(v)]].euler++
		}
	}
	for ci := range comps {
		// A closed triangle surface has E = 3F/2, so χ = V − F/2.
		comps[ci].euler -= tris[ci] / 2
	}
	return comps
}

// voxelTopology computes, for the voxels equal to label, the number of
// 6-connected components and the Euler characteristic of the solid under
// the (6, 18) adjacency pair, from a cubical complex independent of the
// mesher: vertices = voxels, edges = face-adjacent pairs, squares = 2×2
// planar blocks, cubes = 2×2×2 blocks (the (6, 26) complex), plus one disk
// for every 2×2×2 block whose only background voxels are two opposite
// corners: under 18-adjacency those are not connected, so the hole through
// the block's centre is filled.
func voxelTopology(lm *volume.LabelMap, label uint16) (comps, euler int) {
	d := lm.Dims
	in := func(i, j, k int) bool {
		if i < 0 || j < 0 || k < 0 || i >= d[0] || j >= d[1] || k >= d[2] {
			return false
		}
		return lm.Data[i+d[0]*(j+d[1]*k)] == label
	}
	var v, e, f, c, h int
	for k := -1; k < d[2]; k++ {
		for j := -1; j < d[1]; j++ {
			for i := -1; i < d[0]; i++ {
				if in(i, j, k) {
					v++
					for _, o := range [3][3]int{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} {
						if in(i+o[0], j+o[1], k+o[2]) {
							e++
						}
					}
				}
				// Squares with lower corner (i, j, k) in the three planes.
				if in(i, j, k) && in(i+1, j, k) && in(i, j+1, k) && in(i+1, j+1, k) {
					f++
				}
				if in(i, j, k) && in(i+1, j, k) && in(i, j, k+1) && in(i+1, j, k+1) {
					f++
				}
				if in(i, j, k) && in(i, j+1, k) && in(i, j, k+1) && in(i, j+1, k+1) {
					f++
				}
				var bits, n int
				for q := range 8 {
					if in(i+q&1, j+q>>1&1, k+q>>2&1) {
						bits |= 1 << q
						n++
					}
				}
				if n == 8 {
					c++
				}
				if n == 6 && (bits == 0xff^(1|1<<7) || bits == 0xff^(1<<1|1<<6) || bits == 0xff^(1<<2|1<<5) || bits == 0xff^(1<<3|1<<4)) {
					h++
				}
			}
		}
	}
	// 6-connected components by flood fill.
	seen := make([]bool, len(lm.Data))
	for s := range lm.Data {
		if lm.Data[s] != label || seen[s] {
			continue
		}
		comps++
		stack := []int{s}
		seen[s] = true
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i, j, k := p%d[0], p/d[0]%d[1], p/(d[0]*d[1])
			for _, o := range [6][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
				a, b, cc := i+o[0], j+o[1], k+o[2]
				if in(a, b, cc) {
					q := a + d[0]*(b+d[1]*cc)
					if !seen[q] {
						seen[q] = true
						stack = append(stack, q)
					}
				}
			}
		}
	}
	return comps, v - e + f - c + h
}

// TestExtractAllConfigurations meshes each of the 256 2×2×2
// configurations, padded with background: each must give closed, manifold,
// outward surfaces, one sphere (χ = 2, positive volume) per 6-connected
// component of the foreground.
func TestExtractAllConfigurations(t *testing.T) {
	for cfg := 1; cfg < 256; cfg++ {
		lm := newLabelMap([3]int{4, 4, 4}, identity, func(i, j, k int) uint16 {
			if i < 1 || j < 1 || k < 1 || i > 2 || j > 2 || k > 2 {
				return 0
			}
			c := (i - 1) + 2*(j-1) + 4*(k-1)
			return uint16(cfg >> c & 1)
		})
		m := extractRaw(t, lm, 1)
		if err := m.Check(); err != nil {
			t.Errorf("config %08b: %v", cfg, err)
			continue
		}
		want, _ := voxelTopology(lm, 1)
		comps := components(m)
		if len(comps) != want {
			t.Errorf("config %08b: %d surfaces, want %d (one per 6-connected component)", cfg, len(comps), want)
		}
		for _, c := range comps {
			if c.euler != 2 || !(c.volume > 0) {
				t.Errorf("config %08b: surface with χ = %d and volume %g, want a sphere (χ = 2) with positive volume", cfg, c.euler, c.volume)
			}
		}
	}
}

// TestExtractRandomNoise meshes random voxel noise at several densities:
// closed and manifold always, and the Euler characteristic of the surfaces
// is twice that of the (6, 18) solid, computed independently.
func TestExtractRandomNoise(t *testing.T) {
	// Wide rows exercise the extractor's eight-at-a-time skipping of empty
	// and full runs; densities near 0 and 1 make such runs common.
	for _, density := range []float64{0.03, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97} {
		for seed := range uint64(6) {
			dims := [3]int{14, 12, 10}
			if seed%2 == 1 {
				dims = [3]int{45, 9, 8}
			}
			t.Run(fmt.Sprintf("p%.2f/seed%d", density, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				lm := newLabelMap(dims, identity, func(i, j, k int) uint16 {
					if r.Float64() < density {
						return 3
					}
					return uint16(r.IntN(2) * 5) // other labels are background to label 3
				})
				m := extractRaw(t, lm, 3)
				if err := m.Check(); err != nil {
					t.Fatal(err)
				}
				_, euler := voxelTopology(lm, 3)
				got := 0
				for _, c := range components(m) {
					got += c.euler
				}
				if got != 2*euler {
					t.Errorf("surfaces' χ = %d, want 2·χ(solid) = %d", got, 2*euler)
				}
				if v := m.Volume(); !(v > 0) {
					t.Errorf("volume %g, want positive", v)
				}
			})
		}
	}
}
