package mesh

import (
	"context"
	"testing"

	"github.com/iris-oculus/iris/internal/volume"
)

// bigLabelMap makes the benchmark's 300×300×600, 1 mm label map with 41
// organs: ct_3mm_seg upsampled ×3 by nearest neighbour, centre-cropped
// in-plane and tiled along z (as bench/cmd/biglabels does), so the shapes
// are real organs, each in several pieces.
func bigLabelMap(tb testing.TB) *volume.LabelMap {
	tb.Helper()
	src := loadLM(tb, "ct_3mm_seg.nii.gz")
	const f = 3
	dims := [3]int{300, 300, 600}
	up := [3]int{src.Dims[0] * f, src.Dims[1] * f, src.Dims[2] * f}
	off := [2]int{(up[0] - dims[0]) / 2, (up[1] - dims[1]) / 2}
	lm := &volume.LabelMap{Grid: volume.Grid{Dims: dims, Affine: identity}, Data: make([]uint16, dims[0]*dims[1]*dims[2])}
	for k := range dims[2] {
		sk := (k % up[2]) / f
		for j := range dims[1] {
			sj := (j + off[1]) / f
			if j+off[1] < 0 || sj >= src.Dims[1] {
				continue
			}
			for i := range dims[0] {
				si := (i + off[0]) / f
				if i+off[0] < 0 || si >= src.Dims[0] {
					continue
				}
				lm.Data[i+dims[0]*(j+dims[1]*k)] = src.Data[si+src.Dims[0]*(sj+src.Dims[1]*sk)]
			}
		}
	}
	return lm
}

func benchmarkBuild(b *testing.B, lm *volume.LabelMap, opt Options) {
	b.ReportAllocs()
	var tris int
	for b.Loop() {
		ss, err := Build(context.Background(), lm, opt)
		if err != nil {
			b.Fatal(err)
		}
		tris = 0
		for _, s := range ss {
			tris += s.Mesh.Triangles()
		}
	}
	b.ReportMetric(float64(tris), "triangles")
}

// BenchmarkBuild is the whole pipeline with default options on a
// 300×300×600 label map with 41 organs.
func BenchmarkBuild(b *testing.B) {
	lm := bigLabelMap(b)
	b.ResetTimer()
	benchmarkBuild(b, lm, DefaultOptions())
}

// BenchmarkBuildStages isolates extraction (no smoothing, no decimation)
// and extraction plus smoothing on the same label map.
func BenchmarkBuildStages(b *testing.B) {
	lm := bigLabelMap(b)
	for _, c := range []struct {
		name   string
		smooth float64
	}{{"extract", 0}, {"extract+smooth", 0.5}} {
		b.Run(c.name, func(b *testing.B) {
			opt := DefaultOptions()
			opt.Smooth, opt.Reduce = c.smooth, 1
			benchmarkBuild(b, lm, opt)
		})
	}
}

// BenchmarkBuildDicomSeg is the whole pipeline on the real 512×512×20
// TotalSegmentator output.
func BenchmarkBuildDicomSeg(b *testing.B) {
	lm := loadLM(b, "dicom_seg.nii.gz")
	b.ResetTimer()
	benchmarkBuild(b, lm, DefaultOptions())
}
