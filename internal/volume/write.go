package volume

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// NIfTI codes this package writes.
const (
	xformScanner = 1    // NIFTI_XFORM_SCANNER_ANAT
	unitsMM      = 2    // NIFTI_UNITS_MM
	intentLabel  = 1002 // NIFTI_INTENT_LABEL
)

const (
	// labelLevel compresses label maps, which are long runs of few values.
	// On TotalSegmentator's 512×512×20 output stretched to 200 slices
	// (BenchmarkWriteLabelMap, 52 MB, a loaded 2-core machine) klauspost
	// level 6 writes 475 kB in 0.5 s; level 9 273 kB but in 3.2 s; level 1
	// 664 kB in 0.2 s.
	labelLevel = 6

	// ctLevel and ctParallel compress CT. On the 512×512×300 series
	// bench/serve/ctdone.sh converts (real CT tiled, 157 MB;
	// BenchmarkWriteCT with $IRIS_WRITECT_BENCH_FILE, 2 cores, medians of
	// 3–5): klauspost level 5 takes 1.88 s for a ratio of 2.20; pgzip
	// (1 MB blocks on both cores) level 5 1.12 s, level 2 0.59 s
	// (0.51–0.62) for 2.17, level 1 0.52 s (0.43–1.18) for 2.11. Level 2 in
	// parallel is 3× faster than level 5 for 1.5 % more bytes; level 1
	// saves little more time for 3 % more.
	ctLevel    = 2
	ctParallel = true
)

// FileFormat is how a NIfTI file is stored, which its name says: a file
// named .nii is read as uncompressed by nibabel, ITK, Slicer and dcm2niix,
// and one named .nii.gz as gzip, so a writer must follow the name.
type FileFormat int

// The NIfTI file formats this package writes.
const (
	NII   FileFormat = iota + 1 // .nii: single-file NIfTI-1, uncompressed
	NIIGz                       // .nii.gz: the same, gzipped
)

// Ext is the file name extension of f.
func (f FileFormat) Ext() string {
	if f == NII {
		return ".nii"
	}
	return ".nii.gz"
}

// ErrUnknownExtension reports a file name that says neither .nii nor .nii.gz.
var ErrUnknownExtension = errors.New("unknown NIfTI file name extension; known: .nii (uncompressed), .nii.gz (gzip)")

// FormatOf is the format a file name asks for (case-insensitive), or
// ErrUnknownExtension.
func FormatOf(path string) (FileFormat, error) {
	lower := strings.ToLower(filepath.Base(path))
	switch {
	case strings.HasSuffix(lower, ".nii.gz") && len(lower) > len(".nii.gz"):
		return NIIGz, nil
	case strings.HasSuffix(lower, ".nii") && len(lower) > len(".nii"):
		return NII, nil
	}
	return 0, fmt.Errorf("%q: %w", filepath.Base(path), ErrUnknownExtension)
}

// WriteLabelMap writes lm as a gzipped single-file NIfTI-1: uint8 when every
// label is below 256, else uint16; little-endian; intent NIFTI_INTENT_LABEL;
// no scaling (slope 1, intercept 0); units mm; empty descrip; sform and
// qform (both code 1, scanner) from the same affine, the qform being its
// rotation without shears; lm.Extensions after the header, each padded to
// 16 bytes.
func WriteLabelMap(w io.Writer, lm *LabelMap) error { return WriteLabelMapAs(w, lm, NIIGz) }

