package nnunet

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// f16 rounds to IEEE half precision (round to nearest even), as PyTorch
// stores a torch.half result computed in float32.
func f16(x float32) float16.Float16 { return float16.Fromfloat32(x) }

// Gaussian is nnU-Net's compute_gaussian(patch, sigma_scale=1/8,
// value_scaling_factor=10) in float16: scipy's gaussian_filter (truncate 4)
// of a delta at patch//2, cast to half, divided by its maximum and times
// 10 in half precision, zeros replaced by the smallest non-zero value.
func Gaussian(patch [3]int) []float16.Float16 {
	var k [3][]float64 // per axis the filtered delta along that axis
	for a := range 3 {
		sigma := float64(patch[a]) / 8
		r := int(4*sigma + 0.5)
		w := make([]float64, 2*r+1)
		var sum float64
		for j := range w {
			x := float64(j - r)
			w[j] = math.Exp(-0.5 / (sigma * sigma) * x * x)
			sum += w[j]
		}
		c := patch[a] / 2
		k[a] = make([]float64, patch[a])
		for i := range patch[a] {
			if d := i - c; d >= -r && d <= r {
				k[a][i] = w[d+r] / sum
			}
		}
	}
	n := patch[0] * patch[1] * patch[2]
	g := make([]float16.Float16, n)
	var mx float32
	for z := range patch[0] {
		for y := range patch[1] {
			for x := range patch[2] {
				h := f16(float32(k[0][z] * k[1][y] * k[2][x]))
				g[(z*patch[1]+y)*patch[2]+x] = h
				mx = max(mx, h.Float32())
			}
		}
	}
	minNZ := float16.Inf(1)
	for i, h := range g {
		h = f16(f16(h.Float32()/mx).Float32() * 10)
		g[i] = h
		if h.Float32() != 0 && h.Float32() < minNZ.Float32() {
			minNZ = h
		}
	}
	for i, h := range g {
		if h.Float32() == 0 {
			g[i] = minNZ
		}
	}
	return g
}

// Steps is nnU-Net's compute_steps_for_sliding_window: per axis, the tile
// origins, ceil((size-patch)/(patch*step))+1 of them spread evenly and
// rounded half to even (numpy.round).
func Steps(size, patch [3]int, step float64) ([3][]int, error) {
	var out [3][]int
	if !(step > 0 && step <= 1) {
		return out, fmt.Errorf("step %g outside (0, 1]", step)
	}
	for a := range 3 {
		if size[a] < patch[a] {
			return out, fmt.Errorf("axis %d: size %d smaller than the patch %d", a, size[a], patch[a])
		}
		target := float64(patch[a]) * step
		num := int(math.Ceil(float64(size[a]-patch[a])/target)) + 1
		actual := 99999999999.0
		if num > 1 {
			actual = float64(size[a]-patch[a]) / float64(num-1)
		}
		for i := range num {
			out[a] = append(out[a], int(math.RoundToEven(actual*float64(i))))
		}
	}
	return out, nil
}

// Progress is told after each tile how many of the total are done.
type Progress func(done, total int)

// Predictor runs a network over a volume tile by tile.
type Predictor struct {
	Net      *Network
	Patch    [3]int
	Step     float64 // tile step as a fraction of the patch; TotalSegmentator uses 0.8 for "total"
	Progress Progress
}

// Logits is predict_sliding_window_return_logits on nnU-Net's CPU path,
// without mirroring: img (D, H, W) is padded with zeros where smaller than
// the patch (below = diff/2), tiled by Steps, each tile's logits weighted
// by the Gaussian and summed in float16, as are the weights, and divided
// in float16. The result is cropped back to img's size: (classes, D, H, W)
// half floats.
func (p *Predictor) Logits(ctx context.Context, img []float32, dims [3]int) ([]float16.Float16, error) {
	a, err := p.accumulate(ctx, img, dims)
	if err != nil {
		return nil, err
	}
	classes := p.Net.arch.Classes
	n := dims[0] * dims[1] * dims[2]
	out := make([]float16.Float16, classes*n)
	err = a.each(dims, func(i, v int, w float32) {
		for c := range classes {
			out[c*n+i] = a.logit(c, v, w)
		}
	})
	return out, err
}

// Labels is Argmax(Logits(...)) without holding the logits: each voxel's
// float16 quotients are formed and compared in turn.
func (p *Predictor) Labels(ctx context.Context, img []float32, dims [3]int) ([]uint16, error) {
	a, err := p.accumulate(ctx, img, dims)
	if err != nil {
		return nil, err
	}
	classes := p.Net.arch.Classes
	out := make([]uint16, dims[0]*dims[1]*dims[2])
	err = a.each(dims, func(i, v int, w float32) {
		best, bv := 0, a.logit(0, v, w).Float32()
		for c := 1; c < classes; c++ {
			if l := a.logit(c, v, w).Float32(); l > bv {
				best, bv = c, l
			}
		}
		out[i] = uint16(best)
	})
	return out, err
}

