package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// relabel rewrites the example label map: each value v becomes v+shift,
// and only the extensions keep says survive.
func relabel(t testing.TB, shift uint16, keep bool) []byte {
	t.Helper()
	img, err := volume.Read(bytes.NewReader(testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range lm.Data {
		if v != 0 {
			lm.Data[i] = v + shift
		}
	}
	if !keep {
		lm.Extensions = nil
	}
	var buf bytes.Buffer
	if err := volume.WriteLabelMap(&buf, lm); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEndToEndLabelMap uploads label maps, through the API and the drop
// folder: each goes from accepted straight to meshing, with no volume, no
// segmentation started, and the names its label table, TotalSegmentator's
// table or label_N give.
func TestEndToEndLabelMap(t *testing.T) {
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	tests := []struct {
		name    string
		data    []byte
		organs  int
		names   map[int]string // label → name, some of them
		dropped bool
	}{
		{"TotalSegmentator's map through the API", seg, 41, map[int]string{5: "liver", 1: "spleen", 2: "kidney_right", 13: "lung_middle_lobe_right"}, false},
		{"TotalSegmentator's map dropped", seg, 41, map[int]string{5: "liver", 52: "aorta"}, true},
		{"no label table, TotalSegmentator's values", relabel(t, 0, false), 41, map[int]string{5: "liver", 1: "spleen"}, false},
		{"no label table, values beyond the table", relabel(t, 200, false), 41, map[int]string{205: "label_205", 201: "label_201"}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, labelMapOutcome)
			id := fmt.Sprintf("job-lm%04d", i)
			if tt.dropped {
				w.upload("uploads/my_labels.nii.gz", tt.data)
			} else {
				newJob(t, w.store, id, "alice", job.Created, t0)
				w.upload(events.UploadKey(id, "my_labels.nii.gz"), tt.data)
			}
			w.run()
			if tt.dropped {
				id = dropID(t, w)
			}
			j := getJob(t, w.store, id)
			if j.Status != job.Done || j.Error != nil {
				t.Fatalf("job %s, error %+v; want done", j.Status, j.Error)
			}
			if j.Input == nil || j.Input.Kind != events.KindLabelMap || j.Input.Labels != tt.organs || j.Input.File != "my_labels.nii.gz" || j.Input.Dims != [3]int{122, 101, 30} {
				t.Errorf("input %+v; want a label map of %d labels", j.Input, tt.organs)
			}
			if _, ok := j.Stages[job.Segmenting]; ok || j.Engine != NoEngine {
				t.Errorf("stages %v, engine %q: a segmentation is recorded", j.Stages, j.Engine)
			}
			for _, s := range []job.Status{job.Created, job.Accepted, job.Meshing, job.Done} {
				if _, ok := j.Stages[s]; !ok {
					t.Errorf("no time for stage %s: %v", s, j.Stages)
				}
			}
			if len(w.seg.starts) != 0 {
				t.Errorf("segmenter started %d times", len(w.seg.starts))
			}
			if _, ok := w.blobs.data(events.VolumeKey(id)); ok {
				t.Error("a CT volume was stored for a label map")
			}
			if ups := w.blobs.keys(events.PrefixUploads); len(ups) != 0 {
				t.Errorf("uploads left: %v", ups)
			}
			raw, ok := w.blobs.data(events.ManifestKey(id))
			if !ok {
				t.Fatal("no manifest")
			}
			var man export.Manifest
			if err := json.Unmarshal(raw, &man); err != nil {
				t.Fatal(err)
			}
			if man.Source.Segmentation != export.NoSegmentation {
				t.Errorf("manifest source.segmentation %q, want %q", man.Source.Segmentation, export.NoSegmentation)
			}
			if len(j.Organs) != tt.organs || len(man.Organs) != tt.organs {
				t.Errorf("%d organs in the record, %d in the manifest; want %d", len(j.Organs), len(man.Organs), tt.organs)
			}
			got := map[int]string{}
			for _, o := range j.Organs {
				got[o.Label] = o.Name
			}
			for l, name := range tt.names {
				if got[l] != name {
					t.Errorf("label %d named %q, want %q", l, got[l], name)
				}
			}
		})
	}
}

// TestIngestLabelMapStoresOnlyTheLabelTable: the label map the ingest
// stores for the mesher keeps the label table and drops every other
// header extension (which may carry patient data).
func TestIngestLabelMapStoresOnlyTheLabelTable(t *testing.T) {
	img, err := volume.Read(bytes.NewReader(testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	lm.Extensions = append([]volume.Extension{{Code: 2, Data: []byte("PatientName=Doe^Jane PatientID=12345")}}, lm.Extensions...)
	var buf bytes.Buffer
	if err := volume.WriteLabelMap(&buf, lm); err != nil {
		t.Fatal(err)
	}
	r := newIngestRig(t)
	id := apiID("label map with patient data")
	if err := r.in.Handle(context.Background(), r.upload(t, events.UploadKey(id, "seg.nii.gz"), buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	accepted := r.bus.of(events.JobAccepted)
	if len(accepted) != 1 {
		t.Fatalf("events %v; want Job Accepted", r.bus.all())
	}
	a := decode[events.Accepted](t, accepted[0])
	if a.Input.Kind != events.KindLabelMap || a.SegmentationKey != events.SegmentationKey(id) || a.VolumeKey != "" {
		t.Errorf("accepted %+v", a)
	}
	if r.queue.len() != 0 {
		t.Errorf("%d dispatch requests for a label map", r.queue.len())
	}
	stored, ok := r.blobs.data(events.SegmentationKey(id))
	if !ok {
		t.Fatal("no segmentation stored")
	}
	got, err := volume.Read(bytes.NewReader(stored), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Extensions) != 1 || !labels.IsCaret(got.Extensions[0].Data) {
		t.Fatalf("stored extensions %d; want the label table alone", len(got.Extensions))
	}
	if bytes.Contains(stored, []byte("Doe^Jane")) {
		t.Error("the patient's name reached the stored label map")
	}
	if _, ok := r.blobs.data(events.VolumeKey(id)); ok {
		t.Error("a volume was stored")
	}
}
