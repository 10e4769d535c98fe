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
		Runs []struct {
			Threads int       `json:"threads"`
			Seconds []float64 `json:"seconds"`
			CPU     []float64 `json:"cpu_seconds"`
		} `json:"runs"`
		PeakRSS int64 `json:"peak_rss_bytes"`
	}
	if dir != "" {
		m, err := LoadModel(filepath.Join(dir, "Dataset297_TotalSegmentator_total_3mm_1559subj",
			"nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres"), 0)
		if err != nil {
			b.Fatal(err)
		}
		n = m.Net
		in = readF32(b, filepath.Join(dir, "input.f32"))
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
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
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
	// peak resident memory of the process so far: the model, the input
	// and the forward passes (the reference logits are read after)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	per := b.Elapsed().Seconds() / float64(b.N)
	cpu := (tv(ru.Utime) + tv(ru.Stime) - tv(ru0.Utime) - tv(ru0.Stime)) / float64(b.N)
	b.ReportMetric(cpu, "cpu_s/op")
	b.ReportMetric(float64(ru.Maxrss)*1024/(1<<30), "peakRSS_GiB")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "threads")
	// the shared CT (122x101x30 at 3 mm) is one tile; a 512x512x600 CT at
	// 0.8 x 0.8 x 1.5 mm (assumed) is 137x137x300 at 3 mm
	for name, size := range map[string][3]int{"est_sharedCT_s": {112, 112, 128}, "est_512x512x600_s": {300, 137, 137}} {
		st, _ := Steps([3]int{max(size[0], patch[0]), max(size[1], patch[1]), max(size[2], patch[2])}, patch, TotalSegmentatorStep)
		b.ReportMetric(per*float64(len(st[0])*len(st[1])*len(st[2])), name)
	}
	if dir != "" {
		ref = readF32(b, filepath.Join(dir, "logits.f32"))
		d, rng := relDiff32(out, ref)
		agree, total := argmaxAgreement32(out, ref, 118)
		b.ReportMetric(d/rng, "maxdiff/range")
		b.ReportMetric(100*float64(agree)/float64(total), "argmax_agree_%")
		best, bestCPU := math.Inf(1), math.Inf(1)
		for _, r := range torch.Runs {
			if r.Threads == runtime.GOMAXPROCS(0) {
				for i, s := range r.Seconds {
					best = min(best, s)
					if i < len(r.CPU) {
						bestCPU = min(bestCPU, r.CPU[i])
					}
				}
			}
		}
		if !math.IsInf(best, 1) {
			b.ReportMetric(best, "torch_s")
			b.ReportMetric(per/best, "go/torch")
		}
		if !math.IsInf(bestCPU, 1) {
			b.ReportMetric(bestCPU, "torch_cpu_s")
			b.ReportMetric(cpu/bestCPU, "go/torch_cpu")
		}
		b.ReportMetric(float64(torch.PeakRSS)/(1<<30), "torch_peakRSS_GiB")
	}
}

func relDiff32(got, want []float32) (maxAbs, rng float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, w := range want {
		lo, hi = min(lo, float64(w)), max(hi, float64(w))
		maxAbs = max(maxAbs, math.Abs(float64(got[i])-float64(w)))
	}
	return maxAbs, hi - lo
}

func argmaxAgreement32(got, want []float32, classes int) (agree, total int) {
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

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
