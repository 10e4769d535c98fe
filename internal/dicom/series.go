package dicom

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/suyashkumar/dicom/pkg/uid"
)

// maxLocalizers is how many images of another orientation a series may
// carry and still have them dropped as localizers; more is a series that
// mixes orientations.
const maxLocalizers = 3

// series is the files of one series and what was decided about it.
type series struct {
	files    []*header
	summary  SeriesSummary
	problem  string // why it is not a candidate; "" if it is
	offAxis  int    // images dropped for disagreeing with the majority orientation
	localize int    // images dropped for ImageType LOCALIZER
	repeats  int    // files repeating a SOP instance already seen
}

// seriesKey groups files by SeriesInstanceUID. Anonymised data often has
// it emptied, so the fallback key is what one reconstruction shares: frame
// of reference, series number, kernel, orientation, matrix and spacing.
func seriesKey(h *header) string {
	if h.seriesUID != "" {
		return "uid:" + h.seriesUID
	}
	return fmt.Sprintf("geo:%s|%d|%s|%s|%s|%dx%d|%.4f,%.4f", h.frameRef, h.seriesNumber, h.modality, h.kernel,
		iopKey(h), h.rows, h.cols, h.spacing[0], h.spacing[1])
}

func iopKey(h *header) string {
	if !h.hasIOP {
		return "-"
	}
	var b strings.Builder
	for _, v := range h.iop {
		fmt.Fprintf(&b, "%.3f,", v+0) // +0 folds -0 into 0
	}
	return b.String()
}

// groupSeries groups headers by seriesKey, in order of first appearance.
func groupSeries(hs []*header) []*series {
	index := map[string]*series{}
	var out []*series
	for _, h := range hs {
		k := seriesKey(h)
		s := index[k]
		if s == nil {
			s = &series{}
			index[k] = s
			out = append(out, s)
		}
		s.files = append(s.files, h)
	}
	for _, s := range out {
		s.assess()
	}
	return out
}

// assess drops localizers and decides whether the series is a candidate.
func (s *series) assess() {
	h0 := s.files[0]
	s.summary = SeriesSummary{
		Number: h0.seriesNumber, Description: h0.description, Modality: h0.modality,
		Rows: h0.rows, Cols: h0.cols, TransferSyntax: syntaxName(h0.ts),
	}
	images := s.files[:0:0]
	seen := map[string]bool{}
	for _, h := range s.files {
		switch {
		case h.sopUID != "" && seen[h.sopUID]:
			s.repeats++
		case !h.hasPixels || h.rows == 0 || h.cols == 0:
		case slices.ContainsFunc(h.imageType, func(t string) bool { return strings.EqualFold(t, "LOCALIZER") }):
			s.localize++
		default:
			images = append(images, h)
		}
		seen[h.sopUID] = true
	}
	images, s.offAxis = dropOffAxis(images)
	s.summary.Slices = len(images)
	defer func() { s.summary.Reason = s.problem }()
	switch {
	case len(images) == 0 && s.localize > 0:
		s.problem = "localizer"
		return
	case len(images) == 0:
		s.problem = "no image pixel data (SOP class " + sopName(h0.sopClass) + ")"
		return
	}
	s.files = images
	h := images[0]
	s.summary.Rows, s.summary.Cols = h.rows, h.cols
	switch {
	case !strings.EqualFold(h.modality, "CT"):
		s.problem = fmt.Sprintf("modality %q, not CT", h.modality)
	case h.frames > 1 || strings.HasPrefix(h.sopClass, "1.2.840.10008.5.1.4.1.1.2."):
		s.problem = fmt.Sprintf("multi-frame (enhanced) CT with %d frames per file is not supported", h.frames)
	case h.samples != 1:
		s.problem = fmt.Sprintf("colour images (%d samples per pixel)", h.samples)
	case !h.hasIPP || !h.hasIOP || !h.hasSpace:
		s.problem = "no image position, orientation or pixel spacing"
	}
}

