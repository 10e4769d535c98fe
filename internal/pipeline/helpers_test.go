package pipeline

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/ports/blobstest"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

const testBucket = "iris-test"

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// quiet keeps the handlers' logs out of the test output; run with
// IRIS_TEST_LOG=1 to see them.
var quiet = func() *slog.Logger {
	if os.Getenv("IRIS_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}()

// fixedClock returns a Clock reading *now.
func fixedClock(now *time.Time) Clock { return func() time.Time { return *now } }

// memBlobs is a Blobs in a map. It emits nothing unless onPut is set. fail,
// if set, is asked before each operation and may fail it.
type memBlobs struct {
	mu    sync.Mutex
	objs  map[string]memObject
	puts  []string // keys in Put order
	fail  func(op, key string) error
	onPut func(info BlobInfo)
}

type memObject struct {
	data []byte
	info BlobInfo
}

func newMemBlobs() *memBlobs { return &memBlobs{objs: map[string]memObject{}} }

func (b *memBlobs) check(op, key string) error {
	if b.fail != nil {
		return b.fail(op, key)
	}
	return nil
}

func (b *memBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, _ string) error {
	if err := b.check("put", key); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(data)) != size {
		return fmt.Errorf("put %s: %d bytes, size says %d", key, len(data), size)
	}
	sum := md5.Sum(data)
	info := BlobInfo{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: t0}
	b.mu.Lock()
	b.objs[key] = memObject{data, info}
	b.puts = append(b.puts, key)
	on := b.onPut
	b.mu.Unlock()
	if on != nil {
		on(info)
	}
	return nil
}

func (b *memBlobs) Get(ctx context.Context, key string) (io.ReadCloser, BlobInfo, error) {
	if err := b.check("get", key); err != nil {
		return nil, BlobInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, BlobInfo{}, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(o.data)), o.info, nil
}

func (b *memBlobs) Head(ctx context.Context, key string) (BlobInfo, error) {
	if err := b.check("head", key); err != nil {
		return BlobInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return BlobInfo{}, fmt.Errorf("head %s: %w", key, fs.ErrNotExist)
	}
	return o.info, nil
}

func (b *memBlobs) Delete(ctx context.Context, key string) error {
	if err := b.check("delete", key); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objs, key)
	return nil
}

func (b *memBlobs) List(ctx context.Context, prefix string) ([]BlobInfo, error) {
	if err := b.check("list", prefix); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BlobInfo
	for k, o := range b.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, o.info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// put stores data under key without emitting or failing.
func (b *memBlobs) put(key string, data []byte) {
	sum := md5.Sum(data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objs[key] = memObject{data, BlobInfo{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: t0}}
}

func (b *memBlobs) data(key string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	return o.data, ok
}

func (b *memBlobs) keys(prefix string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (b *memBlobs) putsUnder(prefix string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, k := range b.puts {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// failOnce fails the first op on a key with the given prefix, then never.
func failOnce(op, prefix string) func(string, string) error {
	var done bool
	var mu sync.Mutex
	return func(o, key string) error {
		mu.Lock()
		defer mu.Unlock()
		if !done && o == op && strings.HasPrefix(key, prefix) {
			done = true
			return fmt.Errorf("injected %s failure on %s", op, key)
		}
		return nil
	}
}

// recBus records what is published. fail, if set, may fail a Publish.
type recBus struct {
	mu   sync.Mutex
	evs  []events.Event
	fail func(events.Event) error
}

func (b *recBus) Publish(ctx context.Context, evs ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range evs {
		if b.fail != nil {
			if err := b.fail(ev); err != nil {
				return err
			}
		}
	}
	b.evs = append(b.evs, evs...)
	return nil
}

func (b *recBus) all() []events.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.evs)
}

// of returns the recorded events of one detail type.
func (b *recBus) of(detailType string) []events.Event {
	var out []events.Event
	for _, ev := range b.all() {
		if ev.DetailType == detailType {
			out = append(out, ev)
		}
	}
	return out
}

// failEventOnce fails the first Publish of detailType.
func failEventOnce(detailType string) func(events.Event) error {
	var done bool
	return func(ev events.Event) error {
		if !done && ev.DetailType == detailType {
			done = true
			return fmt.Errorf("injected publish failure of %s", detailType)
		}
		return nil
	}
}

// recQueue records sent bodies. fail, if set, may fail a Send.
type recQueue struct {
	mu     sync.Mutex
	bodies [][]byte
	delays []time.Duration // SendDelayed's, in order
	fail   func() error
}

func (q *recQueue) Send(ctx context.Context, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		if err := q.fail(); err != nil {
			return err
		}
	}
	q.bodies = append(q.bodies, slices.Clone(body))
	return nil
}

func (q *recQueue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.bodies
	q.bodies = nil
	return out
}

func (q *recQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.bodies)
}

// fakeSegmenter records starts; run, if set, is called with each.
type fakeSegmenter struct {
	mu     sync.Mutex
	starts []string
	err    error
	run    func(jobID, inputKey string)
}

func (s *fakeSegmenter) Start(ctx context.Context, jobID, inputKey string) (events.Started, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return events.Started{}, s.err
	}
	s.starts = append(s.starts, jobID)
	if s.run != nil {
		s.run(jobID, inputKey)
	}
	return events.Started{
		JobID:           jobID,
		InferenceID:     jobID,
		OutputLocation:  "s3://" + testBucket + "/" + events.SegmentationKey(jobID),
		FailureLocation: "s3://" + testBucket + "/" + events.SegmentationFailurePrefix(jobID) + "error.json",
		Engine:          "fake",
	}, nil
}

