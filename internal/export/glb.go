package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/qmuntal/gltf"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// quantizationExt is the glTF extension that allows integer vertex data.
const quantizationExt = "KHR_mesh_quantization"

// Material constants: tissue is a dielectric with a soft sheen.
const (
	metallic  = 0.0
	roughness = 0.6
)

// Quantization steps. Positions are normalized SHORT, so a component holds
// q/posQ with q in [-posQ, posQ]; normals are normalized BYTE.
const (
	posQ    = 32767
	normalQ = 127
)

// vertexStride is the interleaved vertex: SHORT x,y,z, 2 pad bytes, BYTE
// nx,ny,nz, 1 pad byte. glTF wants every attribute 4-byte aligned.
const (
	vertexStride = 12
	normalOffset = 8
)

// WriteGLB writes surfaces as a glTF 2.0 binary with one node, mesh and
// material per surface, all named after the label's class (its display
// name, value and SNOMED code go in the node's extras).
//
// glTF's frame is metres, +Y up, the front of an asset facing +Z, so the
// RAS+ millimetres of the meshes are mapped to X = −x (toward the patient's
// left), Y = z (superior), Z = y (anterior), then divided by 1000: a viewer
// shows the patient upright, facing the default camera. That map is a proper
// rotation (determinant +1), so counter-clockwise winding stays outward. The
// asset's extras state it (see GLBFrame).
//
// To keep the file small it uses KHR_mesh_quantization: each mesh's
// positions are normalized int16 relative to its own bounding box, whose
// centre and half-size are the node's translation and (uniform) scale, so
// the step is at most 1/65534 of the largest extent (under 0.004 mm for a
// 500 mm organ); normals are normalized int8; indices are uint16 where
// possible. 12 bytes per vertex instead of 24.
func WriteGLB(w io.Writer, surfaces []mesh.Surface, table *labels.Table) error {
	if err := checkSurfaces(surfaces); err != nil {
		return fmt.Errorf("write glb: %w", err)
	}
	return writeGLB(w, surfaces, table, "iris")
}

// glbAssetExtras is the asset's extras: what a reader needs to map the
// scene back to the patient.
type glbAssetExtras struct {
	LengthUnit   string        `json:"lengthUnit"`
	Frame        string        `json:"frame"`
	PatientFrame string        `json:"patientFrame"` // the frame rasToGlb maps from
	RASToGLB     [4][4]float64 `json:"rasToGlb"`     // row-major, RAS+ mm → glTF m
	Quantization string        `json:"quantization"`
}

// nodeExtras is each organ node's extras.
type nodeExtras struct {
	Label       uint16 `json:"label"`
	DisplayName string `json:"displayName"`
	System      string `json:"system,omitempty"`
	SNOMED      string `json:"snomed,omitempty"`
	Color       string `json:"color"` // sRGB hex, as in the manifest
}

func writeGLB(w io.Writer, surfaces []mesh.Surface, table *labels.Table, generator string) error {
	doc := &gltf.Document{
		Asset: gltf.Asset{
			Version:   "2.0",
			Generator: generator,
			Extras: glbAssetExtras{
				LengthUnit:   "m",
				Frame:        GLBFrame,
				PatientFrame: PatientFrame,
				RASToGLB:     rasToGLB,
				Quantization: "KHR_mesh_quantization: positions normalized int16 within each mesh's bounding box (node translation = box centre, uniform scale = largest half-extent), normals normalized int8",
			},
		},
		Scene:  gltf.Index(0),
		Scenes: []*gltf.Scene{{Name: "organs"}},
	}
	bin := make([]byte, 0, glbBinSize(surfaces))
	for _, s := range surfaces {
		if s.Mesh.Triangles() == 0 {
			continue
		}
		bin = addOrgan(doc, bin, s, table.Class(s.Label))
	}
	if len(doc.Meshes) > 0 {
		doc.ExtensionsUsed = []string{quantizationExt}
		doc.ExtensionsRequired = []string{quantizationExt}
		doc.Buffers = []*gltf.Buffer{{ByteLength: len(bin), Data: bin}}
	}
	ew := &errWriter{w: w}
	if err := gltf.NewEncoder(ew).Encode(doc); err != nil {
		return fmt.Errorf("write glb: %w", err)
	}
	if ew.err != nil {
		return fmt.Errorf("write glb: %w", ew.err)
	}
	return nil
}

