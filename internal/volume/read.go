package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/iris-oculus/iris/internal/hugepage"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// DefaultMaxBytes is the decoded voxel size ReadOptions{} allows: 1.5 GB,
// over any CT series (512×512×2000 int16 is 1 GB) yet small enough for a
// 3 GB Lambda to hold along with one converted copy.
const DefaultMaxBytes = 1_500_000_000

// ReadOptions bound what a read accepts.
type ReadOptions struct {
	// MaxBytes limits the decoded voxel bytes (the product of the dims times
	// the datatype's size); 0 means DefaultMaxBytes. Nothing is allocated for
	// voxels before the header has been checked against it.
	MaxBytes int64
}

func (o ReadOptions) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// Image is a NIfTI image as stored: its header and its voxels.
type Image struct {
	Header

	// Data holds the voxels unscaled, as Go values (the file's byte order
	// is undone), in the slice type matching Datatype: []uint8, []int8, []int16, []uint16,
	// []int32, []uint32, []int64, []uint64, []float32 or []float64. Its
	// length is NumVoxels; voxel (i, j, k, t) is at
	// i + Dims[0]*(j + Dims[1]*(k + Dims[2]*t)).
	Data any
}

const (
	// pgzipMinSize is the compressed size from which Read decompresses
	// with pgzip, whose read-ahead goroutines overlap inflating with
	// checksumming and copying out. BenchmarkReadGzip (noisy CT, 2 cores,
	// medians of 7): 0.3 MB 8 ms klauspost vs 10 ms pgzip, 1.3 MB 30 vs
	// 43 ms, 3 MB 85 vs 42 ms, 12 MB 243 vs 131 ms, 62 MB 2.2 vs 1.6 s.
	// pgzip costs 4 MB of block buffers.
	pgzipMinSize = 2 << 20

	// maxTrailing is how much data after the voxels a gzip stream may carry.
	// It is read to reach the gzip trailer, so that the CRC is checked;
	// more than this is refused rather than decompressed.
	maxTrailing = 1 << 20

	// chunkSize is the conversion buffer for writing.
	chunkSize = 256 << 10
)

// ReadFile reads a NIfTI-1 or NIfTI-2 file, gzipped or not (told by the
// gzip magic bytes, not by the name).
func ReadFile(path string, opt ReadOptions) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, err := Read(f, opt)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return im, nil
}

// Read reads a NIfTI-1 or NIfTI-2 image, gzipped or not, from r. It reads
// r no further than the end of the voxels, or for gzip the end of the
// compressed stream's current member (plus what the decompressor buffers).
// When r can tell its size (an *os.File, a *bytes.Reader) a large gzip
// stream is decompressed with pgzip.
func Read(r io.Reader, opt ReadOptions) (*Image, error) {
	s, err := decompress(r, streamSize(r))
	if err != nil {
		return nil, err
	}
	defer s.close()
	h, err := readHeader(s.r, opt.maxBytes())
	if err != nil {
		return nil, err
	}
	data, err := readVoxels(s.r, h)
	if err != nil {
		return nil, err
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	return &Image{Header: *h, Data: data}, nil
}

// ReadHeader reads only the header and its extensions, checking them as
// Read does except for the limit on voxel bytes, which it leaves to the
// caller (NumVoxels times Datatype.Size).
func ReadHeader(r io.Reader) (*Header, error) {
	s, err := decompress(r, -1)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return readHeader(s.r, math.MaxInt64)
}

// streamSize is r's total size when r can tell it, else -1.
func streamSize(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface{ Size() int64 }:
		return v.Size()
	}
	return -1
}

// stream is the decompressed byte stream of a file.
type stream struct {
	r io.Reader
	z io.ReadCloser // the gzip reader, nil for an uncompressed file
}

// decompress looks at the first two bytes for the gzip magic; size is the
// compressed size if known, else -1.
func decompress(r io.Reader, size int64) (*stream, error) {
	var magic [2]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("read header: %w", unexpected(err))
	}
	r = io.MultiReader(bytes.NewReader(magic[:]), r)
	if magic != [2]byte{0x1f, 0x8b} {
		return &stream{r: r}, nil
	}
	var z io.ReadCloser
	var err error
	if size >= pgzipMinSize {
		z, err = pgzip.NewReader(r)
	} else {
		z, err = gzip.NewReader(r)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", unexpected(err))
	}
	return &stream{r: z, z: z}, nil
}

