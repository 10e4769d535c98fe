package mesh

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// meanDihedral is the mean angle, in degrees, between the normals of
// triangles sharing an edge of a closed mesh with positions p.
func meanDihedral(p []float64, tris []uint32) float64 {
	normal := func(t int) [3]float64 {
		a := vec(p, tris[t])
		n := cross3(sub3(vec(p, tris[t+1]), a), sub3(vec(p, tris[t+2]), a))
		l := math.Sqrt(norm2(n))
		return [3]float64{n[0] / l, n[1] / l, n[2] / l}
	}
	first := map[[2]uint32]int{}
	var sum float64
	var n int
	for t := 0; t < len(tris); t += 3 {
		for k := range 3 {
			a, b := tris[t+k], tris[t+(k+1)%3]
			key := [2]uint32{min(a, b), max(a, b)}
			if o, ok := first[key]; ok {
				sum += math.Acos(max(-1, min(1, dot3(normal(t), normal(o)))))
				n++
			} else {
				first[key] = t
			}
		}
	}
	return sum / float64(n) * 180 / math.Pi
}

func closedVolume(p []float64, tris []uint32) float64 {
	var v float64
	for t := 0; t < len(tris); t += 3 {
		v += dot3(vec(p, tris[t]), cross3(vec(p, tris[t+1]), vec(p, tris[t+2])))
	}
	return v / 6
}

// TestSmooth checks the smoother on its own, in index space: it removes
// the staircase (the angle between neighbouring triangles and the distance
// to the true surface fall), it does not shrink spheres or thin tubes, it
// never flips a triangle, and no vertex moves more than smoothReach
// voxels along an axis.
func TestSmooth(t *testing.T) {
	shapes := []struct {
		name    string
		dims    [3]int
		inside  func(x, y, z float64) bool
		radius  func(x, y, z float64) float64 // distance to the true surface; -1 = not measured
		maxLoss float64                       // volume the smoother may lose, fraction
		flatten bool                          // the mean dihedral must fall
	}{
		{"sphere r=10", [3]int{26, 26, 26}, func(x, y, z float64) bool { return x*x+y*y+z*z <= 100 },
			func(x, y, z float64) float64 { return math.Abs(math.Sqrt(x*x+y*y+z*z) - 10) }, 0.01, true},
		// A tube five voxels across: the filter alone would thin it.
		{"tube r=2.2", [3]int{40, 9, 9}, func(x, y, z float64) bool { return y*y+z*z <= 2.2*2.2 && math.Abs(x) < 16 },
			func(x, y, z float64) float64 {
				if math.Abs(x) > 12 {
					return -1 // the caps
				}
				return math.Abs(math.Hypot(y, z) - 2.2)
			}, 0.05, false},
		{"ellipsoid on 2.5 mm slices", [3]int{34, 30, 12}, func(x, y, z float64) bool { return x*x/196+y*y/144+z*z/16 <= 1 },
			nil, 0.01, true},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			c := [3]float64{float64(s.dims[0]-1) / 2, float64(s.dims[1]-1) / 2, float64(s.dims[2]-1) / 2}
			lm := newLabelMap(s.dims, identity, func(i, j, k int) uint16 {
				if s.inside(float64(i)-c[0], float64(j)-c[1], float64(k)-c[2]) {
					return 1
				}
				return 0
			})
			raw := extractRaw(t, lm, 1)
			p0 := float64s(raw.Positions)
			p := append([]float64(nil), p0...)
			var sm smoother
			sm.smooth(p, raw.Indices, passBand(DefaultOptions().Smooth), smoothIterations)

			d0, d1 := meanDihedral(p0, raw.Indices), meanDihedral(p, raw.Indices)
			if s.flatten && d1 > 0.6*d0 {
				t.Errorf("mean dihedral %.1f° → %.1f°: the staircase stays", d0, d1)
			}
			v0, v1 := closedVolume(p0, raw.Indices), closedVolume(p, raw.Indices)
			if loss := 1 - v1/v0; math.Abs(loss) > s.maxLoss {
				t.Errorf("volume %.1f → %.1f (%.1f%% lost)", v0, v1, 100*loss)
			}
			for v := range len(p) / 3 {
				for k := range 3 {
					if math.Abs(p[3*v+k]-p0[3*v+k]) > smoothReach+1e-9 {
						t.Fatalf("vertex %d moved %.2f voxels along axis %d", v, p[3*v+k]-p0[3*v+k], k)
					}
				}
			}
			for tr := 0; tr < len(raw.Indices); tr += 3 {
				i, j, k := raw.Indices[tr], raw.Indices[tr+1], raw.Indices[tr+2]
				n0 := cross3(sub3(vec(p0, j), vec(p0, i)), sub3(vec(p0, k), vec(p0, i)))
				n1 := cross3(sub3(vec(p, j), vec(p, i)), sub3(vec(p, k), vec(p, i)))
				if dot3(n0, n1) <= 0 {
					t.Fatalf("triangle %d flipped", tr/3)
				}
			}
			if s.radius != nil {
				rms := func(q []float64) float64 {
					var e float64
					n := 0
					for v := range len(q) / 3 {
						if d := s.radius(q[3*v]-c[0], q[3*v+1]-c[1], q[3*v+2]-c[2]); d >= 0 {
							e += d * d
							n++
						}
					}
					return math.Sqrt(e / float64(n))
				}
				if r0, r1 := rms(p0), rms(p); r1 > 0.5*r0 {
					t.Errorf("RMS distance to the true surface %.3f → %.3f voxels", r0, r1)
				} else {
					t.Logf("RMS distance to the true surface %.3f → %.3f voxels", r0, r1)
				}
			}
			t.Logf("dihedral %.1f° → %.1f°, volume %+.2f%%", d0, d1, 100*(v1/v0-1))
		})
	}
}