// sums are the float16 accumulators of a sliding window over a padded
// volume.
type sums struct {
	acc, weight []float16.Float16
	pd, below   [3]int
	nv          int
	inf         bool
}

// each calls fn for every voxel i of the unpadded volume, in order, with
// its index v in the sums and its summed weight w.
func (s *sums) each(dims [3]int, fn func(i, v int, w float32)) error {
	i := 0
	for z := range dims[0] {
		for y := range dims[1] {
			for x := range dims[2] {
				v := ((z+s.below[0])*s.pd[1]+y+s.below[1])*s.pd[2] + x + s.below[2]
				fn(i, v, s.weight[v].Float32())
				i++
			}
		}
	}
	if s.inf {
		return errors.New("nnunet: infinite logit (float16 overflow)")
	}
	return nil
}

// logit is class c's logit at v: the float16 quotient of the sums, as
// nnU-Net divides them.
func (s *sums) logit(c, v int, w float32) float16.Float16 {
	l := f16(s.acc[c*s.nv+v].Float32() / w)
	if l.IsInf(0) {
		s.inf = true
	}
	return l
}

func (p *Predictor) accumulate(ctx context.Context, img []float32, dims [3]int) (*sums, error) {
	if len(img) != dims[0]*dims[1]*dims[2] {
		return nil, errors.New("nnunet: image size does not match dims")
	}
	var pd, below [3]int
	for a := range 3 {
		pd[a] = max(dims[a], p.Patch[a])
		below[a] = (pd[a] - dims[a]) / 2
	}
	padded := img
	if pd != dims {
		padded = make([]float32, pd[0]*pd[1]*pd[2])
		for z := range dims[0] {
			for y := range dims[1] {
				o := ((z+below[0])*pd[1]+y+below[1])*pd[2] + below[2]
				copy(padded[o:o+dims[2]], img[(z*dims[1]+y)*dims[2]:(z*dims[1]+y+1)*dims[2]])
			}
		}
	}
	steps, err := Steps(pd, p.Patch, p.Step)
	if err != nil {
		return nil, err
	}
	classes := p.Net.arch.Classes
	nv := pd[0] * pd[1] * pd[2]
	acc := make([]float16.Float16, classes*nv)
	weight := make([]float16.Float16, nv)
	g := Gaussian(p.Patch)
	gf := make([]float32, len(g))
	for i, h := range g {
		gf[i] = h.Float32()
	}
	total := len(steps[0]) * len(steps[1]) * len(steps[2])
	done := 0
	P := p.Patch
	np := P[0] * P[1] * P[2]
	tile := make([]float32, np)
	for _, sz := range steps[0] {
		for _, sy := range steps[1] {
			for _, sx := range steps[2] {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				for z := range P[0] {
					for y := range P[1] {
						o := ((sz+z)*pd[1]+sy+y)*pd[2] + sx
						copy(tile[(z*P[1]+y)*P[2]:(z*P[1]+y+1)*P[2]], padded[o:o+P[2]])
					}
				}
				err := p.Net.ForwardEach(tile, P, func(t0, t1 int, pred []float32) {
					T := t1 - t0
					for t := t0; t < t1; t++ {
						z, y, x := t/(P[1]*P[2]), t/P[2]%P[1], t%P[2]
						v := ((sz+z)*pd[1]+sy+y)*pd[2] + sx + x
						w := gf[t]
						weight[v] = f16(weight[v].Float32() + w)
						for c := range classes {
							a := &acc[c*nv+v]
							*a = f16(a.Float32() + float32(pred[c*T+t-t0]*w))
						}
					}
				})
				if err != nil {
					return nil, err
				}
				done++
				if p.Progress != nil {
					p.Progress(done, total)
				}
			}
		}
	}
	return &sums{acc: acc, weight: weight, pd: pd, below: below, nv: nv}, nil
}

// Argmax is the class of the largest logit per voxel, the first one on a
// tie (torch.argmax).
func Argmax(logits []float16.Float16, classes int) []uint16 {
	n := len(logits) / classes
	out := make([]uint16, n)
	for i := range n {
		best, bv := 0, logits[i].Float32()
		for c := 1; c < classes; c++ {
			if v := logits[c*n+i].Float32(); v > bv {
				best, bv = c, v
			}
		}
		out[i] = uint16(best)
	}
	return out
}
