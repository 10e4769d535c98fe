package nnunet

import (
	"math"
	"runtime"
	"sync"
)

// A feature map is a Tensor of shape (C, D, H, W): batch size 1, as
// nnU-Net's inference runs it.

// conv3d is torch.nn.Conv3d with padding (k-1)/2, any stride, bias: out =
// W * in + b, by tiled im2col and a single-precision GEMM (gonum). The
// column buffer is bounded by colBytes per worker, whatever the volume.
type conv3d struct {
	cin, cout int
	k, stride [3]int
	w         []float32 // (cout, cin*kd*kh*kw), PyTorch's layout
	b         []float32
}

// colBytes bounds one worker's im2col buffer.
const colBytes = 8 << 20

func (c *conv3d) outShape(in [3]int) [3]int {
	var o [3]int
	for i := range 3 {
		p := (c.k[i] - 1) / 2
		o[i] = (in[i]+2*p-c.k[i])/c.stride[i] + 1
	}
	return o
}

// forward writes the convolution of in (cin, D, H, W) into out (cout, ...),
// which must have outShape's size.
func (c *conv3d) forward(in []float32, dims [3]int, out []float32) [3]int {
	od := c.outShape(dims)
	n := od[0] * od[1] * od[2]
	K := c.cin * c.k[0] * c.k[1] * c.k[2]
	row := od[2]
	rows := max(1, min(od[0]*od[1], colBytes/4/max(K*row, 1)))
	tiles := (od[0]*od[1] + rows - 1) / rows
	for co := range c.cout {
		b := c.b[co]
		o := out[co*n : (co+1)*n]
		for i := range o {
			o[i] = b
		}
	}
	parallelTiles(tiles, func(t int, s *scratch) {
		r0 := t * rows
		r1 := min(r0+rows, od[0]*od[1])
		T := (r1 - r0) * row
		if !haveKernel && cap(s.col) < K*T {
			s.col = make([]float32, K*rows*row)
		}
		if haveKernel {
			// columns written straight into the micro-kernel's panels
			np := (T + 15) / 16 * 16
			if cap(s.col) < K*np {
				s.col = make([]float32, K*((rows*row+15)/16*16))
			}
			col := s.col[:K*np]
			c.im2col(in, dims, od, r0, r1, col, true)
			gemmPacked(c.cout, T, K, c.w, col, out[r0*row:], n)
			return
		}
		col := s.col[:K*T]
		c.im2col(in, dims, od, r0, r1, col, false)
		gemm(c.cout, T, K, c.w, col, T, out[r0*row:], n, &s.pack)
	})
	return od
}

// im2col fills col (K rows of T columns) for output rows r0..r1 (a row is
// one (z, y) line of W outputs). packed lays the columns out as the
// micro-kernel's panels instead: for each 16 columns, K rows of 16, the
// last panel padded with zeros.
func (c *conv3d) im2col(in []float32, dims, od [3]int, r0, r1 int, col []float32, packed bool) {
	D, H, W := dims[0], dims[1], dims[2]
	pz, py, px := (c.k[0]-1)/2, (c.k[1]-1)/2, (c.k[2]-1)/2
	sz, sy, sx := c.stride[0], c.stride[1], c.stride[2]
	T := (r1 - r0) * od[2]
	K := c.cin * c.k[0] * c.k[1] * c.k[2]
	var lineBuf []float32
	if packed {
		lineBuf = make([]float32, T)
		if pad := (T+15)/16*16 - T; pad > 0 {
			last := T / 16 * 16 * K
			for kk := range K {
				clear(col[last+kk*16+16-pad : last+kk*16+16])
			}
		}
	}
	k := 0
	for ci := range c.cin {
		src := in[ci*D*H*W : (ci+1)*D*H*W]
		for dz := range c.k[0] {
			for dy := range c.k[1] {
				for dx := range c.k[2] {
					var dst []float32
					if packed {
						dst = lineBuf
					} else {
						dst = col[k*T : (k+1)*T]
					}
					kk := k
					k++
					t := 0
					for r := r0; r < r1; r++ {
						zo, yo := r/od[1], r%od[1]
						z, y := zo*sz-pz+dz, yo*sy-py+dy
						line := dst[t : t+od[2]]
						t += od[2]
						if z < 0 || z >= D || y < 0 || y >= H {
							clear(line)
							continue
						}
						s := src[(z*H+y)*W : (z*H+y+1)*W]
						if sx == 1 {
							// x = xo - px + dx: a shifted copy with zero ends
							lo := min(max(0, px-dx), len(line))
							hi := max(lo, min(len(line), W+px-dx))
							clear(line[:lo])
							if hi > lo {
								copy(line[lo:hi], s[lo-px+dx:hi-px+dx])
							}
							clear(line[hi:])
							continue
						}
						for xo := range line {
							x := xo*sx - px + dx
							if x < 0 || x >= W {
								line[xo] = 0
							} else {
								line[xo] = s[x]
							}
						}
					}
					if packed {
						for t0 := 0; t0 < T; t0 += 16 {
							copy(col[t0*K+kk*16:t0*K+kk*16+min(16, T-t0)], dst[t0:min(T, t0+16)])
						}
					}
				}
			}
		}
	}
}

