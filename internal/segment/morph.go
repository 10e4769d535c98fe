package segment

import "math"

// grid3 is a voxel lattice with its spacing; voxel (i, j, k) is at
// i + n[0]*(j + n[1]*k).
type grid3 struct {
	n  [3]int
	sp [3]float64
}

func (g grid3) len() int { return g.n[0] * g.n[1] * g.n[2] }

// voxels converts a length in mm along axis a to a whole number of voxels,
// never less than min.
func (g grid3) voxels(mm float64, a, min int) int {
	v := int(math.Round(mm / g.sp[a]))
	if v < min {
		return min
	}
	return v
}

const farSq = 1e30

// distSq returns for every voxel the squared Euclidean distance in mm² to
// the nearest voxel where m is set (farSq where none is). It is the exact
// separable transform of Felzenszwalb and Huttenlocher, run along i, j and
// k in turn with each axis's spacing; only is the axes to run (a 2D
// in-plane transform passes {true, true, false}).
func distSq(g grid3, m []bool, only [3]bool) []float32 {
	d := make([]float32, len(m))
	for i, v := range m {
		if v {
			d[i] = 0
		} else {
			d[i] = farSq
		}
	}
	stride := [3]int{1, g.n[0], g.n[0] * g.n[1]}
	for a := range 3 {
		if !only[a] {
			continue
		}
		n := g.n[a]
		if n == 1 {
			continue
		}
		// The other two axes enumerate the lines along a.
		b, c := (a+1)%3, (a+2)%3
		lines := g.n[b] * g.n[c]
		s := g.sp[a]
		parallel(lines, func(l0, l1 int) {
			buf := newEDTBuf(n)
			for l := l0; l < l1; l++ {
				ib, ic := l%g.n[b], l/g.n[b]
				base := ib*stride[b] + ic*stride[c]
				for q := range n {
					buf.f[q] = float64(d[base+q*stride[a]])
				}
				buf.run(n, s)
				for q := range n {
					d[base+q*stride[a]] = float32(buf.d[q])
				}
			}
		})
	}
	return d
}

type edtBuf struct {
	f, d, z []float64
	v       []int
}

func newEDTBuf(n int) *edtBuf {
	return &edtBuf{f: make([]float64, n), d: make([]float64, n), z: make([]float64, n+1), v: make([]int, n)}
}

// run computes d[q] = min_p ((q-p)·s)² + f[p] over the lower envelope of
// parabolas.
func (b *edtBuf) run(n int, s float64) {
	f, d, z, v := b.f, b.d, b.z, b.v
	k := 0
	first := -1
	for q := range n {
		if f[q] < farSq {
			first = q
			break
		}
	}
	if first < 0 {
		for q := range n {
			d[q] = farSq
		}
		return
	}
	v[0] = first
	z[0] = math.Inf(-1)
	z[1] = math.Inf(1)
	for q := first + 1; q < n; q++ {
		if f[q] >= farSq {
			continue
		}
		xq := float64(q) * s
		for {
			p := v[k]
			xp := float64(p) * s
			sx := ((f[q] + xq*xq) - (f[p] + xp*xp)) / (2 * (xq - xp))
			if sx <= z[k] { // z[0] is -Inf, so k stays ≥ 0
				k--
				continue
			}
			k++
			v[k] = q
			z[k] = sx
			z[k+1] = math.Inf(1)
			break
		}
	}
	k = 0
	for q := range n {
		xq := float64(q) * s
		for z[k+1] < xq {
			k++
		}
		dx := xq - float64(v[k])*s
		d[q] = dx*dx + f[v[k]]
	}
}

// dilate sets every voxel within r mm of m (a Euclidean ball, so anisotropic
// spacing is honoured).
func dilate(g grid3, m []bool, r float64, axes [3]bool) []bool {
	d := distSq(g, m, axes)
	out := make([]bool, len(m))
	r2 := float32(r * r)
	for i, v := range d {
		out[i] = v <= r2
	}
	return out
}

