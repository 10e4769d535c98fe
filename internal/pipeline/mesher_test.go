package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// lightMesh keeps the tests fast: the real label map still meshes fully.
var lightMesh = mesh.Options{Smooth: 0.5, Reduce: 0.2}

type mesherRig struct {
	store *job.Memory
	blobs *memBlobs
	bus   *recBus
	m     *Mesher
	now   time.Time
	tmp   string
}

func newMesherRig(t testing.TB) *mesherRig {
	r := &mesherRig{store: &job.Memory{}, blobs: newMemBlobs(), bus: &recBus{}, now: t0, tmp: t.TempDir()}
	r.m = &Mesher{Store: r.store, Blobs: r.blobs, Bus: r.bus, Now: fixedClock(&r.now), Mesh: lightMesh, Generator: "iris-test", Log: quiet, TempDir: r.tmp}
	return r
}

// segmenting stores a job whose segmenter said it writes key, and puts data
// there; it returns the queue message S3 → EventBridge → SQS delivers.
func (r *mesherRig) segmenting(t testing.TB, id, key string, data []byte) Message {
	t.Helper()
	newJob(t, r.store, id, "alice", job.Accepted, t0)
	if _, err := r.store.Advance(context.Background(), id, job.Update{Status: job.Segmenting, At: t0,
		OutputLocation: "s3://" + testBucket + "/" + key, Engine: "fake"}); err != nil {
		t.Fatal(err)
	}
	r.blobs.put(key, data)
	return r.message(t, key)
}

func (r *mesherRig) message(t testing.TB, key string) Message {
	t.Helper()
	info, _ := r.blobs.Head(context.Background(), key)
	body, err := json.Marshal(s3Event(t, key, info.Size, info.ETag, r.now))
	if err != nil {
		t.Fatal(err)
	}
	return Message{ID: "msg-" + key, Body: body, ReceiveCount: 1}
}

