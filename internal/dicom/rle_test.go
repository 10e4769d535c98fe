package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestUnpackBits(t *testing.T) {
	cases := []struct {
		name  string
		seg   []byte
		limit int
		want  []byte
		err   bool
	}{
		{"literal", []byte{2, 'a', 'b', 'c'}, 10, []byte("abc"), false},
		{"replicate", []byte{0xFD, 'x'}, 10, []byte("xxxx"), false}, // -3: 4 copies
		{"no-op -128", []byte{0x80, 0, 'q'}, 10, []byte("q"), false},
		{"mixed", []byte{0, 'a', 0xFF, 'b', 1, 'c', 'd'}, 10, []byte("abbcd"), false},
		{"limit stops output", []byte{0x81, 'z'}, 5, []byte("zzzzz"), false}, // -127: 128 copies
		{"even padding ignored", []byte{0, 'a', 0}, 1, []byte("a"), false},
		{"literal overruns", []byte{5, 'a'}, 10, nil, true},
		{"replicate without byte", []byte{0xFE}, 10, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			n, err := unpackBits(c.seg, c.limit, func(i int, b byte) { got = append(got, b) })
			if c.err {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || n != len(c.want) || !bytes.Equal(got, c.want) {
				t.Fatalf("got %q (%d, %v), want %q", got, n, err, c.want)
			}
		})
	}
}

// rleFrame builds an RLE frame from byte planes, each stored as literal runs.
func rleFrame(planes ...[]byte) []byte {
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(planes)))
	var body []byte
	for i, p := range planes {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(64+len(body)))
		for len(p) > 0 {
			n := min(len(p), 128)
			body = append(body, byte(n-1))
			body = append(body, p[:n]...)
			p = p[n:]
		}
		if len(body)%2 == 1 {
			body = append(body, 0x80)
		}
	}
	return append(hdr, body...)
}

func TestRLEDecode(t *testing.T) {
	f16 := frameInfo{Rows: 2, Cols: 3, Samples: 1, BitsAllocated: 16, BitsStored: 16}
	msb := []byte{0x00, 0x01, 0xFF, 0x80, 0x12, 0x00}
	lsb := []byte{0x05, 0x00, 0xFE, 0x00, 0x34, 0xFF}
	want := []int32{0x0005, 0x0100, 0xFFFE, 0x8000, 0x1234, 0x00FF}
	got := make([]int32, 6)
	if err := (rleDecoder{}).decode(rleFrame(msb, lsb), f16, got); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("sample %d: %#x, want %#x", i, got[i], want[i])
	}
	storedValues(got, 16, 1)
	if got[2] != -2 || got[3] != -32768 {
		t.Fatalf("signed: %d %d, want -2 -32768", got[2], got[3])
	}

	bad := []struct {
		name  string
		frame []byte
		f     frameInfo
		text  string
	}{
		{"short header", make([]byte, 10), f16, "header"},
		{"segment count", rleFrame(msb), f16, "1 segments, want 2"},
		{"short segment", rleFrame(msb, lsb[:4]), f16, "decodes to 4 bytes, want 6"},
		{"offset out of range", func() []byte {
			b := rleFrame(msb, lsb)
			binary.LittleEndian.PutUint32(b[8:], 1<<20)
			return b
		}(), f16, "segment 0 spans"},
		{"12-bit allocation", rleFrame(msb, lsb), frameInfo{Rows: 2, Cols: 3, Samples: 1, BitsAllocated: 12}, "BitsAllocated 12"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			err := (rleDecoder{}).decode(c.frame, c.f, make([]int32, 6))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.text)) {
				t.Fatalf("error %v, want one naming %q", err, c.text)
			}
		})
	}
}

func FuzzRLE(f *testing.F) {
	f.Add(rleFrame([]byte{1, 2, 3, 4, 5, 6}, []byte{7, 8, 9, 10, 11, 12}))
	info := frameInfo{Rows: 2, Cols: 3, Samples: 1, BitsAllocated: 16, BitsStored: 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		(rleDecoder{}).decode(b, info, make([]int32, 6))
	})
}
