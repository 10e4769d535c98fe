package mesher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
)

// Export failure codes (error.json of an export).
const (
	CodeExportNotReady = "not_ready"    // the job has no models (yet)
	CodeExportEmpty    = "export_empty" // the chosen organs have no surface
)

// HandleExport makes a print export (events.ExportRequest): the job's
// label map, as the mesher stored it with its models, meshed again with
// the request's settings (pieces dropped first, with mesh.DropPieces),
// written as a set of its own under results/{job}/exports/{export}/ —
// scene.glb, an STL per organ, the manifest and printpack.zip — and,
// last, export.json. What cannot be made is recorded in error.json. The
// job's first set is never touched. Like Handle, it returns an error only
// for what a redelivery may cure; a finished export is not made again.
func (m *Mesher) HandleExport(ctx context.Context, req events.ExportRequest) error {
	id, eid := req.JobID, req.ExportID
	prefix := events.ExportPrefix(id, eid)
	log := stage.LogOr(m.Log).With("stage", stage.Mesher, "job", id, "export", eid)
	j, err := m.Store.Get(ctx, id)
	if errors.Is(err, job.ErrDeleted) {
		log.Info("mesher: export of a deleted job; deleting what is left of its models")
		return stage.Purge(ctx, m.Blobs, id, events.ResultsPrefix(id))
	}
	if errors.Is(err, job.ErrNotFound) {
		log.Warn("mesher: export of a job with no record; dropping it")
		return nil
	}
	if err != nil {
		return fmt.Errorf("export %s of job %s: %w", eid, id, err)
	}
	for _, f := range []string{events.ExportDoneFile, events.ExportErrorFile} {
		if ok, err := stage.Exists(ctx, m.Blobs, prefix+f); err != nil || ok {
			if ok {
				log.Info("mesher: export already finished")
			}
			return err
		}
	}
	if j.Status != job.Done {
		return m.exportFailed(ctx, log, id, eid, CodeExportNotReady, "The job has no 3D models yet; export once it is done.")
	}
	dir, err := os.MkdirTemp(m.TempDir, "iris-export-*")
	if err != nil {
		return fmt.Errorf("export %s of job %s: %w", eid, id, err)
	}
	defer os.RemoveAll(dir)
	done, files, err := m.buildExport(ctx, j, req, dir)
	var f *failure
	switch {
	case errors.As(err, &f):
		return m.exportFailed(ctx, log, id, eid, f.code, f.message)
	case stage.Missing(err):
		return m.exportFailed(ctx, log, id, eid, CodeExportNotReady, "The job's label map is gone; upload the scan again.")
	case err != nil:
		return fmt.Errorf("export %s of job %s: %w", eid, id, err)
	}
	for _, name := range files {
		if err := stage.PutFile(ctx, m.Blobs, prefix+name, filepath.Join(dir, "set", filepath.FromSlash(name)), contentType(name)); err != nil {
			return fmt.Errorf("export %s of job %s: %w", eid, id, err)
		}
	}
	if err := m.putJSON(ctx, prefix+events.ExportDoneFile, done); err != nil {
		return fmt.Errorf("export %s of job %s: %w", eid, id, err)
	}
	log.Info("mesher: export made", "organs", len(done.Organs), "files", len(files))
	return nil
}

