package dicom

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestLosslessJPEG16Bit encodes full-range 16-bit images with dcmtk, every
// predictor, signed and unsigned, and decodes them back exactly. Columns of
// alternating 0 and 0x8000 force the SSSS=16 difference (32768, no extra
// bits) that other Go decoders fail on; the test checks dcmtk's Huffman
// table really holds category 16.
func TestLosslessJPEG16Bit(t *testing.T) {
	need(t, "dcmcjpeg", "dcmtk")
	const rows, cols = 40, 56
	rng := rand.New(rand.NewPCG(1, 2))
	for _, signed := range []int{0, 1} {
		px := make([]int32, rows*cols)
		for i := range px {
			v := int32(rng.Uint32() & 0xFFFF)
			if i%cols < 8 {
				v = int32(i%2) << 15
			}
			if signed == 1 {
				v = int32(int16(v))
			}
			px[i] = v
		}
		src := filepath.Join(t.TempDir(), "native.dcm")
		s := slice{rows: rows, cols: cols, pixelRep: signed, pixels: px, iop: [6]float64{1, 0, 0, 0, 1, 0}, spacing: [2]float64{1, 1}}
		if err := os.WriteFile(src, s.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for pred := 1; pred <= 7; pred++ {
			t.Run(fmt.Sprintf("signed=%d/predictor=%d", signed, pred), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "jpeg.dcm")
				args := []string{"+el", "+sv", fmt.Sprint(pred)}
				if pred == 1 {
					args = []string{"+e1"}
				}
				run(t, "dcmcjpeg", append(args, src, out)...)
				raw, _ := os.ReadFile(out)
				if !hasCategory16(raw) {
					t.Fatal("dcmtk's Huffman table has no category 16: the test misses the SSSS=16 case")
				}
				got, h, err := decodeFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if h.ts != tsJPEGLL14 && h.ts != tsJPEGLL14SV1 {
					t.Fatalf("dcmcjpeg wrote %s", syntaxName(h.ts))
				}
				if i := firstDiff(got, px); i >= 0 {
					t.Fatalf("sample %d is %d, want %d", i, got[i], px[i])
				}
			})
		}
	}
}

