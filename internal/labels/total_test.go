package labels

import (
	"bytes"
	"os"
	"testing"

	"github.com/iris-oculus/iris/internal/labels/internal/classtsv"
	"github.com/iris-oculus/iris/internal/testdata"
)

var systems = map[string]bool{
	"skeleton": true, "organs": true, "vessels": true, "muscles": true, "lungs": true,
	"heart": true, "digestive": true, "glands": true, "nervous": true, "other": true,
}

func sharedRows(t *testing.T) []classtsv.Row {
	t.Helper()
	rows, err := classtsv.ReadFile(testdata.Path(t, classtsv.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The embedded table must equal the shared facts: drift fails here.
func TestTotalSegmentatorMatchesTSV(t *testing.T) {
	rows := sharedRows(t)
	classes := TotalSegmentator().Classes()
	if len(rows) != 117 || len(classes) != len(rows) {
		t.Fatalf("TSV has %d classes, table %d; want 117 both", len(rows), len(classes))
	}
	for i, r := range rows {
		c := classes[i]
		if c.Value != r.Value || c.Name != r.Name || c.Color != r.Color || c.SNOMED != r.SNOMED {
			t.Errorf("class %d = {%d %q %v %q}, TSV {%d %q %v %q}",
				i, c.Value, c.Name, c.Color, c.SNOMED, r.Value, r.Name, r.Color, r.SNOMED)
		}
	}
}

// total_table.go must be what the generator makes of today's TSV.
func TestGeneratedTableUpToDate(t *testing.T) {
	want, err := classtsv.Source(sharedRows(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("total_table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("total_table.go is stale: run go generate ./internal/labels")
	}
}

func TestTotalSegmentatorDisplayAndSystem(t *testing.T) {
	tests := []struct{ name, display, system string }{
		{"kidney_left", "Left kidney", "organs"},
		{"kidney_cyst_right", "Kidney cyst right", "organs"},
		{"liver", "Liver", "organs"},
		{"urinary_bladder", "Urinary bladder", "organs"},
		{"vertebrae_L1", "Vertebra L1", "skeleton"},
		{"vertebrae_S1", "Vertebra S1", "skeleton"},
		{"rib_left_3", "Rib left 3", "skeleton"},
		{"rib_right_12", "Rib right 12", "skeleton"},
		{"femur_right", "Right femur", "skeleton"},
		{"clavicula_left", "Left clavicle", "skeleton"},
		{"costal_cartilages", "Costal cartilages", "skeleton"},
		{"sacrum", "Sacrum", "skeleton"},
		{"inferior_vena_cava", "Inferior vena cava", "vessels"},
		{"iliac_vena_left", "Iliac vein left", "vessels"},
		{"brachiocephalic_trunk", "Brachiocephalic trunk", "vessels"},
		{"common_carotid_artery_right", "Common carotid artery right", "vessels"},
		{"portal_vein_and_splenic_vein", "Portal and splenic vein", "vessels"},
		{"pulmonary_vein", "Pulmonary vein", "vessels"},
		{"heart", "Heart", "heart"},
		{"atrial_appendage_left", "Left atrial appendage", "heart"},
		{"gluteus_maximus_left", "Gluteus maximus left", "muscles"},
		{"iliopsoas_right", "Right iliopsoas", "muscles"},
		{"autochthon_left", "Left autochthonous back muscles", "muscles"},
		{"lung_middle_lobe_right", "Right lung middle lobe", "lungs"},
		{"trachea", "Trachea", "lungs"},
		{"esophagus", "Esophagus", "digestive"},
		{"small_bowel", "Small bowel", "digestive"},
		{"thyroid_gland", "Thyroid gland", "glands"},
		{"adrenal_gland_right", "Adrenal gland right", "glands"},
		{"brain", "Brain", "nervous"},
		{"spinal_cord", "Spinal cord", "nervous"},
	}
	ts := TotalSegmentator()
	for _, tt := range tests {
		c, ok := ts.ByName(tt.name)
		if !ok {
			t.Errorf("%s: not in the table", tt.name)
			continue
		}
		if c.Display != tt.display || c.System != tt.system {
			t.Errorf("%s: display %q system %q, want %q %q", tt.name, c.Display, c.System, tt.display, tt.system)
		}
	}
}

// Every class is grouped (none falls through to "other") and every display
// name is distinct, so a UI list never shows two identical entries.
func TestTotalSegmentatorGroupedAndDistinct(t *testing.T) {
	displays := map[string]string{}
	for _, c := range TotalSegmentator().Classes() {
		if !systems[c.System] || c.System == "other" {
			t.Errorf("%s: system %q", c.Name, c.System)
		}
		if prev, dup := displays[c.Display]; dup {
			t.Errorf("%s and %s share the display name %q", prev, c.Name, c.Display)
		}
		displays[c.Display] = c.Name
		if c.FileName() == "" {
			t.Errorf("%s: empty file name", c.Name)
		}
	}
}

func TestNative(t *testing.T) {
	ts := TotalSegmentator()
	color := func(name string) [3]uint8 { c, _ := ts.ByName(name); return c.Color }
	want := []Class{
		{1, "body", "Body", [3]uint8{226, 185, 160}, "38266002", "other"},
		{2, "skeleton", "Skeleton", [3]uint8{241, 233, 210}, "272673000", "skeleton"},
		{3, "lung_left", "Left lung", color("lung_upper_lobe_left"), "44029006", "lungs"},
		{4, "lung_right", "Right lung", color("lung_upper_lobe_right"), "3341006", "lungs"},
		{5, "airways", "Airways", color("trachea"), "", "lungs"},
		{6, "subcutaneous_fat", "Subcutaneous fat", [3]uint8{230, 210, 90}, "", "other"},
		{7, "skeletal_muscle", "Skeletal muscle", [3]uint8{192, 104, 88}, "", "muscles"},
	}
	got := Native().Classes()
	if len(got) != len(want) {
		t.Fatalf("%d classes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("class %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if (want[2].Color == [3]uint8{}) || (want[4].Color == [3]uint8{}) {
		t.Error("lung or airway colour not borrowed from TotalSegmentator")
	}
}
