package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

var testGrid = Grid{Dims: [3]int{4, 3, 2}, Affine: Affine{{2, 0, 0, -3}, {0, 2.5, 0, 1}, {0, 0, 3, 7}, {0, 0, 0, 1}}}

// nifti1 is an uncompressed NIfTI-1 int16 4×3×2 image (header, no
// extensions, 48 bytes of voxels), with edit applied to its header.
func nifti1(t testing.TB, edit func(b []byte)) []byte {
	t.Helper()
	h, err := encodeHeader(testGrid, Int16, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := append(h, make([]byte, 48)...)
	for i := range 24 {
		binary.LittleEndian.PutUint16(b[len(h)+2*i:], uint16(i*100-1000))
	}
	if edit != nil {
		edit(b)
	}
	return b
}

// nifti2 is a NIfTI-2 header for a uint8 image of the given dims with an
// identity sform, then the voxels; edit changes the header.
func nifti2(order binary.ByteOrder, dims [3]int64, edit func(b []byte)) []byte {
	b := make([]byte, sizeofHdr2+4)
	order.PutUint32(b, sizeofHdr2)
	copy(b[4:], "n+2\x00\r\n\x1a\n")
	order.PutUint16(b[12:], uint16(Uint8))
	order.PutUint16(b[14:], 8)
	order.PutUint64(b[16:], 3)
	for i, d := range dims {
		order.PutUint64(b[24+8*i:], uint64(d))
	}
	for i := range 8 {
		order.PutUint64(b[104+8*i:], math.Float64bits(1))
	}
	order.PutUint64(b[168:], sizeofHdr2+4)
	order.PutUint32(b[348:], 1)
	for i := range 3 {
		order.PutUint64(b[400+32*i+8*i:], math.Float64bits(1))
	}
	if edit != nil {
		edit(b)
	}
	n := dims[0] * dims[1] * dims[2]
	if n > 0 && n < 1<<20 {
		for i := range n {
			b = append(b, byte(i))
		}
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func le16(off int, v int16) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], uint16(v)) }
}

func leF32(off int, v float32) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], math.Float32bits(v)) }
}

