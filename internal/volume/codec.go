package volume

import (
	"encoding/binary"
	"unsafe"
)

// nativeLittle is whether this machine stores numbers little-endian, as
// every platform the project ships on (amd64, arm64) does.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// asBytes views the memory of a slice of numbers as bytes. Reading voxels
// through it lets the decompressor write straight into the result, with no
// intermediate buffer and no conversion pass: at CT sizes that pass costs
// a tenth of inflating.
func asBytes[T number](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// swapBytes reverses the byte order of each size-byte number in b.
func swapBytes(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		for lo, hi := i, i+size-1; lo < hi; lo, hi = lo+1, hi-1 {
			b[lo], b[hi] = b[hi], b[lo]
		}
	}
}

// encode8 narrows labels known to be below 256 to bytes.
func encode8(b []byte, s []uint16) {
	for i, v := range s {
		b[i] = byte(v)
	}
}

// encodeLE writes s little-endian, the byte order this package writes.
func encodeLE[T ~int16 | ~uint16](b []byte, s []T) {
	if nativeLittle {
		copy(b, asBytes(s))
		return
	}
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
}
