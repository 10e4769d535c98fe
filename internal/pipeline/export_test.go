package pipeline

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

func exportMessage(t *testing.T, id, eid string, st events.ExportSettings) Message {
	t.Helper()
	b, err := json.Marshal(events.ExportRequest{Kind: events.KindExport, JobID: id, ExportID: eid, Settings: st})
	if err != nil {
		t.Fatal(err)
	}
	return Message{ID: "export-" + eid, Body: b, ReceiveCount: 1}
}

// TestExport makes print exports of a finished job: the chosen organs
// only, with their pieces dropped, in a set of its own, leaving the job's
// first set as it was; a job not done gets an error.json.
func TestExport(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, labelMapOutcome)
	const id = "job-export1"
	newJob(t, w.store, id, "alice", job.Created, t0)
	w.upload(events.UploadKey(id, "seg.nii.gz"), testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz"))
	w.run()
	if j := getJob(t, w.store, id); j.Status != job.Done {
		t.Fatalf("job %s %+v", j.Status, j.Error)
	}
	first := map[string]string{}
	for _, k := range w.blobs.keys(events.ResultsPrefix(id)) {
		d, _ := w.blobs.data(k)
		first[k] = string(d)
	}
	const eid = "06h4b0aop6a0tak6egnqoi20hg"
	// Spleen (1), liver (5), the left lower lung lobe (11) and the
	// largest-piece rule.
	st := events.ExportSettings{Smooth: 0.3, MaxTriangles: 20000, LargestPieceOnly: true, Labels: []uint16{1, 5, 11}}
	for range 2 { // the second is a duplicate: nothing is made again
		if failed, _ := w.mesher.HandleBatch(ctx, []Message{exportMessage(t, id, eid, st)}); len(failed) != 0 {
			t.Fatalf("export failed: %v", failed)
		}
	}
	prefix := events.ExportPrefix(id, eid)
	if n := len(w.blobs.putsUnder(prefix + events.ExportDoneFile)); n != 1 {
		t.Errorf("export.json written %d times, want once", n)
	}
	raw, ok := w.blobs.data(prefix + events.ExportDoneFile)
	if !ok {
		t.Fatalf("no export.json; export holds %v", w.blobs.keys(prefix))
	}
	var done events.ExportDone
	if err := json.Unmarshal(raw, &done); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range done.Organs {
		names = append(names, o.Name)
		if !o.Watertight || o.Triangles == 0 {
			t.Errorf("organ %+v", o)
		}
	}
	if !slices.Equal(names, []string{"spleen", "liver", "lung_lower_lobe_left"}) {
		t.Errorf("organs %v", names)
	}
	for _, f := range done.Files {
		if _, ok := w.blobs.data(prefix + f); !ok {
			t.Errorf("export.json lists %s; not stored", f)
		}
	}
	pack, _ := w.blobs.data(prefix + export.PrintPackFile)
	zr, err := zip.NewReader(bytes.NewReader(pack), int64(len(pack)))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range zr.File {
		files = append(files, f.Name)
	}
	if !slices.Equal(files, []string{"Spleen.stl", "Liver.stl", "Left lung lower lobe.stl", export.PrintReadme}) {
		t.Errorf("print pack holds %q", files)
	}
	for l, p := range done.Pieces {
		if p[0] != 1 {
			t.Errorf("label %s keeps %d of %d pieces, want 1", l, p[0], p[1])
		}
	}
	var man export.Manifest
	mb, _ := w.blobs.data(prefix + export.ManifestFile)
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	if man.Options.MaxTriangles != 20000 || man.Options.Smooth != 0.3 || len(man.Organs) != 3 || man.Source.Segmentation != export.NoSegmentation {
		t.Errorf("export manifest options %+v, %d organs, source %+v", man.Options, len(man.Organs), man.Source)
	}
	total := 0
	for _, o := range man.Organs {
		total += o.Triangles
	}
	if total > 20000 {
		t.Errorf("%d triangles over the budget of 20000", total)
	}
	// The first set is as it was.
	for k, v := range first {
		if d, _ := w.blobs.data(k); string(d) != v {
			t.Errorf("%s changed", k)
		}
	}
	for _, k := range w.blobs.keys(events.ResultsPrefix(id)) {
		if _, ok := first[k]; !ok && !strings.HasPrefix(k, events.ExportsPrefix(id)) {
			t.Errorf("%s added outside the exports", k)
		}
	}

	t.Run("job not done", func(t *testing.T) {
		const other, eid2 = "job-export2", "06h4b0aop6a0tak6egnqoi20hh"
		newJob(t, w.store, other, "alice", job.Created, t0)
		if failed, _ := w.mesher.HandleBatch(ctx, []Message{exportMessage(t, other, eid2, events.ExportSettings{})}); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
		raw, ok := w.blobs.data(events.ExportPrefix(other, eid2) + events.ExportErrorFile)
		var e events.ExportError
		if !ok || json.Unmarshal(raw, &e) != nil || e.Code != CodeExportNotReady {
			t.Errorf("error.json %q", raw)
		}
	})
	t.Run("organs the job lacks", func(t *testing.T) {
		const eid3 = "06h4b0aop6a0tak6egnqoi20hi"
		if failed, _ := w.mesher.HandleBatch(ctx, []Message{exportMessage(t, id, eid3, events.ExportSettings{Labels: []uint16{999}})}); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
		raw, _ := w.blobs.data(events.ExportPrefix(id, eid3) + events.ExportErrorFile)
		var e events.ExportError
		if json.Unmarshal(raw, &e) != nil || e.Code != CodeExportEmpty {
			t.Errorf("error.json %q", raw)
		}
	})
}
