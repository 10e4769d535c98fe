package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const pydicomTestFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files"

// j2kDecoders are the decoders every JPEG 2000 test runs: the pure-Go one
// and this build's (OpenJPEG under -tags openjpeg with cgo, else the same).
var j2kDecoders = []struct {
	name string
	dec  frameDecoder
}{
	{"pure Go", goJ2KDecoder{}},
	{JPEG2000Decoder(), j2kDecoder{}},
}

// j2kFrame returns the codestream of frame 0 of a JPEG 2000 file and its
// frame description.
func j2kFrame(t testing.TB, path string) ([]byte, frameInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h, err := readHeader(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if h.ts != tsJ2KLossless && h.ts != tsJ2K {
		t.Fatalf("%s is %s, not JPEG 2000", path, syntaxName(h.ts))
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	data, err := readPixels(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return data, h.frame()
}

// TestJ2KDecodersAgree: this build's decoder and the pure-Go one give the
// same samples on every slice of the real series and on pydicom's JPEG 2000
// files (lossless and lossy, signed and unsigned, grey and RGB).
func TestJ2KDecodersAgree(t *testing.T) {
	t.Logf("this build decodes JPEG 2000 with %s", JPEG2000Decoder())
	var paths []string
	real := realSeriesDir(t)
	names, err := os.ReadDir(real)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		paths = append(paths, filepath.Join(real, e.Name()))
	}
	for _, f := range []string{"MR_small_jp2klossless.dcm", "JPEG2000.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "SC_rgb_gdcm_KY.dcm"} {
		paths = append(paths, filepath.Join(pydicomTestFiles, f))
	}
	if len(paths) < 25 {
		t.Fatalf("%d files, want the 20 slices and 5 pydicom files", len(paths))
	}
	for _, p := range paths {
		src, f := j2kFrame(t, p)
		var out [][]int32
		for _, d := range j2kDecoders {
			dst := make([]int32, f.len())
			if err := d.dec.decode(src, f, dst); err != nil {
				t.Fatalf("%s: %s: %v", filepath.Base(p), d.name, err)
			}
			out = append(out, dst)
		}
		if i := firstDiff(out[0], out[1]); i >= 0 {
			t.Errorf("%s: sample %d is %d in pure Go, %d in %s", filepath.Base(p), i, out[0][i], out[1][i], j2kDecoders[1].name)
		}
	}
}

// hostileJ2K is the 64×64 lossless codestream of pydicom's
// MR_small_jp2klossless.dcm, truncated and damaged in ways a decoder must
// refuse.
func hostileJ2K(t testing.TB) ([]byte, frameInfo, []struct {
	name string
	src  []byte
}) {
	src, f := j2kFrame(t, filepath.Join(pydicomTestFiles, "MR_small_jp2klossless.dcm"))
	siz := bytes.Index(src, []byte{0xFF, 0x4F, 0xFF, 0x51})
	cod := bytes.Index(src, []byte{0xFF, 0x52})
	sot := bytes.Index(src, []byte{0xFF, 0x90})
	if siz < 0 || cod < 0 || sot < 0 {
		t.Fatalf("no SIZ, COD or SOT in the test codestream (%d, %d, %d)", siz, cod, sot)
	}
	patch := func(at int, b ...byte) []byte {
		c := slices.Clone(src)
		copy(c[at:], b)
		return c
	}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cases := []struct {
		name string
		src  []byte
	}{
		{"SIZ only", src[:siz+4+38]},
		{"main header only", src[:sot]},
		{"cut inside the first tile-part header", src[:sot+6]},
		{"cut at a quarter", src[:len(src)/4]},
		{"cut at half", src[:len(src)/2]},
		{"cut before the last 16 bytes", src[:len(src)-16]},
		{"tile width 0", patch(siz+4+2+18, be32(0)...)},
		{"image 1 pixel wider", patch(siz+4+2+2, be32(binary.BigEndian.Uint32(src[siz+8:])+1)...)},
		{"COD with 33 decomposition levels", patch(cod+4+5, 33)},
		{"code-block size exponent 15", patch(cod+4+6, 15)},
		{"SOT tile index 7", patch(sot+4, 0, 7)},
		{"SOT tile-part length past the end", patch(sot+6, be32(1<<30)...)},
	}
	for n := 0; n < len(src)-2; n += len(src)/50 + 1 {
		cases = append(cases, struct {
			name string
			src  []byte
		}{fmt.Sprintf("cut to %d of %d bytes", n, len(src)), src[:n]})
	}
	return src, f, cases
}

// TestJ2KHostile: truncated or damaged codestreams give ErrCorrupt, never
// a crash, a silently zero-filled image or a write beyond the frame.
func TestJ2KHostile(t *testing.T) {
	_, f, cases := hostileJ2K(t)
	for _, d := range j2kDecoders {
		for _, c := range cases {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				dst := make([]int32, f.len()+64)
				for i := range dst {
					dst[i] = -7
				}
				err := d.dec.decode(c.src, f, dst[:f.len()])
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v, want ErrCorrupt", err)
				}
				for i, v := range dst[f.len():] {
					if v != -7 {
						t.Fatalf("sample %d past the frame written", i)
					}
				}
			})
		}
	}
}

// FuzzJ2K: no input crashes either decoder or writes past the frame.
func FuzzJ2K(f *testing.F) {
	src, info := j2kFrame(f, filepath.Join(pydicomTestFiles, "MR_small_jp2klossless.dcm"))
	f.Add(src)
	f.Add(src[:len(src)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range j2kDecoders {
			dst := make([]int32, info.len()+1)
			dst[info.len()] = -7
			err := d.dec.decode(b, info, dst[:info.len()])
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: error %v is not ErrCorrupt", d.name, err)
			}
			if dst[info.len()] != -7 {
				t.Fatalf("%s wrote past the frame", d.name)
			}
		}
	})
}