// dropOffAxis removes the few images whose orientation disagrees with the
// majority (localizers not labelled as such). When more than maxLocalizers
// disagree, it keeps them all: check reports the mixed orientations.
func dropOffAxis(hs []*header) ([]*header, int) {
	count := map[string]int{}
	best, bestN := "", 0
	for _, h := range hs {
		k := iopKey(h)
		count[k]++
		if count[k] > bestN {
			best, bestN = k, count[k]
		}
	}
	if len(hs)-bestN == 0 || len(hs)-bestN > maxLocalizers {
		return hs, 0
	}
	kept := hs[:0:0]
	for _, h := range hs {
		if iopKey(h) == best {
			kept = append(kept, h)
		}
	}
	return kept, len(hs) - len(kept)
}

// choose picks the candidate with the most slices and fills every
// summary's Chosen and Reason.
func choose(all []*series) (*series, error) {
	var best *series
	for _, s := range all {
		if s.problem == "" && (best == nil || len(s.files) > len(best.files)) {
			best = s
		}
	}
	if best == nil {
		var b strings.Builder
		for i, s := range all {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", s.label(), s.problem)
		}
		return nil, fmt.Errorf("%w among %d series (%s)", ErrNoCTSeries, len(all), b.String())
	}
	for _, s := range all {
		switch {
		case s == best:
			s.summary.Chosen = true
			s.summary.Reason = fmt.Sprintf("CT series with the most slices (%d)", len(s.files))
		case s.problem == "":
			s.summary.Reason = fmt.Sprintf("fewer slices (%d) than %s (%d)", len(s.files), best.label(), len(best.files))
		}
	}
	return best, nil
}

// label names a series for people: number and description, no UID.
func (s *series) label() string {
	l := "series"
	if s.summary.Number != 0 {
		l += fmt.Sprintf(" #%d", s.summary.Number)
	}
	if s.summary.Description != "" {
		l += fmt.Sprintf(" %q", s.summary.Description)
	}
	return l
}

// check validates the chosen series beyond what choosing needs: enough
// slices, one geometry, decodable syntaxes and sample layouts.
func (s *series) check() error {
	if len(s.files) < 2 {
		return fmt.Errorf("%w: %s has %d image", ErrTooFewSlices, s.label(), len(s.files))
	}
	sizes := map[string]int{}
	for _, h := range s.files {
		sizes[fmt.Sprintf("%d×%d px, spacing %g×%g mm, orientation %s", h.cols, h.rows, h.spacing[0], h.spacing[1],
			strings.TrimSuffix(iopKey(h), ","))]++
	}
	if len(sizes) > 1 {
		var parts []string
		for k, n := range sizes {
			parts = append(parts, fmt.Sprintf("%d files of %s", n, k))
		}
		slices.Sort(parts)
		return fmt.Errorf("%w: %s has %s", ErrMixedGeometry, s.label(), strings.Join(parts, "; "))
	}
	seen := map[string]bool{}
	for _, h := range s.files {
		if !seen[h.ts] {
			seen[h.ts] = true
			if _, err := decoderFor(h.ts); err != nil {
				return fmt.Errorf("%s: %w", s.label(), err)
			}
		}
		switch h.bitsAllocated {
		case 8, 16, 32:
		default:
			return fmt.Errorf("%w: BitsAllocated %d", ErrUnsupportedImage, h.bitsAllocated)
		}
		if h.bitsStored > h.bitsAllocated || h.bitsStored < 1 {
			return fmt.Errorf("%w: BitsStored %d with BitsAllocated %d", ErrCorrupt, h.bitsStored, h.bitsAllocated)
		}
		if math.IsNaN(h.slope) || math.IsInf(h.slope, 0) || math.IsNaN(h.intercept) || math.IsInf(h.intercept, 0) {
			return fmt.Errorf("%w: rescale slope %g intercept %g", ErrCorrupt, h.slope, h.intercept)
		}
	}
	return nil
}

// syntaxes lists the distinct transfer syntaxes of hs, by UID and name.
func syntaxes(hs []*header) string {
	var out []string
	for _, h := range hs {
		n := syntaxName(h.ts)
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

// sopName is a SOP class's name from the DICOM dictionary.
func sopName(u string) string {
	if u == "" {
		return "none"
	}
	if info, err := uid.Lookup(u); err == nil {
		return info.Name
	}
	return u
}