// WriteLabelMapAs is WriteLabelMap in format f: gzipped or not.
func WriteLabelMapAs(w io.Writer, lm *LabelMap, f FileFormat) error {
	if err := checkGrid(lm.Grid, len(lm.Data)); err != nil {
		return fmt.Errorf("write label map: %w", err)
	}
	dt := Uint8
	for _, v := range lm.Data {
		if v > math.MaxUint8 {
			dt = Uint16
			break
		}
	}
	hdr, err := encodeHeader(lm.Grid, dt, intentLabel, lm.Extensions)
	if err != nil {
		return fmt.Errorf("write label map: %w", err)
	}
	err = writeBody(w, f, labelLevel, false, hdr, func(buf []byte, w io.Writer) error {
		if dt == Uint8 {
			return writeChunks(w, buf, 1, lm.Data, encode8)
		}
		return writeChunks(w, buf, 2, lm.Data, encodeLE)
	})
	if err != nil {
		return fmt.Errorf("write label map: %w", err)
	}
	return nil
}

// WriteCT writes ct as a gzipped single-file NIfTI-1 of int16, with the
// same header rules as WriteLabelMap but no intent and no extensions.
func WriteCT(w io.Writer, ct *CT) error { return WriteCTAs(w, ct, NIIGz) }

// WriteCTAs is WriteCT in format f: gzipped or not.
func WriteCTAs(w io.Writer, ct *CT, f FileFormat) error {
	if err := checkGrid(ct.Grid, len(ct.HU)); err != nil {
		return fmt.Errorf("write CT: %w", err)
	}
	hdr, err := encodeHeader(ct.Grid, Int16, 0, nil)
	if err != nil {
		return fmt.Errorf("write CT: %w", err)
	}
	err = writeBody(w, f, ctLevel, ctParallel, hdr, func(buf []byte, w io.Writer) error {
		return writeChunks(w, buf, 2, ct.HU, encodeLE)
	})
	if err != nil {
		return fmt.Errorf("write CT: %w", err)
	}
	return nil
}

// WriteLabelMapFile writes lm to path (see WriteLabelMap) in the format
// its name asks for (FormatOf: .nii uncompressed, .nii.gz gzip; any other
// name is ErrUnknownExtension), atomically: to a temporary file in the same
// folder, synced, then renamed over path.
func WriteLabelMapFile(path string, lm *LabelMap) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error { return WriteLabelMapAs(w, lm, f) })
}

// WriteCTFile writes ct to path (see WriteCT) in the format its name asks
// for, atomically, as WriteLabelMapFile.
func WriteCTFile(path string, ct *CT) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error { return WriteCTAs(w, ct, f) })
}

func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// checkGrid refuses what cannot be written as a NIfTI-1 volume.
func checkGrid(g Grid, n int) error {
	for i, d := range g.Dims {
		if d < 1 || d > math.MaxInt16 {
			return fmt.Errorf("dims %v: dim %d must be 1..32767 in NIfTI-1", g.Dims, i)
		}
	}
	if n != g.Len() {
		return fmt.Errorf("%d voxels for dims %v (want %d)", n, g.Dims, g.Len())
	}
	for _, row := range g.Affine {
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
				return fmt.Errorf("affine %v is not finite in float32", g.Affine)
			}
		}
	}
	if _, err := g.Affine.Inverse(); err != nil {
		return err
	}
	return nil
}

