package nnunet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/volume"
)

// Model is an nnU-Net v2 result folder loaded for inference: the plans,
// the dataset description and the network of one fold.
type Model struct {
	Dir     string
	Plans   *Plans
	Dataset *Dataset
	Net     *Network
}

// LoadModel reads <dir>/plans.json, <dir>/dataset.json and
// <dir>/fold_<fold>/checkpoint_final.pth (dir is the
// <trainer>__<plans>__<configuration> folder) and builds the 3d_fullres
// network.
func LoadModel(dir string, fold int) (*Model, error) {
	db, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	if err != nil {
		return nil, fmt.Errorf("nnunet model: %w", err)
	}
	ds, err := ParseDataset(db)
	if err != nil {
		return nil, err
	}
	pb, err := os.ReadFile(filepath.Join(dir, "plans.json"))
	if err != nil {
		return nil, fmt.Errorf("nnunet model: %w", err)
	}
	cfg := "3d_fullres"
	if i := strings.LastIndex(filepath.Base(dir), "__"); i >= 0 {
		cfg = filepath.Base(dir)[i+2:]
	}
	p, err := ParsePlans(pb, cfg, len(ds.Labels))
	if err != nil {
		return nil, err
	}
	ck := filepath.Join(dir, fmt.Sprintf("fold_%d", fold), "checkpoint_final.pth")
	f, err := os.Open(ck)
	if err != nil {
		return nil, fmt.Errorf("nnunet model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nnunet model: %w", err)
	}
	w, err := ReadCheckpoint(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(ck), err)
	}
	n, err := NewNetwork(p.Arch, w)
	if err != nil {
		return nil, err
	}
	return &Model{Dir: dir, Plans: p, Dataset: ds, Net: n}, nil
}

// TotalSegmentatorSpacing is the spacing, in mm, TotalSegmentator's
// --fast mode resamples to before calling nnU-Net (task 297, "resample
// 3.0"), and TotalSegmentatorStep the tile step it passes for "total".
const (
	TotalSegmentatorSpacing = 3.0
	TotalSegmentatorStep    = 0.8
)

// Pipeline is TotalSegmentator's nnUNet_predict_image around one nnU-Net
// model, step by step (see the package documentation): reorient to RAS,
// resample to Spacing, nnU-Net's preprocessing, sliding window, argmax,
// and the way back.
type Pipeline struct {
	Model    *Model
	Spacing  float64  // mm; 0 means TotalSegmentatorSpacing
	Step     float64  // 0 means TotalSegmentatorStep
	Progress Progress // tiles done of total
}

// Segment returns the class ids (0 = background) of ct on its own grid,
// indexed like ct.HU.
func (p *Pipeline) Segment(ctx context.Context, ct *volume.CT) ([]uint16, error) {
	if ct == nil || ct.Len() == 0 || len(ct.HU) != ct.Len() {
		return nil, errors.New("nnunet: empty or inconsistent CT")
	}
	spacing, step := p.Spacing, p.Step
	if spacing == 0 {
		spacing = TotalSegmentatorSpacing
	}
	if step == 0 {
		step = TotalSegmentatorStep
	}
	// 1. as_closest_canonical: voxel axis i runs along world axis ax[i]
	ax, flip, err := orientation(ct.Affine)
	if err != nil {
		return nil, err
	}
	var cd [3]int      // canonical dims, (i, j, k) = (R, A, S)
	var csp [3]float64 // canonical spacing as nibabel's header stores it (float32)
	sp := ct.Spacing()
	for i := range 3 {
		cd[ax[i]] = ct.Dims[i]
		csp[ax[i]] = float64(float32(sp[i]))
	}
	canon := make([]int16, ct.Len())
	forEachVoxel(ct.Dims, func(v int, idx [3]int) {
		canon[canonIndex(idx, ax, flip, ct.Dims, cd)] = ct.HU[v]
	})
	// 2. change_spacing to the model spacing (order 1, int32), skipped when
	// the spacing is already exactly it (np.array_equal)
	td := [3]int{cd[2], cd[1], cd[0]} // the array as nnU-Net's reader gives it: (z, y, x)
	var img []float32
	resampled := false
	for i := range 3 {
		if csp[i] != spacing {
			resampled = true
		}
	}
	if resampled {
		var zoom [3]float64
		for i := range 3 {
			zoom[2-i] = csp[i] / spacing
		}
		nd := zoomShape(td, zoom)
		if nd[0]*nd[1]*nd[2] == 0 || nd[0]*nd[1]*nd[2] > 1<<28 {
			return nil, fmt.Errorf("nnunet: resampling %v to %g mm gives %v voxels", td, spacing, nd)
		}
		img = zoomLinear(canon, td, nd)
		td = nd
	} else {
		img = make([]float32, len(canon))
		for i, v := range canon {
			img[i] = float32(v)
		}
	}
	canon = nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// 3. nnU-Net: transpose_forward, then its own resampling, which is a
	// no-op when the shape it computes is the one it has
	pl := p.Model.Plans
	tf := pl.TransposeForward
	img, nd := transpose(img, td, tf)
	for a := range 3 {
		old := spacing
		if want := int(math.RoundToEven(old / pl.Spacing[a] * float64(nd[a]))); want != nd[a] {
			return nil, fmt.Errorf("nnunet: the model's spacing %v needs nnU-Net's own resampling, which is not ported", pl.Spacing)
		}
	}
	// 4. crop to the bounding box of non-zero voxels
	lo, hi := nonzeroBox(img, nd)
	seg := make([]uint16, nd[0]*nd[1]*nd[2])
	if lo[0] < hi[0] {
		cdims := [3]int{hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]}
		crop := make([]float32, cdims[0]*cdims[1]*cdims[2])
		for z := range cdims[0] {
			for y := range cdims[1] {
				o := ((z+lo[0])*nd[1]+y+lo[1])*nd[2] + lo[2]
				copy(crop[(z*cdims[1]+y)*cdims[2]:], img[o:o+cdims[2]])
			}
		}
		img = nil
		// 5. CTNormalization
		ctNormalize(crop, pl.Intensity)
		// 6. sliding window, 7. argmax
		pr := &Predictor{Net: p.Model.Net, Patch: pl.PatchSize, Step: step, Progress: p.Progress}
		ids, err := pr.Labels(ctx, crop, cdims)
		if err != nil {
			return nil, err
		}
		for z := range cdims[0] {
			for y := range cdims[1] {
				o := ((z+lo[0])*nd[1]+y+lo[1])*nd[2] + lo[2]
				copy(seg[o:o+cdims[2]], ids[(z*cdims[1]+y)*cdims[2]:(z*cdims[1]+y+1)*cdims[2]])
			}
		}
	}
	// 8. transpose_backward, resample back (order 0), undo the reorientation
	seg, nd = transposeBack(seg, nd, tf)
	want := [3]int{cd[2], cd[1], cd[0]}
	if nd != want {
		seg = zoomNearest(seg, nd, want)
	}
	out := make([]uint16, ct.Len())
	forEachVoxel(ct.Dims, func(v int, idx [3]int) {
		out[v] = seg[canonIndex(idx, ax, flip, ct.Dims, cd)]
	})
	return out, nil
}

