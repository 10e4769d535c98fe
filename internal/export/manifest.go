package export

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/iris-oculus/iris/internal/export/manifest"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// The manifest's types live in the leaf package export/manifest, so that
// its readers link none of the meshing code; these names keep them part
// of this package's API.
type (
	Manifest    = manifest.Manifest
	SourceInfo  = manifest.SourceInfo
	Units       = manifest.Units
	Frames      = manifest.Frames
	MeshOptions = manifest.MeshOptions
	Organ       = manifest.Organ
	BBox        = manifest.BBox
	OrganFiles  = manifest.OrganFiles
	File        = manifest.File
)

// SchemaVersion is the manifest schema this package writes: see
// manifest.SchemaVersion.
const SchemaVersion = manifest.SchemaVersion

// NoSegmentation is SourceInfo.Segmentation of a set meshed from a label
// map the user supplied: no segmentation ran.
const NoSegmentation = manifest.NoSegmentation

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

func encodeManifest(m *Manifest, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// ReadManifest reads and checks a manifest.json.
func ReadManifest(path string) (*Manifest, error) { return manifest.Read(path) }
