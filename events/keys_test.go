package events

import (
	"errors"
	"testing"
	"time"
)

var testTime = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func TestParseKey(t *testing.T) {
	tests := []struct {
		key  string
		want Key
		bad  bool
	}{
		{key: UploadKey("job123", "My Scan (1).nii.gz"), want: Key{PrefixUploads, "job123", "My_Scan__1_.nii.gz"}},
		{key: "uploads/ct.nii.gz", want: Key{PrefixUploads, "", "ct.nii.gz"}},
		{key: VolumeKey("job123"), want: Key{PrefixVolumes, "job123", VolumeFile}},
		{key: SegmentationKey("job123"), want: Key{PrefixSegmentations, "job123", SegmentationFile}},
		{key: SegmentationFailurePrefix("job123") + "error.json", want: Key{PrefixSegmentationFailures, "job123", "error.json"}},
		{key: ResultsPrefix("job123") + "stl/liver.stl", want: Key{PrefixResults, "job123", "stl/liver.stl"}},
		{key: "volumes/ct.nii.gz", bad: true},
		{key: "results/job123/", bad: true},
		{key: "elsewhere/job123/x", bad: true},
		{key: "uploads/../etc/passwd", bad: true},
		{key: "uploads/job 123/x", bad: true},
		{key: "uploads/j/x", bad: true},
		{key: "", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.key)
		if tt.bad {
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseKey(%q) = %+v, %v; want ErrBadKey", tt.key, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", tt.key, got, err, tt.want)
		}
	}
}

func TestDropJobID(t *testing.T) {
	a := DropJobID("uploads/ct.nii.gz", `"etag1"`)
	if a != DropJobID("uploads/ct.nii.gz", "etag1") {
		t.Error("quoted and bare ETag give different ids")
	}
	if a == DropJobID("uploads/ct.nii.gz", "etag2") || a == DropJobID("uploads/ct2.nii.gz", "etag1") {
		t.Error("different files give the same id")
	}
	if !ValidJobID(a) {
		t.Errorf("derived id %q is not a valid job id", a)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"ct.nii.gz":          "ct.nii.gz",
		"../../etc/passwd":   "passwd",
		`C:\scans\brain.nii`: "brain.nii",
		"...hidden":          "hidden",
		"a..b.zip":           "a.b.zip",
		"":                   "upload",
		"naïve scan.zip":     "na_ve_scan.zip",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
