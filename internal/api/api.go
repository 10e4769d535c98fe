// Package api is the pipeline's HTTP API as an http.Handler: create a job
// with a signed upload, follow it, list, download and delete. The same
// handler serves `iris serve` and the API Lambda (through an adapter);
// only the Signer, the Store, the Blobs and the way the caller's identity
// is found differ. Every error is JSON {"error": {"code", "message"}} with
// a stable code, and a caller never sees or touches another owner's job.
package api

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// OwnerFunc finds the caller's identity; an error means 401.
type OwnerFunc func(*http.Request) (string, error)

// FixedOwner is the one-user identity of a local install.
func FixedOwner(owner string) OwnerFunc {
	return func(*http.Request) (string, error) { return owner, nil }
}

// Defaults for Server's zero fields.
const (
	DefaultMaxUploadBytes = 2 << 30
	DefaultURLTTL         = 15 * time.Minute
	DefaultListLimit      = 20
	MaxListLimit          = 100
)

// Server serves the API. Store, Blobs, Signer and Owner are required.
type Server struct {
	Store          ports.Store
	Blobs          ports.Blobs
	Signer         ports.Signer
	Owner          OwnerFunc
	Clock          ports.Clock                                // nil means time.Now
	MaxUploadBytes int64                                      // 0 means DefaultMaxUploadBytes
	URLTTL         time.Duration                              // 0 means DefaultURLTTL
	Health         func(ctx context.Context) map[string]error // components to report; may be nil
	Log            *slog.Logger                               // nil means slog.Default()
	// Exports is where print export requests go: the mesh queue. nil:
	// POST /api/jobs/{id}/exports answers 501.
	Exports ports.Queue

	views viewCache // rendered job answers, where Store is a VersionedStore
}

// Handler routes the API under /api/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs", s.withOwner(s.createJob))
	mux.HandleFunc("GET /api/jobs", s.withOwner(s.listJobs))
	mux.HandleFunc("GET /api/jobs/{id}", s.withOwner(s.getJob))
	mux.HandleFunc("DELETE /api/jobs/{id}", s.withOwner(s.deleteJob))
	mux.HandleFunc("POST /api/jobs/{id}/upload", s.withOwner(s.renewUpload))
	mux.HandleFunc("POST /api/jobs/{id}/exports", s.withOwner(s.createExport))
	mux.HandleFunc("GET /api/jobs/{id}/exports", s.withOwner(s.listExports))
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("/api/jobs", methodNotAllowed("GET, POST"))
	mux.HandleFunc("/api/jobs/{id}", methodNotAllowed("GET, DELETE"))
	mux.HandleFunc("/api/jobs/{id}/upload", methodNotAllowed("POST"))
	mux.HandleFunc("/api/jobs/{id}/exports", methodNotAllowed("GET, POST"))
	mux.HandleFunc("/api/health", methodNotAllowed("GET"))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+allow)
	}
}

type ownerHandler func(w http.ResponseWriter, r *http.Request, owner string)

func (s *Server) withOwner(h ownerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		owner, err := s.Owner(r)
		if err != nil || owner == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in to use the API")
			return
		}
		h(w, r, owner)
	}
}

func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) maxUpload() int64 {
	if s.MaxUploadBytes > 0 {
		return s.MaxUploadBytes
	}
	return DefaultMaxUploadBytes
}

func (s *Server) ttl() time.Duration {
	if s.URLTTL > 0 {
		return s.URLTTL
	}
	return DefaultURLTTL
}

// supported lists the upload names the pipeline reads; the content is
// checked again at ingest, by content rather than by name.
var supported = []string{".nii.gz", ".nii", ".zip"}

// jsonBody refuses a body that is not declared JSON: a browser sends a
// cross-site POST without asking first only as a form or text/plain.
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
		return false
	}
	return true
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, owner string) {
	if !jsonBody(w, r) {
		return
	}
	var req CreateJobRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be JSON {\"filename\": \"…\", \"bytes\": N}: "+err.Error())
		return
	}
	if !hasSupportedName(req.Filename) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_file",
			fmt.Sprintf("%q is not a supported scan: send a NIfTI file (.nii, .nii.gz) or a .zip of a DICOM series", req.Filename))
		return
	}
	if req.Bytes <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "bytes must be the file's size, greater than 0")
		return
	}
	if req.Bytes > s.maxUpload() {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the file is %s; the limit is %s", humanBytes(req.Bytes), humanBytes(s.maxUpload())))
		return
	}
	now := s.now()
	id, err := NewJobID(now)
	if err != nil {
		s.internal(w, r, "make job id", err)
		return
	}
	key := events.UploadKey(id, req.Filename)
	j := job.Job{ID: id, Owner: owner, Status: job.Created, CreatedAt: now, UpdatedAt: now,
		Stages: map[job.Status]time.Time{job.Created: now}, UploadKey: key}
	if _, err := s.Store.Create(r.Context(), j); err != nil {
		s.unavailable(w, r, "create job", err)
		return
	}
	up, err := s.Signer.SignUpload(r.Context(), key, req.Bytes, now.Add(s.ttl()))
	if err != nil {
		s.internal(w, r, "sign upload", err)
		return
	}
	view, err := s.view(r.Context(), j)
	if err != nil {
		s.internal(w, r, "view job", err)
		return
	}
	w.Header().Set("Location", "/api/jobs/"+id)
	writeJSON(w, http.StatusCreated, CreateJobResponse{Job: view, Upload: up})
}

