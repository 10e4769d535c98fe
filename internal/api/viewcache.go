package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	now := s.now()
	rv, ok := s.views.get(id, version, now)
	if !ok {
		view, complete, err := s.render(r.Context(), j)
		if err != nil {
			s.internal(w, r, "view job", err)
			return
		}
		body, err := json.Marshal(view)
		if err != nil {
			s.internal(w, r, "encode job", err)
			return
		}
		sum := sha256.Sum256(body)
		rv = renderedView{version: version, made: now, body: append(body, '\n'),
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		if complete {
			s.views.put(id, rv)
		}
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
