package dicom

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func instance(n int) dcmElem { return strElem(0x0020, 0x0013, "IS", fmt.Sprint(n)) }

// stack is n slices of 6×5 at origin + k·step·normal, with InstanceNumber
// running against the position, as in the real series.
func stack(n int, iop [6]float64, origin [3]float64, step float64) []slice {
	ss := axialStack(n, 6, 5, step)
	r, c := vec3{iop[0], iop[1], iop[2]}, vec3{iop[3], iop[4], iop[5]}
	nrm := r.cross(c).unit()
	for k := range ss {
		ss[k].iop = iop
		ss[k].ipp = vec3(origin).add(nrm.scale(step * float64(k)))
		ss[k].extra = []dcmElem{instance(n - k)}
	}
	return ss
}

// TestOrientationsMatchDcm2niix writes synthetic series in every kind of
// orientation and slice order and checks voxels and affine against
// dcm2niix.
func TestOrientationsMatchDcm2niix(t *testing.T) {
	need(t, "dcm2niix", "dcm2niix")
	c, s := math.Cos(0.3), math.Sin(0.3)
	col := vec3{-s * 0.8, c * 0.8, 0.6}.unit()
	reversed := stack(4, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{0, 0, 10}, 2)
	for k := range reversed {
		reversed[k].ipp[2] = 16 - 2*float64(k)
	}
	cases := []struct {
		name string
		ss   []slice
	}{
		{"axial", stack(4, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{-10, -20, 10}, 2)},
		{"axial files in reverse", reversed},
		{"axial normal toward feet", stack(4, [6]float64{1, 0, 0, 0, -1, 0}, [3]float64{0, 0, 16}, 2.5)},
		{"sagittal", stack(4, [6]float64{0, 1, 0, 0, 0, -1}, [3]float64{7, 0, 0}, 2)},
		{"coronal", stack(4, [6]float64{1, 0, 0, 0, 0, -1}, [3]float64{0, 1, 0}, 1.25)},
		{"oblique", stack(5, [6]float64{c, s, 0, col[0], col[1], col[2]}, [3]float64{5, 6, 7}, 2.5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "in")
			writeSeries(t, dir, tc.ss)
			got := readDir(t, dir)
			want, err := dcm2niix(filepath.Join(t.TempDir(), "out"), dir)
			if err != nil {
				t.Fatal(err)
			}
			compareCT(t, got.CT, want)
		})
	}
}

// TestRescaleAndSign checks HU per slice: slope and intercept may differ
// between slices, signed samples are sign-extended from BitsStored.
func TestRescaleAndSign(t *testing.T) {
	ss := axialStack(3, 2, 2, 1.5)
	ss[0].pixels = []int32{0, 1, 2, 3}
	ss[0].intercept = -1024
	ss[1].pixels = []int32{0, 1, 2, 3}
	ss[1].slope, ss[1].intercept = 2.5, -100
	// 12 bits stored, signed, garbage in the 4 bits above: 0xF800 is -2048.
	ss[2].pixels = []int32{0x0FFF, 0x7800, 0x1001, 0x37FF}
	ss[2].bitsStored, ss[2].pixelRep = 12, 1
	dir := t.TempDir()
	writeSeries(t, dir, ss)
	res := readDir(t, dir)
	// rows are flipped: output row 0 is DICOM row 1
	want := []int16{
		2 - 1024, 3 - 1024, 0 - 1024, 1 - 1024,
		-95, -92, -100, -98, // 2*2.5-100 = -95; 3*2.5-100 = -92.5 → -92 (half to even)
		1, 2047, -1, -2048,
	}
	if i := firstDiff(res.CT.HU, want); i >= 0 {
		t.Fatalf("HU %v, want %v", res.CT.HU, want)
	}
}