// encodeHeader builds the NIfTI-1 header, the extension flag bytes and
// the extensions: everything before the voxels.
func encodeHeader(g Grid, dt Datatype, intent int16, exts []Extension) ([]byte, error) {
	extBytes := 0
	for _, e := range exts {
		extBytes += extSize(e)
	}
	voxOffset := sizeofHdr1 + 4 + extBytes
	if voxOffset > maxVoxOffset {
		return nil, fmt.Errorf("header extensions are %d bytes, over %d", extBytes, maxVoxOffset-sizeofHdr1-4)
	}
	b := make([]byte, voxOffset)
	le := binary.LittleEndian
	put16 := func(off int, v int16) { le.PutUint16(b[off:], uint16(v)) }
	putF := func(off int, v float64) { le.PutUint32(b[off:], math.Float32bits(float32(v))) }

	le.PutUint32(b[0:], sizeofHdr1)
	b[38] = 'r' // "regular", as nifti1_io and nibabel write
	dims := [8]int16{3, int16(g.Dims[0]), int16(g.Dims[1]), int16(g.Dims[2]), 1, 1, 1, 1}
	for i, d := range dims {
		put16(40+2*i, d)
	}
	put16(68, intent)
	put16(70, int16(dt))
	put16(72, int16(8*dt.Size()))

	q := matToQuatern(g.Affine)
	pixdim := [8]float64{q.qfac, q.pixel[0], q.pixel[1], q.pixel[2], 1, 1, 1, 1}
	for i, p := range pixdim {
		putF(76+4*i, p)
	}
	putF(108, float64(voxOffset))
	putF(112, 1) // scl_slope: values are stored unscaled
	putF(116, 0)
	b[123] = unitsMM
	put16(252, xformScanner)
	put16(254, xformScanner)
	for i, v := range []float64{q.b, q.c, q.d, q.off[0], q.off[1], q.off[2]} {
		putF(256+4*i, v)
	}
	for r := range 3 {
		for c := range 4 {
			putF(280+16*r+4*c, g.Affine[r][c])
		}
	}
	copy(b[344:], "n+1\x00")

	if len(exts) > 0 {
		b[sizeofHdr1] = 1
	}
	off := sizeofHdr1 + 4
	for _, e := range exts {
		n := extSize(e)
		le.PutUint32(b[off:], uint32(n))
		le.PutUint32(b[off+4:], uint32(e.Code))
		copy(b[off+8:], e.Data) // the zero padding is already there
		off += n
	}
	return b, nil
}

// extSize is an extension's esize: 8 bytes of esize and ecode plus the
// data, rounded up to a multiple of 16.
func extSize(e Extension) int { return (8 + len(e.Data) + 15) &^ 15 }

// writeBody writes hdr and then what body writes, gzipped at level when f
// is NIIGz (in blocks on every core when parallel); body gets a reusable
// conversion buffer.
func writeBody(w io.Writer, f FileFormat, level int, parallel bool, hdr []byte, body func([]byte, io.Writer) error) error {
	if f != NII && f != NIIGz {
		return fmt.Errorf("file format %d: want NII or NIIGz", f)
	}
	if f == NII {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		return body(make([]byte, chunkSize), w)
	}
	z, err := newGzipWriter(w, level, parallel)
	if err != nil {
		return err
	}
	_, err = z.Write(hdr)
	if err == nil {
		err = body(make([]byte, chunkSize), z)
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		release(z)
	}
	return err
}

// release stops a parallel writer's goroutines after a failed write:
// pgzip's Close returns the error without stopping them, and its writing
// goroutine would wait for blocks forever, holding its buffers.
func release(z io.WriteCloser) {
	if p, ok := z.(*pgzip.Writer); ok {
		p.Reset(io.Discard)
	}
}

// gzipBlock is the size of the blocks a parallel writer compresses
// independently: big enough that restarting the window costs little ratio,
// small enough that every core gets several of a slice's worth.
const gzipBlock = 1 << 20

// newGzipWriter is a klauspost gzip writer at level, or with parallel a
// pgzip one compressing gzipBlock blocks on GOMAXPROCS goroutines (two
// blocks each in flight, so 2×GOMAXPROCS MB of buffers).
func newGzipWriter(w io.Writer, level int, parallel bool) (io.WriteCloser, error) {
	if !parallel {
		return gzip.NewWriterLevel(w, level)
	}
	z, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	if err := z.SetConcurrency(gzipBlock, 2*runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	return z, nil
}

// writeChunks encodes s size bytes per voxel through buf and writes it.
func writeChunks[T any](w io.Writer, buf []byte, size int, s []T, encode func([]byte, []T)) error {
	per := len(buf) / size
	for len(s) > 0 {
		m := min(per, len(s))
		encode(buf[:m*size], s[:m])
		if _, err := w.Write(buf[:m*size]); err != nil {
			return err
		}
		s = s[m:]
	}
	return nil
}
