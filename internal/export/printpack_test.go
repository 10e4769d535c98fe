package export

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// stlClosed reads a binary STL and reports its triangles and whether
// every edge, with vertices matched by exact coordinates, is in exactly
// two triangles that run along it in opposite directions (closed and
// consistently oriented).
func stlClosed(t *testing.T, data []byte) (int, bool) {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(data[80:]))
	if len(data) != 84+50*n {
		t.Fatalf("STL of %d bytes declares %d triangles", len(data), n)
	}
	type v3 [3]float32
	edges := map[[2]v3]int{}
	for i := range n {
		var c [3]v3
		for k := range 3 {
			for a := range 3 {
				c[k][a] = math.Float32frombits(binary.LittleEndian.Uint32(data[84+50*i+12+12*k+4*a:]))
			}
		}
		for k := range 3 {
			edges[[2]v3{c[k], c[(k+1)%3]}]++
		}
	}
	for e, m := range edges {
		if m != 1 || edges[[2]v3{e[1], e[0]}] != 1 {
			return n, false
		}
	}
	return n, true
}

func TestWritePrintPack(t *testing.T) {
	surfaces := testSurfaces()
	open := box([3]float64{0, 0, 0}, [3]float64{30, 20, 10})
	open.Indices = open.Indices[:len(open.Indices)-3] // one face gone
	surfaces = append(surfaces, surfaceOf(2, open), mesh.Surface{Label: 6, Mesh: &mesh.Mesh{}})
	made := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	entries, err := WritePrintPack(&buf, surfaces, labels.TotalSegmentator(), PrintSettings{
		Smooth: 0.5, MaxTriangles: 20000, MinPieceMl: 2, Source: "ct_3mm_seg.nii.gz", Made: made,
		Pieces: map[uint16]mesh.Pieces{1: {Before: 3, Kept: 1, DroppedMl: 1.5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
	}
	want := []string{"Spleen.stl", "Liver.stl", "Left kidney.stl", "Right kidney.stl", PrintReadme}
	if !slices.Equal(names, want) {
		t.Fatalf("zip holds %q, want %q (the empty surface left out)", names, want)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries", len(entries))
	}
	readme := string(files[PrintReadme])
	for i, e := range entries {
		n, closed := stlClosed(t, files[e.File])
		if n != surfaces[i].Mesh.Triangles() || n != e.Triangles {
			t.Errorf("%s: %d triangles in the file, entry says %d, surface has %d", e.File, n, e.Triangles, surfaces[i].Mesh.Triangles())
		}
		if closed != e.Watertight || closed != (e.Label != 2) {
			t.Errorf("%s: closed %v, entry watertight %v", e.File, closed, e.Watertight)
		}
		if !strings.Contains(readme, fmt.Sprintf("%s  ", e.File)) || !strings.Contains(readme, fmt.Sprintf(" %d ", n)) {
			t.Errorf("README has no row for %s with %d triangles:\n%s", e.File, n, readme)
		}
	}
	for _, s := range []string{"Units: millimetres", PatientFrame, "ct_3mm_seg.nii.gz", "2026-12-05T10:00:00Z",
		"smoothing 0.50", "triangle budget 20000", "pieces under 2 mL are dropped", "1 of 3", "NO (", "watertight"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README lacks %q:\n%s", s, readme)
		}
	}
	if _, err := WritePrintPack(io.Discard, []mesh.Surface{{Label: 1, Mesh: &mesh.Mesh{}}}, labels.TotalSegmentator(), PrintSettings{}); err == nil {
		t.Error("a pack without a surface is written")
	}
}

func TestPrintName(t *testing.T) {
	for in, want := range map[string]string{
		"Left kidney":           "Left kidney",
		"Vertebra C1/C2":        "Vertebra C1_C2",
		"../../etc/passwd":      "_.._etc_passwd",
		"Rib 12 (left), ästhet": "Rib 12 (left), _sthet",
		"...":                   "organ",
	} {
		if got := printName(in); got != want {
			t.Errorf("printName(%q) = %q, want %q", in, got, want)
		}
	}
}
