package segment

import "math"

// coarseMM is the block size the anatomy is found at: fine enough for the
// trachea (15–25 mm across) and the lung bases, coarse enough that a
// 512×512×300 CT shrinks to about two million blocks.
const coarseMM = 3.0

// coarse is the CT averaged over blocks of f voxels.
type coarse struct {
	g  grid3
	f  [3]int
	hu []int16 // mean HU per block
	fr frame
}

func blockFactor(sp float64) int {
	return max(1, int(math.Floor(coarseMM/sp+0.25)))
}

func downsample(fr frame, hu []int16) *coarse {
	c := &coarse{fr: fr}
	for a := range 3 {
		c.f[a] = blockFactor(fr.sp[a])
		c.g.n[a] = (fr.dims[a] + c.f[a] - 1) / c.f[a]
		c.g.sp[a] = fr.sp[a] * float64(c.f[a])
	}
	c.hu = make([]int16, c.g.len())
	nx, ny := fr.dims[0], fr.dims[1]
	cx, cy := c.g.n[0], c.g.n[1]
	col := make([]int32, nx) // block column of each i
	for i := range col {
		col[i] = int32(i / c.f[0])
	}
	parallel(c.g.n[2], func(k0, k1 int) {
		sum := make([]int32, cx*cy)
		cnt := make([]int32, cx*cy)
		for ck := k0; ck < k1; ck++ {
			clear(sum)
			clear(cnt)
			for k := ck * c.f[2]; k < min((ck+1)*c.f[2], fr.dims[2]); k++ {
				for j := range ny {
					row := hu[(k*ny+j)*nx : (k*ny+j+1)*nx]
					cj := (j / c.f[1]) * cx
					bs, bc := sum[cj:cj+cx], cnt[cj:cj+cx]
					for i, v := range row {
						b := col[i]
						bs[b] += int32(v)
						bc[b]++
					}
				}
			}
			out := c.hu[ck*cx*cy : (ck+1)*cx*cy]
			for b := range out {
				out[b] = int16(sum[b] / cnt[b])
			}
		}
	})
	return c
}

// Patient-space positions of block indices, in mm, signed so that larger
// means further right, anterior or superior.
func (c *coarse) right(i, j int) float64 {
	v := [2]int{i, j}[c.fr.lr]
	return float64(v) * c.g.sp[c.fr.lr] * float64(c.fr.rightSign)
}

func (c *coarse) anterior(i, j int) float64 {
	v := [2]int{i, j}[c.fr.ap]
	return float64(v) * c.g.sp[c.fr.ap] * float64(c.fr.antSign)
}

func (c *coarse) superior(k int) float64 {
	return float64(k) * c.g.sp[2] * float64(c.fr.supSign)
}

// topSlice is the most superior block slice.
func (c *coarse) topSlice() int {
	if c.fr.supSign > 0 {
		return c.g.n[2] - 1
	}
	return 0
}

// Body thresholds: tissue is above bodyHU (fat is about -100, the foam of
// a mattress -300 to -800); the table is cut off by an opening whose radius
// exceeds half its shells' thickness.
const (
	bodyHU         = -300
	tableOpenMM    = 4.0
	minPartFrac    = 0.05 // an arm is kept, a leftover strip of table is not
	minPartThickMM = 40.0 // mm along anterior-posterior; tables are flatter
)

// body finds the patient at block level: tissue above bodyHU with every
// slice's holes (lungs, gut gas) filled, opened to cut the table away,
// the large thick parts kept, and what the opening shaved off them within
// its radius given back. Holes are filled before the opening so that a
// thin chest wall does not open the lung to the outside.
func (c *coarse) body() []bool {
	tissue := make([]bool, len(c.hu))
	for i, v := range c.hu {
		tissue[i] = v > bodyHU
	}
	filled := fillHoles2D(c.g, tissue)
	all := [3]bool{true, true, true}
	lab, sizes := components(c.g, opening(c.g, filled, tableOpenMM, all))
	largest := 0
	for _, s := range sizes[1:] {
		largest = max(largest, s)
	}
	// Anterior-posterior extent of each component.
	nc := len(sizes)
	apLo := make([]float64, nc)
	apHi := make([]float64, nc)
	for i := range apLo {
		apLo[i], apHi[i] = math.Inf(1), math.Inf(-1)
	}
	nx, ny := c.g.n[0], c.g.n[1]
	for p, l := range lab {
		if l == 0 {
			continue
		}
		a := c.anterior(p%nx, (p/nx)%ny)
		apLo[l] = min(apLo[l], a)
		apHi[l] = max(apHi[l], a)
	}
	keep := make([]bool, nc)
	for l := 1; l < nc; l++ {
		keep[l] = float64(sizes[l]) >= minPartFrac*float64(largest) &&
			apHi[l]-apLo[l]+c.g.sp[c.fr.ap] >= minPartThickMM
	}
	kept := make([]bool, len(c.hu))
	for p, l := range lab {
		kept[p] = keep[l]
	}
	near := dilate(c.g, kept, tableOpenMM+c.g.sp[0], all)
	for p := range kept {
		kept[p] = filled[p] && near[p]
	}
	return kept
}

// midlines gives, for every fine slice, the body's midline as a fine
// index along the left-right axis.
func (c *coarse) midlines(bs []sliceBody) []float64 {
	out := make([]float64, c.fr.dims[2])
	step := c.fr.sp[c.fr.lr] * float64(c.fr.rightSign)
	last := float64(c.fr.dims[c.fr.lr]) / 2
	for k := range out {
		b := bs[k/c.f[2]]
		if b.any {
			last = b.midRight / step
		}
		out[k] = last
	}
	return out
}
