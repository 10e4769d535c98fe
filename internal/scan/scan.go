// Package scan opens a person's CT scan whatever form it comes in — a NIfTI
// file (.nii or .nii.gz), a DICOM series as a folder, or a .zip of one —
// recognising the format by content, never by file name. It is the one
// entry point the CLI, the ingest stage and the GPU worker share; the
// formats themselves live in internal/volume and internal/dicom.
package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/volume"
)

// Formats.
const (
	NIfTI = "nifti"
	DICOM = "dicom"
)

// ErrUnknownFormat reports input that is neither NIfTI nor DICOM.
var ErrUnknownFormat = errors.New("not a NIfTI file, a DICOM folder or a zip of a DICOM series")

// Options bound what is read.
type Options struct {
	MaxBytes int64 // decoded bytes; 0 means each reader's default
	KeepDate bool  // DICOM: keep the acquisition date
}

// Scan is an opened CT scan.
type Scan struct {
	CT     *volume.CT
	Format string        // NIfTI or DICOM
	DICOM  *dicom.Result // the series chosen and why; nil for NIfTI
}

// Sniff names the format of a file from its first bytes (at least 348 for
// an uncompressed NIfTI header; 4 suffice for gzip and zip): NIfTI (also
// for any gzip stream, checked when read), DICOM (a zip archive), or "".
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return NIfTI
	case dicom.IsZip(head):
		return DICOM
	case len(head) >= 4 && isNIfTIHeaderSize(head[:4]):
		return NIfTI
	}
	return ""
}

func isNIfTIHeaderSize(b []byte) bool {
	for _, n := range []uint32{binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b)} {
		if n == 348 || n == 540 {
			return true
		}
	}
	return false
}

// ReadFile opens a NIfTI file, a DICOM zip or a DICOM folder.
func ReadFile(ctx context.Context, path string, opt Options) (*Scan, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		res, err := dicom.ReadDir(ctx, path, dicom.Options{MaxBytes: opt.MaxBytes, KeepDate: opt.KeepDate})
		if err != nil {
			return nil, err
		}
		return &Scan{CT: res.CT, Format: DICOM, DICOM: res}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Read(ctx, f, st.Size(), opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Read opens a scan held in r (a file, or bytes.NewReader of an upload).
func Read(ctx context.Context, r io.ReaderAt, size int64, opt Options) (*Scan, error) {
	head := make([]byte, 352)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read: %w", err)
	}
	head = head[:n]
	switch Sniff(head) {
	case NIfTI:
		img, err := volume.Read(io.NewSectionReader(r, 0, size), volume.ReadOptions{MaxBytes: opt.MaxBytes})
		if err != nil {
			return nil, err
		}
		ct, err := img.CT()
		if err != nil {
			return nil, err
		}
		return &Scan{CT: ct, Format: NIfTI}, nil
	case DICOM:
		res, err := dicom.ReadZip(ctx, r, size, dicom.Options{MaxBytes: opt.MaxBytes, KeepDate: opt.KeepDate})
		if err != nil {
			return nil, err
		}
		return &Scan{CT: res.CT, Format: DICOM, DICOM: res}, nil
	}
	if dicom.IsDICOM(head) {
		return nil, fmt.Errorf("%w: a single DICOM file; send the whole series as a folder or a zip", dicom.ErrTooFewSlices)
	}
	return nil, ErrUnknownFormat
}
