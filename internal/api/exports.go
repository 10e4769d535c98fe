package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
)

// MaxExportsPerJob caps a job's print exports: each is a mesh run.
const MaxExportsPerJob = 20

// Export statuses.
const (
	ExportQueued = "queued"
	ExportDone   = "done"
	ExportFailed = "failed"
)

// ExportView is a print export as the API shows it.
type ExportView struct {
	ID        string                `json:"id"`
	Status    string                `json:"status"`
	CreatedAt time.Time             `json:"createdAt"`
	Settings  events.ExportSettings `json:"settings"`
	Error     *events.ExportError   `json:"error,omitempty"`
	// Organs are the print pack's STLs, once done.
	Organs []events.ExportOrgan `json:"organs"`
	// Pieces: label → [kept, before], where pieces were dropped.
	Pieces map[string][2]int `json:"pieces,omitempty"`
	// PrintPack is the zip's download, once done.
	PrintPack *ArtifactView `json:"printPack,omitempty"`
	// Artifacts are every file of the export's set, once done.
	Artifacts []ArtifactView `json:"artifacts"`
}

// ExportList answers GET /api/jobs/{id}/exports, newest first.
type ExportList struct {
	Exports []ExportView `json:"exports"`
}

// createExport queues a print export of a finished job: POST
// /api/jobs/{id}/exports with events.ExportSettings. It answers 202 with
// the export, queued; GET /api/jobs/{id}/exports follows it.
func (s *Server) createExport(w http.ResponseWriter, r *http.Request, owner string) {
	j, ok := s.ownedJob(w, r, owner)
	if !ok {
		return
	}
	if s.Exports == nil {
		writeError(w, http.StatusNotImplemented, "not_supported", "print exports are not set up on this server")
		return
	}
	if !jsonBody(w, r) {
		return
	}
	var st events.ExportSettings
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request",
			`the body must be JSON {"smooth": 0..1, "maxTriangles": N, "minPieceMl": N, "largestPieceOnly": bool, "labels": [N, …]}`)
		return
	}
	if err := st.Check(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if j.Status != job.Done {
		writeError(w, http.StatusConflict, "not_ready", "the job has no 3D models yet; export once it is done")
		return
	}
	ids, err := s.exportIDs(r, j.ID)
	if err != nil {
		s.unavailable(w, r, "list exports", err)
		return
	}
	if len(ids) >= MaxExportsPerJob {
		writeError(w, http.StatusConflict, "too_many_exports", fmt.Sprintf("a job keeps at most %d print exports", MaxExportsPerJob))
		return
	}
	now := s.now()
	eid, err := NewJobID(now)
	if err != nil {
		s.internal(w, r, "make export id", err)
		return
	}
	rec := events.ExportRecord{ID: eid, CreatedAt: now.Format(time.RFC3339Nano), Settings: st}
	b, err := json.Marshal(rec)
	if err != nil {
		s.internal(w, r, "encode export", err)
		return
	}
	key := events.ExportPrefix(j.ID, eid) + events.ExportRequestFile
	if err := s.Blobs.Put(r.Context(), key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		s.unavailable(w, r, "put "+key, err)
		return
	}
	msg, err := json.Marshal(events.ExportRequest{Kind: events.KindExport, JobID: j.ID, ExportID: eid, Settings: st})
	if err != nil {
		s.internal(w, r, "encode export request", err)
		return
	}
	if err := s.Exports.Send(r.Context(), msg); err != nil {
		s.unavailable(w, r, "queue export", err)
		return
	}
	w.Header().Set("Location", "/api/jobs/"+j.ID+"/exports")
	writeJSON(w, http.StatusAccepted, ExportView{ID: eid, Status: ExportQueued, CreatedAt: now, Settings: st,
		Organs: []events.ExportOrgan{}, Artifacts: []ArtifactView{}})
}

// exportIDs lists the ids of a job's exports, from their request files.
func (s *Server) exportIDs(r *http.Request, id string) ([]string, error) {
	objs, err := s.Blobs.List(r.Context(), events.ExportsPrefix(id))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, events.ExportsPrefix(id))
		if eid, file, ok := strings.Cut(rest, "/"); ok && file == events.ExportRequestFile && events.ValidExportID(eid) {
			ids = append(ids, eid)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids) // ids sort by time: newest first
	return ids, nil
}

// listExports answers GET /api/jobs/{id}/exports.
func (s *Server) listExports(w http.ResponseWriter, r *http.Request, owner string) {
	j, ok := s.ownedJob(w, r, owner)
	if !ok {
		return
	}
	objs, err := s.Blobs.List(r.Context(), events.ExportsPrefix(j.ID))
	if err != nil {
		s.unavailable(w, r, "list exports", err)
		return
	}
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	ids, err := s.exportIDs(r, j.ID)
	if err != nil {
		s.unavailable(w, r, "list exports", err)
		return
	}
	out := ExportList{Exports: []ExportView{}}
	expires := s.now().Add(s.ttl())
	for _, eid := range ids {
		v, err := s.exportView(r, j.ID, eid, sizes, expires)
		if err != nil {
			s.unavailable(w, r, "read export "+eid, err)
			return
		}
		out.Exports = append(out.Exports, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) exportView(r *http.Request, id, eid string, sizes map[string]int64, expires time.Time) (ExportView, error) {
	prefix := events.ExportPrefix(id, eid)
	var rec events.ExportRecord
	if err := s.readJSON(r, prefix+events.ExportRequestFile, &rec); err != nil {
		return ExportView{}, err
	}
	v := ExportView{ID: eid, Status: ExportQueued, Settings: rec.Settings, Organs: []events.ExportOrgan{}, Artifacts: []ArtifactView{}}
	v.CreatedAt, _ = time.Parse(time.RFC3339Nano, rec.CreatedAt)
	if _, ok := sizes[prefix+events.ExportErrorFile]; ok {
		var e events.ExportError
		if err := s.readJSON(r, prefix+events.ExportErrorFile, &e); err != nil {
			return ExportView{}, err
		}
		v.Status, v.Error = ExportFailed, &e
		return v, nil
	}
	if _, ok := sizes[prefix+events.ExportDoneFile]; !ok {
		return v, nil
	}
	var done events.ExportDone
	if err := s.readJSON(r, prefix+events.ExportDoneFile, &done); err != nil {
		return ExportView{}, err
	}
	v.Status, v.Organs, v.Pieces = ExportDone, done.Organs, done.Pieces
	for _, name := range done.Files {
		key := prefix + name
		size, ok := sizes[key]
		if !ok {
			continue
		}
		url, err := s.Signer.SignDownload(r.Context(), key, path.Base(name), expires)
		if err != nil {
			return ExportView{}, fmt.Errorf("sign %s: %w", key, err)
		}
		a := ArtifactView{Name: name, URL: url, Bytes: size, ExpiresAt: expires}
		v.Artifacts = append(v.Artifacts, a)
		if name == done.PrintPack {
			v.PrintPack = &a
		}
	}
	return v, nil
}

// readJSON decodes a small JSON object of the bucket.
func (s *Server) readJSON(r *http.Request, key string, v any) error {
	rc, _, err := s.Blobs.Get(r.Context(), key)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}
