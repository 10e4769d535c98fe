package dicom

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	sdicom "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// header is what one file contributes before its pixels are read. It holds
// only the attributes listed in (*header).set: nothing else of the file,
// and in particular no patient, study or institution attribute, is kept.
type header struct {
	entry int // index into the input's entries

	ts                  string
	sopClass, sopUID    string
	seriesUID, frameRef string
	seriesNumber        int
	imageType           []string

	modality, manufacturer, model, kvp string
	description, bodyPart, kernel      string
	acquisitionDate                    string

	ipp      [3]float64
	iop      [6]float64
	spacing  [2]float64 // PixelSpacing: row spacing, column spacing
	hasIPP   bool
	hasIOP   bool
	hasSpace bool

	rows, cols, samples       int
	bitsAllocated, bitsStored int
	pixelRep, frames          int
	slope, intercept          float64
	thickness, gantryTilt     float64
	hasPixels                 bool
}

func (h *header) frame() frameInfo {
	return frameInfo{Rows: h.rows, Cols: h.cols, Samples: h.samples,
		BitsAllocated: h.bitsAllocated, BitsStored: h.bitsStored, PixelRepresentation: h.pixelRep}
}

// set records one top-level element if it is on the allow-list.
func (h *header) set(e *sdicom.Element) {
	switch e.Tag {
	case tag.SOPClassUID:
		h.sopClass = str(e)
	case tag.SOPInstanceUID:
		h.sopUID = str(e)
	case tag.SeriesInstanceUID:
		h.seriesUID = str(e)
	case tag.FrameOfReferenceUID:
		h.frameRef = str(e)
	case tag.SeriesNumber:
		h.seriesNumber, _ = intval(e)
	case tag.ImageType:
		h.imageType = strs(e)
	case tag.Modality:
		h.modality = str(e)
	case tag.Manufacturer:
		h.manufacturer = str(e)
	case tag.ManufacturerModelName:
		h.model = str(e)
	case tag.KVP:
		h.kvp = str(e)
	case tag.SeriesDescription:
		h.description = str(e)
	case tag.BodyPartExamined:
		h.bodyPart = str(e)
	case tag.ConvolutionKernel:
		h.kernel = str(e)
	case tag.AcquisitionDate:
		h.acquisitionDate = str(e)
	case tag.ImagePositionPatient:
		h.hasIPP = copyFloats(h.ipp[:], e)
	case tag.ImageOrientationPatient:
		h.hasIOP = copyFloats(h.iop[:], e)
	case tag.PixelSpacing:
		h.hasSpace = copyFloats(h.spacing[:], e)
	case tag.Rows:
		h.rows, _ = intval(e)
	case tag.Columns:
		h.cols, _ = intval(e)
	case tag.SamplesPerPixel:
		h.samples, _ = intval(e)
	case tag.BitsAllocated:
		h.bitsAllocated, _ = intval(e)
	case tag.BitsStored:
		h.bitsStored, _ = intval(e)
	case tag.PixelRepresentation:
		h.pixelRep, _ = intval(e)
	case tag.NumberOfFrames:
		h.frames, _ = intval(e)
	case tag.RescaleSlope:
		h.slope = floatval(e, 1)
	case tag.RescaleIntercept:
		h.intercept = floatval(e, 0)
	case tag.SliceThickness:
		h.thickness = floatval(e, 0)
	case tag.GantryDetectorTilt:
		h.gantryTilt = floatval(e, 0)
	case tag.PixelData:
		h.hasPixels = true
	}
}

var errNoMeta = errors.New("not a DICOM file")

// parseOpts tolerate the small deviations real archives have.
var parseOpts = []sdicom.ParseOption{
	sdicom.AllowMissingMetaElementGroupLength(),
	sdicom.AllowUnknownSpecificCharacterSet(),
}

// newParser opens a DICOM stream of size bytes (dicomio.LimitReadUntilEOF
// when unknown) and returns the parser and the transfer syntax. Syntaxes
// the parser's dictionary does not know are read as explicit VR little
// endian, which PS3.5 §10 prescribes for every encapsulated syntax.
func newParser(r io.Reader, size int64, opts ...sdicom.ParseOption) (*sdicom.Parser, string, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, _ := br.Peek(132)
	if !IsDICOM(head) {
		return nil, "", errNoMeta
	}
	p, err := sdicom.NewParser(br, size, nil, append(opts, parseOpts...)...)
	if err != nil {
		return nil, "", err
	}
	ts := ""
	meta := p.GetMetadata()
	if e, err := meta.FindElementByTag(tag.TransferSyntaxUID); err == nil {
		ts = str(e)
	}
	if ts != "" {
		if _, _, err := uid.ParseTransferSyntaxUID(ts); err != nil {
			p.SetTransferSyntax(binary.LittleEndian, false)
		}
	}
	return p, ts, nil
}

