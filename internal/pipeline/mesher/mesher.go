package mesher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/volume"
)

// Mesher turns a label map into the job's model set. It consumes the mesh
// queue, whose messages are the S3 "Object Created" events of
// segmentations/{job}/…: it reads the label map, names its labels (from
// the file's Caret table, else TotalSegmentator's), meshes every label,
// writes the set with package export into a temporary folder and uploads
// it under results/{job}/ with manifest.json last, then emits "Meshes
// Ready". A label map that cannot be used gets "Job Failed".
//
// The label map must be the one the job's segmenter was asked for (see
// the job's OutputLocation): a stray file produces nothing. The label map
// of a deleted job is deleted, with any models of the job. A job whose
// manifest exists is finished: its "Meshes Ready" is emitted again and
// nothing is rebuilt, so duplicates cost one read. A crash before the
// manifest is uploaded leaves a partial set that the redelivery
// overwrites.
type Mesher struct {
	Store ports.Store // read only
	Blobs ports.Blobs
	Bus   ports.Bus
	Now   ports.Clock
	Log   *slog.Logger
	// Mesh are the meshing options; the zero value means
	// mesh.DefaultOptions().
	Mesh mesh.Options
	// Formats are the mesh formats written; nil means all.
	Formats []export.Format
	// Generator is recorded in the manifest; "" means "iris".
	Generator string
	// Limits bound the label map: its file at Limits.Upload, its decoded
	// voxels (from the header, before any voxel is read) at
	// Limits.Volume; over either the job fails as too_large, naming the
	// limit. The zero value means limits.Machine(): on Lambda the
	// function's memory, on one machine half of it. A label map has its
	// CT's dims and at most its bytes per voxel, so a CT that ingest
	// accepted on as much memory is meshed.
	Limits limits.Limits
	// MaxAttempts is the receive count at which a message that keeps
	// failing is given up, with "Job Failed"; set it to the queue's
	// maxReceiveCount. 0 means 5.
	MaxAttempts int
	// OrphanGrace: see stage.DefaultOrphanGrace; 0 means that.
	OrphanGrace time.Duration
	// TempDir holds the label map and the model set while they are worked
	// on; "" means os.TempDir().
	TempDir string
}

// HandleBatch handles a batch of mesh-queue messages with SQS partial-batch
// semantics: it returns the ids of the messages to redeliver. Malformed
// messages are logged and dropped. The error is always nil.
func (m *Mesher) HandleBatch(ctx context.Context, msgs []ports.Message) ([]string, error) {
	var failed []string
	for _, msg := range msgs {
		if err := m.handleMessage(ctx, msg); err != nil {
			failed = append(failed, msg.ID)
		}
	}
	return failed, nil
}

func (m *Mesher) handleMessage(ctx context.Context, msg ports.Message) error {
	log := stage.LogOr(m.Log).With("stage", stage.Mesher, "message", msg.ID, "attempt", msg.ReceiveCount)
	if req, ok, err := events.DecodeExportRequest(msg.Body); ok {
		return m.handleExportMessage(ctx, log, msg, req, err)
	}
	ev, err := stage.DecodeQueuedEvent(msg.Body)
	if err != nil {
		log.Error("mesher: dropping malformed message", "err", err)
		return nil
	}
	err = m.Handle(ctx, ev)
	if err == nil {
		return nil
	}
	var id string
	if _, k, kerr := stage.ObjectCreated(ev); kerr == nil {
		id = k.JobID
	}
	maxA := m.MaxAttempts
	if maxA <= 0 {
		maxA = stage.DefaultMaxAttempts
	}
	if msg.ReceiveCount < maxA || ctx.Err() != nil || id == "" || errors.Is(err, job.ErrNotFound) {
		log.Warn("mesher: failed; will retry", "job", id, "err", err)
		return err
	}
	log.Error("mesher: giving up", "job", id, "err", err)
	return m.fail(ctx, id, stage.CodeMeshFailed, "The 3D models could not be made ("+err.Error()+"). Try again later.")
}

