package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Header is what a NIfTI-1 or NIfTI-2 header says, interpreted the way
// nibabel 5 interprets it when it loads a file.
type Header struct {
	Version int // 1 or 2

	// Grid is the spatial size (dim[1..3], 1 where dim[0] < 3) and the
	// affine nibabel's img.affine returns: the sform when sform_code > 0,
	// else the qform when qform_code > 0, else get_base_affine's
	// diag(-dx, dy, dz) centred on the middle voxel.
	Grid

	Shape      []int // dim[1..dim[0]], like nibabel's img.shape
	TimePoints int   // product of Shape[3:]: 1 for a 3D volume
	Datatype   Datatype

	// Pixdim is the stored pixdim. The affine uses it as nibabel fixes it on
	// load: pixdim[0] other than ±1 counts as 1, pixdim[1..3] by absolute
	// value with 0 counting as 1.
	Pixdim [8]float64

	// Slope and Inter are scl_slope and scl_inter as stored; see Scaling.
	Slope, Inter float64

	// QformCode and SformCode are the xform codes, 0 where the stored code
	// is not one NIfTI defines (0..5), as nibabel resets them.
	QformCode, SformCode int
	Qform, Sform         Affine // meaningful only when their code is > 0

	IntentCode int
	XYZTUnits  int
	Descrip    string

	// ByteOrder is the file's byte order; Image data is always native.
	ByteOrder binary.ByteOrder
	VoxOffset int64 // where the voxels start in the decompressed stream

	// Extensions are the header extensions, kept raw. Like nibabel, trailing
	// NUL bytes (the padding to 16 bytes) are stripped from each one's Data.
	Extensions []Extension
}

// Scaling returns the slope and intercept that turn stored values into real
// ones, with nibabel's rule: a slope of 0 or one that is not finite means no
// scaling (1, 0).
func (h *Header) Scaling() (slope, inter float64) {
	if h.Slope == 0 || math.IsNaN(h.Slope) || math.IsInf(h.Slope, 0) {
		return 1, 0
	}
	return h.Slope, h.Inter
}

// NumVoxels is the number of stored values, the product of Shape.
func (h *Header) NumVoxels() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

const (
	sizeofHdr1 = 348
	sizeofHdr2 = 540

	// maxVoxOffset bounds the header extensions held in memory: real files
	// carry a few kB (a label table, a DICOM header), never megabytes.
	maxVoxOffset = 64 << 20
)

// headerSize tells the header length from its first four bytes, which also
// give the byte order.
func headerSize(first4 []byte) (int, binary.ByteOrder, error) {
	le, be := binary.LittleEndian.Uint32(first4), binary.BigEndian.Uint32(first4)
	switch {
	case le == sizeofHdr1:
		return sizeofHdr1, binary.LittleEndian, nil
	case be == sizeofHdr1:
		return sizeofHdr1, binary.BigEndian, nil
	case le == sizeofHdr2:
		return sizeofHdr2, binary.LittleEndian, nil
	case be == sizeofHdr2:
		return sizeofHdr2, binary.BigEndian, nil
	}
	return 0, nil, fmt.Errorf("not NIfTI: sizeof_hdr is %d (0x%08x), want 348 or 540 in either byte order", int32(le), le)
}

// rawHeader holds the fields of either version in common form.
type rawHeader struct {
	version            int
	order              binary.ByteOrder
	dim                [8]int64
	datatype           int16
	pixdim             [8]float64
	voxOffset          float64
	slope, inter       float64
	qformCode          int32
	sformCode          int32
	quatern            [3]float64
	qoffset            [3]float64
	srow               [3][4]float64
	intentCode         int32
	xyztUnits          int32
	descrip            []byte
	magicOK, pairMagic bool
	eolOK              bool
}

