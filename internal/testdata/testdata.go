// Package testdata finds the project's shared test data (../shared/data
// beside the repository root, or $IRIS_SHARED_DATA) and the Python reference
// interpreter. It is imported only by tests and benchmarks.
package testdata

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dir returns the shared data folder. A missing folder fails the test: the
// data is part of the test environment, never optional.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("IRIS_SHARED_DATA"); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("find repository root: %v", err)
	}
	d := filepath.Join(root, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("shared test data: %v (set IRIS_SHARED_DATA)", err)
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
