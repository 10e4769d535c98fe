//go:build openjpeg && cgo

package dicom

import (
	"errors"
	"testing"
)

// TestOpenJPEGOwnGuards: without checkJ2K in front, OpenJPEG itself (strict
// mode, and the C glue's checks of the parsed header against the DICOM
// frame) refuses every hostile codestream, and writes nothing past the
// frame.
func TestOpenJPEGOwnGuards(t *testing.T) {
	_, f, cases := hostileJ2K(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]int32, f.len()+64)
			for i := range dst {
				dst[i] = -7
			}
			err := openJPEGDecoder{}.decodeUnchecked(c.src, f, dst[:f.len()])
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			for i, v := range dst[f.len():] {
				if v != -7 {
					t.Fatalf("sample %d past the frame written", i)
				}
			}
		})
	}
}
