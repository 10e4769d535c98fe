package gpuworker

import (
	"context"
	"fmt"
	"math"

	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// Warmup checks that e can run and runs it once on Phantom, so that the
// first real request does not pay for loading the model and CUDA (and so
// that a broken install fails the endpoint's health check rather than
// every request). An engine with an Available method is asked first.
func Warmup(ctx context.Context, e segment.Engine) error {
	if a, ok := e.(interface{ Available() error }); ok {
		if err := a.Available(); err != nil {
			return err
		}
	}
	ct := Phantom()
	lm, err := e.Segment(ctx, ct)
	if err != nil {
		return fmt.Errorf("warm-up with the %s engine: %w", e.Name(), err)
	}
	if lm.Grid != ct.Grid || len(lm.Data) != ct.Len() {
		return fmt.Errorf("warm-up with the %s engine: label map of dims %v for a CT of %v", e.Name(), lm.Dims, ct.Dims)
	}
	return nil
}

// Phantom returns a small synthetic CT in Hounsfield units: 96×80×48
// voxels of 3 mm, RAS, an elliptic water-density trunk in air with a
// fat rim, two air-filled lungs and a bone column. It looks like a CT to
// the engines' plausibility checks; what they find in it does not matter.
func Phantom() *volume.CT {
	const nx, ny, nz, mm = 96, 80, 48, 3.0
	g := volume.Grid{Dims: [3]int{nx, ny, nz}, Affine: volume.Affine{
		{mm, 0, 0, -mm * nx / 2},
		{0, mm, 0, -mm * ny / 2},
		{0, 0, mm, 0},
		{0, 0, 0, 1},
	}}
	hu := make([]int16, g.Len())
	for k := range nz {
		for j := range ny {
			for i := range nx {
				x, y := float64(i)-nx/2, float64(j)-ny/2 // voxels from the centre; +y anterior
				hu[i+nx*(j+ny*k)] = phantomHU(x, y)
			}
		}
	}
	return &volume.CT{Grid: g, HU: hu}
}

func phantomHU(x, y float64) int16 {
	in := func(cx, cy, rx, ry float64) bool {
		return math.Pow((x-cx)/rx, 2)+math.Pow((y-cy)/ry, 2) <= 1
	}
	switch {
	case !in(0, 0, 42, 32):
		return -1000 // air
	case !in(0, 0, 39, 29):
		return -100 // subcutaneous fat
	case in(0, -20, 5, 5):
		return 700 // vertebral column
	case in(-17, 2, 12, 16), in(17, 2, 12, 16):
		return -850 // lungs
	}
	return 40 // soft tissue
}
