// Package export writes a model set: the organ surfaces of one label map as
// a glTF 2.0 binary scene (scene.glb), a Wavefront OBJ with its material
// library (scene.obj, scene.mtl), one binary STL per organ (stl/<name>.stl),
// a copy of the label map (labels.nii.gz) and manifest.json, which describes
// all of them.
//
// Coordinates: OBJ, STL and every number in the manifest are patient
// millimetres, RAS+ as in NIfTI and nibabel (+x toward the patient's right,
// +y anterior, +z superior). glTF fixes its own frame (metres, +Y up, the
// front of an asset facing +Z), so scene.glb holds the same surfaces rotated
// into it; see WriteGLB.
//
// Write makes each file atomically (a temporary file in the same folder,
// synced, then renamed) and writes manifest.json last, so the presence of
// the manifest means the set is complete. The package does not build or
// simplify meshes (package mesh does), decide label names or colours
// (package labels does) or encode NIfTI (package volume does).
//
// OBJ and STL are written by hand with bufio and strconv: they are trivial
// formats and a library would only add allocation. glTF is built with
// github.com/qmuntal/gltf.
package export

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iris-oculus/iris/internal/export/manifest"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/volume"
)

// Names of the files of a model set, relative to its folder (slash-separated).
const (
	ManifestFile = manifest.FileName
	GLBFile      = "scene.glb"
	OBJFile      = "scene.obj"
	MTLFile      = "scene.mtl"
	LabelsFile   = "labels.nii.gz"
	STLDir       = "stl"
)

// Format is a mesh file format of a model set: see manifest.Format.
type Format = manifest.Format

// The mesh formats Write knows.
const (
	GLB = manifest.GLB // scene.glb
	OBJ = manifest.OBJ // scene.obj + scene.mtl
	STL = manifest.STL // stl/<name>.stl, one per organ
)

// allFormats lists every Format in the order Write writes them.
var allFormats = []Format{GLB, OBJ, STL}

// ParseFormats parses a comma-separated list such as "glb,obj,stl". Case and
// spaces around items are ignored and duplicates dropped. An empty string
// gives nil, which Options reads as all formats.
func ParseFormats(s string) ([]Format, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Format
	for item := range strings.SplitSeq(s, ",") {
		f := Format(strings.ToLower(strings.TrimSpace(item)))
		switch {
		case f == "":
			return nil, fmt.Errorf("formats %q: empty item", s)
		case !slices.Contains(allFormats, f):
			return nil, fmt.Errorf("formats %q: unknown format %q (want glb, obj or stl)", s, item)
		case !slices.Contains(out, f):
			out = append(out, f)
		}
	}
	return out, nil
}

// Source is the label map the surfaces were built from.
type Source struct {
	File     string // name of the input file, recorded in the manifest (base name only)
	LabelMap *volume.LabelMap
	// Segmentation is recorded in the manifest (SourceInfo.Segmentation).
	Segmentation string
}

// Options control Write. The zero value writes every format, stamps the
// current time and records zero mesh options.
type Options struct {
	Formats []Format // nil = all
	// Created is recorded in the manifest; pass it for reproducible output.
	// Zero means now.
	Created   time.Time
	Generator string // recorded in the manifest and the GLB asset; "" means "iris"

	// The meshing options used, recorded in the manifest only.
	Smooth, Reduce float64
	MaxTriangles   int
}