// handleExportMessage runs a print export from the mesh queue, with the
// attempts of a mesh run; the last failed attempt is recorded as the
// export's error.
func (m *Mesher) handleExportMessage(ctx context.Context, log *slog.Logger, msg ports.Message, req events.ExportRequest, err error) error {
	if err != nil {
		log.Error("mesher: dropping malformed export request", "err", err)
		return nil
	}
	err = m.HandleExport(ctx, req)
	if err == nil {
		return nil
	}
	maxA := m.MaxAttempts
	if maxA <= 0 {
		maxA = stage.DefaultMaxAttempts
	}
	if msg.ReceiveCount < maxA || ctx.Err() != nil {
		log.Warn("mesher: export failed; will retry", "job", req.JobID, "export", req.ExportID, "err", err)
		return err
	}
	log.Error("mesher: giving up on an export", "job", req.JobID, "export", req.ExportID, "err", err)
	return m.exportFailed(ctx, log, req.JobID, req.ExportID, stage.CodeMeshFailed, "The print export could not be made. Try again later.")
}

// Handle meshes the label map an S3 "Object Created" event announces. It
// returns an error only for what a redelivery may cure; a label map that
// cannot be used fails the job and returns nil.
func (m *Mesher) Handle(ctx context.Context, ev events.Event) error {
	obj, key, err := stage.ObjectCreated(ev)
	if err != nil || key.Prefix != events.PrefixSegmentations {
		stage.LogOr(m.Log).Warn("mesher: ignoring event", "event", ev.ID, "detailType", ev.DetailType, "err", err, "key", key)
		return nil
	}
	id, k := key.JobID, obj.Object.Key
	log := stage.LogOr(m.Log).With("stage", stage.Mesher, "job", id, "key", k)
	j, err := m.Store.Get(ctx, id)
	if errors.Is(err, job.ErrDeleted) {
		// A label map that came after its job was deleted: clear it and
		// any models a run before the deletion left.
		log.Info("mesher: job deleted; deleting its label map and models")
		return stage.Purge(ctx, m.Blobs, id, events.PrefixSegmentations+id+"/", events.ResultsPrefix(id))
	}
	if errors.Is(err, job.ErrNotFound) && stage.Orphaned(ev, stage.NowOr(m.Now), m.OrphanGrace) {
		log.Warn("mesher: no such job; dropping the label map's event")
		return nil
	}
	if err != nil {
		return fmt.Errorf("mesh job %s: %w", id, err)
	}
	if !stage.IsSegmentationOf(j.OutputLocation, id, k) {
		log.Warn("mesher: not the job's segmentation output; ignoring", "outputLocation", j.OutputLocation)
		return nil
	}
	if j.Status == job.Failed {
		log.Info("mesher: job already failed; not meshing")
		return nil
	}
	if j.Status == job.Created {
		// An uploaded label map's job is announced just before its label
		// map is stored; the record says what the input was once the
		// announcement is applied.
		return fmt.Errorf("mesh job %s: the job is not accepted yet: %w", id, stage.ErrEarly)
	}
	man, err := stage.ReadManifest(ctx, m.Blobs, events.ManifestKey(id))
	switch {
	case err == nil:
		log.Info("mesher: model set already made; announcing again")
		return m.announce(ctx, id, man)
	case !stage.Missing(err):
		return fmt.Errorf("mesh job %s: %w", id, err)
	}
	return m.mesh(ctx, log, id, k, segmentationOf(j))
}

// segmentationOf says what made the job's label map, for the manifest.
func segmentationOf(j job.Job) string {
	if j.Input != nil && j.Input.Kind == events.KindLabelMap {
		return export.NoSegmentation
	}
	return j.Engine
}

