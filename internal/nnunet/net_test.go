package nnunet

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadTiny(t testing.TB) (*Plans, *Dataset, map[string]Tensor) {
	t.Helper()
	dir := tinyFolder()
	db, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ParseDataset(db)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(filepath.Join(dir, "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePlans(pb, "3d_fullres", len(ds.Labels))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "fold_0", "checkpoint_final.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	w, err := ReadCheckpoint(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return p, ds, w
}

func TestPlansBothSchemas(t *testing.T) {
	p, ds, _ := loadTiny(t)
	want := Arch{
		Features:     []int{4, 8, 10},
		Kernels:      [][3]int{{1, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		Strides:      [][3]int{{1, 1, 1}, {1, 2, 2}, {2, 2, 2}},
		ConvsEncoder: []int{2, 2, 2},
		ConvsDecoder: []int{2, 2},
		Classes:      6,
	}
	if !reflect.DeepEqual(p.Arch, want) {
		t.Errorf("old schema: %+v, want %+v", p.Arch, want)
	}
	if p.PatchSize != [3]int{8, 12, 16} || p.Intensity.Std != 250 || p.Intensity.Percentile005 != -950 {
		t.Errorf("plans %+v", p)
	}
	nb, err := os.ReadFile(filepath.Join("testdata", "tiny", "plans_new_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	pn, err := ParsePlans(nb, "3d_fullres", len(ds.Labels))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pn.Arch, want) {
		t.Errorf("new schema: %+v, want %+v", pn.Arch, want)
	}
	if ds.Labels["liver"] != 5 || !strings.Contains(ds.Licence, "Apache") {
		t.Errorf("dataset %+v", ds)
	}
}

func TestPlansRefused(t *testing.T) {
	nb, err := os.ReadFile(filepath.Join("testdata", "tiny", "plans_new_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"resenc":   {"unet.PlainConvUNet", "unet.ResidualEncoderUNet"},
		"batch":    {"InstanceNorm3d", "BatchNorm3d"},
		"zscore":   {`"CTNormalization"`, `"ZScoreNormalization"`},
		"nobias":   {`"conv_bias": true`, `"conv_bias": false`},
		"oddpatch": {`"patch_size": [`, `"patch_size": [9, `},
		"stride0":  {`"strides": [`, `"strides": [[0, 1, 1], `},
	} {
		b := strings.Replace(string(nb), edit[0], edit[1], 1)
		if b == string(nb) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := ParsePlans([]byte(b), "3d_fullres", 6); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParsePlans(nb, "2d", 6); err == nil {
		t.Error("missing configuration accepted")
	}
}

// TestLayers runs every layer of the tiny network on the input PyTorch gave
// it and compares with PyTorch's output (committed by ref.py).
func TestLayers(t *testing.T) {
	ref := tinyRef(t)
	_, _, w := loadTiny(t)
	counts := map[string]int{}
	for key, in := range ref {
		name, ok := strings.CutPrefix(key, "in:")
		if !ok {
			continue
		}
		want := ref["out:"+name]
		x := in.f32()
		c, dims := in.shape[0], [3]int{in.shape[1], in.shape[2], in.shape[3]}
		var got []float32
		var kind string
		switch {
		case strings.HasSuffix(name, ".conv") || strings.Contains(name, "seg_layers"):
			kind = "conv"
			wt := w[name+".weight"]
			cv := &conv3d{cin: c, cout: wt.Shape[0], k: [3]int{wt.Shape[2], wt.Shape[3], wt.Shape[4]}, w: wt.Data, b: w[name+".bias"].Data}
			cv.stride = [3]int{1, 1, 1}
			if want.shape[1] != dims[0] || want.shape[2] != dims[1] || want.shape[3] != dims[2] {
				kind = "strided conv"
				for i := range 3 {
					cv.stride[i] = dims[i] / want.shape[i+1]
				}
			}
			if strings.Contains(name, "seg_layers") {
				kind = "1x1x1 head"
			}
			got = make([]float32, shapeLen(want.shape))
			cv.forward(x, dims, got)
		case strings.HasSuffix(name, ".norm"):
			kind = "instance norm"
			got = append([]float32(nil), x...)
			instanceNormLeaky(got, c, w[name+".weight"].Data, w[name+".bias"].Data, false)
		case strings.HasSuffix(name, ".nonlin"):
			kind = "leaky relu"
			got = append([]float32(nil), x...)
			leakyReLU(got)
		case strings.Contains(name, "transpconvs"):
			kind = "transposed conv"
			wt := w[name+".weight"]
			s := [3]int{wt.Shape[2], wt.Shape[3], wt.Shape[4]}
			tc := newTranspConv(wt.Shape[0], wt.Shape[1], s, wt.Data, w[name+".bias"].Data)
			got = make([]float32, shapeLen(want.shape))
			tc.forward(x, dims, got)
		default:
			t.Fatalf("unknown layer %s", name)
		}
		counts[kind]++
		d, rng := relDiff(got, want.f64)
		if d > 1e-4*rng {
			t.Errorf("%s (%s): max abs diff %.3g over range %.3g", name, kind, d, rng)
		}
	}
	for _, k := range []string{"conv", "strided conv", "instance norm", "leaky relu", "transposed conv", "1x1x1 head"} {
		if counts[k] == 0 {
			t.Errorf("no %s layer checked", k)
		}
	}
	t.Logf("layers checked: %v", counts)
}

// TestForwardTiny is the whole network, end to end, against PyTorch.
func TestForwardTiny(t *testing.T) {
	ref := tinyRef(t)
	p, _, w := loadTiny(t)
	n, err := NewNetwork(p.Arch, w)
	if err != nil {
		t.Fatal(err)
	}
	in := ref["net:input"]
	got, err := n.Forward(in.f32(), [3]int{in.shape[1], in.shape[2], in.shape[3]})
	if err != nil {
		t.Fatal(err)
	}
	want := ref["net:logits"]
	d, rng := relDiff(got, want.f64)
	agree, total := argmaxAgreement(got, want.f64, want.shape[0])
	t.Logf("logits: max abs diff %.3g over range %.3g (%.2g relative); argmax agrees on %d of %d voxels", d, rng, d/rng, agree, total)
	if d > 1e-3*rng {
		t.Errorf("max abs logit diff %.3g > 1e-3 x range %.3g", d, rng)
	}
	if float64(agree) < 0.9999*float64(total) {
		t.Errorf("argmax agrees on %d of %d voxels", agree, total)
	}
	// a checkpoint missing a tensor is refused
	delete(w, "decoder.stages.0.convs.1.norm.bias")
	if _, err := NewNetwork(p.Arch, w); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing weight: %v", err)
	}
}

func argmaxAgreement(got []float32, want []float64, classes int) (agree, total int) {
	n := len(want) / classes
	for i := range n {
		bg, bw := 0, 0
		for c := 1; c < classes; c++ {
			if got[c*n+i] > got[bg*n+i] {
				bg = c
			}
			if want[c*n+i] > want[bw*n+i] {
				bw = c
			}
		}
		if bg == bw {
			agree++
		}
	}
	return agree, n
}
