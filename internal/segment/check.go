package segment

import "fmt"

// CT plausibility bounds. Air is about -1000 HU on every calibrated
// scanner; soft tissue (fat, muscle, organs, blood) lies between -150 and
// 150. Scanners pad outside the reconstruction circle with values down to
// -3024, which count as neither.
const (
	airLo, airHi   = -1100, -850
	softLo, softHi = -150, 150
	minAirFrac     = 0.005 // some air around or inside the body
	minSoftFrac    = 0.02
)

// checkCT refuses volumes whose intensities are not Hounsfield units of a
// body: an MR image, a label map or a probability map read as CT. It
// measures on at most about four million voxels.
func checkCT(hu []int16) error {
	if len(hu) == 0 {
		return fmt.Errorf("%w: the volume has no voxels", ErrNotCT)
	}
	step := len(hu)/(4<<20) + 1
	var air, soft, n int
	lo, hi := hu[0], hu[0]
	for p := 0; p < len(hu); p += step {
		v := hu[p]
		n++
		if v >= airLo && v <= airHi {
			air++
		} else if v >= softLo && v <= softHi {
			soft++
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	fa, fs := float64(air)/float64(n), float64(soft)/float64(n)
	if fa < minAirFrac {
		return fmt.Errorf("%w: %.2f%% of voxels are air (%d..%d HU), a CT of a body has at least %.1f%% (values span %d..%d)",
			ErrNotCT, 100*fa, airLo, airHi, 100*minAirFrac, lo, hi)
	}
	if fs < minSoftFrac {
		return fmt.Errorf("%w: %.2f%% of voxels are soft tissue (%d..%d HU), a CT of a body has at least %.0f%% (values span %d..%d)",
			ErrNotCT, 100*fs, softLo, softHi, 100*minSoftFrac, lo, hi)
	}
	return nil
}
