// Package volume holds 3D medical images on a voxel grid: the grid and its
// voxel-to-patient affine, NIfTI-1/2 reading and writing, and (later) DICOM
// series conversion. It knows nothing of labels' meanings, meshes, jobs or AWS.
//
// Reading takes single-file NIfTI-1 and NIfTI-2 (.nii, or gzipped, told by
// the gzip magic and not the name) in either byte order, with any integer
// or real scalar datatype, and interprets the header as nibabel 5 does:
// the same affine (sform, else qform, else nibabel's pixdim fallback, after
// nibabel's load-time fixes), the same scaling rule, the same extensions.
// It refuses, with an error naming the problem: .hdr/.img pairs, RGB,
// complex and float128 voxels, and malformed or hostile input (bad sizes,
// offsets, dims, or a decoded size past ReadOptions.MaxBytes), never
// allocating or decompressing more than the header, checked first,
// declares. One deliberate difference: a vox_offset of 0 is read as "right
// after the header", where nibabel would read the header itself as voxels.
//
// Writing produces gzipped NIfTI-1 label maps and CT volumes with matching
// sform and qform, as every viewer and nibabel expect.
//
// NIfTI is read and written by hand: the only Go library for it
// (okieraised/gonii) is unmaintained and gets qform wrong. gzip is
// klauspost/compress (faster than compress/gzip), or klauspost/pgzip for
// large files, whose read-ahead overlaps inflating with checksumming.
package volume

// Affine maps voxel indices (i, j, k, 1) to patient coordinates in
// millimetres, RAS+ (+x toward the patient's right, +y anterior, +z
// superior), exactly as nibabel's img.affine.
type Affine [4][4]float64

// Grid is the voxel lattice of a volume: its size and its affine.
type Grid struct {
	Dims   [3]int // voxels along i, j, k
	Affine Affine
}

// Len is the number of voxels. Index(i,j,k) = i + Dims[0]*(j + Dims[1]*k).
func (g Grid) Len() int { return g.Dims[0] * g.Dims[1] * g.Dims[2] }

// Datatype is a NIfTI datatype code.
type Datatype int16

// NIfTI datatype codes.
const (
	Uint8   Datatype = 2
	Int16   Datatype = 4
	Int32   Datatype = 8
	Float32 Datatype = 16
	Float64 Datatype = 64
	Int8    Datatype = 256
	Uint16  Datatype = 512
	Uint32  Datatype = 768
	Int64   Datatype = 1024
	Uint64  Datatype = 1280
)

// Extension is one NIfTI header extension, kept raw.
type Extension struct {
	Code int32
	Data []byte
}

// LabelMap is a multilabel segmentation: one label value per voxel, 0 is
// background. Data is indexed like Grid.Len.
type LabelMap struct {
	Grid
	Data       []uint16
	Extensions []Extension // as read; written back verbatim by WriteLabelMap
}

// CT is a scalar image in Hounsfield units (scaling already applied).
type CT struct {
	Grid
	HU []int16
}
