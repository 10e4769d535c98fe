package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/nnunet"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// TestSegmentTotalSegFast runs `iris segment --engine totalseg-fast` on the
// shared CT with the tiny random-weight test model standing in for task
// 297's weights in the --weights-dir cache.
func TestSegmentTotalSegFast(t *testing.T) {
	weights := t.TempDir()
	src := filepath.Join("..", "..", "internal", "nnunet", "testdata", "tiny", "Dataset999_Tiny")
	if err := os.CopyFS(filepath.Join(weights, nnunet.TotalFast.Dataset), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "labels.nii.gz")
	var stdout, stderr bytes.Buffer
	err := runSegment(context.Background(), []string{testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"),
		"-o", out, "--engine", "totalseg-fast", "--weights-dir", weights}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v; stderr %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "licence") || !strings.Contains(stdout.String(), "totalseg-fast") {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	im, err := volume.ReadFile(out, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	names, err := labels.FileNames(lm.Extensions[0].Data)
	if err != nil || len(labels.Present(lm.Data)) < 2 || names[1] != "spleen" {
		t.Errorf("label map: %d values present, names %v, %v", len(labels.Present(lm.Data)), names, err)
	}
}
