package export

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qmuntal/gltf"
	"github.com/qmuntal/gltf/modeler"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

func writeTestGLB(t *testing.T, surfaces []mesh.Surface) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteGLB(&buf, surfaces, labels.TotalSegmentator()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scene.glb")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// TestGLBValidator runs the Khronos validator on scenes that exercise both
// index sizes, meshes with and without normals, and an empty surface.
func TestGLBValidator(t *testing.T) {
	big := icosphere([3]float64{0, 0, -500}, 120, 7) // 163842 vertices: UNSIGNED_INT indices
	tests := []struct {
		name     string
		surfaces []mesh.Surface
	}{
		{"organs", testSurfaces()},
		{"large mesh", append(testSurfaces(), surfaceOf(10, big))},
		{"empty surface", []mesh.Surface{surfaceOf(2, &mesh.Mesh{}), surfaceOf(1, icosphere([3]float64{}, 10, 1))}},
		{"no surfaces", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := writeTestGLB(t, tt.surfaces)
			s := validateGLB(t, path)
			t.Logf("%s: errors=%d warnings=%d infos=%d hints=%d triangles=%d", s.Validator, s.Errors, s.Warnings, s.Infos, s.Hints, s.Info.TotalTriangleCount)
			for _, m := range s.Messages {
				t.Logf("  %s %s %s: %s", m.Severity, m.Code, m.Pointer, m.Message)
			}
			if s.Errors != 0 || s.Warnings != 0 {
				t.Errorf("validator: %d errors, %d warnings, want none", s.Errors, s.Warnings)
			}
			want := 0
			draws := 0
			for _, su := range tt.surfaces {
				want += su.Mesh.Triangles()
				if su.Mesh.Triangles() > 0 {
					draws++
				}
			}
			if s.Info.TotalTriangleCount != want || s.Info.DrawCallCount != draws {
				t.Errorf("validator counts %d triangles in %d draw calls, want %d in %d", s.Info.TotalTriangleCount, s.Info.DrawCallCount, want, draws)
			}
		})
	}
}

// decodedMesh is one organ read back from a GLB and dequantized into RAS+
// millimetres, the inverse of WriteGLB's mapping.
type decodedMesh struct {
	node      *gltf.Node
	material  *gltf.Material
	positions []float64 // RAS mm
	glbPos    []float64 // glTF frame, metres
	normals   []float64 // RAS, decoded from int8
	indices   []uint32
	indexType gltf.ComponentType
}

func decodeGLB(t *testing.T, data []byte) (*gltf.Document, []decodedMesh) {
	t.Helper()
	doc := new(gltf.Document)
	if err := gltf.NewDecoder(bytes.NewReader(data)).Decode(doc); err != nil {
		t.Fatalf("decode glb: %v", err)
	}
	bin := doc.Buffers[0].Data
	var out []decodedMesh
	for _, n := range doc.Nodes {
		prim := doc.Meshes[*n.Mesh].Primitives[0]
		pa := doc.Accessors[prim.Attributes[gltf.POSITION]]
		na := doc.Accessors[prim.Attributes[gltf.NORMAL]]
		ia := doc.Accessors[*prim.Indices]
		if pa.ComponentType != gltf.ComponentShort || !pa.Normalized || na.ComponentType != gltf.ComponentByte || !na.Normalized {
			t.Fatalf("node %s: position %v/%v, normal %v/%v; want normalized SHORT and BYTE", n.Name, pa.ComponentType, pa.Normalized, na.ComponentType, na.Normalized)
		}
		d := decodedMesh{node: n, material: doc.Materials[*prim.Material], indexType: ia.ComponentType}
		pv := doc.BufferViews[*pa.BufferView]
		for i := range pa.Count {
			at := pv.ByteOffset + pa.ByteOffset + i*pv.ByteStride
			nat := pv.ByteOffset + na.ByteOffset + i*pv.ByteStride
			var g [3]float64
			for a := range 3 {
				q := int16(binary.LittleEndian.Uint16(bin[at+2*a:]))
				g[a] = n.Translation[a] + n.Scale[a]*max(float64(q)/32767, -1)
			}
			d.glbPos = append(d.glbPos, g[:]...)
			// glTF (X, Y, Z) = (-x, z, y)/1000, so x = -1000X, y = 1000Z, z = 1000Y.
			d.positions = append(d.positions, -1000*g[0], 1000*g[2], 1000*g[1])
			var nq [3]float64
			for a := range 3 {
				nq[a] = max(float64(int8(bin[nat+a]))/127, -1)
			}
			d.normals = append(d.normals, -nq[0], nq[2], nq[1])
		}
		iv := doc.BufferViews[*ia.BufferView]
		for i := range ia.Count {
			if ia.ComponentType == gltf.ComponentUshort {
				d.indices = append(d.indices, uint32(binary.LittleEndian.Uint16(bin[iv.ByteOffset+2*i:])))
			} else {
				d.indices = append(d.indices, binary.LittleEndian.Uint32(bin[iv.ByteOffset+4*i:]))
			}
		}
		out = append(out, d)
	}
	return doc, out
}