// hasCategory16 looks for symbol 16 in the DHT segments of a JPEG stream
// inside a DICOM file.
func hasCategory16(b []byte) bool {
	for i := bytes.Index(b, []byte{0xFF, 0xC4}); i >= 0 && i+21 < len(b); {
		n := 0
		for _, c := range b[i+5 : i+21] {
			n += int(c)
		}
		if i+21+n <= len(b) && bytes.IndexByte(b[i+21:i+21+n], 16) >= 0 {
			return true
		}
		j := bytes.Index(b[i+2:], []byte{0xFF, 0xC4})
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}

// TestLosslessJPEGPrecisionsAndRestarts covers what dcmcjpeg cannot be asked
// for — precisions 2–16, restart intervals, several components — with a small encoder written here. dcmtk's decoder (IJG)
// referees: it must decode every stream to the original samples, so the
// encoder is checked independently, and then so must ours.
func TestLosslessJPEGPrecisionsAndRestarts(t *testing.T) {
	need(t, "dcmdjpeg", "dcmtk")
	cases := []struct {
		precision, pred, pt, restart, comps int
	}{
		{2, 1, 0, 0, 1},
		{7, 4, 0, 0, 1},
		{8, 6, 0, 34, 1},  // a restart every line
		{12, 7, 0, 68, 1}, // every other line
		{12, 5, 2, 34, 1}, // point transform with restarts
		{16, 4, 0, 34, 1},
		{16, 2, 5, 0, 1},
		{8, 7, 0, 0, 3},    // interleaved RGB
		{16, 3, 0, 102, 3}, // interleaved, restart every 3 lines
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		name := fmt.Sprintf("P%d/pred%d/pt%d/restart%d/comps%d", c.precision, c.pred, c.pt, c.restart, c.comps)
		t.Run(name, func(t *testing.T) {
			const rows, cols = 21, 34
			px := make([]int32, rows*cols*c.comps)
			for i := range px {
				// smooth ramp plus noise, within P bits, low pt bits zero
				v := int32(i/c.comps%cols*5+i/(c.comps*cols)*3) + int32(rng.IntN(9))
				v &= 1<<c.precision - 1
				px[i] = v >> c.pt << c.pt
			}
			stream := encodeLosslessJPEG(px, cols, rows, c.comps, c.precision, c.pred, c.pt, c.restart)
			ba := 8
			if c.precision > 8 {
				ba = 16
			}
			f := frameInfo{Rows: rows, Cols: cols, Samples: c.comps, BitsAllocated: ba, BitsStored: c.precision}

			dir := t.TempDir()
			enc, dec := filepath.Join(dir, "enc.dcm"), filepath.Join(dir, "dec.dcm")
			s := slice{ts: tsJPEGLL14, rows: rows, cols: cols, bitsAllocated: ba, bitsStored: c.precision,
				fragments: [][]byte{stream}, iop: [6]float64{1, 0, 0, 0, 1, 0}, spacing: [2]float64{1, 1}}
			if c.comps == 3 {
				s.samples, s.photometric = 3, "RGB"
				s.extra = []dcmElem{usElem(0x0028, 0x0006, 0)}
			}
			if err := os.WriteFile(enc, s.bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "dcmdjpeg", "+cn", enc, dec)
			ref, _, err := decodeFile(dec)
			if err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(ref, px); i >= 0 {
				t.Fatalf("dcmdjpeg: sample %d is %d, want %d: the test encoder is wrong", i, ref[i], px[i])
			}
			got := make([]int32, len(px))
			if err := (losslessJPEGDecoder{}).decode(stream, f, got); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, px); i >= 0 {
				t.Fatalf("sample %d is %d, want %d", i, got[i], px[i])
			}
		})
	}
}

// TestLosslessJPEGErrors: damaged or foreign streams give clear errors.
func TestLosslessJPEGErrors(t *testing.T) {
	px := make([]int32, 8*8)
	for i := range px {
		px[i] = int32(i * 37 % 4096)
	}
	good := encodeLosslessJPEG(px, 8, 8, 1, 12, 1, 0, 0)
	f := frameInfo{Rows: 8, Cols: 8, Samples: 1, BitsAllocated: 16, BitsStored: 12}
	sof := bytes.Index(good, []byte{0xFF, 0xC3})
	sos := bytes.Index(good, []byte{0xFF, 0xDA})
	edit := func(at int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[at:], b)
		return out
	}
	cases := []struct {
		name   string
		stream []byte
		f      frameInfo
		want   error
		text   string
	}{
		{"truncated scan", good[:len(good)-6], f, ErrCorrupt, ""},
		{"no SOI", good[2:], f, ErrCorrupt, "SOI"},
		{"size mismatch", good, frameInfo{Rows: 9, Cols: 8, Samples: 1, BitsAllocated: 16, BitsStored: 12}, ErrCorrupt, "8×8×1"},
		{"baseline frame", edit(sof, 0xFF, 0xC0), f, ErrUnsupportedSyntax, "SOF0"},
		{"predictor 0", edit(sos+2+2+1+2, 0), f, ErrCorrupt, "predictor 0"},
		{"undefined table", edit(sos+2+2+1+1, 0x10), f, ErrCorrupt, "Huffman table 1"},
		{"precision 17", edit(sof+4, 17), f, ErrCorrupt, "precision 17"},
		// IJG refuses restart intervals that split a line; so do we.
		{"restart mid-line", encodeLosslessJPEG(px, 8, 8, 1, 12, 1, 0, 3), f, ErrUnsupportedSyntax, "restart interval 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]int32, c.f.len())
			err := (losslessJPEGDecoder{}).decode(c.stream, c.f, dst)
			if !errors.Is(err, c.want) || !bytes.Contains([]byte(err.Error()), []byte(c.text)) {
				t.Fatalf("error %v, want %v naming %q", err, c.want, c.text)
			}
		})
	}
	// Every truncation errors cleanly (no panic, no silent zeros).
	for n := 0; n < len(good)-2; n++ {
		if err := (losslessJPEGDecoder{}).decode(good[:n], f, make([]int32, 64)); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
}