func decodeRaw(b []byte, order binary.ByteOrder) rawHeader {
	h := rawHeader{order: order, eolOK: true}
	f32 := func(off int) float64 { return float64(math.Float32frombits(order.Uint32(b[off:]))) }
	f64 := func(off int) float64 { return math.Float64frombits(order.Uint64(b[off:])) }
	if len(b) == sizeofHdr1 {
		h.version = 1
		for i := range 8 {
			h.dim[i] = int64(int16(order.Uint16(b[40+2*i:])))
			h.pixdim[i] = f32(76 + 4*i)
		}
		h.intentCode = int32(int16(order.Uint16(b[68:])))
		h.datatype = int16(order.Uint16(b[70:]))
		h.voxOffset = f32(108)
		h.slope, h.inter = f32(112), f32(116)
		h.xyztUnits = int32(b[123])
		h.descrip = b[148:228]
		h.qformCode = int32(int16(order.Uint16(b[252:])))
		h.sformCode = int32(int16(order.Uint16(b[254:])))
		for i := range 3 {
			h.quatern[i] = f32(256 + 4*i)
			h.qoffset[i] = f32(268 + 4*i)
			for j := range 4 {
				h.srow[i][j] = f32(280 + 16*i + 4*j)
			}
		}
		magic := b[344:348]
		h.magicOK = bytes.Equal(magic, []byte("n+1\x00"))
		h.pairMagic = bytes.Equal(magic, []byte("ni1\x00"))
		return h
	}
	h.version = 2
	h.datatype = int16(order.Uint16(b[12:]))
	for i := range 8 {
		h.dim[i] = int64(order.Uint64(b[16+8*i:]))
		h.pixdim[i] = f64(104 + 8*i)
	}
	h.voxOffset = float64(int64(order.Uint64(b[168:])))
	h.slope, h.inter = f64(176), f64(184)
	h.descrip = b[240:320]
	h.qformCode = int32(order.Uint32(b[344:]))
	h.sformCode = int32(order.Uint32(b[348:]))
	for i := range 3 {
		h.quatern[i] = f64(352 + 8*i)
		h.qoffset[i] = f64(376 + 8*i)
		for j := range 4 {
			h.srow[i][j] = f64(400 + 32*i + 8*j)
		}
	}
	h.xyztUnits = int32(order.Uint32(b[500:]))
	h.intentCode = int32(order.Uint32(b[504:]))
	magic := b[4:8]
	h.magicOK = bytes.Equal(magic, []byte("n+2\x00"))
	h.pairMagic = bytes.Equal(magic, []byte("ni2\x00"))
	// nibabel refuses an end-of-line check that is neither right nor zero:
	// the file went through a text-mode transfer.
	eol := b[8:12]
	h.eolOK = bytes.Equal(eol, []byte{13, 10, 26, 10}) || bytes.Equal(eol, []byte{0, 0, 0, 0})
	return h
}

// parseHeader validates a raw header (348 or 540 bytes) against the limit
// on decoded voxel bytes and interprets it. It allocates nothing that
// depends on the header's numbers.
func parseHeader(b []byte, order binary.ByteOrder, maxBytes int64) (*Header, error) {
	r := decodeRaw(b, order)
	switch {
	case r.pairMagic:
		return nil, errors.New("detached NIfTI header (.hdr/.img pair) is not supported; convert to a single .nii")
	case !r.magicOK:
		return nil, fmt.Errorf("bad NIfTI-%d magic %q", r.version, magicBytes(b))
	case !r.eolOK:
		return nil, errors.New("bad NIfTI-2 end-of-line check bytes: the file was corrupted by a text-mode transfer")
	}
	h := &Header{
		Version:    r.version,
		Datatype:   Datatype(r.datatype),
		Pixdim:     r.pixdim,
		Slope:      r.slope,
		Inter:      r.inter,
		IntentCode: int(r.intentCode),
		XYZTUnits:  int(r.xyztUnits),
		Descrip:    string(cstring(r.descrip)),
		ByteOrder:  order,
	}
	size := h.Datatype.Size()
	if size == 0 {
		return nil, fmt.Errorf("unsupported datatype %s (code %d): only integer and real scalar voxels are read", h.Datatype, r.datatype)
	}
	if err := h.setShape(r.dim, int64(size), maxBytes); err != nil {
		return nil, err
	}
	if err := h.setVoxOffset(r.voxOffset); err != nil {
		return nil, err
	}
	if s := h.Slope; s != 0 && !math.IsNaN(s) && !math.IsInf(s, 0) && (math.IsNaN(h.Inter) || math.IsInf(h.Inter, 0)) {
		return nil, fmt.Errorf("scl_slope %g is valid but scl_inter %g is not finite", s, h.Inter)
	}
	if err := h.setAffine(&r); err != nil {
		return nil, err
	}
	return h, nil
}

func magicBytes(b []byte) []byte {
	if len(b) == sizeofHdr1 {
		return b[344:348]
	}
	return b[4:12]
}

func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// setShape checks dim[0] and dim[1..dim[0]] and that the decoded voxels fit
// in maxBytes, without overflowing on hostile numbers.
func (h *Header) setShape(dim [8]int64, size, maxBytes int64) error {
	nd := dim[0]
	if nd < 1 || nd > 7 {
		return fmt.Errorf("dim[0] = %d, want 1..7", nd)
	}
	total := size
	h.Shape = make([]int, nd)
	for i := int64(1); i <= nd; i++ {
		d := dim[i]
		if d <= 0 {
			return fmt.Errorf("dim[%d] = %d, want > 0", i, d)
		}
		if d > maxBytes/total {
			return fmt.Errorf("dims %v: decoded voxels exceed the limit of %d bytes (ReadOptions.MaxBytes)", dim[1:nd+1], maxBytes)
		}
		total *= d
		h.Shape[i-1] = int(d)
	}
	h.Dims = [3]int{1, 1, 1}
	copy(h.Dims[:], h.Shape)
	h.TimePoints = 1
	for _, d := range h.Shape[min(3, len(h.Shape)):] {
		h.TimePoints *= d
	}
	return nil
}