// erode keeps the voxels of m farther than r mm from any voxel outside m.
// Outside the lattice counts as outside m.
func erode(g grid3, m []bool, r float64, axes [3]bool) []bool {
	d := distSqPadded(g, complement(m), axes)
	out := make([]bool, len(m))
	r2 := float32(r * r)
	for i, v := range d {
		out[i] = v > r2
	}
	return out
}

// complement is the voxels not in m.
func complement(m []bool) []bool {
	out := make([]bool, len(m))
	for i, v := range m {
		out[i] = !v
	}
	return out
}

// distSqPadded is distSq with the lattice surrounded by set voxels along the
// transformed axes (the distance to the border is a candidate too).
func distSqPadded(g grid3, m []bool, axes [3]bool) []float32 {
	d := distSq(g, m, axes)
	for k := range g.n[2] {
		for j := range g.n[1] {
			for i := range g.n[0] {
				b := math.Inf(1)
				idx := [3]int{i, j, k}
				for a := range 3 {
					if !axes[a] {
						continue
					}
					lo := float64(idx[a]+1) * g.sp[a]
					hi := float64(g.n[a]-idx[a]) * g.sp[a]
					b = math.Min(b, math.Min(lo, hi))
				}
				v := &d[i+g.n[0]*(j+g.n[1]*k)]
				if bb := float32(b * b); bb < *v {
					*v = bb
				}
			}
		}
	}
	return d
}

func opening(g grid3, m []bool, r float64, axes [3]bool) []bool {
	return dilate(g, erode(g, m, r, axes), r, axes)
}

func closing(g grid3, m []bool, r float64, axes [3]bool) []bool {
	// Pad-free closing would erode from the lattice border; treat outside as
	// outside m for the dilation and as inside for the erosion so that
	// structures touching the border are not eaten.
	dd := distSq(g, complement(dilate(g, m, r, axes)), axes)
	out := make([]bool, len(m))
	r2 := float32(r * r)
	for i, v := range dd {
		out[i] = v > r2 || m[i]
	}
	return out
}

// components labels the 6-connected components of m (labels from 1; 0 is
// background) and returns their sizes (sizes[0] unused).
func components(g grid3, m []bool) ([]int32, []int) {
	lab := make([]int32, len(m))
	sizes := []int{0}
	var queue []int32
	nx := g.n[0]
	for s, v := range m {
		if !v || lab[s] != 0 {
			continue
		}
		id := int32(len(sizes))
		lab[s] = id
		queue = append(queue[:0], int32(s))
		size := 0
		for len(queue) > 0 {
			p := int(queue[len(queue)-1])
			queue = queue[:len(queue)-1]
			size++
			try := func(q int) {
				if m[q] && lab[q] == 0 {
					lab[q] = id
					queue = append(queue, int32(q))
				}
			}
			forNeighbours6(p, nx, g.n[1], g.n[2], try)
		}
		sizes = append(sizes, size)
	}
	return lab, sizes
}

// fillHoles2D sets, in every slice k, the pixels not 4-connected to the
// slice border through unset pixels.
func fillHoles2D(g grid3, m []bool) []bool {
	out := make([]bool, len(m))
	copy(out, m)
	nx, ny := g.n[0], g.n[1]
	parallel(g.n[2], func(k0, k1 int) {
		seen := make([]bool, nx*ny)
		var stack []int32
		for k := k0; k < k1; k++ {
			s := out[k*nx*ny : (k+1)*nx*ny]
			clear(seen)
			stack = stack[:0]
			push := func(p int) {
				if !s[p] && !seen[p] {
					seen[p] = true
					stack = append(stack, int32(p))
				}
			}
			for i := range nx {
				push(i)
				push(i + (ny-1)*nx)
			}
			for j := range ny {
				push(j * nx)
				push(nx - 1 + j*nx)
			}
			for len(stack) > 0 {
				p := int(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
				forNeighbours6(p, nx, ny, 1, push) // one slice: its 4 in-plane neighbours
			}
			for p := range s {
				if !seen[p] {
					s[p] = true
				}
			}
		}
	})
	return out
}
