package export

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// SchemaVersion is the manifest schema this package writes. It changes only
// when a field changes meaning or goes away; added fields keep it.
const SchemaVersion = "1"

// Manifest describes a model set: where it came from, how it was made, each
// organ's measurements and every file written. It is written last, so a
// folder with a manifest holds a complete set. The HTTP API and the web app
// read it; its JSON names are the contract.
type Manifest struct {
	Schema    string      `json:"schema"`    // SchemaVersion
	Generator string      `json:"generator"` // program (and version) that wrote the set
	Created   time.Time   `json:"created"`   // RFC 3339, given by the caller
	Source    SourceInfo  `json:"source"`
	Units     Units       `json:"units"`
	Frames    Frames      `json:"frames"`
	Options   MeshOptions `json:"options"`
	Organs    []Organ     `json:"organs"`
	// Files lists every file of the set except manifest.json itself.
	Files []File `json:"files"`
}

// SourceInfo describes the label map the set was built from.
type SourceInfo struct {
	File        string        `json:"file"`        // input file name, without folders
	Dims        [3]int        `json:"dims"`        // voxels along i, j, k
	Spacing     [3]float64    `json:"spacing"`     // voxel size along i, j, k, mm
	Orientation string        `json:"orientation"` // axis codes of i, j, k, e.g. "LAS"
	Affine      [4][4]float64 `json:"affine"`      // voxel (i,j,k,1) → RAS+ mm, row-major
	// Segmentation says what made the label map, where the caller knows:
	// the engine, or NoSegmentation for a label map given as the input.
	Segmentation string `json:"segmentation,omitempty"`
}

// NoSegmentation is SourceInfo.Segmentation of a set meshed from a label
// map the user supplied: no segmentation ran.
const NoSegmentation = "none: the input was a label map"

// Units names the units of the manifest's numbers.
type Units struct {
	Length string `json:"length"` // "mm": bounding boxes, OBJ and STL coordinates
	Volume string `json:"volume"` // "mL"
	Area   string `json:"area"`   // "cm2"
}

// Frames states the coordinate frame of each kind of output, in words.
type Frames struct {
	Patient string `json:"patient"` // manifest, OBJ, STL
	GLB     string `json:"glb"`
	// RASToGLB maps a RAS+ point in mm, (x, y, z, 1), to scene.glb's frame
	// in metres; row-major. It is a proper rotation times 1/1000.
	RASToGLB [4][4]float64 `json:"rasToGlb"`
}

// MeshOptions records the options the surfaces were made with.
type MeshOptions struct {
	Smooth       float64  `json:"smooth"`
	Reduce       float64  `json:"reduce"`
	MaxTriangles int      `json:"maxTriangles"`
	Formats      []Format `json:"formats"`
}

// Organ is one labelled structure of the set.
type Organ struct {
	Label       uint16 `json:"label"`       // value in the label map
	Name        string `json:"name"`        // machine name, e.g. "kidney_left"; node and mesh name in scene.glb
	DisplayName string `json:"displayName"` // e.g. "Left kidney"
	System      string `json:"system"`      // anatomical group, e.g. "organs"
	Color       string `json:"color"`       // sRGB "#rrggbb"
	SNOMED      string `json:"snomed,omitempty"`

	VoxelCount     int     `json:"voxelCount"`
	VoxelVolumeMl  float64 `json:"voxelVolumeMl"`  // voxel count × voxel volume
	MeshVolumeMl   float64 `json:"meshVolumeMl"`   // enclosed by the exported surface
	SurfaceAreaCm2 float64 `json:"surfaceAreaCm2"` // of the exported surface
	Triangles      int     `json:"triangles"`
	BBoxMm         BBox    `json:"bboxMm"` // RAS+ mm
	// The mesh volume equals the voxel volume by construction (the mesher
	// offsets each surface until it does), so it says nothing about where
	// the surface lies. These do: the distance in mm from each vertex to
	// the nearest face of the label's voxel boundary (mesh.BoundaryDistances),
	// its 95th percentile (nearest rank) and maximum over the vertices.
	BoundaryDistP95Mm float64 `json:"boundaryDistP95Mm"`
	BoundaryDistMaxMm float64 `json:"boundaryDistMaxMm"`

	// TouchesBorder: the structure reaches the edge of the scan, so part of
	// it may lie outside. Partial is the same fact under the name a UI
	// shows; the volumes are still the measured ones, never zeroed.
	TouchesBorder bool   `json:"touchesBorder"`
	Partial       bool   `json:"partial"`
	Note          string `json:"note,omitempty"`

	Files OrganFiles `json:"files"`
}

