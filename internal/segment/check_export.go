package segment

import (
	"errors"
	"fmt"

	"github.com/iris-oculus/iris/internal/volume"
)

// CheckCT reports, with an error wrapping ErrNotCT, whether ct's
// intensities are not those of a CT of a body (an MR image, a label map or
// a probability map read as CT): the same check Native.Segment makes
// first, exported so that the ingest stage can refuse such input before a
// GPU is woken for it. It samples at most about four million voxels.
func CheckCT(ct *volume.CT) error {
	if ct == nil {
		return errors.New("segment: no CT")
	}
	if len(ct.HU) != ct.Len() {
		return fmt.Errorf("segment: CT has %d voxels for dims %v", len(ct.HU), ct.Dims)
	}
	return checkCT(ct.HU)
}
