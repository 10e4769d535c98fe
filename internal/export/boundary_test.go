package export

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// TestManifestBoundaryDistance checks the manifest's per-organ boundary
// distances against an independent computation: bench/mesh/evaluate.py
// (numpy, nibabel) reads the written STL files and the label map and
// measures the same definition from scratch.
func TestManifestBoundaryDistance(t *testing.T) {
	src := testdata.Path(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	im, err := volume.ReadFile(src, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	surfaces, err := mesh.Build(context.Background(), lm, mesh.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := Write(dir, Source{File: "ct_3mm_seg.nii.gz", LabelMap: lm}, surfaces, labels.TotalSegmentator(),
		Options{Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Formats: []Format{STL}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testdata.Python(t), filepath.Join("..", "..", "bench", "mesh", "evaluate.py"), src, dir, "--json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("evaluate.py (apt-get install python3-nibabel): %v\n%s", err, stderr)
	}
	var res struct {
		Organs []struct {
			Label uint16
			P95   *float64 `json:"boundaryDistP95Mm"`
			Max   *float64 `json:"boundaryDistMaxMm"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	theirs := map[uint16][2]float64{}
	for _, o := range res.Organs {
		if o.P95 == nil || o.Max == nil {
			t.Fatalf("evaluate.py gave no boundary distance for label %d", o.Label)
		}
		theirs[o.Label] = [2]float64{*o.P95, *o.Max}
	}
	positive := 0
	for _, o := range m.Organs {
		want, ok := theirs[o.Label]
		if !ok {
			t.Errorf("label %d: not evaluated", o.Label)
			continue
		}
		// The manifest rounds to 1e-4 mm; STL stores the same float32 positions.
		if math.Abs(o.BoundaryDistP95Mm-want[0]) > 2e-4 || math.Abs(o.BoundaryDistMaxMm-want[1]) > 2e-4 {
			t.Errorf("label %d %s: manifest p95 %.4f max %.4f mm, evaluate.py p95 %.4f max %.4f mm",
				o.Label, o.Name, o.BoundaryDistP95Mm, o.BoundaryDistMaxMm, want[0], want[1])
		}
		if o.BoundaryDistMaxMm > 0 {
			positive++
		}
	}
	if positive < len(m.Organs)/2 {
		t.Errorf("only %d of %d organs have a positive boundary distance: the figures measure nothing", positive, len(m.Organs))
	}
}
