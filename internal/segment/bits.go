package segment

import "math"

// bitplane is a 2D binary image, one bit per pixel, rows of w words.
type bitplane struct {
	nx, ny, w int
	last      uint64 // valid bits of a row's last word
	b         []uint64
}

func newBitplane(nx, ny int) *bitplane {
	w := (nx + 63) / 64
	last := ^uint64(0)
	if nx%64 != 0 {
		last = 1<<(nx%64) - 1
	}
	return &bitplane{nx: nx, ny: ny, w: w, last: last, b: make([]uint64, w*ny)}
}

func (p *bitplane) row(j int) []uint64 { return p.b[j*p.w : (j+1)*p.w] }
func (p *bitplane) clear()             { clear(p.b) }
func (p *bitplane) set(i, j int)       { p.b[j*p.w+i>>6] |= 1 << (i & 63) }
func (p *bitplane) get(i, j int) bool  { return p.b[j*p.w+i>>6]>>(i&63)&1 != 0 }

// orShifted ORs src shifted by s pixels (toward larger i when s > 0) into
// dst. Bits shifted past either end are lost.
func orShifted(dst, src []uint64, s int) {
	n := len(src)
	if s >= 0 {
		ws, bs := s>>6, uint(s&63)
		for k := n - 1; k >= ws; k-- {
			v := src[k-ws] << bs
			if bs != 0 && k-ws-1 >= 0 {
				v |= src[k-ws-1] >> (64 - bs)
			}
			dst[k] |= v
		}
		return
	}
	s = -s
	ws, bs := s>>6, uint(s&63)
	for k := 0; k+ws < n; k++ {
		v := src[k+ws] >> bs
		if bs != 0 && k+ws+1 < n {
			v |= src[k+ws+1] << (64 - bs)
		}
		dst[k] |= v
	}
}

// diskWidths gives, for each row offset 0..ry of a disk of radius r mm, its
// half-width in pixels.
func diskWidths(r float64, sp [2]float64) []int {
	ry := int(r / sp[1])
	w := make([]int, ry+1)
	for d := range w {
		dy := float64(d) * sp[1]
		w[d] = int(math.Sqrt(r*r-dy*dy) / sp[0])
	}
	return w
}

// dilateDisk writes into dst rows [j0, j1) the dilation of src by a disk
// of radius r mm. With invert, src is read complemented (pixels outside
// the plane still count as unset), which makes NOT of the result an
// erosion that does not eat into structures at the plane's border.
// xs must hold len(diskWidths) planes of scratch.
func dilateDisk(dst, src *bitplane, xs []*bitplane, widths []int, j0, j1 int, invert bool) {
	ry := len(widths) - 1
	lo, hi := max(0, j0-ry), min(src.ny, j1+ry)
	row := make([]uint64, src.w)
	for j := lo; j < hi; j++ {
		copy(row, src.row(j))
		if invert {
			for k := range row {
				row[k] = ^row[k]
			}
			row[len(row)-1] &= src.last
		}
		for d, w := range widths {
			x := xs[d].row(j)
			copy(x, row)
			for s := 1; s <= w; s++ {
				orShifted(x, row, s)
				orShifted(x, row, -s)
			}
			x[len(x)-1] &= src.last
		}
	}
	for j := j0; j < j1; j++ {
		out := dst.row(j)
		clear(out)
		for dy := -ry; dy <= ry; dy++ {
			jj := j + dy
			if jj < lo || jj >= hi {
				continue
			}
			x := xs[abs(dy)].row(jj)
			for k := range out {
				out[k] |= x[k]
			}
		}
	}
}

// closeDisk writes into dst rows [j0, j1) the closing of src by a disk of
// radius r mm. src must be empty within r of the window's rows' ends for
// the result to equal a closing of the whole plane.
func closeDisk(dst, src *bitplane, widths []int, xs []*bitplane, tmp *bitplane, j0, j1 int) {
	dilateDisk(tmp, src, xs, widths, j0, j1, false)
	for j := 0; j < j0; j++ {
		clear(tmp.row(j))
	}
	for j := j1; j < tmp.ny; j++ {
		clear(tmp.row(j))
	}
	dilateDisk(dst, tmp, xs, widths, j0, j1, true)
	for j := j0; j < j1; j++ {
		r := dst.row(j)
		for k := range r {
			r[k] = ^r[k]
		}
		r[len(r)-1] &= dst.last
		s := src.row(j)
		for k := range r {
			r[k] |= s[k]
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
