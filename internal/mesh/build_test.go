package mesh

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/internal/volume"
)

// affineOf builds index → RAS from per-axis spacing, a rotation about z by
// angle (radians), axis flips (-1 mirrors that index axis) and an origin.
func affineOf(sp [3]float64, angle float64, flip [3]float64, origin [3]float64) volume.Affine {
	c, s := math.Cos(angle), math.Sin(angle)
	rot := [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
	var a volume.Affine
	for r := range 3 {
		for k := range 3 {
			a[r][k] = rot[r][k] * sp[k] * flip[k]
		}
		a[r][3] = origin[r]
	}
	a[3][3] = 1
	return a
}

// centred sets a's origin so that the centre of a grid of dims is at the
// RAS origin.
func centred(a volume.Affine, dims [3]int) volume.Affine {
	for r := range 3 {
		a[r][3] = 0
		for k := range 3 {
			a[r][3] -= a[r][k] * float64(dims[k]-1) / 2
		}
	}
	return a
}

// world maps voxel (i, j, k) to RAS millimetres.
func world(a volume.Affine, i, j, k int) [3]float64 {
	var w [3]float64
	for r := range 3 {
		w[r] = a[r][0]*float64(i) + a[r][1]*float64(j) + a[r][2]*float64(k) + a[r][3]
	}
	return w
}

// shapeMap voxelizes inside (world coordinates) with label 1.
func shapeMap(dims [3]int, a volume.Affine, inside func(p [3]float64) bool) *volume.LabelMap {
	return newLabelMap(dims, a, func(i, j, k int) uint16 {
		if inside(world(a, i, j, k)) {
			return 1
		}
		return 0
	})
}

// meshCentroid is the centroid of the solid a closed mesh encloses.
func meshCentroid(m *Mesh) [3]float64 {
	var c [3]float64
	var vol float64
	for t := 0; t < len(m.Indices); t += 3 {
		a, b, d := m.pos(m.Indices[t]), m.pos(m.Indices[t+1]), m.pos(m.Indices[t+2])
		v := dot3(a, cross3(b, d)) / 6
		vol += v
		for k := range 3 {
			c[k] += v * (a[k] + b[k] + d[k]) / 4
		}
	}
	return [3]float64{c[0] / vol, c[1] / vol, c[2] / vol}
}

func buildOne(t *testing.T, lm *volume.LabelMap, opt Options) Surface {
	t.Helper()
	ss, err := Build(context.Background(), lm, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("%d surfaces, want 1", len(ss))
	}
	return ss[0]
}

// TestBuildShapes meshes analytic shapes on anisotropic, rotated and
// mirrored grids with default options and checks topology, volume against
// the voxels and the formula, distance to the voxels and outward normals.
func TestBuildShapes(t *testing.T) {
	grids := []struct {
		name string
		a    volume.Affine
		dims [3]int
	}{
		{"iso RAS", centred(affineOf([3]float64{1, 1, 1}, 0, [3]float64{1, 1, 1}, [3]float64{}), [3]int{44, 44, 44}), [3]int{44, 44, 44}},
		{"aniso LAS rotated", centred(affineOf([3]float64{0.8, 0.9, 2}, 0.3, [3]float64{-1, 1, 1}, [3]float64{}), [3]int{50, 46, 22}), [3]int{50, 46, 22}},
		{"LPS", centred(affineOf([3]float64{1.2, 1.2, 1.5}, 0, [3]float64{-1, -1, 1}, [3]float64{}), [3]int{36, 36, 30}), [3]int{36, 36, 30}},
	}
	shapes := []struct {
		name     string
		inside   func(p [3]float64) bool
		volume   float64 // analytic, mm³
		surfaces []int   // χ of each surface, sorted
	}{
		{"sphere", func(p [3]float64) bool { return norm2(p) <= 15*15 }, 4.0 / 3 * math.Pi * 15 * 15 * 15, []int{2}},
		{"torus", func(p [3]float64) bool {
			q := math.Hypot(p[0], p[1]) - 13
			return q*q+p[2]*p[2] <= 5*5
		}, 2 * math.Pi * math.Pi * 13 * 5 * 5, []int{0}},
		{"hollow ball", func(p [3]float64) bool { r := norm2(p); return r <= 16*16 && r >= 8*8 },
			4.0 / 3 * math.Pi * (16*16*16 - 8*8*8), []int{2, 2}},
	}
	for _, g := range grids {
		for _, s := range shapes {
			t.Run(g.name+"/"+s.name, func(t *testing.T) {
				lm := shapeMap(g.dims, g.a, s.inside)
				sf := buildOne(t, lm, DefaultOptions())
				m := sf.Mesh
				if err := m.Check(); err != nil {
					t.Fatal(err)
				}
				var chis []int
				for _, c := range components(m) {
					chis = append(chis, c.euler)
				}
				slices.Sort(chis)
				if !slices.Equal(chis, s.surfaces) {
					t.Errorf("surfaces' χ = %v, want %v", chis, s.surfaces)
				}
				if e := sf.MeshVolume/sf.VoxelVolume - 1; math.Abs(e) > 0.005 {
					t.Errorf("mesh volume %.1f vs voxels %.1f: %+.2f%%", sf.MeshVolume, sf.VoxelVolume, 100*e)
				}
				// Coarse voxels miss the shape's true volume; the mesh must not
				// miss it by more than they do, plus 1%.
				if e, ev := sf.MeshVolume/s.volume-1, sf.VoxelVolume/s.volume-1; math.Abs(e) > math.Abs(ev)+0.01 {
					t.Errorf("mesh volume %.1f vs analytic %.1f: %+.2f%% (voxels %+.2f%%)", sf.MeshVolume, s.volume, 100*e, 100*ev)
				}
				if d, diag := maxBoundaryDistance(lm, 1, m, 2), voxelDiagonal(g.a); d > diag {
					t.Errorf("a vertex is %.2f mm from the voxel boundary, more than a voxel diagonal (%.2f mm)", d, diag)
				}
				if c := meshCentroid(m); math.Sqrt(norm2(c)) > 0.3 {
					t.Errorf("centroid %v, want the origin", c)
				}
				if sf.TouchesBorder {
					t.Error("TouchesBorder for a shape inside the grid")
				}
				// Normals: unit, and outward for the outer surface of these
				// origin-centred shapes (away from the z axis for the torus
				// tube's outer half; checked where the direction is clear).
				for v := range m.Vertices() {
					n := [3]float64{float64(m.Normals[3*v]), float64(m.Normals[3*v+1]), float64(m.Normals[3*v+2])}
					if math.Abs(norm2(n)-1) > 1e-5 {
						t.Fatalf("vertex %d: normal %v not unit", v, n)
					}
					p := m.pos(uint32(v))
					r := math.Sqrt(norm2(p))
					if s.name == "sphere" || (s.name == "hollow ball" && r > 12) {
						if dot3(n, p) <= 0 {
							t.Fatalf("vertex %d at %v: normal %v points inward", v, p, n)
						}
					}
					if s.name == "hollow ball" && r < 12 && dot3(n, p) >= 0 {
						t.Fatalf("cavity vertex %d at %v: normal %v points into the cavity's wall", v, p, n)
					}
				}
			})
		}
	}
}

// TestBuildOrientations meshes one asymmetric object stored as RAS, LAS
// and LPS (data mirrored, affine mirrored to match): the surfaces must
// coincide in patient space, with outward normals.
func TestBuildOrientations(t *testing.T) {
	dims := [3]int{30, 26, 14}
	sp := [3]float64{0.9, 1.1, 2.5}
	ras := affineOf(sp, 0, [3]float64{1, 1, 1}, [3]float64{-10, 20, 30})
	inside := func(i, j, k int) bool {
		// An off-centre ellipsoid with a block on one side: no mirror
		// symmetry.
		x, y, z := float64(i)-12, float64(j)-11, float64(k)-6
		return x*x/64+y*y/36+z*z/16 <= 1 || (i >= 18 && i <= 25 && j >= 4 && j <= 9 && k >= 3 && k <= 8)
	}
	mirror := func(flipI, flipJ bool) *volume.LabelMap {
		a := ras
		for r := range 3 {
			if flipI {
				a[r][3] += a[r][0] * float64(dims[0]-1)
				a[r][0] = -a[r][0]
			}
			if flipJ {
				a[r][3] += a[r][1] * float64(dims[1]-1)
				a[r][1] = -a[r][1]
			}
		}
		return newLabelMap(dims, a, func(i, j, k int) uint16 {
			if flipI {
				i = dims[0] - 1 - i
			}
			if flipJ {
				j = dims[1] - 1 - j
			}
			if inside(i, j, k) {
				return 7
			}
			return 0
		})
	}
	ref := buildOne(t, mirror(false, false), DefaultOptions())
	refC := meshCentroid(ref.Mesh)
	for _, c := range []struct {
		name         string
		flipI, flipJ bool
	}{{"LAS", true, false}, {"LPS", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := buildOne(t, mirror(c.flipI, c.flipJ), DefaultOptions())
			if err := s.Mesh.Check(); err != nil {
				t.Fatal(err)
			}
			if !(s.MeshVolume > 0) {
				t.Fatalf("volume %v: surface is inside out", s.MeshVolume)
			}
			if e := s.MeshVolume/ref.MeshVolume - 1; math.Abs(e) > 0.002 {
				t.Errorf("volume %.1f, RAS copy %.1f", s.MeshVolume, ref.MeshVolume)
			}
			for k := range 3 {
				if math.Abs(s.BBoxMin[k]-ref.BBoxMin[k]) > 0.3 || math.Abs(s.BBoxMax[k]-ref.BBoxMax[k]) > 0.3 {
					t.Errorf("bounding box %v–%v, RAS copy %v–%v", s.BBoxMin, s.BBoxMax, ref.BBoxMin, ref.BBoxMax)
					break
				}
			}
			if d := math.Sqrt(norm2(sub3(meshCentroid(s.Mesh), refC))); d > 0.05 {
				t.Errorf("centroid %.2f mm from the RAS copy's", d)
			}
			// Positive volume means outward triangles; the vertex normals
			// must agree with the RAS copy's at the nearest vertex too.
			agree, total := 0, 0
			for v := 0; v < s.Mesh.Vertices(); v += 7 {
				p := s.Mesh.pos(uint32(v))
				best, bi := math.Inf(1), 0
				for u := range ref.Mesh.Vertices() {
					if d := norm2(sub3(ref.Mesh.pos(uint32(u)), p)); d < best {
						best, bi = d, u
					}
				}
				n1 := s.Mesh.Normals[3*v : 3*v+3]
				n2 := ref.Mesh.Normals[3*bi : 3*bi+3]
				total++
				if n1[0]*n2[0]+n1[1]*n2[1]+n1[2]*n2[2] > 0 {
					agree++
				}
			}
			if agree < total*98/100 {
				t.Errorf("only %d of %d normals agree with the RAS copy's", agree, total)
			}
		})
	}
}