func FuzzLosslessJPEG(f *testing.F) {
	px := make([]int32, 6*5)
	for i := range px {
		px[i] = int32(i * 977 % 65536)
	}
	f.Add(encodeLosslessJPEG(px, 6, 5, 1, 16, 7, 0, 4))
	f.Add(encodeLosslessJPEG(px, 6, 5, 1, 16, 4, 0, 0))
	info := frameInfo{Rows: 5, Cols: 6, Samples: 1, BitsAllocated: 16, BitsStored: 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		(losslessJPEGDecoder{}).decode(b, info, make([]int32, 30))
	})
}

// encodeLosslessJPEG is a plain T.81 process-14 encoder for tests: one
// Huffman table giving every category a 5-bit code, the prediction rules
// of H.1.2.1, restart markers every restart MCUs.
func encodeLosslessJPEG(px []int32, w, h, nc, precision, pred, pt, restart int) []byte {
	b := []byte{0xFF, 0xD8}
	seg := func(m byte, p ...byte) {
		b = append(b, 0xFF, m, byte((len(p)+2)>>8), byte(len(p)+2))
		b = append(b, p...)
	}
	sof := []byte{byte(precision), byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nc)}
	sosp := []byte{byte(nc)}
	for c := range nc {
		sof = append(sof, byte(c+1), 0x11, 0)
		sosp = append(sosp, byte(c+1), 0x00)
	}
	seg(0xC3, sof...)
	dht := make([]byte, 17, 34)
	dht[5] = 17 // 17 codes of length 5
	for s := range 17 {
		dht = append(dht, byte(s))
	}
	seg(0xC4, dht...)
	if restart > 0 {
		seg(0xDD, byte(restart>>8), byte(restart))
	}
	seg(0xDA, append(sosp, byte(pred), 0, byte(pt))...)

	var acc uint64
	var n uint
	put := func(v uint32, l uint) {
		acc = acc<<l | uint64(v)&(1<<l-1)
		n += l
		for n >= 8 {
			c := byte(acc >> (n - 8))
			b = append(b, c)
			if c == 0xFF {
				b = append(b, 0)
			}
			n -= 8
		}
	}
	flush := func() {
		if n > 0 {
			put(0xFF, 8-n)
		}
	}
	red := make([]int32, len(px))
	for i, v := range px {
		red[i] = v >> pt
	}
	row := w * nc
	left, rst, reset, resetRow := restart, 0, true, 0
	for y := range h {
		for x := range w {
			if restart > 0 {
				if left == 0 {
					flush()
					b = append(b, 0xFF, byte(0xD0+rst))
					rst = (rst + 1) & 7
					left, reset = restart, true
				}
				left--
			}
			first := reset
			if reset {
				reset, resetRow = false, y
			}
			for c := range nc {
				i := (y*w+x)*nc + c
				var p int32
				switch {
				case first:
					p = 1 << (precision - pt - 1)
				case y == resetRow:
					p = red[i-nc]
				case x == 0:
					p = red[i-row]
				default:
					p = predict(pred, red[i-nc], red[i-row], red[i-row-nc])
				}
				d := (red[i] - p) & 0xFFFF
				if d == 0x8000 {
					put(16, 5)
					continue
				}
				if d > 0x8000 {
					d -= 0x10000
				}
				mag := d
				if mag < 0 {
					mag = -mag
				}
				s := uint(bits.Len32(uint32(mag)))
				put(uint32(s), 5)
				if d < 0 {
					d += 1<<s - 1
				}
				put(uint32(d), s)
			}
		}
	}
	flush()
	return append(b, 0xFF, 0xD9)
}