// formats is the formats to write, each once, in the order given.
func (o Options) formats() []Format {
	if o.Formats == nil {
		return slices.Clone(allFormats)
	}
	var out []Format
	for _, f := range o.Formats {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func (o Options) generator() string {
	if o.Generator == "" {
		return "iris"
	}
	return o.Generator
}

// Write writes the model set of surfaces into dir, creating dir if needed,
// and returns the manifest it wrote. Surfaces without triangles get a
// manifest entry (their voxel statistics are real) but no geometry in any
// file. An existing manifest.json in dir is removed first, so a failed
// Write never leaves a manifest describing a mix of old and new files.
func Write(dir string, src Source, surfaces []mesh.Surface, table *labels.Table, opt Options) (*Manifest, error) {
	if err := checkInput(src, surfaces, table, opt); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("export: remove old manifest: %w", err)
	}
	m := newManifest(src, surfaces, table, opt)
	w := setWriter{dir: dir}
	for _, f := range opt.formats() {
		switch f {
		case GLB:
			w.file(GLBFile, func(out io.Writer) error { return writeGLB(out, surfaces, table, opt.generator()) })
		case OBJ:
			w.file(OBJFile, func(out io.Writer) error { return writeOBJ(out, MTLFile, surfaces, table) })
			w.file(MTLFile, func(out io.Writer) error { return writeMTL(out, surfaces, table) })
		case STL:
			w.stl(m, surfaces, table)
		}
	}
	w.labelMap(src.LabelMap, table)
	w.flush()
	if w.err != nil {
		return nil, fmt.Errorf("export %s: %w", dir, w.err)
	}
	m.Files = slices.Clone(w.files)
	w.syncDirs()
	w.file(ManifestFile, func(out io.Writer) error { return encodeManifest(m, out) })
	w.flush()
	w.syncDirs()
	if w.err != nil {
		return nil, fmt.Errorf("export %s: %w", dir, w.err)
	}
	return m, nil
}

// checkInput rejects, before anything is written, what would otherwise fail
// half way or produce a file a reader chokes on.
func checkInput(src Source, surfaces []mesh.Surface, table *labels.Table, opt Options) error {
	if src.LabelMap == nil {
		return errors.New("source has no label map")
	}
	if n := src.LabelMap.Len(); len(src.LabelMap.Data) != n {
		return fmt.Errorf("label map has %d voxels for a grid of %d", len(src.LabelMap.Data), n)
	}
	for _, f := range opt.Formats {
		if !slices.Contains(allFormats, f) {
			return fmt.Errorf("unknown format %q (want glb, obj or stl)", f)
		}
	}
	return checkSurfaces(surfaces)
}

// fileNames gives each surface the file name of its class, made unique:
// two classes may share one (labels.Class.FileName folds case and
// punctuation), and the later gets "_<label>" appended.
func fileNames(surfaces []mesh.Surface, table *labels.Table) []string {
	names := make([]string, len(surfaces))
	used := make(map[string]bool, len(surfaces))
	for i, s := range surfaces {
		n := table.Class(s.Label).FileName()
		for used[n] {
			n += "_" + strconv.Itoa(int(s.Label))
		}
		used[n] = true
		names[i] = n
	}
	return names
}

// checkSurfaces checks each mesh's array lengths, index range and numbers.
func checkSurfaces(surfaces []mesh.Surface) error {
	seen := make(map[uint16]bool, len(surfaces))
	for _, s := range surfaces {
		if seen[s.Label] {
			return fmt.Errorf("label %d: more than one surface", s.Label)
		}
		seen[s.Label] = true
		if err := checkSurface(s); err != nil {
			return fmt.Errorf("label %d: %w", s.Label, err)
		}
	}
	return nil
}

func checkSurface(s mesh.Surface) error {
	for _, v := range []float64{s.VoxelVolume, s.MeshVolume, s.SurfaceArea,
		s.BBoxMin[0], s.BBoxMin[1], s.BBoxMin[2], s.BBoxMax[0], s.BBoxMax[1], s.BBoxMax[2]} {
		if !finite(v) {
			return fmt.Errorf("statistics hold a non-finite number (%v)", v)
		}
	}
	m := s.Mesh
	if m == nil {
		return errors.New("nil mesh")
	}
	if len(m.Positions)%3 != 0 {
		return fmt.Errorf("%d position values, not a multiple of 3", len(m.Positions))
	}
	if m.Normals != nil && len(m.Normals) != len(m.Positions) {
		return fmt.Errorf("%d normal values for %d position values", len(m.Normals), len(m.Positions))
	}
	if len(m.Indices)%3 != 0 {
		return fmt.Errorf("%d indices, not a multiple of 3", len(m.Indices))
	}
	if len(m.Positions)/3 > math.MaxUint32 {
		return fmt.Errorf("%d vertices, more than a 32-bit index reaches", len(m.Positions)/3)
	}
	nv := uint32(len(m.Positions) / 3)
	for i, ix := range m.Indices {
		if ix >= nv {
			return fmt.Errorf("index %d at %d is out of range (%d vertices)", ix, i, nv)
		}
	}
	if i := nonFinite(m.Positions); i >= 0 {
		return fmt.Errorf("position value %d is %v", i, m.Positions[i])
	}
	if i := nonFinite(m.Normals); i >= 0 {
		return fmt.Errorf("normal value %d is %v", i, m.Normals[i])
	}
	return nil
}

// nonFinite returns the index of the first NaN or infinity in s, or -1.
// It tests the exponent bits: a float32 is NaN or infinite when all are set.
func nonFinite(s []float32) int {
	const exp = 0x7f800000
	for i, v := range s {
		if math.Float32bits(v)&exp == exp {
			return i
		}
	}
	return -1
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// setWriter writes the files of one set. file queues a file and flush
// writes those queued, several at once (the encoders, hashing and syncs of
// a set's files are independent, and a set's writing was otherwise one
// core's work after meshing had used them all), recording them in the
// order queued whatever the order they finish in. After an error it starts
// no more files and keeps the first error in queue order.
type setWriter struct {
	dir     string
	files   []File
	dirs    []string // folders holding renamed files, to sync
	err     error
	pending []pendingFile
}

type pendingFile struct {
	name  string
	write func(io.Writer) error
}

// file queues name (slash-separated, relative to dir) to be written
// atomically by the next flush.
func (w *setWriter) file(name string, write func(io.Writer) error) {
	if w.err != nil {
		return
	}
	w.pending = append(w.pending, pendingFile{name, write})
}

// flush writes the queued files on up to GOMAXPROCS goroutines.
func (w *setWriter) flush() {
	jobs := w.pending
	w.pending = nil
	if w.err != nil || len(jobs) == 0 {
		return
	}
	done := make([]File, len(jobs))
	errs := make([]error, len(jobs))
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			// A file taken is written: only files not yet taken are
			// skipped after an error.
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				f, err := writeAtomic(filepath.Join(w.dir, filepath.FromSlash(j.name)), j.write)
				if err != nil {
					errs[i] = fmt.Errorf("write %s: %w", j.name, err)
					failed.Store(true)
					return
				}
				f.Name = j.name
				done[i] = f
			}
		})
	}
	wg.Wait()
	// Every error, not only one before the first file left unwritten: a
	// file after it may have failed first.
	for _, err := range errs {
		if err != nil {
			w.err = err
			return
		}
	}
	for _, f := range done {
		w.add(f)
	}
}

