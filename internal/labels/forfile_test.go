package labels

import (
	"testing"
)

// On TotalSegmentator's own output, ForFile keeps the present labels with
// the file's names and our colours.
func TestForFileShared(t *testing.T) {
	ts := TotalSegmentator()
	for file, present := range map[string]int{"ct_3mm_seg.nii.gz": 41, "dicom_seg.nii.gz": 31} {
		n := readNIfTI(t, "totalsegmentator-example", file)
		if len(n.exts) != 1 {
			t.Fatalf("%s: %d extensions", file, len(n.exts))
		}
		names, err := ParseCaret(n.exts[0].data)
		if err != nil {
			t.Fatal(err)
		}
		classes := ForFile(names, n.values).Classes()
		if len(n.values) != present || len(classes) != present {
			t.Errorf("%s: %d values present, %d classes; the data README says %d labels", file, len(n.values), len(classes), present)
		}
		for i, c := range classes {
			want, _ := ts.ByName(names[c.Value])
			want.Value = c.Value
			if c.Value != n.values[i] || c.Name != names[c.Value] || c != want {
				t.Errorf("%s: class %+v, want %+v", file, c, want)
			}
		}
	}
}

func TestForFile(t *testing.T) {
	fileNames := map[uint16]string{
		0:   "background",
		1:   "liver",       // renumbered TotalSegmentator class
		2:   " lung_left ", // native class, padded
		3:   "tumour",      // unknown name
		5:   "Liver Tumor!",
		6:   "",         // named empty: falls back to TotalSegmentator's value 6
		999: "not_here", // named but absent from the map
	}
	values := []uint16{0, 3, 1, 2, 3, 4, 5, 6, 300, 1}
	tab := ForFile(fileNames, values)
	ts, native := TotalSegmentator(), Native()

	byValue := func(v uint16) Class {
		c, ok := tab.Lookup(v)
		if !ok {
			t.Fatalf("value %d missing", v)
		}
		return c
	}
	if got := len(tab.Classes()); got != 7 {
		t.Errorf("%d classes, want 7 (values 1..6 and 300)", got)
	}
	if _, ok := tab.Lookup(0); ok {
		t.Error("background became a class")
	}
	if _, ok := tab.Lookup(999); ok {
		t.Error("a value absent from the map became a class")
	}

	liver, _ := ts.ByName("liver")
	liver.Value = 1
	if c := byValue(1); c != liver {
		t.Errorf("value 1 = %+v, want TotalSegmentator's liver as value 1 %+v", c, liver)
	}
	lung, _ := native.ByName("lung_left")
	lung.Value = 2
	if c := byValue(2); c != lung {
		t.Errorf("value 2 = %+v, want native lung_left %+v", c, lung)
	}
	for v, want := range map[uint16]string{4: "kidney_left", 6: "stomach"} {
		c, _ := ts.Lookup(v)
		if got := byValue(v); got != c {
			t.Errorf("value %d = %+v, want TotalSegmentator's %s", v, got, want)
		}
	}

	known := []Class{byValue(1), byValue(2), byValue(4), byValue(6)}
	for v, want := range map[uint16]struct{ name, display, file string }{
		3:   {"tumour", "Tumour", "tumour"},
		5:   {"Liver Tumor!", "Liver Tumor!", "liver_tumor"},
		300: {"label_300", "Label 300", "label_300"},
	} {
		c := byValue(v)
		if c.Name != want.name || c.Display != want.display || c.FileName() != want.file || c.System != "other" || c.SNOMED != "" {
			t.Errorf("value %d = %+v, want name %q display %q file %q system other", v, c, want.name, want.display, want.file)
		}
		if d := nearest(c.Color, known); d < minColorDistance {
			t.Errorf("value %d colour %v is %.0f from a known class's colour", v, c.Color, d)
		}
	}
	if a, b := byValue(3).Color, byValue(5).Color; a == b {
		t.Errorf("unknown values 3 and 5 share colour %v", a)
	}

	again := ForFile(fileNames, []uint16{300, 6, 5, 4, 3, 2, 1})
	for _, c := range tab.Classes() {
		if d, _ := again.Lookup(c.Value); d != c {
			t.Errorf("ForFile not deterministic: value %d %+v then %+v", c.Value, c, d)
		}
	}
}

func TestForFileNoNames(t *testing.T) {
	tab := ForFile(nil, []uint16{5, 51, 118})
	ts := TotalSegmentator()
	for _, v := range []uint16{5, 51} {
		want, _ := ts.Lookup(v)
		if got, _ := tab.Lookup(v); got != want {
			t.Errorf("value %d = %+v, want %+v", v, got, want)
		}
	}
	if c, _ := tab.Lookup(118); c.Name != "label_118" {
		t.Errorf("value 118 = %+v, want label_118", c)
	}
	if n := len(ForFile(nil, nil).Classes()); n != 0 {
		t.Errorf("ForFile(nil, nil) has %d classes", n)
	}
}
