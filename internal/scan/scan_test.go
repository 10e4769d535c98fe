package scan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/testdata"
)

func TestReadEveryForm(t *testing.T) {
	ctx := context.Background()
	dcmDir := testdata.Path(t, "totalsegmentator-example", "dicom")
	zipped := testdata.DICOMSeriesZip(t)
	zipPath := filepath.Join(t.TempDir(), "series.bin") // a name that says nothing
	if err := os.WriteFile(zipPath, zipped, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		open   func() (*Scan, error)
		format string
		dims   [3]int
	}{
		{"nifti file", func() (*Scan, error) {
			return ReadFile(ctx, testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"), Options{})
		}, NIfTI, [3]int{122, 101, 30}},
		{"dicom folder", func() (*Scan, error) { return ReadFile(ctx, dcmDir, Options{}) }, DICOM, [3]int{512, 512, 20}},
		{"dicom zip file", func() (*Scan, error) { return ReadFile(ctx, zipPath, Options{}) }, DICOM, [3]int{512, 512, 20}},
		{"dicom zip bytes", func() (*Scan, error) { return Read(ctx, bytes.NewReader(zipped), int64(len(zipped)), Options{}) }, DICOM, [3]int{512, 512, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != tt.format || s.CT.Dims != tt.dims || len(s.CT.HU) != tt.dims[0]*tt.dims[1]*tt.dims[2] {
				t.Fatalf("got %s %v (%d voxels), want %s %v", s.Format, s.CT.Dims, len(s.CT.HU), tt.format, tt.dims)
			}
			if (s.DICOM != nil) != (tt.format == DICOM) {
				t.Errorf("DICOM result present = %v for %s", s.DICOM != nil, tt.format)
			}
		})
	}
}

func TestReadRefusesOtherInput(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testdata.Path(t, "totalsegmentator-example", "dicom"), "*"))
	if err != nil || len(files) == 0 {
		t.Fatal("no DICOM files", err)
	}
	oneSlice, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"text", []byte("hello, this is not a scan at all; it is a text file of some length"), ErrUnknownFormat},
		{"empty", nil, ErrUnknownFormat},
		{"png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 400)...), ErrUnknownFormat},
		{"single dicom slice", oneSlice, dicom.ErrTooFewSlices},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(ctx, bytes.NewReader(tt.data), int64(len(tt.data)), Options{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}