func (r *mesherRig) handle(t testing.TB, msgs ...Message) []string {
	t.Helper()
	failed, err := r.m.HandleBatch(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return failed
}

// totalNames reads label value → name from the shared class table.
func totalNames(t testing.TB) map[int]string {
	t.Helper()
	f, err := os.Open(testdata.Path(t, "totalsegmentator-v2-classes.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[int]string{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		v, err := strconv.Atoi(cols[0])
		if err != nil {
			t.Fatalf("class table line %q", sc.Text())
		}
		names[v] = cols[1]
	}
	return names
}

// presentLabels reads the label map's nonzero values.
func presentLabels(t testing.TB, data []byte) []int {
	t.Helper()
	img, err := volume.Read(bytes.NewReader(data), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, v := range lm.Data {
		if v != 0 {
			seen[int(v)] = true
		}
	}
	var out []int
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// checkResults checks the stored model set of job id against its manifest
// and returns the manifest: every file present with the size and SHA-256
// the manifest records, the manifest written last, one organ per label of
// seg named as TotalSegmentator names it.
func checkResults(t testing.TB, blobs *memBlobs, id string, seg []byte) *export.Manifest {
	t.Helper()
	raw, ok := blobs.data(events.ManifestKey(id))
	if !ok {
		t.Fatalf("no manifest; results: %v", blobs.keys(events.ResultsPrefix(id)))
	}
	var man export.Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	want := []string{events.ManifestKey(id)}
	for _, f := range man.Files {
		key := events.ResultsPrefix(id) + f.Name
		want = append(want, key)
		data, ok := blobs.data(key)
		sum := sha256.Sum256(data)
		if !ok || int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: stored %v, %d bytes; manifest says %d bytes, sha256 %s", key, ok, len(data), f.Bytes, f.SHA256)
		}
	}
	slices.Sort(want)
	if got := blobs.keys(events.ResultsPrefix(id)); !slices.Equal(got, want) {
		t.Errorf("results hold %v, manifest lists %v", got, want)
	}
	if puts := blobs.putsUnder(events.ResultsPrefix(id)); len(puts) == 0 || puts[len(puts)-1] != events.ManifestKey(id) {
		t.Errorf("manifest not written last: %v", puts)
	}
	for _, name := range []string{export.GLBFile, export.OBJFile, export.MTLFile, export.LabelsFile} {
		if !slices.Contains(want, events.ResultsPrefix(id)+name) {
			t.Errorf("no %s in the set", name)
		}
	}
	names := totalNames(t)
	labels := presentLabels(t, seg)
	if len(man.Organs) != len(labels) {
		t.Fatalf("%d organs, label map has %d labels", len(man.Organs), len(labels))
	}
	for i, o := range man.Organs {
		if int(o.Label) != labels[i] || o.Name != names[labels[i]] || o.Triangles == 0 || o.VoxelCount == 0 {
			t.Errorf("organ %d: label %d %q, %d triangles, %d voxels; want label %d %q", i, o.Label, o.Name, o.Triangles, o.VoxelCount, labels[i], names[labels[i]])
		}
	}
	if man.Options.Reduce != lightMesh.Reduce || man.Options.Smooth != lightMesh.Smooth || man.Generator != "iris-test" {
		t.Errorf("manifest options %+v, generator %q", man.Options, man.Generator)
	}
	return &man
}

func checkReady(t testing.TB, ev events.Event, id string, man *export.Manifest) {
	t.Helper()
	r := decode[events.Ready](t, ev)
	want := []string{}
	for _, f := range man.Files {
		want = append(want, events.ResultsPrefix(id)+f.Name)
	}
	want = append(want, events.ManifestKey(id))
	if r.JobID != id || r.ManifestKey != events.ManifestKey(id) || r.Organs != len(man.Organs) || !slices.Equal(r.Artifacts, want) {
		t.Errorf("ready %+v; want %d organs and artifacts %v", r, len(man.Organs), want)
	}
}

func TestMesher(t *testing.T) {
	r := newMesherRig(t)
	const id = "job-mesh01"
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
	if failed := r.handle(t, msg); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	man := checkResults(t, r.blobs, id, seg)
	if len(man.Organs) != 41 {
		t.Errorf("%d organs; the README says 41 labels are present", len(man.Organs))
	}
	evs := r.bus.all()
	if len(evs) != 1 || evs[0].DetailType != events.MeshesReady {
		t.Fatalf("events %v, want one Meshes Ready", evs)
	}
	checkReady(t, evs[0], id, man)
	if left, _ := os.ReadDir(r.tmp); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// Run again: the manifest exists, so nothing is rebuilt and Meshes
	// Ready is announced again.
	puts := len(r.blobs.putsUnder(""))
	if failed := r.handle(t, msg); len(failed) != 0 {
		t.Fatalf("second run failed %v", failed)
	}
	if n := len(r.blobs.putsUnder("")); n != puts {
		t.Errorf("second run wrote %d objects, want none", n-puts)
	}
	if evs := r.bus.of(events.MeshesReady); len(evs) != 2 {
		t.Errorf("%d Meshes Ready, want 2", len(evs))
	} else {
		checkReady(t, evs[1], id, man)
	}
}

// TestMesherCrash fails one upload in the middle of the set; the
// redelivery finishes it, and no manifest is ever seen before that.
func TestMesherCrash(t *testing.T) {
	r := newMesherRig(t)
	const id = "job-mesh02"
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
	r.blobs.fail = failOnce("put", events.ResultsPrefix(id)+"stl/")
	if failed := r.handle(t, msg); !slices.Equal(failed, []string{msg.ID}) {
		t.Fatalf("failed %v, want the message back", failed)
	}
	if _, ok := r.blobs.data(events.ManifestKey(id)); ok || len(r.bus.all()) != 0 {
		t.Fatalf("after a failed upload: manifest %v, events %v", ok, r.bus.all())
	}
	msg.ReceiveCount++
	if failed := r.handle(t, msg); len(failed) != 0 {
		t.Fatalf("redelivery failed %v", failed)
	}
	man := checkResults(t, r.blobs, id, seg)
	if evs := r.bus.all(); len(evs) != 1 || evs[0].DetailType != events.MeshesReady {
		t.Fatalf("events %v", evs)
	} else {
		checkReady(t, evs[0], id, man)
	}
}

func TestMesherGivesUp(t *testing.T) {
	r := newMesherRig(t)
	const id = "job-mesh03"
	msg := r.segmenting(t, id, events.SegmentationKey(id), testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz"))
	r.blobs.fail = func(op, key string) error {
		if op == "put" {
			return errors.New("bucket unavailable")
		}
		return nil
	}
	msg.ReceiveCount = 5
	if failed := r.handle(t, msg); len(failed) != 0 {
		t.Fatalf("failed %v; the last attempt fails the job instead", failed)
	}
	evs := r.bus.all()
	if len(evs) != 1 || evs[0].DetailType != events.JobFailed {
		t.Fatalf("events %v, want Job Failed", evs)
	}
	if f := decode[events.Failure](t, evs[0]); f.Stage != StageMesher || f.Code != CodeMeshFailed || !strings.Contains(f.Message, "bucket unavailable") {
		t.Errorf("failure %+v", f)
	}
}

// TestMesherBadLabelMap: a label map that cannot be used fails the job
// once, and is not retried.
func TestMesherBadLabelMap(t *testing.T) {
	seg := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	tests := []struct {
		name, code, says string
		data             []byte
	}{
		{"truncated", CodeInvalidLabelMap, "could not be read", seg[:len(seg)/3]},
		{"not NIfTI", CodeInvalidLabelMap, "could not be read", []byte("<html>error</html>")},
		{"CT posted as labels", CodeInvalidLabelMap, "labels must be integers", testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")},
		{"all background", CodeEmptySegmentation, "no structures", emptyLabelMap(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMesherRig(t)
			id := "job-bad-" + strings.ReplaceAll(tt.name, " ", "-")
			msg := r.segmenting(t, id, events.SegmentationKey(id), tt.data)
			if failed := r.handle(t, msg); len(failed) != 0 {
				t.Fatalf("failed %v; a bad label map is not retried", failed)
			}
			evs := r.bus.all()
			if len(evs) != 1 || evs[0].DetailType != events.JobFailed {
				t.Fatalf("events %v, want Job Failed", evs)
			}
			f := decode[events.Failure](t, evs[0])
			if f.JobID != id || f.Stage != StageMesher || f.Code != tt.code || !strings.Contains(f.Message, tt.says) {
				t.Errorf("failure %+v, want code %s saying %q", f, tt.code, tt.says)
			}
			if keys := r.blobs.keys(events.PrefixResults); len(keys) != 0 {
				t.Errorf("results written: %v", keys)
			}
		})
	}
}

func emptyLabelMap(t testing.TB) []byte {
	t.Helper()
	img, err := volume.Read(bytes.NewReader(testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	clear(lm.Data)
	var buf bytes.Buffer
	if err := volume.WriteLabelMap(&buf, lm); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMesherIgnores: what is not the job's label map produces nothing.
func TestMesherIgnores(t *testing.T) {
	const id = "job-mesh04"
	seg := []byte("not read")
	tests := []struct {
		name  string
		setup func(t *testing.T, r *mesherRig) Message
		retry bool
	}{
		{"other key than the segmenter's", func(t *testing.T, r *mesherRig) Message {
			r.segmenting(t, id, events.SegmentationKey(id)+".out", seg)
			r.blobs.put(events.SegmentationKey(id), seg)
			return r.message(t, events.SegmentationKey(id))
		}, false},
		{"stray file before the output is known", func(t *testing.T, r *mesherRig) Message {
			newJob(t, r.store, id, "alice", job.Accepted, t0)
			r.blobs.put(events.SegmentationFailurePrefix(id)+"x", seg)
			r.blobs.put(events.PrefixSegmentations+id+"/notes.txt", seg)
			return r.message(t, events.PrefixSegmentations+id+"/notes.txt")
		}, false},
		{"job already failed", func(t *testing.T, r *mesherRig) Message {
			msg := r.segmenting(t, id, events.SegmentationKey(id), seg)
			r.store.Advance(context.Background(), id, job.Update{Status: job.Failed, At: t0})
			return msg
		}, false},
		{"no job yet", func(t *testing.T, r *mesherRig) Message {
			r.blobs.put(events.SegmentationKey(id), seg)
			return r.message(t, events.SegmentationKey(id))
		}, true},
		{"no job long after", func(t *testing.T, r *mesherRig) Message {
			r.blobs.put(events.SegmentationKey(id), seg)
			msg := r.message(t, events.SegmentationKey(id))
			r.now = r.now.Add(DefaultOrphanGrace + time.Minute)
			return msg
		}, false},
		{"not a segmentation", func(t *testing.T, r *mesherRig) Message {
			r.segmenting(t, id, events.SegmentationKey(id), seg)
			r.blobs.put(events.VolumeKey(id), seg)
			return r.message(t, events.VolumeKey(id))
		}, false},
		{"malformed body", func(t *testing.T, r *mesherRig) Message {
			return Message{ID: "x", Body: []byte(`{"not":"an event"}`), ReceiveCount: 1}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMesherRig(t)
			msg := tt.setup(t, r)
			failed := r.handle(t, msg)
			if (len(failed) == 1) != tt.retry {
				t.Errorf("failed %v, want retry %v", failed, tt.retry)
			}
			if evs := r.bus.all(); len(evs) != 0 {
				t.Errorf("events %v, want none", evs)
			}
			if keys := r.blobs.keys(events.PrefixResults); len(keys) != 0 {
				t.Errorf("results written: %v", keys)
			}
		})
	}
}

func BenchmarkMesher(b *testing.B) {
	r := newMesherRig(b)
	const id = "job-bench2"
	msg := r.segmenting(b, id, events.SegmentationKey(id), testdata.Read(b, "totalsegmentator-example", "ct_3mm_seg.nii.gz"))
	for b.Loop() {
		for _, k := range r.blobs.keys(events.ResultsPrefix(id)) {
			r.blobs.Delete(context.Background(), k)
		}
		if failed := r.handle(b, msg); len(failed) != 0 {
			b.Fatal(failed)
		}
	}
}
