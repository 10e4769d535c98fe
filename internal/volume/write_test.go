package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/testdata"
)

// obliqueAffine is left-handed (qfac -1), rotated about two axes and
// anisotropic: everything a qform must carry.
func obliqueAffine() Affine {
	c, s := math.Cos(0.3), math.Sin(0.3)
	c2, s2 := math.Cos(-0.2), math.Sin(-0.2)
	rot := mat3{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}.mul(mat3{{1, 0, 0}, {0, c2, -s2}, {0, s2, c2}})
	zoom := [3]float64{0.7, 0.8, -2.5}
	var a Affine
	for r := range 3 {
		for k := range 3 {
			a[r][k] = rot[r][k] * zoom[k]
		}
	}
	a[0][3], a[1][3], a[2][3], a[3][3] = -120.25, 33.5, -804.5, 1
	return a
}

func float32Affine(a Affine) Affine {
	for r := range 4 {
		for c := range 4 {
			a[r][c] = float64(float32(a[r][c]))
		}
	}
	return a
}

func readLabelMap(t *testing.T, rel ...string) *LabelMap {
	t.Helper()
	im, err := ReadFile(testdata.Path(t, rel...), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func TestWriteLabelMapNibabel(t *testing.T) {
	big := &LabelMap{Grid: Grid{Dims: [3]int{13, 11, 7}, Affine: obliqueAffine()}}
	for i := range big.Grid.Len() {
		big.Data = append(big.Data, uint16(i*37%1000))
	}
	big.Extensions = []Extension{{Code: 0, Data: []byte("<CaretExtension/>")}, {Code: 6, Data: []byte("0123456789abcdef")}}
	cases := []struct {
		name string
		lm   *LabelMap
		want Datatype
	}{
		{"ct_3mm_seg", readLabelMap(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz"), Uint8},
		{"dicom_seg", readLabelMap(t, "totalsegmentator-example", "dicom_seg.nii.gz"), Uint8},
		{"oblique_uint16", big, Uint16},
	}
	// Every case is written both ways: nibabel picks its reader by name, so
	// it reads each file only if the bytes follow the name.
	for _, c := range slices.Clone(cases) {
		cases = append(cases, struct {
			name string
			lm   *LabelMap
			want Datatype
		}{c.name + ".raw", c.lm, c.want})
	}
	dir := t.TempDir()
	var files []string
	for _, c := range cases {
		p := filepath.Join(dir, nameFor(c.name))
		if err := WriteLabelMapFile(p, c.lm); err != nil {
			t.Fatal(err)
		}
		checkCompression(t, p)
		files = append(files, p)
	}
	if len(cases[0].lm.Extensions) != 1 || !bytes.Contains(cases[0].lm.Extensions[0].Data, []byte("<CaretExtension>")) {
		t.Fatalf("ct_3mm_seg extensions %d, want the CaretExtension label table", len(cases[0].lm.Extensions))
	}
	infos := nibabelRead(t, files...)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := infos[i]
			var raw []byte
			if c.want == Uint8 {
				raw = make([]byte, len(c.lm.Data))
				encode8(raw, c.lm.Data)
			} else {
				raw = littleEndianBytes(t, c.lm.Data)
			}
			checkWritten(t, ref, c.lm.Grid, c.want, intentLabel, raw)
			compareExtensions(t, c.lm.Extensions, ref.Extensions)

			back, err := ReadFile(files[i], ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lm, err := back.LabelMap()
			if err != nil {
				t.Fatal(err)
			}
			if !equalSlices(lm.Data, c.lm.Data) || lm.Dims != c.lm.Dims {
				t.Error("label map read back differs")
			}
		})
	}
}

func TestWriteCTNibabel(t *testing.T) {
	im, err := ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct3mm, err := im.CT()
	if err != nil {
		t.Fatal(err)
	}
	oblique := syntheticCT([3]int{40, 30, 9}, 11)
	oblique.Affine = obliqueAffine()
	// multiblock is 5 MB of voxels: five of the parallel writer's blocks.
	multiblock := syntheticCT([3]int{256, 256, 40}, 3)
	if 2*len(multiblock.HU) < 4*gzipBlock {
		t.Fatalf("multiblock is %d bytes, under four gzip blocks", 2*len(multiblock.HU))
	}
	cases := []struct {
		name string
		ct   *CT
	}{{"ct_3mm", ct3mm}, {"oblique", oblique}, {"multiblock", multiblock}, {"ct_3mm.raw", ct3mm}, {"oblique.raw", oblique}}
	dir := t.TempDir()
	var files []string
	for _, c := range cases {
		p := filepath.Join(dir, nameFor(c.name))
		if err := WriteCTFile(p, c.ct); err != nil {
			t.Fatal(err)
		}
		checkCompression(t, p)
		files = append(files, p)
	}
	infos := nibabelRead(t, files...)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkWritten(t, infos[i], c.ct.Grid, Int16, 0, littleEndianBytes(t, c.ct.HU))
			if len(infos[i].Extensions) != 0 {
				t.Errorf("%d extensions, want none", len(infos[i].Extensions))
			}
		})
	}
}

