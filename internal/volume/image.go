package volume

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/iris-oculus/iris/internal/hugepage"
)

type integer interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

type float interface{ ~float32 | ~float64 }

type number interface{ integer | float }

// LabelMap returns the image as a label map. Every voxel must hold an
// integer 0..65535 (integral values of a float image qualify); the error
// names the first that does not.
//
// scl_slope and scl_inter are ignored: a label is an identifier, not a
// measurement, and segmentation tools (TotalSegmentator, nibabel-written
// masks) store labels unscaled. A uint16 image's Data is shared, not
// copied. The image must be 3D (one time point).
func (im *Image) LabelMap() (*LabelMap, error) {
	if err := im.need3D("label map"); err != nil {
		return nil, err
	}
	var (
		out []uint16
		bad int
	)
	switch d := im.Data.(type) {
	case []uint8:
		out, bad = intLabels(d)
	case []uint16:
		out, bad = d, -1
	case []int8:
		out, bad = intLabels(d)
	case []int16:
		out, bad = intLabels(d)
	case []int32:
		out, bad = intLabels(d)
	case []uint32:
		out, bad = intLabels(d)
	case []int64:
		out, bad = intLabels(d)
	case []uint64:
		out, bad = intLabels(d)
	case []float32:
		out, bad = realLabels(d)
	case []float64:
		out, bad = realLabels(d)
	default:
		return nil, fmt.Errorf("label map: no voxel data (%T)", im.Data)
	}
	if bad >= 0 {
		return nil, fmt.Errorf("label map: voxel %s is %v; labels must be integers 0..65535", im.voxel(bad), im.value(bad))
	}
	return &LabelMap{Grid: im.Grid, Data: out, Extensions: im.Extensions}, nil
}

// intLabels converts, or returns the index of the first value out of range.
func intLabels[T integer](d []T) ([]uint16, int) {
	out := hugepage.Make[uint16](len(d))
	return out, inParallel(len(d), func(lo, hi int) int {
		for i, v := range d[lo:hi] {
			if v < 0 || uint64(v) > math.MaxUint16 {
				return lo + i
			}
			out[lo+i] = uint16(v)
		}
		return -1
	})
}

func realLabels[T float](d []T) ([]uint16, int) {
	out := hugepage.Make[uint16](len(d))
	return out, inParallel(len(d), func(lo, hi int) int {
		for i, v := range d[lo:hi] {
			f := float64(v)
			if !(f >= 0 && f <= math.MaxUint16) || f != math.Trunc(f) {
				return lo + i
			}
			out[lo+i] = uint16(f)
		}
		return -1
	})
}

