package dicom

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// fixtureDir holds what several tests share (the decompressed real series,
// dcm2niix's reference); TestMain removes it.
var fixtureDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "iris-dicom-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// need fails the test when a reference tool is missing.
func need(t testing.TB, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: apt-get install -y %s", tool, pkg)
	}
	return p
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func realSeriesDir(t testing.TB) string {
	return testdata.Path(t, "totalsegmentator-example", "dicom")
}

// fixture computes a shared value once per test binary.
type fixture[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (f *fixture[T]) get(t testing.TB, make func() (T, error)) T {
	t.Helper()
	f.once.Do(func() { f.v, f.err = make() })
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.v
}

var refFixture fixture[*volume.CT]

// realReference is dcm2niix's conversion of the real series.
func realReference(t testing.TB) *volume.CT {
	need(t, "dcm2niix", "dcm2niix")
	src := realSeriesDir(t)
	return refFixture.get(t, func() (*volume.CT, error) {
		return dcm2niix(filepath.Join(fixtureDir, "ref-real"), src)
	})
}

// dcm2niix converts dir and reads the NIfTI back with the volume package.
func dcm2niix(out, dir string) (*volume.CT, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	b, err := exec.Command("dcm2niix", "-z", "n", "-b", "n", "-f", "ref", "-o", out, dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("dcm2niix %s: %v\n%s", dir, err, b)
	}
	img, err := volume.ReadFile(filepath.Join(out, "ref.nii"), volume.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("read dcm2niix output of %s: %v\n%s", dir, err, b)
	}
	return img.CT()
}

type nativeSeries struct {
	dir   string
	order []string // file names by position along the normal, ascending
}

var nativeFixture fixture[nativeSeries]

// nativeReal is the real series decompressed to explicit VR little endian
// by pydicom (through Pillow's OpenJPEG), the source for re-encoding it
// with dcmtk into every other transfer syntax.
func nativeReal(t testing.TB) nativeSeries {
	py := testdata.Python(t)
	src := realSeriesDir(t)
	return nativeFixture.get(t, func() (nativeSeries, error) {
		dst := filepath.Join(fixtureDir, "native")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nativeSeries{}, err
		}
		script := `
import os, sys, pydicom
src, dst = sys.argv[1], sys.argv[2]
z = []
for f in sorted(os.listdir(src)):
    ds = pydicom.dcmread(os.path.join(src, f))
    ds.decompress()
    ds['PixelData'].VR = 'OW'  # 16-bit samples: OW, so big endian swaps them
    ds.save_as(os.path.join(dst, f))
    z.append((float(ds.ImagePositionPatient[2]), f))
for _, f in sorted(z):
    print(f)
`
		out, err := exec.Command(py, "-c", script, src, dst).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			return nativeSeries{}, fmt.Errorf("pydicom decompress (JPEG 2000 needs Debian's python3-pil): %v\n%s", err, stderr)
		}
		return nativeSeries{dir: dst, order: strings.Fields(string(out))}, nil
	})
}

// pydicomFrames returns frame 0 of each file as pydicom's pixel_array,
// flattened (rows, columns, samples).
func pydicomFrames(t testing.TB, files []string) [][]int32 {
	t.Helper()
	py := testdata.Python(t)
	dir := t.TempDir()
	script := `
import sys, numpy as np, pydicom
out = sys.argv[1]
for i, f in enumerate(sys.argv[2:]):
    ds = pydicom.dcmread(f)
    try:
        a = ds.pixel_array
    except Exception as e:
        sys.exit(f'{f}: {e}')
    if int(ds.get('NumberOfFrames', 1) or 1) > 1:
        a = a[0]
    a.astype('<i4').tofile(f'{out}/{i}.raw')
`
	cmd := exec.Command(py, append([]string{"-c", script, dir}, files...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pydicom pixel_array: %v\n%s", err, b)
	}
	out := make([][]int32, len(files))
	for i := range files {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(i)+".raw"))
		if err != nil {
			t.Fatal(err)
		}
		v := make([]int32, len(b)/4)
		binary.Read(bytes.NewReader(b), binary.LittleEndian, v)
		out[i] = v
	}
	return out
}

// decodeFile decodes frame 0 of one file the way the series reader does.
func decodeFile(path string) ([]int32, *header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, _ := f.Stat()
	h, err := readHeader(f, st.Size())
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, nil, err
	}
	data, err := readPixels(f, st.Size())
	if err != nil {
		return nil, h, err
	}
	dec, err := decoderFor(h.ts)
	if err != nil {
		return nil, h, err
	}
	buf := make([]int32, h.frame().len())
	if err := dec.decode(data, h.frame(), buf); err != nil {
		return nil, h, err
	}
	storedValues(buf, h.bitsStored, h.pixelRep)
	return buf, h, nil
}

