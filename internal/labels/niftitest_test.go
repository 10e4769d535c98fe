package labels

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

// niftiLabels is the little of a NIfTI-1 label map these tests need, read
// by hand so that they do not depend on package volume.
type niftiLabels struct {
	exts   []niftiExt
	values []uint16 // distinct label values present, sorted
}

type niftiExt struct {
	code int32
	data []byte // esize-8 bytes, padding included
}

// readNIfTI reads a gzipped little-endian NIfTI-1 uint8 label map from the
// shared data.
func readNIfTI(t *testing.T, rel ...string) niftiLabels {
	t.Helper()
	path := testdata.Path(t, rel...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	le := binary.LittleEndian
	if len(raw) < 352 || le.Uint32(raw) != 348 {
		t.Fatalf("%s: not a little-endian NIfTI-1 file", path)
	}
	if dt := int16(le.Uint16(raw[70:])); dt != 2 {
		t.Fatalf("%s: datatype %d, this test reads uint8 (2) only", path, dt)
	}
	voxOffset := int(math.Float32frombits(le.Uint32(raw[108:])))
	var n niftiLabels
	if raw[348] != 0 {
		for off := 352; off < voxOffset; {
			size := int(int32(le.Uint32(raw[off:])))
			if size < 16 || size%16 != 0 || off+size > voxOffset {
				t.Fatalf("%s: bad extension size %d at byte %d", path, size, off)
			}
			n.exts = append(n.exts, niftiExt{code: int32(le.Uint32(raw[off+4:])), data: raw[off+8 : off+size]})
			off += size
		}
	}
	var seen [256]bool
	for _, v := range raw[voxOffset:] {
		seen[v] = true
	}
	for v, ok := range seen {
		if ok && v != 0 {
			n.values = append(n.values, uint16(v))
		}
	}
	if !slices.IsSorted(n.values) {
		t.Fatal("values not sorted")
	}
	return n
}
