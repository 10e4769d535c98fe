// Package testdata finds the project's test data (testdata/ at the
// repository root, or $IRIS_SHARED_DATA) and the Python reference
// interpreter. It is imported only by tests and benchmarks.
package testdata

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dir returns the test data folder: the repository's testdata/ (real CT
// from the TotalSegmentator project, see testdata/README.md), so that a
// clone tests alone. A missing folder fails the test: the data is part of
// the repository, never optional.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("IRIS_SHARED_DATA"); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("find repository root: %v", err)
	}
	d := filepath.Join(root, "testdata")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("test data: %v (testdata/ at the repository root, or set IRIS_SHARED_DATA)", err)
	}
	return d
}

// Path joins rel onto Dir.
func Path(tb testing.TB, rel ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, rel...)...)
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Python returns Debian's python3 (/usr/bin/python3), which has the reference
// packages (nibabel, pydicom, vtk, open3d); a pyenv python3 on PATH does not.
// The test fails when it is missing: .ci/run installs it.
func Python(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{os.Getenv("IRIS_PYTHON"), "/usr/bin/python3"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	tb.Fatal("reference python3 (/usr/bin/python3 with nibabel) not found; run .ci/run or apt-get install python3-nibabel")
	return ""
}

// Read returns the contents of the test data file rel.
func Read(tb testing.TB, rel ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, rel...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// DICOMSeriesZip zips the example DICOM series (totalsegmentator-example/
// dicom, 20 JPEG 2000 slices) in a folder, as a person zips one. The
// entries are stored: the images are compressed already.
func DICOMSeriesZip(tb testing.TB) []byte {
	tb.Helper()
	dir := Path(tb, "totalsegmentator-example", "dicom")
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "series/" + e.Name(), Method: zip.Store})
		if err == nil {
			_, err = w.Write(b)
		}
		if err != nil {
			tb.Fatal(err)
		}
		n++
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if n != 20 {
		tb.Fatalf("the example DICOM series has %d files, want 20", n)
	}
	return buf.Bytes()
}