// orientation is nibabel's io_orientation (through volume's Orientation):
// per voxel axis the RAS axis it runs along and whether it runs backwards.
func orientation(a volume.Affine) (ax [3]int, flip [3]bool, err error) {
	code := a.Orientation()
	seen := [3]bool{}
	for i := range 3 {
		switch code[i] {
		case 'R', 'L':
			ax[i] = 0
		case 'A', 'P':
			ax[i] = 1
		case 'S', 'I':
			ax[i] = 2
		default:
			return ax, flip, fmt.Errorf("nnunet: affine has no orientation (%s)", code)
		}
		flip[i] = code[i] == 'L' || code[i] == 'P' || code[i] == 'I'
		if seen[ax[i]] {
			return ax, flip, fmt.Errorf("nnunet: orientation %s", code)
		}
		seen[ax[i]] = true
	}
	return ax, flip, nil
}

// canonIndex maps voxel idx (i, j, k) of dims to its linear index in the
// canonical array of dims cd (first axis fastest).
func canonIndex(idx [3]int, ax [3]int, flip [3]bool, dims, cd [3]int) int {
	var c [3]int
	for i := range 3 {
		v := idx[i]
		if flip[i] {
			v = dims[i] - 1 - v
		}
		c[ax[i]] = v
	}
	return c[0] + cd[0]*(c[1]+cd[1]*c[2])
}

func forEachVoxel(dims [3]int, fn func(v int, idx [3]int)) {
	v := 0
	for k := range dims[2] {
		for j := range dims[1] {
			for i := range dims[0] {
				fn(v, [3]int{i, j, k})
				v++
			}
		}
	}
}

// transpose permutes the axes of a (d0, d1, d2) array: out axis a is in
// axis perm[a] (numpy's transpose).
func transpose[T any](x []T, dims [3]int, perm [3]int) ([]T, [3]int) {
	if perm == [3]int{0, 1, 2} {
		return x, dims
	}
	nd := [3]int{dims[perm[0]], dims[perm[1]], dims[perm[2]]}
	out := make([]T, len(x))
	var st [3]int
	st[0], st[1], st[2] = dims[1]*dims[2], dims[2], 1
	for a := range nd[0] {
		for b := range nd[1] {
			for c := range nd[2] {
				out[(a*nd[1]+b)*nd[2]+c] = x[a*st[perm[0]]+b*st[perm[1]]+c*st[perm[2]]]
			}
		}
	}
	return out, nd
}

// transposeBack undoes transpose(x, _, perm).
func transposeBack[T any](x []T, dims [3]int, perm [3]int) ([]T, [3]int) {
	var inv [3]int
	for a, p := range perm {
		inv[p] = a
	}
	return transpose(x, dims, inv)
}

