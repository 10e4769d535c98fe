// Command biglabels writes a large, deterministic multi-label map for the
// mesher benchmark: a small source label map upsampled by nearest neighbour
// (e.g. 3 mm → 1 mm), centre-cropped or zero-padded in-plane, and tiled along
// z until the requested depth is filled. Every copy keeps its label values, so
// each organ appears as several disconnected pieces.
//
// Usage:
//
//	biglabels -src ct_3mm_seg.nii.gz -o big.nii.gz [-factor 3] [-nx 300 -ny 300 -nz 600]
//
// It reads and writes only gzipped, little-endian, single-file NIfTI-1 with
// uint8 voxels and an sform; anything else is refused with a clear error.
// It deliberately does not use internal/volume (which is being rewritten and
// must not be benchmarked against itself): the header is small enough to
// write by hand. Extensions of the source (e.g. a Caret label table) are
// copied verbatim.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
)

const (
	hdrSize     = 348
	dtUint8     = 2
	nifti1Magic = "n+1\x00"
)

// labelMap is a uint8 label volume with its voxel-to-world (RAS mm) affine.
type labelMap struct {
	nx, ny, nz int
	pixdim     [3]float32
	srow       [3][4]float32
	sformCode  int16
	xyztUnits  byte
	ext        []byte // raw extension bytes after the 4-byte extender, may be nil
	data       []uint8
}

func main() {
	src := flag.String("src", "", "source label map (gzipped NIfTI-1, uint8)")
	out := flag.String("o", "", "output path (.nii.gz)")
	factor := flag.Int("factor", 3, "nearest-neighbour upsampling factor per axis")
	nx := flag.Int("nx", 300, "output size along i")
	ny := flag.Int("ny", 300, "output size along j")
	nz := flag.Int("nz", 600, "output size along k (source is tiled to fill it)")
	flag.Parse()
	if *src == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: biglabels -src SRC.nii.gz -o OUT.nii.gz [-factor 3] [-nx 300 -ny 300 -nz 600]")
		os.Exit(2)
	}
	if err := run(*src, *out, *factor, *nx, *ny, *nz); err != nil {
		fmt.Fprintf(os.Stderr, "biglabels: %v\n", err)
		os.Exit(1)
	}
}

