package labels

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

var sharedSegs = []string{"ct_3mm_seg.nii.gz", "dicom_seg.nii.gz"}

// caretExt returns the one Caret extension of a shared TotalSegmentator
// label map, checking its code.
func caretExt(t *testing.T, file string) []byte {
	t.Helper()
	n := readNIfTI(t, "totalsegmentator-example", file)
	if len(n.exts) != 1 {
		t.Fatalf("%s: %d extensions, want 1", file, len(n.exts))
	}
	e := n.exts[0]
	if e.code != CaretExtensionCode {
		t.Errorf("%s: extension code %d, want CaretExtensionCode %d", file, e.code, CaretExtensionCode)
	}
	if !IsCaret(e.data) {
		t.Errorf("%s: IsCaret = false", file)
	}
	return e.data
}

// TotalSegmentator writes its whole class map, whatever the image holds.
func TestParseCaretShared(t *testing.T) {
	ts := TotalSegmentator()
	for _, file := range sharedSegs {
		names, err := ParseCaret(caretExt(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(names) != 117 {
			t.Errorf("%s: %d labels, want 117", file, len(names))
		}
		for v, name := range names {
			if c, ok := ts.Lookup(v); !ok || c.Name != name {
				t.Errorf("%s: label %d = %q, TotalSegmentator table says %q", file, v, name, c.Name)
			}
		}
	}
}

// Given TotalSegmentator's own names and colours, Caret reproduces the
// extension TotalSegmentator wrote, byte for byte up to NIfTI's NUL padding.
func TestCaretByteIdentical(t *testing.T) {
	label := regexp.MustCompile(`<Label Key="(\d+)" Red="([0-9.]+)" Green="([0-9.]+)" Blue="([0-9.]+)" Alpha="1"><!\[CDATA\[([^\]]*)\]\]></Label>`)
	for _, file := range sharedSegs {
		data := caretExt(t, file)
		var classes []Class
		for _, m := range label.FindAllSubmatch(data, -1) {
			v, _ := strconv.Atoi(string(m[1]))
			var rgb [3]uint8
			for i := range rgb {
				f, _ := strconv.ParseFloat(string(m[2+i]), 64)
				rgb[i] = uint8(math.Round(f * 255))
			}
			classes = append(classes, Class{Value: uint16(v), Name: string(m[5]), Color: rgb})
		}
		if len(classes) != 117 {
			t.Fatalf("%s: found %d labels, want 117", file, len(classes))
		}
		want := bytes.TrimRight(data, "\x00")
		if got := Caret(classes); !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s: Caret differs from TotalSegmentator's at byte %d of %d: got %q, want %q",
				file, i, len(want), got[i:min(i+60, len(got))], want[i:min(i+60, len(want))])
		}
	}
}

// Colours are written as Python's str(c/255).
func TestPyUnitMatchesPython(t *testing.T) {
	out, err := exec.Command(testdata.Python(t), "-c", "print('\\n'.join(str(c/255) for c in range(256)))").Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 256 {
		t.Fatalf("python printed %d lines", len(lines))
	}
	for c, want := range lines {
		if got := pyUnit(uint8(c)); got != want {
			t.Errorf("pyUnit(%d) = %q, Python %q", c, got, want)
		}
	}
}

// TotalSegmentator's load_multilabel_nifti parses the extension with
// xmltodict; run that parse on ours.
func TestCaretReadByTotalSegmentatorLoader(t *testing.T) {
	classes := append(TotalSegmentator().Classes(),
		Class{Value: 200, Name: "odd ]]> <name> & \"quotes\""},
		Class{Value: 201, Name: "Läsion"})
	script := `
import sys, json
try:
    import xmltodict
except ImportError:
    sys.exit("python3-xmltodict missing: apt-get install python3-xmltodict")
ext = xmltodict.parse(sys.stdin.buffer.read())
ext = ext["CaretExtension"]["VolumeInformation"]["LabelTable"]["Label"]
print(json.dumps({int(e["@Key"]): e["#text"] for e in ext}))
`
	cmd := exec.Command(testdata.Python(t), "-c", script)
	cmd.Stdin = bytes.NewReader(Caret(classes))
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python: %v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[uint16]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if len(got) != len(classes) {
		t.Errorf("xmltodict read %d labels, want %d", len(got), len(classes))
	}
	for _, c := range classes {
		if got[c.Value] != c.Name {
			t.Errorf("label %d read as %q, want %q", c.Value, got[c.Value], c.Name)
		}
	}
}

