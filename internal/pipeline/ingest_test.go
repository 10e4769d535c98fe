package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

type ingestRig struct {
	blobs  *memBlobs
	bus    *recBus
	queue  *recQueue
	groups *recQueue
	in     *Ingest
	now    time.Time
}

func newIngestRig(t testing.TB) *ingestRig {
	r := &ingestRig{blobs: newMemBlobs(), bus: &recBus{}, queue: &recQueue{}, groups: &recQueue{}, now: t0}
	r.in = &Ingest{Blobs: r.blobs, Bus: r.bus, Queue: r.queue, Groups: r.groups, Now: fixedClock(&r.now), Log: quiet, TempDir: t.TempDir()}
	return r
}

// apiID makes a job id of the API's shape (26 base32hex characters) from name.
func apiID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])[:26]
}

// upload stores data under key and returns the S3 event for it.
func (r *ingestRig) upload(t testing.TB, key string, data []byte) events.Event {
	t.Helper()
	r.blobs.put(key, data)
	info, _ := r.blobs.Head(context.Background(), key)
	return s3Event(t, key, info.Size, info.ETag, r.now)
}

// statusOf runs the recorded events through a Status over a fresh store and
// returns the job: what the status stage would make of them.
func (r *ingestRig) statusOf(t testing.TB, id string) job.Job {
	t.Helper()
	store := &job.Memory{}
	st := &Status{Store: store, Blobs: r.blobs, Now: fixedClock(&r.now), Log: quiet, DropOwner: "dropbox"}
	for _, ev := range r.bus.all() {
		if err := st.Handle(context.Background(), ev); err != nil {
			t.Fatalf("status of %s: %v", ev.DetailType, err)
		}
	}
	return getJob(t, store, id)
}

func TestIngestNIfTI(t *testing.T) {
	r := newIngestRig(t)
	const id = "job-nifti1"
	upKey := events.UploadKey(id, "ct_3mm.nii.gz")
	ev := r.upload(t, upKey, testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err := r.in.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	acc := r.bus.of(events.JobAccepted)
	if len(acc) != 1 || len(r.bus.all()) != 1 {
		t.Fatalf("published %d events, %d accepted; want one Job Accepted", len(r.bus.all()), len(acc))
	}
	a := decode[events.Accepted](t, acc[0])
	want := events.Input{Format: "nifti", File: "ct_3mm.nii.gz", Bytes: int64(len(testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))),
		Dims: [3]int{122, 101, 30}, SpacingMm: [3]float64{3, 3, 3}, Orientation: "RAS"}
	if a.JobID != id || a.VolumeKey != events.VolumeKey(id) || a.Input != want {
		t.Errorf("accepted %+v, want job %s, volume %s, input %+v", a, id, events.VolumeKey(id), want)
	}
	bodies := r.queue.take()
	if len(bodies) != 1 {
		t.Fatalf("%d dispatch requests, want 1", len(bodies))
	}
	req, err := DecodeDispatchRequest(bodies[0])
	if err != nil || req != (DispatchRequest{JobID: id, VolumeKey: events.VolumeKey(id)}) {
		t.Errorf("dispatch request %+v, %v", req, err)
	}
	if _, ok := r.blobs.data(upKey); ok {
		t.Error("upload not deleted after acceptance")
	}
	// The volume holds the very voxels and grid of the input, and no text.
	vol, ok := r.blobs.data(events.VolumeKey(id))
	if !ok {
		t.Fatal("no volume written")
	}
	img, err := volume.Read(bytes.NewReader(vol), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := img.CT()
	if err != nil {
		t.Fatal(err)
	}
	orig := readCT(t)
	if got.Grid != orig.Grid || !equalHU(got.HU, orig.HU) {
		t.Errorf("volume grid %+v differs from input %+v, or its voxels do", got.Grid, orig.Grid)
	}
	if img.Descrip != "" || len(img.Extensions) != 0 {
		t.Errorf("volume carries descrip %q and %d extensions; want none", img.Descrip, len(img.Extensions))
	}
	if j := r.statusOf(t, id); j.Status != job.Accepted || j.Input == nil || *j.Input != want {
		t.Errorf("status made %+v", j)
	}
}

func equalHU(a, b []int16) bool { return bytes.Equal(asBytes(a), asBytes(b)) }

func asBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}