func run(src, out string, factor, nx, ny, nz int) error {
	if factor < 1 || nx < 1 || ny < 1 || nz < 1 {
		return fmt.Errorf("factor and sizes must be positive (got factor %d, size %d×%d×%d)", factor, nx, ny, nz)
	}
	in, err := readNIfTI(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	big := upsampleTile(in, factor, nx, ny, nz)
	if err := writeNIfTI(out, big, "iris bench: "+filepath.Base(src)+fmt.Sprintf(" x%d NN, tiled in z", factor)); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	var present [256]bool
	for _, v := range big.data {
		present[v] = true
	}
	n := 0
	for v := 1; v < 256; v++ {
		if present[v] {
			n++
		}
	}
	fmt.Fprintf(os.Stderr, "biglabels: wrote %s: %d×%d×%d at %.3g×%.3g×%.3g mm, %d labels\n",
		out, nx, ny, nz, big.pixdim[0], big.pixdim[1], big.pixdim[2], n)
	return nil
}

// upsampleTile maps output voxel (x,y,z) to source voxel
// ((x+ox)/f, (y+oy)/f, (z mod f·sz)/f), where ox, oy centre the crop (or pad)
// in-plane. The affine follows the source's: output voxel centres sit on the
// source's sub-voxel centres, and copies stack upwards in world z.
func upsampleTile(in *labelMap, f, nx, ny, nz int) *labelMap {
	ux, uy, uz := in.nx*f, in.ny*f, in.nz*f
	ox, oy := (ux-nx)/2, (uy-ny)/2 // negative means padding
	out := &labelMap{nx: nx, ny: ny, nz: nz, sformCode: in.sformCode, xyztUnits: in.xyztUnits, ext: in.ext}
	for a := range 3 {
		out.pixdim[a] = in.pixdim[a] / float32(f)
	}
	// Output index o maps to continuous source index (o + off - (f-1)/2) / f.
	offs := [3]float64{float64(ox), float64(oy), 0}
	for r := range 3 {
		for c := range 3 {
			out.srow[r][c] = float32(float64(in.srow[r][c]) / float64(f))
		}
		t := float64(in.srow[r][3])
		for c := range 3 {
			t += float64(in.srow[r][c]) * (offs[c] - float64(f-1)/2) / float64(f)
		}
		out.srow[r][3] = float32(t)
	}
	// Source column per output x and source row per output y, -1 outside.
	col := make([]int, nx)
	for x := range col {
		col[x] = srcIndex(x+ox, ux, f)
	}
	out.data = make([]uint8, nx*ny*nz)
	for z := range nz {
		sz := (z % uz) / f
		for y := range ny {
			sy := srcIndex(y+oy, uy, f)
			if sy < 0 {
				continue
			}
			srow := in.data[(sz*in.ny+sy)*in.nx:][:in.nx]
			drow := out.data[(z*ny+y)*nx:][:nx]
			for x, sx := range col {
				if sx >= 0 {
					drow[x] = srow[sx]
				}
			}
		}
	}
	return out
}

func srcIndex(u, upsampled, f int) int {
	if u < 0 || u >= upsampled {
		return -1
	}
	return u / f
}

func readNIfTI(path string) (*labelMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("not gzipped: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return parseNIfTI(raw)
}

func parseNIfTI(b []byte) (*labelMap, error) {
	if len(b) < hdrSize+4 {
		return nil, errors.New("file too short for a NIfTI-1 header")
	}
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != hdrSize {
		return nil, fmt.Errorf("sizeof_hdr is %d, want 348 (little-endian NIfTI-1 only)", le.Uint32(b[0:]))
	}
	if string(b[344:348]) != nifti1Magic {
		return nil, fmt.Errorf("magic %q, want single-file NIfTI-1 \"n+1\"", b[344:347])
	}
	var dim [8]int16
	for i := range dim {
		dim[i] = int16(le.Uint16(b[40+2*i:]))
	}
	if dim[0] < 3 || dim[1] < 1 || dim[2] < 1 || dim[3] < 1 {
		return nil, fmt.Errorf("dim %v is not a 3-D volume", dim)
	}
	for i := 4; i <= int(dim[0]) && i < 8; i++ {
		if dim[i] > 1 {
			return nil, fmt.Errorf("dim %v has more than one volume", dim)
		}
	}
	if dt := le.Uint16(b[70:]); dt != dtUint8 {
		return nil, fmt.Errorf("datatype %d, want uint8 (2)", dt)
	}
	m := &labelMap{nx: int(dim[1]), ny: int(dim[2]), nz: int(dim[3])}
	for a := range 3 {
		m.pixdim[a] = math.Float32frombits(le.Uint32(b[80+4*a:]))
	}
	m.sformCode = int16(le.Uint16(b[254:]))
	if m.sformCode <= 0 {
		return nil, errors.New("no sform (sform_code 0); only sform-oriented maps are supported")
	}
	for r := range 3 {
		for c := range 4 {
			m.srow[r][c] = math.Float32frombits(le.Uint32(b[280+16*r+4*c:]))
		}
	}
	m.xyztUnits = b[123]
	voxOffset := int(math.Float32frombits(le.Uint32(b[108:])))
	n := m.nx * m.ny * m.nz
	if voxOffset < hdrSize+4 || voxOffset+n > len(b) {
		return nil, fmt.Errorf("vox_offset %d and %d voxels do not fit in %d bytes", voxOffset, n, len(b))
	}
	if b[hdrSize] != 0 {
		m.ext = bytes.Clone(b[hdrSize+4 : voxOffset])
	}
	m.data = b[voxOffset : voxOffset+n]
	return m, nil
}

func writeNIfTI(path string, m *labelMap, descrip string) (err error) {
	if len(m.ext)%16 != 0 {
		return fmt.Errorf("extension block is %d bytes, not a multiple of 16", len(m.ext))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(header(m, descrip)); err != nil {
		return err
	}
	if _, err := zw.Write(m.data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// header builds a 348-byte NIfTI-1 header, the 4-byte extender and the
// copied extensions.
func header(m *labelMap, descrip string) []byte {
	b := make([]byte, hdrSize+4+len(m.ext))
	le := binary.LittleEndian
	le.PutUint32(b[0:], hdrSize)
	dim := [8]int16{3, int16(m.nx), int16(m.ny), int16(m.nz), 1, 1, 1, 1}
	for i, d := range dim {
		le.PutUint16(b[40+2*i:], uint16(d))
	}
	le.PutUint16(b[70:], dtUint8)
	le.PutUint16(b[72:], 8) // bitpix
	pix := [8]float32{1, m.pixdim[0], m.pixdim[1], m.pixdim[2], 1, 1, 1, 1}
	for i, p := range pix {
		le.PutUint32(b[76+4*i:], math.Float32bits(p))
	}
	le.PutUint32(b[108:], math.Float32bits(float32(hdrSize+4+len(m.ext)))) // vox_offset
	le.PutUint32(b[112:], math.Float32bits(1))                             // scl_slope
	b[123] = m.xyztUnits
	copy(b[148:228], descrip)
	le.PutUint16(b[254:], uint16(m.sformCode)) // qform_code stays 0: the sform is authoritative
	for r := range 3 {
		for c := range 4 {
			le.PutUint32(b[280+16*r+4*c:], math.Float32bits(m.srow[r][c]))
		}
	}
	copy(b[344:], nifti1Magic)
	if len(m.ext) > 0 {
		b[hdrSize] = 1
		copy(b[hdrSize+4:], m.ext)
	}
	return b
}
