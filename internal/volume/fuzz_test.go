package volume

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzRead feeds Read arbitrary bytes under a 1 MB limit: it must never
// panic or allocate past the limit, and what it accepts must be consistent
// and survive the conversions and a label-map round trip.
func FuzzRead(f *testing.F) {
	f.Add(nifti1(f, nil))
	f.Add(gz(f, nifti1(f, nil)))
	f.Add(nifti1(f, le16(70, int16(Float64))))
	f.Add(nifti1(f, func(b []byte) { le16(40, 4)(b); le16(48, 1)(b) })) // 4D
	f.Add(nifti1(f, func(b []byte) { le16(252, 1)(b); le16(254, 0)(b); leF32(256, 0.6)(b) }))
	f.Add(nifti2(binary.LittleEndian, [3]int64{2, 3, 4}, nil))
	f.Add(gz(f, nifti2(binary.BigEndian, [3]int64{3, 2, 1}, nil)))
	withExt := nifti1(f, func(b []byte) { b[348] = 1; leF32(108, 352+32)(b) })
	ext := make([]byte, 32)
	binary.LittleEndian.PutUint32(ext, 32)
	copy(ext[8:], "<CaretExtension/>")
	f.Add(append(withExt[:352:352], append(ext, withExt[352:]...)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 20
		im, err := Read(bytes.NewReader(b), ReadOptions{MaxBytes: limit})
		if err != nil {
			return
		}
		n := reflect.ValueOf(im.Data).Len()
		if n != im.NumVoxels() || n != im.Grid.Len()*im.TimePoints || n*im.Datatype.Size() > limit {
			t.Fatalf("%d voxels of %s for shape %v", n, im.Datatype, im.Shape)
		}
		if h, err := ReadHeader(bytes.NewReader(b)); err != nil || h.VoxOffset != im.VoxOffset {
			t.Fatalf("Read accepts what ReadHeader refuses: %v", err)
		}
		if len(im.Float32()) != n {
			t.Fatal("Float32 length")
		}
		_ = im.Affine.Orientation()
		if _, err := im.CT(); err != nil && im.TimePoints == 1 && im.Datatype.Integer() {
			t.Fatalf("CT of integer voxels: %v", err)
		}
		lm, err := im.LabelMap()
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteLabelMap(&buf, lm); err != nil {
			return // e.g. a singular affine
		}
		back, err := Read(&buf, ReadOptions{})
		if err != nil {
			t.Fatalf("reading back a written label map: %v", err)
		}
		got, err := back.LabelMap()
		if err != nil || !equalSlices(got.Data, lm.Data) || len(got.Extensions) != len(lm.Extensions) {
			t.Fatalf("label map round trip: %v", err)
		}
	})
}