// The mesher's own failure codes (with stage.CodeMeshFailed and
// stage.CodeTooLarge). They are stable: programs key on them.
const (
	CodeInvalidLabelMap   = "invalid_label_map"
	CodeEmptySegmentation = "empty_segmentation"
)

// failure is a problem with the label map itself: the job fails.
type failure struct{ code, message string }

func (f *failure) Error() string { return f.code + ": " + f.message }

func (m *Mesher) mesh(ctx context.Context, log *slog.Logger, id, key, segmentation string) error {
	dir, err := os.MkdirTemp(m.TempDir, "iris-mesh-*")
	if err != nil {
		return fmt.Errorf("mesh job %s: %w", id, err)
	}
	defer os.RemoveAll(dir)
	man, err := m.build(ctx, id, key, dir, segmentation)
	var f *failure
	switch {
	case errors.As(err, &f):
		log.Info("mesher: label map unusable; failing the job", "code", f.code, "message", f.message)
		return m.fail(ctx, id, f.code, f.message)
	case stage.Missing(err):
		log.Warn("mesher: label map gone; nothing to mesh")
		return nil
	case err != nil:
		return fmt.Errorf("mesh job %s: %w", id, err)
	}
	if err := m.upload(ctx, id, filepath.Join(dir, "set"), man); err != nil {
		return fmt.Errorf("mesh job %s: %w", id, err)
	}
	log.Info("mesher: model set uploaded", "organs", len(man.Organs), "files", len(man.Files)+1)
	return m.announce(ctx, id, man)
}

