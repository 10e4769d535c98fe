package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

// BenchmarkBatch is the batch throughput of iris segment (native engine)
// and iris mesh over the shared cases: the 3 mm CT and the DICOM series
// zip, and their two TotalSegmentator label maps. It reports scans per
// minute of wall time, with the default parallelism (-j from cores and
// memory); each iteration is a fresh batch into a new folder.
func BenchmarkBatch(b *testing.B) {
	scans, maps := b.TempDir(), b.TempDir()
	put := func(dir, name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	put(scans, "ct_3mm.nii.gz", testdata.Read(b, "totalsegmentator-example", "ct_3mm.nii.gz"))
	put(scans, "series.zip", testdata.DICOMSeriesZip(b))
	put(maps, "ct_3mm_seg.nii.gz", testdata.Read(b, "totalsegmentator-example", "ct_3mm_seg.nii.gz"))
	put(maps, "dicom_seg.nii.gz", testdata.Read(b, "totalsegmentator-example", "dicom_seg.nii.gz"))
	for _, bc := range []struct {
		name, verb, in string
	}{{"segment", "segment", scans}, {"mesh", "mesh", maps}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				out := filepath.Join(b.TempDir(), "out")
				if err := run(context.Background(), []string{bc.verb, bc.in, "-o", out, "-q"}, io.Discard, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(b.N)/b.Elapsed().Minutes(), "scans/min")
		})
	}
}
