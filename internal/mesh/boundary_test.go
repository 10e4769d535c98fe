package mesh

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/iris-oculus/iris/internal/volume"
)

// bruteBoundary is the definition, computed the slow way: every boundary
// face of the label, every point.
func bruteBoundary(lm *volume.LabelMap, label uint16, pts [][3]float64) []float64 {
	bf, err := newBoundaryFinder(lm, label)
	if err != nil {
		panic(err)
	}
	d := lm.Dims
	out := make([]float64, len(pts))
	for n := range out {
		out[n] = math.Inf(1)
	}
	for k := range d[2] {
		for j := range d[1] {
			for i := range d[0] {
				if !bf.is(i, j, k) {
					continue
				}
				for ax := range 3 {
					for _, s := range [2]int{-1, 1} {
						nb := [3]int{i, j, k}
						nb[ax] += s
						if bf.is(nb[0], nb[1], nb[2]) {
							continue
						}
						for n, p := range pts {
							out[n] = min(out[n], bf.faceDistance(p, [3]int{i, j, k}, ax, s, math.Inf(1)))
						}
					}
				}
			}
		}
	}
	return out
}

func TestBoundaryDistances(t *testing.T) {
	// An oblique, anisotropic, mirrored affine and a blob touching the grid's edge.
	aff := volume.Affine{
		{0.9, 0.2, 0, -10},
		{-0.1, 1.3, 0.3, 5},
		{0, 0.1, -2.5, 40},
		{0, 0, 0, 1},
	}
	dims := [3]int{12, 10, 8}
	lm := &volume.LabelMap{Grid: volume.Grid{Dims: dims, Affine: aff}, Data: make([]uint16, dims[0]*dims[1]*dims[2])}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range dims[2] {
		for j := range dims[1] {
			for i := range dims[0] {
				di, dj, dk := float64(i)-5, float64(j)-4, float64(k)-3
				if di*di+dj*dj+dk*dk < 14 || (i == 11 && j < 3) || rng.IntN(30) == 0 {
					lm.Data[i+dims[0]*(j+dims[1]*k)] = 3
				}
			}
		}
	}
	// Points: on faces, near, far, and outside the grid.
	var pts [][3]float64
	for range 400 {
		q := [3]float64{rng.Float64()*16 - 2, rng.Float64()*14 - 2, rng.Float64()*12 - 2}
		if rng.IntN(4) == 0 {
			q[rng.IntN(3)] = math.Round(q[0]) + 0.5 // on a voxel face plane
		}
		pts = append(pts, aff.Apply(q[0], q[1], q[2]))
	}
	m := &Mesh{}
	for _, p := range pts {
		m.Positions = append(m.Positions, float32(p[0]), float32(p[1]), float32(p[2]))
	}
	got, err := BoundaryDistances(lm, 3, m)
	if err != nil {
		t.Fatal(err)
	}
	want := bruteBoundary(lm, 3, func() [][3]float64 {
		out := make([][3]float64, m.Vertices())
		for v := range out {
			out[v] = m.pos(uint32(v))
		}
		return out
	}())
	zeros := 0
	for v := range got {
		if math.Abs(got[v]-want[v]) > 1e-9 {
			t.Fatalf("vertex %d: shell search %.9f, brute force %.9f", v, got[v], want[v])
		}
		if got[v] < 1e-4 {
			zeros++
		}
	}
	if zeros == 0 {
		t.Error("no point lay on the boundary: the case does not test faces")
	}
	if _, err := BoundaryDistances(lm, 9, m); err == nil {
		t.Error("absent label: want an error")
	}
}

func TestNearestRank(t *testing.T) {
	d := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ q, want float64 }{{0.95, 10}, {0.9, 9}, {0.5, 5}, {1, 10}, {0, 1}} {
		if got := NearestRank(append([]float64(nil), d...), c.q); got != c.want {
			t.Errorf("q=%v: %v, want %v", c.q, got, c.want)
		}
	}
}

// TestBuildBoundary: a built surface lies within the smoothing's bound of
// its voxel boundary, and Surface.Boundary is the summary of the distances.
func TestBuildBoundary(t *testing.T) {
	dims := [3]int{20, 20, 20}
	aff := volume.Affine{{1.5, 0, 0, 0}, {0, 1.5, 0, 0}, {0, 0, 2.5, 0}, {0, 0, 0, 1}}
	lm := &volume.LabelMap{Grid: volume.Grid{Dims: dims, Affine: aff}, Data: make([]uint16, 8000)}
	for k := range 20 {
		for j := range 20 {
			for i := range 20 {
				di, dj, dk := float64(i)-9.5, float64(j)-9.5, float64(k)-9.5
				if di*di+dj*dj+dk*dk < 49 {
					lm.Data[i+20*(j+20*k)] = 1
				}
			}
		}
	}
	ss, err := Build(context.Background(), lm, DefaultOptions())
	if err != nil || len(ss) != 1 {
		t.Fatalf("Build: %d surfaces, %v", len(ss), err)
	}
	s := ss[0]
	d, err := BoundaryDistances(lm, 1, s.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	want := BoundaryStats{P95: NearestRank(d, 0.95), Max: NearestRank(d, 1)}
	if s.Boundary != want {
		t.Errorf("Surface.Boundary %+v, recomputed %+v", s.Boundary, want)
	}
	// Bound: a voxel diagonal (the smoothing moves no vertex more than a
	// voxel per axis from the boundary; the offset is a quarter voxel).
	if !(s.Boundary.Max > 0) || s.Boundary.Max > math.Sqrt(1.5*1.5*2+2.5*2.5) {
		t.Errorf("boundary max %.3f mm: outside (0, voxel diagonal]", s.Boundary.Max)
	}
	t.Logf("sphere r=7 voxels, 1.5×1.5×2.5 mm: boundary distance p95 %.3f mm, max %.3f mm", s.Boundary.P95, s.Boundary.Max)
}

// BenchmarkBoundaryDicomSeg is the boundary-distance measurement alone, for
// every surface of the real 512×512×20 map: compare with
// BenchmarkBuildDicomSeg, which includes it.
func BenchmarkBoundaryDicomSeg(b *testing.B) {
	lm := loadLM(b, "dicom_seg.nii.gz")
	ss, err := Build(context.Background(), lm, DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, s := range ss {
			if _, err := Boundary(lm, s.Label, s.Mesh); err != nil {
				b.Fatal(err)
			}
		}
	}
}
