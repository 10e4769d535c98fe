package segment

import (
	"context"
	"math"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// largeCT resamples the 3 mm example (trilinear) onto a 512×512×300 grid
// of 0.715×0.715×1 mm, the size of a routine chest-abdomen CT: the
// field of view is the example's width, and along z the 90 mm it covers
// is mirrored back and forth to fill 300 mm. Voxels beyond the example's
// anterior-posterior extent are air.
func largeCT(tb testing.TB) *volume.CT {
	tb.Helper()
	src, err := readCT(testdata.Path(tb, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	const nx, ny, nz = 512, 512, 300
	sp := [3]float64{float64(src.Dims[0]) * 3 / nx, float64(src.Dims[0]) * 3 / nx, 1}
	ct := &volume.CT{Grid: volume.Grid{Dims: [3]int{nx, ny, nz}}, HU: make([]int16, nx*ny*nz)}
	ct.Affine = volume.Affine{{sp[0], 0, 0, 0}, {0, sp[1], 0, 0}, {0, 0, sp[2], 0}, {0, 0, 0, 1}}
	ssp := src.Spacing()
	d := src.Dims
	at := func(i, j, k int) float64 {
		if i < 0 || j < 0 || i >= d[0] || j >= d[1] {
			return -1024
		}
		return float64(src.HU[i+d[0]*(j+d[1]*k)])
	}
	period := 2 * float64(d[2]-1)
	parallel(nz, func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			z := math.Mod(float64(k)*sp[2]/ssp[2], period)
			if z > float64(d[2]-1) {
				z = period - z
			}
			k0 := min(int(z), d[2]-2)
			fz := z - float64(k0)
			for j := range ny {
				y := float64(j) * sp[1] / ssp[1]
				j0 := int(math.Floor(y))
				fy := y - float64(j0)
				for i := range nx {
					x := float64(i) * sp[0] / ssp[0]
					i0 := int(math.Floor(x))
					fx := x - float64(i0)
					var v float64
					for c := range 8 {
						di, dj, dk := c&1, c>>1&1, c>>2
						w := lerpW(fx, di) * lerpW(fy, dj) * lerpW(fz, dk)
						if w != 0 {
							v += w * at(i0+di, j0+dj, k0+dk)
						}
					}
					ct.HU[i+nx*(j+ny*k)] = int16(math.Round(v))
				}
			}
		}
	})
	return ct
}

func lerpW(f float64, side int) float64 {
	if side == 0 {
		return 1 - f
	}
	return f
}

// BenchmarkNative segments a 512×512×300 CT (target: under 2 s on the
// 2-core CI machine).
func BenchmarkNative(b *testing.B) {
	ct := largeCT(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(ct.HU)) * 2)
	for b.Loop() {
		if _, err := (Native{}).Segment(context.Background(), ct); err != nil {
			b.Fatal(err)
		}
	}
}
