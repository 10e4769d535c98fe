// Package scan opens a person's CT scan whatever form it comes in — a NIfTI
// file (.nii or .nii.gz), a DICOM series as a folder, or a .zip of one —
// recognising the format by content, never by file name; and, when asked,
// tells a NIfTI label map (a segmentation already made) from a CT by its
// content. It does not check that a CT is plausible (internal/segment
// does) nor name the labels (internal/labels). It is the one
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
	"math"
	"os"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/limits"
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
	// MaxGzipRatio, if > 0, caps a gzipped NIfTI's decoded size over its
	// compressed size, checked from the header: a small gzip declaring a
	// large volume (a decompression bomb) is refused before it is inflated,
	// with a *limits.TooLarge.
	MaxGzipRatio int64
	// Admit, if set, is called once the headers say what the voxels need
	// and before any voxel is read or allocated; an error stops the read
	// and is returned as it is. The ingest uses it to check the need
	// against its limits and to reserve the memory.
	Admit func(Need) error
	// Check, if set, is called before Admit, as soon as the headers say
	// what the voxels need (before a NIfTI's length is checked against its
	// header): a cheap limit check that must not wait.
	Check func(Need) error
	// LabelMaps: a NIfTI whose content is a label map (see LabelMapOf) is
	// returned as Scan.Labels, with Kind LabelMap, instead of being read
	// as a CT. Without it every NIfTI is read as a CT.
	LabelMaps bool
}

// Need is what an input's voxels take, from its headers.
type Need struct {
	Dims   [3]int
	Voxels int64 // every voxel (all time points)
	// Stored is the decoded voxel bytes as stored (NIfTI: voxels × the
	// datatype's size; DICOM: the int16 volume the slices are decoded
	// into).
	Stored int64
	// Peak is what the read holds at most: Stored plus, for a NIfTI that is
	// not unscaled int16, the int16 copy in Hounsfield units.
	Peak int64
}

// Scan is an opened CT scan, or (with Options.LabelMaps) a label map.
type Scan struct {
	CT     *volume.CT    // nil for a label map
	Format string        // NIfTI or DICOM
	DICOM  *dicom.Result // the series chosen and why; nil for NIfTI
	// Kind is LabelMap for a label map, "" for a CT.
	Kind   string
	Labels *volume.LabelMap // the label map; nil for a CT
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
		res, err := dicom.ReadDir(ctx, path, dicomOptions(opt))
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
		if err := checkNIfTI(r, size, head, opt); err != nil {
			return nil, err
		}
		img, err := volume.Read(io.NewSectionReader(r, 0, size), volume.ReadOptions{MaxBytes: opt.MaxBytes})
		if err != nil {
			return nil, err
		}
		if opt.LabelMaps {
			if lm, ok := LabelMapOf(img); ok {
				return &Scan{Format: NIfTI, Kind: LabelMap, Labels: lm}, nil
			}
		}
		ct, err := img.CT()
		if err != nil {
			return nil, err
		}
		return &Scan{CT: ct, Format: NIfTI}, nil
	case DICOM:
		res, err := dicom.ReadZip(ctx, r, size, dicomOptions(opt))
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

func dicomOptions(opt Options) dicom.Options {
	o := dicom.Options{MaxBytes: opt.MaxBytes, KeepDate: opt.KeepDate}
	if opt.Admit != nil || opt.Check != nil {
		o.Admit = func(dims [3]int) error {
			v := int64(dims[0]) * int64(dims[1]) * int64(dims[2])
			n := Need{Dims: dims, Voxels: v, Stored: 2 * v, Peak: 2 * v}
			if opt.Check != nil {
				if err := opt.Check(n); err != nil {
					return err
				}
			}
			if opt.Admit != nil {
				return opt.Admit(n)
			}
			return nil
		}
	}
	return o
}

// checkNIfTI reads the header alone and refuses, before any voxel is
// inflated or allocated: a volume without geometry, a gzip that would
// inflate past opt.MaxGzipRatio, an uncompressed file shorter than its
// header says, and whatever opt.Admit refuses.
func checkNIfTI(r io.ReaderAt, size int64, head []byte, opt Options) error {
	h, err := volume.ReadHeader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return err
	}
	if err := h.CheckGeometry(); err != nil {
		return err
	}
	voxels := int64(1)
	for _, d := range h.Shape {
		voxels *= int64(d) // each dim is > 0; the product is checked below
		if voxels > 1<<40 {
			return &limits.TooLarge{What: "the decoded volume", Need: math.MaxInt64, Limit: max(opt.MaxBytes, 0)}
		}
	}
	stored := voxels * int64(h.Datatype.Size())
	gzipped := bytes.HasPrefix(head, []byte{0x1f, 0x8b})
	if gzipped && opt.MaxGzipRatio > 0 && stored > 1<<20 {
		if err := limits.Check(fmt.Sprintf("the volume inflated from the %s gzip (at most %d times its size is accepted)", limits.Bytes(size), opt.MaxGzipRatio),
			h.VoxOffset+stored, size*opt.MaxGzipRatio); err != nil {
			return err
		}
	}
	peak := stored
	if slope, inter := h.Scaling(); h.Datatype != volume.Int16 || slope != 1 || inter != 0 {
		peak += 2 * voxels
	}
	need := Need{Dims: h.Dims, Voxels: voxels, Stored: stored, Peak: peak}
	if opt.Check != nil {
		if err := opt.Check(need); err != nil {
			return err
		}
	}
	if !gzipped && h.VoxOffset+stored > size {
		return fmt.Errorf("read voxels: the header declares %d bytes of voxels from offset %d, the file has %d: %w",
			stored, h.VoxOffset, size, io.ErrUnexpectedEOF)
	}
	if opt.Admit == nil {
		return nil
	}
	return opt.Admit(need)
}
