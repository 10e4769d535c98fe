package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func TestParseFormats(t *testing.T) {
	tests := []struct {
		in      string
		want    []Format
		wantErr string
	}{
		{"", nil, ""},
		{"glb,obj,stl", []Format{GLB, OBJ, STL}, ""},
		{" STL , glb ,stl", []Format{STL, GLB}, ""},
		{"obj", []Format{OBJ}, ""},
		{"glb,ply", nil, `unknown format "ply"`},
		{"glb,,obj", nil, "empty item"},
	}
	for _, tt := range tests {
		got, err := ParseFormats(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseFormats(%q) error %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseFormats(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// listFiles returns every file under dir, slash-separated and sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

var created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func TestWrite(t *testing.T) {
	surfaces := testSurfaces()
	surfaces[1].TouchesBorder = true
	empty := surfaceOf(7, &mesh.Mesh{}) // pancreas: voxels but no surface left
	empty.VoxelCount, empty.VoxelVolume = 3, 81
	surfaces = append(surfaces, empty)
	lm := testLabelMap(1, 5, 3, 7, 200) // 200 is in no table
	table := labels.TotalSegmentator()
	dir := filepath.Join(t.TempDir(), "results", "job1")
	opt := Options{Created: created, Generator: "iris test", Smooth: 0.5, Reduce: 0.8, MaxTriangles: 100000}

	m, err := Write(dir, Source{File: "/in/ct_seg.nii.gz", LabelMap: lm}, surfaces, table, opt)
	if err != nil {
		t.Fatal(err)
	}

	want := []string{"labels.nii.gz", "manifest.json", "scene.glb", "scene.mtl", "scene.obj",
		"stl/kidney_left.stl", "stl/liver.stl", "stl/spleen.stl"}
	if got := listFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (no temporary files)", got, want)
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: manifest says %d bytes %s, disk has %d bytes %x", f.Name, f.Bytes, f.SHA256, len(data), sum)
		}
	}
	if len(m.Files) != len(want)-1 {
		t.Errorf("manifest lists %d files, want %d (all but itself)", len(m.Files), len(want)-1)
	}

	back, err := ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("manifest read back differs:\n got %+v\nwant %+v", back, m)
	}

	if m.Schema != "1" || m.Generator != "iris test" || !m.Created.Equal(created) {
		t.Errorf("schema %q generator %q created %v", m.Schema, m.Generator, m.Created)
	}
	wantSource := SourceInfo{File: "ct_seg.nii.gz", Dims: lm.Dims, Spacing: [3]float64{3, 3, 3}, Orientation: "LAS", Affine: lm.Affine}
	if m.Source != wantSource {
		t.Errorf("source %+v, want %+v", m.Source, wantSource)
	}
	if m.Units != (Units{Length: "mm", Volume: "mL", Area: "cm2"}) {
		t.Errorf("units %+v", m.Units)
	}
	if o := m.Options; o.Smooth != 0.5 || o.Reduce != 0.8 || o.MaxTriangles != 100000 || !slices.Equal(o.Formats, allFormats) {
		t.Errorf("options %+v", o)
	}
	if len(m.Organs) != len(surfaces) {
		t.Fatalf("%d organs, want %d", len(m.Organs), len(surfaces))
	}
	for i, s := range surfaces {
		o, c := m.Organs[i], table.Class(s.Label)
		if o.Label != s.Label || o.Name != c.Name || o.DisplayName != c.Display || o.System != c.System || o.SNOMED != c.SNOMED || o.Color != hexColor(c.Color) {
			t.Errorf("organ %d: %+v, want class %+v", i, o, c)
		}
		if !strings.HasPrefix(o.Color, "#") || len(o.Color) != 7 {
			t.Errorf("%s: colour %q, want #rrggbb", o.Name, o.Color)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*max(1, math.Abs(b)) }
		if o.VoxelCount != s.VoxelCount || !near(o.VoxelVolumeMl, s.VoxelVolume/1000) || !near(o.MeshVolumeMl, s.MeshVolume/1000) || !near(o.SurfaceAreaCm2, s.SurfaceArea/100) {
			t.Errorf("%s: voxels %d, %.6f mL, mesh %.6f mL, %.6f cm²; want %d, %.6f, %.6f, %.6f", o.Name,
				o.VoxelCount, o.VoxelVolumeMl, o.MeshVolumeMl, o.SurfaceAreaCm2, s.VoxelCount, s.VoxelVolume/1000, s.MeshVolume/1000, s.SurfaceArea/100)
		}
		for a := range 3 {
			if !near(o.BBoxMm.Min[a], s.BBoxMin[a]) || !near(o.BBoxMm.Max[a], s.BBoxMax[a]) {
				t.Errorf("%s: bbox %v, want %v..%v", o.Name, o.BBoxMm, s.BBoxMin, s.BBoxMax)
			}
		}
		if o.Triangles != s.Mesh.Triangles() || o.TouchesBorder != s.TouchesBorder || o.Partial != s.TouchesBorder || (o.Note != "") != s.TouchesBorder {
			t.Errorf("%s: triangles %d, touches %v, partial %v, note %q", o.Name, o.Triangles, o.TouchesBorder, o.Partial, o.Note)
		}
		wantSTL := ""
		if s.Mesh.Triangles() > 0 {
			wantSTL = "stl/" + c.FileName() + ".stl"
		}
		if o.Files.STL != wantSTL {
			t.Errorf("%s: stl %q, want %q", o.Name, o.Files.STL, wantSTL)
		}
	}
	if m.Organs[1].MeshVolumeMl != 45000 { // the 500×300×300 mm box
		t.Errorf("liver box: %v mL, want 45000", m.Organs[1].MeshVolumeMl)
	}

	if s := validateGLB(t, filepath.Join(dir, GLBFile)); s.Errors != 0 {
		t.Errorf("scene.glb: %d validator errors: %v", s.Errors, s.Messages)
	}
	checkLabelsWithNibabel(t, filepath.Join(dir, LabelsFile), lm, map[uint16]string{
		1: "spleen", 3: "kidney_left", 5: "liver", 7: "pancreas", 200: "label_200",
	})
}

// checkLabelsWithNibabel reads labels.nii.gz with nibabel (the reference
// reader) and checks the voxels, the affine and the Caret label table.
func checkLabelsWithNibabel(t *testing.T, path string, lm *volume.LabelMap, names map[uint16]string) {
	t.Helper()
	script := `
import json, sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
data = np.asarray(img.dataobj)
print(json.dumps({
  "shape": list(data.shape),
  "data": data.flatten(order="F").astype(int).tolist(),
  "affine": img.affine.tolist(),
  "intent": img.header.get_intent()[0],
  "ext": [{"code": int(e.get_code()), "content": e.get_content().decode("utf-8", "replace")} for e in img.header.extensions],
}))
`
	out, err := exec.Command(testdata.Python(t), "-c", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("nibabel: %v\n%s", err, stderr)
	}
	var got struct {
		Shape  []int
		Data   []int
		Affine [4][4]float64
		Intent string
		Ext    []struct {
			Code    int
			Content string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Shape, lm.Dims[:]) || got.Affine != lm.Affine || got.Intent != "label" {
		t.Errorf("nibabel: shape %v affine %v intent %q; want %v %v label", got.Shape, got.Affine, got.Intent, lm.Dims, lm.Affine)
	}
	for i, v := range lm.Data {
		if got.Data[i] != int(v) {
			t.Fatalf("nibabel: voxel %d is %d, want %d", i, got.Data[i], v)
		}
	}
	var caret map[uint16]string
	for _, e := range got.Ext {
		if labels.IsCaret([]byte(e.Content)) {
			if caret != nil {
				t.Fatal("more than one Caret extension")
			}
			if caret, err = labels.ParseCaret([]byte(e.Content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for v, name := range names {
		if caret[v] != name {
			t.Errorf("Caret table names %d %q, want %q", v, caret[v], name)
		}
	}
}

func TestWriteFormats(t *testing.T) {
	dir := t.TempDir()
	m, err := Write(dir, Source{File: "x.nii.gz", LabelMap: testLabelMap(1)}, testSurfaces(), labels.TotalSegmentator(),
		Options{Formats: []Format{GLB}, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listFiles(t, dir), []string{"labels.nii.gz", "manifest.json", "scene.glb"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	for _, o := range m.Organs {
		if o.Files.STL != "" {
			t.Errorf("%s: stl %q without the stl format", o.Name, o.Files.STL)
		}
	}
	if !slices.Equal(m.Options.Formats, []Format{GLB}) {
		t.Errorf("formats %v, want [glb]", m.Options.Formats)
	}
}

// TestWriteReplaces writes two sets into one folder: the second manifest
// describes the second set only.
func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	src := Source{File: "x.nii.gz", LabelMap: testLabelMap(1, 5)}
	table := labels.TotalSegmentator()
	if _, err := Write(dir, src, testSurfaces(), table, Options{Created: created}); err != nil {
		t.Fatal(err)
	}
	m, err := Write(dir, src, testSurfaces()[:1], table, Options{Created: created.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Organs) != 1 || !back.Created.Equal(m.Created) {
		t.Errorf("manifest has %d organs from %v, want the second set's 1 from %v", len(back.Organs), back.Created, m.Created)
	}
}

func TestWriteRejects(t *testing.T) {
	good := func() []mesh.Surface { return testSurfaces() }
	tests := []struct {
		name     string
		surfaces func() []mesh.Surface
		src      Source
		opt      Options
		wantErr  string
	}{
		{"index out of range", func() []mesh.Surface { s := good(); s[0].Mesh.Indices[4] = 1 << 20; return s }, Source{}, Options{}, "out of range"},
		{"ragged positions", func() []mesh.Surface { s := good(); s[2].Mesh.Positions = s[2].Mesh.Positions[1:]; return s }, Source{}, Options{}, "not a multiple of 3"},
		{"ragged indices", func() []mesh.Surface { s := good(); s[0].Mesh.Indices = s[0].Mesh.Indices[1:]; return s }, Source{}, Options{}, "indices, not a multiple"},
		{"normals mismatch", func() []mesh.Surface { s := good(); s[0].Mesh.Normals = s[0].Mesh.Normals[3:]; return s }, Source{}, Options{}, "normal values"},
		{"NaN position", func() []mesh.Surface { s := good(); s[1].Mesh.Positions[5] = float32(math.NaN()); return s }, Source{}, Options{}, "NaN"},
		{"NaN volume", func() []mesh.Surface { s := good(); s[1].MeshVolume = math.NaN(); return s }, Source{}, Options{}, "non-finite"},
		{"nil mesh", func() []mesh.Surface { s := good(); s[1].Mesh = nil; return s }, Source{}, Options{}, "nil mesh"},
		{"duplicate label", func() []mesh.Surface { s := good(); s[2].Label = s[0].Label; return s }, Source{}, Options{}, "more than one surface"},
		{"unknown format", good, Source{}, Options{Formats: []Format{"ply"}}, `unknown format "ply"`},
		{"no label map", good, Source{File: "x"}, Options{}, "no label map"},
		{"label map size", good, Source{LabelMap: &volume.LabelMap{Grid: testLabelMap().Grid}}, Options{}, "voxels for a grid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == (Source{}) {
				src = Source{File: "x.nii.gz", LabelMap: testLabelMap(1)}
			}
			dir := filepath.Join(t.TempDir(), "out")
			_, err := Write(dir, src, tt.surfaces(), labels.TotalSegmentator(), tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("rejected input created %s (stat: %v)", dir, err)
			}
		})
	}
}

// TestWriteFailureLeavesNoManifest makes the stl folder impossible to
// create half way through: the old manifest must be gone, no new one
// written and no temporary file left behind.
func TestWriteFailureLeavesNoManifest(t *testing.T) {
	dir := t.TempDir()
	src := Source{File: "x.nii.gz", LabelMap: testLabelMap(1)}
	if _, err := Write(dir, src, testSurfaces(), labels.TotalSegmentator(), Options{Created: created}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, STLDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, STLDir), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(dir, src, testSurfaces(), labels.TotalSegmentator(), Options{Created: created})
	if err == nil {
		t.Fatal("Write succeeded with a file where the stl folder goes")
	}
	for _, f := range listFiles(t, dir) {
		if f == ManifestFile || strings.Contains(f, ".tmp") {
			t.Errorf("after a failed Write: %s is there", f)
		}
	}
}

// TestWriteFailureAmongConcurrentFiles makes two of a set's files fail
// while they are written side by side: Write reports the first in the
// set's order, whichever failed first in time, and leaves no manifest and
// no temporary file.
func TestWriteFailureAmongConcurrentFiles(t *testing.T) {
	for range 5 {
		dir := t.TempDir()
		for _, name := range []string{OBJFile, LabelsFile} {
			// A folder that is not empty where the file goes: the rename fails.
			if err := os.MkdirAll(filepath.Join(dir, name, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		src := Source{File: "x.nii.gz", LabelMap: testLabelMap(1)}
		_, err := Write(dir, src, testSurfaces(), labels.TotalSegmentator(), Options{Created: created})
		if err == nil || !strings.Contains(err.Error(), "write "+OBJFile) {
			t.Fatalf("Write with folders in the way of %s and %s: %v, want the error of %s", OBJFile, LabelsFile, err, OBJFile)
		}
		for _, f := range listFiles(t, dir) {
			if f == ManifestFile || strings.Contains(f, ".tmp") {
				t.Errorf("after a failed Write: %s is there", f)
			}
		}
	}
}

func TestReadManifestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path, wantErr string
	}{
		{filepath.Join(dir, "missing.json"), "no such file"},
		{write("bad.json", "{"), "unexpected end"},
		{write("v2.json", `{"schema":"2"}`), `schema "2"`},
	}
	for _, tt := range tests {
		if _, err := ReadManifest(tt.path); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ReadManifest(%s): %v, want an error containing %q", filepath.Base(tt.path), err, tt.wantErr)
		}
	}
}

// TestWriteSameFileName gives two labels names that fold to one file name.
func TestWriteSameFileName(t *testing.T) {
	table := labels.ForFile(map[uint16]string{1: "Liver", 2: "liver"}, []uint16{1, 2})
	surfaces := []mesh.Surface{surfaceOf(1, icosphere([3]float64{}, 10, 1)), surfaceOf(2, icosphere([3]float64{30, 0, 0}, 10, 1))}
	dir := t.TempDir()
	m, err := Write(dir, Source{File: "x.nii.gz", LabelMap: testLabelMap(1, 2)}, surfaces, table, Options{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if m.Organs[0].Files.STL != "stl/liver.stl" || m.Organs[1].Files.STL != "stl/liver_2.stl" {
		t.Errorf("stl files %q and %q, want stl/liver.stl and stl/liver_2.stl", m.Organs[0].Files.STL, m.Organs[1].Files.STL)
	}
	obj, err := os.ReadFile(filepath.Join(dir, OBJFile))
	if err != nil {
		t.Fatal(err)
	}
	p := parseOBJ(t, obj)
	if len(p.groups) != 2 || p.groups[0].object != "liver" || p.groups[1].object != "liver_2" || p.groups[1].material != "liver_2" {
		t.Errorf("obj objects %+v, want liver and liver_2", p.groups)
	}
}
