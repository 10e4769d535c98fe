package mesh

import (
	"sync"

	"github.com/iris-oculus/iris/internal/volume"
)

// labelStats is what one pass over the label map learns about a label.
type labelStats struct {
	count int64 // voxels
	faces int64 // voxel faces between the label and anything else
	lo    [3]int32
	hi    [3]int32
}

// measureLabels makes the single pass over the label map: per label, its voxel
// count, bounding box and number of boundary voxel faces (which is the
// number of marching-cubes vertices, and half the number of triangles).
// Slabs of slices are scanned in parallel and merged. Index = label.
func measureLabels(lm *volume.LabelMap, workers int) []labelStats {
	nz := lm.Dims[2]
	workers = max(1, min(workers, nz))
	parts := make([][]labelStats, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = measureSlab(lm, nz*w/workers, nz*(w+1)/workers)
		}()
	}
	wg.Wait()
	var all []labelStats
	for _, p := range parts {
		if len(p) > len(all) {
			all = append(all, make([]labelStats, len(p)-len(all))...)
		}
		for l := range p {
			all[l] = mergeStats(all[l], p[l])
		}
	}
	return all
}

func mergeStats(a, b labelStats) labelStats {
	if b.count == 0 {
		return a
	}
	if a.count == 0 {
		return b
	}
	a.count += b.count
	a.faces += b.faces
	for k := range 3 {
		a.lo[k] = min(a.lo[k], b.lo[k])
		a.hi[k] = max(a.hi[k], b.hi[k])
	}
	return a
}

// measureSlab scans slices [k0, k1).
func measureSlab(lm *volume.LabelMap, k0, k1 int) []labelStats {
	d0, d1, d2 := lm.Dims[0], lm.Dims[1], lm.Dims[2]
	data := lm.Data
	var st []labelStats
	for k := k0; k < k1; k++ {
		for j := range d1 {
			row := (j + d1*k) * d0
			for i := 0; i < d0; i++ {
				l := data[row+i]
				if l == 0 {
					continue
				}
				if int(l) >= len(st) {
					st = append(st, make([]labelStats, int(l)+1-len(st))...)
				}
				s := &st[l]
				// Voxels of one label come in runs along x: take the run.
				r := i + 1
				for r < d0 && data[row+r] == l {
					r++
				}
				n := r - i
				if s.count == 0 {
					s.lo = [3]int32{int32(i), int32(j), int32(k)}
					s.hi = [3]int32{int32(r - 1), int32(j), int32(k)}
				} else {
					s.lo = [3]int32{min(s.lo[0], int32(i)), min(s.lo[1], int32(j)), min(s.lo[2], int32(k))}
					s.hi = [3]int32{max(s.hi[0], int32(r-1)), max(s.hi[1], int32(j)), max(s.hi[2], int32(k))}
				}
				s.count += int64(n)
				s.faces += 2 // the run's two ends
				for x := i; x < r; x++ {
					p := row + x
					if j == 0 || data[p-d0] != l {
						s.faces++
					}
					if j == d1-1 || data[p+d0] != l {
						s.faces++
					}
					if k == 0 || data[p-d0*d1] != l {
						s.faces++
					}
					if k == d2-1 || data[p+d0*d1] != l {
						s.faces++
					}
				}
				i = r - 1
			}
		}
	}
	return st
}