// TestSeriesErrors builds bad inputs and checks each error's kind and that
// its message names what was measured.
func TestSeriesErrors(t *testing.T) {
	axial := [6]float64{1, 0, 0, 0, 1, 0}
	cases := []struct {
		name  string
		build func() []slice
		opt   Options
		want  error
		text  string
	}{
		{"gantry tilt", func() []slice {
			ss := stack(5, axial, [3]float64{}, 2)
			for k := range ss {
				ss[k].ipp[1] += 0.5 * float64(k)
				ss[k].extra = append(ss[k].extra, strElem(0x0018, 0x1120, "DS", "14"))
			}
			return ss
		}, Options{}, ErrGantryTilt, "14.04° from the slice normal"},
		{"uneven spacing", func() []slice {
			ss := stack(5, axial, [3]float64{}, 2)
			ss[3].ipp[2], ss[4].ipp[2] = 6.7, 8.7
			return ss
		}, Options{}, ErrIrregularSpacing, "range 2.000–2.700"},
		{"missing slice", func() []slice {
			ss := stack(6, axial, [3]float64{}, 2)
			return append(ss[:3], ss[4:]...)
		}, Options{}, ErrIrregularSpacing, "4.00 mm between 4.00 and 8.00 (about 1 missing)"},
		{"two images at one position", func() []slice {
			ss := stack(4, axial, [3]float64{}, 2)
			ss[2].ipp = ss[1].ipp
			return ss
		}, Options{}, ErrDuplicateSlices, "two different images at 2.000 mm"},
		{"mixed matrix", func() []slice {
			ss := stack(4, axial, [3]float64{}, 2)
			ss[3].rows, ss[3].pixels = 4, ss[3].pixels[:20]
			return ss
		}, Options{}, ErrMixedGeometry, "1 files of 5×4 px"},
		{"mixed pixel spacing", func() []slice {
			ss := stack(4, axial, [3]float64{}, 2)
			ss[0].spacing = [2]float64{0.7, 0.7}
			return ss
		}, Options{}, ErrMixedGeometry, "spacing 0.7×0.7 mm"},
		{"mixed orientations", func() []slice {
			ss := stack(8, axial, [3]float64{}, 2)
			for k := 4; k < 8; k++ {
				ss[k].iop = [6]float64{1, 0, 0, 0, 0, -1}
			}
			return ss
		}, Options{}, ErrMixedGeometry, "orientation 1.000,0.000,0.000,0.000,0.000,-1.000"},
		{"one slice", func() []slice { return stack(1, axial, [3]float64{}, 2) }, Options{}, ErrTooFewSlices, "has 1 image"},
		{"MR only", func() []slice {
			ss := stack(3, axial, [3]float64{}, 2)
			for k := range ss {
				ss[k].modality = "MR"
			}
			return ss
		}, Options{}, ErrNoCTSeries, `modality "MR", not CT`},
		{"no pixel data", func() []slice {
			return []slice{{sopClass: "1.2.840.10008.5.1.4.1.1.88.11", modality: "SR", fragments: nil, rows: 0}}
		}, Options{}, ErrNoCTSeries, "SOP class Basic Text SR"},
		{"lossy JPEG", func() []slice {
			ss := stack(3, axial, [3]float64{}, 2)
			for k := range ss {
				ss[k].ts, ss[k].fragments = "1.2.840.10008.1.2.4.50", [][]byte{{0xFF, 0xD8, 0xFF, 0xD9}}
			}
			return ss
		}, Options{}, ErrUnsupportedSyntax, "1.2.840.10008.1.2.4.50 (JPEG Baseline (Process 1))"},
		{"truncated slice of the series", func() []slice {
			ss := stack(4, axial, [3]float64{}, 2)
			ss[3].extra = append(ss[3].extra, dcmElem{0x7777, 0x0000, "UN", nil}) // marker for truncation below
			return ss
		}, Options{}, ErrCorrupt, "im003.dcm"},
		{"volume over MaxBytes", func() []slice {
			ss := axialStack(4, 100, 100, 2)
			for k := range ss {
				ss[k].bitsAllocated, ss[k].pixelRep = 8, 0 // the volume is int16: twice the files
			}
			return ss
		}, Options{MaxBytes: 50000}, ErrTooLarge, "needs 80000 bytes"},
		{"folder over MaxBytes", func() []slice { return stack(4, axial, [3]float64{}, 2) }, Options{MaxBytes: 100}, ErrTooLarge, "more than 100 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ss := c.build()
			for i, s := range ss {
				b := s.bytes()
				if len(s.extra) > 0 && s.extra[len(s.extra)-1].group == 0x7777 {
					s.extra = s.extra[:len(s.extra)-1]
					b = s.bytes()
					b = b[:len(b)-7] // cut into the pixel data
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("im%03d.dcm", i)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadDir(context.Background(), dir, c.opt)
			t.Log(err)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error:\n  %v\nwant %v naming %q", err, c.want, c.text)
			}
		})
	}
}

