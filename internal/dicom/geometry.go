package dicom

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/iris-oculus/iris/internal/volume"
)

// Geometry tolerances. Positions are decimal strings, often rounded to
// 0.01 mm or worse, so a step may wander by that much without the stack
// being irregular.
const (
	dupTolerance   = 0.01 // mm along the normal: closer positions are one slice
	stepToleranceA = 0.01 // mm, plus
	stepToleranceR = 0.01 // of the mean step
	tiltMinDegrees = 0.1  // and
	tiltMinOffset  = 0.05 // mm over the whole stack, before a stack counts as tilted
)

type vec3 [3]float64

func (a vec3) sub(b vec3) vec3      { return vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec3) add(b vec3) vec3      { return vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec3) scale(s float64) vec3 { return vec3{a[0] * s, a[1] * s, a[2] * s} }
func (a vec3) dot(b vec3) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec3) norm() float64        { return math.Sqrt(a.dot(a)) }
func (a vec3) cross(b vec3) vec3 {
	return vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func (a vec3) unit() vec3             { return a.scale(1 / a.norm()) }
func rowCos(h *header) vec3           { return vec3{h.iop[0], h.iop[1], h.iop[2]} }
func colCos(h *header) vec3           { return vec3{h.iop[3], h.iop[4], h.iop[5]} }
func normal(h *header) vec3           { return rowCos(h).cross(colCos(h)).unit() }
func along(h *header, n vec3) float64 { return vec3(h.ipp).dot(n) }

// sortSlices orders the series by position along the slice normal
// (row × column direction cosines) — InstanceNumber is not trusted — drops
// repeated instances of one slice, and refuses stacks that are not a
// regular grid: duplicates, gantry tilt, uneven spacing or missing slices.
// Tilted stacks are refused rather than resampled: resampling would
// invent voxels, and the caller can rescan or resample knowingly.
func sortSlices(hs []*header) ([]*header, []string, error) {
	n := normal(hs[0])
	if math.IsNaN(n[0]) {
		return nil, nil, fmt.Errorf("%w: degenerate ImageOrientationPatient %v", ErrCorrupt, hs[0].iop)
	}
	hs = slices.Clone(hs)
	slices.SortStableFunc(hs, func(a, b *header) int { return cmp.Compare(along(a, n), along(b, n)) })
	var warnings []string
	kept, dups := hs[:1], 0
	for _, h := range hs[1:] {
		prev := kept[len(kept)-1]
		if along(h, n)-along(prev, n) >= dupTolerance {
			kept = append(kept, h)
			continue
		}
		if h.sopUID == "" || h.sopUID != prev.sopUID {
			return nil, nil, fmt.Errorf("%w: two different images at %.3f mm along the slice normal (several phases, echoes or reconstructions in one series?)",
				ErrDuplicateSlices, along(h, n))
		}
		dups++
	}
	if dups > 0 {
		warnings = append(warnings, fmt.Sprintf("dropped %d repeated copies of the same instance", dups))
	}
	if len(kept) < 2 {
		return nil, nil, fmt.Errorf("%w: all images lie at one position", ErrTooFewSlices)
	}
	if err := checkSpacing(kept, n); err != nil {
		return nil, nil, err
	}
	return kept, warnings, nil
}

// checkSpacing refuses tilted stacks and uneven or gapped spacing, naming
// what it measured.
func checkSpacing(hs []*header, n vec3) error {
	first, last := vec3(hs[0].ipp), vec3(hs[len(hs)-1].ipp)
	total := last.sub(first)
	axial := total.dot(n)
	lateral := total.sub(n.scale(axial)).norm()
	tilt := math.Atan2(lateral, axial) * 180 / math.Pi
	if tilt > tiltMinDegrees && lateral > tiltMinOffset {
		return fmt.Errorf("%w: the stack leans %.2f° from the slice normal (%.2f mm sideways over %.2f mm; GantryDetectorTilt %.2f°); tilted series are refused, not resampled",
			ErrGantryTilt, tilt, lateral, axial, hs[0].gantryTilt)
	}
	mean := total.scale(1 / float64(len(hs)-1))
	tol := stepToleranceA + stepToleranceR*mean.norm()
	steps := make([]float64, len(hs)-1)
	bad := -1
	for k := range steps {
		d := vec3(hs[k+1].ipp).sub(vec3(hs[k].ipp))
		steps[k] = d.dot(n)
		if bad < 0 && d.sub(mean).norm() > tol {
			bad = k
		}
	}
	if bad < 0 {
		return nil
	}
	sorted := slices.Clone(steps)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	var gaps []string
	for k, s := range steps {
		if s > 1.5*median && len(gaps) < 5 {
			gaps = append(gaps, fmt.Sprintf("%.2f mm between %.2f and %.2f (about %d missing)",
				s, along(hs[k], n), along(hs[k+1], n), int(math.Round(s/median))-1))
		}
	}
	detail := ""
	if len(gaps) > 0 {
		detail = "; gaps: " + strings.Join(gaps, "; ")
	}
	return fmt.Errorf("%w: steps along the normal range %.3f–%.3f mm (median %.3f, tolerance ±%.3f)%s",
		ErrIrregularSpacing, sorted[0], sorted[len(sorted)-1], median, tol, detail)
}

// affine maps (i, j, k) to RAS millimetres the way dcm2niix does, so the
// volume matches its NIfTI voxel for voxel: i along the row direction, j
// up the rows (dcm2niix flips them: j = rows−1−row), k along the sorted
// stack; the slice step is the mean position step, not SliceThickness.
func affine(hs []*header) volume.Affine {
	h := hs[0]
	x := rowCos(h).scale(h.spacing[1])
	y := colCos(h).scale(h.spacing[0])
	first, last := vec3(h.ipp), vec3(hs[len(hs)-1].ipp)
	z := last.sub(first).scale(1 / float64(len(hs)-1))
	origin := first.add(y.scale(float64(h.rows - 1)))
	cols := [4]vec3{x, y.scale(-1), z, origin}
	var a volume.Affine
	for c, v := range cols {
		a[0][c], a[1][c], a[2][c] = 0-v[0], 0-v[1], v[2] // LPS → RAS (0−x: no −0)
	}
	a[3][3] = 1
	return a
}

// axisCodes names the direction each voxel axis increases toward, as
// nibabel's aff2axcodes.
func axisCodes(a volume.Affine) string {
	var b strings.Builder
	for c := 0; c < 3; c++ {
		best := 0
		for r := 1; r < 3; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[best][c]) {
				best = r
			}
		}
		pos, neg := "RAS"[best], "LPI"[best]
		if a[best][c] >= 0 {
			b.WriteByte(pos)
		} else {
			b.WriteByte(neg)
		}
	}
	return b.String()
}
