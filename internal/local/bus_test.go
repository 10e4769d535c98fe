package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/local/pattern"
)

const bucket = "iris-local"

// targets records deliveries per target.
type targets struct {
	mu  sync.Mutex
	got map[string][]events.Event
}

// failFunc decides whether delivery n (1, 2, …) of ev to a target fails.
type failFunc func(ev events.Event, n int) error

func (tg *targets) handler(name string, fail failFunc) EventHandler {
	return func(_ context.Context, ev events.Event) error {
		tg.mu.Lock()
		if tg.got == nil {
			tg.got = map[string][]events.Event{}
		}
		tg.got[name] = append(tg.got[name], ev)
		n := 0
		for _, e := range tg.got[name] {
			if e.ID == ev.ID {
				n++
			}
		}
		tg.mu.Unlock()
		if fail != nil {
			return fail(ev, n)
		}
		return nil
	}
}

// deliveries counts target's deliveries of the event with id.
func (tg *targets) deliveries(target, id string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := 0
	for _, e := range tg.got[target] {
		if e.ID == id {
			n++
		}
	}
	return n
}

func (tg *targets) count(name string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return len(tg.got[name])
}

func (tg *targets) all() map[string][]events.Event {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := map[string][]events.Event{}
	for k, v := range tg.got {
		out[k] = append([]events.Event(nil), v...)
	}
	return out
}

func allHandlers(tg *targets, fail map[string]failFunc) map[string]EventHandler {
	hs := map[string]EventHandler{}
	for _, t := range []string{events.TargetIngest, events.TargetMesher, events.TargetStatus} {
		hs[t] = tg.handler(t, fail[t])
	}
	return hs
}