// TestBuildAdversarial runs the whole pipeline on configurations that break
// naive extractors: a single voxel, voxels meeting only at an edge or a
// corner, one-voxel-thin lines and sheets, a 3D checkerboard, random
// noise. Every surface must be valid with the topology of the (6, 18)
// solid, even after smoothing and decimation.
func TestBuildAdversarial(t *testing.T) {
	dims := [3]int{24, 20, 18}
	lm := newLabelMap(dims, affineOf([3]float64{0.7, 0.7, 3}, 0, [3]float64{-1, 1, 1}, [3]float64{}), func(i, j, k int) uint16 {
		switch {
		case i == 2 && j == 2 && k == 2:
			return 1 // single voxel
		case (i == 5 && j == 2 && k == 2) || (i == 6 && j == 3 && k == 2):
			return 2 // meet at an edge
		case (i == 9 && j == 2 && k == 2) || (i == 10 && j == 3 && k == 3):
			return 3 // meet at a corner
		case j == 6 && k == 2 && i >= 1 && i < 22:
			return 4 // thin line
		case k == 5 && i >= 1 && i < 20 && j >= 1 && j < 16:
			return 5 // thin sheet
		case k >= 8 && k < 13 && i < 8 && j < 8 && (i+j+k)%2 == 0:
			return 6 // checkerboard: only edge and corner contacts
		case k >= 8 && i >= 10 && (i*7+j*13+k*31)%5 < 2:
			return 8 // pseudo-random noise reaching the border
		}
		return 0
	})
	ss, err := Build(context.Background(), lm, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if err := s.Mesh.Check(); err != nil {
			t.Errorf("label %d: %v", s.Label, err)
			continue
		}
		comps, euler := voxelTopology(lm, s.Label)
		got, chi := components(s.Mesh), 0
		for _, c := range got {
			chi += c.euler
		}
		if len(got) != comps || chi != 2*euler {
			t.Errorf("label %d: %d surfaces with total χ %d, want %d and %d", s.Label, len(got), chi, comps, 2*euler)
		}
		if !(s.MeshVolume > 0) {
			t.Errorf("label %d: volume %v", s.Label, s.MeshVolume)
		}
	}
	if last := ss[len(ss)-1]; last.Label != 8 || !last.TouchesBorder || ss[0].TouchesBorder {
		t.Errorf("TouchesBorder: label %d %v, label %d %v; want 8 true, 1 false", last.Label, last.TouchesBorder, ss[0].Label, ss[0].TouchesBorder)
	}
}

