// Package labels holds class tables: what each value of a label map means
// (name, display name, colour, SNOMED code, anatomical system). It knows
// nothing of voxels or meshes.
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
