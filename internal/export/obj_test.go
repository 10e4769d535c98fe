package export

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// parsedOBJ is what a minimal OBJ reader gets from the file.
type parsedOBJ struct {
	mtllib    string
	positions []float32
	normals   []float32
	groups    []objGroup
}

type objGroup struct {
	object, group, material string
	faces                   [][3][2]int // per corner: vertex, normal (1-based)
}

func parseOBJ(t *testing.T, data []byte) parsedOBJ {
	t.Helper()
	var p parsedOBJ
	sc := bufio.NewScanner(bytes.NewReader(data))
	floats := func(fields []string) []float32 {
		var out []float32
		for _, f := range fields {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil {
				t.Fatalf("obj: %v", err)
			}
			out = append(out, float32(v))
		}
		return out
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		cur := func() *objGroup {
			if len(p.groups) == 0 {
				t.Fatalf("obj: %q before any object", sc.Text())
			}
			return &p.groups[len(p.groups)-1]
		}
		switch f[0] {
		case "mtllib":
			p.mtllib = f[1]
		case "o":
			p.groups = append(p.groups, objGroup{object: f[1]})
		case "g":
			cur().group = f[1]
		case "usemtl":
			cur().material = f[1]
		case "v":
			p.positions = append(p.positions, floats(f[1:])...)
		case "vn":
			p.normals = append(p.normals, floats(f[1:])...)
		case "f":
			if len(f) != 4 {
				t.Fatalf("obj: face %q is not a triangle", sc.Text())
			}
			var face [3][2]int
			for i, c := range f[1:] {
				if _, err := fmt.Sscanf(c, "%d//%d", &face[i][0], &face[i][1]); err != nil {
					t.Fatalf("obj: corner %q: %v", c, err)
				}
			}
			g := cur()
			g.faces = append(g.faces, face)
		default:
			t.Fatalf("obj: unexpected line %q", sc.Text())
		}
	}
	return p
}

func TestWriteOBJ(t *testing.T) {
	surfaces := append(testSurfaces(), surfaceOf(7, &mesh.Mesh{})) // the empty one is left out
	table := labels.TotalSegmentator()
	var obj, mtl bytes.Buffer
	if err := WriteOBJ(&obj, &mtl, "scene.mtl", surfaces, table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(obj.String(), "units: millimetres") {
		t.Error("obj header does not state the units")
	}
	p := parseOBJ(t, obj.Bytes())
	if p.mtllib != "scene.mtl" {
		t.Errorf("mtllib %q, want scene.mtl", p.mtllib)
	}
	if len(p.groups) != 3 {
		t.Fatalf("%d objects, want 3", len(p.groups))
	}
	if len(p.normals) != len(p.positions) {
		t.Fatalf("%d normal values for %d position values", len(p.normals), len(p.positions))
	}
	materials := parseMTL(t, mtl.Bytes())
	base := 0
	for i, s := range surfaces[:3] {
		c := table.Class(s.Label)
		g := p.groups[i]
		name := c.FileName()
		if g.object != name || g.group != name || g.material != name {
			t.Errorf("object %d: o %q g %q usemtl %q, want %q", i, g.object, g.group, g.material, name)
		}
		kd, ok := materials[name]
		for k := range 3 {
			if !ok || kd[k] < float64(c.Color[k])/255-1e-4 || kd[k] > float64(c.Color[k])/255+1e-4 {
				t.Errorf("material %s: Kd %v, want %v/255", name, kd, c.Color)
				break
			}
		}
		if len(g.faces) != s.Mesh.Triangles() {
			t.Fatalf("%s: %d faces, want %d", name, len(g.faces), s.Mesh.Triangles())
		}
		for f, face := range g.faces {
			for k, corner := range face {
				want := base + int(s.Mesh.Indices[3*f+k]) + 1
				if corner[0] != want || corner[1] != want {
					t.Fatalf("%s face %d: corner %v, want %d//%d", name, f, corner, want, want)
				}
			}
		}
		// Positions read back bit for bit.
		got := p.positions[3*base : 3*(base+s.Mesh.Vertices())]
		for k, v := range s.Mesh.Positions {
			if got[k] != v {
				t.Fatalf("%s: position value %d reads back %v, want %v", name, k, got[k], v)
			}
		}
		normals := s.Mesh.Normals
		if normals == nil {
			normals = vertexNormals(s.Mesh)
		}
		for k, v := range normals {
			if d := p.normals[3*base+k] - v; d > 5e-5 || d < -5e-5 {
				t.Fatalf("%s: normal value %d reads back %v, want %v", name, k, p.normals[3*base+k], v)
			}
		}
		base += s.Mesh.Vertices()
	}
}

// parseMTL returns each material's Kd.
func parseMTL(t *testing.T, data []byte) map[string][3]float64 {
	t.Helper()
	out := map[string][3]float64{}
	var cur string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "newmtl":
			cur = f[1]
		case len(f) == 4 && f[0] == "Kd":
			var kd [3]float64
			for i := range 3 {
				v, err := strconv.ParseFloat(f[i+1], 64)
				if err != nil || v < 0 || v > 1 {
					t.Fatalf("mtl: Kd %q", line)
				}
				kd[i] = v
			}
			out[cur] = kd
		}
	}
	return out
}

func TestWriteOBJRejects(t *testing.T) {
	var obj, mtl bytes.Buffer
	if err := WriteOBJ(&obj, &mtl, "my scene.mtl", testSurfaces(), nil); err == nil || !strings.Contains(err.Error(), "spaces") {
		t.Errorf("material library with a space: error %v", err)
	}
}
