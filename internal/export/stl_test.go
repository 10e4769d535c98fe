package export

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func TestWriteSTL(t *testing.T) {
	for _, s := range testSurfaces() {
		var buf bytes.Buffer
		if err := WriteSTL(&buf, s, "organ_x"); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		header := string(data[:80])
		if strings.HasPrefix(header, "solid") || !strings.Contains(header, "organ=organ_x") || !strings.Contains(header, "units=mm") {
			t.Errorf("header %q: want no leading 'solid', the organ and the units", header)
		}
		n := int(binary.LittleEndian.Uint32(data[80:]))
		if n != s.Mesh.Triangles() || len(data) != 84+50*n {
			t.Fatalf("%d triangles in %d bytes, want %d in %d", n, len(data), s.Mesh.Triangles(), 84+50*s.Mesh.Triangles())
		}
		f32 := func(off int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(data[off:])) }
		for i := range n {
			at := 84 + 50*i
			var v [3][3]float64
			for k := range 3 {
				ix := int(s.Mesh.Indices[3*i+k])
				for a := range 3 {
					got := f32(at + 12 + 12*k + 4*a)
					if got != s.Mesh.Positions[3*ix+a] {
						t.Fatalf("triangle %d corner %d: %v, want %v", i, k, got, s.Mesh.Positions[3*ix+a])
					}
					v[k][a] = float64(got)
				}
			}
			c := unit(cross([3]float64{v[1][0] - v[0][0], v[1][1] - v[0][1], v[1][2] - v[0][2]},
				[3]float64{v[2][0] - v[0][0], v[2][1] - v[0][1], v[2][2] - v[0][2]}))
			nrm := [3]float64{float64(f32(at)), float64(f32(at + 4)), float64(f32(at + 8))}
			if dot(nrm, c) < 0.99999 || math.Abs(dot(nrm, nrm)-1) > 1e-6 {
				t.Fatalf("triangle %d: normal %v, want unit %v along the cross product", i, nrm, c)
			}
			if data[at+48] != 0 || data[at+49] != 0 {
				t.Fatalf("triangle %d: attribute bytes not zero", i)
			}
		}
	}
}