func TestNotDICOM(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "DICOMDIR"), stack(1, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{}, 1)[0].bytes(), 0o644)
	_, err := ReadDir(context.Background(), dir, Options{})
	if !errors.Is(err, ErrNotDICOM) {
		t.Fatalf("error %v, want ErrNotDICOM", err)
	}
	if _, err := ReadPath(context.Background(), filepath.Join(dir, "notes.txt"), Options{}); !errors.Is(err, ErrNotDICOM) {
		t.Fatalf("ReadPath of a text file: %v, want ErrNotDICOM", err)
	}
}

// TestChooseSeries: several series, localizers and duplicates; the CT
// series with most slices wins and every series says why.
func TestChooseSeries(t *testing.T) {
	axial := [6]float64{1, 0, 0, 0, 1, 0}
	relabel := func(ss []slice, uid string, num int, desc string) []slice {
		for k := range ss {
			ss[k].seriesUID, ss[k].seriesNumber, ss[k].description = uid, num, desc
			ss[k].sopUID = fmt.Sprintf("%s.%d", uid, k)
		}
		return ss
	}
	small := relabel(stack(3, axial, [3]float64{}, 5), "1.1", 3, "thick")
	big := relabel(stack(6, axial, [3]float64{}, 2), "1.2", 4, "thin")
	mr := relabel(stack(9, axial, [3]float64{}, 1), "1.3", 5, "mr")
	for k := range mr {
		mr[k].modality = "MR"
	}
	// a localizer in the big series' UID, one labelled, one only off-axis
	loc := relabel(stack(2, [6]float64{1, 0, 0, 0, 0, -1}, [3]float64{}, 1), "1.2", 4, "thin")
	loc[0].imageType = `ORIGINAL\PRIMARY\LOCALIZER`
	loc[0].sopUID, loc[1].sopUID = "1.2.90", "1.2.91"
	// empty UIDs: grouped by the fallback key; series numbers tell them apart
	anon := relabel(stack(4, axial, [3]float64{}, 3), "", 7, "anonymous")
	anon2 := relabel(stack(5, axial, [3]float64{}, 3), "", 8, "anonymous too")
	dir := t.TempDir()
	var all []slice
	for _, ss := range [][]slice{small, big, mr, loc, anon, anon2} {
		all = append(all, ss...)
	}
	all = append(all, big[2]) // the same instance twice
	writeSeries(t, dir, all)

	res := readDir(t, dir)
	if res.Chosen.Number != 4 || res.Info.Slices != 6 || !res.Chosen.Chosen {
		t.Fatalf("chose %+v with %d slices, want series #4 with 6", res.Chosen, res.Info.Slices)
	}
	reasons := map[int]string{}
	for _, s := range res.Series {
		reasons[s.Number] = s.Reason
	}
	wantReasons := map[int]string{
		3: `fewer slices (3) than series #4 "thin" (6)`,
		4: "CT series with the most slices (6)",
		5: `modality "MR", not CT`,
		7: `fewer slices (4) than series #4 "thin" (6)`,
		8: `fewer slices (5) than series #4 "thin" (6)`,
	}
	for n, w := range wantReasons {
		if reasons[n] != w {
			t.Errorf("series #%d: reason %q, want %q", n, reasons[n], w)
		}
	}
	if len(res.Series) != 5 {
		t.Errorf("%d series, want 5: %+v", len(res.Series), res.Series)
	}
	warn := strings.Join(res.Warnings, "\n")
	for _, w := range []string{"dropped 2 localizer images", "dropped 1 repeated copies of a SOP instance"} {
		if !strings.Contains(warn, w) {
			t.Errorf("warnings %q lack %q", warn, w)
		}
	}
	sum := res.Summary()
	for _, w := range []string{`series: #4 "thin" (CT, 6 slices of 5×6)`, "5 series found", `- #5 "mr" (MR`, "orientation LAS"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
}

// TestPrivacy: identifying attributes in the input appear nowhere in the
// result; the acquisition date only with KeepDate.
func TestPrivacy(t *testing.T) {
	secrets := []dcmElem{
		strElem(0x0008, 0x0020, "DA", "20240101"), // StudyDate
		strElem(0x0008, 0x0022, "DA", "20240102"), // AcquisitionDate
		strElem(0x0008, 0x0080, "LO", "Saint Elsewhere Hospital"),
		strElem(0x0008, 0x0090, "PN", "House^Gregory"),
		strElem(0x0010, 0x0010, "PN", "Doe^Jane"),
		strElem(0x0010, 0x0020, "LO", "PID-4711"),
		strElem(0x0010, 0x0030, "DA", "19700101"),
		strElem(0x0020, 0x0010, "SH", "STUDY-99"),
		strElem(0x0008, 0x0050, "SH", "ACC-1234"),
	}
	ss := stack(3, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{}, 2)
	for k := range ss {
		ss[k].extra = append(ss[k].extra, secrets...)
		ss[k].seriesUID, ss[k].sopUID = "1.2.826.0.1.555", fmt.Sprintf("1.2.826.0.1.555.%d", k)
	}
	dir := t.TempDir()
	writeSeries(t, dir, ss)
	for _, keep := range []bool{false, true} {
		res, err := ReadDir(context.Background(), dir, Options{KeepDate: keep})
		if err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("%+v %+v %+v %q %s", res.Info, res.Chosen, res.Series, res.Warnings, res.Summary())
		for _, s := range []string{"20240101", "Elsewhere", "House", "Doe", "PID-4711", "19700101", "STUDY-99", "ACC-1234", "1.2.826.0.1.555"} {
			if strings.Contains(text, s) {
				t.Errorf("KeepDate=%v: %q leaks into the result: %s", keep, s, text)
			}
		}
		if got := strings.Contains(text, "20240102"); got != keep {
			t.Errorf("KeepDate=%v: acquisition date present = %v", keep, got)
		}
	}
}

// TestNoPreamble reads files without preamble and meta header (old
// ACR-NEMA style exports), and refuses a single file given to ReadPath.
func TestNoPreamble(t *testing.T) {
	ss := stack(3, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{}, 2)
	dir := t.TempDir()
	var files []string
	for i, s := range ss {
		b := s.bytes()
		meta := int(binary.LittleEndian.Uint32(b[140:]))
		name := filepath.Join(dir, fmt.Sprintf("IM%d", i))
		if err := os.WriteFile(name, b[144+meta:], 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	res := readDir(t, dir)
	if res.Info.Slices != 3 || res.CT.HU[0] != int16(ss[0].pixels[5*5]) {
		t.Fatalf("slices %d, HU[0] %d, want 3, %d", res.Info.Slices, res.CT.HU[0], ss[0].pixels[25])
	}
	if _, err := ReadPath(context.Background(), files[0], Options{}); !errors.Is(err, ErrTooFewSlices) {
		t.Fatalf("ReadPath of one file: %v, want ErrTooFewSlices", err)
	}
}

func TestIsDICOMAndIsZip(t *testing.T) {
	full := stack(1, [6]float64{1, 0, 0, 0, 1, 0}, [3]float64{}, 1)[0].bytes()
	noPreamble := []byte("\x08\x00\x05\x00CS\x0a\x00ISO_IR 100")
	implicit := []byte("\x08\x00\x16\x00\x1a\x00\x00\x001.2.840.10008.5.1.4.1.1.2\x00")
	cases := []struct {
		name       string
		head       []byte
		dicom, zip bool
	}{
		{"part 10", full[:132], true, false},
		{"no preamble, explicit", noPreamble, true, false},
		{"no preamble, implicit", implicit, true, false},
		{"zip", []byte("PK\x03\x04\x14\x00"), false, true},
		{"empty zip", []byte("PK\x05\x06"), false, true},
		{"text", []byte("hello, world, this is text"), false, false},
		{"gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, false, false},
		{"short", []byte("DI"), false, false},
	}
	for _, c := range cases {
		if IsDICOM(c.head) != c.dicom || IsZip(c.head) != c.zip {
			t.Errorf("%s: IsDICOM %v IsZip %v, want %v %v", c.name, IsDICOM(c.head), IsZip(c.head), c.dicom, c.zip)
		}
	}
}
