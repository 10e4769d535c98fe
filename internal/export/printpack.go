package export

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// PrintPackFile is the print pack's name in a model set.
const PrintPackFile = "printpack.zip"

// PrintReadme is the name of the print pack's README.
const PrintReadme = "README.txt"

// PrintSettings are what a print set was made with, for its README.
type PrintSettings struct {
	Smooth           float64
	MaxTriangles     int // the whole set's budget; 0: Reduce
	Reduce           float64
	MinPieceMl       float64
	LargestPieceOnly bool
	// Pieces are each label's piece counts (mesh.DropPieces); nil when no
	// pieces were dropped.
	Pieces map[uint16]mesh.Pieces
	Source string    // the input's name
	Made   time.Time // recorded in the README
}

// PrintEntry is one STL of a print pack.
type PrintEntry struct {
	File       string `json:"file"` // name in the zip
	Label      uint16 `json:"label"`
	Name       string `json:"name"`
	Display    string `json:"displayName"`
	Triangles  int    `json:"triangles"`
	Watertight bool   `json:"watertight"`
}

// WritePrintPack writes a zip for 3D printing: one binary STL per surface
// (in RAS+ millimetres, as WriteSTL), named by the organ's display name,
// and a README.txt with the units, the orientation, the settings and,
// per file, the triangles, whether the surface is watertight (closed,
// 2-manifold, consistently oriented: mesh.Check of the surface with its
// vertices matched by coordinates, as in the file), its volume, size and
// pieces. Surfaces without triangles are left out.
func WritePrintPack(w io.Writer, surfaces []mesh.Surface, table *labels.Table, set PrintSettings) ([]PrintEntry, error) {
	zw := zip.NewWriter(w)
	var entries []PrintEntry
	var rows []string
	used := map[string]bool{strings.ToLower(PrintReadme): true}
	for _, s := range surfaces {
		if s.Mesh == nil || s.Mesh.Triangles() == 0 {
			continue
		}
		c := table.Class(s.Label)
		display := c.Display
		if display == "" {
			display = c.Name
		}
		file := printName(display) + ".stl"
		if used[strings.ToLower(file)] {
			file = printName(fmt.Sprintf("%s (label %d)", display, s.Label)) + ".stl"
		}
		used[strings.ToLower(file)] = true
		var buf bytes.Buffer
		if err := writeSTL(&buf, s.Mesh, c.Name); err != nil {
			return nil, err
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: file, Method: zip.Deflate, Modified: set.Made})
		if err != nil {
			return nil, fmt.Errorf("print pack: %w", err)
		}
		if _, err := f.Write(buf.Bytes()); err != nil {
			return nil, fmt.Errorf("print pack: %w", err)
		}
		checkErr := welded(s.Mesh).Check()
		e := PrintEntry{File: file, Label: s.Label, Name: c.Name, Display: display, Triangles: s.Mesh.Triangles(), Watertight: checkErr == nil}
		entries = append(entries, e)
		watertight := "yes"
		if checkErr != nil {
			watertight = "NO (" + checkErr.Error() + ")"
		}
		pieces := "1"
		if p, ok := set.Pieces[s.Label]; ok {
			pieces = fmt.Sprintf("%d of %d", p.Kept, p.Before)
		}
		rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%.1f\t%.0f × %.0f × %.0f\t%s", file, e.Triangles, watertight,
			s.MeshVolume/1000, s.BBoxMax[0]-s.BBoxMin[0], s.BBoxMax[1]-s.BBoxMin[1], s.BBoxMax[2]-s.BBoxMin[2], pieces))
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("print pack: no surface has triangles")
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: PrintReadme, Method: zip.Deflate, Modified: set.Made})
	if err != nil {
		return nil, fmt.Errorf("print pack: %w", err)
	}
	if _, err := io.WriteString(f, printReadme(set, rows)); err != nil {
		return nil, fmt.Errorf("print pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("print pack: %w", err)
	}
	return entries, nil
}

func printReadme(set PrintSettings, rows []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "IRIS Oculus print pack\n\n")
	if set.Source != "" {
		fmt.Fprintf(&b, "Made from %s", set.Source)
		if !set.Made.IsZero() {
			fmt.Fprintf(&b, " on %s", set.Made.UTC().Format(time.RFC3339))
		}
		b.WriteString(".\n\n")
	}
	b.WriteString("Units: millimetres. One STL unit is 1 mm: print at 100 % with your slicer set to mm.\n\n")
	b.WriteString("Orientation: every file shares one frame, " + PatientFrame + ". ")
	b.WriteString("Printed together the parts sit as they do in the body; the head is toward +z.\n\n")
	b.WriteString("Settings:\n")
	fmt.Fprintf(&b, "  smoothing %.2f (0 none, 1 strongest; no vertex moves more than a voxel)\n", set.Smooth)
	if set.MaxTriangles > 0 {
		fmt.Fprintf(&b, "  triangle budget %d for the whole pack, shared by size\n", set.MaxTriangles)
	} else {
		fmt.Fprintf(&b, "  triangles: %.0f %% of each organ's surface\n", 100*set.Reduce)
	}
	switch {
	case set.LargestPieceOnly:
		b.WriteString("  pieces: only each organ's largest piece is kept\n")
	case set.MinPieceMl > 0:
		fmt.Fprintf(&b, "  pieces: pieces under %g mL are dropped (an organ's largest piece is always kept)\n", set.MinPieceMl)
	default:
		b.WriteString("  pieces: all kept\n")
	}
	b.WriteString("\nWatertight means closed, 2-manifold and consistently oriented (outward normals), checked on the written surface.\n")
	b.WriteString("Volumes are enclosed by the surface; sizes are the bounding box along x, y, z.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "file\ttriangles\twatertight\tvolume (mL)\tsize (mm)\tpieces kept")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	tw.Flush()
	return b.String()
}

// welded is m as an STL reader sees it: vertices at the same coordinates
// are one vertex (normals dropped), so the check judges the file that is
// printed, not how the mesh happened to be indexed.
func welded(m *mesh.Mesh) *mesh.Mesh {
	out := &mesh.Mesh{Indices: make([]uint32, len(m.Indices))}
	index := map[[3]float32]uint32{}
	for i, v := range m.Indices {
		p := [3]float32(m.Positions[3*v : 3*v+3])
		j, ok := index[p]
		if !ok {
			j = uint32(len(index))
			index[p] = j
			out.Positions = append(out.Positions, p[0], p[1], p[2])
		}
		out.Indices[i] = j
	}
	return out
}

// printName makes a display name safe as a file name on every system:
// letters, digits, spaces and -_(),. kept, anything else an underscore.
func printName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" -_(),.", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), " .")
	if out == "" {
		out = "organ"
	}
	return out
}
