package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/testdata"
)

// jobTimeout bounds one job's trip through a busy 2-core machine; a
// DICOM series (JPEG 2000 decoding, 512×512 meshing) is the slowest.
const jobTimeout = 150 * time.Second

// TestServeEndToEnd is the acceptance test of `iris serve`: real scans in
// through the API and the drop folder, organ models out, failures a person
// understands, one job per dropped file, listing and deleting.
func TestServeEndToEnd(t *testing.T) {
	data := t.TempDir()
	srv := startInProcess(t, data)
	c := srv.client(t)

	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	labelMap := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	series := testdata.DICOMSeriesZip(t)
	noise := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}

	// Everything goes in first; the pipeline works through it while the
	// subtests wait for their job.
	ctJob := c.submit("ct_3mm.nii.gz", ct)
	truncatedJob := c.submit("truncated.nii.gz", ct[:len(ct)/2])
	labelJob := c.submit("ct_3mm_seg.nii.gz", labelMap)
	noiseJob := c.submit("noise.nii.gz", noise)
	droppedLabelJob := dropByRename(t, data, "dropped_seg.nii.gz", labelMap)
	renamedJob := dropByRename(t, data, "series.zip", series)
	slowJob := dropSlowly(t, data, "series_slow.zip", series, 10, 80*time.Millisecond)

	t.Run("NIfTI through the API", func(t *testing.T) {
		v := c.wait(ctJob, jobTimeout)
		checkDone(t, c, data, v, "nifti", [3]int{122, 101, 30})
	})
	t.Run("label map through the API", func(t *testing.T) {
		checkLabelMapDone(t, data, c.wait(labelJob, jobTimeout), "ct_3mm_seg.nii.gz")
		t.Run("print export", func(t *testing.T) { checkPrintExport(t, c, data, labelJob) })
	})
	t.Run("label map dropped into uploads", func(t *testing.T) {
		checkLabelMapDone(t, data, c.wait(droppedLabelJob, jobTimeout), "dropped_seg.nii.gz")
	})
	t.Run("DICOM zip renamed into uploads", func(t *testing.T) {
		v := c.wait(renamedJob, jobTimeout)
		checkDone(t, c, data, v, "dicom", [3]int{512, 512, 20})
		if exists(data, events.PrefixUploads+"series.zip") {
			t.Error("the dropped zip is still in uploads/ after ingest (it carries patient data)")
		}
	})
	t.Run("DICOM zip copied slowly into uploads", func(t *testing.T) {
		v := c.wait(slowJob, jobTimeout)
		checkDone(t, c, data, v, "dicom", [3]int{512, 512, 20})
	})
	for _, tc := range []struct {
		name, id, code string
	}{
		{"truncated NIfTI", truncatedJob, pipeline.CodeCorrupt},
		{"random bytes named .nii.gz", noiseJob, pipeline.CodeUnknownFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.wait(tc.id, jobTimeout)
			if v.Status != job.Failed || v.Error == nil {
				t.Fatalf("status %s, error %+v; want failed", v.Status, v.Error)
			}
			if v.Error.Stage != pipeline.StageIngest || v.Error.Code != tc.code {
				t.Errorf("error stage %q code %q; want %q %q (message %q)", v.Error.Stage, v.Error.Code, pipeline.StageIngest, tc.code, v.Error.Message)
			}
			checkHumanMessage(t, v.ID, v.Error.Message)
			if len(v.Artifacts) != 0 || len(v.Organs) != 0 {
				t.Errorf("a rejected job lists artifacts %v and organs %v", v.Artifacts, v.Organs)
			}
			checkNoUpload(t, data, v.ID)
		})
	}

	// Every job so far, before the duplicate drops.
	before := c.list(api.MaxListLimit)
	t.Run("the same file dropped twice is one job", func(t *testing.T) {
		first := dropByRename(t, data, "twice.nii.gz", ct)
		v1 := c.wait(first, jobTimeout)
		if v1.Status != job.Done {
			t.Fatalf("first drop: status %s, error %+v", v1.Status, v1.Error)
		}
		second := dropByRename(t, data, "twice.nii.gz", ct)
		if second != first {
			t.Fatalf("the same bytes under the same name got job ids %s and %s", first, second)
		}
		// The second drop is ingested (and deleted) like the first; wait
		// for that, then for the jobs queue and bus to have nothing left.
		key := events.PrefixUploads + "twice.nii.gz"
		if !waitFor(jobTimeout, func() bool { return !exists(data, key) }) {
			t.Fatalf("the second drop is still in uploads/ after %v", jobTimeout)
		}
		waitIdle(t, data)
		jobs := c.list(api.MaxListLimit)
		if len(jobs) != len(before)+1 {
			t.Errorf("%d jobs after dropping one file twice onto %d; want one more", len(jobs), len(before))
		}
		n := 0
		for _, j := range jobs {
			if j.ID == first {
				n++
			}
		}
		v2, _ := c.get(first)
		if n != 1 || v2.Status != job.Done || !v2.UpdatedAt.Equal(v1.UpdatedAt) || len(v2.Organs) != len(v1.Organs) {
			t.Errorf("job %s listed %d times; after the second drop: %s updated %v (was %v), %d organs (was %d)",
				first, n, v2.Status, v2.UpdatedAt, v1.UpdatedAt, len(v2.Organs), len(v1.Organs))
		}
	})

	t.Run("list is newest first", func(t *testing.T) {
		all := c.list(api.MaxListLimit)
		paged := c.list(2)
		ids := func(vs []api.JobView) []string {
			var out []string
			for _, v := range vs {
				out = append(out, v.ID)
			}
			return out
		}
		if !slices.Equal(ids(all), ids(paged)) {
			t.Errorf("pages of 2 give %v; one page gives %v", ids(paged), ids(all))
		}
		want := []string{ctJob, truncatedJob, labelJob, noiseJob, droppedLabelJob, renamedJob, slowJob, dropJobID("twice.nii.gz", ct)}
		if got := slices.Sorted(slices.Values(ids(all))); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("listed %v; want exactly %v", got, want)
		}
		for i := 1; i < len(all); i++ {
			if all[i].CreatedAt.After(all[i-1].CreatedAt) {
				t.Errorf("job %d (%s, created %v) is newer than job %d (%s, created %v)",
					i, all[i].ID, all[i].CreatedAt, i-1, all[i-1].ID, all[i-1].CreatedAt)
			}
		}
		if len(all) > 0 && all[0].ID != dropJobID("twice.nii.gz", ct) {
			t.Errorf("the newest job listed first is %s; want the last drop", all[0].ID)
		}
	})

	t.Run("delete removes the job and its objects", func(t *testing.T) {
		v, code := c.get(ctJob)
		if code != http.StatusOK || len(v.Artifacts) == 0 {
			t.Fatalf("GET %s: %d, %d artifacts", ctJob, code, len(v.Artifacts))
		}
		if code, b := c.do(http.MethodDelete, "/api/jobs/"+ctJob, "", nil); code != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", code, b)
		}
		if _, code := c.get(ctJob); code != http.StatusNotFound {
			t.Errorf("GET after DELETE: %d, want 404", code)
		}
		if code, _ := c.do(http.MethodDelete, "/api/jobs/"+ctJob, "", nil); code != http.StatusNotFound {
			t.Errorf("second DELETE: %d, want 404", code)
		}
		for _, p := range []string{events.PrefixUploads, events.PrefixVolumes, events.PrefixSegmentations, events.PrefixSegmentationFailures, events.PrefixResults} {
			if _, err := os.Stat(filepath.Join(data, "bucket", p, ctJob)); !os.IsNotExist(err) {
				t.Errorf("%s%s/ is still in the bucket (%v)", p, ctJob, err)
			}
		}
		if code, _ := c.do(http.MethodGet, v.Artifacts[0].URL, "", nil); code != http.StatusNotFound {
			t.Errorf("a download link of the deleted job answers %d, want 404", code)
		}
		for _, j := range c.list(api.MaxListLimit) {
			if j.ID == ctJob {
				t.Error("the deleted job is still listed")
			}
		}
	})

	t.Run("nothing left in uploads", func(t *testing.T) {
		var left []string
		filepath.WalkDir(filepath.Join(data, "bucket", "uploads"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("uploads/ still holds %v", left)
		}
	})
}

