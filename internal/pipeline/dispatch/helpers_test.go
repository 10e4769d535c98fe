package dispatch_test

// The fakes the dispatch tests run over: a blob store in a map, a bus and
// a segmenter that record what they are given, each able to fail on
// demand. (internal/pipeline's tests have the same, with more that only
// the other stages need.)

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// quiet keeps the handlers' logs out of the test output; run with
// IRIS_TEST_LOG=1 to see them.
var quiet = func() *slog.Logger {
	if os.Getenv("IRIS_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}()

// memBlobs is a Blobs in a map. It emits nothing unless onPut is set. fail,
// if set, is asked before each operation and may fail it.
type memBlobs struct {
	mu    sync.Mutex
	objs  map[string]memObject
	puts  []string // keys in Put order
	fail  func(op, key string) error
	onPut func(info ports.BlobInfo)
}

type memObject struct {
	data []byte
	info ports.BlobInfo
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
	info := ports.BlobInfo{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: t0}
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

func (b *memBlobs) Get(ctx context.Context, key string) (io.ReadCloser, ports.BlobInfo, error) {
	if err := b.check("get", key); err != nil {
		return nil, ports.BlobInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, ports.BlobInfo{}, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(o.data)), o.info, nil
}

func (b *memBlobs) Head(ctx context.Context, key string) (ports.BlobInfo, error) {
	if err := b.check("head", key); err != nil {
		return ports.BlobInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return ports.BlobInfo{}, fmt.Errorf("head %s: %w", key, fs.ErrNotExist)
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

func (b *memBlobs) List(ctx context.Context, prefix string) ([]ports.BlobInfo, error) {
	if err := b.check("list", prefix); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ports.BlobInfo
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
	b.objs[key] = memObject{data, ports.BlobInfo{Key: key, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), Modified: t0}}
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
		OutputLocation:  "s3://iris-test/" + events.SegmentationKey(jobID),
		FailureLocation: "s3://iris-test/" + events.SegmentationFailurePrefix(jobID) + "error.json",
		Engine:          "fake",
	}, nil
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
