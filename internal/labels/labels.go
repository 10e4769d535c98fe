// Package labels holds class tables: what each value of a label map means
// (name, display name, colour, SNOMED code, anatomical system). It has the
// TotalSegmentator v2 "total" table (generated from the shared class facts
// and embedded), the native CT engine's table, a fallback for values no table
// knows, and the Caret label table that TotalSegmentator stores in a NIfTI
// header extension. It knows nothing of voxels, NIfTI files or meshes: the
// caller reads and writes the extension bytes.
//
// The Caret XML is read with encoding/xml but written by hand, byte for byte
// as TotalSegmentator writes it, so that our label maps carry the same
// extension as its own.
package labels

// Class describes one label value.
type Class struct {
	Value   uint16
	Name    string   // machine name, e.g. "kidney_left"
	Display string   // human name, e.g. "Left kidney"
	Color   [3]uint8 // sRGB
	SNOMED  string   // SNOMED CT code of the structure, "" if unknown
	System  string   // anatomical group for UIs: "skeleton", "organs", ...
}
