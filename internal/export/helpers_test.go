package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"testing"

	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/volume"
	"github.com/iris-oculus/iris/tools"
)

// icosphere is a closed unit-normal sphere: an icosahedron subdivided n
// times (20·4ⁿ triangles), counter-clockwise seen from outside.
func icosphere(center [3]float64, radius float64, n int) *mesh.Mesh {
	t := (1 + math.Sqrt(5)) / 2
	verts := [][3]float64{
		{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0},
		{0, -1, t}, {0, 1, t}, {0, -1, -t}, {0, 1, -t},
		{t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1},
	}
	for i := range verts {
		verts[i] = unit(verts[i])
	}
	faces := [][3]uint32{
		{0, 11, 5}, {0, 5, 1}, {0, 1, 7}, {0, 7, 10}, {0, 10, 11},
		{1, 5, 9}, {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
		{3, 9, 4}, {3, 4, 2}, {3, 2, 6}, {3, 6, 8}, {3, 8, 9},
		{4, 9, 5}, {2, 4, 11}, {6, 2, 10}, {8, 6, 7}, {9, 8, 1},
	}
	for range n {
		mid := map[[2]uint32]uint32{}
		midpoint := func(a, b uint32) uint32 {
			k := [2]uint32{min(a, b), max(a, b)}
			if i, ok := mid[k]; ok {
				return i
			}
			p, q := verts[a], verts[b]
			verts = append(verts, unit([3]float64{p[0] + q[0], p[1] + q[1], p[2] + q[2]}))
			mid[k] = uint32(len(verts) - 1)
			return mid[k]
		}
		next := make([][3]uint32, 0, 4*len(faces))
		for _, f := range faces {
			a, b, c := midpoint(f[0], f[1]), midpoint(f[1], f[2]), midpoint(f[2], f[0])
			next = append(next, [3]uint32{f[0], a, c}, [3]uint32{f[1], b, a}, [3]uint32{f[2], c, b}, [3]uint32{a, b, c})
		}
		faces = next
	}
	m := &mesh.Mesh{}
	for _, v := range verts {
		for a := range 3 {
			m.Positions = append(m.Positions, float32(center[a]+radius*v[a]))
			m.Normals = append(m.Normals, float32(v[a]))
		}
	}
	for _, f := range faces {
		m.Indices = append(m.Indices, f[0], f[1], f[2])
	}
	return m
}

// box is an axis-aligned box with flat faces (4 vertices per face, face
// normals), counter-clockwise seen from outside. Its volume is the product
// of its extents.
func box(lo, hi [3]float64) *mesh.Mesh {
	m := &mesh.Mesh{}
	// Each face: normal axis a and sign; corners walk CCW seen along +normal.
	for a := range 3 {
		for _, sign := range []float64{-1, 1} {
			u, v := (a+1)%3, (a+2)%3
			if sign < 0 {
				u, v = v, u
			}
			base := uint32(m.Vertices())
			for _, c := range [4][2]int{{0, 0}, {1, 0}, {1, 1}, {0, 1}} {
				var p [3]float64
				p[a] = lo[a]
				if sign > 0 {
					p[a] = hi[a]
				}
				p[u] = [2]float64{lo[u], hi[u]}[c[0]]
				p[v] = [2]float64{lo[v], hi[v]}[c[1]]
				var n [3]float64
				n[a] = sign
				for k := range 3 {
					m.Positions = append(m.Positions, float32(p[k]))
					m.Normals = append(m.Normals, float32(n[k]))
				}
			}
			m.Indices = append(m.Indices, base, base+1, base+2, base, base+2, base+3)
		}
	}
	return m
}

// signedVolume is the volume enclosed by a closed mesh, positive when its
// triangles wind counter-clockwise seen from outside.
func signedVolume(pos []float64, idx []uint32) float64 {
	var v float64
	for t := 0; t < len(idx); t += 3 {
		a, b, c := pos[3*idx[t]:3*idx[t]+3], pos[3*idx[t+1]:3*idx[t+1]+3], pos[3*idx[t+2]:3*idx[t+2]+3]
		v += dot([3]float64{a[0], a[1], a[2]}, cross([3]float64{b[0], b[1], b[2]}, [3]float64{c[0], c[1], c[2]}))
	}
	return v / 6
}

func float64s(p []float32) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = float64(v)
	}
	return out
}