// s3Event is the EventBridge event S3 sends for a new object.
func s3Event(t testing.TB, key string, size int64, etag string, at time.Time) events.Event {
	t.Helper()
	var d events.S3Object
	d.Version = "0"
	d.Bucket.Name = testBucket
	d.Object.Key = key
	d.Object.Size = size
	d.Object.ETag = etag
	d.Reason = "PutObject"
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return events.Event{Version: "0", ID: "s3-" + key, DetailType: events.ObjectCreated, Source: events.SourceS3,
		Time: at, Region: "eu-west-1", Resources: []string{"arn:aws:s3:::" + testBucket}, Detail: b}
}

// pipelineEvent builds one of our events.
func pipelineEvent(t testing.TB, detailType string, detail any, at time.Time) events.Event {
	t.Helper()
	ev, err := events.New(detailType+"-"+fmt.Sprint(at.UnixNano()), detailType, detail, at)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// decode decodes ev's detail into a new T.
func decode[T any](t testing.TB, ev events.Event) T {
	t.Helper()
	var v T
	if err := ev.DecodeDetail(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// oneDICOMFile is the first file of the real series.
func oneDICOMFile(t testing.TB) []byte {
	t.Helper()
	dir := testdata.Path(t, "totalsegmentator-example", "dicom")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("read %s: %v", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readCT reads the real CT.
func readCT(t testing.TB) *volume.CT {
	t.Helper()
	return decodeCT(t, testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
}

// decodeCT reads the NIfTI file b as CT.
func decodeCT(t testing.TB, b []byte) *volume.CT {
	t.Helper()
	img, err := volume.Read(bytes.NewReader(b), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := img.CT()
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// mrLike turns the real CT into what an MR image looks like to a CT
// check: positive intensities, no air at -1000 (the scan's own geometry).
func mrLike(t testing.TB) []byte {
	t.Helper()
	ct := readCT(t)
	mr := &volume.CT{Grid: ct.Grid, HU: make([]int16, len(ct.HU))}
	for i, v := range ct.HU {
		mr.HU[i] = int16(max(0, min(4000, (int(v)+1024)/2)))
	}
	var buf bytes.Buffer
	if err := volume.WriteCT(&buf, mr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newJob stores an API-made job in status st.
func newJob(t testing.TB, store ports.Store, id, owner string, st job.Status, at time.Time) {
	t.Helper()
	j := job.Job{ID: id, Owner: owner, Status: job.Created, CreatedAt: at, UpdatedAt: at, Stages: map[job.Status]time.Time{job.Created: at}}
	if _, err := store.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if st != job.Created {
		if ok, err := store.Advance(context.Background(), id, job.Update{Status: st, At: at}); err != nil || !ok {
			t.Fatalf("advance %s to %s: %v, %v", id, st, ok, err)
		}
	}
}

func getJob(t testing.TB, store ports.Store, id string) job.Job {
	t.Helper()
	j, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %s: %v", id, err)
	}
	return j
}

// TestMemBlobsContract holds the in-memory bucket the stage tests run on
// to the contract the real ones keep.
func TestMemBlobsContract(t *testing.T) {
	blobstest.Run(t, func(*testing.T) ports.Blobs { return newMemBlobs() })
}
