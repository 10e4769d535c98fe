package dicom

import (
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/uid"
)

// Transfer syntaxes this package decodes.
const (
	tsImplicitLE  = "1.2.840.10008.1.2"
	tsExplicitLE  = "1.2.840.10008.1.2.1"
	tsDeflatedLE  = "1.2.840.10008.1.2.1.99"
	tsExplicitBE  = "1.2.840.10008.1.2.2"
	tsRLE         = "1.2.840.10008.1.2.5"
	tsJPEGLL14    = "1.2.840.10008.1.2.4.57"
	tsJPEGLL14SV1 = "1.2.840.10008.1.2.4.70"
	tsJPEGLS      = "1.2.840.10008.1.2.4.80"
	tsJPEGLSNear  = "1.2.840.10008.1.2.4.81"
	tsJ2KLossless = "1.2.840.10008.1.2.4.90"
	tsJ2K         = "1.2.840.10008.1.2.4.91"
)

// frameInfo describes the samples of one frame as the header declares them.
type frameInfo struct {
	Rows, Cols          int
	Samples             int // samples per pixel
	BitsAllocated       int
	BitsStored          int
	PixelRepresentation int // 0 unsigned, 1 two's complement
}

func (f frameInfo) len() int { return f.Rows * f.Cols * f.Samples }

// frameDecoder turns the bytes of one frame (native pixel data, or the
// concatenated fragments of an encapsulated frame) into stored sample
// values, interleaved by pixel, len(dst) == f.len(). Values are raw bit
// patterns: storedValues applies PixelRepresentation after.
type frameDecoder interface {
	decode(src []byte, f frameInfo, dst []int32) error
}

// decoderFor is the dispatch by transfer syntax. Anything not listed is
// refused with the syntax's UID and name.
func decoderFor(ts string) (frameDecoder, error) {
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsDeflatedLE:
		// Deflate is undone by the parser: pixel bytes arrive inflated.
		return nativeDecoder{binary.LittleEndian}, nil
	case tsExplicitBE:
		return nativeDecoder{binary.BigEndian}, nil
	case tsRLE:
		return rleDecoder{}, nil
	case tsJPEGLL14, tsJPEGLL14SV1:
		return losslessJPEGDecoder{}, nil
	case tsJPEGLS, tsJPEGLSNear:
		return jpegLSDecoder{}, nil
	case tsJ2KLossless, tsJ2K:
		return j2kDecoder{}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedSyntax, syntaxName(ts))
}

// isEncapsulated reports whether pixel data of ts is a sequence of fragments.
func isEncapsulated(ts string) bool {
	switch ts {
	case "", tsImplicitLE, tsExplicitLE, tsDeflatedLE, tsExplicitBE:
		return false
	}
	return true
}

// syntaxName is the UID followed by its name from the DICOM dictionary.
func syntaxName(ts string) string {
	if ts == "" {
		return "(no transfer syntax; implicit VR little endian assumed)"
	}
	if info, err := uid.Lookup(ts); err == nil {
		return ts + " (" + info.Name + ")"
	}
	return ts + " (unknown transfer syntax)"
}

// nativeDecoder reads uncompressed samples in the file's byte order.
type nativeDecoder struct{ bo binary.ByteOrder }

func (d nativeDecoder) decode(src []byte, f frameInfo, dst []int32) error {
	n := f.len()
	switch f.BitsAllocated {
	case 8:
		if len(src) < n {
			return fmt.Errorf("%w: native pixel data has %d bytes, want %d", ErrCorrupt, len(src), n)
		}
		for i := range dst[:n] {
			dst[i] = int32(src[i])
		}
	case 16:
		if len(src) < 2*n {
			return fmt.Errorf("%w: native pixel data has %d bytes, want %d", ErrCorrupt, len(src), 2*n)
		}
		if d.bo == binary.LittleEndian {
			for i := range dst[:n] {
				dst[i] = int32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			}
		} else {
			for i := range dst[:n] {
				dst[i] = int32(uint16(src[2*i+1]) | uint16(src[2*i])<<8)
			}
		}
	case 32:
		if len(src) < 4*n {
			return fmt.Errorf("%w: native pixel data has %d bytes, want %d", ErrCorrupt, len(src), 4*n)
		}
		for i := range dst[:n] {
			dst[i] = int32(d.bo.Uint32(src[4*i:]))
		}
	default:
		return fmt.Errorf("%w: BitsAllocated %d", ErrUnsupportedImage, f.BitsAllocated)
	}
	return nil
}

// storedValues sign-extends samples from BitsStored when PixelRepresentation
// is 1, so bits above HighBit never flip a value's sign (PS3.5 §8.1.1).
// Unsigned samples are left whole, as pydicom and dcm2niix leave them.
func storedValues(v []int32, bitsStored, pixelRep int) {
	if pixelRep != 1 || bitsStored <= 0 || bitsStored >= 32 {
		return
	}
	shift := 32 - bitsStored
	for i, x := range v {
		v[i] = (x << shift) >> shift
	}
}