// nameFor names a test case's file: "x.raw" as x.nii, else x.nii.gz.
func nameFor(name string) string {
	if base, ok := strings.CutSuffix(name, ".raw"); ok {
		return base + ".nii"
	}
	return name + ".nii.gz"
}

// checkCompression checks that the file's bytes are what its name says:
// gzip for .nii.gz, a NIfTI-1 header (sizeof_hdr 348) for .nii.
func checkCompression(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b
	raw := len(b) > 4 && binary.LittleEndian.Uint32(b) == 348
	if strings.HasSuffix(path, ".nii.gz") && !gz || strings.HasSuffix(path, ".nii") && !raw {
		t.Errorf("%s: begins % x, not what its name says", filepath.Base(path), b[:min(len(b), 4)])
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		want FileFormat
	}{
		{"a/labels.nii", NII}, {"labels.nii.gz", NIIGz}, {"CT.NII.GZ", NIIGz}, {"x.Nii", NII},
		{"labels.gz", 0}, {"labels.nii.zip", 0}, {".nii", 0}, {".nii.gz", 0}, {"labels", 0}, {"labels.nrrd", 0},
	} {
		got, err := FormatOf(tc.name)
		if got != tc.want || (tc.want == 0) != errors.Is(err, ErrUnknownExtension) {
			t.Errorf("FormatOf(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
		if tc.want == 0 && (err == nil || !strings.Contains(err.Error(), ".nii.gz") || !strings.Contains(err.Error(), ".nii ")) {
			t.Errorf("FormatOf(%q): error %v does not list the known extensions", tc.name, err)
		}
	}
	dir := t.TempDir()
	lm := &LabelMap{Grid: Grid{Dims: [3]int{2, 1, 1}, Affine: obliqueAffine()}, Data: []uint16{1, 2}}
	if err := WriteLabelMapFile(filepath.Join(dir, "labels.nrrd"), lm); !errors.Is(err, ErrUnknownExtension) {
		t.Errorf("WriteLabelMapFile(labels.nrrd): %v; want ErrUnknownExtension", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused name left %d files", len(entries))
	}
}

// checkWritten checks what nibabel read from a file this package wrote.
func checkWritten(t *testing.T, ref nibabelInfo, g Grid, dt Datatype, intent int, raw []byte) {
	t.Helper()
	if ref.Version != 1 || ref.Dtype != dt.String() || len(ref.Shape) != 3 || [3]int(ref.Shape) != g.Dims {
		t.Errorf("nibabel reads NIfTI-%d %s %v, want NIfTI-1 %s %v", ref.Version, ref.Dtype, ref.Shape, dt, g.Dims)
	}
	if !bytes.Equal(ref.raw, raw) {
		t.Errorf("nibabel's voxels differ from those written (first difference at byte %d)", firstDiff(ref.raw, raw))
	}
	want := float32Affine(g.Affine)
	if ref.Affine != want {
		t.Errorf("nibabel affine\n%v\nwant (float32 of the written one)\n%v", ref.Affine, want)
	}
	if ref.SformCode != 1 || ref.QformCode != 1 || ref.Qform == nil {
		t.Fatalf("qform/sform codes %d/%d, want 1/1", ref.QformCode, ref.SformCode)
	}
	if d := maxDiff(*ref.Qform, want); d > 1e-4 {
		t.Errorf("qform differs from sform by %g:\n%v", d, *ref.Qform)
	}
	if wantQfac := math.Copysign(1, g.Affine.linear().det()); ref.Pixdim0 != wantQfac {
		t.Errorf("pixdim[0] = %g, want qfac %g", ref.Pixdim0, wantQfac)
	}
	if ref.Slope != 1 || ref.Inter != 0 || ref.XYZTUnits != unitsMM || ref.IntentCode != intent || ref.Descrip != "" {
		t.Errorf("slope/inter/units/intent/descrip %g/%g/%d/%d/%q, want 1/0/%d/%d/\"\"",
			ref.Slope, ref.Inter, ref.XYZTUnits, ref.IntentCode, ref.Descrip, unitsMM, intent)
	}
	if ref.Axcodes != g.Affine.Orientation() {
		t.Errorf("nibabel orientation %s, ours %s", ref.Axcodes, g.Affine.Orientation())
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteHeaderLayout(t *testing.T) {
	lm := &LabelMap{Grid: Grid{Dims: [3]int{2, 2, 2}, Affine: obliqueAffine()}, Data: make([]uint16, 8),
		Extensions: []Extension{{Code: 0, Data: make([]byte, 7)}, {Code: 4, Data: make([]byte, 8)}, {Code: 2, Data: make([]byte, 9)}}}
	var buf bytes.Buffer
	if err := WriteLabelMap(&buf, lm); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// esizes 16, 16, 32: 8 bytes of esize and ecode plus data, padded.
	if want := int64(352 + 16 + 16 + 32); h.VoxOffset != want {
		t.Errorf("vox_offset %d, want %d", h.VoxOffset, want)
	}
	if h.VoxOffset%16 != 0 || len(h.Extensions) != 3 || h.Extensions[2].Code != 2 {
		t.Errorf("extensions %+v", h.Extensions)
	}
}

func TestWriteRejects(t *testing.T) {
	good := Grid{Dims: [3]int{2, 2, 2}, Affine: Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}}
	singular := good
	singular.Affine[2][2] = 0
	nan := good
	nan.Affine[0][3] = math.NaN()
	huge := good
	huge.Dims = [3]int{40000, 1, 1}
	zero := good
	zero.Dims = [3]int{0, 2, 2}
	cases := []struct {
		name string
		g    Grid
		n    int
		want string
	}{
		{"short data", good, 7, "7 voxels for dims"},
		{"singular affine", singular, 8, "singular"},
		{"NaN affine", nan, 8, "not finite"},
		{"dims over int16", huge, 40000, "1..32767"},
		{"zero dim", zero, 0, "1..32767"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := WriteLabelMap(new(bytes.Buffer), &LabelMap{Grid: c.g, Data: make([]uint16, c.n)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("WriteLabelMap: %v, want an error containing %q", err, c.want)
			}
			err = WriteCT(new(bytes.Buffer), &CT{Grid: c.g, HU: make([]int16, c.n)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("WriteCT: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "labels.nii.gz")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	lm := &LabelMap{Grid: Grid{Dims: [3]int{2, 1, 1}, Affine: obliqueAffine()}, Data: []uint16{1, 300}}
	if err := WriteLabelMapFile(p, lm); err != nil {
		t.Fatal(err)
	}
	im, err := ReadFile(p, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Data.([]uint16); got[1] != 300 {
		t.Errorf("read back %v", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode())
	}
	// A failed write leaves neither the target nor a temporary file.
	bad := filepath.Join(dir, "bad.nii.gz")
	if err := WriteLabelMapFile(bad, &LabelMap{Grid: lm.Grid, Data: []uint16{1}}); err == nil {
		t.Fatal("short data written")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after a failed write, want 1", len(entries))
	}
	if err := WriteCTFile(filepath.Join(dir, "missing", "ct.nii.gz"), syntheticCT([3]int{2, 2, 2}, 1)); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

// failAfter is a writer that takes n bytes, then fails every write.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestWriteCTFailedWrite: a write that fails mid-volume returns the
// writer's error, and the parallel compressor's goroutines all end (a
// long-running server would otherwise keep one, and its buffers, for
// every failed write).
func TestWriteCTFailedWrite(t *testing.T) {
	ct := syntheticCT([3]int{256, 256, 40}, 3) // five compressor blocks
	before := runtime.NumGoroutine()
	for _, n := range []int{0, 100, 1 << 20} {
		if err := WriteCT(&failAfter{n: n}, ct); !errors.Is(err, errDiskFull) {
			t.Fatalf("fail after %d bytes: err %v, want %v", n, err, errDiskFull)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after three failed writes, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
