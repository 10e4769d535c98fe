package volume

import "fmt"

// Size is the number of bytes of one voxel, or 0 for a datatype this
// package does not read (RGB, complex, float128, unknown codes).
func (d Datatype) Size() int {
	switch d {
	case Uint8, Int8:
		return 1
	case Int16, Uint16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

// Integer reports whether d is one of the integer datatypes.
func (d Datatype) Integer() bool {
	switch d {
	case Uint8, Int8, Int16, Uint16, Int32, Uint32, Int64, Uint64:
		return true
	}
	return false
}

// String is the name nibabel gives the datatype ("int16", "RGB", ...).
func (d Datatype) String() string {
	switch d {
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Int16:
		return "int16"
	case Uint16:
		return "uint16"
	case Int32:
		return "int32"
	case Uint32:
		return "uint32"
	case Int64:
		return "int64"
	case Uint64:
		return "uint64"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case 0:
		return "none"
	case 1:
		return "binary"
	case 32:
		return "complex64"
	case 128:
		return "RGB"
	case 1536:
		return "float128"
	case 1792:
		return "complex128"
	case 2048:
		return "complex256"
	case 2304:
		return "RGBA"
	}
	return fmt.Sprintf("Datatype(%d)", int16(d))
}