// TestIngestDICOMZip converts the real JPEG 2000 series and checks the
// stored volume with nibabel: grid, affine (dcm2niix's for this series),
// voxel sum, and no descrip.
func TestIngestDICOMZip(t *testing.T) {
	py := testdata.Python(t)
	r := newIngestRig(t)
	const id = "job-dicom1"
	zipped := testdata.DICOMSeriesZip(t)
	ev := r.upload(t, events.UploadKey(id, "My Scan.zip"), zipped)
	if err := r.in.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	acc := r.bus.of(events.JobAccepted)
	if len(acc) != 1 {
		t.Fatalf("events %v, want one Job Accepted", r.bus.all())
	}
	in := decode[events.Accepted](t, acc[0]).Input
	if in.Format != "dicom" || in.File != "My_Scan.zip" || in.Bytes != int64(len(zipped)) ||
		in.Dims != [3]int{512, 512, 20} || in.Orientation != "LAS" || in.SpacingMm != [3]float64{0.9765625, 0.9765625, 2} {
		t.Errorf("input %+v", in)
	}
	if !strings.Contains(in.Series, "20 slices of 512×512") || strings.Contains(in.Series, "\n") {
		t.Errorf("series line %q", in.Series)
	}
	vol, ok := r.blobs.data(events.VolumeKey(id))
	if !ok {
		t.Fatal("no volume written")
	}
	ct := decodeCT(t, vol)
	var sum int64
	for _, v := range ct.HU {
		sum += int64(v)
	}
	path := filepath.Join(t.TempDir(), "ct.nii.gz")
	if err := os.WriteFile(path, vol, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, json, numpy as np, nibabel as nib
img = nib.load(sys.argv[1])
print(json.dumps({"shape": list(img.shape), "affine": img.affine.tolist(),
  "sum": int(np.asarray(img.dataobj, dtype=np.int64).sum()),
  "dtype": str(img.get_data_dtype()), "descrip": img.header["descrip"].item().decode()}))`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("nibabel: %v\n%s", err, out)
	}
	var nb struct {
		Shape   []int
		Affine  [4][4]float64
		Sum     int64
		Dtype   string
		Descrip string
	}
	if err := json.Unmarshal(out, &nb); err != nil {
		t.Fatalf("nibabel output %q: %v", out, err)
	}
	dcm2niix := [3][4]float64{{-0.9765625, 0, 0, 249.51172}, {0, 0.9765625, 0, -61.51172}, {0, 0, 2, -804.5}}
	for i := range 3 {
		for j := range 4 {
			if d := nb.Affine[i][j] - dcm2niix[i][j]; d > 1e-4 || d < -1e-4 {
				t.Errorf("affine[%d][%d] = %v, dcm2niix says %v", i, j, nb.Affine[i][j], dcm2niix[i][j])
			}
		}
	}
	if fmt.Sprint(nb.Shape) != "[512 512 20]" || nb.Sum != sum || nb.Dtype != "int16" || nb.Descrip != "" {
		t.Errorf("nibabel sees shape %v, sum %d (Go %d), dtype %s, descrip %q", nb.Shape, nb.Sum, sum, nb.Dtype, nb.Descrip)
	}
}

func TestIngestRejects(t *testing.T) {
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	tests := []struct {
		name      string
		data      []byte
		maxUpload int64
		code      string
		says      string // part of the message
	}{
		{name: "empty", data: nil, code: CodeEmpty, says: "empty"},
		{name: "text", data: []byte("patient notes, not a scan\n"), code: CodeUnknownFormat, says: "Upload a .nii or .nii.gz"},
		{name: "truncated gzip", data: ct[:len(ct)/2], code: CodeCorrupt, says: "damaged"},
		{name: "altered gzip", data: flip(ct, 1000, 100), code: CodeCorrupt, says: "damaged"},
		{name: "bad gzip checksum", data: flip(ct, len(ct)-6, 1), code: CodeCorrupt, says: "damaged"},
		{name: "MR-like volume", data: mrLike(t), code: CodeNotCT, says: "nor a label map (it may be an MR image"},
		{name: "one DICOM file", data: oneDICOMFile(t), code: CodeTooFewSlices, says: "single image"},
		{name: "zip without DICOM", data: zipOf(t, map[string][]byte{"readme.txt": []byte("hello")}), code: CodeNoDICOM, says: "no DICOM"},
		{name: "zip escaping its folder", data: zipOf(t, map[string][]byte{"../../etc/x.dcm": oneDICOMFile(t)}), code: CodeUnsafeZip, says: "unsafe"},
		{name: "too large", data: ct, maxUpload: 1000, code: CodeTooLarge, says: "the limit is 1 kB"},
		{name: "NIfTI header only", data: ungzip(t, ct)[:348], code: CodeCorrupt, says: "damaged"},
		{name: "4D NIfTI", data: fourD(t), code: CodeInvalidNIfTI, says: "single 3D volume"},
		{name: "no geometry", data: noGeometry(t, ct), code: CodeNoGeometry, says: "does not state its voxel size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newIngestRig(t)
			if tt.maxUpload > 0 {
				lim := limits.For(8<<30, 2)
				lim.Upload = tt.maxUpload
				r.in.Pool = limits.NewPool(lim)
			}
			id := apiID(tt.name)
			upKey := events.UploadKey(id, "scan.bin")
			if err := r.in.Handle(context.Background(), r.upload(t, upKey, tt.data)); err != nil {
				t.Fatalf("Handle = %v; a bad upload is handled, not retried", err)
			}
			evs := r.bus.all()
			if len(evs) != 1 || evs[0].DetailType != events.JobRejected {
				t.Fatalf("events %+v, want one Job Rejected", evs)
			}
			f := decode[events.Failure](t, evs[0])
			t.Logf("%s: %s", f.Code, f.Message)
			if f.JobID != id || f.Stage != StageIngest || f.Code != tt.code || !strings.Contains(f.Message, tt.says) {
				t.Errorf("rejection %+v, want code %s and a message saying %q", f, tt.code, tt.says)
			}
			if r.queue.len() != 0 {
				t.Error("a rejected upload was queued")
			}
			if keys := r.blobs.keys(""); !slices.Equal(keys, []string{RejectionKey(id)}) {
				t.Errorf("left %v; the upload must be deleted (it may carry patient data), no volume written, and the rejection recorded", keys)
			}
			if j := r.statusOf(t, id); j.Status != job.Failed || j.Error == nil || j.Error.Code != tt.code || j.Owner != "dropbox" {
				t.Errorf("status made %+v", j)
			}

			// A second upload to the rejected job, a valid CT this time
			// (the URL works again on S3 once the first upload is
			// deleted): nothing of it is read or kept, and the job stays
			// failed with the first rejection.
			if err := r.in.Handle(context.Background(), r.upload(t, upKey, testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))); err != nil {
				t.Fatalf("Handle of a second upload = %v", err)
			}
			if keys := r.blobs.keys(""); !slices.Equal(keys, []string{RejectionKey(id)}) {
				t.Errorf("after a second upload left %v; want only the rejection", keys)
			}
			if r.queue.len() != 0 {
				t.Error("a second upload to a rejected job was queued")
			}
			evs = r.bus.all()
			if last := decode[events.Failure](t, evs[len(evs)-1]); evs[len(evs)-1].DetailType != events.JobRejected || last != f {
				t.Errorf("the second upload announced %s %+v, want the first rejection again", evs[len(evs)-1].DetailType, last)
			}
			if j := r.statusOf(t, id); j.Status != job.Failed || j.Error == nil || j.Error.Code != tt.code {
				t.Errorf("after a second upload the job is %+v", j)
			}
		})
	}
}

func flip(b []byte, at, n int) []byte {
	c := bytes.Clone(b)
	for i := at; i < at+n && i < len(c); i++ {
		c[i] ^= 0x5a
	}
	return c
}

func ungzip(t testing.TB, gz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fourD is the real CT's header claiming two time points, with the voxels
// repeated: a valid NIfTI that is not one 3D volume.
func fourD(t testing.TB) []byte {
	t.Helper()
	raw := ungzip(t, testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	off := int(math.Float32frombits(binary.LittleEndian.Uint32(raw[108:112]))) // vox_offset
	hdr := bytes.Clone(raw[:off])
	binary.LittleEndian.PutUint16(hdr[40:], 4) // dim[0]
	binary.LittleEndian.PutUint16(hdr[48:], 2) // dim[4]
	return append(append(hdr, raw[off:]...), raw[off:]...)
}

func TestIngestTwice(t *testing.T) {
	r := newIngestRig(t)
	const id = "job-twice1"
	ev := r.upload(t, events.UploadKey(id, "ct.nii.gz"), testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	for i := range 2 {
		if err := r.in.Handle(context.Background(), ev); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	if puts := r.blobs.putsUnder(events.VolumeKey(id)); len(puts) != 1 {
		t.Errorf("volume written %d times, want once", len(puts))
	}
	if keys := r.blobs.keys(""); !slices.Equal(keys, []string{events.VolumeKey(id), InputKey(id)}) {
		t.Errorf("bucket holds %v, want only the volume and its input facts", keys)
	}
	// The second run finds the upload gone and the volume there: it
	// announces and queues again, which downstream treats as duplicates,
	// with the same input facts.
	acc := r.bus.of(events.JobAccepted)
	if len(acc) != 2 {
		t.Fatalf("%d Job Accepted, want 2 (the second a duplicate)", len(acc))
	}
	if a, b := decode[events.Accepted](t, acc[0]), decode[events.Accepted](t, acc[1]); a != b {
		t.Errorf("the redelivery announced %+v, the first run %+v", b, a)
	}
	for _, b := range r.queue.take() {
		if req, err := DecodeDispatchRequest(b); err != nil || req.JobID != id {
			t.Errorf("dispatch request %+v, %v", req, err)
		}
	}
	j := r.statusOf(t, id)
	if j.Status != job.Accepted || j.Input == nil || j.Input.Format != "nifti" || j.Input.Dims != [3]int{122, 101, 30} {
		t.Errorf("status made %+v", j)
	}
}

// TestIngestCrash fails one step once; the redelivered event then ends in
// the same state as an undisturbed run.
func TestIngestCrash(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *ingestRig)
	}{
		{"get upload", func(r *ingestRig) { r.blobs.fail = failOnce("get", events.PrefixUploads) }},
		{"put volume", func(r *ingestRig) { r.blobs.fail = failOnce("put", events.PrefixVolumes) }},
		{"publish", func(r *ingestRig) { r.bus.fail = failEventOnce(events.JobAccepted) }},
		{"send", func(r *ingestRig) {
			done := false
			r.queue.fail = func() error {
				if !done {
					done = true
					return errors.New("injected send failure")
				}
				return nil
			}
		}},
		{"delete upload", func(r *ingestRig) { r.blobs.fail = failOnce("delete", events.PrefixUploads) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newIngestRig(t)
			id := "job-crash-" + strings.ReplaceAll(tt.name, " ", "-")
			upKey := events.UploadKey(id, "ct.nii.gz")
			ev := r.upload(t, upKey, testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
			tt.setup(r)
			if err := r.in.Handle(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("first run = %v, want the injected failure", err)
			}
			if err := r.in.Handle(context.Background(), ev); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if keys := r.blobs.keys(""); !slices.Equal(keys, []string{events.VolumeKey(id), InputKey(id)}) {
				t.Errorf("bucket holds %v, want only the volume and its input facts", keys)
			}
			if r.queue.len() == 0 {
				t.Error("nothing queued")
			}
			j := r.statusOf(t, id)
			if j.Status != job.Accepted || j.Input == nil || j.Input.Format != "nifti" {
				t.Errorf("status made %+v", j)
			}
		})
	}
}

func TestIngestDrop(t *testing.T) {
	r := newIngestRig(t)
	ev := r.upload(t, "uploads/ct_3mm.nii.gz", testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err := r.in.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var d events.S3Object
	ev.DecodeDetail(&d)
	id := events.DropJobID(d.Object.Key, d.Object.ETag)
	if _, ok := r.blobs.data(events.VolumeKey(id)); !ok {
		t.Fatalf("no volume under the derived job id %s: %v", id, r.blobs.keys(""))
	}
	if j := r.statusOf(t, id); j.Owner != "dropbox" || j.Status != job.Accepted || j.Input.File != "ct_3mm.nii.gz" {
		t.Errorf("status made %+v", j)
	}
}

func TestIngestIgnores(t *testing.T) {
	r := newIngestRig(t)
	for _, ev := range []events.Event{
		s3Event(t, events.VolumeKey("job-other1"), 10, "e", t0),
		s3Event(t, "uploads/job 1/x.nii", 10, "e", t0),
		pipelineEvent(t, events.JobAccepted, events.Accepted{JobID: "job-other1"}, t0),
	} {
		if err := r.in.Handle(context.Background(), ev); err != nil {
			t.Errorf("%s: %v", ev.ID, err)
		}
	}
	if len(r.bus.all()) != 0 || r.queue.len() != 0 {
		t.Errorf("ignored events produced %v", r.bus.all())
	}
}

func BenchmarkIngestNIfTI(b *testing.B) {
	data := testdata.Read(b, "totalsegmentator-example", "ct_3mm.nii.gz")
	r := newIngestRig(b)
	for b.Loop() {
		ev := r.upload(b, events.UploadKey("job-bench1", "ct.nii.gz"), data)
		if err := r.in.Handle(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		r.queue.take()
	}
}

// noGeometry is the CT as an uncompressed NIfTI whose header lost its
// geometry: pixdim[1..3] 0, qform_code and sform_code 0.
func noGeometry(t testing.TB, ct []byte) []byte {
	b := ungzip(t, ct)
	clear(b[80:92])
	clear(b[252:256])
	return b
}

// TestIngestRedeliveryKeepsInput: a DICOM zip's upload event delivered
// again after the upload was deleted announces the job with the same
// input facts (format and series included), so whichever announcement
// the status stage applies first, the record says "dicom". A volume
// stored before the facts were kept beside it falls back to its header.
func TestIngestRedeliveryKeepsInput(t *testing.T) {
	ctx := context.Background()
	r := newIngestRig(t)
	const id = "job-redel01"
	ev := r.upload(t, events.UploadKey(id, "series.zip"), testdata.DICOMSeriesZip(t))
	for i := range 2 {
		if err := r.in.Handle(ctx, ev); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	acc := r.bus.of(events.JobAccepted)
	if len(acc) != 2 {
		t.Fatalf("%d Job Accepted, want 2", len(acc))
	}
	first, again := decode[events.Accepted](t, acc[0]), decode[events.Accepted](t, acc[1])
	if first != again || again.Input.Format != "dicom" || again.Input.Series == "" || again.Input.File != "series.zip" {
		t.Errorf("the redelivery announced %+v; the first delivery %+v", again.Input, first.Input)
	}
	// The redelivered announcement overtakes the first.
	store := &job.Memory{}
	st := &Status{Store: store, Blobs: r.blobs, Now: fixedClock(&r.now), Log: quiet, DropOwner: "dropbox"}
	for _, ev := range []events.Event{acc[1], acc[0]} {
		if err := st.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if j, err := store.Get(ctx, id); err != nil || j.Input == nil || *j.Input != first.Input {
		t.Errorf("record's input %+v (%v), want %+v", j.Input, err, first.Input)
	}
	// A volume from before: no facts beside it, the header's are used.
	if err := r.blobs.Delete(ctx, InputKey(id)); err != nil {
		t.Fatal(err)
	}
	if err := r.in.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	acc = r.bus.of(events.JobAccepted)
	old := decode[events.Accepted](t, acc[len(acc)-1]).Input
	if old.Format != "" || old.Dims != first.Input.Dims || old.SpacingMm != first.Input.SpacingMm || old.Orientation != first.Input.Orientation || old.File != "series.zip" {
		t.Errorf("from the volume's header alone: %+v; want the first's dims, spacing, orientation %+v", old, first.Input)
	}
}
