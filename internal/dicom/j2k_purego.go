//go:build !openjpeg || !cgo

package dicom

// j2kDecoder is the pure-Go decoder in builds without -tags openjpeg or
// without cgo (the static iris binary, the Lambda zips).
type j2kDecoder = goJ2KDecoder

// JPEG2000Decoder names the JPEG 2000 decoder compiled into this build.
func JPEG2000Decoder() string {
	return "pure Go (github.com/cocosip/go-dicom-codec)"
}
