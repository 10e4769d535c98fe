package export

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/iris-oculus/iris/internal/mesh"
)

// Binary STL layout: an 80-byte header, a uint32 triangle count, then per
// triangle a float32 normal, three float32 vertices and a uint16 attribute
// count, all little-endian.
const (
	stlHeader = 80
	stlFacet  = 50
)

// WriteSTL writes one surface as binary STL in RAS+ millimetres. The header
// names the organ and the units; facet normals are the unit cross product
// of each triangle's edges (zero for a degenerate one), which is what STL
// readers expect rather than averaged vertex normals.
func WriteSTL(w io.Writer, s mesh.Surface, name string) error {
	if err := checkSurface(s); err != nil {
		return fmt.Errorf("write stl %s: %w", name, err)
	}
	return writeSTL(w, s.Mesh, name)
}

func writeSTL(w io.Writer, m *mesh.Mesh, name string) error {
	if m.Triangles() > math.MaxUint32 {
		return fmt.Errorf("write stl %s: %d triangles, more than STL counts", name, m.Triangles())
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.Write(stlHeaderFor(name))
	var facet [stlFacet]byte
	binary.LittleEndian.PutUint32(facet[:4], uint32(m.Triangles()))
	bw.Write(facet[:4])
	p := m.Positions
	for t := 0; t < len(m.Indices); t += 3 {
		a, b, c := 3*int(m.Indices[t]), 3*int(m.Indices[t+1]), 3*int(m.Indices[t+2])
		n := unit(cross(sub(p, b, a), sub(p, c, a)))
		put3(facet[0:], float32(n[0]), float32(n[1]), float32(n[2]))
		put3(facet[12:], p[a], p[a+1], p[a+2])
		put3(facet[24:], p[b], p[b+1], p[b+2])
		put3(facet[36:], p[c], p[c+1], p[c+2])
		bw.Write(facet[:]) // attribute bytes 48..49 stay zero
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write stl %s: %w", name, err)
	}
	return nil
}

// stlHeaderFor fills the 80-byte header. It must not start with "solid",
// which makes some readers take the file for ASCII STL.
func stlHeaderFor(name string) []byte {
	h := make([]byte, stlHeader)
	for i := range h {
		h[i] = ' '
	}
	copy(h, fmt.Sprintf("IRIS Oculus binary STL; units=mm; frame=RAS+; organ=%s", name))
	return h
}

func put3(b []byte, x, y, z float32) {
	binary.LittleEndian.PutUint32(b[0:], math.Float32bits(x))
	binary.LittleEndian.PutUint32(b[4:], math.Float32bits(y))
	binary.LittleEndian.PutUint32(b[8:], math.Float32bits(z))
}