func glbBinSize(surfaces []mesh.Surface) int {
	n := 0
	for _, s := range surfaces {
		if s.Mesh.Triangles() > 0 {
			n += s.Mesh.Vertices()*vertexStride + pad4(len(s.Mesh.Indices)*indexSize(s.Mesh.Vertices()))
		}
	}
	return n
}

// indexSize is 2 (UNSIGNED_SHORT) when every index fits below 65535, which
// glTF reserves as the primitive restart value, else 4.
func indexSize(vertices int) int {
	if vertices <= math.MaxUint16 {
		return 2
	}
	return 4
}

func pad4(n int) int { return (n + 3) &^ 3 }

// addOrgan appends one organ's vertex and index data to bin and its
// buffer views, accessors, material, mesh and node to doc.
func addOrgan(doc *gltf.Document, bin []byte, s mesh.Surface, c labels.Class) []byte {
	m := s.Mesh
	normals := m.Normals
	if normals == nil {
		normals = vertexNormals(m)
	}
	box := glbBox(m.Positions)

	vertexView := len(doc.BufferViews)
	start := len(bin)
	bin = appendVertices(bin, m.Positions, normals, &box)
	doc.BufferViews = append(doc.BufferViews, &gltf.BufferView{
		ByteOffset: start, ByteLength: len(bin) - start, ByteStride: vertexStride, Target: gltf.TargetArrayBuffer,
	})
	start = len(bin)
	indexType := gltf.ComponentUint
	if indexSize(m.Vertices()) == 2 {
		indexType = gltf.ComponentUshort
	}
	bin = appendIndices(bin, m.Indices, indexSize(m.Vertices()))
	doc.BufferViews = append(doc.BufferViews, &gltf.BufferView{
		ByteOffset: start, ByteLength: len(bin) - start, Target: gltf.TargetElementArrayBuffer,
	})
	for len(bin)%4 != 0 {
		bin = append(bin, 0)
	}

	acc := len(doc.Accessors)
	doc.Accessors = append(doc.Accessors,
		&gltf.Accessor{
			BufferView: gltf.Index(vertexView), ComponentType: gltf.ComponentShort, Normalized: true,
			Count: m.Vertices(), Type: gltf.AccessorVec3,
			// min and max are the stored integers, as the validator reads them.
			Min: box.qmin[:], Max: box.qmax[:],
		},
		&gltf.Accessor{
			BufferView: gltf.Index(vertexView), ByteOffset: normalOffset, ComponentType: gltf.ComponentByte,
			Normalized: true, Count: m.Vertices(), Type: gltf.AccessorVec3,
		},
		&gltf.Accessor{
			BufferView: gltf.Index(vertexView + 1), ComponentType: indexType,
			Count: len(m.Indices), Type: gltf.AccessorScalar,
		},
	)

	lin := linearColor(c.Color)
	mat := len(doc.Materials)
	doc.Materials = append(doc.Materials, &gltf.Material{
		Name: c.Name,
		PBRMetallicRoughness: &gltf.PBRMetallicRoughness{
			BaseColorFactor: &[4]float64{lin[0], lin[1], lin[2], 1},
			MetallicFactor:  gltf.Float(metallic),
			RoughnessFactor: gltf.Float(roughness),
		},
	})
	mi := len(doc.Meshes)
	doc.Meshes = append(doc.Meshes, &gltf.Mesh{
		Name: c.Name,
		Primitives: []*gltf.Primitive{{
			Attributes: gltf.PrimitiveAttributes{gltf.POSITION: acc, gltf.NORMAL: acc + 1},
			Indices:    gltf.Index(acc + 2),
			Material:   gltf.Index(mat),
			Mode:       gltf.PrimitiveTriangles,
		}},
	})
	sc := box.half / 1000
	doc.Scenes[0].Nodes = append(doc.Scenes[0].Nodes, len(doc.Nodes))
	doc.Nodes = append(doc.Nodes, &gltf.Node{
		Name:        c.Name,
		Mesh:        gltf.Index(mi),
		Translation: [3]float64{box.center[0] / 1000, box.center[1] / 1000, box.center[2] / 1000},
		Scale:       [3]float64{sc, sc, sc},
		Rotation:    [4]float64{0, 0, 0, 1},
		Matrix:      gltf.DefaultMatrix,
		Extras: nodeExtras{
			Label: c.Value, DisplayName: c.Display, System: c.System, SNOMED: c.SNOMED, Color: hexColor(c.Color),
		},
	})
	return bin
}