// build reads the label map, meshes it and writes the model set into
// dir/set. The label map and the surfaces live only in here, so they can
// be collected before the upload begins.
func (m *Mesher) build(ctx context.Context, id, key, dir, segmentation string) (*export.Manifest, error) {
	lim := m.limits()
	f, _, err := stage.Spool(ctx, m.Blobs, key, dir, "labels-*.nii.gz", lim.Upload)
	var big *stage.TooBig
	if errors.As(err, &big) {
		return nil, tooLarge(&limits.TooLarge{What: "the segmentation file", Need: big.Size, Limit: big.Max})
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The voxels' size, from the header, before any is read. A header
	// that cannot be read is left to readLabelMap to describe.
	if h, err := volume.ReadHeader(f); err == nil {
		var over *limits.TooLarge
		if errors.As(limits.Check("the segmentation's decoded voxels", int64(h.NumVoxels())*int64(h.Datatype.Size()), lim.Volume), &over) {
			return nil, tooLarge(over)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	lm, err := readLabelMap(f, lim.Volume)
	if err != nil {
		return nil, &failure{CodeInvalidLabelMap, "The segmentation could not be read as a label map (" + err.Error() + "). Try again; if it fails again, report the job id."}
	}
	names, values := labelNames(lm)
	if !anyLabel(values) {
		return nil, &failure{CodeEmptySegmentation, "The segmentation found no structures in this scan. Check that it is a CT of the neck, chest, abdomen or pelvis, and try again."}
	}
	table := labels.ForFile(names, values)
	opt, err := m.Mesh.Resolved() // the values used, for the manifest
	if opt.MemoryBudget == 0 {
		opt.MemoryBudget = meshBudget(lim, lm)
	}
	var surfaces []mesh.Surface
	if err == nil { // invalid options fail the job as Build would
		surfaces, err = mesh.Build(ctx, lm, opt)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, &failure{stage.CodeMeshFailed, "The organ surfaces could not be built from the segmentation (" + err.Error() + "). Report the job id."}
	}
	man, err := export.Write(filepath.Join(dir, "set"), export.Source{File: path.Base(key), LabelMap: lm, Segmentation: segmentation}, surfaces, table, export.Options{
		Formats:      m.Formats,
		Created:      stage.NowOr(m.Now),
		Generator:    m.Generator,
		Smooth:       opt.Smooth,
		Reduce:       opt.Reduce,
		MaxTriangles: opt.MaxTriangles,
	})
	if err != nil {
		return nil, err
	}
	return man, nil
}

// limits are m.Limits, or this machine's when unset.
func (m *Mesher) limits() limits.Limits {
	if m.Limits.Volume > 0 {
		return m.Limits
	}
	return limits.Machine()
}

// tooLarge fails a job whose label map is over a limit, naming it.
func tooLarge(over *limits.TooLarge) *failure {
	return &failure{stage.CodeTooLarge, "The segmentation is larger than this service can make models of (" + over.Error() + "). Try a scan with fewer or thicker slices."}
}

func readLabelMap(f *os.File, maxBytes int64) (*volume.LabelMap, error) {
	img, err := volume.Read(f, volume.ReadOptions{MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	return img.LabelMap()
}

// labelNames returns the file's own label names (its Caret table, as
// TotalSegmentator writes; nil without one or when it cannot be parsed)
// and the label values present.
func labelNames(lm *volume.LabelMap) (map[uint16]string, []uint16) {
	exts := make([][]byte, len(lm.Extensions))
	for i, e := range lm.Extensions {
		exts[i] = e.Data
	}
	names, err := labels.FileNames(exts...)
	if err != nil {
		names = nil
	}
	return names, labels.Present(lm.Data)
}

func anyLabel(values []uint16) bool { return len(values) > 0 }

// meshBudget is what a job's organs may hold while meshed side by side
// (mesh.Options.MemoryBudget): half of what the job may hold once the label
// map is in, the other half being the collector's headroom (a Go heap
// grows to twice what is live between collections) and the surfaces'
// export. On the Lambda's 3008 MB with a 512×512×600 map that is about
// 1.2 GB; mesh.Build never goes below its own budget, the biggest organ's
// working set and an eighth.
func meshBudget(lim limits.Limits, lm *volume.LabelMap) int64 {
	return max(0, (lim.Job-2*int64(len(lm.Data)))/2)
}

// upload puts every file of the set under results/{id}/, manifest.json
// last: its presence means the set is complete.
func (m *Mesher) upload(ctx context.Context, id, dir string, man *export.Manifest) error {
	names := make([]string, 0, len(man.Files)+1)
	for _, f := range man.Files {
		names = append(names, f.Name)
	}
	for _, name := range append(names, export.ManifestFile) {
		if err := stage.PutFile(ctx, m.Blobs, events.ResultsPrefix(id)+name, filepath.Join(dir, filepath.FromSlash(name)), contentType(name)); err != nil {
			return err
		}
	}
	return nil
}

// contentType names the media type of a result file, so that browsers
// and viewers handle downloads right.
func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".glb"):
		return "model/gltf-binary"
	case strings.HasSuffix(key, ".obj"):
		return "model/obj"
	case strings.HasSuffix(key, ".mtl"):
		return "model/mtl"
	case strings.HasSuffix(key, ".stl"):
		return "model/stl"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	case strings.HasSuffix(key, ".png"):
		return "image/png"
	case strings.HasSuffix(key, ".gz"):
		return "application/gzip"
	}
	return "application/octet-stream"
}

// announce emits "Meshes Ready" for the set man describes.
func (m *Mesher) announce(ctx context.Context, id string, man *export.Manifest) error {
	r := events.Ready{JobID: id, ManifestKey: events.ManifestKey(id), Organs: len(man.Organs)}
	for _, f := range man.Files {
		r.Artifacts = append(r.Artifacts, events.ResultsPrefix(id)+f.Name)
	}
	r.Artifacts = append(r.Artifacts, r.ManifestKey)
	return stage.Publish(ctx, m.Bus, stage.NowOr(m.Now), events.MeshesReady, id, r)
}

func (m *Mesher) fail(ctx context.Context, id, code, msg string) error {
	f := events.Failure{JobID: id, Stage: stage.Mesher, Code: code, Message: msg}
	return stage.Publish(ctx, m.Bus, stage.NowOr(m.Now), events.JobFailed, id, f)
}
