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
// tests pin its output.

// j2kDecoder decodes JPEG 2000 (.4.90 lossless, .4.91).
type j2kDecoder struct{}

func (j2kDecoder) decode(src []byte, f frameInfo, dst []int32) (err error) {
	defer recoverCodec("JPEG 2000", &err)
	// The decoder allocates what the codestream's SIZ declares before it
	// reads any data; a corrupt SIZ would exhaust memory. Check it first.
	if err := checkJ2KSize(src, f); err != nil {
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
	// Some encoders write an unsigned codestream for signed pixels
	// (PixelRepresentation 1). pydicom reinterprets the codestream's bits as
	// two's complement of the codestream precision; so do we.
	if prec := d.BitDepth(); !d.IsSigned() && f.PixelRepresentation == 1 && prec > 0 && prec < 32 {
		shift := 32 - prec
		for i, v := range dst[:f.len()] {
			dst[i] = (v << shift) >> shift
		}
	}
	return nil
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

// checkJ2KSize compares the image and tile sizes of a JPEG 2000
// codestream's SIZ segment (A.5.1) with the DICOM header.
func checkJ2KSize(src []byte, f frameInfo) error {
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