// firstDiff returns the index of the first difference, or -1.
func firstDiff[T comparable](a, b []T) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// compareCT asserts voxel-for-voxel equality and affines within 1e-4.
func compareCT(t testing.TB, got, want *volume.CT) {
	t.Helper()
	if got.Dims != want.Dims {
		t.Fatalf("dims %v, want %v", got.Dims, want.Dims)
	}
	if d := affineDiff(got.Affine, want.Affine); d > 1e-4 {
		t.Errorf("affine differs by %g:\n got %v\nwant %v", d, got.Affine, want.Affine)
	}
	if i := firstDiff(got.HU, want.HU); i >= 0 {
		n := 0
		for j := range got.HU {
			if got.HU[j] != want.HU[j] {
				n++
			}
		}
		nx, ny := got.Dims[0], got.Dims[1]
		t.Errorf("%d of %d voxels differ; first at (%d,%d,%d): %d, want %d",
			n, len(got.HU), i%nx, i/nx%ny, i/(nx*ny), got.HU[i], want.HU[i])
	}
}

func affineDiff(a, b volume.Affine) float64 {
	d := 0.0
	for r := range 4 {
		for c := range 4 {
			d = math.Max(d, math.Abs(a[r][c]-b[r][c]))
		}
	}
	return d
}

// subVolume is slices k0..k0+n-1 of v, with the affine moved to k0.
func subVolume(v *volume.CT, k0, n int) *volume.CT {
	per := v.Dims[0] * v.Dims[1]
	out := &volume.CT{Grid: v.Grid, HU: v.HU[k0*per : (k0+n)*per]}
	out.Dims[2] = n
	for r := range 3 {
		out.Affine[r][3] += float64(k0) * v.Affine[r][2]
	}
	return out
}

func readDir(t testing.TB, dir string) *Result {
	t.Helper()
	res, err := ReadDir(context.Background(), dir, Options{})
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return res
}

// ---- a minimal DICOM writer for synthetic inputs ----

// dcmElem is one element, explicit VR little endian.
type dcmElem struct {
	group, elem uint16
	vr          string
	val         []byte
}

func strElem(g, e uint16, vr, s string) dcmElem {
	b := []byte(s)
	if len(b)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" || vr == "OB" {
			pad = 0
		}
		b = append(b, pad)
	}
	return dcmElem{g, e, vr, b}
}

func usElem(g, e uint16, v int) dcmElem {
	return dcmElem{g, e, "US", binary.LittleEndian.AppendUint16(nil, uint16(v))}
}

