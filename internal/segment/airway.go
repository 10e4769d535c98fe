package segment

import "math"

// Trachea criteria, from its anatomy: an air tube 12–25 mm wide (up to
// 30 mm in large men), round, in the midline, in front of the spine,
// running down from the top of the scan for several centimetres. The
// lumen is air, so its core blocks are near -1000 HU, darker than lung
// parenchyma (about -850).
const (
	tracheaDarkHU    = -600  // blocks that may belong to the lumen
	tracheaCoreHU    = -900  // the lumen must reach this
	tracheaMinArea   = 60.0  // mm²
	tracheaMaxArea   = 800.0 // mm²
	tracheaMaxWidth  = 40.0  // mm
	tracheaMinFill   = 0.45  // area over bounding-box area
	tracheaMidlineMM = 30.0  // max distance of its centre from the body's
	tracheaStepMM    = 12.0  // max shift of its centre between slices
	tracheaMinLenMM  = 30.0
	tracheaStartMM   = 40.0 // it must start this close to the top of the body
	airwayGrowHU     = -950 // first growing threshold for the lumen
	airwayMaxML      = 150.0
)

// section is one 2D connected piece of a slice.
type section struct {
	k          int
	pix        []int // block indices
	area       float64
	right, ant float64 // centroid, mm
	minHU      int16
}

// sliceSections returns the 4-connected pieces of m in slice k.
func (c *coarse) sliceSections(m []bool, k int) []section {
	nx, ny := c.g.n[0], c.g.n[1]
	base := k * nx * ny
	seen := make([]bool, nx*ny)
	var out []section
	pixArea := c.g.sp[0] * c.g.sp[1]
	for s := range nx * ny {
		if !m[base+s] || seen[s] {
			continue
		}
		seen[s] = true
		stack := []int{s}
		sec := section{k: k, minHU: math.MaxInt16}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sec.pix = append(sec.pix, base+p)
			i, j := p%nx, p/nx
			sec.right += c.right(i, j)
			sec.ant += c.anterior(i, j)
			sec.minHU = min(sec.minHU, c.hu[base+p])
			for _, q := range [4]int{p - 1, p + 1, p - nx, p + nx} {
				qi, qj := q%nx, q/nx
				if q < 0 || q >= nx*ny || (qi != i && qj != j) || seen[q] || !m[base+q] {
					continue
				}
				seen[q] = true
				stack = append(stack, q)
			}
		}
		n := float64(len(sec.pix))
		sec.area = n * pixArea
		sec.right /= n
		sec.ant /= n
		out = append(out, sec)
	}
	return out
}

// extent is the bounding box of a section in mm along the two in-plane axes.
func (c *coarse) extent(s section) (w, h float64) {
	nx := c.g.n[0]
	ilo, ihi, jlo, jhi := math.MaxInt, -1, math.MaxInt, -1
	for _, p := range s.pix {
		q := p % (nx * c.g.n[1])
		i, j := q%nx, q/nx
		ilo, ihi = min(ilo, i), max(ihi, i)
		jlo, jhi = min(jlo, j), max(jhi, j)
	}
	return float64(ihi-ilo+1) * c.g.sp[0], float64(jhi-jlo+1) * c.g.sp[1]
}

// sliceBody summarises the filled body in each slice.
type sliceBody struct {
	any              bool
	midRight         float64 // mean right coordinate, mm
	antLo, antHi     float64 // anterior extent, mm
	rightLo, rightHi float64
}

func (c *coarse) bodySlices(filled []bool) []sliceBody {
	nx, ny := c.g.n[0], c.g.n[1]
	out := make([]sliceBody, c.g.n[2])
	for k := range c.g.n[2] {
		sb := sliceBody{antLo: math.Inf(1), antHi: math.Inf(-1), rightLo: math.Inf(1), rightHi: math.Inf(-1)}
		var sum float64
		n := 0
		for j := range ny {
			for i := range nx {
				if !filled[i+nx*(j+ny*k)] {
					continue
				}
				r, a := c.right(i, j), c.anterior(i, j)
				sum += r
				n++
				sb.antLo, sb.antHi = min(sb.antLo, a), max(sb.antHi, a)
				sb.rightLo, sb.rightHi = min(sb.rightLo, r), max(sb.rightHi, r)
			}
		}
		if n > 0 {
			sb.any = true
			sb.midRight = sum / float64(n)
		}
		out[k] = sb
	}
	return out
}

