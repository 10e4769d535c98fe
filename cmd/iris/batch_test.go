package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// runCLI runs iris with args in this process and returns stdout, stderr
// and the exit status main would give.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	code := 0
	if err != nil {
		code = exitCode(err)
		stderr.WriteString("iris: " + oneLine(err) + "\n")
	}
	return stdout.String(), stderr.String(), code
}

// jsonLines parses --json output: one object per line, nothing else.
func jsonLines(t *testing.T, stdout string) map[string]outcome {
	t.Helper()
	out := map[string]outcome{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var o outcome
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("--json printed a line that is not an outcome: %q: %v", sc.Text(), err)
		}
		if _, dup := out[o.Input]; dup {
			t.Errorf("input %s reported twice", o.Input)
		}
		out[o.Input] = o
	}
	return out
}

// nibabelInfo is what nibabel reads from a written NIfTI file.
type nibabelInfo struct {
	Path   string  `json:"path"`
	Shape  []int   `json:"shape"`
	Dtype  string  `json:"dtype"`
	Sum    float64 `json:"sum"`
	Labels []int   `json:"labels"` // distinct non-zero values (label maps only)
}

// nibabelLoad has nibabel read each file. nibabel picks gzip or not from
// the name and refuses a file whose bytes disagree ("Cannot work out file
// type" or a gzip error), so a file it reads follows its name.
func nibabelLoad(t *testing.T, labelMaps bool, paths ...string) []nibabelInfo {
	t.Helper()
	const script = `
import json, sys
import numpy as np
import nibabel as nib
labels = sys.argv[1] == "labels"
for p in sys.argv[2:]:
    img = nib.load(p)
    a = np.asanyarray(img.dataobj)
    info = {"path": p, "shape": list(a.shape), "dtype": str(a.dtype), "sum": float(a.astype(np.float64).sum())}
    if labels:
        info["labels"] = [int(v) for v in np.unique(a) if v != 0]
    print(json.dumps(info))
`
	kind := "ct"
	if labelMaps {
		kind = "labels"
	}
	cmd := exec.Command(testdata.Python(t), append([]string{"-c", script, kind}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nibabel could not read %v: %v\n%s\n(needs Debian's python3-nibabel)", paths, err, stderr.String())
	}
	var infos []nibabelInfo
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var i nibabelInfo
		if err := json.Unmarshal([]byte(line), &i); err != nil {
			t.Fatalf("nibabel script: %v in %q", err, line)
		}
		infos = append(infos, i)
	}
	if len(infos) != len(paths) {
		t.Fatalf("nibabel read %d of %d files", len(infos), len(paths))
	}
	return infos
}

// checkFollowsName checks a written file's first bytes against its name.
func checkFollowsName(t *testing.T, path string) {
	t.Helper()
	head, err := readHead(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	gz := bytes.HasPrefix(head, []byte{0x1f, 0x8b})
	if strings.HasSuffix(path, ".nii.gz") != gz {
		t.Errorf("%s begins % x: gzip %v, against its name", path, head, gz)
	}
}

// checkLabelMapFile compares nibabel's reading of a label map with ours
// and with the organs an outcome reported.
func checkLabelMapFile(t *testing.T, ref nibabelInfo, organs []organ) {
	t.Helper()
	checkFollowsName(t, ref.Path)
	im, err := volume.ReadFile(ref.Path, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range lm.Data {
		sum += float64(v)
	}
	if !slices.Equal(ref.Shape, []int{lm.Dims[0], lm.Dims[1], lm.Dims[2]}) || ref.Sum != sum {
		t.Errorf("%s: nibabel reads shape %v sum %v; we wrote %v sum %v", ref.Path, ref.Shape, ref.Sum, lm.Dims, sum)
	}
	var got []int
	for _, o := range organs {
		got = append(got, int(o.Label))
		if o.Voxels <= 0 || o.VolumeMl <= 0 || o.Name == "" {
			t.Errorf("%s: organ %+v", ref.Path, o)
		}
	}
	if len(ref.Labels) == 0 || !slices.Equal(got, ref.Labels) {
		t.Errorf("%s: organs reported %v; nibabel finds labels %v", ref.Path, got, ref.Labels)
	}
}

// batchInputs makes a folder as a person has one: the shared cases (the
// 3 mm CT, the same CT uncompressed, the DICOM series as a folder and as a
// zip) beside a truncated scan and a file that is no scan.
func batchInputs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	write := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ct_3mm.nii.gz", ct)
	write("patients/series.zip", testdata.DICOMSeriesZip(t))
	write("broken.nii.gz", ct[:len(ct)/3])
	write("notes.txt", []byte("not a scan\n"))
	src := testdata.Path(t, "totalsegmentator-example", "dicom")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		write("patients/p1/CT/"+e.Name(), testdata.Read(t, "totalsegmentator-example", "dicom", e.Name()))
	}
	return dir
}

// TestBatchSegmentMeshConvert runs a batch of the shared cases plus a
// corrupt file through segment (--json), resumes it with --skip-existing,
// meshes its label maps as a batch, and converts the series; every NIfTI
// written is read back by nibabel.
func TestBatchSegmentMeshConvert(t *testing.T) {
	in := batchInputs(t)
	out := filepath.Join(t.TempDir(), "labels")

	stdout, stderr, code := runCLI(t, "segment", in, "-o", out, "--json", "-j", "2")
	if code != 1 {
		t.Fatalf("a batch with a corrupt input exits %d, want 1\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "1 of 4 inputs failed") {
		t.Errorf("stderr %q does not say how many failed", stderr)
	}
	res := jsonLines(t, stdout)
	if len(res) != 4 {
		t.Fatalf("--json reported %d inputs, want 4 (CT, zip, DICOM folder, truncated CT; the .txt is no scan): %s", len(res), stdout)
	}
	bad, ok := res[filepath.Join(in, "broken.nii.gz")]
	if !ok || bad.Error == nil || bad.Error.Code != pipeline.CodeCorrupt || bad.Error.Message == "" || len(bad.Outputs) != 0 {
		t.Errorf("the truncated scan: %+v; want error code %q", bad, pipeline.CodeCorrupt)
	}
	ctIn, zipIn, dirIn, badIn := filepath.Join(in, "ct_3mm.nii.gz"), filepath.Join(in, "patients", "series.zip"),
		filepath.Join(in, "patients", "p1", "CT"), filepath.Join(in, "broken.nii.gz")
	want := map[string]string{ // input → output
		ctIn:  filepath.Join(out, "ct_3mm", "labels.nii.gz"),
		zipIn: filepath.Join(out, "patients_series", "labels.nii.gz"),
		dirIn: filepath.Join(out, "patients_p1_CT", "labels.nii.gz"),
	}
	var paths []string
	var organs [][]organ
	for input, path := range want {
		o, ok := res[input]
		if !ok || o.Error != nil || !slices.Equal(o.Outputs, []string{path}) {
			t.Fatalf("%s: %+v; want done with output %s", input, o, path)
		}
		for _, step := range []string{"read", "segment", "write", "total"} {
			if o.Timings[step] <= 0 {
				t.Errorf("%s: timing %q is %v", input, step, o.Timings[step])
			}
		}
		paths = append(paths, path)
		organs = append(organs, o.Organs)
	}
	for i, ref := range nibabelLoad(t, true, paths...) {
		checkLabelMapFile(t, ref, organs[i])
	}
	if _, err := os.Stat(filepath.Join(out, "broken")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed input left %s/broken (%v)", out, err)
	}

	t.Run("skip-existing resumes", func(t *testing.T) {
		// An interrupted batch: one output never written, one temporary
		// file of a write cut short beside where it should be.
		gone := want[zipIn]
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(gone), ".labels.nii.gz.123.tmp"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(want[ctIn])
		stdout, _, code := runCLI(t, "segment", in, "-o", out, "--json", "--skip-existing")
		if code != 1 {
			t.Errorf("exit %d, want 1 (the corrupt input fails again)", code)
		}
		res := jsonLines(t, stdout)
		for input, o := range res {
			switch input {
			case ctIn, dirIn:
				if !o.Skipped || o.Error != nil || len(o.Timings) != 0 {
					t.Errorf("%s: %+v; want skipped", input, o)
				}
			case zipIn:
				if o.Skipped || o.Error != nil || o.Timings["segment"] <= 0 {
					t.Errorf("%s: %+v; want segmented again", input, o)
				}
			case badIn:
				if o.Skipped || o.Error == nil {
					t.Errorf("%s: %+v; want failed again", input, o)
				}
			}
		}
		after, _ := os.Stat(want[ctIn])
		if !after.ModTime().Equal(before.ModTime()) {
			t.Error("a skipped input's output was written again")
		}
		checkLabelMapFile(t, nibabelLoad(t, true, gone)[0], res[zipIn].Organs)
	})

	t.Run("human output", func(t *testing.T) {
		stdout, _, code := runCLI(t, "segment", in, "-o", out, "--skip-existing")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, s := range []string{"input  ", "FAILED", "corrupt:", "skipped", "0 done, 3 skipped, 1 failed, of 4 inputs"} {
			if !strings.Contains(stdout, s) {
				t.Errorf("the summary lacks %q:\n%s", s, stdout)
			}
		}
	})

	t.Run("mesh batch of the label maps", func(t *testing.T) {
		models := filepath.Join(t.TempDir(), "models")
		stdout, stderr, code := runCLI(t, "mesh", out, "-o", models, "--json", "--formats", "glb")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		res := jsonLines(t, stdout)
		if len(res) != 3 {
			t.Fatalf("%d outcomes, want 3: %s", len(res), stdout)
		}
		for name, dir := range map[string]string{"ct_3mm": "ct_3mm", "patients_series": "patients_series", "patients_p1_CT": "patients_p1_CT"} {
			var o outcome
			for _, r := range res {
				if filepath.Base(filepath.Dir(r.Input)) == name {
					o = r
				}
			}
			b, err := os.ReadFile(filepath.Join(models, dir, export.ManifestFile))
			if err != nil {
				t.Fatalf("%s: %v (outcome %+v)", name, err, o)
			}
			var man export.Manifest
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			if len(man.Organs) == 0 || len(man.Organs) != len(o.Organs) {
				t.Errorf("%s: manifest has %d organs, --json %d", name, len(man.Organs), len(o.Organs))
			}
			if !slices.Contains(o.Outputs, filepath.Join(models, dir, export.GLBFile)) {
				t.Errorf("%s: outputs %v lack the GLB", name, o.Outputs)
			}
		}
		stdout, _, code = runCLI(t, "mesh", out, "-o", models, "--json", "--skip-existing")
		for input, o := range jsonLines(t, stdout) {
			if !o.Skipped || o.Error != nil {
				t.Errorf("mesh --skip-existing: %s: %+v; want skipped", input, o)
			}
		}
		if code != 0 {
			t.Errorf("mesh --skip-existing: exit %d", code)
		}
	})

	t.Run("convert writes .nii uncompressed", func(t *testing.T) {
		dir := t.TempDir()
		single := filepath.Join(dir, "ct.nii")
		if stdout, stderr, code := runCLI(t, "convert", filepath.Join(in, "patients", "series.zip"), "-o", single); code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		batch := filepath.Join(dir, "batch")
		stdout, stderr, code := runCLI(t, "convert", in, "-o", batch, "--ext", ".nii", "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		res := jsonLines(t, stdout)
		if len(res) != 2 { // the zip and the folder; NIfTI files are not converted
			t.Fatalf("%d outcomes, want 2: %s", len(res), stdout)
		}
		paths := []string{single, filepath.Join(batch, "patients_series", "ct.nii"), filepath.Join(batch, "patients_p1_CT", "ct.nii")}
		for _, ref := range nibabelLoad(t, false, paths...) {
			checkFollowsName(t, ref.Path)
			if !slices.Equal(ref.Shape, []int{512, 512, 20}) || ref.Dtype != "int16" {
				t.Errorf("%s: nibabel reads %v %s; want 512×512×20 int16", ref.Path, ref.Shape, ref.Dtype)
			}
		}
	})
}

// TestSegmentSingleFollowsName: the classic single run writes what -o
// names, and a name of no known kind is a usage error listing the known.
func TestSegmentSingleFollowsName(t *testing.T) {
	ct := testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"labels.nii", "labels.nii.gz"} {
		p := filepath.Join(dir, name)
		stdout, stderr, code := runCLI(t, "segment", ct, "-o", p, "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		res := jsonLines(t, stdout)
		if o := res[ct]; o.Error != nil || !slices.Equal(o.Outputs, []string{p}) {
			t.Errorf("%+v", o)
		}
		paths = append(paths, p)
	}
	infos := nibabelLoad(t, true, paths...)
	if infos[0].Sum != infos[1].Sum || !slices.Equal(infos[0].Labels, infos[1].Labels) {
		t.Errorf(".nii and .nii.gz differ: %+v %+v", infos[0], infos[1])
	}
	for _, ref := range infos {
		checkFollowsName(t, ref.Path)
	}

	for _, tc := range [][]string{
		{"segment", ct, "-o", filepath.Join(dir, "labels.nrrd")},
		{"convert", ct, "-o", filepath.Join(dir, "ct.gz")},
		{"segment", ct, "-o", filepath.Join(dir, "x"), "--ext", ".mha"},
	} {
		_, stderr, code := runCLI(t, tc...)
		if code != 2 || !strings.Contains(stderr, ".nii.gz") || !strings.Contains(stderr, ".nii ") {
			t.Errorf("%v: exit %d, %q; want 2 and the known extensions", tc, code, stderr)
		}
	}
	if _, _, code := runCLI(t, "segment", ct, ct, "-o", filepath.Join(dir, "two.nii.gz")); code != 2 {
		t.Errorf("two inputs into one file: exit %d, want 2", code)
	}
}

// TestBatchCanceled: a batch stopped (Ctrl-C) before its inputs ran
// reports each as canceled, writes nothing and exits 1.
func TestBatchCanceled(t *testing.T) {
	in := batchInputs(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"segment", in, "-o", out, "--json"}, &stdout, &stderr)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("a canceled batch: %v (exit %d); want exit 1", err, exitCode(err))
	}
	res := jsonLines(t, stdout.String())
	if len(res) != 4 {
		t.Fatalf("%d outcomes, want 4", len(res))
	}
	for input, o := range res {
		if o.Error == nil || o.Error.Code != codeCanceled {
			t.Errorf("%s: %+v; want canceled", input, o)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a canceled batch made %s (%v)", out, err)
	}
}

func TestNameFrom(t *testing.T) {
	for in, want := range map[string]string{
		"ct.nii.gz":               "ct",
		"CT.NII":                  "CT",
		"a/b/series.zip":          "a_b_series",
		"case 1/labels.nii.gz":    "case_1",
		"labels.nii.gz":           "labels",
		"../x":                    "_x",
		"päť.nii":                 "p__",
		"..":                      "scan",
		"patients/p1/CT":          "patients_p1_CT",
		"weird;name$(rm -rf).nii": "weird_name__rm_-rf_",
	} {
		if got := nameFrom(in); got != want {
			t.Errorf("nameFrom(%q) = %q, want %q", in, got, want)
		}
	}
}
