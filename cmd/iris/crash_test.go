package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/local"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestServeResumesAfterKill9 kills the real binary with SIGKILL at each
// moment of a job's life that leaves work in flight, restarts it on the
// same data folder, and checks that every job still ends done, complete
// and once.
//
// The moments are found by watching the server's SQLite queues from this
// process (a claimed message and no output yet means the stage is at
// work), not by sleeping. A job's segmentation of the 3 mm CT is short
// (a fraction of a second), so that moment is retried with a new job if
// the test does not see it in time; the DICOM series is slow to ingest
// (JPEG 2000) and to mesh, so those moments are always caught.
func TestServeResumesAfterKill9(t *testing.T) {
	bin := irisBinary(t)
	data := t.TempDir() + "/data"
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	series := testdata.DICOMSeriesZip(t)
	var want []string // every job made, each must end done exactly once

	// 1. Right after the upload: the PUT has returned, ingest has the event.
	p := startProc(t, bin, data)
	want = append(want, p.client().submit("ct_3mm.nii.gz", ct))
	p.kill9()
	t.Logf("killed right after the upload of %s", want[0])

	// 2. While segmenting: the segment queue holds a claimed request and
	// no label map exists yet.
	p = startProc(t, bin, data)
	o := observe(t, data)
	caught := false
	for try := 0; try < 4 && !caught; try++ {
		id := want[len(want)-1]
		if try > 0 {
			id = p.client().submit(fmt.Sprintf("retry%d.nii.gz", try), ct)
			want = append(want, id)
		}
		caught = waitFor(jobTimeout, func() bool {
			return o.stats("segment").InFlight > 0 && !exists(data, events.SegmentationKey(id)) ||
				exists(data, events.SegmentationKey(id))
		}) && !exists(data, events.SegmentationKey(id))
		if caught {
			p.kill9()
			t.Logf("killed while segmenting %s (try %d)", id, try+1)
		} else {
			t.Logf("try %d: the segmentation of %s finished before it was seen; trying a new job", try+1, id)
		}
	}
	if !caught {
		t.Fatalf("never caught a segmentation in flight: %v", errMissed)
	}

	// 3. While ingesting the DICOM series: the ingest delivery is claimed
	// and the zip still in uploads/.
	p = startProc(t, bin, data)
	dicomJob := dropByRename(t, data, "series.zip", series)
	want = append(want, dicomJob)
	if !waitFor(jobTimeout, func() bool {
		return o.stats(local.BusQueuePrefix+events.TargetIngest).InFlight > 0 && exists(data, events.PrefixUploads+"series.zip") &&
			strings.Contains(p.log(), "dropped file announced")
	}) {
		t.Fatalf("the DICOM ingest was never seen in flight: %v", errMissed)
	}
	p.kill9()
	t.Logf("killed while ingesting %s", dicomJob)

	// 4. While meshing the DICOM series: the job is meshing, the mesher's
	// delivery is claimed, and no manifest exists yet.
	p = startProc(t, bin, data)
	c := p.client()
	if !waitFor(jobTimeout, func() bool {
		v, code := c.get(dicomJob)
		return code == http.StatusOK && v.Status == job.Meshing &&
			o.stats("mesh").InFlight > 0 && !exists(data, events.ManifestKey(dicomJob))
	}) {
		v, _ := c.get(dicomJob)
		t.Fatalf("the DICOM meshing was never seen in flight (status %s): %v", v.Status, errMissed)
	}
	p.kill9()
	t.Logf("killed while meshing %s", dicomJob)

	// Restarted, everything ends done, once, complete.
	p = startProc(t, bin, data)
	c = p.client()
	for _, id := range want {
		v := c.wait(id, jobTimeout)
		format, dims := "nifti", [3]int{122, 101, 30}
		if id == dicomJob {
			format, dims = "dicom", [3]int{512, 512, 20}
		}
		checkDone(t, c, data, v, format, dims)
	}
	checkListed(t, c, want)
	waitIdle(t, data)
	for _, q := range queues {
		if s := o.stats(q); s.Dead > 0 {
			t.Errorf("queue %s has %d dead letters", q, s.Dead)
		}
	}
}

// checkListed checks that the jobs listed are exactly want.
func checkListed(t *testing.T, c *client, want []string) {
	t.Helper()
	var got []string
	for _, v := range c.list(api.MaxListLimit) {
		got = append(got, v.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("jobs listed %v; want exactly %v (no job lost, none doubled)", got, want)
	}
}

// TestServeDrainsOnInterrupt sends SIGINT (Ctrl-C) while a job is being
// meshed: the server finishes the work in hand, exits 0 in time, and
// after a restart the job is done.
func TestServeDrainsOnInterrupt(t *testing.T) {
	bin := irisBinary(t)
	data := t.TempDir() + "/data"
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	p := startProc(t, bin, data)
	o := observe(t, data)
	c := p.client()

	var id string
	caught := false
	for try := 0; try < 4 && !caught; try++ {
		id = c.submit(fmt.Sprintf("ct%d.nii.gz", try), ct)
		caught = waitFor(jobTimeout, func() bool {
			return o.stats("mesh").InFlight > 0 || exists(data, events.ManifestKey(id))
		}) && !exists(data, events.ManifestKey(id))
		if !caught {
			t.Logf("try %d: the meshing of %s finished before it was seen; trying a new job", try+1, id)
			c.wait(id, jobTimeout)
		}
	}
	if !caught {
		t.Fatalf("never caught a meshing in flight: %v", errMissed)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		t.Fatal("iris serve did not exit within 45 s of SIGINT (its drain limit is 30 s)")
	}
	t.Logf("exited %v after SIGINT", time.Since(start).Round(time.Millisecond))
	if code := p.state.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGINT, want 0 (%v)", code, p.state)
	}
	if log := p.log(); !strings.Contains(log, "stopping: finishing the work in hand") {
		t.Errorf("the log does not say it is draining:\n%s", tail(log, 2000))
	}
	// The meshing in hand was finished, not abandoned.
	if !exists(data, events.ManifestKey(id)) {
		t.Errorf("the meshing in hand at SIGINT did not finish: no %s", events.ManifestKey(id))
	}

	p = startProc(t, bin, data)
	c = p.client()
	var ids []string
	for _, v := range c.list(api.MaxListLimit) {
		ids = append(ids, v.ID)
		checkDone(t, c, data, c.wait(v.ID, jobTimeout), "nifti", [3]int{122, 101, 30})
	}
	if !slices.Contains(ids, id) {
		t.Errorf("job %s is not listed after the restart: %v", id, ids)
	}
}

