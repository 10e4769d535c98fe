package labels

import (
	"slices"
	"strings"
)

// ForFile returns the table for one label map. values are the label values
// present in the map (order and repeats do not matter; 0 is background and
// ignored); fileNames is the file's own label table, as ParseCaret returns
// it, or nil.
//
// Each value is named by the file when the file names it, else by
// TotalSegmentator's table. Display name, colour, SNOMED code and system are
// then looked up by that name, in TotalSegmentator's table and then in the
// native one, so a file that numbers its classes differently still gets the
// right colours. A name neither table knows is kept, with a display name
// derived from it, system "other" and a generated colour apart from the
// table's others; a value nobody names gets the fallback class (see
// Table.Class).
func ForFile(fileNames map[uint16]string, values []uint16) *Table {
	vs := slices.Compact(slices.Sorted(slices.Values(values)))
	ts, native := TotalSegmentator(), Native()
	classes := make([]Class, 0, len(vs))
	var unknown []Class
	for _, v := range vs {
		if v == 0 {
			continue
		}
		name := strings.TrimSpace(fileNames[v])
		if name == "" {
			if c, ok := ts.Lookup(v); ok {
				name = c.Name
			}
		}
		c, ok := ts.ByName(name)
		if !ok {
			c, ok = native.ByName(name)
		}
		switch {
		case ok:
			c.Value = v
			classes = append(classes, c)
		case name == "":
			unknown = append(unknown, Class{Value: v})
		default:
			unknown = append(unknown, Class{Value: v, Name: name, Display: display(name), System: "other"})
		}
	}
	// Colours for the unknown come last so that they can avoid all the known.
	for _, c := range unknown {
		if c.Name == "" {
			c = fallbackClass(c.Value, classes)
		} else {
			c.Color = fallbackColor(c.Value, classes)
		}
		classes = append(classes, c)
	}
	return newTable(classes)
}
