package mesh

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func loadLM(tb testing.TB, name string) *volume.LabelMap {
	tb.Helper()
	path := testdata.Path(tb, "totalsegmentator-example", name)
	im, err := volume.ReadFile(path, volume.ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return lm
}

// nibabelLabels asks nibabel, the reference reader, for each label's voxel
// count and voxel centroid in RAS millimetres.
func nibabelLabels(t *testing.T, path string) map[uint16]struct {
	Count    int
	Centroid [3]float64
} {
	t.Helper()
	const script = `
import json, sys
import nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
d = np.asarray(img.dataobj).astype(np.int64)
d = d.reshape(d.shape[:3])
out = {}
for l in np.unique(d):
    if l == 0:
        continue
    idx = np.argwhere(d == l).mean(axis=0)
    c = img.affine[:3, :3] @ idx + img.affine[:3, 3]
    out[int(l)] = {"Count": int((d == l).sum()), "Centroid": [float(x) for x in c]}
json.dump(out, sys.stdout)
`
	cmd := exec.Command(testdata.Python(t), "-c", script, path)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("nibabel on %s: %v (needs python3-nibabel)", path, err)
	}
	var raw map[string]struct {
		Count    int
		Centroid [3]float64
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	res := map[uint16]struct {
		Count    int
		Centroid [3]float64
	}{}
	for k, v := range raw {
		l, err := strconv.Atoi(k)
		if err != nil {
			t.Fatal(err)
		}
		res[uint16(l)] = v
	}
	return res
}

// TestRealData is the acceptance bar on TotalSegmentator's outputs, with
// default options (smoothing, decimation to 10%): every surface closed
// and manifold; for organs of at least 1000 voxels the enclosed volume
// within 3% of the voxel volume, median within 1%; every vertex within one
// voxel diagonal of the voxel boundary; counts and positions as nibabel
// sees the file.
func TestRealData(t *testing.T) {
	for _, name := range []string{"dicom_seg.nii.gz", "ct_3mm_seg.nii.gz"} {
		t.Run(name, func(t *testing.T) {
			lm := loadLM(t, name)
			ref := nibabelLabels(t, testdata.Path(t, "totalsegmentator-example", name))
			ss, err := Build(context.Background(), lm, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != len(ref) {
				t.Errorf("%d surfaces, nibabel sees %d labels", len(ss), len(ref))
			}
			diag := voxelDiagonal(lm.Affine)
			var errs []float64
			worst := 0.0
			closed := 0
			for _, s := range ss {
				r, ok := ref[s.Label]
				if !ok || r.Count != s.VoxelCount {
					t.Errorf("label %d: %d voxels, nibabel %d", s.Label, s.VoxelCount, r.Count)
				}
				if err := s.Mesh.Check(); err != nil {
					t.Errorf("label %d: %v", s.Label, err)
				} else {
					closed++
				}
				d := maxBoundaryDistance(lm, s.Label, s.Mesh, 2) / diag
				worst = max(worst, d)
				if d > 1 {
					t.Errorf("label %d: a vertex is %.2f voxel diagonals from the voxel boundary", s.Label, d)
				}
				if s.VoxelCount < 1000 {
					continue
				}
				e := math.Abs(s.MeshVolume/s.VoxelVolume - 1)
				errs = append(errs, e)
				if e > 0.03 {
					t.Errorf("label %d: volume %.0f mm³, voxels %.0f mm³ (%.2f%%)", s.Label, s.MeshVolume, s.VoxelVolume, 100*e)
				}
				if c := meshCentroid(s.Mesh); math.Sqrt(norm2(sub3(c, r.Centroid))) > 0.5*diag {
					t.Errorf("label %d: mesh centroid %v, voxel centroid (nibabel) %v", s.Label, c, r.Centroid)
				}
			}
			slices.Sort(errs)
			median := errs[len(errs)/2]
			if median > 0.01 {
				t.Errorf("median volume error %.2f%%, want ≤ 1%%", 100*median)
			}
			t.Logf("%d surfaces, %d closed and manifold; %d organs ≥ 1000 voxels: volume error median %.3f%%, worst %.3f%%; farthest vertex %.2f voxel diagonals from the voxels",
				len(ss), closed, len(errs), 100*median, 100*errs[len(errs)-1], worst)
		})
	}
}