func TestGLBReadBack(t *testing.T) {
	surfaces := testSurfaces()
	table := labels.TotalSegmentator()
	_, data := writeTestGLB(t, surfaces)
	doc, meshes := decodeGLB(t, data)

	if !slices.Contains(doc.ExtensionsRequired, quantizationExt) || !slices.Contains(doc.ExtensionsUsed, quantizationExt) {
		t.Errorf("extensionsUsed %v, extensionsRequired %v: want %s in both", doc.ExtensionsUsed, doc.ExtensionsRequired, quantizationExt)
	}
	if len(meshes) != len(surfaces) || len(doc.Scenes[0].Nodes) != len(surfaces) {
		t.Fatalf("%d nodes (%d in the scene), want %d", len(meshes), len(doc.Scenes[0].Nodes), len(surfaces))
	}
	if ex, ok := doc.Asset.Extras.(map[string]any); !ok || ex["lengthUnit"] != "m" || ex["frame"] != GLBFrame {
		t.Errorf("asset extras %v: want lengthUnit m and the frame", doc.Asset.Extras)
	}
	for i, s := range surfaces {
		c := table.Class(s.Label)
		d := meshes[i]
		if d.node.Name != c.Name || doc.Meshes[*d.node.Mesh].Name != c.Name || d.material.Name != c.Name {
			t.Errorf("organ %d: node %q, mesh %q, material %q; want %q", i, d.node.Name, doc.Meshes[*d.node.Mesh].Name, d.material.Name, c.Name)
		}
		ex, _ := d.node.Extras.(map[string]any)
		if ex["label"] != float64(s.Label) || ex["displayName"] != c.Display {
			t.Errorf("%s: node extras %v, want label %d and display name %q", c.Name, ex, s.Label, c.Display)
		}
		pbr := d.material.PBRMetallicRoughness
		lin := linearColor(c.Color)
		want := [4]float64{lin[0], lin[1], lin[2], 1}
		if *pbr.BaseColorFactor != want || pbr.MetallicFactorOrDefault() != 0 || pbr.RoughnessFactorOrDefault() != 0.6 || d.material.DoubleSided {
			t.Errorf("%s: material %+v (doubleSided %v), want base colour %v, metallic 0, roughness 0.6, single-sided", c.Name, pbr, d.material.DoubleSided, want)
		}
		if got := len(d.indices) / 3; got != s.Mesh.Triangles() {
			t.Errorf("%s: %d triangles, want %d", c.Name, got, s.Mesh.Triangles())
		}
		if !slices.Equal(d.indices, s.Mesh.Indices) {
			t.Errorf("%s: indices differ from the mesh's", c.Name)
		}
		if d.indexType != gltf.ComponentUshort {
			t.Errorf("%s: %d vertices stored with %v indices, want UNSIGNED_SHORT", c.Name, s.Mesh.Vertices(), d.indexType)
		}
		// Quantization: under 0.1 mm required; the design bound is half a step.
		extent := max(s.BBoxMax[0]-s.BBoxMin[0], s.BBoxMax[1]-s.BBoxMin[1], s.BBoxMax[2]-s.BBoxMin[2])
		bound := extent / 2 / 32767 / 2 * 1.001
		var worst float64
		for k, v := range s.Mesh.Positions {
			worst = max(worst, math.Abs(d.positions[k]-float64(v)))
		}
		t.Logf("%s: extent %.1f mm, worst quantization error %.5f mm (bound %.5f)", c.Name, extent, worst, bound)
		if worst >= 0.1 || worst > bound {
			t.Errorf("%s: quantization error %.5f mm, want < 0.1 mm and <= %.5f", c.Name, worst, bound)
		}
		normals := s.Mesh.Normals
		if normals == nil {
			normals = vertexNormals(s.Mesh)
		}
		var worstAngle float64
		for k := 0; k < len(normals); k += 3 {
			a := unit([3]float64{float64(normals[k]), float64(normals[k+1]), float64(normals[k+2])})
			b := [3]float64{d.normals[k], d.normals[k+1], d.normals[k+2]}
			worstAngle = max(worstAngle, math.Acos(min(1, dot(a, unit(b))))*180/math.Pi)
		}
		if worstAngle > 1 {
			t.Errorf("%s: normal off by %.2f°, want under 1°", c.Name, worstAngle)
		}
		// Winding: a proper rotation keeps CCW outward, so the enclosed
		// volume read in glTF's frame is positive and equals the mesh's.
		vol := signedVolume(d.glbPos, d.indices) * 1e9 // m³ → mm³
		if math.Abs(vol-s.MeshVolume) > 1e-3*s.MeshVolume {
			t.Errorf("%s: glTF-frame volume %.1f mm³, want %.1f (positive: outward winding)", c.Name, vol, s.MeshVolume)
		}
	}
}

