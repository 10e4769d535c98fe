package dicom

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTransferSyntaxesCT re-encodes slices of the real CT series with dcmtk
// into every syntax the package reads and checks that the volume read back
// equals dcm2niix's conversion of the original JPEG 2000 series, voxel for
// voxel; lossy variants are compared with dcmtk's own decoding instead.
func TestTransferSyntaxesCT(t *testing.T) {
	for _, tool := range []string{"dcmconv", "dcmcrle", "dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls"} {
		need(t, tool, "dcmtk")
	}
	native := nativeReal(t)
	ref := realReference(t)
	const n = 3 // slices per syntax: enough for a series, few dcmtk runs
	cases := []struct {
		name   string
		ts     string
		encode []string // tool and options
		decode string   // dcmtk decoder for lossy variants, "" when lossless
	}{
		{"implicit LE", tsImplicitLE, []string{"dcmconv", "+ti"}, ""},
		{"explicit LE", tsExplicitLE, []string{"dcmconv", "+te"}, ""},
		{"explicit BE", tsExplicitBE, []string{"dcmconv", "+tb"}, ""},
		{"deflated", tsDeflatedLE, []string{"dcmconv", "+td"}, ""},
		{"RLE", tsRLE, []string{"dcmcrle"}, ""},
		{"JPEG lossless SV1", tsJPEGLL14SV1, []string{"dcmcjpeg", "+e1"}, ""},
		{"JPEG lossless SV2", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "2"}, ""},
		{"JPEG lossless SV3", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "3"}, ""},
		{"JPEG lossless SV4", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "4"}, ""},
		{"JPEG lossless SV5", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "5"}, ""},
		{"JPEG lossless SV6", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "6"}, ""},
		{"JPEG lossless SV7", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "7"}, ""},
		{"JPEG lossless SV7 point transform 3", tsJPEGLL14, []string{"dcmcjpeg", "+el", "+sv", "7", "+pt", "3"}, "dcmdjpeg"},
		{"JPEG-LS lossless", tsJPEGLS, []string{"dcmcjpls", "+el"}, ""},
		{"JPEG-LS near-lossless", tsJPEGLSNear, []string{"dcmcjpls", "+en", "+md", "3"}, "dcmdjpls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "enc")
			os.Mkdir(dir, 0o755)
			for _, f := range native.order[:n] {
				args := append(append([]string{}, c.encode[1:]...), filepath.Join(native.dir, f), filepath.Join(dir, f))
				run(t, c.encode[0], args...)
			}
			got := readDir(t, dir)
			if !strings.HasPrefix(got.Info.TransferSyntax, c.ts+" ") {
				t.Fatalf("transfer syntax %q, want %s", got.Info.TransferSyntax, c.ts)
			}
			want := subVolume(ref, 0, n)
			if c.decode != "" {
				dec := filepath.Join(t.TempDir(), "dec")
				os.Mkdir(dec, 0o755)
				for _, f := range native.order[:n] {
					run(t, c.decode, filepath.Join(dir, f), filepath.Join(dec, f))
				}
				want = readDir(t, dec).CT
				if firstDiff(want.HU, subVolume(ref, 0, n).HU) < 0 {
					t.Fatal("the lossy variant equals the original: the test would not notice a lossless decode")
				}
			}
			compareCT(t, got.CT, want)
		})
	}
}