func dsList(v ...float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, `\`)
}

func (e dcmElem) appendTo(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, e.group)
	b = binary.LittleEndian.AppendUint16(b, e.elem)
	b = append(b, e.vr...)
	switch e.vr {
	case "OB", "OW", "SQ", "UN", "UT", "OF", "OD", "OL":
		b = append(b, 0, 0)
		if e.val == nil { // undefined length (encapsulated pixel data)
			return binary.LittleEndian.AppendUint32(b, 0xFFFFFFFF)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.val)))
	default:
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.val)))
	}
	return append(b, e.val...)
}

// slice describes one synthetic CT image.
type slice struct {
	ts            string // default explicit VR little endian
	sopClass      string // default CT Image Storage
	sopUID        string
	seriesUID     string
	seriesNumber  int
	description   string
	modality      string // default CT
	imageType     string
	rows, cols    int
	iop           [6]float64
	ipp           [3]float64
	spacing       [2]float64
	bitsAllocated int // default 16
	bitsStored    int // default bitsAllocated
	pixelRep      int
	samples       int     // default 1
	photometric   string  // default MONOCHROME2
	slope         float64 // default 1
	intercept     float64
	pixels        []int32  // stored values, row-major
	fragments     [][]byte // encapsulated pixel data instead of pixels
	extra         []dcmElem
}

func (s slice) bytes() []byte {
	ts := orDefault(s.ts, tsExplicitLE)
	sop := orDefault(s.sopClass, "1.2.840.10008.5.1.4.1.1.2")
	ba := s.bitsAllocated
	if ba == 0 {
		ba = 16
	}
	bs := s.bitsStored
	if bs == 0 {
		bs = ba
	}
	slope := s.slope
	if slope == 0 {
		slope = 1
	}
	els := []dcmElem{
		strElem(0x0008, 0x0008, "CS", orDefault(s.imageType, `ORIGINAL\PRIMARY\AXIAL`)),
		strElem(0x0008, 0x0016, "UI", sop),
		strElem(0x0008, 0x0018, "UI", s.sopUID),
		strElem(0x0008, 0x0060, "CS", orDefault(s.modality, "CT")),
		strElem(0x0008, 0x103E, "LO", s.description),
		strElem(0x0020, 0x000E, "UI", s.seriesUID),
		strElem(0x0020, 0x0011, "IS", fmt.Sprint(s.seriesNumber)),
		strElem(0x0020, 0x0032, "DS", dsList(s.ipp[:]...)),
		strElem(0x0020, 0x0037, "DS", dsList(s.iop[:]...)),
		strElem(0x0020, 0x0052, "UI", "1.2.3.4"),
		usElem(0x0028, 0x0002, max(s.samples, 1)),
		strElem(0x0028, 0x0004, "CS", orDefault(s.photometric, "MONOCHROME2")),
		usElem(0x0028, 0x0010, s.rows),
		usElem(0x0028, 0x0011, s.cols),
		strElem(0x0028, 0x0030, "DS", dsList(s.spacing[:]...)),
		usElem(0x0028, 0x0100, ba),
		usElem(0x0028, 0x0101, bs),
		usElem(0x0028, 0x0102, bs-1),
		usElem(0x0028, 0x0103, s.pixelRep),
		strElem(0x0028, 0x1052, "DS", fmt.Sprint(s.intercept)),
		strElem(0x0028, 0x1053, "DS", fmt.Sprint(slope)),
	}
	els = append(els, s.extra...)
	if s.fragments != nil {
		els = append(els, dcmElem{0x7FE0, 0x0010, "OB", nil})
	} else {
		var px []byte
		for _, v := range s.pixels {
			switch ba {
			case 8:
				px = append(px, byte(v))
			case 16:
				px = binary.LittleEndian.AppendUint16(px, uint16(v))
			case 32:
				px = binary.LittleEndian.AppendUint32(px, uint32(v))
			}
		}
		vr := "OW"
		if ba == 8 {
			vr = "OB"
			if len(px)%2 == 1 {
				px = append(px, 0)
			}
		}
		els = append(els, dcmElem{0x7FE0, 0x0010, vr, px})
	}
	sort.SliceStable(els, func(i, j int) bool {
		return uint32(els[i].group)<<16|uint32(els[i].elem) < uint32(els[j].group)<<16|uint32(els[j].elem)
	})

	var meta []byte
	for _, e := range []dcmElem{
		{0x0002, 0x0001, "OB", []byte{0, 1}},
		strElem(0x0002, 0x0002, "UI", sop),
		strElem(0x0002, 0x0003, "UI", orDefault(s.sopUID, "1.2.3")),
		strElem(0x0002, 0x0010, "UI", ts),
	} {
		meta = e.appendTo(meta)
	}
	b := make([]byte, 128, 1<<16)
	b = append(b, "DICM"...)
	b = dcmElem{0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))}.appendTo(b)
	b = append(b, meta...)
	for _, e := range els {
		b = e.appendTo(b)
	}
	if s.fragments != nil {
		item := func(b, v []byte) []byte {
			b = append(b, 0xFE, 0xFF, 0x00, 0xE0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			return append(b, v...)
		}
		b = item(b, nil) // empty basic offset table
		for _, f := range s.fragments {
			if len(f)%2 == 1 {
				f = append(slices.Clone(f), 0)
			}
			b = item(b, f)
		}
		b = append(b, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	}
	return b
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// axialStack is n slices of rows×cols, spacing step along +z, IOP axial,
// pixel values that identify row, column and slice.
func axialStack(n, rows, cols int, step float64) []slice {
	out := make([]slice, n)
	for k := range out {
		px := make([]int32, rows*cols)
		for i := range px {
			px[i] = int32(i%cols*3 + i/cols*7 + k*100 - 1000)
		}
		out[k] = slice{
			seriesUID: "1.2.3.9", seriesNumber: 2, description: "synthetic", sopUID: fmt.Sprintf("1.2.3.9.%d", k),
			rows: rows, cols: cols, iop: [6]float64{1, 0, 0, 0, 1, 0}, ipp: [3]float64{-10, -20, float64(k) * step},
			spacing: [2]float64{0.75, 0.8}, pixelRep: 1, pixels: px,
		}
	}
	return out
}

// writeSeries writes each slice as dir/name%03d.dcm.
func writeSeries(t testing.TB, dir string, ss []slice) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range ss {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("im%03d.dcm", i)), s.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