// waitIdle waits until no queue of the server has a message left.
func waitIdle(t *testing.T, data string) {
	t.Helper()
	o := observe(t, data)
	if !waitFor(jobTimeout, func() bool {
		for _, q := range queues {
			if s := o.stats(q); s.Visible+s.InFlight > 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the queues still hold messages after %v", jobTimeout)
	}
}

// TestServeRefusesBadInput checks what a person sees for requests the API
// turns down before any upload.
func TestServeRefusesBadInput(t *testing.T) {
	srv := startInProcess(t, t.TempDir())
	c := srv.client(t)
	for _, tc := range []struct {
		name, body string
		code       int
		errCode    string
	}{
		{"not JSON", `filename=ct.nii.gz`, http.StatusBadRequest, "bad_request"},
		{"a PNG", `{"filename":"ct.png","bytes":10}`, http.StatusUnsupportedMediaType, "unsupported_file"},
		{"no size", `{"filename":"ct.nii.gz","bytes":0}`, http.StatusBadRequest, "bad_request"},
		{"too large", `{"filename":"ct.nii.gz","bytes":99999999999}`, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.do(http.MethodPost, "/api/jobs", "application/json", []byte(tc.body))
			var e api.ErrorBody
			if err := json.Unmarshal(b, &e); err != nil || code != tc.code || e.Error.Code != tc.errCode || e.Error.Message == "" {
				t.Errorf("POST %s: %d %s; want %d with code %s", tc.body, code, b, tc.code, tc.errCode)
			}
		})
	}
	t.Run("upload of the wrong size", func(t *testing.T) {
		cr := c.create("ct.nii.gz", 100)
		code, b := c.do(cr.Upload.Method, cr.Upload.URL, "application/octet-stream", bytes.Repeat([]byte{1}, 99))
		if code != http.StatusBadRequest || !strings.Contains(string(b), "size_mismatch") {
			t.Errorf("PUT of 99 bytes on a link for 100: %d %s", code, b)
		}
	})
	t.Run("tampered upload link", func(t *testing.T) {
		cr := c.create("ct.nii.gz", 4)
		code, _ := c.do(cr.Upload.Method, strings.Replace(cr.Upload.URL, "bytes=4", "bytes=5", 1), "application/octet-stream", []byte("abcde"))
		if code != http.StatusForbidden {
			t.Errorf("PUT on a tampered link: %d, want 403", code)
		}
	})
	t.Run("health", func(t *testing.T) {
		code, b := c.do(http.MethodGet, "/api/health", "", nil)
		if code != http.StatusOK || !strings.Contains(string(b), `"status":"ok"`) {
			t.Errorf("GET /api/health: %d %s", code, b)
		}
	})
}

// TestServeRefusesSecondServerOnSameData: two servers on one data folder
// would take each other's work; the second is refused with a reason.
func TestServeRefusesSecondServerOnSameData(t *testing.T) {
	data := t.TempDir()
	startInProcess(t, data)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"serve", "--data", data}, testFlags...), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second server on the same data folder: %v; want it refused as in use", err)
	}
}
