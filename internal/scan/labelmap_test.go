package scan

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func readImage(t *testing.T, rel ...string) *volume.Image {
	t.Helper()
	f, err := os.Open(testdata.Path(t, rel...))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := volume.Read(f, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLabelMapOf tells label maps from images by content, on the real
// example CT and TotalSegmentator's label maps of it, and on the same
// volumes stored in the ways that could be mistaken for one another.
func TestLabelMapOf(t *testing.T) {
	seg := readImage(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	dseg := readImage(t, "totalsegmentator-example", "dicom_seg.nii.gz")
	ct := readImage(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	hu, err := ct.CT()
	if err != nil {
		t.Fatal(err)
	}
	// The CT as a scanner may store it: unsigned, 1024 added, no scaling.
	raw := *ct
	raw.Datatype, raw.Slope, raw.Inter = volume.Uint16, 1, 0
	u16 := make([]uint16, len(hu.HU))
	// Windowed to 8 bits (-160..240 HU), as an image exported from a viewer.
	win := *ct
	win.Datatype, win.Slope, win.Inter = volume.Uint8, 1, 0
	u8 := make([]uint8, len(hu.HU))
	for i, v := range hu.HU {
		u16[i] = uint16(max(int(v)+1024, 0))
		u8[i] = uint8(min(max((int(v)+160)*255/400, 0), 255))
	}
	raw.Data, win.Data = u16, u8
	// The label map with a scaling, and with a foreign extension.
	scaled := *seg
	scaled.Slope, scaled.Inter = 2, 0
	phi := *seg
	phi.Extensions = append([]volume.Extension{{Code: 2, Data: []byte("PatientName=Doe^Jane")}}, seg.Extensions...)
	// A map holding one voxel: too little to be sure of.
	tiny := *seg
	one := make([]uint8, len(seg.Data.([]uint8)))
	one[100] = 5
	tiny.Data = one

	tests := []struct {
		name   string
		img    *volume.Image
		want   bool
		labels int
	}{
		{"TotalSegmentator 3 mm label map", seg, true, 41},
		{"TotalSegmentator label map of the DICOM series", dseg, true, 31},
		{"label map with a foreign extension", &phi, true, 41},
		{"CT in HU (int16, scaled)", ct, false, 0},
		{"CT stored unsigned, unscaled", &raw, false, 0},
		{"CT windowed to uint8", &win, false, 0},
		{"label map with a scaling", &scaled, false, 0},
		{"a single labelled voxel", &tiny, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lm, ok := LabelMapOf(tt.img)
			if ok != tt.want {
				t.Fatalf("LabelMapOf = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			if n := len(labels.Present(lm.Data)); n != tt.labels {
				t.Errorf("%d labels, want %d", n, tt.labels)
			}
			for _, e := range lm.Extensions {
				if !labels.IsCaret(e.Data) {
					t.Errorf("extension %d (%q…) kept; only the label table may be", e.Code, e.Data[:min(len(e.Data), 20)])
				}
			}
		})
	}
}

// TestReadLabelMaps reads the example label map with and without
// Options.LabelMaps: only with it is it a label map.
func TestReadLabelMaps(t *testing.T) {
	ctx := context.Background()
	data := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	s, err := Read(ctx, bytes.NewReader(data), int64(len(data)), Options{LabelMaps: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != LabelMap || s.Labels == nil || s.CT != nil || s.Labels.Dims != [3]int{122, 101, 30} {
		t.Fatalf("with LabelMaps: kind %q, labels %v, CT %v", s.Kind, s.Labels != nil, s.CT != nil)
	}
	s, err = Read(ctx, bytes.NewReader(data), int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "" || s.CT == nil || s.Labels != nil {
		t.Fatalf("without LabelMaps: kind %q, labels %v, CT %v", s.Kind, s.Labels != nil, s.CT != nil)
	}
	ctData := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	s, err = Read(ctx, bytes.NewReader(ctData), int64(len(ctData)), Options{LabelMaps: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "" || s.CT == nil {
		t.Fatalf("the CT with LabelMaps: kind %q, CT %v", s.Kind, s.CT != nil)
	}
}
