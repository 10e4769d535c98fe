package labels

import (
	"slices"
	"testing"
)

func TestZeroTable(t *testing.T) {
	for name, tab := range map[string]*Table{"zero": {}, "nil": nil} {
		if c := tab.Class(0); c.Name != "background" || c.Value != 0 {
			t.Errorf("%s: Class(0) = %+v, want background", name, c)
		}
		c := tab.Class(42)
		if c.Value != 42 || c.Name != "label_42" || c.Display != "Label 42" || c.System != "other" || c.SNOMED != "" {
			t.Errorf("%s: Class(42) = %+v", name, c)
		}
		if _, ok := tab.Lookup(42); ok {
			t.Errorf("%s: Lookup(42) found a class", name)
		}
		if _, ok := tab.ByName("liver"); ok {
			t.Errorf("%s: ByName found a class", name)
		}
		if n := len(tab.Classes()); n != 0 {
			t.Errorf("%s: %d classes", name, n)
		}
	}
}

func TestLookupByNameClasses(t *testing.T) {
	ts := TotalSegmentator()
	classes := ts.Classes()
	if !slices.IsSortedFunc(classes, func(a, b Class) int { return int(a.Value) - int(b.Value) }) {
		t.Fatal("Classes not sorted by value")
	}
	for _, c := range classes {
		if got, ok := ts.Lookup(c.Value); !ok || got != c {
			t.Errorf("Lookup(%d) = %+v, %v", c.Value, got, ok)
		}
		if got, ok := ts.ByName(c.Name); !ok || got != c {
			t.Errorf("ByName(%q) = %+v, %v", c.Name, got, ok)
		}
		if got := ts.Class(c.Value); got != c {
			t.Errorf("Class(%d) = %+v", c.Value, got)
		}
	}
	for _, v := range []uint16{0, 118, 65535} {
		if _, ok := ts.Lookup(v); ok {
			t.Errorf("Lookup(%d) found a class", v)
		}
	}
	classes[0].Name = "changed"
	if c, _ := ts.Lookup(1); c.Name != "spleen" {
		t.Errorf("Classes returned the table's own slice: class 1 is now %q", c.Name)
	}
}

// Fallback colours are deterministic, differ between neighbouring values and
// keep away from the table's own colours.
func TestFallbackColor(t *testing.T) {
	ts := TotalSegmentator()
	known := ts.Classes()
	var prev [3]uint8
	for v := uint16(118); v < 1200; v++ {
		c := ts.Class(v)
		if c != ts.Class(v) {
			t.Fatalf("Class(%d) not deterministic", v)
		}
		if d := nearest(c.Color, known); d < minColorDistance {
			t.Errorf("Class(%d) colour %v is %.0f from a table colour (want ≥ %d)", v, c.Color, d, minColorDistance)
		}
		if d := colorDistance(c.Color, prev); d < 60 {
			t.Errorf("Class(%d) colour %v is %.0f from Class(%d)'s %v", v, c.Color, d, v-1, prev)
		}
		prev = c.Color
	}
}

func TestFileName(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{Class{Value: 5, Name: "liver"}, "liver"},
		{Class{Value: 31, Name: "vertebrae_L1"}, "vertebrae_l1"},
		{Class{Value: 9, Name: "Liver Tumor (seg #2)"}, "liver_tumor_seg_2"},
		{Class{Value: 9, Name: "  __a..b__ "}, "a_b"},
		{Class{Value: 9, Name: "Lésion"}, "l_sion"},
		{Class{Value: 9, Name: "../../etc/passwd"}, "etc_passwd"},
		{Class{Value: 12, Name: ""}, "label_12"},
		{Class{Value: 12, Name: "äöü"}, "label_12"},
	}
	for _, tt := range tests {
		if got := tt.c.FileName(); got != tt.want {
			t.Errorf("FileName(%q) = %q, want %q", tt.c.Name, got, tt.want)
		}
	}
}

func TestDisplayRules(t *testing.T) {
	tests := []struct{ name, want string }{
		{"liver_tumor", "Liver tumor"},
		{"eye_left", "Left eye"},
		{"optic_nerve_right", "Optic nerve right"},
		{"left", "Left"},
		{"Liver Tumor", "Liver Tumor"},
		{"vertebrae_t12", "Vertebra T12"},
	}
	for _, tt := range tests {
		if got := display(tt.name); got != tt.want {
			t.Errorf("display(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