func pipelineEvent(t *testing.T, detailType string) events.Event {
	t.Helper()
	ev, err := events.New(newID(), detailType, events.Failure{JobID: "job123", Stage: "ingest"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestBusRoutesByTheRules(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var tg targets
	b, err := NewBus(db, bucket, allHandlers(&tg, nil))
	if err != nil {
		t.Fatal(err)
	}
	b.PollInterval = 5 * time.Millisecond
	blobs, err := NewDirBlobs(t.TempDir(), bucket, b)
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)

	var putKeys []string
	put := func(key string) {
		putKeys = append(putKeys, key)
		if err := blobs.Put(ctx, key, strings.NewReader("data"), 4, ""); err != nil {
			t.Fatal(err)
		}
	}
	put("uploads/job123/ct.nii.gz")
	put("volumes/job123/ct.nii.gz") // routed nowhere
	put("segmentations/job123/labels.nii.gz")
	put("segmentation-failures/job123/error.json")
	accepted, meshesReady := pipelineEvent(t, events.JobAccepted), pipelineEvent(t, events.MeshesReady)
	if err := b.Publish(ctx, accepted, meshesReady); err != nil {
		t.Fatal(err)
	}
	other := pipelineEvent(t, events.ObjectCreated) // our source, not a pipeline detail type
	if err := b.Publish(ctx, other); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "all deliveries", 5*time.Second, func() bool {
		return tg.count(events.TargetIngest) >= 1 && tg.count(events.TargetMesher) >= 1 && tg.count(events.TargetStatus) >= 3
	})
	// A delivery leaves its queue only after its handler returned, and
	// nothing else publishes: once every target's queue is empty, no
	// extra delivery can still come, however slow the machine.
	waitFor(t, "every target queue drained", 10*time.Second, func() bool {
		for _, target := range b.Targets() {
			if s, err := b.Queue(target).Stats(ctx); err != nil || s != (Stats{}) {
				return false
			}
		}
		return true
	})
	got := tg.all()
	key := func(ev events.Event) string {
		if ev.Source == events.SourceS3 {
			return s3Detail(t, ev).Object.Key
		}
		return ev.DetailType
	}
	// What the rules say, matched here without the bus: every published
	// event must reach exactly its rules' targets.
	all := []events.Event{accepted, meshesReady, other}
	for _, k := range putKeys {
		ev, err := blobs.objectCreated(k, 4, md5hex([]byte("data")), t0)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	want := map[string][]string{}
	for _, ev := range all {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range events.Rules(bucket) {
			if ok, err := pattern.Must(r.Pattern).Match(raw); err != nil {
				t.Fatal(err)
			} else if ok && !seen[r.Target] {
				seen[r.Target] = true
				want[r.Target] = append(want[r.Target], key(ev))
			}
		}
	}
	// The anchors of the pipeline, whatever else the rules grow.
	if fmt.Sprint(want[events.TargetIngest]) != "[uploads/job123/ct.nii.gz]" ||
		!contains(want[events.TargetStatus], events.JobAccepted) || !contains(want[events.TargetMesher], "segmentations/job123/labels.nii.gz") {
		t.Fatalf("the rules no longer route the pipeline: %v", want)
	}
	for _, target := range b.Targets() {
		var have []string
		for _, ev := range got[target] {
			have = append(have, key(ev))
		}
		if !sameSet(have, want[target]) {
			t.Errorf("%s got %v, want %v", target, have, want[target])
		}
	}
	for _, ev := range got[events.TargetStatus] {
		if ev.DetailType == events.JobAccepted && (ev.ID == "" || !ev.Time.Equal(t0)) {
			t.Errorf("delivered event lost its envelope: %+v", ev)
		}
	}
	for _, target := range b.Targets() {
		wantStats(t, b.Queue(target), Stats{})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestBusRetriesThenDeadLetters(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var tg targets
	flaky := errors.New("status store unavailable")
	b, err := NewBus(db, bucket, allHandlers(&tg, map[string]failFunc{
		events.TargetStatus: func(ev events.Event, _ int) error { // Job Failed always fails
			if ev.DetailType == events.JobFailed {
				return flaky
			}
			return nil
		},
		events.TargetMesher: func(_ events.Event, n int) error { // fails once
			if n == 1 {
				return flaky
			}
			return nil
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	b.MaxAttempts = 3
	b.PollInterval = 5 * time.Millisecond
	var backoffs []int
	var mu sync.Mutex
	b.Backoff = func(n int) time.Duration {
		mu.Lock()
		backoffs = append(backoffs, n)
		mu.Unlock()
		return 0
	}
	run(t, b)
	failed := pipelineEvent(t, events.JobFailed)
	segEv, err := (&DirBlobs{bucket: bucket}).objectCreated(events.SegmentationKey("job123"), 1, "etag", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, failed, segEv); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter", 5*time.Second, func() bool {
		s, _ := b.Queue(events.TargetStatus).Stats(ctx)
		return s.Dead == 1
	})
	waitFor(t, "the mesher's retry", 5*time.Second, func() bool { return tg.deliveries(events.TargetMesher, segEv.ID) == 2 })
	if n := tg.deliveries(events.TargetStatus, failed.ID); n != 3 {
		t.Errorf("status handler tried Job Failed %d times, want MaxAttempts = 3", n)
	}
	dl, err := b.Queue(events.TargetStatus).DeadLetters(ctx)
	if err != nil || len(dl) != 1 || dl[0].ReceiveCount != 3 || !strings.Contains(string(dl[0].Body), failed.ID) {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}
	waitFor(t, "the mesher's delivery deleted", 5*time.Second, func() bool {
		s, _ := b.Queue(events.TargetMesher).Stats(ctx)
		return s == Stats{}
	})
	mu.Lock()
	defer mu.Unlock()
	if !sameSet(intsToStrings(backoffs), []string{"1", "2", "3", "1"}) {
		t.Errorf("backoff asked for attempts %v, want 1, 2, 3 (status) and 1 (mesher)", backoffs)
	}
}

func intsToStrings(ns []int) []string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return s
}

// Publishing commits the deliveries: a crash before any handler ran loses
// nothing, the next run delivers.
func TestBusDeliversAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "iris.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBus(db, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := pipelineEvent(t, events.SegmentationStarted)
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	db.Close() // crash: nothing ran

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tg targets
	b, err = NewBus(db, bucket, allHandlers(&tg, nil))
	if err != nil {
		t.Fatal(err)
	}
	b.PollInterval = 5 * time.Millisecond
	stop := run(t, b)
	waitFor(t, "the delivery", 5*time.Second, func() bool { return tg.count(events.TargetStatus) == 1 })
	stop()
	if got := tg.all()[events.TargetStatus][0]; got.ID != ev.ID || got.DetailType != events.SegmentationStarted {
		t.Errorf("delivered %+v, want %+v", got, ev)
	}
}

func TestBusChecksTargets(t *testing.T) {
	db := openDB(t)
	if _, err := NewBus(db, bucket, map[string]EventHandler{"dispatch": func(context.Context, events.Event) error { return nil }}); err == nil {
		t.Error("NewBus accepted a handler for a target no rule has")
	}
	if _, err := NewBus(db, "", nil); err == nil {
		t.Error("NewBus accepted an empty bucket")
	}
	b, err := NewBus(db, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Error("Run without handlers returned nil")
	}
	// Unrouted events are dropped: nothing is queued anywhere.
	ev, err := (&DirBlobs{bucket: "someone-elses"}).objectCreated("uploads/job123/ct.nii.gz", 1, "e", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.sql.QueryRow(`SELECT count(*) FROM queue_messages`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d messages queued for an event of another bucket (%v)", n, err)
	}
}
