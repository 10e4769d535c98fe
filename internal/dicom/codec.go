package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cocosip/go-dicom-codec/jpeg2000"
	"github.com/cocosip/go-dicom-codec/jpegls/lossless"
	"github.com/cocosip/go-dicom-codec/jpegls/nearlossless"
)

// JPEG 2000 and JPEG-LS come from github.com/cocosip/go-dicom-codec v0.5.0,
// the only pure-Go decoders that were exact on CT (see
// shared/design/facts/go-dependencies.md). It is young and single-handed,
// so it stays behind frameDecoder, its panics become errors, and golden
// tests pin its output. Built with -tags openjpeg and cgo, JPEG 2000 is
// decoded by OpenJPEG instead (j2k_openjpeg.go); this decoder stays the
// fallback of every other build.

// goJ2KDecoder decodes JPEG 2000 (.4.90 lossless, .4.91) in pure Go.
type goJ2KDecoder struct{}

func (goJ2KDecoder) decode(src []byte, f frameInfo, dst []int32) (err error) {
	defer recoverCodec("JPEG 2000", &err)
	// The decoder allocates what the codestream's SIZ declares before it
	// reads any data; a corrupt SIZ would exhaust memory. Check it first.
	if err := checkJ2K(src, f); err != nil {
		return err
	}
	d := jpeg2000.NewDecoder()
	if err := d.Decode(src); err != nil {
		return fmt.Errorf("%w: JPEG 2000: %v", ErrCorrupt, err)
	}
	if d.Width() != f.Cols || d.Height() != f.Rows || d.Components() != f.Samples {
		return fmt.Errorf("%w: JPEG 2000 image is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, d.Width(), d.Height(), d.Components(), f.Cols, f.Rows, f.Samples)
	}
	comps := d.GetImageData()
	n := f.Rows * f.Cols
	for c, plane := range comps {
		if len(plane) < n {
			return fmt.Errorf("%w: JPEG 2000 component %d has %d samples, want %d", ErrCorrupt, c, len(plane), n)
		}
		for i, v := range plane[:n] {
			dst[i*f.Samples+c] = v
		}
	}
	j2kSigned(dst[:f.len()], f, d.BitDepth(), d.IsSigned())
	return nil
}

// j2kSigned handles encoders that write an unsigned codestream for signed
// pixels (PixelRepresentation 1): pydicom reinterprets the codestream's bits
// as two's complement of the codestream precision prec; so do we.
func j2kSigned(dst []int32, f frameInfo, prec int, signed bool) {
	if signed || f.PixelRepresentation != 1 || prec <= 0 || prec >= 32 {
		return
	}
	shift := 32 - prec
	for i, v := range dst {
		dst[i] = (v << shift) >> shift
	}
}

// jpegLSDecoder decodes JPEG-LS lossless (.4.80) and near-lossless (.4.81).
type jpegLSDecoder struct{}

func (jpegLSDecoder) decode(src []byte, f frameInfo, dst []int32) (err error) {
	defer recoverCodec("JPEG-LS", &err)
	if err := checkJPEGLSSize(src, f); err != nil {
		return err
	}
	// The near-lossless decoder reads NEAR from the scan header and is exact
	// for NEAR=0 too, so it serves both syntaxes.
	px, w, h, comps, bits, _, err := nearlossless.Decode(src)
	if err != nil {
		// Fall back to the lossless-only decoder, which parses a few more
		// marker layouts.
		var err2 error
		px, w, h, comps, bits, err2 = lossless.Decode(src)
		if err2 != nil {
			return fmt.Errorf("%w: JPEG-LS: %v", ErrCorrupt, err)
		}
	}
	if w != f.Cols || h != f.Rows || comps != f.Samples {
		return fmt.Errorf("%w: JPEG-LS image is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, w, h, comps, f.Cols, f.Rows, f.Samples)
	}
	n := f.len()
	if bits <= 8 {
		if len(px) < n {
			return fmt.Errorf("%w: JPEG-LS produced %d bytes, want %d", ErrCorrupt, len(px), n)
		}
		for i := range dst[:n] {
			dst[i] = int32(px[i])
		}
		return nil
	}
	if len(px) < 2*n {
		return fmt.Errorf("%w: JPEG-LS produced %d bytes, want %d", ErrCorrupt, len(px), 2*n)
	}
	for i := range dst[:n] {
		dst[i] = int32(uint16(px[2*i]) | uint16(px[2*i+1])<<8)
	}
	return nil
}

// checkJ2K compares the image and tile sizes of a JPEG 2000 codestream's
// SIZ segment (A.5.1) with the DICOM header, then walks its markers
// (checkJ2KMarkers). Both decoders call it before decoding anything.
func checkJ2K(src []byte, f frameInfo) error {
	i := bytes.Index(src[:min(len(src), 4096)], []byte{0xFF, 0x4F, 0xFF, 0x51})
	if i < 0 || len(src) < i+4+38 {
		return fmt.Errorf("%w: no JPEG 2000 SIZ segment", ErrCorrupt)
	}
	siz := src[i+6:]
	u32 := func(o int) int { return int(binary.BigEndian.Uint32(siz[o:])) }
	w, h := u32(2)-u32(10), u32(6)-u32(14)
	tw, th := u32(18), u32(22)
	c := int(binary.BigEndian.Uint16(siz[34:]))
	if w != f.Cols || h != f.Rows || c != f.Samples {
		return fmt.Errorf("%w: JPEG 2000 codestream is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, w, h, c, f.Cols, f.Rows, f.Samples)
	}
	if tw < 1 || th < 1 || (w/tw+1)*(h/th+1) > 1<<16 {
		return fmt.Errorf("%w: JPEG 2000 tiles of %d×%d for a %d×%d image", ErrCorrupt, tw, th, w, h)
	}
	return checkJ2KMarkers(src[i:], c)
}

// checkJ2KMarkers walks a codestream from SOC: the main header's marker
// segments, then each tile-part by its SOT length (A.4.2), so that a
// codestream cut short is an error whichever decoder runs (the pure-Go one
// would decode what is there and leave the rest zero). COD and COC
// segments, in the main or a tile-part header, must declare at most 32
// decomposition levels and code-blocks of at most 4096 samples (A.6.1).
// nc is the number of components (Csiz), which sizes COC's index.
func checkJ2KMarkers(cs []byte, nc int) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: JPEG 2000 "+format, append([]any{ErrCorrupt}, a...)...)
	}
	u16 := func(o int) int { return int(binary.BigEndian.Uint16(cs[o:])) }
	cocIndex := 1
	if nc >= 257 {
		cocIndex = 2
	}
	// segments walks marker segments from p to the first SOT (main header)
	// or SOD (tile-part header) and returns its offset.
	segments := func(p, end int, stop byte) (int, error) {
		for {
			if p+4 > end {
				return 0, bad("header cut at byte %d of %d", p, len(cs))
			}
			if cs[p] != 0xFF {
				return 0, bad("no marker at byte %d", p)
			}
			m := cs[p+1]
			if m == stop {
				return p, nil
			}
			n := u16(p + 2)
			if n < 2 || p+2+n > end {
				return 0, bad("marker segment FF%02X at byte %d of %d bytes runs past its end (%d)", m, p, n, end)
			}
			var sp int // offset of SPcod/SPcoc
			switch m {
			case 0x52: // COD: Scod, SGcod (4 bytes), SPcod
				sp = p + 4 + 1 + 4
			case 0x53: // COC: Ccoc, Scoc, SPcoc
				sp = p + 4 + cocIndex + 1
			}
			if sp > 0 {
				if sp+3 > p+2+n {
					return 0, bad("marker segment FF%02X at byte %d is too short", m, p)
				}
				levels, xcb, ycb := int(cs[sp]), int(cs[sp+1]), int(cs[sp+2])
				if levels > 32 || xcb > 8 || ycb > 8 || xcb+ycb > 8 {
					return 0, bad("coding style at byte %d: %d decomposition levels, code-blocks of 2^%d×2^%d",
						p, levels, xcb+2, ycb+2)
				}
			}
			p += 2 + n
		}
	}
	p, err := segments(2, len(cs), 0x90)
	if err != nil {
		return err
	}
	for p+2 <= len(cs) {
		switch {
		case cs[p] == 0xFF && cs[p+1] == 0xD9: // EOC
			return nil
		case cs[p] != 0xFF || cs[p+1] != 0x90:
			return bad("no tile-part (SOT) or end of codestream at byte %d", p)
		case p+12 > len(cs):
			return bad("tile-part header cut at byte %d of %d", p, len(cs))
		}
		psot := int64(binary.BigEndian.Uint32(cs[p+6:]))
		end := int64(len(cs))
		if psot != 0 {
			end = int64(p) + psot
		}
		if psot != 0 && (psot < 14 || end > int64(len(cs))) {
			return bad("tile-part at byte %d declares %d bytes, %d are left", p, psot, len(cs)-p)
		}
		if _, err := segments(p+12, int(end), 0x93); err != nil {
			return err
		}
		if psot == 0 {
			// The last tile-part runs to EOC: ends with EOC, then at most
			// the DICOM fragment's padding.
			t := bytes.TrimRight(cs, "\x00")
			if len(t) < p+14 || t[len(t)-2] != 0xFF || t[len(t)-1] != 0xD9 {
				return bad("last tile-part at byte %d does not end with EOC", p)
			}
			return nil
		}
		p = int(end)
	}
	// Every tile-part complete but no EOC: nothing is missing.
	return nil
}

// checkJPEGLSSize compares the frame header (SOF55) with the DICOM header.
func checkJPEGLSSize(src []byte, f frameInfo) error {
	i := bytes.Index(src[:min(len(src), 4096)], []byte{0xFF, 0xF7})
	if i < 0 || len(src) < i+10 {
		return fmt.Errorf("%w: no JPEG-LS SOF55 segment", ErrCorrupt)
	}
	h := int(binary.BigEndian.Uint16(src[i+5:]))
	w := int(binary.BigEndian.Uint16(src[i+7:]))
	c := int(src[i+9])
	if w != f.Cols || h != f.Rows || c != f.Samples {
		return fmt.Errorf("%w: JPEG-LS image is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, w, h, c, f.Cols, f.Rows, f.Samples)
	}
	return nil
}

// recoverCodec turns a panic inside a third-party decoder (on corrupt
// input) into an error, so one bad file cannot crash the pipeline.
func recoverCodec(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s decoder panicked: %v", ErrCorrupt, name, r)
	}
}
