package nnunet

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gemm computes C += A * B for row-major A (m x k), B (k x n, row stride
// ldb) and C (m x n, row stride ldc), single-threaded (callers run it per
// tile on their own workers). With AVX2 and FMA it packs B into panels of
// 16 columns and runs a 4x16 assembly micro-kernel, written by hand
// because no maintained pure-Go BLAS uses AVX: gonum's float32 kernels are
// SSE, four lanes, without fused multiply-add. Elsewhere it is gonum's
// Sgemm. pack is scratch space, grown as needed.
func gemm(m, n, k int, a []float32, b []float32, ldb int, c []float32, ldc int, pack *[]float32) {
	if m == 0 || n == 0 {
		return
	}
	if !haveKernel || k == 0 {
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas32.General{Rows: m, Cols: k, Stride: k, Data: a},
			blas32.General{Rows: k, Cols: n, Stride: ldb, Data: b},
			1, blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
		return
	}
	if cap(*pack) < k*16+4*16 {
		*pack = make([]float32, k*16+4*16)
	}
	panel := (*pack)[:k*16]
	tmp := (*pack)[k*16 : k*16+4*16]
	m4 := m / 4 * 4
	for j0 := 0; j0 < n; j0 += 16 {
		w := min(16, n-j0)
		for p := range k {
			row := b[p*ldb+j0 : p*ldb+j0+w]
			dst := panel[p*16 : p*16+16]
			copy(dst, row)
			clear(dst[w:])
		}
		for i := 0; i < m4; i += 4 {
			if w == 16 {
				kernel4x16(k, &a[i*k], k, &panel[0], &c[i*ldc+j0], ldc)
				continue
			}
			clear(tmp)
			kernel4x16(k, &a[i*k], k, &panel[0], &tmp[0], 16)
			for r := range 4 {
				dst := c[(i+r)*ldc+j0 : (i+r)*ldc+j0+w]
				for x := range dst {
					dst[x] += tmp[r*16+x]
				}
			}
		}
		for i := m4; i < m; i++ { // the last rows, one at a time
			ar := a[i*k : (i+1)*k]
			dst := c[i*ldc+j0 : i*ldc+j0+w]
			for x := range dst {
				var s float32
				for p, av := range ar {
					s += av * panel[p*16+x]
				}
				dst[x] += s
			}
		}
	}
}

// gemmPacked is gemm with B already packed in panels of 16 columns (see
// conv3d.im2col): C (m x n, row stride ldc) += A (m x k) * B.
func gemmPacked(m, n, k int, a, panels []float32, c []float32, ldc int) {
	var tmp [4 * 16]float32
	m4 := m / 4 * 4
	for j0 := 0; j0 < n; j0 += 16 {
		w := min(16, n-j0)
		panel := panels[j0*k : j0*k+16*k]
		for i := 0; i < m4; i += 4 {
			if w == 16 {
				kernel4x16(k, &a[i*k], k, &panel[0], &c[i*ldc+j0], ldc)
				continue
			}
			clear(tmp[:])
			kernel4x16(k, &a[i*k], k, &panel[0], &tmp[0], 16)
			for r := range 4 {
				dst := c[(i+r)*ldc+j0 : (i+r)*ldc+j0+w]
				for x := range dst {
					dst[x] += tmp[r*16+x]
				}
			}
		}
		for i := m4; i < m; i++ {
			ar := a[i*k : (i+1)*k]
			dst := c[i*ldc+j0 : i*ldc+j0+w]
			for x := range dst {
				var s float32
				for p, av := range ar {
					s += av * panel[p*16+x]
				}
				dst[x] += s
			}
		}
	}
}
