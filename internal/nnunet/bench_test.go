package nnunet

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// fastArch is the --fast model's estimated shape (shared design facts,
// section 5): 5 stages of 32..320 features, 3x3x3 kernels, strides 2.
func fastArch() Arch {
	return Arch{
		Features:     []int{32, 64, 128, 256, 320},
		Kernels:      [][3]int{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}},
		Strides:      [][3]int{{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}},
		ConvsEncoder: []int{2, 2, 2, 2, 2},
		ConvsDecoder: []int{2, 2, 2, 2},
		Classes:      118,
	}
}

// randomNetwork is a network of architecture a with He-initialised
// random weights.
func randomNetwork(tb testing.TB, a Arch) *Network {
	r := rand.New(rand.NewSource(1))
	w := map[string]Tensor{}
	for name, shape := range a.Params() {
		t := Tensor{Shape: shape, Data: make([]float32, shapeLen(shape))}
		fan := 1
		for _, d := range shape[1:] {
			fan *= d
		}
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64() * math.Sqrt(2/float64(fan)))
		}
		w[name] = t
	}
	n, err := NewNetwork(a, w)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkForwardFast times one forward pass of the --fast-shaped
// network on one 112x112x128 patch. With IRIS_NNUNET_FAST set to the
// folder `tools/nnunet/ref.py fast DIR` wrote, it uses those weights and
// that input, checks the logits against PyTorch's and reports PyTorch's
// time from the same folder; without it, random weights built here.
func BenchmarkForwardFast(b *testing.B) {
	dir := os.Getenv("IRIS_NNUNET_FAST")
	patch := [3]int{112, 112, 128}
	var n *Network
	var in []float32
	var ref []float32
	var torch struct {
		Seconds []float64 `json:"seconds"`
		Threads int       `json:"threads"`
		PeakRSS int64     `json:"peak_rss_bytes"`
	}
	if dir != "" {
		m, err := LoadModel(filepath.Join(dir, "Dataset297_TotalSegmentator_total_3mm_1559subj",
			"nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres"), 0)
		if err != nil {
			b.Fatal(err)
		}
		n = m.Net
		in = readF32(b, filepath.Join(dir, "input.f32"))
		ref = readF32(b, filepath.Join(dir, "logits.f32"))
		tj, err := os.ReadFile(filepath.Join(dir, "torch.json"))
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(tj, &torch); err != nil {
			b.Fatal(err)
		}
	} else {
		n = randomNetwork(b, fastArch())
		in = make([]float32, patch[0]*patch[1]*patch[2])
		r := rand.New(rand.NewSource(2))
		for i := range in {
			in[i] = float32(r.NormFloat64())
		}
	}
	b.ResetTimer()
	var out []float32
	for range b.N {
		var err error
		out, err = n.Forward(in, patch)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)*1024/(1<<30), "peakRSS_GiB")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "threads")
	if ref != nil {
		want := make([]float64, len(ref))
		for i, v := range ref {
			want[i] = float64(v)
		}
		d, rng := relDiff(out, want)
		agree, total := argmaxAgreement(out, want, 118)
		b.ReportMetric(d/rng, "maxdiff/range")
		b.ReportMetric(100*float64(agree)/float64(total), "argmax_agree_%")
		best := math.Inf(1)
		for _, s := range torch.Seconds {
			best = min(best, s)
		}
		per := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(best, "torch_s")
		b.ReportMetric(per/best, "go/torch")
		b.ReportMetric(float64(torch.PeakRSS)/(1<<30), "torch_peakRSS_GiB")
	}
}

func readF32(tb testing.TB, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// BenchmarkConvLayer is the heaviest convolution of the network (32 -> 32
// channels, 3x3x3, on a 112x112x128 map), for comparing kernels.
func BenchmarkConvLayer(b *testing.B) {
	dims := [3]int{112, 112, 128}
	c := &conv3d{cin: 32, cout: 32, k: [3]int{3, 3, 3}, stride: [3]int{1, 1, 1},
		w: make([]float32, 32*32*27), b: make([]float32, 32)}
	in := make([]float32, 32*dims[0]*dims[1]*dims[2])
	out := make([]float32, len(in))
	for i := range in {
		in[i] = float32(i%7) - 3
	}
	for i := range c.w {
		c.w[i] = float32(i%5) - 2
	}
	b.ResetTimer()
	for range b.N {
		c.forward(in, dims, out)
	}
	flops := 2.0 * 32 * 32 * 27 * float64(dims[0]*dims[1]*dims[2])
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}
