package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

// toy is a 3×2×2 source with distinct labels and a mirrored, shifted affine,
// so that a wrong axis, offset or sign shows.
func toy() *labelMap {
	return &labelMap{
		nx: 3, ny: 2, nz: 2,
		pixdim:    [3]float32{2, 3, 4},
		srow:      [3][4]float32{{-2, 0, 0, 10}, {0, 3, 0, -5}, {0, 0, 4, 7}},
		sformCode: 2,
		data:      []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
	}
}

// worldToSource maps output voxel o to the source voxel whose box holds
// o's centre in world space, through both affines.
func worldToSource(src, out *labelMap, x, y, z int) (int, int, int) {
	var w [3]float64
	for r := range 3 {
		w[r] = float64(out.srow[r][0])*float64(x) + float64(out.srow[r][1])*float64(y) +
			float64(out.srow[r][2])*float64(z) + float64(out.srow[r][3])
	}
	// Source affines in the tests are diagonal.
	var s [3]int
	for a := range 3 {
		s[a] = int(math.Round((w[a] - float64(src.srow[a][3])) / float64(src.srow[a][a])))
	}
	return s[0], s[1], s[2]
}

func TestUpsampleTile(t *testing.T) {
	tests := []struct {
		name             string
		factor           int
		nx, ny, nz       int
		wantZeroXs       []int // output columns outside the source (padding)
		wantTiledDepthOK bool
	}{
		{"exact", 3, 9, 6, 6, nil, true},
		{"crop in-plane", 3, 7, 4, 6, nil, true},
		{"pad in-plane", 2, 8, 4, 4, []int{0, 7}, true},
		{"tile along z", 2, 6, 4, 11, nil, true},
		{"factor 1", 1, 3, 2, 5, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := toy()
			out := upsampleTile(src, tc.factor, tc.nx, tc.ny, tc.nz)
			if len(out.data) != tc.nx*tc.ny*tc.nz {
				t.Fatalf("len(data) = %d, want %d", len(out.data), tc.nx*tc.ny*tc.nz)
			}
			for a := range 3 {
				if want := src.pixdim[a] / float32(tc.factor); out.pixdim[a] != want {
					t.Errorf("pixdim[%d] = %g, want %g", a, out.pixdim[a], want)
				}
			}
			pad := map[int]bool{}
			for _, x := range tc.wantZeroXs {
				pad[x] = true
			}
			depth := src.nz * tc.factor
			for z := range tc.nz {
				for y := range tc.ny {
					for x := range tc.nx {
						got := out.data[(z*tc.ny+y)*tc.nx+x]
						if pad[x] {
							if got != 0 {
								t.Fatalf("voxel (%d,%d,%d) = %d, want 0 (padding)", x, y, z, got)
							}
							continue
						}
						// The first copy must sit exactly where the source
						// is in world space; later copies repeat it.
						sx, sy, sz := worldToSource(src, out, x, y, z%depth)
						if sx < 0 || sx >= src.nx || sy < 0 || sy >= src.ny || sz < 0 || sz >= src.nz {
							t.Fatalf("voxel (%d,%d,%d) maps outside the source: (%d,%d,%d)", x, y, z, sx, sy, sz)
						}
						if want := src.data[(sz*src.ny+sy)*src.nx+sx]; got != want {
							t.Fatalf("voxel (%d,%d,%d) = %d, want %d from source (%d,%d,%d)", x, y, z, got, want, sx, sy, sz)
						}
					}
				}
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	m := upsampleTile(toy(), 2, 6, 4, 4)
	m.xyztUnits = 10
	m.ext = append(make([]byte, 0, 32), []byte("\x20\x00\x00\x00\x00\x00\x00\x00<x>hello</x>\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")...)
	path := filepath.Join(t.TempDir(), "m.nii.gz")
	if err := writeNIfTI(path, m, "test"); err != nil {
		t.Fatal(err)
	}
	got, err := readNIfTI(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.nx != m.nx || got.ny != m.ny || got.nz != m.nz || got.pixdim != m.pixdim || got.srow != m.srow ||
		got.sformCode != m.sformCode || got.xyztUnits != m.xyztUnits {
		t.Errorf("header changed: got %+v", *got)
	}
	if !bytes.Equal(got.ext, m.ext) || !bytes.Equal(got.data, m.data) {
		t.Error("extension or voxels changed")
	}
}

func TestRefusesBadInput(t *testing.T) {
	good := header(toy(), "x")
	tests := []struct {
		name string
		edit func(b []byte)
	}{
		{"short", nil},
		{"sizeof_hdr", func(b []byte) { b[0] = 0 }},
		{"magic", func(b []byte) { copy(b[344:], "ni1\x00") }},
		{"datatype int16", func(b []byte) { b[70] = 4 }},
		{"no sform", func(b []byte) { b[254] = 0 }},
		{"4-D", func(b []byte) { b[40] = 4; b[48] = 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append(bytes.Clone(good), toy().data...)
			if tc.edit == nil {
				b = b[:100]
			} else {
				tc.edit(b)
			}
			if _, err := parseNIfTI(b); err == nil {
				t.Error("parseNIfTI accepted bad input")
			}
		})
	}
}

// TestAgainstNibabel generates the real benchmark input (smaller in z) and
// checks with nibabel that every voxel's world centre falls in a source voxel
// with the same label, and that the Caret extension survived.
func TestAgainstNibabel(t *testing.T) {
	py := testdata.Python(t)
	src := testdata.Path(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	out := filepath.Join(t.TempDir(), "big.nii.gz")
	if err := run(src, out, 3, 300, 300, 200); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, nibabel as nib, numpy as np
a, s = nib.load(sys.argv[1]), nib.load(sys.argv[2])
d, sd = np.asarray(a.dataobj), np.asarray(s.dataobj)
i, j, k = np.meshgrid(np.arange(300), np.arange(300), np.arange(90), indexing="ij")
idx = np.stack([i.ravel(), j.ravel(), k.ravel()])
w = a.affine @ np.vstack([idx, np.ones(idx.shape[1])])
si = np.rint(np.linalg.inv(s.affine) @ w)[:3].astype(int)
inside = ((si >= 0) & (si < np.array(sd.shape)[:, None])).all(0)
same = d[tuple(idx[:, inside])] == sd[tuple(si[:, inside])]
tile = (d[:, :, 90:180] == d[:, :, :90]).all()
print(json.dumps({"shape": list(d.shape), "dtype": str(d.dtype), "inside": float(inside.mean()),
  "same": float(same.mean()), "tiled": bool(tile), "zooms": [float(z) for z in a.header.get_zooms()],
  "labels": int((np.bincount(d.ravel()) > 0).sum() - 1), "srcLabels": int((np.bincount(sd.ravel()) > 0).sum() - 1),
  "caret": any(b"CaretExtension" in e.get_content() for e in a.header.extensions)}))
`
	cmd := exec.Command(py, "-c", script, out, src)
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("nibabel check (%s needs python3-nibabel): %v\n%s", py, err, stderrOf(err))
	}
	var got struct {
		Shape        []int
		Dtype        string
		Inside, Same float64
		Tiled, Caret bool
		Zooms        []float64
		Labels       int
		SrcLabels    int `json:"srcLabels"`
	}
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("nibabel output %q: %v", res, err)
	}
	if len(got.Shape) != 3 || got.Shape[0] != 300 || got.Shape[1] != 300 || got.Shape[2] != 200 || got.Dtype != "uint8" {
		t.Errorf("nibabel reads shape %v %s, want [300 300 200] uint8", got.Shape, got.Dtype)
	}
	if got.Inside != 1 || got.Same != 1 {
		t.Errorf("first copy: %.4f of voxels inside the source, %.4f with the source's label; want 1 and 1", got.Inside, got.Same)
	}
	if !got.Tiled || !got.Caret {
		t.Errorf("tiled along z: %v, Caret extension kept: %v; want both", got.Tiled, got.Caret)
	}
	if got.Labels != got.SrcLabels {
		t.Errorf("%d labels, source has %d", got.Labels, got.SrcLabels)
	}
	for a, z := range got.Zooms {
		if math.Abs(z-1) > 1e-6 {
			t.Errorf("zoom[%d] = %g, want 1 mm", a, z)
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func BenchmarkUpsampleTile(b *testing.B) {
	src := &labelMap{nx: 122, ny: 101, nz: 30, pixdim: [3]float32{3, 3, 3}, sformCode: 2,
		srow: [3][4]float32{{3, 0, 0, 0}, {0, 3, 0, 0}, {0, 0, 3, 0}}, data: make([]uint8, 122*101*30)}
	for i := range src.data {
		src.data[i] = uint8(i % 41)
	}
	b.SetBytes(300 * 300 * 600)
	for b.Loop() {
		upsampleTile(src, 3, 300, 300, 600)
	}
}
