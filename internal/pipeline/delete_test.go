package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// everything lists every object left under any folder of job id.
func everything(b *memBlobs, id string) []string {
	var out []string
	for _, f := range events.JobFolders(id) {
		out = append(out, b.keys(f)...)
	}
	return out
}

// A job deleted while it is segmenting: the late outputs (SageMaker's
// label map, or its failure; a Segmentation Started that lost the race)
// reach the status stage, which deletes every object of the job and ends
// each event without an error, so nothing is retried or dead-lettered,
// and nothing brings the record back.
func TestStatusClearsLateOutputsOfADeletedJob(t *testing.T) {
	ctx := context.Background()
	const id = "job-del001"
	for _, tc := range []struct {
		name string
		late func(r *statusRig) events.Event
	}{
		{"label map", func(r *statusRig) events.Event {
			r.blobs.put(events.SegmentationKey(id), []byte("late label map"))
			return s3Event(t, events.SegmentationKey(id), 14, "etag", r.now)
		}},
		{"segmentation failure", func(r *statusRig) events.Event {
			k := events.SegmentationFailurePrefix(id) + "error.out"
			r.blobs.put(k, []byte(`{"error":{"code":"oom","message":"out of memory"}}`))
			return s3Event(t, k, 10, "etag", r.now)
		}},
		{"meshes ready", func(r *statusRig) events.Event {
			r.manifest(t, id)
			return pipelineEvent(t, events.MeshesReady, events.Ready{JobID: id, ManifestKey: events.ManifestKey(id)}, r.now)
		}},
		{"segmentation started", func(r *statusRig) events.Event {
			return pipelineEvent(t, events.SegmentationStarted, events.Started{JobID: id, Engine: "fake", OutputLocation: "s3://" + testBucket + "/" + events.SegmentationKey(id)}, r.now)
		}},
		{"job accepted (a dropped file's)", func(r *statusRig) events.Event {
			r.blobs.put(events.VolumeKey(id), []byte("volume"))
			return pipelineEvent(t, events.JobAccepted, events.Accepted{JobID: id}, r.now)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newStatusRig()
			newJob(t, r.store, id, "alice", job.Accepted, t0)
			if _, err := r.store.Advance(ctx, id, job.Update{Status: job.Segmenting, At: t0,
				OutputLocation: "s3://" + testBucket + "/" + events.SegmentationKey(id)}); err != nil {
				t.Fatal(err)
			}
			r.blobs.put(events.VolumeKey(id), []byte("volume")) // left by a purge that failed half-way
			if err := r.store.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			ev := tc.late(r)
			if err := r.s.Handle(ctx, ev); err != nil {
				t.Fatalf("Handle(late %s) = %v; want nil, so the platform neither retries nor dead-letters it", ev.DetailType, err)
			}
			if left := everything(r.blobs, id); len(left) != 0 {
				t.Errorf("objects left after the late %s: %v", ev.DetailType, left)
			}
			if _, err := r.store.Get(ctx, id); !errors.Is(err, job.ErrDeleted) {
				t.Errorf("the record after the late event: %v, want the tombstone", err)
			}
		})
	}
}

// The mesher receives the label map of a job deleted meanwhile: it meshes
// nothing, announces nothing, deletes the label map and any models an
// earlier run left, and the message is done with.
func TestMesherDeletedJob(t *testing.T) {
	r := newMesherRig(t)
	const id = "job-del002"
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
	r.blobs.put(events.ResultsPrefix(id)+"scene.glb", []byte("partial set of an earlier run"))
	if err := r.store.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ { // a redelivery finds nothing to do either
		msg.ReceiveCount = attempt
		if failed := r.handle(t, msg); len(failed) != 0 {
			t.Fatalf("attempt %d: failed %v; want the message done with", attempt, failed)
		}
	}
	if evs := r.bus.all(); len(evs) != 0 {
		t.Errorf("events %v; want none for a deleted job", evs)
	}
	if left := r.blobs.keys(events.PrefixSegmentations + id + "/"); len(left) != 0 {
		t.Errorf("label map left: %v", left)
	}
	if left := r.blobs.keys(events.ResultsPrefix(id)); len(left) != 0 {
		t.Errorf("models left: %v", left)
	}
	if puts := r.blobs.putsUnder(events.ResultsPrefix(id)); len(puts) != 0 {
		t.Errorf("puts under results/: %v; the mesher wrote models for a deleted job", puts)
	}
}

// Deleted while meshing: the mesher finishes and uploads the set before it
// can know, then the status stage receives Meshes Ready and clears it.
func TestDeletedWhileMeshing(t *testing.T) {
	r := newMesherRig(t)
	const id = "job-del003"
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
	r.blobs.put(events.VolumeKey(id), []byte("volume"))
	if failed := r.handle(t, msg); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	if err := r.store.Delete(context.Background(), id); err != nil { // the API's DELETE, after the mesher read the record
		t.Fatal(err)
	}
	ready := r.bus.of(events.MeshesReady)
	if len(ready) != 1 {
		t.Fatalf("Meshes Ready %d times, want 1", len(ready))
	}
	st := &Status{Store: r.store, Blobs: r.blobs, Now: fixedClock(&r.now), Log: quiet}
	if err := st.Handle(context.Background(), ready[0]); err != nil {
		t.Fatalf("status on the late Meshes Ready = %v, want nil", err)
	}
	if left := everything(r.blobs, id); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
}
