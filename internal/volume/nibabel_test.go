package volume

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

// nibabelInfo is what testdata/nibabel_ref.py reports nibabel reads.
type nibabelInfo struct {
	Path       string         `json:"path"`
	Version    int            `json:"version"`
	Shape      []int          `json:"shape"`
	Dtype      string         `json:"dtype"`
	Affine     [4][4]float64  `json:"affine"`
	Qform      *[4][4]float64 `json:"qform"`
	Sform      *[4][4]float64 `json:"sform"`
	QformCode  int            `json:"qform_code"`
	SformCode  int            `json:"sform_code"`
	Slope      float64        `json:"slope"`
	Inter      float64        `json:"inter"`
	Axcodes    string         `json:"axcodes"`
	Zooms      [3]float64     `json:"zooms"`
	Extensions [][2]any       `json:"extensions"`
	ScaledSum  float64        `json:"scaled_sum"`
	Samples    [][2]float64   `json:"samples"`
	IntentCode int            `json:"intent_code"`
	XYZTUnits  int            `json:"xyzt_units"`
	Descrip    string         `json:"descrip"`
	Datatype   int            `json:"datatype"`
	Pixdim0    float64        `json:"pixdim0"`
	raw        []byte         // nibabel's unscaled voxels, little-endian, Fortran order
}

func runPython(t *testing.T, args ...string) string {
	t.Helper()
	return runPythonInput(t, "", args...)
}

// runPythonInput runs testdata/nibabel_ref.py with stdin.
func runPythonInput(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	script := filepath.Join("testdata", "nibabel_ref.py")
	cmd := exec.Command(testdata.Python(t), append([]string{script}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n(needs Debian's python3-nibabel: apt-get install python3-nibabel)", script, args[0], err, stderr.String())
	}
	return string(out)
}

// nibabelRead has nibabel read each file and returns what it saw.
func nibabelRead(t *testing.T, files ...string) []nibabelInfo {
	t.Helper()
	out := t.TempDir()
	runPython(t, append([]string{"dump", out}, files...)...)
	infos := make([]nibabelInfo, len(files))
	for i := range files {
		js, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(js, &infos[i]); err != nil {
			t.Fatalf("%s: %v", files[i], err)
		}
		if infos[i].raw, err = os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.raw", i))); err != nil {
			t.Fatal(err)
		}
	}
	return infos
}

// referenceFiles is every .nii.gz in the shared data plus the files
// nibabel_ref.py makes: every datatype in both byte orders, NIfTI-2,
// qform-only, scaled, no xform, labels, 4D, extensions.
func referenceFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(testdata.Dir(t), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".nii.gz") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d .nii.gz files in the shared data", len(files))
	}
	dir := t.TempDir()
	for _, name := range strings.Fields(runPython(t, "make", dir)) {
		files = append(files, filepath.Join(dir, name))
	}
	return files
}