// surfaceOf wraps a mesh with statistics computed from it, as package mesh
// would report them.
func surfaceOf(label uint16, m *mesh.Mesh) mesh.Surface {
	s := mesh.Surface{Label: label, Mesh: m}
	s.MeshVolume = signedVolume(float64s(m.Positions), m.Indices)
	s.VoxelVolume = s.MeshVolume * 1.02
	s.VoxelCount = int(s.VoxelVolume / 27)
	for t := 0; t < len(m.Indices); t += 3 {
		a, b, c := 3*int(m.Indices[t]), 3*int(m.Indices[t+1]), 3*int(m.Indices[t+2])
		n := cross(sub(m.Positions, b, a), sub(m.Positions, c, a))
		s.SurfaceArea += math.Sqrt(dot(n, n)) / 2
	}
	s.BBoxMin = [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	s.BBoxMax = [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i, v := range m.Positions {
		s.BBoxMin[i%3] = min(s.BBoxMin[i%3], float64(v))
		s.BBoxMax[i%3] = max(s.BBoxMax[i%3], float64(v))
	}
	if len(m.Positions) == 0 {
		s.BBoxMin, s.BBoxMax = [3]float64{}, [3]float64{}
	}
	return s
}

// testSurfaces is a small scene of TotalSegmentator labels: spleen (1) as
// a sphere, liver (5) as a 500 mm box far from the origin (the largest
// extent the quantization must hold to 0.1 mm), kidney_left (3) as a sphere
// without normals, on the patient's left, superior and anterior.
func testSurfaces() []mesh.Surface {
	kidney := icosphere([3]float64{80, 40, 60}, 30, 3)
	kidney.Normals = nil
	return []mesh.Surface{
		surfaceOf(1, icosphere([3]float64{-60, 10, -700}, 55, 4)),
		surfaceOf(5, box([3]float64{-450, -120, -1300}, [3]float64{50, 180, -1000})),
		surfaceOf(3, kidney),
	}
}

// testLabelMap is a small LAS label map at 3 mm holding the labels given.
func testLabelMap(values ...uint16) *volume.LabelMap {
	lm := &volume.LabelMap{Grid: volume.Grid{
		Dims: [3]int{8, 6, 5},
		Affine: volume.Affine{
			{-3, 0, 0, 120},
			{0, 3, 0, -80},
			{0, 0, 3, -900},
			{0, 0, 0, 1},
		},
	}}
	lm.Data = make([]uint16, lm.Len())
	for i, v := range values {
		lm.Data[7*i+3] = v
	}
	return lm
}

// validatorSummary is what tools/gltf/validate.mjs prints.
type validatorSummary struct {
	Validator string `json:"validator"`
	MimeType  string `json:"mimeType"`
	Errors    int    `json:"errors"`
	Warnings  int    `json:"warnings"`
	Infos     int    `json:"infos"`
	Hints     int    `json:"hints"`
	Messages  []struct {
		Code, Severity, Message, Pointer string
	} `json:"messages"`
	Info struct {
		DrawCallCount      int `json:"drawCallCount"`
		TotalTriangleCount int `json:"totalTriangleCount"`
		TotalVertexCount   int `json:"totalVertexCount"`
		MaterialCount      int `json:"materialCount"`
	} `json:"info"`
}

// validateGLB runs the Khronos glTF validator (tools/gltf, installed by
// `make tools`) on a file.
func validateGLB(t *testing.T, path string) validatorSummary {
	t.Helper()
	node, script := tools.GLTFValidator(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, script, path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("glTF validator: %v\n%s", err, stderr.Bytes())
	}
	var s validatorSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("glTF validator output: %v\n%s", err, stdout.Bytes())
	}
	return s
}