// buildExport meshes the job's label map with req's settings into
// dir/set, print pack included, and returns export.json and the set's
// files in upload order (the manifest last).
func (m *Mesher) buildExport(ctx context.Context, j job.Job, req events.ExportRequest, dir string) (*events.ExportDone, []string, error) {
	st := req.Settings
	key := events.ResultsPrefix(j.ID) + export.LabelsFile
	lim := m.limits()
	f, _, err := stage.Spool(ctx, m.Blobs, key, dir, "labels-*.nii.gz", lim.Upload)
	if err != nil {
		return nil, nil, err
	}
	lm, err := readLabelMap(f, lim.Volume)
	f.Close()
	if err != nil {
		return nil, nil, &failure{CodeInvalidLabelMap, "The job's label map could not be read (" + err.Error() + "). Report the job id."}
	}
	names, values := labelNames(lm)
	table := labels.ForFile(names, values)
	rule := mesh.PieceRule{MinVolumeMl: st.MinPieceMl, LargestOnly: st.LargestPieceOnly}
	var pieces map[uint16]mesh.Pieces
	if !rule.Zero() {
		if lm, pieces, err = mesh.DropPieces(lm, rule); err != nil {
			return nil, nil, &failure{stage.CodeMeshFailed, "The pieces could not be sorted (" + err.Error() + ")."}
		}
	}
	opt := mesh.Options{Smooth: st.Smooth, MaxTriangles: st.MaxTriangles, Workers: runtime.GOMAXPROCS(0), MemoryBudget: meshBudget(lim, lm)}
	if len(st.Labels) > 0 {
		for _, l := range st.Labels {
			if slices.Contains(values, l) && !slices.Contains(opt.Labels, l) {
				opt.Labels = append(opt.Labels, l)
			}
		}
		if len(opt.Labels) == 0 {
			return nil, nil, &failure{CodeExportEmpty, "None of the chosen organs is in the label map. Choose organs the job found."}
		}
	}
	surfaces, err := mesh.Build(ctx, lm, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		return nil, nil, &failure{stage.CodeMeshFailed, "The surfaces could not be built with these settings (" + err.Error() + ")."}
	}
	if len(surfaces) == 0 {
		return nil, nil, &failure{CodeExportEmpty, "None of the chosen organs is in the label map. Choose organs the job found."}
	}
	created := stage.NowOr(m.Now)
	man, err := export.Write(filepath.Join(dir, "set"), export.Source{File: export.LabelsFile, LabelMap: lm, Segmentation: segmentationOf(j)}, surfaces, table, export.Options{
		Formats:      []export.Format{export.GLB, export.STL},
		Created:      created,
		Generator:    m.Generator,
		Smooth:       st.Smooth,
		Reduce:       mesh.DefaultOptions().Reduce,
		MaxTriangles: st.MaxTriangles,
	})
	if err != nil {
		return nil, nil, err
	}
	pack, err := os.Create(filepath.Join(dir, "set", export.PrintPackFile))
	if err != nil {
		return nil, nil, err
	}
	source := export.LabelsFile
	if j.Input != nil && j.Input.File != "" {
		source = j.Input.File
	}
	entries, err := export.WritePrintPack(pack, surfaces, table, export.PrintSettings{
		Smooth: st.Smooth, MaxTriangles: st.MaxTriangles, Reduce: mesh.DefaultOptions().Reduce,
		MinPieceMl: st.MinPieceMl, LargestPieceOnly: st.LargestPieceOnly, Pieces: pieces,
		Source: source, Made: created,
	})
	if cerr := pack.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	done := &events.ExportDone{PrintPack: export.PrintPackFile}
	for _, e := range entries {
		done.Organs = append(done.Organs, events.ExportOrgan{Label: e.Label, Name: e.Name, DisplayName: e.Display,
			File: e.File, Triangles: e.Triangles, Watertight: e.Watertight})
	}
	if pieces != nil {
		done.Pieces = map[string][2]int{}
		for l, p := range pieces {
			done.Pieces[strconv.Itoa(int(l))] = [2]int{p.Kept, p.Before}
		}
	}
	files := []string{export.PrintPackFile}
	for _, f := range man.Files {
		files = append(files, f.Name)
	}
	files = append(files, export.ManifestFile)
	done.Files = files
	return done, files, nil
}

func (m *Mesher) exportFailed(ctx context.Context, log *slog.Logger, id, eid, code, msg string) error {
	log.Info("mesher: export failed", "code", code, "message", msg)
	return m.putJSON(ctx, events.ExportPrefix(id, eid)+events.ExportErrorFile, events.ExportError{Code: code, Message: msg})
}

func (m *Mesher) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := m.Blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