func TestReadMatchesNibabel(t *testing.T) {
	files := referenceFiles(t)
	infos := nibabelRead(t, files...)
	for i, ref := range infos {
		t.Run(filepath.Base(files[i]), func(t *testing.T) {
			im, err := ReadFile(files[i], ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			compareWithNibabel(t, im, ref)
		})
	}
}

func compareWithNibabel(t *testing.T, im *Image, ref nibabelInfo) {
	t.Helper()
	if im.Version != ref.Version {
		t.Errorf("version %d, nibabel %d", im.Version, ref.Version)
	}
	if fmt.Sprint(im.Shape) != fmt.Sprint(ref.Shape) {
		t.Errorf("shape %v, nibabel %v", im.Shape, ref.Shape)
	}
	if im.Datatype.String() != ref.Dtype || int(im.Datatype) != ref.Datatype {
		t.Errorf("datatype %s (%d), nibabel %s (%d)", im.Datatype, im.Datatype, ref.Dtype, ref.Datatype)
	}
	if d := maxDiff(im.Affine, ref.Affine); d > 1e-5 {
		t.Errorf("affine differs by %g:\n got %v\nwant %v", d, im.Affine, ref.Affine)
	}
	if im.QformCode != ref.QformCode || im.SformCode != ref.SformCode {
		t.Errorf("qform/sform codes %d/%d, nibabel %d/%d", im.QformCode, im.SformCode, ref.QformCode, ref.SformCode)
	}
	if ref.Qform != nil {
		if d := maxDiff(im.Qform, *ref.Qform); d > 1e-5 {
			t.Errorf("qform differs by %g:\n got %v\nwant %v", d, im.Qform, *ref.Qform)
		}
	}
	if ref.Sform != nil && maxDiff(im.Sform, *ref.Sform) != 0 {
		t.Errorf("sform %v, nibabel %v", im.Sform, *ref.Sform)
	}
	if s, in := im.Scaling(); s != ref.Slope || in != ref.Inter {
		t.Errorf("scaling %g, %g; nibabel %g, %g", s, in, ref.Slope, ref.Inter)
	}
	if o := im.Affine.Orientation(); o != ref.Axcodes {
		t.Errorf("orientation %s, nibabel %s", o, ref.Axcodes)
	}
	for k, z := range im.Spacing() {
		if math.Abs(z-ref.Zooms[k]) > 1e-9 {
			t.Errorf("spacing %v, nibabel %v", im.Spacing(), ref.Zooms)
			break
		}
	}
	if im.IntentCode != ref.IntentCode || im.XYZTUnits != ref.XYZTUnits || im.Descrip != ref.Descrip {
		t.Errorf("intent/units/descrip %d/%d/%q, nibabel %d/%d/%q", im.IntentCode, im.XYZTUnits, im.Descrip, ref.IntentCode, ref.XYZTUnits, ref.Descrip)
	}
	compareExtensions(t, im.Extensions, ref.Extensions)

	raw := littleEndianBytes(t, im.Data)
	if !bytes.Equal(raw, ref.raw) {
		t.Errorf("voxels differ from nibabel's (%d vs %d bytes, first difference at byte %d)", len(raw), len(ref.raw), firstDiff(raw, ref.raw))
	}
	scaled := scaledFloat64(im)
	sum := 0.0
	for _, v := range scaled {
		sum += v
	}
	if math.Abs(sum-ref.ScaledSum) > 1e-9*math.Max(1, math.Abs(ref.ScaledSum)) {
		t.Errorf("sum of scaled voxels %.17g, nibabel get_fdata %.17g", sum, ref.ScaledSum)
	}
	for _, s := range ref.Samples {
		if v := scaled[int(s[0])]; v != s[1] {
			t.Errorf("scaled voxel %d = %.17g, nibabel %.17g", int(s[0]), v, s[1])
		}
	}
	f32 := im.Float32()
	for _, s := range ref.Samples {
		if v := f32[int(s[0])]; v != float32(s[1]) {
			t.Errorf("Float32()[%d] = %g, nibabel %g", int(s[0]), v, float32(s[1]))
		}
	}
}

func compareExtensions(t *testing.T, got []Extension, want [][2]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d extensions, nibabel %d", len(got), len(want))
		return
	}
	for i, w := range want {
		code, data := int32(w[0].(float64)), w[1].(string)
		if got[i].Code != code || hex.EncodeToString(got[i].Data) != data {
			t.Errorf("extension %d: code %d, %d bytes; nibabel code %d, %d bytes", i, got[i].Code, len(got[i].Data), code, len(data)/2)
		}
	}
}

func maxDiff(a, b [4][4]float64) float64 {
	d := 0.0
	for r := range 4 {
		for c := range 4 {
			d = math.Max(d, math.Abs(a[r][c]-b[r][c]))
		}
	}
	return d
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// littleEndianBytes serialises typed voxels as nibabel_ref.py dumps them.
func littleEndianBytes(t *testing.T, data any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scaledFloat64 is get_fdata: stored value times slope plus intercept.
func scaledFloat64(im *Image) []float64 {
	slope, inter := im.Scaling()
	var out []float64
	add := func(v float64) {
		if slope != 1 {
			v *= slope
		}
		out = append(out, v+inter)
	}
	switch d := im.Data.(type) {
	case []uint8:
		for _, v := range d {
			add(float64(v))
		}
	case []int8:
		for _, v := range d {
			add(float64(v))
		}
	case []int16:
		for _, v := range d {
			add(float64(v))
		}
	case []uint16:
		for _, v := range d {
			add(float64(v))
		}
	case []int32:
		for _, v := range d {
			add(float64(v))
		}
	case []uint32:
		for _, v := range d {
			add(float64(v))
		}
	case []int64:
		for _, v := range d {
			add(float64(v))
		}
	case []uint64:
		for _, v := range d {
			add(float64(v))
		}
	case []float32:
		for _, v := range d {
			add(float64(v))
		}
	case []float64:
		for _, v := range d {
			add(v)
		}
	}
	return out
}