// inParallel runs convert over [0, n) in chunks on every core and returns
// the least index any chunk reported, or -1. A whole-body label map is tens
// of millions of voxels in freshly mapped memory, whose page faults cost
// more than the conversion: on several cores they overlap.
func inParallel(n int, convert func(lo, hi int) int) int {
	const chunk = 1 << 20
	if n <= chunk {
		return convert(0, n)
	}
	var (
		next  atomic.Int64
		first atomic.Int64
		wg    sync.WaitGroup
	)
	first.Store(math.MaxInt64)
	for range min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk) {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n || int64(lo) > first.Load() {
					return
				}
				if bad := convert(lo, min(lo+chunk, n)); bad >= 0 {
					for {
						f := first.Load()
						if int64(bad) >= f || first.CompareAndSwap(f, int64(bad)) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if f := first.Load(); f != math.MaxInt64 {
		return int(f)
	}
	return -1
}

// CT returns the image in Hounsfield units: stored values times the slope
// plus the intercept (see Header.Scaling), rounded half to even (numpy's
// rint) and clamped to -32768..32767. Real CT spans about -1024..3071, or
// up to some 30000 for metal, so clamping only touches corrupt or non-CT
// data. NaN is an error naming the voxel. An unscaled int16 image's Data is
// shared, not copied. The image must be 3D (one time point).
func (im *Image) CT() (*CT, error) {
	if err := im.need3D("CT"); err != nil {
		return nil, err
	}
	slope, inter := im.Scaling()
	var (
		hu  []int16
		bad = -1
	)
	switch d := im.Data.(type) {
	case []int16:
		if slope == 1 && inter == 0 {
			hu = d
			break
		}
		hu, bad = toHU(d, slope, inter)
	case []uint8:
		hu, bad = toHU(d, slope, inter)
	case []int8:
		hu, bad = toHU(d, slope, inter)
	case []uint16:
		hu, bad = toHU(d, slope, inter)
	case []int32:
		hu, bad = toHU(d, slope, inter)
	case []uint32:
		hu, bad = toHU(d, slope, inter)
	case []int64:
		hu, bad = toHU(d, slope, inter)
	case []uint64:
		hu, bad = toHU(d, slope, inter)
	case []float32:
		hu, bad = toHU(d, slope, inter)
	case []float64:
		hu, bad = toHU(d, slope, inter)
	default:
		return nil, fmt.Errorf("CT: no voxel data (%T)", im.Data)
	}
	if bad >= 0 {
		return nil, fmt.Errorf("CT: voxel %s is NaN after scaling", im.voxel(bad))
	}
	return &CT{Grid: im.Grid, HU: hu}, nil
}

func toHU[T number](d []T, slope, inter float64) ([]int16, int) {
	out := hugepage.Make[int16](len(d))
	for i, v := range d {
		f := float64(v)*slope + inter
		switch {
		case f >= math.MaxInt16:
			out[i] = math.MaxInt16
		case f <= math.MinInt16:
			out[i] = math.MinInt16
		case f == f:
			out[i] = int16(math.RoundToEven(f))
		default:
			return nil, i
		}
	}
	return out, -1
}

// Float32 returns all voxels (every time point) scaled by Header.Scaling,
// computed in float64 as nibabel's get_fdata and then rounded to float32.
func (im *Image) Float32() []float32 {
	slope, inter := im.Scaling()
	switch d := im.Data.(type) {
	case []uint8:
		return toFloat32(d, slope, inter)
	case []int8:
		return toFloat32(d, slope, inter)
	case []int16:
		return toFloat32(d, slope, inter)
	case []uint16:
		return toFloat32(d, slope, inter)
	case []int32:
		return toFloat32(d, slope, inter)
	case []uint32:
		return toFloat32(d, slope, inter)
	case []int64:
		return toFloat32(d, slope, inter)
	case []uint64:
		return toFloat32(d, slope, inter)
	case []float32:
		return toFloat32(d, slope, inter)
	case []float64:
		return toFloat32(d, slope, inter)
	}
	return nil
}

func toFloat32[T number](d []T, slope, inter float64) []float32 {
	out := hugepage.Make[float32](len(d))
	if slope == 1 && inter == 0 {
		for i, v := range d {
			out[i] = float32(v)
		}
		return out
	}
	for i, v := range d {
		out[i] = float32(float64(v)*slope + inter)
	}
	return out
}

func (im *Image) need3D(what string) error {
	if im.TimePoints != 1 {
		return fmt.Errorf("%s: image has shape %v, want a single 3D volume", what, im.Shape)
	}
	return nil
}

// voxel formats flat index n as (i, j, k).
func (im *Image) voxel(n int) string {
	d := im.Dims
	return fmt.Sprintf("(%d, %d, %d)", n%d[0], n/d[0]%d[1], n/(d[0]*d[1]))
}

func (im *Image) value(n int) any {
	switch d := im.Data.(type) {
	case []int8:
		return d[n]
	case []int16:
		return d[n]
	case []int32:
		return d[n]
	case []uint32:
		return d[n]
	case []int64:
		return d[n]
	case []uint64:
		return d[n]
	case []float32:
		return d[n]
	case []float64:
		return d[n]
	}
	return "?"
}