// toGLB maps RAS+ (x, y, z) to glTF axes, still in mm: see WriteGLB.
func toGLB(x, y, z float32) [3]float64 { return [3]float64{-float64(x), float64(z), float64(y)} }

// quantBox is a mesh's quantization frame in glTF axes (mm) and the
// resulting integer range.
type quantBox struct {
	center     [3]float64
	half       float64 // uniform, so normals need no correction for scale
	qmin, qmax [3]float64
}

func glbBox(pos []float32) quantBox {
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i := 0; i < len(pos); i += 3 {
		g := toGLB(pos[i], pos[i+1], pos[i+2])
		for a := range 3 {
			lo[a] = min(lo[a], g[a])
			hi[a] = max(hi[a], g[a])
		}
	}
	var b quantBox
	for a := range 3 {
		b.center[a] = (lo[a] + hi[a]) / 2
		b.half = max(b.half, (hi[a]-lo[a])/2)
	}
	if b.half == 0 { // a single point: any scale will do
		b.half = 1
	}
	b.qmin = [3]float64{posQ, posQ, posQ}
	b.qmax = [3]float64{-posQ, -posQ, -posQ}
	return b
}

// quantize maps glTF-axis mm to the int16 of axis a.
func (b *quantBox) quantize(v float64, a int) int16 {
	q := math.Round((v - b.center[a]) / b.half * posQ)
	return int16(max(-posQ, min(posQ, q)))
}

// appendVertices writes the interleaved quantized vertices and records the
// integer range of the positions in b.
func appendVertices(bin []byte, pos, nor []float32, b *quantBox) []byte {
	start := len(bin)
	bin = slices.Grow(bin, len(pos)/3*vertexStride)[:start+len(pos)/3*vertexStride]
	for i := 0; i < len(pos); i += 3 {
		v := bin[start+i/3*vertexStride:][:vertexStride]
		g := toGLB(pos[i], pos[i+1], pos[i+2])
		for a := range 3 {
			q := b.quantize(g[a], a)
			binary.LittleEndian.PutUint16(v[2*a:], uint16(q))
			b.qmin[a] = min(b.qmin[a], float64(q))
			b.qmax[a] = max(b.qmax[a], float64(q))
		}
		n := snormNormal(toGLB(nor[i], nor[i+1], nor[i+2]))
		v[6], v[7] = 0, 0
		v[normalOffset], v[normalOffset+1], v[normalOffset+2], v[normalOffset+3] = byte(n[0]), byte(n[1]), byte(n[2]), 0
	}
	return bin
}

// appendIndices writes indices as uint16 (size 2) or uint32.
func appendIndices(bin []byte, idx []uint32, size int) []byte {
	start := len(bin)
	bin = slices.Grow(bin, len(idx)*size)[:start+len(idx)*size]
	out := bin[start:]
	if size == 2 {
		for i, ix := range idx {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(ix))
		}
	} else {
		for i, ix := range idx {
			binary.LittleEndian.PutUint32(out[4*i:], ix)
		}
	}
	return bin
}

// errWriter keeps the first write error: the glTF encoder ignores some.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