func TestBuildOptions(t *testing.T) {
	lm := newLabelMap([3]int{30, 20, 20}, identity, func(i, j, k int) uint16 {
		switch {
		case i >= 2 && i < 12 && j >= 2 && j < 15 && k >= 3 && k < 15:
			return 3
		case i >= 15 && i < 28 && j >= 4 && j < 18 && k >= 2:
			return 9 // reaches the last slice
		case i == 14 && j == 10 && k == 10:
			return 200
		}
		return 0
	})
	ctx := context.Background()

	t.Run("zero options are the defaults", func(t *testing.T) {
		a, err := Build(ctx, lm, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Build(ctx, lm, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if !slices.Equal(a[i].Mesh.Positions, b[i].Mesh.Positions) || !slices.Equal(a[i].Mesh.Indices, b[i].Mesh.Indices) {
				t.Errorf("label %d: zero Options differ from DefaultOptions", a[i].Label)
			}
		}
	})
	// A budget changes only which organs mesh side by side, never a mesh;
	// a budget alone leaves the rest at the defaults.
	t.Run("memory budget", func(t *testing.T) {
		a, err := Build(ctx, lm, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range []Options{{MemoryBudget: 1 << 40}, {Smooth: 0.5, Workers: 3, MemoryBudget: 1 << 40}, {MemoryBudget: 1}} {
			b, err := Build(ctx, lm, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != len(b) {
				t.Fatalf("budget %d: %d surfaces, want %d", opt.MemoryBudget, len(b), len(a))
			}
			for i := range a {
				if !slices.Equal(a[i].Mesh.Positions, b[i].Mesh.Positions) || !slices.Equal(a[i].Mesh.Indices, b[i].Mesh.Indices) {
					t.Errorf("budget %d, label %d: the mesh differs from the default build's", opt.MemoryBudget, a[i].Label)
				}
			}
		}
		r, err := Options{MemoryBudget: 7}.Resolved()
		if d := DefaultOptions(); err != nil || r.Smooth != d.Smooth || r.Reduce != d.Reduce || r.Workers != d.Workers || r.MemoryBudget != 7 {
			t.Errorf("Options{MemoryBudget: 7}.Resolved() = %+v, %v; want the defaults with budget 7", r, err)
		}
		if _, err := Build(ctx, lm, Options{MemoryBudget: -1}); err == nil || !strings.Contains(err.Error(), "MemoryBudget") {
			t.Errorf("negative budget: err %v, want one naming MemoryBudget", err)
		}
	})
	t.Run("labels sorted, measurements", func(t *testing.T) {
		var calls []int
		var mu sync.Mutex
		opt := DefaultOptions()
		opt.Workers = 3
		opt.Progress = func(done, total int) {
			mu.Lock()
			defer mu.Unlock()
			if total != 3 {
				t.Errorf("Progress total %d, want 3", total)
			}
			calls = append(calls, done)
		}
		ss, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		var labels []uint16
		for _, s := range ss {
			labels = append(labels, s.Label)
		}
		if !slices.Equal(labels, []uint16{3, 9, 200}) {
			t.Errorf("labels %v, want [3 9 200]", labels)
		}
		if !slices.Equal(calls, []int{1, 2, 3}) {
			t.Errorf("Progress calls %v, want [1 2 3]", calls)
		}
		s := ss[0]
		if s.VoxelCount != 10*13*12 || s.VoxelVolume != 10*13*12 {
			t.Errorf("label 3: %d voxels, %v mm³; want 1560", s.VoxelCount, s.VoxelVolume)
		}
		// The box [1.5, 11.5]×[1.5, 14.5]×[2.5, 14.5]: smoothing rounds its
		// edges within half a voxel.
		for k, want := range [][2]float64{{1.5, 11.5}, {1.5, 14.5}, {2.5, 14.5}} {
			if math.Abs(s.BBoxMin[k]-want[0]) > 0.5 || math.Abs(s.BBoxMax[k]-want[1]) > 0.5 {
				t.Errorf("label 3 bbox axis %d: %v–%v, want about %v", k, s.BBoxMin[k], s.BBoxMax[k], want)
			}
		}
		if math.Abs(s.MeshVolume-s.Mesh.Volume()) > 1e-6 || math.Abs(s.SurfaceArea-s.Mesh.Area()) > 1e-6 {
			t.Error("MeshVolume or SurfaceArea differ from the mesh's")
		}
		// A box's area can only shrink when its edges are rounded.
		if s.SurfaceArea > 2*(10*13+13*12+10*12) || s.SurfaceArea < 0.8*2*(10*13+13*12+10*12) {
			t.Errorf("label 3 area %v, want a little under %v", s.SurfaceArea, 2*(10*13+13*12+10*12))
		}
		if !ss[1].TouchesBorder || ss[0].TouchesBorder {
			t.Errorf("TouchesBorder %v %v, want false true", ss[0].TouchesBorder, ss[1].TouchesBorder)
		}
	})
	t.Run("subset", func(t *testing.T) {
		opt := DefaultOptions()
		opt.Labels = []uint16{200, 3, 200}
		ss, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 2 || ss[0].Label != 3 || ss[1].Label != 200 {
			t.Errorf("got %d surfaces, want labels 3 and 200", len(ss))
		}
	})
	t.Run("reduce and budget", func(t *testing.T) {
		opt := DefaultOptions()
		opt.Smooth, opt.Reduce = 0, 1
		full, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.Reduce = 0.25
		quarter, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range full {
			n, q := full[i].Mesh.Triangles(), quarter[i].Mesh.Triangles()
			want := max(MinTriangles, n/4)
			if n <= MinTriangles {
				want = n
			}
			if q > want+want/10 || (n > MinTriangles && q >= n) {
				t.Errorf("label %d: %d → %d triangles with Reduce 0.25, want about %d", full[i].Label, n, q, want)
			}
		}
		opt.MaxTriangles = 1500
		budget, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, s := range budget {
			total += s.Mesh.Triangles()
		}
		// The two boxes share 1500 − the single voxel's 8; each keeps at
		// least MinTriangles.
		if total > 1500*11/10 {
			t.Errorf("%d triangles with MaxTriangles 1500", total)
		}
	})
	t.Run("smoothing off keeps the exact marching-cubes surface", func(t *testing.T) {
		opt := DefaultOptions()
		opt.Smooth, opt.Reduce = 0, 1
		ss, err := Build(ctx, lm, opt)
		if err != nil {
			t.Fatal(err)
		}
		// A box's marching-cubes surface has exactly the voxel volume, so
		// the correction has nothing to do; the single voxel's is an
		// octahedron of volume 1/6, which the correction can only grow
		// by its limit.
		if v := ss[0].MeshVolume; math.Abs(v-1560) > 1e-3 {
			t.Errorf("box volume %v, want 1560", v)
		}
		if n := ss[2].Mesh.Triangles(); n != 8 {
			t.Errorf("single voxel: %d triangles, want 8 (octahedron)", n)
		}
	})

	empty := newLabelMap([3]int{4, 4, 4}, identity, func(i, j, k int) uint16 { return 0 })
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	errCases := []struct {
		name string
		ctx  context.Context
		lm   *volume.LabelMap
		opt  func(*Options)
		want string
	}{
		{"empty label map", ctx, empty, nil, "no labels"},
		{"missing labels", ctx, lm, func(o *Options) { o.Labels = []uint16{3, 4, 5} }, "not present in the label map: 4, 5"},
		{"background label", ctx, lm, func(o *Options) { o.Labels = []uint16{0} }, "background"},
		{"empty subset", ctx, lm, func(o *Options) { o.Labels = []uint16{} }, "Labels is empty"},
		{"smooth", ctx, lm, func(o *Options) { o.Smooth = 1.5 }, "Smooth"},
		{"reduce", ctx, lm, func(o *Options) { o.Reduce = -0.1 }, "Reduce"},
		{"budget", ctx, lm, func(o *Options) { o.MaxTriangles = -1 }, "MaxTriangles"},
		{"workers", ctx, lm, func(o *Options) { o.Workers = -2 }, "Workers"},
		{"nil", ctx, nil, nil, "nil label map"},
		{"short data", ctx, &volume.LabelMap{Grid: volume.Grid{Dims: [3]int{4, 4, 4}, Affine: identity}, Data: make([]uint16, 10)}, nil, "dims [4 4 4] need 64"},
		{"zero dims", ctx, &volume.LabelMap{Grid: volume.Grid{Dims: [3]int{4, 0, 4}, Affine: identity}}, nil, "must be positive"},
		{"singular affine", ctx, &volume.LabelMap{Grid: volume.Grid{Dims: [3]int{1, 1, 1}}, Data: []uint16{1}}, nil, "singular"},
		{"cancelled", cancelled, lm, nil, "context canceled"},
	}
	for _, c := range errCases {
		t.Run("error/"+c.name, func(t *testing.T) {
			opt := DefaultOptions()
			if c.opt != nil {
				c.opt(&opt)
			}
			ss, err := Build(c.ctx, c.lm, opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build = %d surfaces, %v; want an error containing %q", len(ss), err, c.want)
			}
			if c.name == "cancelled" && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
		})
	}
}
