package export

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// WriteOBJ writes surfaces as one Wavefront OBJ to obj and their materials
// to mtl, which obj names as mtlName (its file name beside obj, without
// spaces). Each surface with triangles is an object and group named by its
// class's file name (made unique), with its own material; vertices are RAS+
// millimetres written exactly (shortest form that reads back as the same
// float32), normals to 4 decimals, faces as v//vn with 1-based indices
// across the file.
func WriteOBJ(obj, mtl io.Writer, mtlName string, surfaces []mesh.Surface, table *labels.Table) error {
	if err := checkSurfaces(surfaces); err != nil {
		return fmt.Errorf("write obj: %w", err)
	}
	if err := writeOBJ(obj, mtlName, surfaces, table); err != nil {
		return err
	}
	return writeMTL(mtl, surfaces, table)
}

// objBuffer is the bufio size: big writes, few syscalls.
const objBuffer = 1 << 20

func writeOBJ(w io.Writer, mtlName string, surfaces []mesh.Surface, table *labels.Table) error {
	if mtlName == "" || strings.ContainsFunc(mtlName, isSpace) {
		return fmt.Errorf("write obj: material library name %q is empty or has spaces", mtlName)
	}
	bw := bufio.NewWriterSize(w, objBuffer)
	verts, tris := 0, 0
	for _, s := range surfaces {
		verts += s.Mesh.Vertices()
		tris += s.Mesh.Triangles()
	}
	fmt.Fprintf(bw, "# IRIS Oculus organ surfaces: %d vertices, %d triangles\n", verts, tris)
	fmt.Fprintf(bw, "# units: millimetres; frame: %s\n", PatientFrame)
	fmt.Fprintf(bw, "mtllib %s\n", mtlName)
	base := 1 // OBJ indices are 1-based and global
	names := fileNames(surfaces, table)
	for i, s := range surfaces {
		m := s.Mesh
		if m.Triangles() == 0 {
			continue
		}
		c := table.Class(s.Label)
		name := names[i]
		fmt.Fprintf(bw, "\n# label %d: %q\no %s\ng %s\nusemtl %s\n", s.Label, c.Display, name, name, name)
		for i := 0; i < len(m.Positions); i += 3 {
			line := append(bw.AvailableBuffer(), 'v')
			for _, v := range m.Positions[i : i+3] {
				line = append(line, ' ')
				line = strconv.AppendFloat(line, float64(v), 'f', -1, 32)
			}
			bw.Write(append(line, '\n')) // line lives in bw's free space
		}
		normals := m.Normals
		if normals == nil {
			normals = vertexNormals(m)
		}
		for i := 0; i < len(normals); i += 3 {
			line := append(bw.AvailableBuffer(), 'v', 'n')
			for _, v := range normals[i : i+3] {
				line = append(line, ' ')
				line = strconv.AppendFloat(line, float64(v), 'f', 4, 32)
			}
			bw.Write(append(line, '\n')) // line lives in bw's free space
		}
		for i := 0; i < len(m.Indices); i += 3 {
			line := append(bw.AvailableBuffer(), 'f')
			for _, ix := range m.Indices[i : i+3] {
				k := uint64(base) + uint64(ix)
				line = append(line, ' ')
				line = strconv.AppendUint(line, k, 10)
				line = append(line, '/', '/')
				line = strconv.AppendUint(line, k, 10)
			}
			bw.Write(append(line, '\n')) // line lives in bw's free space
		}
		base += m.Vertices()
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write obj: %w", err)
	}
	return nil
}

// writeMTL writes one material per surface with triangles. Kd is the
// class's sRGB colour scaled to 0..1: MTL has no colour space, and viewers
// show Kd as a display colour.
func writeMTL(w io.Writer, surfaces []mesh.Surface, table *labels.Table) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# IRIS Oculus organ materials: Kd is each class's sRGB colour\n")
	names := fileNames(surfaces, table)
	for i, s := range surfaces {
		if s.Mesh.Triangles() == 0 {
			continue
		}
		c := table.Class(s.Label)
		fmt.Fprintf(bw, "\nnewmtl %s\nKa 0 0 0\nKd %s %s %s\nKs 0.1 0.1 0.1\nNs 40\nd 1\nillum 2\n",
			names[i], unitByte(c.Color[0]), unitByte(c.Color[1]), unitByte(c.Color[2]))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write mtl: %w", err)
	}
	return nil
}

func unitByte(v uint8) string { return strconv.FormatFloat(float64(v)/255, 'f', 4, 64) }

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}
