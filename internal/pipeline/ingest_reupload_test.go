package pipeline

import (
	"bytes"
	"context"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestIngestSecondUploadKeepsVolume: an upload to a job whose volume is
// stored (a second PUT with the job's upload URL after the first was
// ingested and deleted, which S3's If-None-Match cannot refuse since the
// key is free again) neither replaces the volume nor fails the job: the
// job is announced again from the stored volume and the upload deleted,
// unread. Before ingest checked for the volume, a valid second CT
// replaced ct.nii.gz under the job's meshes and an invalid one failed a
// running job.
func TestIngestSecondUploadKeepsVolume(t *testing.T) {
	ctx := context.Background()
	first := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	// Another valid CT: the same scan with its last slices blanked.
	raw := ungzip(t, first)
	for i := len(raw) - 20000; i < len(raw); i++ {
		raw[i] = 0
	}
	var other bytes.Buffer
	zw := gzip.NewWriter(&other)
	zw.Write(raw)
	zw.Close()

	for _, tc := range []struct {
		name   string
		second []byte
	}{
		{"another valid CT", other.Bytes()},
		{"a truncated file", first[:len(first)/3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newIngestRig(t)
			id := apiID("second-upload " + tc.name)
			key := events.UploadKey(id, "ct.nii.gz")
			if err := r.in.Handle(ctx, r.upload(t, key, first)); err != nil {
				t.Fatal(err)
			}
			vol, ok := r.blobs.data(events.VolumeKey(id))
			if !ok {
				t.Fatal("no volume after the first upload")
			}
			vol = bytes.Clone(vol)
			if err := r.in.Handle(ctx, r.upload(t, key, tc.second)); err != nil {
				t.Fatalf("second upload: %v", err)
			}
			if now, _ := r.blobs.data(events.VolumeKey(id)); !bytes.Equal(now, vol) {
				t.Error("the second upload replaced the job's volume")
			}
			if puts := r.blobs.putsUnder(events.VolumeKey(id)); len(puts) != 1 {
				t.Errorf("volume written %d times, want once", len(puts))
			}
			// The volume and its input facts (InputKey) stay; the second upload is deleted.
			facts := InputKey(id)
			if keys := r.blobs.keys(""); len(keys) != 2 || keys[0] != events.VolumeKey(id) || keys[1] != facts {
				t.Errorf("bucket holds %v, want only the volume and %s (the second upload deleted)", keys, facts)
			}
			if n := len(r.bus.of(events.JobRejected)); n != 0 {
				t.Errorf("%d Job Rejected: the second upload failed the job", n)
			}
			if n := len(r.bus.of(events.JobAccepted)); n != 2 {
				t.Errorf("%d Job Accepted, want 2 (the second announced from the stored volume)", n)
			}
			j := r.statusOf(t, id)
			if j.Status != job.Accepted || j.Input == nil || j.Input.Format != "nifti" || j.Input.Dims != [3]int{122, 101, 30} {
				t.Errorf("status made %+v (input %+v)", j, j.Input)
			}
		})
	}
}
