package segment

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/iris-oculus/iris/internal/hugepage"
	"github.com/iris-oculus/iris/internal/volume"
)

// frame tells how the voxel axes of a canonical volume (k runs along the
// body's long axis) relate to the patient.
type frame struct {
	dims [3]int
	sp   [3]float64 // mm per voxel step along i, j, k
	lr   int        // voxel axis (0 or 1) closest to the patient's left-right axis
	ap   int        // the other in-plane axis, closest to anterior-posterior
	// Signs: +1 when the index grows toward the patient's right, anterior
	// side or head, -1 otherwise.
	rightSign, antSign, supSign int
}

// orientation finds which voxel axis runs along each patient axis. perm
// lists the voxel axes in canonical order (in-plane, in-plane, superior-
// inferior); it is {0, 1, 2} for the usual axial acquisition.
func orientation(g volume.Grid) (f frame, perm [3]int, err error) {
	codes := g.Affine.Orientation()
	axisOf := [3]int{-1, -1, -1} // patient axis (x, y, z) → voxel axis
	sign := [3]int{}
	for v, c := range []byte(codes) {
		p, s := -1, 1
		switch c {
		case 'R':
			p = 0
		case 'L':
			p, s = 0, -1
		case 'A':
			p = 1
		case 'P':
			p, s = 1, -1
		case 'S':
			p = 2
		case 'I':
			p, s = 2, -1
		}
		if p < 0 {
			return f, perm, fmt.Errorf("affine has no direction for voxel axis %d (orientation %q)", v, codes)
		}
		axisOf[p], sign[p] = v, s
	}
	n := 0
	for v := range 3 {
		if v != axisOf[2] {
			perm[n] = v
			n++
		}
	}
	perm[2] = axisOf[2]
	sp := g.Spacing()
	for c := range 3 {
		f.dims[c] = g.Dims[perm[c]]
		f.sp[c] = sp[perm[c]]
		if !(f.sp[c] > 0) || math.IsInf(f.sp[c], 0) {
			return f, perm, fmt.Errorf("voxel spacing %v mm is not positive and finite", sp)
		}
	}
	if axisOf[0] == perm[0] {
		f.lr, f.ap = 0, 1
	} else {
		f.lr, f.ap = 1, 0
	}
	f.rightSign, f.antSign, f.supSign = sign[0], sign[1], sign[2]
	return f, perm, nil
}

func (f frame) len() int { return f.dims[0] * f.dims[1] * f.dims[2] }

// permuted copies src (laid out on dims) into canonical order perm.
func permuted[T any](src []T, dims, perm [3]int) []T { return permute(src, dims, perm, false) }

// unpermuted is the inverse of permuted: canon is laid out on the canonical
// dims, the result on dims.
func unpermuted[T any](canon []T, dims, perm [3]int) []T { return permute(canon, dims, perm, true) }

// permute walks the canonical order, index o, against dims' order, index
// b+i·s0, copying one way or the other.
func permute[T any](src []T, dims, perm [3]int, inverse bool) []T {
	nd := [3]int{dims[perm[0]], dims[perm[1]], dims[perm[2]]}
	stride := [3]int{1, dims[0], dims[0] * dims[1]}
	s0, s1, s2 := stride[perm[0]], stride[perm[1]], stride[perm[2]]
	dst := hugepage.Make[T](len(src))
	parallel(nd[2], func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			o := k * nd[0] * nd[1]
			for j := range nd[1] {
				b := k*s2 + j*s1
				if inverse {
					for i := range nd[0] {
						dst[b+i*s0] = src[o+i]
					}
				} else {
					for i := range nd[0] {
						dst[o+i] = src[b+i*s0]
					}
				}
				o += nd[0]
			}
		}
	})
	return dst
}

// parallel splits 0..n into contiguous chunks run on all cores.
func parallel(n int, fn func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	// More chunks than workers balance slices of uneven cost.
	chunks := w * 4
	if chunks > n {
		chunks = n
	}
	var wg sync.WaitGroup
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				fn(c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}

// forNeighbours6 calls visit with the index of each face neighbour of
// voxel p that lies inside an nx×ny×nz grid.
func forNeighbours6(p, nx, ny, nz int, visit func(q int)) {
	nxy := nx * ny
	i, j, k := p%nx, (p/nx)%ny, p/nxy
	if i > 0 {
		visit(p - 1)
	}
	if i < nx-1 {
		visit(p + 1)
	}
	if j > 0 {
		visit(p - nx)
	}
	if j < ny-1 {
		visit(p + nx)
	}
	if k > 0 {
		visit(p - nxy)
	}
	if k < nz-1 {
		visit(p + nxy)
	}
}
