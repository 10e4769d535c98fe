package api

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
)

// versionedMemory is job.Memory as a VersionedStore: the version is a hash
// of the record, so it changes exactly when the record does.
type versionedMemory struct{ *job.Memory }

func (m versionedMemory) GetVersioned(ctx context.Context, id string) (job.Job, uint64, error) {
	j, err := m.Get(ctx, id)
	if err != nil {
		return job.Job{}, 0, err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return job.Job{}, 0, err
	}
	h := fnv.New64a()
	h.Write(b)
	return j, h.Sum64(), nil
}

// TestJobAnswerReusedWithETag: on a VersionedStore a poll of an unchanged
// job gets the same bytes and ETag, and If-None-Match with that tag gets
// 304 and no body; a change to the job, or ViewReuse passing (the signed
// URLs are renewed), gives a new tag and a full answer; someone else's
// job stays 404 whatever tag is sent; and without a VersionedStore no
// ETag is given, as every answer differs.
func TestJobAnswerReusedWithETag(t *testing.T) {
	ctx := context.Background()
	mem := &job.Memory{}
	blobs := &memBlobs{}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Add(int64(time.Second))).UTC() }
	newServer := func(store any) *httptest.Server {
		s := &Server{Blobs: blobs, Signer: testSigner{}, Owner: func(r *http.Request) (string, error) { return r.Header.Get("X-Test-Owner"), nil },
			Clock: now}
		switch st := store.(type) {
		case versionedMemory:
			s.Store = st
		case *job.Memory:
			s.Store = st
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	srv := newServer(versionedMemory{mem})

	get := func(base, owner, id, inm string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/api/jobs/"+id, nil)
		req.Header.Set("X-Test-Owner", owner)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("ETag"), string(b)
	}

	id, err := NewJobID(time.Unix(0, clock.Load()))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(0, clock.Load()).UTC()
	mem.Create(ctx, job.Job{ID: id, Owner: "alice", Status: job.Meshing, CreatedAt: at, UpdatedAt: at,
		Stages:    map[job.Status]time.Time{job.Created: at},
		Artifacts: []job.Artifact{{Name: "scene.glb", Key: events.ResultsPrefix(id) + "scene.glb", Bytes: 42}}})

	code, tag1, body1 := get(srv.URL, "alice", id, "")
	if code != 200 || tag1 == "" || !strings.Contains(body1, "scene.glb?exp=") {
		t.Fatalf("first GET = %d, ETag %q, %s", code, tag1, body1)
	}
	// The clock moves a second a call: a body rendered again would differ
	// in its expiry times.
	if code, tag, body := get(srv.URL, "alice", id, ""); code != 200 || tag != tag1 || body != body1 {
		t.Errorf("second GET = %d, ETag %q (first %q), same body %v; want the same answer", code, tag, tag1, body == body1)
	}
	for _, inm := range []string{tag1, "W/" + tag1, `"other", ` + tag1, "*"} {
		if code, tag, body := get(srv.URL, "alice", id, inm); code != http.StatusNotModified || tag != tag1 || body != "" {
			t.Errorf("If-None-Match %s = %d, ETag %q, body %q; want 304, %q, no body", inm, code, tag, body, tag1)
		}
	}
	if code, _, body := get(srv.URL, "mallory", id, tag1); code != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("someone else's job with its ETag = %d %s, want 404", code, body)
	}

	// A change to the job: a new answer and tag.
	if ok, err := mem.Advance(ctx, id, job.Update{Status: job.Done, At: at.Add(time.Minute), Organs: []job.Organ{{Label: 5, Name: "liver"}}}); !ok || err != nil {
		t.Fatalf("Advance = %v, %v", ok, err)
	}
	code, tag2, body2 := get(srv.URL, "alice", id, tag1)
	if code != 200 || tag2 == tag1 || !strings.Contains(body2, `"done"`) || !strings.Contains(body2, "liver") {
		t.Fatalf("GET after a change with the old tag = %d, ETag %q (old %q), %s; want 200 and a new tag", code, tag2, tag1, body2)
	}

	// Past ViewReuse the answer is rendered again: new expiry, new tag.
	clock.Add(int64(ViewReuse))
	if code, tag, _ := get(srv.URL, "alice", id, tag2); code != 200 || tag == tag2 {
		t.Errorf("GET after ViewReuse with the tag = %d, ETag %q (was %q); want 200 and a new tag", code, tag, tag2)
	}

	// A store without versions: no ETag, If-None-Match ignored.
	plain := newServer(mem)
	if code, tag, _ := get(plain.URL, "alice", id, "*"); code != 200 || tag != "" {
		t.Errorf("plain store GET = %d, ETag %q; want 200 and none", code, tag)
	}
}