func (w *setWriter) add(f File) {
	w.files = append(w.files, f)
	d := filepath.Join(w.dir, filepath.FromSlash(path.Dir(f.Name)))
	if !slices.Contains(w.dirs, d) {
		w.dirs = append(w.dirs, d)
	}
}

func (w *setWriter) stl(m *Manifest, surfaces []mesh.Surface, table *labels.Table) {
	if w.err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Join(w.dir, STLDir), 0o755); err != nil {
		w.err = fmt.Errorf("create %s folder: %w", STLDir, err)
		return
	}
	files := fileNames(surfaces, table)
	for i, s := range surfaces {
		if s.Mesh.Triangles() == 0 {
			continue
		}
		c := table.Class(s.Label)
		name := STLDir + "/" + files[i] + ".stl"
		w.file(name, func(out io.Writer) error { return writeSTL(out, s.Mesh, c.Name) })
		m.Organs[i].Files.STL = name
	}
}

// labelMap writes labels.nii.gz with a Caret label table (the layout
// TotalSegmentator writes and reads) naming every class of the table and
// every value present, so names and colours travel with the voxels.
func (w *setWriter) labelMap(lm *volume.LabelMap, table *labels.Table) {
	if w.err != nil {
		return
	}
	out := *lm // shallow: only Extensions changes
	out.Extensions = withCaret(lm.Extensions, labels.Caret(caretClasses(lm, table)))
	// volume.WriteLabelMapFile is this writer made atomic; writeAtomic does
	// the same and hashes on the way. The bytes follow the name, as every
	// NIfTI file iris writes.
	format, err := volume.FormatOf(LabelsFile)
	if err != nil {
		w.err = err
		return
	}
	w.file(LabelsFile, func(dst io.Writer) error { return volume.WriteLabelMapAs(dst, &out, format) })
}

// caretClasses is the table's classes plus those of values present in lm
// that the table lacks, by value.
func caretClasses(lm *volume.LabelMap, table *labels.Table) []labels.Class {
	var present [1 << 16]bool
	for _, v := range lm.Data {
		present[v] = true
	}
	classes := table.Classes()
	for _, c := range classes {
		present[c.Value] = false
	}
	for v := 1; v < len(present); v++ {
		if present[v] {
			classes = append(classes, table.Class(uint16(v)))
		}
	}
	slices.SortFunc(classes, func(a, b labels.Class) int { return cmp.Compare(a.Value, b.Value) })
	return classes
}

// withCaret replaces any Caret label table among exts by caret. Caret's
// code (0) is not unique to it, so the content decides.
func withCaret(exts []volume.Extension, caret []byte) []volume.Extension {
	out := make([]volume.Extension, 0, len(exts)+1)
	for _, e := range exts {
		if !labels.IsCaret(e.Data) {
			out = append(out, e)
		}
	}
	return append(out, volume.Extension{Code: labels.CaretExtensionCode, Data: caret})
}

// syncDirs makes the renames done so far durable.
func (w *setWriter) syncDirs() {
	for _, d := range w.dirs {
		if w.err != nil {
			return
		}
		w.err = syncDir(d)
	}
	w.dirs = w.dirs[:0]
}

// writeAtomic writes name through a temporary file in the same folder,
// syncs it and renames it over name, so name is either absent, the old
// file or the whole new one. It returns the size and SHA-256 written.
func writeAtomic(name string, write func(io.Writer) error) (File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	err = write(cw)
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp makes 0600
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return File{}, err
	}
	return File{Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
