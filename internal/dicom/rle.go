package dicom

import (
	"encoding/binary"
	"fmt"
)

// rleDecoder decodes DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of
// segment offsets, then one PackBits segment per byte plane, most
// significant byte of each sample first. No Go library decodes its 16- and
// 32-bit multi-segment forms correctly, and it is short.
type rleDecoder struct{}

func (rleDecoder) decode(src []byte, f frameInfo, dst []int32) error {
	if f.BitsAllocated%8 != 0 || f.BitsAllocated == 0 || f.BitsAllocated > 32 {
		return fmt.Errorf("%w: RLE with BitsAllocated %d", ErrUnsupportedImage, f.BitsAllocated)
	}
	if len(src) < 64 {
		return fmt.Errorf("%w: RLE header is %d bytes, want 64", ErrCorrupt, len(src))
	}
	bytesPerSample := f.BitsAllocated / 8
	want := f.Samples * bytesPerSample
	nseg := int(binary.LittleEndian.Uint32(src))
	if nseg != want {
		return fmt.Errorf("%w: RLE frame has %d segments, want %d (%d samples × %d bytes)",
			ErrCorrupt, nseg, want, f.Samples, bytesPerSample)
	}
	var offsets [16]int
	for i := 0; i < nseg; i++ {
		offsets[i] = int(binary.LittleEndian.Uint32(src[4+4*i:]))
	}
	offsets[nseg] = len(src)
	pixels := f.Rows * f.Cols
	clear(dst[:f.len()])
	for seg := 0; seg < nseg; seg++ {
		start, end := offsets[seg], offsets[seg+1]
		if start < 64 || end < start || end > len(src) {
			return fmt.Errorf("%w: RLE segment %d spans bytes %d..%d of %d", ErrCorrupt, seg, start, end, len(src))
		}
		sample, plane := seg/bytesPerSample, seg%bytesPerSample
		shift := uint(8 * (bytesPerSample - 1 - plane))
		out := dst[sample:]
		n, err := unpackBits(src[start:end], pixels, func(i int, b byte) {
			out[i*f.Samples] |= int32(uint32(b) << shift)
		})
		if err != nil {
			return fmt.Errorf("RLE segment %d: %w", seg, err)
		}
		if n < pixels {
			return fmt.Errorf("%w: RLE segment %d decodes to %d bytes, want %d", ErrCorrupt, seg, n, pixels)
		}
	}
	return nil
}

// unpackBits decodes one PackBits segment, calling put for each of at most
// limit output bytes, and returns how many it produced. Output beyond limit
// (encoders pad segments to even length) is ignored.
func unpackBits(seg []byte, limit int, put func(int, byte)) (int, error) {
	n := 0
	for i := 0; i < len(seg) && n < limit; {
		c := int8(seg[i])
		i++
		switch {
		case c >= 0: // literal run of c+1 bytes
			run := int(c) + 1
			if i+run > len(seg) {
				return n, fmt.Errorf("%w: literal run of %d overruns the segment", ErrCorrupt, run)
			}
			for _, b := range seg[i : i+run] {
				if n < limit {
					put(n, b)
					n++
				}
			}
			i += run
		case c != -128: // replicate the next byte 1-c times
			if i >= len(seg) {
				return n, fmt.Errorf("%w: replicate run at end of segment", ErrCorrupt)
			}
			b := seg[i]
			i++
			for run := 1 - int(c); run > 0 && n < limit; run-- {
				put(n, b)
				n++
			}
		}
	}
	return n, nil
}