func (m versionedMemory) ListVersioned(ctx context.Context, owner string, limit int, cursor string) ([]job.Job, []uint64, string, error) {
	js, next, err := m.List(ctx, owner, limit, cursor)
	if err != nil {
		return nil, nil, "", err
	}
	vs := make([]uint64, len(js))
	for i, j := range js {
		b, err := json.Marshal(j)
		if err != nil {
			return nil, nil, "", err
		}
		h := fnv.New64a()
		h.Write(b)
		vs[i] = h.Sum64()
	}
	return js, vs, next, nil
}

// TestListReusesJobAnswers: on a VersionedLister the list carries, for each
// unchanged job, the very answer GET /api/jobs/{id} gave (the clock moves
// a second a call, so a job rendered again would differ), a changed job
// anew, and pages newest first as the plain list does.
func TestListReusesJobAnswers(t *testing.T) {
	ctx := context.Background()
	mem := &job.Memory{}
	var clock atomic.Int64
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	clock.Store(start.UnixNano())
	s := &Server{Store: versionedMemory{mem}, Blobs: &memBlobs{}, Signer: testSigner{},
		Owner: func(r *http.Request) (string, error) { return "alice", nil },
		Clock: func() time.Time { return time.Unix(0, clock.Add(int64(time.Second))).UTC() }}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var ids []string
	for i := range 3 {
		at := start.Add(time.Duration(i) * time.Minute)
		id, err := NewJobID(at)
		if err != nil {
			t.Fatal(err)
		}
		mem.Create(ctx, job.Job{ID: id, Owner: "alice", Status: job.Meshing, CreatedAt: at, UpdatedAt: at,
			Stages:    map[job.Status]time.Time{job.Created: at},
			Artifacts: []job.Artifact{{Name: "scene.glb", Key: events.ResultsPrefix(id) + "scene.glb", Bytes: 42}}})
		ids = append(ids, id)
	}
	answers := map[string]string{}
	for _, id := range ids {
		code, b := get("/api/jobs/" + id)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", id, code, b)
		}
		answers[id] = strings.TrimSuffix(string(b), "\n")
	}
	if ok, err := mem.Advance(ctx, ids[0], job.Update{Status: job.Done, At: start.Add(time.Hour)}); !ok || err != nil {
		t.Fatalf("Advance = %v, %v", ok, err)
	}

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/api/jobs?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, b := get(path)
		var list struct {
			Jobs []json.RawMessage `json:"jobs"`
			Next string            `json:"next"`
		}
		if code != 200 || json.Unmarshal(b, &list) != nil {
			t.Fatalf("GET %s = %d %s", path, code, b)
		}
		for _, raw := range list.Jobs {
			var v JobView
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, v.ID)
			switch {
			case v.ID == ids[0]:
				if v.Status != job.Done || string(raw) == answers[v.ID] {
					t.Errorf("changed job %s in the list: status %s, same answer as before the change %v", v.ID, v.Status, string(raw) == answers[v.ID])
				}
			case string(raw) != answers[v.ID]:
				t.Errorf("unchanged job %s: list entry\n%s\nwant GET's answer\n%s", v.ID, raw, answers[v.ID])
			}
		}
		if list.Next == "" {
			break
		}
		if page > 3 {
			t.Fatal("the list does not end")
		}
		cursor = list.Next
	}
	if want := []string{ids[2], ids[1], ids[0]}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want newest first %v", seen, want)
	}
}