// inferiorOrder lists slice indices from the most superior down.
func (c *coarse) inferiorOrder() []int {
	ks := make([]int, c.g.n[2])
	for n := range ks {
		if c.fr.supSign > 0 {
			ks[n] = c.g.n[2] - 1 - n
		} else {
			ks[n] = n
		}
	}
	return ks
}

// trachea finds the tracheal lumen's sections from the top of the body
// down, or nil.
func (c *coarse) trachea(filled []bool, bs []sliceBody) []section {
	dark := make([]bool, len(c.hu))
	for p, v := range c.hu {
		dark[p] = filled[p] && v < tracheaDarkHU
	}
	var chains [][]section
	var topMM float64
	started := false
	for _, k := range c.inferiorOrder() {
		if !bs[k].any {
			continue
		}
		z := c.superior(k)
		if !started {
			started, topMM = true, z
		}
		var cands []section
		for _, s := range c.sliceSections(dark, k) {
			if c.tracheaLike(s, bs[k]) {
				cands = append(cands, s)
			}
		}
		// Extend chains that reached the previous slice; start new ones
		// only near the top of the body.
		var next [][]section
		used := make([]bool, len(cands))
		for _, ch := range chains {
			last := ch[len(ch)-1]
			if last.k != k+c.fr.supSign { // chain already ended
				next = append(next, ch)
				continue
			}
			best, bd := -1, tracheaStepMM
			for n, s := range cands {
				if d := math.Hypot(s.right-last.right, s.ant-last.ant); d <= bd {
					best, bd = n, d
				}
			}
			if best >= 0 {
				used[best] = true
				ch = append(ch, cands[best])
			}
			next = append(next, ch)
		}
		if topMM-z <= tracheaStartMM {
			for n, s := range cands {
				if !used[n] {
					next = append(next, []section{s})
				}
			}
		}
		chains = next
	}
	var best []section
	bestScore := 0.0
	for _, ch := range chains {
		length := float64(len(ch)) * c.g.sp[2]
		if length < tracheaMinLenMM {
			continue
		}
		var area float64
		for _, s := range ch {
			area += s.area
		}
		if score := area; score > bestScore {
			best, bestScore = ch, score
		}
	}
	return best
}

func (c *coarse) tracheaLike(s section, b sliceBody) bool {
	if s.area < tracheaMinArea || s.area > tracheaMaxArea || s.minHU > tracheaCoreHU {
		return false
	}
	w, h := c.extent(s)
	if w > tracheaMaxWidth || h > tracheaMaxWidth || s.area/(w*h) < tracheaMinFill {
		return false
	}
	if math.Abs(s.right-b.midRight) > tracheaMidlineMM {
		return false
	}
	// In front of the spine: not in the posterior quarter of the body.
	rel := (s.ant - b.antLo) / (b.antHi - b.antLo)
	return rel > 0.25
}

// airway grows the trachea down into the bronchi through blocks of lumen,
// lowering the threshold toward pure air when the growth leaks into lung.
func (c *coarse) airway(filled []bool, chain []section) []bool {
	if len(chain) == 0 {
		return nil
	}
	blockML := c.g.sp[0] * c.g.sp[1] * c.g.sp[2] / 1000
	maxBlocks := int(airwayMaxML / blockML)
	for t := int16(airwayGrowHU); t >= -1000; t -= 15 {
		m, ok := c.grow(filled, chain, t, maxBlocks)
		if ok {
			return m
		}
	}
	m := make([]bool, len(c.hu))
	for _, s := range chain {
		for _, p := range s.pix {
			m[p] = true
		}
	}
	return m
}

func (c *coarse) grow(filled []bool, chain []section, t int16, maxBlocks int) ([]bool, bool) {
	m := make([]bool, len(c.hu))
	var stack []int
	for _, s := range chain {
		for _, p := range s.pix {
			if !m[p] {
				m[p] = true
				stack = append(stack, p)
			}
		}
	}
	n := len(stack)
	nx, nxy := c.g.n[0], c.g.n[0]*c.g.n[1]
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, j, k := p%nx, (p/nx)%c.g.n[1], p/nxy
		for d, q := range [6]int{p - 1, p + 1, p - nx, p + nx, p - nxy, p + nxy} {
			switch {
			case d == 0 && i == 0, d == 1 && i == nx-1, d == 2 && j == 0,
				d == 3 && j == c.g.n[1]-1, d == 4 && k == 0, d == 5 && k == c.g.n[2]-1:
				continue
			}
			if m[q] || !filled[q] || c.hu[q] >= t {
				continue
			}
			m[q] = true
			stack = append(stack, q)
			n++
			if n > maxBlocks {
				return nil, false
			}
		}
	}
	return m, true
}