// TestGLBAxes checks the patient-to-glTF mapping with a small sphere on
// the patient's left, anterior and superior of the origin: glTF must put it
// at +X (left), +Y (up) and +Z (toward the viewer).
func TestGLBAxes(t *testing.T) {
	tests := []struct {
		name   string
		center [3]float64 // RAS mm
		want   [3]float64 // glTF m
	}{
		{"left", [3]float64{-100, 0, 0}, [3]float64{0.1, 0, 0}},
		{"right", [3]float64{100, 0, 0}, [3]float64{-0.1, 0, 0}},
		{"anterior", [3]float64{0, 100, 0}, [3]float64{0, 0, 0.1}},
		{"superior", [3]float64{0, 0, 100}, [3]float64{0, 0.1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, data := writeTestGLB(t, []mesh.Surface{surfaceOf(1, icosphere(tt.center, 5, 1))})
			doc, _ := decodeGLB(t, data)
			got := doc.Nodes[0].Translation
			for a := range 3 {
				if math.Abs(got[a]-tt.want[a]) > 1e-9 {
					t.Fatalf("centre at glTF %v, want %v", got, tt.want)
				}
			}
		})
	}
	// The map's matrix form, as the manifest states it, is a rotation.
	var r [3][3]float64
	for i := range 3 {
		for j := range 3 {
			r[i][j] = rasToGLB[i][j] * 1000
		}
	}
	det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) - r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) + r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
	if det != 1 {
		t.Errorf("det(rasToGLB) = %v, want +1", det)
	}
	p := toGLB(1, 2, 3)
	for i := range 3 {
		want := (rasToGLB[i][0]*1 + rasToGLB[i][1]*2 + rasToGLB[i][2]*3) * 1000
		if p[i] != want {
			t.Errorf("toGLB and rasToGLB disagree on axis %d: %v vs %v", i, p[i], want)
		}
	}
}

func TestGLBLargeMeshUsesUint32(t *testing.T) {
	big := icosphere([3]float64{}, 100, 7)
	_, data := writeTestGLB(t, []mesh.Surface{surfaceOf(1, big)})
	_, meshes := decodeGLB(t, data)
	if meshes[0].indexType != gltf.ComponentUint || !slices.Equal(meshes[0].indices, big.Indices) {
		t.Errorf("%d vertices: index type %v (indices equal: %v), want UNSIGNED_INT and the same indices",
			big.Vertices(), meshes[0].indexType, slices.Equal(meshes[0].indices, big.Indices))
	}
}