// settle runs the server without a fault point until no queue holds a
// message, then stops it with SIGINT: the work the last kill left is done.
func settle(t *testing.T, bin, data string) {
	t.Helper()
	t.Setenv("IRIS_FAULT", "")
	p := startProc(t, bin, data)
	waitIdle(t, data)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(jobTimeout):
		t.Fatalf("iris serve did not stop on SIGINT in %v", jobTimeout)
	}
}

// putSteps are DirBlobs.Put's fault points, in order.
var putSteps = []string{"written", "recorded", "renamed", "published"}

// TestServeResumesAfterKillAtEachPutStep kills the real binary (SIGKILL,
// from inside, through IRIS_FAULT) at each step of each stage's write: the
// signed upload, ingest's volume, the segmenter's label map and the
// mesher's manifest, then restarts it. Every job must still end done, once
// and complete; a killed upload's link works again when the file never
// made it into place, and is used up when it did (issue 11, item 11).
func TestServeResumesAfterKillAtEachPutStep(t *testing.T) {
	bin := irisBinary(t)
	data := t.TempDir() + "/data"
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	type pending struct {
		id     string
		upload ports.Upload
		codes  []int // what a PUT after the restart may answer
	}
	var (
		want  []string
		reput []pending
	)
	var points []string
	for _, s := range append([]string{"claimed"}, putSteps...) {
		points = append(points, s+"@"+events.PrefixUploads)
	}
	for _, part := range []string{events.PrefixVolumes, events.PrefixSegmentations, "manifest.json"} {
		for _, s := range putSteps {
			points = append(points, s+"@"+part)
		}
	}
	for _, point := range points {
		step, part, _ := strings.Cut(point, "@")
		if part != events.PrefixUploads {
			// Each later point gets a job of its own, sent in once the
			// work of the earlier kills is finished: a message in flight
			// at five kills in a row is dead-lettered, as the queue's
			// limit says, so a job left working while others' fault points
			// fire could starve the run of the put it waits for.
			settle(t, bin, data)
		}
		t.Setenv("IRIS_FAULT", point)
		p := startProc(t, bin, data)
		c := p.client()
		if part == events.PrefixUploads {
			cr := c.create("up-"+step+".nii.gz", len(ct))
			want = append(want, cr.Job.ID)
			code, b, err := c.try(cr.Upload.Method, cr.Upload.URL, "application/octet-stream", ct)
			if err == nil {
				t.Fatalf("%s: the PUT answered %d %s; the process should have died", point, code, b)
			}
			after := http.StatusOK // the file never got into place: the link works again
			if step == "renamed" || step == "published" {
				after = http.StatusConflict // it did, and its event is recovered
			}
			reput = append(reput, pending{cr.Job.ID, cr.Upload, []int{after}})
		} else {
			cr, err := c.api.Create(context.Background(), "walker-"+step+".nii.gz", int64(len(ct)))
			if err != nil {
				t.Fatalf("%s: the walker's create: %v", point, err)
			}
			want = append(want, cr.Job.ID)
			if err := c.api.Upload(context.Background(), cr.Upload, bytes.NewReader(ct), int64(len(ct)), nil); err != nil {
				t.Fatalf("%s: the walker's upload: %v", point, err)
			}
		}
		select {
		case <-p.exited:
		case <-time.After(jobTimeout):
			t.Fatalf("%s: the fault point was never reached in %v", point, jobTimeout)
		}
		if !strings.Contains(p.log(), "IRIS_FAULT: killed at "+step+" of ") {
			t.Fatalf("%s: the process ended without reaching its fault point:\n%s", point, tail(p.log(), 3000))
		}
		t.Logf("killed at %s", point)
	}

	t.Setenv("IRIS_FAULT", "")
	p := startProc(t, bin, data)
	c := p.client()
	for _, r := range reput {
		if code, b := c.do(r.upload.Method, r.upload.URL, "application/octet-stream", ct); !slices.Contains(r.codes, code) {
			t.Errorf("job %s: PUT after the restart = %d %s, want one of %v", r.id, code, b, r.codes)
		}
	}
	for _, id := range want {
		checkDone(t, c, data, c.wait(id, jobTimeout), "nifti", [3]int{122, 101, 30})
	}
	checkListed(t, c, want)
	waitIdle(t, data)
	o := observe(t, data)
	for _, q := range queues {
		if s := o.stats(q); s.Dead > 0 {
			t.Errorf("queue %s has %d dead letters", q, s.Dead)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(data, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries after the restart", len(ents))
	}
}
