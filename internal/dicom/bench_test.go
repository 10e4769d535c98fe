package dicom

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/iris-oculus/iris/internal/volume"
)

// The DICOM conversion benchmarks, and what each one times:
//
//   - BenchmarkReadDir: in process, the series folder → a volume in memory
//     (parse, decode JPEG 2000, stack). Writes nothing.
//   - BenchmarkReadDirWriteNII: in process, the same plus writing the
//     volume as an uncompressed .nii (volume.WriteCTFile: temp file, fsync,
//     rename), so it does what dcm2niix does.
//   - BenchmarkConvertProcess: `iris convert DIR -o x.nii` as a child
//     process, built once before the timer: process start, read, write.
//   - BenchmarkDcm2niix: `dcm2niix -z n` as a child process: process start,
//     read, write an uncompressed .nii (no fsync).
//
// Like with like: BenchmarkConvertProcess against BenchmarkDcm2niix (both
// processes writing one .nii). BenchmarkReadDir alone is not comparable
// with dcm2niix: it writes nothing and starts no process.
// go test -run '^$' -bench 'ReadDir$|ReadDirWriteNII|ConvertProcess|Dcm2niix' ./internal/dicom
func BenchmarkReadDir(b *testing.B) {
	dir := realSeriesDir(b)
	for b.Loop() {
		if _, err := ReadDir(context.Background(), dir, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadDirWriteNII(b *testing.B) {
	dir := realSeriesDir(b)
	out := filepath.Join(b.TempDir(), "bench.nii")
	for b.Loop() {
		res, err := ReadDir(context.Background(), dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := volume.WriteCTFile(out, res.CT); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

func BenchmarkConvertProcess(b *testing.B) {
	dir := realSeriesDir(b)
	tmp := b.TempDir()
	bin := filepath.Join(tmp, "iris")
	build := exec.Command("go", "build", "-o", bin, "github.com/iris-oculus/iris/cmd/iris")
	if o, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/iris: %v\n%s", err, o)
	}
	out := filepath.Join(tmp, "bench.nii")
	b.ResetTimer()
	for b.Loop() {
		if o, err := exec.Command(bin, "convert", dir, "-o", out).CombinedOutput(); err != nil {
			b.Fatalf("iris convert: %v\n%s", err, o)
		}
		os.Remove(out)
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
