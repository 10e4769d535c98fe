package nnunet

import (
	"context"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func sharedCT(t testing.TB) *volume.CT {
	t.Helper()
	im, err := volume.ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := im.CT()
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// fromNumpy reorders a C-order numpy array indexed [i][j][k] (nibabel's
// axes) to our layout (i fastest).
func fromNumpy(a []float64, dims [3]int) []float64 {
	out := make([]float64, len(a))
	for i := range dims[0] {
		for j := range dims[1] {
			for k := range dims[2] {
				out[i+dims[0]*(j+dims[1]*k)] = a[(i*dims[1]+j)*dims[2]+k]
			}
		}
	}
	return out
}

func dims3(s []int) [3]int { return [3]int{s[0], s[1], s[2]} }

// TestCTNormalization compares with nnU-Net's CTNormalization on a corner
// of the shared CT.
func TestCTNormalization(t *testing.T) {
	ref := tinyRef(t)
	p, _, _ := loadTiny(t)
	ct := sharedCT(t)
	want := ref["norm:out"]
	d := dims3(want.shape)
	var x []float32
	for i := range d[0] {
		for j := range d[1] {
			for k := range d[2] {
				x = append(x, float32(ct.HU[i+ct.Dims[0]*(j+ct.Dims[1]*k)]))
			}
		}
	}
	ctNormalize(x, p.Intensity)
	for i := range x {
		if x[i] != float32(want.f64[i]) {
			t.Fatalf("value %d: %v, want %v", i, x[i], want.f64[i])
		}
	}
}

// TestZoom compares the resampling with scipy.ndimage.zoom as
// TotalSegmentator calls it: order 1 to a new spacing, truncated to int32,
// and order 0 back to a given shape.
func TestZoom(t *testing.T) {
	ref := tinyRef(t)
	in, up := ref["zoom:in"], ref["zoom:order1"]
	// to our (z, y, x) layout: numpy's axes reversed
	din := [3]int{in.shape[2], in.shape[1], in.shape[0]}
	xf := fromNumpy(in.f64, dims3(in.shape))
	x := make([]int16, len(xf))
	for i, v := range xf {
		x[i] = int16(v)
	}
	zoom := [3]float64{3.0 / 3.5, 3.0 / 1.7, 3.0 / 2.2}
	nd := zoomShape(din, zoom)
	if want := [3]int{up.shape[2], up.shape[1], up.shape[0]}; nd != want {
		t.Fatalf("shape %v, want %v", nd, want)
	}
	got := zoomLinear(x, din, nd)
	wantUp := fromNumpy(up.f64, dims3(up.shape))
	bad := 0
	for i := range got {
		if float64(got[i]) != wantUp[i] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("order 1: %d of %d voxels differ from scipy", bad, len(got))
	}
	lab, down := ref["zoom:labels"], ref["zoom:order0"]
	l := fromNumpy(lab.f64, dims3(lab.shape))
	l16 := make([]uint16, len(l))
	for i, v := range l {
		l16[i] = uint16(v)
	}
	g0 := zoomNearest(l16, [3]int{lab.shape[2], lab.shape[1], lab.shape[0]}, din)
	w0 := fromNumpy(down.f64, dims3(down.shape))
	bad = 0
	for i := range g0 {
		if float64(g0[i]) != w0[i] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("order 0: %d of %d voxels differ from scipy", bad, len(g0))
	}
}

func tinyModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadModel(tinyFolder(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPipelineSharedCT runs TotalSegmentator --fast's whole pipeline with
// the tiny model on the shared CT (3 mm RAS: no resampling) and compares
// the label map with the Python pipeline's.
func TestPipelineSharedCT(t *testing.T) {
	ref := tinyRef(t)
	ct := sharedCT(t)
	checkPipeline(t, ct, ref["ts:seg"], int(ref["ts:tiles"].f64[0]))
}

// TestPipelineResampled does the same on an LPS crop of it at 2.5 x 3.5 x
// 3 mm: reorientation, resampling to 3 mm and back.
func TestPipelineResampled(t *testing.T) {
	ref := tinyRef(t)
	in, aff := ref["ts2:in"], ref["ts2:affine"]
	d := dims3(in.shape)
	hu := fromNumpy(in.f64, d)
	ct := &volume.CT{Grid: volume.Grid{Dims: d}, HU: make([]int16, len(hu))}
	for i, v := range hu {
		ct.HU[i] = int16(v)
	}
	for r := range 4 {
		for c := range 4 {
			ct.Affine[r][c] = aff.f64[r*4+c]
		}
	}
	if o := ct.Affine.Orientation(); o != "LPS" {
		t.Fatalf("orientation %s", o)
	}
	checkPipeline(t, ct, ref["ts2:seg"], int(ref["ts2:tiles"].f64[0]))
}

func checkPipeline(t *testing.T, ct *volume.CT, want npyArray, wantTiles int) {
	t.Helper()
	m := tinyModel(t)
	if err := CheckTotalSegmentatorLabels(m.Dataset); err != nil {
		t.Fatal(err)
	}
	tiles, calls := 0, 0
	p := &Pipeline{Model: m, Progress: func(done, total int) {
		calls++
		if done != calls || total < done {
			t.Errorf("progress %d of %d after %d calls", done, total, calls)
		}
		tiles = total
	}}
	ids, err := p.Segment(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	if tiles != wantTiles || calls != wantTiles {
		t.Errorf("%d tiles (%d progress calls), want %d", tiles, calls, wantTiles)
	}
	w := fromNumpy(want.f64, dims3(want.shape))
	agree := 0
	classes := map[uint16]int{}
	for i := range ids {
		if float64(ids[i]) == w[i] {
			agree++
		}
		classes[ids[i]]++
	}
	frac := float64(agree) / float64(len(ids))
	t.Logf("label map agrees with the PyTorch/scipy pipeline on %d of %d voxels (%.4f%%); %d classes present; %d tiles",
		agree, len(ids), 100*frac, len(classes), tiles)
	if frac < 0.9999 {
		t.Errorf("agreement %.5f < 0.9999", frac)
	}
	if len(classes) < 3 {
		t.Errorf("only %d classes: the comparison is too weak", len(classes))
	}
	lm := LabelMap(ct.Grid, ids)
	names, err := labels.FileNames(lm.Extensions[0].Data)
	if err != nil || names[2] != "kidney_right" || names[1] != "spleen" {
		t.Errorf("label table %v, %v", names, err)
	}
}

func TestPipelineCancelled(t *testing.T) {
	ct := sharedCT(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{Model: tinyModel(t), Progress: func(done, total int) {
		if done == 3 {
			cancel()
		}
	}}
	if _, err := p.Segment(ctx, ct); err != context.Canceled {
		t.Errorf("err %v, want context.Canceled", err)
	}
}
