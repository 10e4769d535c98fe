package dicom

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkReadDir converts the real 20-slice JPEG 2000 series; compare
// with BenchmarkDcm2niix, the same conversion by dcm2niix (-z n), run the
// same way: go test -bench 'ReadDir|Dcm2niix'.
func BenchmarkReadDir(b *testing.B) {
	dir := realSeriesDir(b)
	for b.Loop() {
		if _, err := ReadDir(context.Background(), dir, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDcm2niix(b *testing.B) {
	need(b, "dcm2niix", "dcm2niix")
	dir := realSeriesDir(b)
	out := b.TempDir()
	for b.Loop() {
		if o, err := exec.Command("dcm2niix", "-z", "n", "-b", "n", "-f", "bench", "-o", out, dir).CombinedOutput(); err != nil {
			b.Fatalf("dcm2niix: %v\n%s", err, o)
		}
		os.Remove(filepath.Join(out, "bench.nii"))
	}
}

// BenchmarkReadDirNative is the same series uncompressed: parsing and
// assembling without the JPEG 2000 codec.
func BenchmarkReadDirNative(b *testing.B) {
	dir := nativeReal(b).dir
	for b.Loop() {
		if _, err := ReadDir(context.Background(), dir, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLosslessJPEG decodes one 512×512 CT slice (JPEG lossless,
// predictor 6, dcmtk-encoded).
func BenchmarkLosslessJPEG(b *testing.B) {
	need(b, "dcmcjpeg", "dcmtk")
	native := nativeReal(b)
	out := filepath.Join(b.TempDir(), "j.dcm")
	run(b, "dcmcjpeg", "+el", "+sv", "6", filepath.Join(native.dir, native.order[0]), out)
	f, err := os.Open(out)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	h, err := readHeader(f, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	f.Seek(0, 0)
	data, err := readPixels(f, st.Size())
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]int32, h.frame().len())
	b.SetBytes(int64(2 * len(dst)))
	for b.Loop() {
		if err := (losslessJPEGDecoder{}).decode(data, h.frame(), dst); err != nil {
			b.Fatal(err)
		}
	}
}
