package export

import (
	"io"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
)

// benchSurfaces is about a million triangles: twelve spheres of 81920.
func benchSurfaces() []mesh.Surface {
	var s []mesh.Surface
	for i := range 12 {
		s = append(s, surfaceOf(uint16(i+1), icosphere([3]float64{float64(40 * i), 0, -600}, 60, 6)))
	}
	return s
}

// countingDiscard counts bytes, for MB/s of output.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func benchWrite(b *testing.B, write func(io.Writer, []mesh.Surface) error) {
	surfaces := benchSurfaces()
	var c countingDiscard
	if err := write(&c, surfaces); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(c.n)
	tris := 0
	for _, s := range surfaces {
		tris += s.Mesh.Triangles()
	}
	b.ReportMetric(float64(tris), "triangles")
	b.ResetTimer()
	for b.Loop() {
		if err := write(io.Discard, surfaces); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteGLB(b *testing.B) {
	table := labels.TotalSegmentator()
	benchWrite(b, func(w io.Writer, s []mesh.Surface) error { return WriteGLB(w, s, table) })
}

func BenchmarkWriteOBJ(b *testing.B) {
	table := labels.TotalSegmentator()
	benchWrite(b, func(w io.Writer, s []mesh.Surface) error { return WriteOBJ(w, io.Discard, "scene.mtl", s, table) })
}

func BenchmarkWriteSTL(b *testing.B) {
	benchWrite(b, func(w io.Writer, s []mesh.Surface) error {
		for _, su := range s {
			if err := WriteSTL(w, su, "organ"); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkWrite is the whole set into a folder, files synced; the label
// map is tiny, so this measures the meshes and the file handling.
func BenchmarkWrite(b *testing.B) {
	surfaces := benchSurfaces()
	lm := testLabelMap(1, 2, 3)
	table := labels.TotalSegmentator()
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Write(dir, Source{File: "x.nii.gz", LabelMap: lm}, surfaces, table, Options{Created: created}); err != nil {
			b.Fatal(err)
		}
	}
}