// TestPydicomTestFiles decodes frame 0 of pydicom's own test files and
// compares it with pydicom's pixel_array, or, where pydicom has no decoder
// here (JPEG-LS, JPEG lossless), with pydicom reading dcmtk's decompression.
func TestPydicomTestFiles(t *testing.T) {
	dir := "/usr/lib/python3/dist-packages/pydicom/data/test_files"
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("pydicom test files: %v (apt-get install -y python3-pydicom)", err)
	}
	cases := []struct {
		file       string
		decompress string // dcmtk tool producing a native copy for pydicom
	}{
		{"CT_small.dcm", ""},
		{"MR_small.dcm", ""},
		{"MR_small_implicit.dcm", ""},
		{"MR_small_bigendian.dcm", ""},
		{"MR_small_expb.dcm", ""},
		{"MR_small_padded.dcm", ""},
		{"image_dfl.dcm", ""},
		{"rtdose_1frame.dcm", ""},
		{"rtdose_expb_1frame.dcm", ""},
		{"rtdose.dcm", ""}, // native multi-frame: frame 0
		{"MR_small_RLE.dcm", ""},
		{"rtdose_rle_1frame.dcm", ""},
		{"SC_rgb_rle.dcm", ""},
		{"SC_rgb_rle_16bit.dcm", ""},
		{"SC_rgb_rle_32bit.dcm", ""},
		{"MR_small_jp2klossless.dcm", ""},
		{"JPEG2000.dcm", ""},
		{"693_J2KI.dcm", ""},
		{"J2K_pixelrep_mismatch.dcm", ""},
		{"SC_rgb_gdcm_KY.dcm", ""},
		{"MR_small_jpeg_ls_lossless.dcm", "dcmdjpls"},
		{"SC_rgb_jpeg_gdcm.dcm", "dcmdjpeg"},
	}
	var refFiles []string
	tmp := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, c.file)
		if c.decompress != "" {
			need(t, c.decompress, "dcmtk")
			out := filepath.Join(tmp, c.file)
			run(t, c.decompress, p, out)
			p = out
		}
		refFiles = append(refFiles, p)
	}
	want := pydicomFrames(t, refFiles)
	for i, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got, h, err := decodeFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if j := firstDiff(got, want[i]); j >= 0 {
				t.Errorf("%s (%s, %d bits, signed %d): %d samples, sample %d is %d, pydicom %d (of %d)",
					c.file, syntaxName(h.ts), h.bitsStored, h.pixelRep, len(got), j, at(got, j), at(want[i], j), len(want[i]))
			}
		})
	}
}

func at(v []int32, i int) int32 {
	if i < len(v) {
		return v[i]
	}
	return -1
}

// TestRefusedSyntaxes: lossy JPEG is refused with the syntax's UID and
// name; a truncated file is reported as corrupt, not decoded as zeros.
func TestRefusedSyntaxes(t *testing.T) {
	dir := "/usr/lib/python3/dist-packages/pydicom/data/test_files"
	cases := []struct {
		file string
		want error
		text string
	}{
		{"JPEG-lossy.dcm", ErrUnsupportedSyntax, "1.2.840.10008.1.2.4.51 (JPEG Extended (Process 2 and 4))"},
		{"JPGExtended.dcm", ErrUnsupportedSyntax, "1.2.840.10008.1.2.4.51"},
		{"SC_rgb_jpeg_dcmtk.dcm", ErrUnsupportedSyntax, "1.2.840.10008.1.2.4.50 (JPEG Baseline (Process 1))"},
		{"MR_truncated.dcm", ErrCorrupt, ""},
		// A sequence delimiter cuts the pixel data after 250 bytes; the
		// codestream's SIZ is garbage and must not be allocated.
		{"JPEG2000-embedded-sequence-delimiter.dcm", ErrCorrupt, "JPEG 2000 codestream is"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, _, err := decodeFile(filepath.Join(dir, c.file))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %v, want %v naming %q", err, c.want, c.text)
			}
		})
	}
}

// TestJ2KGolden pins the JPEG 2000 codec on the real series: every slice
// decoded by cocosip equals pydicom's (Pillow/OpenJPEG) decoding.
func TestJ2KGolden(t *testing.T) {
	native := nativeReal(t)
	src := realSeriesDir(t)
	for _, f := range native.order[:2] {
		got, h, err := decodeFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if h.ts != tsJ2KLossless {
			t.Fatalf("%s is %s, want JPEG 2000 lossless", f, syntaxName(h.ts))
		}
		want, _, err := decodeFile(filepath.Join(native.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%s: sample %d is %d, pydicom %d", f, i, got[i], want[i])
		}
	}
}

func TestUnsupportedSyntaxNamed(t *testing.T) {
	for _, ts := range []string{"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.201", "1.2.3.4.5"} {
		_, err := decoderFor(ts)
		if !errors.Is(err, ErrUnsupportedSyntax) || !strings.Contains(err.Error(), ts+" (") {
			t.Errorf("%s: %v", ts, err)
		}
	}
}
