package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// countingEngine runs the native engine and counts the volumes it was given.
type countingEngine struct {
	segment.Native
	calls atomic.Int32
}

func (e *countingEngine) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	e.calls.Add(1)
	return e.Native.Segment(ctx, ct)
}

// TestSegmenterLimits: the local segmenter's volume limit derives from the
// memory it runs with (limits.For), not from volume's fixed default. A
// volume whose header declares more voxel bytes than the limit fails as
// too_large, naming the limit, and the engine never sees it; with more
// memory the same volume reaches the engine.
func TestSegmenterLimits(t *testing.T) {
	ctx := context.Background()
	// 256×256×200 int16: 26.2 MB of voxels, as ingest writes volumes.
	ct := &volume.CT{Grid: volume.Grid{Dims: [3]int{256, 256, 200}, Affine: volume.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}},
		HU: make([]int16, 256*256*200)}
	var file bytes.Buffer
	if err := volume.WriteCT(&file, ct); err != nil {
		t.Fatal(err)
	}
	need := int64(len(ct.HU) * 2)
	small, large := limits.For(320<<20, 2), limits.For(1<<30, 2)
	if small.Volume >= need || large.Volume < need {
		t.Fatalf("volume limits %d and %d do not straddle the volume's %d bytes", small.Volume, large.Volume, need)
	}
	for _, tc := range []struct {
		name        string
		lim         limits.Limits
		engineCalls int32
		code, says  string
	}{
		{"320 MB", small, 0, "too_large", "the volume's decoded voxels is 26.2 MB; the limit is " + limits.Bytes(small.Volume)},
		{"1 GB", large, 1, "not_ct", ""}, // zeros are water, not a body
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs, err := NewDirBlobs(t.TempDir(), "bucket", nil)
			if err != nil {
				t.Fatal(err)
			}
			id := "job-seglimits"
			if err := blobs.Put(ctx, events.VolumeKey(id), bytes.NewReader(file.Bytes()), int64(file.Len()), "application/gzip"); err != nil {
				t.Fatal(err)
			}
			engine := &countingEngine{}
			s := &Segmenter{Blobs: blobs, Engine: engine, Limits: tc.lim, Log: slog.New(slog.DiscardHandler)}
			body, _ := json.Marshal(segmentRequest{JobID: id, InputKey: events.VolumeKey(id)})
			if err := s.segmentOne(ctx, body); err != nil {
				t.Fatal(err)
			}
			if n := engine.calls.Load(); n != tc.engineCalls {
				t.Errorf("engine called %d times, want %d", n, tc.engineCalls)
			}
			rc, _, err := blobs.Get(ctx, events.SegmentationFailurePrefix(id)+FailureFile)
			if err != nil {
				t.Fatalf("no failure written: %v", err)
			}
			raw, _ := io.ReadAll(rc)
			rc.Close()
			var f struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("failure %s: %v", raw, err)
			}
			if f.Error.Code != tc.code || !strings.Contains(f.Error.Message, tc.says) {
				t.Errorf("failure %+v, want code %s saying %q", f.Error, tc.code, tc.says)
			}
		})
	}
}
