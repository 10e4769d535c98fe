package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestSubmitWait sends the shared cases and a truncated scan to a real
// `iris serve` (with --token) through `iris submit --wait`, and checks
// what comes back: the models downloaded, the label map readable by
// nibabel, the corrupt scan failed with the pipeline's code, exit 1; then
// jobs, job and download, and a refusal without the token.
func TestSubmitWait(t *testing.T) {
	t.Setenv("IRIS_TOKEN", "")
	t.Setenv("IRIS_SERVER", "")
	t.Setenv("IRIS_OIDC_ISSUER", "")
	const token = "s3cret-token-for-submit-tests"
	srv := startInProcess(t, t.TempDir(), "--token", token)

	in := t.TempDir()
	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	ctPath, badPath := filepath.Join(in, "ct_3mm.nii.gz"), filepath.Join(in, "broken.nii.gz")
	if err := os.WriteFile(ctPath, ct, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badPath, ct[:len(ct)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	series := testdata.Path(t, "totalsegmentator-example", "dicom") // a folder: submit zips it
	out := filepath.Join(t.TempDir(), "results")

	stdout, stderr, code := runCLI(t, "submit", ctPath, series, badPath, "--server", srv.base, "--token", token,
		"--wait", "-o", out, "--json", "--poll", "200ms", "--formats", "manifest,glb,labels,stl")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one scan is corrupt)\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	res := jsonLines(t, stdout)
	if len(res) != 3 {
		t.Fatalf("%d outcomes, want 3: %s", len(res), stdout)
	}
	bad := res[badPath]
	if bad.Error == nil || bad.Error.Code != pipeline.CodeCorrupt || bad.Job == "" {
		t.Errorf("the truncated scan: %+v; want its job failed with %q", bad, pipeline.CodeCorrupt)
	}
	for input, name := range map[string]string{ctPath: "ct_3mm", series: "dicom"} {
		o := res[input]
		if o.Error != nil || o.Job == "" || len(o.Organs) == 0 {
			t.Fatalf("%s: %+v; want done with organs", input, o)
		}
		dir := filepath.Join(out, name)
		var names []string
		for _, p := range o.Outputs {
			rel, err := filepath.Rel(dir, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: output %s is outside %s", input, p, dir)
			}
			names = append(names, filepath.ToSlash(rel))
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Errorf("%s: %s: %v", input, p, err)
			}
		}
		for _, want := range []string{export.ManifestFile, export.GLBFile, export.LabelsFile} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: downloaded %v, lacking %s", input, names, want)
			}
		}
		for _, n := range names {
			if n == export.OBJFile || n == export.MTLFile {
				t.Errorf("%s: downloaded %s, which --formats did not ask for", input, n)
			}
		}
		var man export.Manifest
		b, err := os.ReadFile(filepath.Join(dir, export.ManifestFile))
		if err == nil {
			err = json.Unmarshal(b, &man)
		}
		if err != nil || len(man.Organs) != len(o.Organs) {
			t.Errorf("%s: manifest %d organs (%v), --json %d", input, len(man.Organs), err, len(o.Organs))
		}
		checkFollowsName(t, filepath.Join(dir, export.LabelsFile))
		nibabelLoad(t, true, filepath.Join(dir, export.LabelsFile))
		for _, step := range []string{"upload", "processing", "download"} {
			if o.Timings[step] <= 0 {
				t.Errorf("%s: timing %s is %v", input, step, o.Timings[step])
			}
		}
	}

	t.Run("without the token", func(t *testing.T) {
		_, stderr, code := runCLI(t, "jobs", "--server", srv.base)
		if code != 1 || !strings.Contains(stderr, "IRIS_TOKEN") || !strings.Contains(stderr, "unauthorized") {
			t.Errorf("exit %d, %q; want 1 and how to give a token", code, stderr)
		}
	})
	t.Run("jobs, job and download", func(t *testing.T) {
		t.Setenv("IRIS_TOKEN", token) // the environment's token, as scripts give it
		stdout, stderr, code := runCLI(t, "jobs", "--server", srv.base, "--json")
		if code != 0 {
			t.Fatalf("jobs: exit %d %s", code, stderr)
		}
		var ids []string
		for line := range strings.SplitSeq(strings.TrimSpace(stdout), "\n") {
			var v api.JobView
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("jobs --json: %v in %q", err, line)
			}
			ids = append(ids, v.ID)
		}
		want := []string{res[ctPath].Job, res[series].Job, bad.Job}
		if !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(want))) {
			t.Errorf("jobs lists %v; want %v", ids, want)
		}
		stdout, _, code = runCLI(t, "jobs", "--server", srv.base)
		if code != 0 || !strings.Contains(stdout, bad.Job) || !strings.Contains(stdout, pipeline.CodeCorrupt) {
			t.Errorf("jobs table: exit %d\n%s", code, stdout)
		}

		stdout, _, code = runCLI(t, "job", res[ctPath].Job, "--server", srv.base, "--json")
		var v api.JobView
		if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != 0 || v.Status != job.Done || v.ID != res[ctPath].Job {
			t.Errorf("job --json: exit %d, %v, %+v", code, err, v)
		}
		if _, _, code := runCLI(t, "job", bad.Job, "--server", srv.base); code != 1 {
			t.Errorf("job of a failed job: exit %d, want 1", code)
		}
		if _, _, code := runCLI(t, "job", "../etc", "--server", srv.base); code != 1 {
			t.Errorf("job ../etc: exit %d, want 1", code)
		}

		dir := t.TempDir()
		stdout, stderr, code = runCLI(t, "download", res[ctPath].Job, "--server", srv.base, "-o", dir, "--formats", "stl")
		if code != 0 {
			t.Fatalf("download: exit %d %s", code, stderr)
		}
		files := strings.Fields(stdout)
		if len(files) != len(res[ctPath].Organs) {
			t.Errorf("download --formats stl gave %d files for %d organs", len(files), len(res[ctPath].Organs))
		}
		for _, f := range files {
			if filepath.Ext(f) != ".stl" || !strings.HasPrefix(f, filepath.Join(dir, "stl")+string(filepath.Separator)) {
				t.Errorf("downloaded %s", f)
			}
		}
	})
}