// BenchmarkSmooth smooths the marching-cubes surfaces of balls 120 and
// 360 voxels across (about 68 000 and 610 000 vertices). Splitting the
// filter's terms between the two cores measured no faster on the larger
// (312 ms median whole, 336 ms split, 2026-12-06), so it is not split.
func BenchmarkSmooth(b *testing.B) {
	for _, d := range []int{120, 360} {
		b.Run(fmt.Sprintf("ball%d", d), func(b *testing.B) {
			n, r := d+4, float64(d)/2
			lm := newLabelMap([3]int{n, n, n}, identity, func(i, j, k int) uint16 {
				c := float64(n-1) / 2
				x, y, z := float64(i)-c, float64(j)-c, float64(k)-c
				if x*x+y*y+z*z <= r*r {
					return 1
				}
				return 0
			})
			raw := extractRaw(b, lm, 1)
			p0 := float64s(raw.Positions)
			p := make([]float64, len(p0))
			var sm smoother
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				copy(p, p0)
				sm.smooth(p, raw.Indices, passBand(DefaultOptions().Smooth), smoothIterations)
			}
			b.ReportMetric(float64(len(p0)/3), "vertices")
		})
	}
}

// BenchmarkExtract runs marching cubes alone on the same ball.
func BenchmarkExtract(b *testing.B) {
	lm := newLabelMap([3]int{124, 124, 124}, identity, func(i, j, k int) uint16 {
		x, y, z := float64(i)-61.5, float64(j)-61.5, float64(k)-61.5
		if x*x+y*y+z*z <= 60*60 {
			return 1
		}
		return 0
	})
	st := measureLabels(lm, 1)[1]
	bx := box{lo: [3]int{int(st.lo[0]), int(st.lo[1]), int(st.lo[2])}, hi: [3]int{int(st.hi[0]), int(st.hi[1]), int(st.hi[2])}}
	var e extractor
	b.ReportAllocs()
	for b.Loop() {
		if err := e.extract(context.Background(), lm, 1, bx, int(st.faces)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(e.pos)/3), "vertices")
}

// float64s is p widened, as the smoother takes positions.
func float64s(p []float32) []float64 {
	q := make([]float64, len(p))
	for i, x := range p {
		q[i] = float64(x)
	}
	return q
}