func TestReadValid(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"nifti1", nifti1(t, nil)},
		{"nifti1 gzip", gz(t, nifti1(t, nil))},
		{"nifti2 little-endian", nifti2(binary.LittleEndian, [3]int64{2, 3, 4}, nil)},
		{"nifti2 big-endian gzip", gz(t, nifti2(binary.BigEndian, [3]int64{2, 3, 4}, nil))},
		{"vox_offset 0 means after the header", nifti1(t, leF32(108, 0))},
		{"trailing bytes after the voxels", gz(t, append(nifti1(t, nil), make([]byte, 1000)...))},
	} {
		t.Run(c.name, func(t *testing.T) {
			im, err := Read(bytes.NewReader(c.in), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			switch d := im.Data.(type) {
			case []int16:
				if d[23] != 1300 || im.Dims != testGrid.Dims || im.Affine != testGrid.Affine {
					t.Errorf("read %v %v %v", d, im.Dims, im.Affine)
				}
			case []uint8:
				if d[23] != 23 || im.Dims != [3]int{2, 3, 4} || im.Version != 2 {
					t.Errorf("read %v %v version %d", d, im.Dims, im.Version)
				}
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	ext := func(b []byte) { // extension flag set, 32 bytes of extensions
		b[348] = 1
		binary.LittleEndian.PutUint32(b[108:], math.Float32bits(352+32))
	}
	withExt := func(esize int32) []byte {
		b := nifti1(t, ext)
		region := make([]byte, 32)
		binary.LittleEndian.PutUint32(region, uint32(esize))
		return append(b[:352], append(region, b[352:]...)...)
	}
	bomb := gz(t, append(nifti1(t, nil), make([]byte, 50<<20)...))
	corrupt := gz(t, nifti1(t, nil))
	corrupt[len(corrupt)-8] ^= 0xff // CRC
	cases := []struct {
		name string
		in   []byte
		opt  ReadOptions
		want string
	}{
		{"empty", nil, ReadOptions{}, "unexpected EOF"},
		{"truncated header", nifti1(t, nil)[:200], ReadOptions{}, "truncated"},
		{"truncated gzip header", gz(t, nifti1(t, nil))[:40], ReadOptions{}, "unexpected EOF"},
		{"sizeof_hdr", nifti1(t, func(b []byte) { b[0] = 0x5d }), ReadOptions{}, "sizeof_hdr is 349"},
		{"Analyze magic", nifti1(t, func(b []byte) { copy(b[344:], "\x00\x00\x00\x00") }), ReadOptions{}, "bad NIfTI-1 magic"},
		{"pair magic", nifti1(t, func(b []byte) { copy(b[344:], "ni1\x00") }), ReadOptions{}, ".hdr/.img pair"},
		{"nifti2 magic", nifti2(binary.LittleEndian, [3]int64{2, 2, 2}, func(b []byte) { b[6] = '3' }), ReadOptions{}, "bad NIfTI-2 magic"},
		{"nifti2 eol", nifti2(binary.LittleEndian, [3]int64{2, 2, 2}, func(b []byte) { b[9] = 13 }), ReadOptions{}, "text-mode"},
		{"dim[0] 0", nifti1(t, le16(40, 0)), ReadOptions{}, "dim[0] = 0"},
		{"dim[0] 8", nifti1(t, le16(40, 8)), ReadOptions{}, "dim[0] = 8"},
		{"dim 0", nifti1(t, le16(44, 0)), ReadOptions{}, "dim[2] = 0"},
		{"dim negative", nifti1(t, le16(46, -5)), ReadOptions{}, "dim[3] = -5"},
		{"dim over limit", nifti1(t, le16(42, 32000)), ReadOptions{MaxBytes: 100_000}, "exceed the limit"},
		{"dims overflow int64", nifti2(binary.LittleEndian, [3]int64{1 << 40, 1 << 40, 1 << 40}, nil), ReadOptions{}, "exceed the limit"},
		{"dims over default limit", nifti2(binary.BigEndian, [3]int64{2000, 2000, 1000}, nil), ReadOptions{}, "1500000000 bytes"},
		{"vox_offset NaN", nifti1(t, leF32(108, float32(math.NaN()))), ReadOptions{}, "vox_offset NaN is absurd"},
		{"vox_offset negative", nifti1(t, leF32(108, -16)), ReadOptions{}, "absurd"},
		{"vox_offset huge", nifti1(t, leF32(108, 1e12)), ReadOptions{}, "absurd"},
		{"vox_offset inside header", nifti1(t, leF32(108, 100)), ReadOptions{}, "inside the header"},
		{"vox_offset past the end", nifti1(t, leF32(108, 4096)), ReadOptions{}, "truncated"},
		{"RGB", nifti1(t, le16(70, 128)), ReadOptions{}, "unsupported datatype RGB"},
		{"complex", nifti1(t, le16(70, 32)), ReadOptions{}, "unsupported datatype complex64"},
		{"unknown datatype", nifti1(t, le16(70, 99)), ReadOptions{}, "unsupported datatype Datatype(99)"},
		{"truncated voxels", nifti1(t, nil)[:352+47], ReadOptions{}, "truncated after 47 of 48 bytes"},
		{"truncated gzip voxels", gz(t, nifti1(t, nil)[:352+20]), ReadOptions{}, "truncated after 20 of 48"},
		{"truncated gzip stream", gz(t, nifti1(t, nil))[:60], ReadOptions{}, "unexpected EOF"},
		{"gzip CRC", corrupt, ReadOptions{}, "checksum"},
		{"gzip bomb after the voxels", bomb, ReadOptions{}, "more than 1048576 bytes of data after the voxels"},
		{"extension esize too big", withExt(48), ReadOptions{}, "esize 48 does not fit"},
		{"extension esize too small", withExt(4), ReadOptions{}, "esize 4"},
		{"extension flag, region truncated", nifti1(t, ext)[:360], ReadOptions{}, "extensions: truncated"},
		{"bad quaternion", nifti1(t, func(b []byte) {
			le16(254, 0)(b)
			leF32(256, 1)(b)
			leF32(260, 1)(b)
		}), ReadOptions{}, "quaternion"},
		{"inter not finite", nifti1(t, leF32(116, float32(math.Inf(1)))), ReadOptions{}, "scl_inter +Inf"},
		{"sform not finite", nifti1(t, leF32(280, float32(math.NaN()))), ReadOptions{}, "not finite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err := Read(bytes.NewReader(c.in), c.opt)
			if err == nil {
				t.Fatalf("read %v %s, want an error containing %q", im.Shape, im.Datatype, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestReadBounded checks that a gzip bomb (50 MB of zeros after the voxels)
// is not decompressed, and that a read allocates little beyond its result.
func TestReadBounded(t *testing.T) {
	bomb := gz(t, append(nifti1(t, nil), make([]byte, 50<<20)...))
	if alloc := allocated(func() { Read(bytes.NewReader(bomb), ReadOptions{}) }); alloc > 4<<20 {
		t.Errorf("reading a gzip bomb allocated %d MB", alloc>>20)
	}

	ct := syntheticCT([3]int{256, 256, 40}, 9) // 5 MB of voxels
	var buf bytes.Buffer
	if err := WriteCT(&buf, ct); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ct.nii.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	voxels := uint64(2 * len(ct.HU))
	var im *Image
	alloc := allocated(func() {
		var err error
		if im, err = ReadFile(path, ReadOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("ReadFile of %d voxel bytes allocated %d bytes", voxels, alloc)
	if alloc > voxels+6<<20 { // pgzip's read-ahead holds 4 blocks of 1 MB
		t.Errorf("reading %d bytes of voxels allocated %d bytes", voxels, alloc)
	}
	if !equalSlices(im.Data.([]int16), ct.HU) {
		t.Error("voxels differ from those written")
	}
	for _, c := range []struct {
		name  string
		size  int64
		extra uint64
	}{{"klauspost", -1, 1 << 20}, {"pgzip", pgzipMinSize, 6 << 20}} {
		alloc = allocated(func() {
			z, err := decompress(bytes.NewReader(buf.Bytes()), c.size)
			if err != nil {
				t.Fatal(err)
			}
			defer z.close()
			h, err := readHeader(z.r, DefaultMaxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readVoxels(z.r, h); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s read of %d voxel bytes allocated %d bytes", c.name, voxels, alloc)
		if alloc > voxels+c.extra {
			t.Errorf("%s: reading %d bytes of voxels allocated %d bytes", c.name, voxels, alloc)
		}
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadStopsAtVoxels reads from a stream that keeps going: an
// uncompressed read must not look past the voxels.
func TestReadStopsAtVoxels(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(nifti1(t, nil)), errReader{})
	if _, err := Read(r, ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHeader(io.MultiReader(bytes.NewReader(nifti1(t, nil)[:352]), errReader{})); err != nil {
		t.Fatal(err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read past the end") }

func TestReadFileError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.nii")
	if err := os.WriteFile(p, []byte("not nifti, long enough to fill a header"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(p, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not NIfTI") {
		t.Errorf("error %v, want one naming %s and saying not NIfTI", err, p)
	}
}
