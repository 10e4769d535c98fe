package pipeline

import (
	"strings"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/limits"
)

// TestMesherLimits: the mesher's limits derive from the memory it runs
// with (limits.For), not from a fixed default. A label map whose header
// declares more voxel bytes than the volume limit fails as too_large,
// naming the limit, before a voxel is read; with more memory the same
// file is read (it is all background, so it ends as empty_segmentation).
func TestMesherLimits(t *testing.T) {
	// 256×256×200 int16: 26.2 MB of voxels, all zero.
	const n = 256 * 256 * 200 * 2
	seg := gzipZeros(t, niftiHeader([3]int{256, 256, 200}), n)
	small, large := limits.For(320<<20, 2), limits.For(1<<30, 2)
	if small.Volume >= n || large.Volume < n {
		t.Fatalf("volume limits %d and %d do not straddle the label map's %d bytes", small.Volume, large.Volume, n)
	}
	tests := []struct {
		name       string
		lim        limits.Limits
		code, says string
	}{
		{"320 MB", small, CodeTooLarge, "the segmentation's decoded voxels is 26.2 MB; the limit is " + limits.Bytes(small.Volume)},
		{"1 GB", large, CodeEmptySegmentation, "no structures"},
		// The file itself, over the upload limit of a machine this small.
		{"file over the limit", limits.Limits{Upload: 1000, Volume: large.Volume}, CodeTooLarge, "the limit is 1 kB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMesherRig(t)
			r.m.Limits = tt.lim
			id := "job-limits-" + strings.ReplaceAll(tt.name, " ", "-")
			msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
			if failed := r.handle(t, msg); len(failed) != 0 {
				t.Fatalf("failed %v; a label map over the limit is not retried", failed)
			}
			evs := r.bus.all()
			if len(evs) != 1 || evs[0].DetailType != events.JobFailed {
				t.Fatalf("events %v, want Job Failed", evs)
			}
			f := decode[events.Failure](t, evs[0])
			if f.Stage != StageMesher || f.Code != tt.code || !strings.Contains(f.Message, tt.says) {
				t.Errorf("failure %+v, want code %s saying %q", f, tt.code, tt.says)
			}
		})
	}
}