// BBox is an axis-aligned box.
type BBox struct {
	Min [3]float64 `json:"min"`
	Max [3]float64 `json:"max"`
}

// OrganFiles names an organ's own files, relative to the set's folder.
// STL is empty when no STL was written (not asked for, or no triangles).
type OrganFiles struct {
	STL string `json:"stl,omitempty"`
}

// File is one file of the set.
type File struct {
	Name   string `json:"name"` // slash-separated, relative to the set's folder
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// PartialNote is Organ.Note for a structure that touches the scan's border.
const PartialNote = "touches the edge of the scan: the structure may extend beyond it, so its volume and area may be partial"

// Frame descriptions, also written into scene.glb's asset extras.
const (
	PatientFrame = "RAS+ patient coordinates in millimetres, as NIfTI/nibabel: +x toward the patient's right, +y anterior, +z superior"
	GLBFrame     = "glTF 2.0 in metres: +X toward the patient's left, +Y superior, +Z anterior (the patient stands upright facing +Z, toward the default camera); (X, Y, Z) = (-x, z, y) / 1000 from RAS+ mm"
)

// rasToGLB is the matrix form of GLBFrame. Its rotation part has
// determinant +1, so triangle winding and outward normals survive.
var rasToGLB = [4][4]float64{
	{-1e-3, 0, 0, 0},
	{0, 0, 1e-3, 0},
	{0, 1e-3, 0, 0},
	{0, 0, 0, 1},
}

func newManifest(src Source, surfaces []mesh.Surface, table *labels.Table, opt Options) *Manifest {
	created := opt.Created
	if created.IsZero() {
		created = time.Now()
	}
	g := src.LabelMap.Grid
	m := &Manifest{
		Schema:    SchemaVersion,
		Generator: opt.generator(),
		Created:   created.UTC(),
		Source: SourceInfo{
			File:         baseName(src.File),
			Dims:         g.Dims,
			Spacing:      g.Spacing(),
			Orientation:  g.Affine.Orientation(),
			Affine:       g.Affine,
			Segmentation: src.Segmentation,
		},
		Units:  Units{Length: "mm", Volume: "mL", Area: "cm2"},
		Frames: Frames{Patient: PatientFrame, GLB: GLBFrame, RASToGLB: rasToGLB},
		Options: MeshOptions{
			Smooth:       opt.Smooth,
			Reduce:       opt.Reduce,
			MaxTriangles: opt.MaxTriangles,
			Formats:      opt.formats(),
		},
		Organs: make([]Organ, 0, len(surfaces)),
	}
	for _, s := range surfaces {
		m.Organs = append(m.Organs, newOrgan(s, table.Class(s.Label)))
	}
	return m
}

func newOrgan(s mesh.Surface, c labels.Class) Organ {
	o := Organ{
		Label:          s.Label,
		Name:           c.Name,
		DisplayName:    c.Display,
		System:         c.System,
		Color:          hexColor(c.Color),
		SNOMED:         c.SNOMED,
		VoxelCount:     s.VoxelCount,
		VoxelVolumeMl:  round(s.VoxelVolume/1000, 6),
		MeshVolumeMl:   round(s.MeshVolume/1000, 6),
		SurfaceAreaCm2: round(s.SurfaceArea/100, 6),
		Triangles:      s.Mesh.Triangles(),

		BoundaryDistP95Mm: round(s.Boundary.P95, 4),
		BoundaryDistMaxMm: round(s.Boundary.Max, 4),
		TouchesBorder:     s.TouchesBorder,
		Partial:           s.TouchesBorder,
	}
	for i := range 3 {
		o.BBoxMm.Min[i] = round(s.BBoxMin[i], 4)
		o.BBoxMm.Max[i] = round(s.BBoxMax[i], 4)
	}
	if o.Partial {
		o.Note = PartialNote
	}
	return o
}

// round keeps JSON readable: float64 noise below 10^-digits (far below what
// any measurement here resolves) is dropped. Dividing by the exact power of
// ten gives the double nearest the short decimal, which JSON prints short.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func baseName(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Base(p)
}

func hexColor(c [3]uint8) string { return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]) }

func (m *Manifest) encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// ReadManifest reads and checks a manifest.json.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if m.Schema != SchemaVersion {
		return nil, fmt.Errorf("read manifest %s: schema %q, want %q", path, m.Schema, SchemaVersion)
	}
	return &m, nil
}
