package nnunet

import (
	"math"
	"math/rand"
	"testing"
)

// TestGemm checks the micro-kernel path (and the fallback) against a
// float64 product, on sizes with row and column remainders.
func TestGemm(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, sz := range [][3]int{{4, 16, 1}, {32, 2304, 864}, {118, 37, 32}, {5, 17, 3}, {1, 1, 1}, {7, 40, 27}, {64, 15, 100}} {
		m, n, k := sz[0], sz[1], sz[2]
		ldb, ldc := n+3, n+5
		a := make([]float32, m*k)
		b := make([]float32, k*ldb)
		c := make([]float32, m*ldc)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for i := range c {
			c[i] = float32(r.NormFloat64())
		}
		want := make([]float64, len(c))
		for i := range m {
			for j := range ldc {
				want[i*ldc+j] = float64(c[i*ldc+j])
				if j >= n {
					continue
				}
				for p := range k {
					want[i*ldc+j] += float64(a[i*k+p]) * float64(b[p*ldb+j])
				}
			}
		}
		var pack []float32
		gemm(m, n, k, a, b, ldb, c, ldc, &pack)
		for i := range c {
			if math.Abs(float64(c[i])-want[i]) > 1e-4*math.Sqrt(float64(k))+1e-5 {
				t.Fatalf("%v: element %d = %v, want %v (kernel %v)", sz, i, c[i], want[i], haveKernel)
			}
		}
	}
}

// TestForwardWithoutKernel runs the network on the portable path (gonum)
// as on a CPU without AVX2, against the same PyTorch logits.
func TestForwardWithoutKernel(t *testing.T) {
	if !haveKernel {
		t.Log("no AVX2/FMA here: TestForwardTiny already covers the portable path")
	}
	defer func(h bool) { haveKernel = h }(haveKernel)
	haveKernel = false
	TestForwardTiny(t)
	TestLayers(t)
}