// TestGLBSize compares the quantized scene with the same meshes stored as
// float32 positions and normals and uint32 indices.
func TestGLBSize(t *testing.T) {
	var surfaces []mesh.Surface
	for i := range 6 {
		surfaces = append(surfaces, surfaceOf(uint16(i+1), icosphere([3]float64{float64(60 * i), 0, 0}, 25, 5)))
	}
	_, quantized := writeTestGLB(t, surfaces)

	doc := gltf.NewDocument()
	for _, s := range surfaces {
		pos := make([][3]float32, s.Mesh.Vertices())
		nor := make([][3]float32, s.Mesh.Vertices())
		for i := range pos {
			pos[i] = [3]float32(s.Mesh.Positions[3*i:])
			nor[i] = [3]float32(s.Mesh.Normals[3*i:])
		}
		prim := &gltf.Primitive{
			Attributes: gltf.PrimitiveAttributes{
				gltf.POSITION: modeler.WritePosition(doc, pos),
				gltf.NORMAL:   modeler.WriteNormal(doc, nor),
			},
			Indices: gltf.Index(modeler.WriteIndices(doc, s.Mesh.Indices)),
		}
		doc.Meshes = append(doc.Meshes, &gltf.Mesh{Primitives: []*gltf.Primitive{prim}})
		doc.Nodes = append(doc.Nodes, &gltf.Node{Mesh: gltf.Index(len(doc.Meshes) - 1)})
	}
	var plain bytes.Buffer
	if err := gltf.NewEncoder(&plain).Encode(doc); err != nil {
		t.Fatal(err)
	}
	ratio := float64(len(quantized)) / float64(plain.Len())
	t.Logf("quantized %d bytes, float32 %d bytes: %.2f", len(quantized), plain.Len(), ratio)
	// 12 bytes per vertex instead of 24, 2-byte indices instead of 4.
	if ratio > 0.55 {
		t.Errorf("quantized GLB is %.2f of the float one, want at most 0.55", ratio)
	}
}

// TestSnormNormal checks that every quantized normal passes the
// validator's unit-length test and stays within a degree of the input.
func TestSnormNormal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dirs := [][3]float64{{0, 0, 0}, {1, 0, 0}, {0, -1, 0}, {1, 1, 1}, {1, 1, 0}, {-0.3, 0.9, 0.1}}
	for range 200000 {
		dirs = append(dirs, [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
	}
	for _, d := range dirs {
		q := snormNormal(d)
		v := [3]float64{float64(q[0]) / 127, float64(q[1]) / 127, float64(q[2]) / 127}
		l := math.Sqrt(dot(v, v))
		if math.Abs(l-1) > 0.00674 {
			t.Fatalf("%v → %v: length %.5f, validator allows 1±0.00674", d, q, l)
		}
		if d == ([3]float64{}) {
			continue
		}
		if ang := math.Acos(min(1, dot(unit(d), v)/l)) * 180 / math.Pi; ang > 1 {
			t.Fatalf("%v → %v: %.2f° off", d, q, ang)
		}
	}
}

func TestLinearColor(t *testing.T) {
	tests := []struct {
		in   [3]uint8
		want [3]float64
	}{
		{[3]uint8{0, 255, 10}, [3]float64{0, 1, 10.0 / 255 / 12.92}},
		{[3]uint8{128, 188, 64}, [3]float64{0.2158605, 0.5028865, 0.0512695}},
	}
	for _, tt := range tests {
		got := linearColor(tt.in)
		for i := range 3 {
			if math.Abs(got[i]-tt.want[i]) > 1e-6 {
				t.Errorf("linearColor(%v) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

// TestValidatorCatchesMismatch proves the validator harness can fail: a
// position accessor whose declared max disagrees with its data is an error.
func TestValidatorCatchesMismatch(t *testing.T) {
	_, data := writeTestGLB(t, testSurfaces()[:1])
	doc := new(gltf.Document)
	if err := gltf.NewDecoder(bytes.NewReader(data)).Decode(doc); err != nil {
		t.Fatal(err)
	}
	doc.Accessors[0].Max[0]--
	path := filepath.Join(t.TempDir(), "bad.glb")
	if err := gltf.SaveBinary(doc, path); err != nil {
		t.Fatal(err)
	}
	s := validateGLB(t, path)
	found := slices.ContainsFunc(s.Messages, func(m struct{ Code, Severity, Message, Pointer string }) bool {
		return m.Code == "ACCESSOR_MAX_MISMATCH"
	})
	if s.Errors == 0 || !found {
		t.Errorf("validator on a wrong max: %d errors, messages %v; want ACCESSOR_MAX_MISMATCH", s.Errors, s.Messages)
	}
}