func hasSupportedName(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range supported {
		if strings.HasSuffix(lower, ext) && len(lower) > len(ext) {
			return true
		}
	}
	return false
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, owner string) {
	if vs, ok := s.Store.(VersionedStore); ok {
		s.getJobVersioned(w, r, owner, vs)
		return
	}
	j, ok := s.ownedJob(w, r, owner)
	if !ok {
		return
	}
	view, err := s.view(r.Context(), j)
	if err != nil {
		s.internal(w, r, "view job", err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// ownedJob loads the path's job; someone else's job is reported exactly
// like a missing one, so ids cannot be probed.
func (s *Server) ownedJob(w http.ResponseWriter, r *http.Request, owner string) (job.Job, bool) {
	id := r.PathValue("id")
	if !events.ValidJobID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no job "+strconv.Quote(id))
		return job.Job{}, false
	}
	j, err := s.Store.Get(r.Context(), id)
	if !s.checkOwned(w, r, owner, id, j, err) {
		return job.Job{}, false
	}
	return j, true
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, owner string) {
	limit := DefaultListLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit must be 1..%d", MaxListLimit))
			return
		}
		limit = n
	}
	if vl, ok := s.Store.(VersionedLister); ok {
		s.listJobsVersioned(w, r, owner, limit, vl)
		return
	}
	js, next, err := s.Store.List(r.Context(), owner, limit, r.URL.Query().Get("cursor"))
	if errors.Is(err, job.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "bad_request", "the cursor is not one this API returned; list again from the start")
		return
	}
	if err != nil {
		s.unavailable(w, r, "list jobs", err)
		return
	}
	views := make([]JobView, 0, len(js))
	for _, j := range js {
		v, err := s.view(r.Context(), j)
		if err != nil {
			s.internal(w, r, "view job", err)
			return
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, JobList{Jobs: views, Next: next})
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request, owner string) {
	j, ok := s.ownedJob(w, r, owner)
	if !ok {
		return
	}
	// The tombstone first, then the objects: a stage that writes an
	// object after the purge below announces it after the tombstone
	// stands, and the status stage clears it (pipeline.Status). The other
	// order would leave what is written between the two.
	if err := s.Store.Delete(r.Context(), j.ID); err != nil {
		s.unavailable(w, r, "delete job", err)
		return
	}
	for _, p := range events.JobFolders(j.ID) {
		objs, err := s.Blobs.List(r.Context(), p)
		if err != nil {
			s.unavailable(w, r, "list "+p, err)
			return
		}
		for _, o := range objs {
			if err := s.Blobs.Delete(r.Context(), o.Key); err != nil {
				s.unavailable(w, r, "delete "+o.Key, err)
				return
			}
		}
		// What is not an object yet (a partial upload's temporary file)
		// goes too, where the storage can tell.
		if pr, ok := s.Blobs.(PrefixRemover); ok {
			if err := pr.RemovePrefix(r.Context(), p); err != nil {
				s.unavailable(w, r, "remove "+p, err)
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// PrefixRemover is a Blobs that can also remove what lies under a prefix
// without being an object yet (a partial upload's temporary file); the
// delete handler uses it where the storage has it.
type PrefixRemover interface {
	RemovePrefix(ctx context.Context, prefix string) error
}

// renewRequest is the body of POST /api/jobs/{id}/upload.
type renewRequest struct {
	Bytes int64 `json:"bytes"`
}

// renewUpload signs a new upload URL for a job still waiting for its
// file: a link that expired, or died with a server's secret.
func (s *Server) renewUpload(w http.ResponseWriter, r *http.Request, owner string) {
	j, ok := s.ownedJob(w, r, owner)
	if !ok {
		return
	}
	if !jsonBody(w, r) {
		return
	}
	var req renewRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be JSON {\"bytes\": N}")
		return
	}
	if req.Bytes <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "bytes must be the file's size, greater than 0")
		return
	}
	if req.Bytes > s.maxUpload() {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the file is %s; the limit is %s", humanBytes(req.Bytes), humanBytes(s.maxUpload())))
		return
	}
	if j.Status != job.Created || j.UploadKey == "" {
		writeError(w, http.StatusConflict, "conflict", "the job has its file already; start a new job to send another")
		return
	}
	up, err := s.Signer.SignUpload(r.Context(), j.UploadKey, req.Bytes, s.now().Add(s.ttl()))
	if err != nil {
		s.internal(w, r, "sign upload", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"upload": up})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	comps := map[string]string{}
	status, code := "ok", http.StatusOK
	if s.Health != nil {
		for name, err := range s.Health(r.Context()) {
			comps[name] = "ok"
			if err != nil {
				// The reason is logged, not shown: it names files and hosts.
				s.log().WarnContext(r.Context(), "api: health", "component", name, "err", err)
				comps[name] = "unavailable"
				status, code = "degraded", http.StatusServiceUnavailable
			}
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "components": comps})
}

// internal answers 500 for a fault of ours; what and err are logged, never
// shown (they name keys, files and hosts).
func (s *Server) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log().ErrorContext(r.Context(), "api: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "something went wrong on our side; try again")
}

// RetryAfterSeconds is the Retry-After of a 503.
const RetryAfterSeconds = 5

// unavailable answers 503 with Retry-After for a failure of the store or
// the bucket, which a client should retry; what and err are logged only.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log().ErrorContext(r.Context(), "api: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	writeError(w, http.StatusServiceUnavailable, "unavailable", "storage is not answering; try again in a few seconds")
}

// NewJobID returns a random id that sorts by creation time: 10 characters
// of milliseconds and 16 of randomness, in base32hex (lower case), whose order is the byte order.
func NewJobID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", err
	}
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = errCode, msg
	writeJSON(w, code, b)
}
