// Package manifest holds the types of a model set's manifest.json, the
// contract that the HTTP API, the status stage and the web app read, and
// reads one back. It is a leaf (the standard library only), so that a
// reader of manifests links none of the meshing and writing code of
// package export, which builds and writes them and re-exports these names.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// FileName is the manifest's name in a model set's folder.
const FileName = "manifest.json"

// Format is a mesh file format of a model set.
type Format string

// The mesh formats of a model set.
const (
	GLB Format = "glb" // scene.glb
	OBJ Format = "obj" // scene.obj + scene.mtl
	STL Format = "stl" // stl/<name>.stl, one per organ
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

// Decode decodes and checks the bytes of a manifest.json; name says
// where they came from, for the error.
func Decode(data []byte, name string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	if m.Schema != SchemaVersion {
		return nil, fmt.Errorf("read manifest %s: schema %q, want %q", name, m.Schema, SchemaVersion)
	}
	return &m, nil
}

// Read reads and checks a manifest.json.
func Read(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Decode(data, path)
}
