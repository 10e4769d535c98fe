package nnunet

import (
	"context"
	"fmt"
	"testing"
)

func TestGaussianBitExact(t *testing.T) {
	ref := tinyRef(t)
	p, _, _ := loadTiny(t)
	want := ref["gaussian"].u16()
	got := Gaussian(p.PatchSize)
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		if uint16(got[i]) != want[i] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d float16 values differ from nnU-Net's compute_gaussian", bad, len(got))
	}
}

func TestSteps(t *testing.T) {
	for _, c := range []struct {
		size, patch int
		step        float64
		want        []int
	}{
		{110, 64, 0.5, []int{0, 23, 46}}, // nnU-Net's own comment
		{64, 64, 0.5, []int{0}},
		{29, 12, 0.8, []int{0, 8, 17}}, // 17/2 = 8.5 rounds half to even
		{37, 16, 0.5, []int{0, 7, 14, 21}},
		{25, 8, 0.5, []int{0, 3, 7, 10, 14, 17}}, // 6 steps of 3.4
	} {
		s, err := Steps([3]int{c.size, c.size, c.size}, [3]int{c.patch, c.patch, c.patch}, c.step)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s[0]) != fmt.Sprint(c.want) {
			t.Errorf("Steps(%d, %d, %g) = %v, want %v", c.size, c.patch, c.step, s[0], c.want)
		}
	}
	if _, err := Steps([3]int{4, 8, 8}, [3]int{8, 8, 8}, 0.5); err == nil {
		t.Error("a size below the patch was accepted")
	}
}

// TestSlidingWindow compares the float16 logits of the whole sliding window
// (padding, Gaussian weighting, half-precision sums) with nnU-Net's, for
// TotalSegmentator's step 0.8 and nnU-Net's default 0.5.
func TestSlidingWindow(t *testing.T) {
	ref := tinyRef(t)
	p, _, w := loadTiny(t)
	n, err := NewNetwork(p.Arch, w)
	if err != nil {
		t.Fatal(err)
	}
	in := ref["sw:input"]
	dims := [3]int{in.shape[1], in.shape[2], in.shape[3]}
	for _, step := range []float64{0.5, 0.8} {
		tiles := 0
		pr := &Predictor{Net: n, Patch: p.PatchSize, Step: step, Progress: func(done, total int) { tiles = total }}
		got, err := pr.Logits(context.Background(), in.f32(), dims)
		if err != nil {
			t.Fatal(err)
		}
		if want := int(ref[fmt.Sprintf("sw:tiles:%g", step)].f64[0]); tiles != want {
			t.Errorf("step %g: %d tiles, want %d", step, tiles, want)
		}
		wantBits := ref[fmt.Sprintf("sw:logits:%g", step)].u16()
		gotF := make([]float32, len(got))
		wantF := make([]float64, len(got))
		same := 0
		for i := range got {
			gotF[i] = got[i].Float32()
			wantF[i] = float64(f16FromBits(wantBits[i]))
			if uint16(got[i]) == wantBits[i] {
				same++
			}
		}
		d, rng := relDiff(gotF, wantF)
		agree, total := argmaxAgreement(gotF, wantF, p.Arch.Classes)
		t.Logf("step %g: %d tiles; %d of %d half floats bit-equal; max abs diff %.3g over range %.3g; argmax agrees on %d of %d",
			step, tiles, same, len(got), d, rng, agree, total)
		if d > 1e-3*rng {
			t.Errorf("step %g: max abs diff %.3g > 1e-3 x range %.3g", step, d, rng)
		}
		if float64(agree) < 0.9999*float64(total) {
			t.Errorf("step %g: argmax agrees on %d of %d", step, agree, total)
		}
	}
}