// scratch is one worker's buffers: im2col columns and GEMM packing.
type scratch struct{ col, pack []float32 }

// parallelTiles runs fn for tiles 0..n-1 on GOMAXPROCS workers, each with
// its own scratch buffers.
func parallelTiles(n int, fn func(t int, s *scratch)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		var s scratch
		for t := range n {
			fn(t, &s)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s scratch
			for t := range next {
				fn(t, &s)
			}
		}()
	}
	for t := range n {
		next <- t
	}
	close(next)
	wg.Wait()
}

// instanceNormLeaky is torch.nn.InstanceNorm3d(eps=1e-5, affine=True)
// followed by LeakyReLU(0.01), in place: per channel, subtract the mean,
// divide by sqrt(biased variance + eps), scale, shift. Sums are taken in
// float64 (PyTorch's CPU kernel uses float32 Welford updates; the two agree
// to float32 rounding).
func instanceNormLeaky(x []float32, c int, gamma, beta []float32, leaky bool) {
	n := len(x) / c
	parallelTiles(c, func(ch int, _ *scratch) {
		v := x[ch*n : (ch+1)*n]
		var s float64
		for _, f := range v {
			s += float64(f)
		}
		mean := s / float64(n)
		var ss float64
		for _, f := range v {
			d := float64(f) - mean
			ss += d * d
		}
		inv := 1 / math.Sqrt(ss/float64(n)+1e-5)
		a := float32(inv * float64(gamma[ch]))
		b := float32(float64(beta[ch]) - mean*inv*float64(gamma[ch]))
		for i, f := range v {
			y := f*a + b
			if leaky && y < 0 {
				y *= 0.01
			}
			v[i] = y
		}
	})
}

// leakyReLU is torch.nn.LeakyReLU(0.01), in place.
func leakyReLU(x []float32) {
	for i, f := range x {
		if f < 0 {
			x[i] = f * 0.01
		}
	}
}

// transpConv3d is torch.nn.ConvTranspose3d with kernel == stride (as
// nnU-Net builds it), so output blocks do not overlap: for every kernel
// offset one GEMM (cout x cin) * (cin x N), scattered into the output.
type transpConv3d struct {
	cin, cout int
	s         [3]int
	w         []float32 // per offset o = (a*s1+b)*s2+c: (cout, cin), rearranged from PyTorch's (cin, cout, s0, s1, s2)
	b         []float32
}

func newTranspConv(cin, cout int, s [3]int, w, b []float32) *transpConv3d {
	ks := s[0] * s[1] * s[2]
	t := &transpConv3d{cin: cin, cout: cout, s: s, w: make([]float32, len(w)), b: b}
	for ci := range cin {
		for co := range cout {
			for o := range ks {
				t.w[(o*cout+co)*cin+ci] = w[(ci*cout+co)*ks+o]
			}
		}
	}
	return t
}

// forward writes the upsampled map into out (cout, D*s0, H*s1, W*s2).
func (t *transpConv3d) forward(in []float32, dims [3]int, out []float32) [3]int {
	od := [3]int{dims[0] * t.s[0], dims[1] * t.s[1], dims[2] * t.s[2]}
	n := dims[0] * dims[1] * dims[2]
	no := od[0] * od[1] * od[2]
	ks := t.s[0] * t.s[1] * t.s[2]
	// tile the input columns so the GEMM result stays small
	cols := max(dims[2], min(n, colBytes/4/max(t.cout, 1)))
	tiles := (n + cols - 1) / cols
	parallelTiles(tiles*ks, func(job int, s *scratch) {
		o, tile := job%ks, job/ks
		j0 := tile * cols
		j1 := min(j0+cols, n)
		T := j1 - j0
		if cap(s.col) < t.cout*cols {
			s.col = make([]float32, t.cout*cols)
		}
		tmp := s.col[:t.cout*T]
		clear(tmp)
		gemm(t.cout, T, t.cin, t.w[o*t.cout*t.cin:], in[j0:], n, tmp, T, &s.pack)
		a, b, c := o/(t.s[1]*t.s[2]), (o/t.s[2])%t.s[1], o%t.s[2]
		for co := range t.cout {
			bias := t.b[co]
			src := tmp[co*T : (co+1)*T]
			dst := out[co*no : (co+1)*no]
			for jj, v := range src {
				j := j0 + jj
				x := j % dims[2]
				y := (j / dims[2]) % dims[1]
				z := j / (dims[2] * dims[1])
				dst[((z*t.s[0]+a)*od[1]+y*t.s[1]+b)*od[2]+x*t.s[2]+c] = v + bias
			}
		}
	})
	return od
}
