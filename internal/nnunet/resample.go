package nnunet

import (
	"math"
)

// zoomShape is scipy.ndimage.zoom's output shape: round(in * zoom), Python
// rounding (half to even), per axis.
func zoomShape(in [3]int, zoom [3]float64) [3]int {
	var out [3]int
	for a := range 3 {
		out[a] = int(math.RoundToEven(float64(in[a]) * zoom[a]))
	}
	return out
}

// zoomAxis holds, for one axis, each output index's first input index
// and its linear weights, as scipy's NI_ZoomShift computes them with
// grid_mode=False: the input coordinate is o*(in-1)/(out-1), clamped
// (mode "nearest").
type zoomAxis struct {
	i0, i1 []int
	w0, w1 []float64
}

func newZoomAxis(in, out, order int) zoomAxis {
	z := 1.0
	if out > 1 {
		z = float64(in-1) / float64(out-1)
	}
	ax := zoomAxis{i0: make([]int, out), i1: make([]int, out), w0: make([]float64, out), w1: make([]float64, out)}
	for o := range out {
		cc := float64(o) * z
		cc = min(max(cc, 0), float64(in-1))
		if order == 0 {
			s := int(math.Floor(cc + 0.5))
			ax.i0[o], ax.i1[o], ax.w0[o] = min(s, in-1), min(s, in-1), 1
			continue
		}
		s := int(math.Floor(cc))
		t := cc - float64(s)
		ax.i0[o], ax.i1[o] = min(s, in-1), min(s+1, in-1)
		ax.w0[o], ax.w1[o] = 1-t, t
	}
	return ax
}

// zoomLinear is scipy.ndimage.zoom(data, zoom, order=1, mode="nearest")
// on a (D, H, W) volume of HU (widened to float64 as TotalSegmentator's
// get_fdata does), with the result truncated toward zero to
// int32 as TotalSegmentator's change_spacing(..., dtype=np.int32) does.
// The eight neighbours are summed in scipy's order (the last numpy axis,
// k, fastest), each product formed axis by axis (i, j, k), so the float64
// sum, and so its truncation where the neighbours are equal, is scipy's.
func zoomLinear(data []int16, dims, out [3]int) []float32 {
	az, ay, ax := newZoomAxis(dims[0], out[0], 1), newZoomAxis(dims[1], out[1], 1), newZoomAxis(dims[2], out[2], 1)
	res := make([]float32, out[0]*out[1]*out[2])
	parallelTiles(out[0], func(z int, _ *scratch) {
		zi := [2]int{az.i0[z], az.i1[z]}
		zw := [2]float64{az.w0[z], az.w1[z]}
		for y := range out[1] {
			yi := [2]int{ay.i0[y], ay.i1[y]}
			yw := [2]float64{ay.w0[y], ay.w1[y]}
			for x := range out[2] {
				xi := [2]int{ax.i0[x], ax.i1[x]}
				xw := [2]float64{ax.w0[x], ax.w1[x]}
				// scipy sees the array as nibabel's (i, j, k): i is its first
				// axis (our x), k its last (our z), summed fastest
				t := 0.0
				for c := range 2 {
					for b := range 2 {
						for a := range 2 {
							v := float64(data[(zi[a]*dims[1]+yi[b])*dims[2]+xi[c]])
							v *= xw[c]
							v *= yw[b]
							v *= zw[a]
							t += v
						}
					}
				}
				res[(z*out[1]+y)*out[2]+x] = float32(int32(t))
			}
		}
	})
	return res
}

// zoomNearest is scipy.ndimage.zoom(labels, zoom, order=0, mode="nearest")
// to the given shape: each output voxel takes the input voxel at
// floor(o*(in-1)/(out-1) + 0.5).
func zoomNearest(data []uint16, dims, out [3]int) []uint16 {
	az, ay, ax := newZoomAxis(dims[0], out[0], 0), newZoomAxis(dims[1], out[1], 0), newZoomAxis(dims[2], out[2], 0)
	res := make([]uint16, out[0]*out[1]*out[2])
	for z := range out[0] {
		for y := range out[1] {
			row := (az.i0[z]*dims[1] + ay.i0[y]) * dims[2]
			for x := range out[2] {
				res[(z*out[1]+y)*out[2]+x] = data[row+ax.i0[x]]
			}
		}
	}
	return res
}