// finish reads the gzip stream to its end, so that its CRC and length are
// checked, accepting at most maxTrailing bytes after the voxels.
func (s *stream) finish() error {
	if s.z == nil {
		return nil
	}
	n, err := io.CopyN(io.Discard, s.z, maxTrailing+1)
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return fmt.Errorf("gzip: %w", unexpected(err))
	}
	return fmt.Errorf("more than %d bytes of data after the voxels (%d read)", maxTrailing, n)
}

// close stops pgzip's read-ahead goroutine.
func (s *stream) close() {
	if s.z != nil {
		s.z.Close()
	}
}

// unexpected turns a bare EOF, which means a truncated stream wherever this
// package reads, into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readHeader reads the header, the extension flag bytes and everything up
// to vox_offset, keeping the extensions.
func readHeader(src io.Reader, maxBytes int64) (*Header, error) {
	buf := make([]byte, sizeofHdr2+4)
	if _, err := io.ReadFull(src, buf[:4]); err != nil {
		return nil, fmt.Errorf("read header: %w", unexpected(err))
	}
	size, order, err := headerSize(buf[:4])
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(src, buf[4:size+4]); err != nil {
		return nil, fmt.Errorf("read NIfTI header: truncated: %w", unexpected(err))
	}
	h, err := parseHeader(buf[:size], order, maxBytes)
	if err != nil {
		return nil, err
	}
	rest := h.VoxOffset - int64(size) - 4
	if buf[size] == 0 { // no extensions
		if n, err := io.CopyN(io.Discard, src, rest); err != nil {
			return nil, fmt.Errorf("read up to vox_offset %d: truncated after %d bytes: %w", h.VoxOffset, int64(size)+4+n, unexpected(err))
		}
		return h, nil
	}
	region := make([]byte, rest) // rest <= maxVoxOffset
	if _, err := io.ReadFull(src, region); err != nil {
		return nil, fmt.Errorf("read header extensions: truncated: %w", unexpected(err))
	}
	if h.Extensions, err = parseExtensions(region, order); err != nil {
		return nil, err
	}
	return h, nil
}

// parseExtensions splits the bytes between the header and vox_offset into
// extensions the way nibabel does: while 16 or more bytes remain, an esize
// and ecode then esize-8 bytes, trailing NULs stripped.
func parseExtensions(b []byte, order binary.ByteOrder) ([]Extension, error) {
	var exts []Extension
	for off := 0; len(b)-off >= 16; {
		esize := int64(int32(order.Uint32(b[off:])))
		code := int32(order.Uint32(b[off+4:]))
		if esize < 8 || esize > int64(len(b)-off) {
			return nil, fmt.Errorf("header extension %d (code %d): esize %d does not fit the %d bytes left before vox_offset", len(exts), code, esize, len(b)-off)
		}
		data := b[off+8 : off+int(esize)]
		for len(data) > 0 && data[len(data)-1] == 0 {
			data = data[:len(data)-1]
		}
		exts = append(exts, Extension{Code: code, Data: data[:len(data):len(data)]})
		off += int(esize)
	}
	return exts, nil
}

// readVoxels reads the voxels straight into their typed slice: the result
// is the only copy ever held.
func readVoxels(src io.Reader, h *Header) (any, error) {
	n := h.NumVoxels()
	var data any
	var b []byte
	switch h.Datatype {
	case Uint8:
		s := make([]uint8, n)
		data, b = s, s
	case Int8:
		s := make([]int8, n)
		data, b = s, asBytes(s)
	case Int16:
		s := make([]int16, n)
		data, b = s, asBytes(s)
	case Uint16:
		s := make([]uint16, n)
		data, b = s, asBytes(s)
	case Int32:
		s := make([]int32, n)
		data, b = s, asBytes(s)
	case Uint32:
		s := make([]uint32, n)
		data, b = s, asBytes(s)
	case Float32:
		s := make([]float32, n)
		data, b = s, asBytes(s)
	case Int64:
		s := make([]int64, n)
		data, b = s, asBytes(s)
	case Uint64:
		s := make([]uint64, n)
		data, b = s, asBytes(s)
	case Float64:
		s := make([]float64, n)
		data, b = s, asBytes(s)
	default: // parseHeader refuses it
		return nil, fmt.Errorf("unsupported datatype %s", h.Datatype)
	}
	hugepage.Advise(b)
	if got, err := io.ReadFull(src, b); err != nil {
		return nil, fmt.Errorf("read voxels: truncated after %d of %d bytes: %w", got, len(b), unexpected(err))
	}
	if (h.ByteOrder == binary.LittleEndian) != nativeLittle {
		swapBytes(b, h.Datatype.Size())
	}
	return data, nil
}