func (h *Header) setVoxOffset(v float64) error {
	minOff := int64(sizeofHdr1 + 4)
	if h.Version == 2 {
		minOff = sizeofHdr2 + 4
	}
	switch {
	case math.IsNaN(v) || v < 0 || v > maxVoxOffset:
		return fmt.Errorf("vox_offset %g is absurd (want %d..%d)", v, minOff, maxVoxOffset)
	case v == 0:
		// "Unset": right after the header, as nibabel's writer itself
		// turns 0 into (nibabel's reader would take the header as voxels).
		h.VoxOffset = minOff
	case v < float64(minOff):
		return fmt.Errorf("vox_offset %g is inside the header (want >= %d)", v, minOff)
	default:
		h.VoxOffset = int64(v) // nibabel truncates a fractional offset
	}
	return nil
}

// setAffine picks the affine as nibabel's get_best_affine does, after the
// fixes nibabel's load-time header check applies.
func (h *Header) setAffine(r *rawHeader) error {
	h.QformCode, h.SformCode = xformCode(r.qformCode), xformCode(r.sformCode)
	qfac := 1.0
	if r.pixdim[0] == -1 {
		qfac = -1
	}
	pix := r.pixdim
	for i := 1; i <= 3; i++ {
		switch {
		case pix[i] == 0:
			pix[i] = 1
		case pix[i] < 0:
			pix[i] = -pix[i]
		}
	}
	for i := range 3 {
		h.Sform[i] = r.srow[i]
	}
	h.Sform[3] = [4]float64{0, 0, 0, 1}
	if h.QformCode > 0 {
		eps := float64(0x1p-23) // nibabel: float32 eps for NIfTI-1, float64 for NIfTI-2
		if h.Version == 2 {
			eps = 0x1p-52
		}
		q, err := quaternToMat(r.quatern[0], r.quatern[1], r.quatern[2],
			[3]float64{pix[1], pix[2], pix[3]}, qfac, r.qoffset, eps)
		if err != nil {
			if h.SformCode == 0 {
				return err
			}
			h.QformCode = 0 // unused for the affine; nibabel would not look
		}
		h.Qform = q
	}
	switch {
	case h.SformCode > 0:
		h.Affine = h.Sform
	case h.QformCode > 0:
		h.Affine = h.Qform
	default:
		h.Affine = baseAffine(h.Shape, pix)
	}
	for _, row := range h.Affine {
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("affine %v is not finite", h.Affine)
			}
		}
	}
	return nil
}

func xformCode(c int32) int {
	if c < 0 || c > 5 {
		return 0
	}
	return int(c)
}

// ErrNoGeometry reports a header that does not say how large its voxels
// are. Without an sform (sform_code 0) the voxel size is pixdim[1..3]; it
// is missing when one of them is 0 (nibabel then takes 1 mm, logging
// "pixdim[1,2,3] should be non-zero; setting 0 dims to 1", and so does
// Read), and it is only nibabel's default when both codes are 0 and the
// pixdims are exactly 1, 1, 1 — what nibabel.Nifti1Image(data, None)
// writes. Read accepts either, as a viewer must; anything measured must
// not, or a CT whose voxels are really 3 mm comes out 27 times too small.
// dcm2niix always writes both codes and the pixdims. A header with codes
// 0 and other pixdims (Analyze style) states its spacing and passes; a
// qform does not help a pixdim of 0, since its scale is that pixdim.
var ErrNoGeometry = errors.New("the header states no voxel size")

// CheckGeometry returns ErrNoGeometry (wrapped, saying why) when the voxel
// size the affine uses was invented rather than stored.
func (h *Header) CheckGeometry() error {
	if h.SformCode > 0 {
		return nil
	}
	var bad []string
	ones := 0
	axes := min(3, len(h.Shape))
	for i := 1; i <= axes; i++ {
		p := h.Pixdim[i]
		switch {
		case p == 0 || math.IsNaN(p) || math.IsInf(p, 0):
			bad = append(bad, fmt.Sprintf("pixdim[%d] = %g", i, p))
		case p == 1:
			ones++
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s with sform_code 0 and qform_code %d", ErrNoGeometry, strings.Join(bad, ", "), h.QformCode)
	}
	if h.QformCode == 0 && ones == axes {
		return fmt.Errorf("%w: qform_code and sform_code are 0 and pixdim is 1 along every axis, the defaults of a header written without geometry", ErrNoGeometry)
	}
	return nil
}
