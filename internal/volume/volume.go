// Package volume holds 3D medical images on a voxel grid: the grid and its
// voxel-to-patient affine, NIfTI-1/2 reading and writing, and (later) DICOM
// series conversion. It knows nothing of labels' meanings, meshes, jobs or AWS.
//
// NIfTI is read and written by hand: the only Go library for it
// (okieraised/gonii) is unmaintained and gets qform wrong.
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
