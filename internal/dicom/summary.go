package dicom

import (
	"fmt"
	"strings"
)

// Summary describes the conversion for people, in a few lines: the series
// chosen and why, its grid, orientation and transfer syntax, the other
// series and the warnings.
func (r *Result) Summary() string {
	var b strings.Builder
	i := r.Info
	fmt.Fprintf(&b, "series: %s\n", describe(r.Chosen))
	scanner := strings.TrimSpace(i.Manufacturer + " " + i.ManufacturerModel)
	if scanner != "" {
		fmt.Fprintf(&b, "scanner: %s", scanner)
		if i.KVP != "" {
			fmt.Fprintf(&b, ", %s kVp", i.KVP)
		}
		if i.ConvolutionKernel != "" {
			fmt.Fprintf(&b, ", kernel %s", i.ConvolutionKernel)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "grid: %d×%d×%d voxels of %.4g×%.4g×%.4g mm, orientation %s",
		i.Cols, i.Rows, i.Slices, i.PixelSpacing[1], i.PixelSpacing[0], i.SliceSpacing, i.Orientation)
	if i.SliceThickness > 0 {
		fmt.Fprintf(&b, " (slice thickness %.4g mm)", i.SliceThickness)
	}
	fmt.Fprintf(&b, "\ntransfer syntax: %s", i.TransferSyntax)
	if strings.Contains(i.TransferSyntax, tsJ2KLossless+" ") || strings.Contains(i.TransferSyntax, tsJ2K+" ") {
		fmt.Fprintf(&b, ", decoded by %s", JPEG2000Decoder())
	}
	b.WriteByte('\n')
	if len(r.Series) > 1 {
		fmt.Fprintf(&b, "%d series found:\n", len(r.Series))
		for _, s := range r.Series {
			mark := "-"
			if s.Chosen {
				mark = "*"
			}
			fmt.Fprintf(&b, "  %s %s\n", mark, describe(s))
		}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func describe(s SeriesSummary) string {
	var b strings.Builder
	if s.Number != 0 {
		fmt.Fprintf(&b, "#%d ", s.Number)
	}
	if s.Description != "" {
		fmt.Fprintf(&b, "%q ", s.Description)
	}
	modality := s.Modality
	if modality == "" {
		modality = "no modality"
	}
	fmt.Fprintf(&b, "(%s, %d slices of %d×%d): %s", modality, s.Slices, s.Cols, s.Rows, s.Reason)
	return b.String()
}