func TestCaretRoundTrip(t *testing.T) {
	classes := append(Native().Classes(),
		Class{Value: 300, Name: "a]]>b"},
		Class{Value: 301, Name: "Liver Tumor"},
		Class{Value: 65535, Name: "läsion <x>"},
		Class{Value: 302, Name: "bell\x07"})
	got, err := ParseCaret(Caret(classes))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(classes) {
		t.Errorf("%d labels, want %d", len(got), len(classes))
	}
	for _, c := range classes {
		want := strings.ReplaceAll(c.Name, "\x07", "") // XML cannot hold control characters
		if got[c.Value] != want {
			t.Errorf("label %d = %q, want %q", c.Value, got[c.Value], want)
		}
	}
}

func TestParseCaretTolerant(t *testing.T) {
	tests := []struct {
		name, xml string
		want      map[uint16]string
	}{
		{"single quotes, attribute order, whitespace",
			"<?xml version='1.0'?>\n<CaretExtension>\n <VolumeInformation Index='0'>\n  <LabelTable>\n" +
				"   <Label Red='1' Key = ' 7 ' Alpha='1'>\n <![CDATA[ liver ]]>\n </Label>\n" +
				"   <Label Alpha=\"1\" Key=\"12\">spleen</Label>\n  </LabelTable>\n </VolumeInformation>\n</CaretExtension>",
			map[uint16]string{7: "liver", 12: "spleen"}},
		{"trailing NULs and spaces",
			`<CaretExtension><VolumeInformation><LabelTable><Label Key="1"><![CDATA[a]]></Label></LabelTable></VolumeInformation></CaretExtension>` + "\n    \x00\x00\x00",
			map[uint16]string{1: "a"}},
		{"empty table",
			`<CaretExtension><VolumeInformation><LabelTable></LabelTable></VolumeInformation></CaretExtension>`,
			map[uint16]string{}},
		{"first volume with a table",
			`<CaretExtension><VolumeInformation Index="0"/><VolumeInformation Index="1"><LabelTable><Label Key="0">???</Label></LabelTable></VolumeInformation></CaretExtension>`,
			map[uint16]string{0: "???"}},
	}
	for _, tt := range tests {
		got, err := ParseCaret([]byte(tt.xml))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: label %d = %q, want %q", tt.name, k, got[k], v)
			}
		}
	}
}

func TestParseCaretErrors(t *testing.T) {
	wrap := func(labels string) string {
		return `<CaretExtension><VolumeInformation><LabelTable>` + labels + `</LabelTable></VolumeInformation></CaretExtension>`
	}
	tests := []struct{ name, xml, wantErr string }{
		{"empty", "", "no data"},
		{"padding only", "\x00\x00 \n", "no data"},
		{"unclosed", `<CaretExtension><VolumeInformation><LabelTable><Label Key="1">a</Label>`, "unexpected EOF"},
		{"mismatched tags", wrap(`<Label Key="1">a</Lable>`), "element <Label> closed by </Lable>"},
		{"wrong root", `<NiftiExtension/>`, "expected element type <CaretExtension>"},
		{"not XML", "\x00\x01binary", "caret extension"},
		{"no label table", `<CaretExtension><VolumeInformation/></CaretExtension>`, "no VolumeInformation with a LabelTable"},
		{"non-numeric key", wrap(`<Label Key="liver">liver</Label>`), `key "liver" is not a label value`},
		{"negative key", wrap(`<Label Key="-1">a</Label>`), `key "-1" is not a label value`},
		{"key too large", wrap(`<Label Key="65536">a</Label>`), `key "65536" is not a label value`},
		{"missing key", wrap(`<Label Red="1">liver</Label>`), `label 1 ("liver") has no Key`},
		{"duplicate key", wrap(`<Label Key="3">a</Label><Label Key="03">b</Label>`), "key 3 appears twice"},
	}
	for _, tt := range tests {
		_, err := ParseCaret([]byte(tt.xml))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestIsCaret(t *testing.T) {
	for data, want := range map[string]bool{
		`<?xml version="1.0"?> <CaretExtension>`: true,
		"<CaretExtension/>":                      true,
		"":                                       false,
		`{"labels": {}}`:                         false,
		"<caretextension>":                       false,
	} {
		if got := IsCaret([]byte(data)); got != want {
			t.Errorf("IsCaret(%q) = %v, want %v", data, got, want)
		}
	}
}
