package segment

import (
	"math/rand/v2"
	"testing"
)

// TestCloseDiskMatchesDistanceClosing checks the bit-parallel closing of
// the skeleton stage against the exact distance-transform closing.
func TestCloseDiskMatchesDistanceClosing(t *testing.T) {
	for _, tc := range []struct {
		nx, ny int
		sp     [2]float64
		r      float64
		fill   float64
	}{
		{70, 50, [2]float64{1, 1}, 3, 0.05},
		{130, 61, [2]float64{0.7, 0.9}, 4, 0.08},
		{200, 40, [2]float64{0.5, 0.5}, 2.2, 0.2},
		{64, 64, [2]float64{3, 3}, 4, 0.3},
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.nx), uint64(tc.ny)))
		g := grid3{n: [3]int{tc.nx, tc.ny, 1}, sp: [3]float64{tc.sp[0], tc.sp[1], 1}}
		m := make([]bool, g.len())
		src := newBitplane(tc.nx, tc.ny)
		for p := range m {
			if rng.Float64() < tc.fill {
				m[p] = true
				src.set(p%tc.nx, p/tc.nx)
			}
		}
		want := closing(g, m, tc.r, [3]bool{true, true, false})
		widths := diskWidths(tc.r, tc.sp)
		xs := make([]*bitplane, len(widths))
		for d := range xs {
			xs[d] = newBitplane(tc.nx, tc.ny)
		}
		dst, tmp := newBitplane(tc.nx, tc.ny), newBitplane(tc.nx, tc.ny)
		closeDisk(dst, src, widths, xs, tmp, 0, tc.ny)
		bad := 0
		for p, w := range want {
			if dst.get(p%tc.nx, p/tc.nx) != w {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%dx%d spacing %v r %.1f: %d of %d pixels differ from the distance closing", tc.nx, tc.ny, tc.sp, tc.r, bad, len(want))
		}
	}
}

// TestDivRecip checks the multiply-shift division used by the box means.
func TestDivRecip(t *testing.T) {
	for n := 1; n <= 361; n++ {
		inv := recip(n)
		for _, s := range []int32{0, 1, -1, 7, -7, 1023, -1024, 32767 * int32(n), -32768 * int32(n), 32767 * 200} {
			for d := int32(-70); d <= 70; d++ {
				v := s + d
				if v > 32767*int32(n) || v < -32768*int32(n) {
					continue
				}
				if got, want := divRecip(v, inv), int16(v/int32(n)); got != want {
					t.Fatalf("%d/%d = %d, want %d", v, n, got, want)
				}
			}
		}
	}
}

// TestBoxSlices checks the in-place, parallel mean across planes against
// a direct computation.
func TestBoxSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ nxy, nz, r int }{{5, 1, 1}, {7, 2, 1}, {6, 9, 1}, {4, 13, 2}, {3, 5, 3}} {
		a := make([]int16, tc.nxy*tc.nz)
		for p := range a {
			a[p] = int16(rng.IntN(4000) - 1024)
		}
		want := make([]int16, len(a))
		for k := range tc.nz {
			for p := range tc.nxy {
				var sum, n int32
				for kk := max(0, k-tc.r); kk <= min(tc.nz-1, k+tc.r); kk++ {
					sum += int32(a[kk*tc.nxy+p])
					n++
				}
				want[k*tc.nxy+p] = int16(sum / n)
			}
		}
		boxSlices(a, tc.nxy, tc.nz, tc.r)
		for p := range a {
			if a[p] != want[p] {
				t.Fatalf("%+v: value %d is %d, want %d", tc, p, a[p], want[p])
			}
		}
	}
}

// TestBoxPlane checks the in-plane box mean against a direct computation.
func TestBoxPlane(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ nx, ny, rx, ry int }{{9, 7, 1, 1}, {20, 3, 2, 2}, {5, 11, 3, 1}, {1, 1, 1, 1}, {70, 66, 2, 3}} {
		src := make([]int16, tc.nx*tc.ny)
		for p := range src {
			src[p] = int16(rng.IntN(5000) - 1100)
		}
		dst := make([]int16, len(src))
		newBoxPlane(tc.nx, tc.ny, tc.rx, tc.ry).mean(src, dst)
		for j := range tc.ny {
			for i := range tc.nx {
				var sum, n int32
				for jj := max(0, j-tc.ry); jj <= min(tc.ny-1, j+tc.ry); jj++ {
					for ii := max(0, i-tc.rx); ii <= min(tc.nx-1, i+tc.rx); ii++ {
						sum += int32(src[ii+tc.nx*jj])
						n++
					}
				}
				if want := int16(sum / n); dst[i+tc.nx*j] != want {
					t.Fatalf("%+v: (%d,%d) = %d, want %d", tc, i, j, dst[i+tc.nx*j], want)
				}
			}
		}
	}
}
