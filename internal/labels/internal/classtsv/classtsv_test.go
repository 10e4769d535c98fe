package classtsv

import (
	"strings"
	"testing"
)

const head = "label\tname\trgb\tsnomed_type_code\tsnomed_type_meaning\tsnomed_modifier\n"

func TestRead(t *testing.T) {
	rows, err := Read(strings.NewReader(head + "2\tkidney_right\t34,102,136\t64033007\tKidney\tRight\r\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Row{Value: 2, Name: "kidney_right", Color: [3]uint8{34, 102, 136}, SNOMED: "64033007", Meaning: "Kidney", Modifier: "Right"}
	if len(rows) != 1 || rows[0] != want {
		t.Errorf("rows = %+v, want [%+v]", rows, want)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, text, wantErr string }{
		{"empty", "", "empty file"},
		{"header", "label\tname\n1\tspleen\n", "line 1: header"},
		{"no rows", head, "no classes"},
		{"fields", head + "1\tspleen\t1,2,3\t78961009\tSpleen\n", "line 2: 5 fields"},
		{"value", head + "x\tspleen\t1,2,3\t78961009\tSpleen\t\n", `label "x"`},
		{"zero", head + "0\tspleen\t1,2,3\t78961009\tSpleen\t\n", `label "0"`},
		{"name", head + "1\tsp leen\t1,2,3\t78961009\tSpleen\t\n", `name "sp leen"`},
		{"rgb", head + "1\tspleen\t1,2\t78961009\tSpleen\t\n", `rgb "1,2"`},
		{"rgb range", head + "1\tspleen\t1,2,256\t78961009\tSpleen\t\n", `component "256"`},
		{"snomed", head + "1\tspleen\t1,2,3\tSCT:1\tSpleen\t\n", `snomed code "SCT:1"`},
		{"duplicate", head + "1\tspleen\t1,2,3\t1\tSpleen\t\n1\tliver\t1,2,3\t1\tLiver\t\n", "line 3: duplicate"},
	}
	for _, tt := range tests {
		_, err := Read(strings.NewReader(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}
