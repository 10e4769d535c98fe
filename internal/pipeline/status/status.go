// Package status is the pipeline's status stage: it keeps the job records
// from the pipeline's events and sweeps the jobs stuck past their
// deadlines. It is a package of its own, over ports and the manifest's
// types only, so that the status Lambda links none of the imaging code
// the other stages need; internal/pipeline re-exports it.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export/manifest"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline/dispatch"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/timing"
)

// Deadlines say how long a job may stay in each unfinished status before
// the sweep fails it. Zero fields take DefaultDeadlines' values.
type Deadlines struct {
	Created    time.Duration // waiting for the upload
	Accepted   time.Duration // waiting for the segmenter to start
	Segmenting time.Duration // including a GPU endpoint's cold start
	Meshing    time.Duration
}

// DefaultDeadlines returns the sweep's default deadlines, derived in
// package timing from the stages' timeouts, attempts and backoff, so that
// a stage always gives up on its own (with its own error) first.
func DefaultDeadlines() Deadlines {
	d := timing.StuckAfter()
	return Deadlines{Created: d.Created, Accepted: d.Accepted, Segmenting: d.Segmenting, Meshing: d.Meshing}
}

func (d Deadlines) withDefaults() Deadlines {
	def := DefaultDeadlines()
	for _, p := range []struct{ v, def *time.Duration }{
		{&d.Created, &def.Created}, {&d.Accepted, &def.Accepted},
		{&d.Segmenting, &def.Segmenting}, {&d.Meshing, &def.Meshing},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return d
}

// stuck describes a job stuck in status s: its deadline, the stage that
// failed to act, and what the person should know.
func (d Deadlines) stuck(s job.Status) (time.Duration, string, string) {
	switch s {
	case job.Created:
		return d.Created, stage.Upload, fmt.Sprintf("The job was stuck in %s: no upload arrived within %s. Create a new job and upload the scan again.", s, stage.DurationText(d.Created))
	case job.Accepted:
		return d.Accepted, dispatch.Stage, fmt.Sprintf("The job was stuck in %s for more than %s: the segmentation did not start. Try again.", s, stage.DurationText(d.Accepted))
	case job.Segmenting:
		return d.Segmenting, stage.Segmentation, fmt.Sprintf("The job was stuck in %s for more than %s: the segmentation did not finish. Try again.", s, stage.DurationText(d.Segmenting))
	case job.Meshing:
		return d.Meshing, stage.Mesher, fmt.Sprintf("The job was stuck in %s for more than %s: the 3D models were not made. Try again.", s, stage.DurationText(d.Meshing))
	}
	return 0, "", ""
}

// Status keeps the job records (Dispatch writes only its claim on a
// segmentation, ports.Store.Claim). It applies the
// pipeline's events as conditional, monotonic updates (ports.Store.Advance),
// so a stale or duplicate event is a no-op, and any order of delivery
// ends in the same state, failures and "done" aside: whichever of those
// comes first is final.
//
// An event for a deleted job (job.ErrDeleted: its tombstone stands) is a
// late output of a job deleted while it ran: every object under every
// prefix of the job is deleted (events.JobFolders), and the event ends
// there, with no error for the platform to retry or dead-letter.
//
// An event for a job without a record is returned as an error wrapping
// job.ErrNotFound (the platform redelivers it) for OrphanGrace after it was
// emitted, since for a dropped file the record is created from "Job
// Accepted" or "Job Rejected", which may come later; after that it is
// logged and dropped. Likewise a progress event that overtakes "Job
// Accepted" is returned (wrapping ErrEarly) so that the input facts are
// recorded; after OrphanGrace it is applied anyway.
type Status struct {
	Store ports.Store
	Blobs ports.Blobs
	Now   ports.Clock
	Log   *slog.Logger
	// DropOwner owns the jobs of files dropped into uploads/ without a
	// job folder (no API call made them).
	DropOwner string
	// Deadlines are the sweep's; zero fields mean DefaultDeadlines'.
	Deadlines Deadlines
	// OrphanGrace: see above; 0 means stage.DefaultOrphanGrace.
	OrphanGrace time.Duration
	// Rates price a job's usage (job.Usage: its stage times, GPU seconds
	// and estimated cost) when it ends; nil prices it at zero, as
	// iris serve does.
	Rates *job.Rates
}

// Handle applies one event. Unknown events are logged and ignored.
func (s *Status) Handle(ctx context.Context, ev events.Event) error {
	switch {
	case ev.Source == events.Source:
		return s.pipelineEvent(ctx, ev)
	case ev.Source == events.SourceS3 && ev.DetailType == events.ObjectCreated:
		return s.objectCreated(ctx, ev)
	case ev.Source == events.SourceSchedule && ev.DetailType == events.ScheduledEvent:
		_, err := s.Sweep(ctx)
		return err
	}
	s.log().Info("status: ignoring event", "event", ev.ID, "source", ev.Source, "detailType", ev.DetailType)
	return nil
}

func (s *Status) log() *slog.Logger { return stage.LogOr(s.Log).With("stage", "status") }

func (s *Status) pipelineEvent(ctx context.Context, ev events.Event) error {
	switch ev.DetailType {
	case events.JobAccepted:
		var d events.Accepted
		if err := s.decode(ev, &d); err != nil {
			return nil
		}
		input := d.Input
		u := job.Update{Status: job.Accepted, Input: &input}
		if input.Kind == events.KindLabelMap {
			u.Engine = stage.NoEngine // the upload is the segmentation
		}
		return s.createAndAdvance(ctx, ev, d.JobID, u)
	case events.JobRejected:
		var d events.Failure
		if err := s.decode(ev, &d); err != nil {
			return nil
		}
		return s.createAndAdvance(ctx, ev, d.JobID, job.Update{Status: job.Failed, Error: jobError(d)})
	case events.SegmentationStarted:
		var d events.Started
		if err := s.decode(ev, &d); err != nil {
			return nil
		}
		return s.advance(ctx, ev, d.JobID, job.Update{Status: job.Segmenting,
			OutputLocation: d.OutputLocation, FailureLocation: d.FailureLocation, Engine: d.Engine})
	case events.MeshesReady:
		var d events.Ready
		if err := s.decode(ev, &d); err != nil {
			return nil
		}
		return s.meshesReady(ctx, ev, d)
	case events.JobFailed:
		var d events.Failure
		if err := s.decode(ev, &d); err != nil {
			return nil
		}
		return s.advance(ctx, ev, d.JobID, job.Update{Status: job.Failed, Error: jobError(d)})
	}
	s.log().Info("status: ignoring event", "event", ev.ID, "detailType", ev.DetailType)
	return nil
}

// decode decodes ev's detail into v and checks its job id. A detail that
// cannot be used is logged; the caller drops the event.
func (s *Status) decode(ev events.Event, v any) error {
	err := ev.DecodeDetail(v)
	if err == nil {
		if id := detailJobID(v); !events.ValidJobID(id) {
			err = fmt.Errorf("event %s: invalid job id %q", ev.ID, id)
		}
	}
	if err != nil {
		s.log().Error("status: dropping malformed event", "event", ev.ID, "detailType", ev.DetailType, "err", err)
	}
	return err
}

func detailJobID(v any) string {
	switch d := v.(type) {
	case *events.Accepted:
		return d.JobID
	case *events.Failure:
		return d.JobID
	case *events.Started:
		return d.JobID
	case *events.Ready:
		return d.JobID
	}
	return ""
}

func jobError(f events.Failure) *job.Error {
	return &job.Error{Stage: f.Stage, Code: f.Code, Message: f.Message}
}

// at is when ev happened, for the record's stage times: its own time, or
// now when it has none or claims the future.
func (s *Status) at(ev events.Event) time.Time {
	now := stage.NowOr(s.Now)
	if ev.Time.IsZero() || ev.Time.After(now) {
		return now
	}
	return ev.Time.UTC()
}

// createAndAdvance creates the record of a dropped file's job (a no-op
// for a job the API made) and applies u.
func (s *Status) createAndAdvance(ctx context.Context, ev events.Event, id string, u job.Update) error {
	at := s.at(ev)
	j := job.Job{ID: id, Owner: s.DropOwner, Status: job.Created, CreatedAt: at, UpdatedAt: at, Stages: map[job.Status]time.Time{job.Created: at}}
	created, err := s.Store.Create(ctx, j)
	if err != nil {
		return fmt.Errorf("create job %s: %w", id, err)
	}
	if created {
		s.log().Info("status: created the record of a dropped file's job", "job", id, "owner", s.DropOwner)
	}
	return s.advance(ctx, ev, id, u)
}

// advance applies u at the event's time. A stale or duplicate update is
// not an error.
func (s *Status) advance(ctx context.Context, ev events.Event, id string, u job.Update) error {
	u.At = s.at(ev)
	u.Rates = s.Rates
	log := s.log().With("job", id, "event", ev.ID, "detailType", ev.DetailType)
	if u.Status.Rank() > job.Accepted.Rank() && (u.Error == nil || u.Error.Stage != stage.Ingest) {
		if err := s.awaitAccepted(ctx, ev, id); err != nil {
			return err
		}
	}
	applied, err := s.Store.Advance(ctx, id, u)
	if errors.Is(err, job.ErrNotFound) {
		return s.orphan(ctx, ev, id, err)
	}
	if err != nil {
		return fmt.Errorf("advance job %s to %s: %w", id, u.Status, err)
	}
	if applied {
		// The stack's metric filters count these lines by status and
		// failure code (infra/alarms.go).
		attrs := []any{"status", u.Status}
		if u.Error != nil {
			attrs = append(attrs, "code", u.Error.Code)
		}
		log.Info("status: advanced", attrs...)
	} else {
		log.Debug("status: stale or duplicate update; no-op", "status", u.Status)
	}
	return nil
}

// awaitAccepted asks for a redelivery of an event of a later stage that
// overtook the job's "Job Accepted": applied first, it would move the job
// past accepted and the input facts that "Job Accepted" carries would
// never be recorded. After OrphanGrace the event is applied anyway.
func (s *Status) awaitAccepted(ctx context.Context, ev events.Event, id string) error {
	j, err := s.Store.Get(ctx, id)
	if errors.Is(err, job.ErrNotFound) {
		return s.orphan(ctx, ev, id, err)
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", id, err)
	}
	if j.Status == job.Created && !stage.Orphaned(ev, stage.NowOr(s.Now), s.OrphanGrace) {
		return fmt.Errorf("status: event %s (%s) for job %s came before Job Accepted: %w", ev.ID, ev.DetailType, id, ErrEarly)
	}
	return nil
}

// ErrEarly is wrapped by Status.Handle's error for an event that must wait
// for an earlier one (the platform redelivers it).
var ErrEarly = stage.ErrEarly

// orphan handles an event for a job without a record: for a deleted job
// it clears the job's objects; otherwise it is retried while young,
// dropped when old.
func (s *Status) orphan(ctx context.Context, ev events.Event, id string, err error) error {
	if errors.Is(err, job.ErrDeleted) {
		s.log().Info("status: event of a deleted job; deleting what it left", "job", id, "event", ev.ID, "detailType", ev.DetailType)
		return stage.Purge(ctx, s.Blobs, id, events.JobFolders(id)...)
	}
	if stage.Orphaned(ev, stage.NowOr(s.Now), s.OrphanGrace) {
		s.log().Warn("status: dropping event for a job with no record", "job", id, "event", ev.ID, "detailType", ev.DetailType)
		return nil
	}
	return fmt.Errorf("status: event %s (%s) for job %s: %w", ev.ID, ev.DetailType, id, err)
}

// meshesReady reads the manifest and finishes the job with its organs and
// artifacts.
func (s *Status) meshesReady(ctx context.Context, ev events.Event, d events.Ready) error {
	log := s.log().With("job", d.JobID, "event", ev.ID)
	j, err := s.Store.Get(ctx, d.JobID)
	if errors.Is(err, job.ErrNotFound) {
		return s.orphan(ctx, ev, d.JobID, err)
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", d.JobID, err)
	}
	if !job.CanMove(j.Status, job.Done) {
		log.Debug("status: job already finished; no-op", "status", j.Status)
		return nil
	}
	key := events.ManifestKey(d.JobID)
	man, err := stage.ReadManifest(ctx, s.Blobs, key)
	if stage.Missing(err) {
		log.Warn("status: Meshes Ready but no manifest; ignoring", "key", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", d.JobID, err)
	}
	artifacts, err := s.artifacts(ctx, d.JobID, man)
	if err != nil {
		return err
	}
	return s.advance(ctx, ev, d.JobID, job.Update{Status: job.Done, Organs: organs(man), Artifacts: artifacts})
}

func organs(m *manifest.Manifest) []job.Organ {
	out := make([]job.Organ, 0, len(m.Organs))
	for _, o := range m.Organs {
		out = append(out, job.Organ{
			Label:          int(o.Label),
			Name:           o.Name,
			DisplayName:    o.DisplayName,
			System:         o.System,
			Color:          o.Color,
			VoxelCount:     o.VoxelCount,
			VolumeMl:       o.VoxelVolumeMl,
			MeshVolumeMl:   o.MeshVolumeMl,
			SurfaceAreaCm2: o.SurfaceAreaCm2,
			Triangles:      o.Triangles,
			TouchesBorder:  o.TouchesBorder,
		})
	}
	return out
}

// artifacts lists the set's files with their stored sizes, manifest
// included. A file the manifest names but the bucket lacks is left out.
func (s *Status) artifacts(ctx context.Context, id string, m *manifest.Manifest) ([]job.Artifact, error) {
	names := make([]string, 0, len(m.Files)+1)
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	names = append(names, manifest.FileName)
	out := make([]job.Artifact, 0, len(names))
	for _, name := range names {
		key := events.ResultsPrefix(id) + name
		info, err := s.Blobs.Head(ctx, key)
		if stage.Missing(err) {
			s.log().Warn("status: manifest names a missing file", "job", id, "key", key)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("head %s: %w", key, err)
		}
		out = append(out, job.Artifact{Name: name, Key: key, Bytes: info.Size})
	}
	return out, nil
}

// objectCreated applies the arrival of a label map (meshing starts) or of
// a segmentation failure.
func (s *Status) objectCreated(ctx context.Context, ev events.Event) error {
	_, key, err := stage.ObjectCreated(ev)
	if err != nil {
		s.log().Warn("status: ignoring event", "event", ev.ID, "err", err)
		return nil
	}
	if key.Prefix != events.PrefixSegmentations && key.Prefix != events.PrefixSegmentationFailures {
		return nil
	}
	k := key.Prefix + key.JobID + "/" + key.Rest
	j, err := s.Store.Get(ctx, key.JobID)
	if errors.Is(err, job.ErrNotFound) {
		return s.orphan(ctx, ev, key.JobID, err)
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key.JobID, err)
	}
	if key.Prefix == events.PrefixSegmentations {
		if !stage.IsSegmentationOf(j.OutputLocation, j.ID, k) {
			s.log().Warn("status: not the job's segmentation output; ignoring", "job", j.ID, "key", k, "outputLocation", j.OutputLocation)
			return nil
		}
		return s.advance(ctx, ev, j.ID, job.Update{Status: job.Meshing})
	}
	if j.FailureLocation != "" && stage.LocationKey(j.FailureLocation) != k {
		s.log().Warn("status: not the job's segmentation failure; ignoring", "job", j.ID, "key", k, "failureLocation", j.FailureLocation)
		return nil
	}
	if j.Status.Terminal() {
		return nil
	}
	body, err := readHead(ctx, s.Blobs, k, 64<<10)
	if err != nil && !stage.Missing(err) {
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	code, msg := parseFailure(body)
	return s.advance(ctx, ev, j.ID, job.Update{Status: job.Failed, Error: &job.Error{Stage: stage.Segmentation, Code: code, Message: msg}})
}

// readHead reads at most n bytes of an object.
func readHead(ctx context.Context, blobs ports.Blobs, key string, n int64) ([]byte, error) {
	rc, _, err := blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, n))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

var codeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// maxMessage caps a failure message taken from a segmenter's output.
const maxMessage = 1000

// parseFailure reads a segmenter's error output: our gpuworker's JSON
// {"error": {"code", "message"}}, a JSON object with a "message" (and
// perhaps "code") as model servers write, or plain text.
func parseFailure(body []byte) (code, message string) {
	var doc struct {
		Error   json.RawMessage `json:"error"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	code = stage.CodeSegmentationFailed
	if json.Unmarshal(body, &doc) == nil {
		var inner struct{ Code, Message string }
		var str string
		switch {
		case json.Unmarshal(doc.Error, &inner) == nil && inner.Message != "":
			doc.Code, doc.Message = inner.Code, inner.Message
		case json.Unmarshal(doc.Error, &str) == nil && str != "":
			doc.Message = str
		}
		if c := strings.ToLower(strings.TrimSpace(doc.Code)); codeRe.MatchString(c) {
			code = c
		}
		if m := strings.TrimSpace(doc.Message); m != "" {
			return code, truncate(m)
		}
	}
	if text == "" {
		return code, "The segmentation failed without saying why. Try again; if it fails again, report the job id."
	}
	return code, truncate("The segmentation failed: " + text)
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Sweep fails the jobs stuck in an unfinished status past its deadline
// and returns how many it failed. A job that moved on meanwhile is
// left alone by the store's monotonic update unless it is failed anyway
// (failed outranks every unfinished status).
func (s *Status) Sweep(ctx context.Context) (int, error) {
	now := stage.NowOr(s.Now)
	dl := s.Deadlines.withDefaults()
	shortest := min(dl.Created, dl.Accepted, dl.Segmenting, dl.Meshing)
	js, err := s.Store.Unfinished(ctx, now.Add(-shortest))
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	var n int
	var errs []error
	for _, j := range js {
		d, failedStage, msg := dl.stuck(j.Status)
		if d == 0 || !j.UpdatedAt.Before(now.Add(-d)) {
			continue
		}
		u := job.Update{Status: job.Failed, At: now, Error: &job.Error{Stage: failedStage, Code: stage.CodeTimeout, Message: msg}, Rates: s.Rates}
		applied, err := s.Store.Advance(ctx, j.ID, u)
		if err != nil && !errors.Is(err, job.ErrNotFound) {
			errs = append(errs, fmt.Errorf("sweep job %s: %w", j.ID, err))
			continue
		}
		if applied {
			n++
			s.log().Warn("status: failed a stuck job", "job", j.ID, "was", j.Status, "since", j.UpdatedAt, "status", job.Failed, "code", stage.CodeTimeout)
		}
	}
	return n, errors.Join(errs...)
}