// readHeader parses a file's attributes up to its pixel data, which it
// skips over. On a parse error it returns what it read with the error.
func readHeader(r io.Reader, size int64) (*header, error) {
	p, ts, err := newParser(r, size, sdicom.SkipPixelData())
	if errors.Is(err, errNoMeta) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	h := &header{ts: ts, samples: 1, slope: 1, frames: 1}
	for {
		e, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, sdicom.ErrorEndOfDICOM) {
				break
			}
			// The attributes read so far still tell which series the
			// damaged file belonged to.
			return h, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		h.set(e)
		if e.Tag == tag.PixelData {
			break
		}
	}
	if h.ts == "" {
		h.ts = tsImplicitLE
	}
	if h.slope == 0 {
		h.slope = 1
	}
	if h.bitsStored == 0 {
		h.bitsStored = h.bitsAllocated
	}
	if h.frames < 1 {
		h.frames = 1
	}
	return h, nil
}

// readPixels parses a whole file and returns the bytes of its single frame:
// native pixel data as stored (inflated if deflated), or the concatenated
// fragments of an encapsulated frame, as the transfer syntax demands.
func readPixels(r io.Reader, size int64) ([]byte, error) {
	p, ts, err := newParser(r, size, sdicom.SkipProcessingPixelDataValue())
	if err != nil {
		return nil, err
	}
	encapsulated := isEncapsulated(ts)
	for {
		e, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, sdicom.ErrorEndOfDICOM) {
				return nil, fmt.Errorf("%w: no pixel data", ErrCorrupt)
			}
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if e.Tag != tag.PixelData {
			continue
		}
		info, ok := e.Value.GetValue().(sdicom.PixelDataInfo)
		if !ok {
			return nil, fmt.Errorf("%w: pixel data of unexpected type", ErrCorrupt)
		}
		switch {
		case info.IntentionallyUnprocessed && !encapsulated:
			return info.UnprocessedValueData, nil
		case info.IsEncapsulated && encapsulated:
			return joinFragments(info), nil
		case encapsulated:
			return nil, fmt.Errorf("%w: native pixel data under the encapsulated syntax %s", ErrCorrupt, syntaxName(ts))
		}
		return nil, fmt.Errorf("%w: encapsulated pixel data under the native syntax %s", ErrCorrupt, syntaxName(ts))
	}
}

// joinFragments concatenates the fragments of a single-frame encapsulated
// pixel data element (the parser lists fragments as frames and has already
// dropped the basic offset table).
func joinFragments(info sdicom.PixelDataInfo) []byte {
	if len(info.Frames) == 1 {
		return info.Frames[0].EncapsulatedData.Data
	}
	n := 0
	for _, f := range info.Frames {
		n += len(f.EncapsulatedData.Data)
	}
	out := make([]byte, 0, n)
	for _, f := range info.Frames {
		out = append(out, f.EncapsulatedData.Data...)
	}
	return out
}

func strs(e *sdicom.Element) []string {
	if e.Value == nil || e.Value.ValueType() != sdicom.Strings {
		return nil
	}
	v := e.Value.GetValue().([]string)
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strings.TrimSpace(strings.TrimRight(s, "\x00"))
	}
	return out
}

func str(e *sdicom.Element) string { return strings.Join(strs(e), `\`) }

func floats(e *sdicom.Element) []float64 {
	if e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []float64:
		return v
	case []int:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case []string:
		var out []float64
		for _, s := range v {
			s = strings.TrimSpace(strings.TrimRight(s, "\x00"))
			if s == "" {
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil
			}
			out = append(out, f)
		}
		return out
	}
	return nil
}

func copyFloats(dst []float64, e *sdicom.Element) bool {
	v := floats(e)
	if len(v) < len(dst) {
		return false
	}
	copy(dst, v)
	return true
}

func floatval(e *sdicom.Element, def float64) float64 {
	if v := floats(e); len(v) > 0 {
		return v[0]
	}
	return def
}

func intval(e *sdicom.Element) (int, bool) {
	v := floats(e)
	if len(v) == 0 {
		return 0, false
	}
	return int(v[0]), true
}
