package mesh

import (
	"math"
	"strings"
	"testing"
)

// cube returns the closed unit cube [0,s]³ as 12 outward triangles.
func cube(s float32) *Mesh {
	m := &Mesh{}
	for c := range 8 {
		m.Positions = append(m.Positions, s*float32(c&1), s*float32(c>>1&1), s*float32(c>>2&1))
	}
	// Two triangles per face, counter-clockwise seen from outside.
	m.Indices = []uint32{
		0, 2, 3, 0, 3, 1, // z = 0
		4, 5, 7, 4, 7, 6, // z = s
		0, 1, 5, 0, 5, 4, // y = 0
		2, 6, 7, 2, 7, 3, // y = s
		0, 4, 6, 0, 6, 2, // x = 0
		1, 3, 7, 1, 7, 5, // x = s
	}
	return m
}

func TestMeasurements(t *testing.T) {
	m := cube(2)
	if err := m.Check(); err != nil {
		t.Fatalf("cube: %v", err)
	}
	if v := m.Volume(); math.Abs(v-8) > 1e-9 {
		t.Errorf("Volume = %v, want 8", v)
	}
	if a := m.Area(); math.Abs(a-24) > 1e-9 {
		t.Errorf("Area = %v, want 24", a)
	}
	// Far from the origin, float32 positions still give the volume.
	far := cube(2)
	for i := range far.Positions {
		far.Positions[i] += 1000
	}
	if v := far.Volume(); math.Abs(v-8) > 1e-6 {
		t.Errorf("Volume far from the origin = %v, want 8", v)
	}
	// Reversed winding: negative volume.
	inv := cube(2)
	for i := 0; i < len(inv.Indices); i += 3 {
		inv.Indices[i+1], inv.Indices[i+2] = inv.Indices[i+2], inv.Indices[i+1]
	}
	if v := inv.Volume(); math.Abs(v+8) > 1e-9 {
		t.Errorf("inside-out Volume = %v, want -8", v)
	}

	m.ComputeNormals()
	for v := range m.Vertices() {
		n := [3]float64{float64(m.Normals[3*v]), float64(m.Normals[3*v+1]), float64(m.Normals[3*v+2])}
		p := m.pos(uint32(v))
		out := sub3(p, [3]float64{1, 1, 1}) // from the centre to the corner
		if l := math.Sqrt(norm2(n)); math.Abs(l-1) > 1e-6 {
			t.Errorf("vertex %d: normal length %v", v, l)
		}
		if dot3(n, out) <= 0 {
			t.Errorf("vertex %d at %v: normal %v points inward", v, p, n)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Mesh)
		want string // in the error; "" = valid
	}{
		{"valid", func(m *Mesh) {}, ""},
		{"unused vertex allowed", func(m *Mesh) { m.Positions = append(m.Positions, 9, 9, 9) }, ""},
		{"open", func(m *Mesh) { m.Indices = m.Indices[3:] }, "no triangle on its other side"},
		{"flipped triangle", func(m *Mesh) { m.Indices[1], m.Indices[2] = m.Indices[2], m.Indices[1] }, "inconsistent orientation"},
		{"repeated vertex", func(m *Mesh) { m.Indices[1] = m.Indices[0] }, "repeats a vertex"},
		{"index out of range", func(m *Mesh) { m.Indices[4] = 99 }, "indexes past"},
		{"NaN", func(m *Mesh) { m.Positions[4] = float32(math.NaN()) }, "non-finite coordinate"},
		{"NaN normal", func(m *Mesh) {
			m.ComputeNormals()
			m.Normals[0] = float32(math.Inf(1))
		}, "non-finite normal"},
		{"normals length", func(m *Mesh) { m.Normals = make([]float32, 3) }, "normal values"},
		{"degenerate", func(m *Mesh) {
			// Vertex 3 onto the segment 0–2: triangle (0,2,3) has no area.
			copy(m.Positions[9:12], []float32{0, 1, 0})
		}, "degenerate"},
		{"no triangles", func(m *Mesh) { m.Indices = nil }, "no triangles"},
		{"ragged indices", func(m *Mesh) { m.Indices = m.Indices[:5] }, "not a multiple of 3"},
		{"ragged positions", func(m *Mesh) { m.Positions = m.Positions[:23] }, "not a multiple of 3"},
		{"edge in four triangles", func(m *Mesh) {
			// A second cube sharing the edge 3–7 of the first, inside out
			// along it: four triangles meet at that edge.
			second := cube(2)
			off := uint32(m.Vertices())
			for i := range 8 {
				second.Positions[3*i] += 2
				second.Positions[3*i+1] += 2
			}
			m.Positions = append(m.Positions, second.Positions...)
			for _, v := range second.Indices {
				if v == 0 { // second's corner 0 is first's corner 3
					m.Indices = append(m.Indices, 3)
				} else if v == 4 { // and 4 is 7
					m.Indices = append(m.Indices, 7)
				} else {
					m.Indices = append(m.Indices, v+off)
				}
			}
		}, "more than one triangle"},
		{"pinched vertex", func(m *Mesh) {
			// A second cube touching the first only at corner 7.
			second := cube(2)
			off := uint32(m.Vertices())
			for i := range 8 {
				for k := range 3 {
					second.Positions[3*i+k] += 2
				}
			}
			m.Positions = append(m.Positions, second.Positions...)
			for _, v := range second.Indices {
				if v == 0 {
					m.Indices = append(m.Indices, 7)
				} else {
					m.Indices = append(m.Indices, v+off)
				}
			}
		}, "single fan"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := cube(2)
			tc.edit(m)
			err := m.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	var nilMesh *Mesh
	if nilMesh.Check() == nil {
		t.Error("nil mesh passes Check")
	}
}
