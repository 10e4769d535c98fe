package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestServeDroppedFolder copies the shared DICOM series, file by file, as
// a folder into the drop folder, as a person copying an export does: it
// ends as exactly one job, done, and the slices are deleted.
func TestServeDroppedFolder(t *testing.T) {
	data := t.TempDir()
	srv := startInProcess(t, data)
	c := srv.client(t)

	src := testdata.Path(t, "totalsegmentator-example", "dicom")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	// A folder name with a space: the watcher renames it to CT_Export.
	folder := filepath.Join(data, "bucket", "uploads", "CT Export", "DICOM")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	files := map[string][]byte{}
	for i, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names, files[e.Name()] = append(names, e.Name()), b
		if i%5 == 4 {
			time.Sleep(100 * time.Millisecond) // a copy that takes a while, shorter than the settle time
		}
	}
	// The job's id is the leader's: the greatest key, with its ETag.
	last := slices.Max(names)
	sum := md5.Sum(files[last])
	id := events.DropJobID("uploads/CT_Export/DICOM/"+last, hex.EncodeToString(sum[:]))

	v := c.wait(id, jobTimeout)
	checkDone(t, c, data, v, "dicom", [3]int{512, 512, 20})
	if v.Input.File != "CT_Export" {
		t.Errorf("input file %q, want the folder's name", v.Input.File)
	}
	waitIdle(t, data)
	var left []string
	filepath.WalkDir(filepath.Join(data, "bucket", "uploads"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("uploads/ still holds %d files (the series carries patient data): %v", len(left), left)
	}
	if jobs := c.list(100); len(jobs) != 1 {
		for _, j := range jobs {
			t.Logf("job %s %s %+v %+v", j.ID, j.Status, j.Input, j.Error)
		}
		t.Errorf("%d jobs, want exactly one for the folder", len(jobs))
	}
}

// TestServeSmallJobNotBehindLarge: a small upload made after three large
// ones is ingested while a large one still waits, instead of after all of
// them (before the lanes, ingest took one job at a time: five heavy
// uploads made a 0.46 s job take 19.9 s).
func TestServeSmallJobNotBehindLarge(t *testing.T) {
	data := t.TempDir()
	// The DICOM zip (3 MB, JPEG 2000, seconds to decode) counts as large.
	srv := startInProcess(t, data, "--large-upload", "1000000")
	c := srv.client(t)
	series := testdata.DICOMSeriesZip(t)
	if len(series) <= 1000000 {
		t.Fatalf("the series zip is %d bytes, not over the large-upload size", len(series))
	}
	var heavy []string
	for i := range 3 {
		heavy = append(heavy, c.submit(fmt.Sprintf("series%d.zip", i), series))
	}
	small := c.submit("ct_3mm.nii.gz", testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))

	var waiting []string
	if !waitFor(jobTimeout, func() bool {
		if v, _ := c.get(small); v.Status == job.Created {
			return false
		}
		waiting = nil
		for _, id := range heavy {
			if v, _ := c.get(id); v.Status == job.Created {
				waiting = append(waiting, id)
			}
		}
		return true
	}) {
		t.Fatalf("the small job was not ingested within %v", jobTimeout)
	}
	if len(waiting) == 0 {
		t.Errorf("every large upload was ingested before the small one that came after them")
	}
	t.Logf("when the small job was ingested, %d of %d large uploads made before it were still waiting", len(waiting), len(heavy))
	for _, id := range append(heavy, small) {
		if v := c.wait(id, jobTimeout); v.Status != job.Done {
			t.Errorf("job %s: %s %+v", id, v.Status, v.Error)
		}
	}
}