// nonzeroBox is the half-open bounding box of the non-zero voxels
// (nnU-Net's crop_to_nonzero; filling holes in the mask cannot change its
// box). An all-zero image gives an empty box.
func nonzeroBox(x []float32, dims [3]int) (lo, hi [3]int) {
	lo = dims
	for z := range dims[0] {
		for y := range dims[1] {
			row := x[(z*dims[1]+y)*dims[2] : (z*dims[1]+y+1)*dims[2]]
			for xi, v := range row {
				if v != 0 {
					lo = [3]int{min(lo[0], z), min(lo[1], y), min(lo[2], xi)}
					hi = [3]int{max(hi[0], z+1), max(hi[1], y+1), max(hi[2], xi+1)}
				}
			}
		}
	}
	return lo, hi
}

// ctNormalize is nnU-Net's CTNormalization in float32: clip to the 0.5
// and 99.5 percentiles, subtract the mean, divide by max(std, 1e-8).
func ctNormalize(x []float32, in Intensity) {
	lo, hi := float32(in.Percentile005), float32(in.Percentile995)
	mean, std := float32(in.Mean), float32(max(in.Std, 1e-8))
	for i, v := range x {
		v = min(max(v, lo), hi)
		v -= mean
		x[i] = v / std
	}
}

// LabelMap wraps class ids as a label map of ct's grid whose values are
// the TotalSegmentator v2 "total" label values, with the Caret label table
// extension of the classes present. Class id c of a TotalSegmentator model
// is label value c (TotalSegmentator's class_map["total"] numbers the
// network's output channels); names come from labels.TotalSegmentator,
// which follows TotalSegmentator's current class_map (the rib names of
// the v2.0.0 dataset.json were in the wrong order; see the package doc).
func LabelMap(g volume.Grid, ids []uint16) *volume.LabelMap {
	t := labels.TotalSegmentator()
	present := labels.Present(ids)
	var classes []labels.Class
	for _, v := range present {
		if v != 0 {
			classes = append(classes, t.Class(v))
		}
	}
	return &volume.LabelMap{
		Grid:       g,
		Data:       ids,
		Extensions: []volume.Extension{{Code: labels.CaretExtensionCode, Data: labels.Caret(classes)}},
	}
}

// CheckTotalSegmentatorLabels reports an error when the dataset's labels
// are not TotalSegmentator's "total" classes under the same ids (ribs,
// whose names v2.0.0 listed in a different order, excepted): another
// model would silently be labelled wrongly.
func CheckTotalSegmentatorLabels(ds *Dataset) error {
	t := labels.TotalSegmentator()
	for name, id := range ds.Labels {
		if id == 0 || strings.HasPrefix(name, "rib_") {
			continue
		}
		c, ok := t.ByName(name)
		if !ok || int(c.Value) != id {
			return fmt.Errorf("nnunet: class %d %q of the model is not TotalSegmentator's %q", id, name, t.Class(uint16(id)).Name)
		}
	}
	return nil
}

// Engine is TotalSegmentator's --fast "total" model run in Go: the weights
// are found or downloaded (ResolveWeights) and loaded at the first
// Segment, then kept. It satisfies internal/segment's Engine interface and
// is safe for concurrent use (each Segment then uses all cores).
type Engine struct {
	Task     Task // zero means TotalFast
	Weights  WeightsOptions
	Progress Progress // tiles done of total, for every Segment without its own (see WithProgress)

	mu    sync.Mutex
	model *Model
}

// EngineName is the name the engine goes by in iris segment and serve.
const EngineName = "totalseg-fast"

// Name returns EngineName.
func (*Engine) Name() string { return EngineName }

// Load resolves and reads the weights unless done already; a failure is
// not remembered, so a later call tries again.
func (e *Engine) Load(ctx context.Context) (*Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.model != nil {
		return e.model, nil
	}
	task := e.Task
	if task.Dataset == "" {
		task = TotalFast
	}
	dir, err := ResolveWeights(ctx, task, e.Weights)
	if err != nil {
		return nil, err
	}
	m, err := LoadModel(dir, 0)
	if err != nil {
		return nil, err
	}
	if err := CheckTotalSegmentatorLabels(m.Dataset); err != nil {
		return nil, err
	}
	e.model = m
	return m, nil
}

type progressKey struct{}

// WithProgress returns a context whose Segment calls report tiles done to fn.
func WithProgress(ctx context.Context, fn Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Segment labels ct with the TotalSegmentator v2 "total" values.
func (e *Engine) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	m, err := e.Load(ctx)
	if err != nil {
		return nil, err
	}
	prog := e.Progress
	if fn, ok := ctx.Value(progressKey{}).(Progress); ok && fn != nil {
		prog = fn
	}
	ids, err := (&Pipeline{Model: m, Progress: prog}).Segment(ctx, ct)
	if err != nil {
		return nil, err
	}
	return LabelMap(ct.Grid, ids), nil
}
