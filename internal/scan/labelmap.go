package scan

import (
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/volume"
)

// LabelMap is the Kind of a scan that is a segmentation already: an
// integer label map (TotalSegmentator's, 3D Slicer's, nnU-Net's output),
// read with Options.LabelMaps.
const LabelMap = "labelmap"

// Bounds of what reads as a label map rather than an image. A label is an
// identifier: few distinct values, stored unscaled, and constant across
// each structure, so that nearly every labelled voxel has the same value
// as its neighbour along i. A CT, even one stored unsigned or windowed to
// 8 bits, has hundreds of values and noise that changes from one voxel to
// the next.
const (
	maxLabelValues    = 1000 // distinct non-zero values; TotalSegmentator's largest task has 117
	minLabelCoherence = 0.6  // labelled voxels whose i-neighbour holds the same label (TotalSegmentator's 3 mm map: 0.90; the 3 mm CT windowed to 8 bits: 0.03)
	minLabelledVoxels = 8    // a map with fewer labelled voxels is not recognised as one
)

// LabelMapOf returns img as a label map when its content says it is one:
// integer values 0..65535 (an integral float image qualifies), stored
// without scaling, at most 1000 distinct labels, and each structure of one
// value (see the bounds above). Only the label-table extension (the Caret
// XML TotalSegmentator writes) is kept of the file's extensions: the
// others may carry patient data. ok is false for anything else, which is
// then read as an image.
func LabelMapOf(img *volume.Image) (lm *volume.LabelMap, ok bool) {
	if slope, inter := img.Scaling(); slope != 1 || inter != 0 {
		return nil, false
	}
	if !img.Datatype.Integer() && img.Datatype != volume.Float32 && img.Datatype != volume.Float64 {
		return nil, false
	}
	m, err := img.LabelMap()
	if err != nil {
		return nil, false
	}
	if !looksLabelled(m) {
		return nil, false
	}
	var keep []volume.Extension
	for _, e := range m.Extensions {
		if labels.IsCaret(e.Data) {
			keep = append(keep, e)
		}
	}
	m.Extensions = keep
	return m, true
}

// looksLabelled measures the distinct values and the coherence of lm.
func looksLabelled(lm *volume.LabelMap) bool {
	var seen [1 << 16]bool
	distinct := 0
	labelled, same := 0, 0
	nx := lm.Dims[0]
	for p, v := range lm.Data {
		if v == 0 {
			continue
		}
		labelled++
		if !seen[v] {
			seen[v] = true
			distinct++
			if distinct > maxLabelValues {
				return false
			}
		}
		if p%nx != nx-1 && lm.Data[p+1] == v {
			same++
		}
	}
	if labelled < minLabelledVoxels {
		return false
	}
	return float64(same)/float64(labelled) >= minLabelCoherence
}
