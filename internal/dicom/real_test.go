package dicom

import (
	"strings"
	"testing"
)

// TestRealSeries converts the real JPEG 2000 series and compares it with
// dcm2niix: every voxel in HU and the affine within 1e-4.
func TestRealSeries(t *testing.T) {
	ref := realReference(t)
	res := readDir(t, realSeriesDir(t))
	compareCT(t, res.CT, ref)

	i := res.Info
	if i.Rows != 512 || i.Cols != 512 || i.Slices != 20 || i.Modality != "CT" || i.Orientation != "LAS" {
		t.Errorf("info %+v", i)
	}
	if i.SliceSpacing != 2 || i.SliceThickness != 3 || i.PixelSpacing != [2]float64{0.9765625, 0.9765625} {
		t.Errorf("spacing %v×%v, thickness %v", i.PixelSpacing, i.SliceSpacing, i.SliceThickness)
	}
	if !strings.HasPrefix(i.TransferSyntax, "1.2.840.10008.1.2.4.90 (JPEG 2000") {
		t.Errorf("transfer syntax %q", i.TransferSyntax)
	}
	if i.AcquisitionDate != "" {
		t.Errorf("acquisition date %q kept without KeepDate", i.AcquisitionDate)
	}
	if len(res.Series) != 1 || !res.Chosen.Chosen || res.Chosen.Slices != 20 {
		t.Errorf("series %+v, chosen %+v", res.Series, res.Chosen)
	}
	sum := res.Summary()
	for _, want := range []string{
		"512×512×20 voxels of 0.9766×0.9766×2 mm, orientation LAS (slice thickness 3 mm)",
		"transfer syntax: 1.2.840.10008.1.2.4.90",
		"), decoded by " + JPEG2000Decoder() + "\n",
		"SliceThickness 3 mm differs from the 2 mm between slice positions",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	t.Logf("\n%s", sum)
}
