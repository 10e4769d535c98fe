package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
)

// VersionedStore is a Store that can hand out a job to read, never to
// modify, with a version that changes whenever its record does
// (local.Store). With one, GET /api/jobs/{id} renders a job's answer once
// per version and serves the same bytes for up to ViewReuse, with an ETag;
// a poll that sends that ETag back in If-None-Match while the job has not
// changed gets 304 Not Modified and no body. Without one (the Lambda's
// DynamoDB store) every poll renders its answer anew, with no ETag.
type VersionedStore interface {
	GetVersioned(ctx context.Context, id string) (job.Job, uint64, error)
}

// VersionedLister is a Store whose list gives each job's version as
// VersionedStore does (local.Store): GET /api/jobs then reuses the
// rendered answers of GET /api/jobs/{id}, and renders a job only when it
// has changed (or ViewReuse has passed).
type VersionedLister interface {
	ListVersioned(ctx context.Context, owner string, limit int, cursor string) ([]job.Job, []uint64, string, error)
}

// ViewReuse is how long a rendered job answer is served again while the
// job does not change: its signed URLs then have at least URLTTL minus
// this left when a client receives them (14 of 15 minutes by default).
const ViewReuse = time.Minute

// viewCacheSize bounds the rendered answers kept; past it the cache starts
// again empty.
const viewCacheSize = 1024

// viewCache holds the rendered answer of each job polled, by id.
type viewCache struct {
	mu    sync.Mutex
	views map[string]renderedView
}

type renderedView struct {
	version uint64
	made    time.Time
	body    []byte // the JSON answer, newline ended as writeJSON writes it
	etag    string // a strong validator of body
}

func (c *viewCache) get(id string, version uint64, now time.Time) (renderedView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[id]
	if !ok || v.version != version || now.Sub(v.made) >= ViewReuse || now.Before(v.made) {
		return renderedView{}, false
	}
	return v, true
}

func (c *viewCache) put(id string, v renderedView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil || len(c.views) >= viewCacheSize {
		c.views = make(map[string]renderedView)
	}
	c.views[id] = v
}

// getJobVersioned is getJob on a VersionedStore.
func (s *Server) getJobVersioned(w http.ResponseWriter, r *http.Request, owner string, vs VersionedStore) {
	id := r.PathValue("id")
	if !events.ValidJobID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no job "+strconv.Quote(id))
		return
	}
	j, version, err := vs.GetVersioned(r.Context(), id)
	if !s.checkOwned(w, r, owner, id, j, err) {
		return
	}
	rv, err := s.rendered(r.Context(), j, version)
	if err != nil {
		s.internal(w, r, "view job", err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("ETag", rv.etag)
	if etagMatches(r.Header.Get("If-None-Match"), rv.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(rv.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(rv.body)
}

// rendered is j's answer at version: the kept one while it may be
// reused, else rendered now (and kept unless incomplete).
func (s *Server) rendered(ctx context.Context, j job.Job, version uint64) (renderedView, error) {
	now := s.now()
	if rv, ok := s.views.get(j.ID, version, now); ok {
		return rv, nil
	}
	view, complete, err := s.render(ctx, j)
	if err != nil {
		return renderedView{}, err
	}
	body, err := json.Marshal(view)
	if err != nil {
		return renderedView{}, fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	sum := sha256.Sum256(body)
	rv := renderedView{version: version, made: now, body: append(body, '\n'),
		etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	if complete {
		s.views.put(j.ID, rv)
	}
	return rv, nil
}

// listJobsVersioned is the list on a VersionedLister, each job's answer
// the one GET /api/jobs/{id} gives.
func (s *Server) listJobsVersioned(w http.ResponseWriter, r *http.Request, owner string, limit int, vl VersionedLister) {
	js, versions, next, err := vl.ListVersioned(r.Context(), owner, limit, r.URL.Query().Get("cursor"))
	if errors.Is(err, job.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "bad_request", "the cursor is not one this API returned; list again from the start")
		return
	}
	if err != nil {
		s.unavailable(w, r, "list jobs", err)
		return
	}
	views := make([]json.RawMessage, 0, len(js))
	for i, j := range js {
		rv, err := s.rendered(r.Context(), j, versions[i])
		if err != nil {
			s.internal(w, r, "view job", err)
			return
		}
		views = append(views, bytes.TrimSuffix(rv.body, []byte("\n")))
	}
	writeJSON(w, http.StatusOK, struct {
		Jobs []json.RawMessage `json:"jobs"`
		Next string            `json:"next"`
	}{views, next})
}

// checkOwned answers for a job that could not be read or is not the
// caller's, and reports whether j is theirs to see. Someone else's job is
// reported exactly like a missing one, so ids cannot be probed.
func (s *Server) checkOwned(w http.ResponseWriter, r *http.Request, owner, id string, j job.Job, err error) bool {
	if errors.Is(err, job.ErrNotFound) || err == nil && j.Owner != owner {
		writeError(w, http.StatusNotFound, "not_found", "no job "+strconv.Quote(id))
		return false
	}
	if err != nil {
		s.unavailable(w, r, "get job", err)
		return false
	}
	return true
}

// etagMatches is If-None-Match's weak comparison (RFC 9110, 13.1.2): "*"
// or any listed tag equal to etag, W/ prefixes aside.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}
