package labels

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync"
)

// Table maps label values to classes. Tables are immutable once built, so
// one may be shared between goroutines. The zero value is an empty table:
// Class still answers every value through the fallback.
type Table struct {
	classes []Class        // sorted by value
	byValue map[uint16]int // index into classes
	byName  map[string]int // index into classes; the lowest value wins
}

// newTable builds a table; classes with value 0 are ignored (0 is
// background) and a repeated value keeps its first class.
func newTable(classes []Class) *Table {
	t := &Table{byValue: map[uint16]int{}, byName: map[string]int{}}
	seen := map[uint16]bool{}
	for _, c := range classes {
		if c.Value != 0 && !seen[c.Value] {
			seen[c.Value] = true
			t.classes = append(t.classes, c)
		}
	}
	slices.SortFunc(t.classes, func(a, b Class) int { return cmp.Compare(a.Value, b.Value) })
	for i, c := range t.classes {
		t.byValue[c.Value] = i
		if _, ok := t.byName[c.Name]; !ok {
			t.byName[c.Name] = i
		}
	}
	return t
}

var (
	totalTable = sync.OnceValue(func() *Table {
		classes := totalFacts()
		for i := range classes {
			classes[i].Display = display(classes[i].Name)
			classes[i].System = system(classes[i].Name)
		}
		return newTable(classes)
	})
	nativeTable = sync.OnceValue(func() *Table { return newTable(nativeClasses(TotalSegmentator())) })
)

// TotalSegmentator returns the table of TotalSegmentator v2's "total" task:
// 117 classes with the upstream names, DICOM colours and SNOMED CT type
// codes (laterality, which upstream keeps as a separate modifier, is in the
// name only).
func TotalSegmentator() *Table { return totalTable() }

// Native returns the table of the native CT engine (values 1..7).
func Native() *Table { return nativeTable() }

// nativeClasses borrows lung and airway colours from TotalSegmentator so that
// the same structure looks the same whichever engine found it. SNOMED codes
// are given only where certain; the others are left empty.
func nativeClasses(ts *Table) []Class {
	colour := func(name string) [3]uint8 { c, _ := ts.ByName(name); return c.Color }
	classes := []Class{
		{Value: 1, Name: "body", Color: [3]uint8{226, 185, 160}, SNOMED: "38266002"},      // Entire body as a whole
		{Value: 2, Name: "skeleton", Color: [3]uint8{241, 233, 210}, SNOMED: "272673000"}, // Bone structure
		{Value: 3, Name: "lung_left", Color: colour("lung_upper_lobe_left"), SNOMED: "44029006"},
		{Value: 4, Name: "lung_right", Color: colour("lung_upper_lobe_right"), SNOMED: "3341006"},
		{Value: 5, Name: "airways", Color: colour("trachea")},
		{Value: 6, Name: "subcutaneous_fat", Color: [3]uint8{230, 210, 90}},
		{Value: 7, Name: "skeletal_muscle", Color: [3]uint8{192, 104, 88}},
	}
	for i := range classes {
		classes[i].Display = display(classes[i].Name)
		classes[i].System = system(classes[i].Name)
	}
	return classes
}

// Class returns the class of v. It always answers: 0 is background, and a
// value the table lacks gets Name "label_<v>", Display "Label <v>", System
// "other" and a generated colour (see Lookup to tell the cases apart).
func (t *Table) Class(v uint16) Class {
	if c, ok := t.Lookup(v); ok {
		return c
	}
	if v == 0 {
		return Class{Name: "background", Display: "Background", System: "other"}
	}
	var avoid []Class
	if t != nil {
		avoid = t.classes
	}
	return fallbackClass(v, avoid)
}

// fallbackClass is the class of a value no table defines.
func fallbackClass(v uint16, avoid []Class) Class {
	n := strconv.Itoa(int(v))
	return Class{Value: v, Name: "label_" + n, Display: "Label " + n, Color: fallbackColor(v, avoid), System: "other"}
}

// Lookup returns the class of v and whether the table defines it.
func (t *Table) Lookup(v uint16) (Class, bool) {
	if t == nil {
		return Class{}, false
	}
	i, ok := t.byValue[v]
	if !ok {
		return Class{}, false
	}
	return t.classes[i], true
}

// ByName returns the class with this exact machine name.
func (t *Table) ByName(name string) (Class, bool) {
	if t == nil {
		return Class{}, false
	}
	i, ok := t.byName[name]
	if !ok {
		return Class{}, false
	}
	return t.classes[i], true
}

// Classes returns a copy of the table's classes sorted by value.
func (t *Table) Classes() []Class {
	if t == nil {
		return nil
	}
	return slices.Clone(t.classes)
}

// minColorDistance is the sRGB distance under which two colours count as
// near-duplicates for the fallback.
const minColorDistance = 48

// fallbackColor is deterministic in v: the hue steps by the golden angle so
// that neighbouring values differ strongly. Candidates near one of the
// colours to avoid are passed over, trying other saturations and brightnesses
// before nudging the hue; if all are near, the farthest wins.
func fallbackColor(v uint16, avoid []Class) [3]uint8 {
	const golden = 0.381966011250105 // 1 - 1/φ: the golden angle as a fraction of a turn
	h0 := math.Mod(float64(v)*golden, 1)
	shades := [...][2]float64{{0.7, 0.95}, {0.45, 0.95}, {0.9, 0.75}, {0.5, 0.7}, {0.9, 0.55}, {0.25, 0.9}}
	var best [3]uint8
	bestDist := -1.0
	for _, dh := range [...]float64{0, 0.04, -0.04, 0.08, -0.08, 0.12, -0.12} {
		for _, sv := range shades {
			c := hsv(math.Mod(h0+dh+1, 1), sv[0], sv[1])
			d := nearest(c, avoid)
			if d >= minColorDistance {
				return c
			}
			if d > bestDist {
				best, bestDist = c, d
			}
		}
	}
	return best
}

// nearest is the distance from c to the closest colour of classes.
func nearest(c [3]uint8, classes []Class) float64 {
	d := math.Inf(1)
	for _, o := range classes {
		d = min(d, colorDistance(c, o.Color))
	}
	return d
}

func colorDistance(a, b [3]uint8) float64 {
	var s float64
	for i := range a {
		x := float64(a[i]) - float64(b[i])
		s += x * x
	}
	return math.Sqrt(s)
}

// hsv converts hue, saturation and value in [0,1] to sRGB bytes.
func hsv(h, s, v float64) [3]uint8 {
	h6 := h * 6
	i := math.Floor(h6)
	f := h6 - i
	p, q, r := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var rgb [3]float64
	switch int(i) % 6 {
	case 0:
		rgb = [3]float64{v, r, p}
	case 1:
		rgb = [3]float64{q, v, p}
	case 2:
		rgb = [3]float64{p, v, r}
	case 3:
		rgb = [3]float64{p, q, v}
	case 4:
		rgb = [3]float64{r, p, v}
	default:
		rgb = [3]float64{v, p, q}
	}
	var out [3]uint8
	for i, x := range rgb {
		out[i] = uint8(math.Round(x * 255))
	}
	return out
}
