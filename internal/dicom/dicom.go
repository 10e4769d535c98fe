package dicom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/iris-oculus/iris/internal/volume"
)

// Errors, each wrapped with the detail of the input that caused it, so
// callers can map them to codes with errors.Is.
var (
	ErrNotDICOM          = errors.New("no DICOM files found")
	ErrNoCTSeries        = errors.New("no usable CT series")
	ErrTooFewSlices      = errors.New("the CT series has only one slice")
	ErrMixedGeometry     = errors.New("slices of the series differ in size or pixel spacing")
	ErrUnsafeZip         = errors.New("unsafe zip archive")
	ErrUnsupportedSyntax = errors.New("unsupported transfer syntax")
	ErrUnsupportedImage  = errors.New("unsupported image type")
	ErrGantryTilt        = errors.New("gantry-tilted series (slices offset within the image plane)")
	ErrIrregularSpacing  = errors.New("slices are not evenly spaced")
	ErrDuplicateSlices   = errors.New("several slices share one position")
	ErrCorrupt           = errors.New("corrupt DICOM pixel data")
	ErrTooLarge          = errors.New("input larger than Options.MaxBytes")
)

// DefaultMaxBytes is the Options.MaxBytes used when it is 0.
const DefaultMaxBytes int64 = 4 << 30

// Options tune reading. The zero value is ready to use.
type Options struct {
	// MaxBytes caps a zip's total uncompressed bytes, a folder's total file
	// size and the volume's size; 0 means DefaultMaxBytes.
	MaxBytes int64
	KeepDate bool // keep AcquisitionDate in Info
	Workers  int  // parallel decoders; 0 means GOMAXPROCS
	// Admit, if set, is called with the chosen series' volume size
	// (columns, rows, slices) from the headers, before the volume is
	// allocated or any pixel decoded; its error ends the read unchanged.
	Admit func(dims [3]int) error
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

func (o Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// Info is the allow-list of header values that survive conversion. Nothing
// else from the DICOM files (no patient, study, institution, operator or
// UID attribute) reaches the Result or the volume; the NIfTI that
// volume.WriteCT writes has an empty descrip.
type Info struct {
	Modality          string
	Manufacturer      string
	ManufacturerModel string
	KVP               string
	SeriesDescription string
	BodyPart          string
	ConvolutionKernel string
	AcquisitionDate   string  // YYYYMMDD, only with Options.KeepDate
	SliceThickness    float64 // mm, as recorded; the grid's spacing comes from positions
	TransferSyntax    string  // UID and name; several are joined by "; "
	Rows, Cols        int
	Slices            int
	PixelSpacing      [2]float64 // mm between rows, between columns
	SliceSpacing      float64    // mm between slice centres, from positions
	Orientation       string     // axis codes of the volume, e.g. "LAS"
}

// SeriesSummary describes one series found in the input.
type SeriesSummary struct {
	Number         int // SeriesNumber, 0 when absent
	Description    string
	Modality       string
	Slices         int // image files kept (localizers excluded)
	Rows, Cols     int
	TransferSyntax string
	Chosen         bool
	Reason         string // why it was chosen, or why not
}

// Result is a converted series and the account of how it was chosen.
type Result struct {
	CT       *volume.CT
	Info     Info
	Chosen   SeriesSummary
	Series   []SeriesSummary // every series found, in input order
	Warnings []string
}

// ReadDir converts the CT series in dir and its subfolders.
func ReadDir(ctx context.Context, dir string, opt Options) (*Result, error) {
	entries, skipped, err := dirEntries(dir, opt.maxBytes())
	if err != nil {
		return nil, err
	}
	res, err := convert(ctx, entries, skipped, opt)
	if err != nil {
		return nil, fmt.Errorf("read DICOM folder %s: %w", dir, err)
	}
	return res, nil
}

// ReadZip converts the CT series in a zip archive of size bytes. Entries
// may sit in folders; the archive is checked for unsafe names, encryption
// and decompression bombs before and while it is read.
func ReadZip(ctx context.Context, r io.ReaderAt, size int64, opt Options) (*Result, error) {
	entries, skipped, err := zipEntries(r, size, opt.maxBytes())
	if err != nil {
		return nil, fmt.Errorf("read DICOM zip: %w", err)
	}
	res, err := convert(ctx, entries, skipped, opt)
	if err != nil {
		return nil, fmt.Errorf("read DICOM zip: %w", err)
	}
	return res, nil
}

// ReadPath converts a folder, or a file that is a zip archive (recognised
// by content, not by name).
func ReadPath(ctx context.Context, path string, opt Options) (*Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return ReadDir(ctx, path, opt)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 132)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case IsZip(head):
		res, err := ReadZip(ctx, f, st.Size(), opt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return res, nil
	case IsDICOM(head):
		return nil, fmt.Errorf("%s: %w: a single DICOM file; give the folder or a zip of the whole series", path, ErrTooFewSlices)
	}
	return nil, fmt.Errorf("%s: %w: neither a folder, a zip archive nor DICOM", path, ErrNotDICOM)
}

// IsZip reports whether head starts like a zip archive (a local file
// header, or the end record of an empty archive).
func IsZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}

// IsDICOM reports whether head (the first 132 bytes or more) looks like
// DICOM: the "DICM" magic after the 128-byte preamble, or, for files
// without a preamble, a first element in group 0002 or 0008 with a plausible
// explicit VR or implicit length.
func IsDICOM(head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	if len(head) < 8 {
		return false
	}
	group := uint16(head[0]) | uint16(head[1])<<8
	if group != 0x0002 && group != 0x0008 {
		return false
	}
	if isVR(head[4], head[5]) {
		return true
	}
	length := uint32(head[4]) | uint32(head[5])<<8 | uint32(head[6])<<16 | uint32(head[7])<<24
	return length < 1<<16
}

func isVR(a, b byte) bool {
	switch string([]byte{a, b}) {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD",
		"OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
		"UL", "UN", "UR", "US", "UT", "UV":
		return true
	}
	return false
}
