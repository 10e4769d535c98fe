package segment

import "github.com/iris-oculus/iris/internal/hugepage"

// Label values of labels.Native, by name (TestNativeLabelValues holds
// them to the table). They are constants because the engine indexes small
// arrays by them.
const (
	labBody     = 1
	labSkeleton = 2
	labLungL    = 3
	labLungR    = 4
	labAirways  = 5
)

// Fine thresholds for voxels of blocks on a boundary: the half-way points
// between air and the tissue next to it.
const (
	lungVoxelHU   = -400
	airwayVoxelHU = -500
)

// blockRule labels the voxels of one block: below if HU < t, else above.
type blockRule struct {
	t            int16
	below, above uint8
}

// rules turns the block-level anatomy into per-block voxel rules: blocks
// deep inside a structure take its label whole, blocks on its boundary
// are split by a threshold.
func (c *coarse) rules(filled []bool, side []uint8, airway []bool) []blockRule {
	nx, ny, nz := c.g.n[0], c.g.n[1], c.g.n[2]
	own := make([]uint8, len(c.hu))
	gas := make([]bool, len(c.hu))
	for p := range own {
		switch {
		case airway != nil && airway[p]:
			own[p] = labAirways
		case side[p] == 1:
			own[p] = labLungL
		case side[p] == 2:
			own[p] = labLungR
		case filled[p] && c.hu[p] < lungHU:
			gas[p] = true
		}
	}
	out := make([]blockRule, len(c.hu))
	parallel(nz, func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			for j := range ny {
				for i := range nx {
					p := i + nx*(j+ny*k)
					out[p] = c.rule(p, i, j, k, filled, own, gas)
				}
			}
		}
	})
	return out
}

func (c *coarse) rule(p, i, j, k int, filled []bool, own []uint8, gas []bool) blockRule {
	nx, ny, nz := c.g.n[0], c.g.n[1], c.g.n[2]
	var count [6]int
	outside, same, n := 0, 0, 0
	for dk := -1; dk <= 1; dk++ {
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				ii, jj, kk := i+di, j+dj, k+dk
				if ii < 0 || jj < 0 || kk < 0 || ii >= nx || jj >= ny || kk >= nz {
					continue
				}
				q := ii + nx*(jj+ny*kk)
				n++
				if !filled[q] {
					outside++
				}
				count[own[q]]++
				if own[q] == own[p] {
					same++
				}
			}
		}
	}
	edge := blockRule{t: bodyHU, below: 0, above: labBody}
	if !filled[p] {
		if outside == n {
			return blockRule{}
		}
		return edge
	}
	if o := own[p]; o != 0 {
		if same == n {
			return blockRule{below: o, above: o}
		}
		return blockRule{t: thresholdOf(o), below: o, above: labBody}
	}
	if !gas[p] {
		best := uint8(0)
		for l := uint8(labLungL); l <= labAirways; l++ {
			if count[l] > 0 && (best == 0 || count[l] > count[best]) {
				best = l
			}
		}
		if best != 0 {
			return blockRule{t: thresholdOf(best), below: best, above: labBody}
		}
	}
	if outside > 0 {
		return edge
	}
	return blockRule{below: labBody, above: labBody}
}

func thresholdOf(l uint8) int16 {
	if l == labAirways {
		return airwayVoxelHU
	}
	return lungVoxelHU
}

// apply labels every voxel by its block's rule.
func (c *coarse) apply(hu []int16, rules []blockRule) []uint16 {
	fr := c.fr
	nx, ny := fr.dims[0], fr.dims[1]
	cx, cy := c.g.n[0], c.g.n[1]
	fx := c.f[0]
	out := hugepage.Make[uint16](len(hu))
	parallel(fr.dims[2], func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			ck := k / c.f[2]
			for j := range ny {
				cj := ck*cy + j/c.f[1]
				rrow := rules[cj*cx : (cj+1)*cx]
				o := (k*ny + j) * nx
				row, orow := hu[o:o+nx], out[o:o+nx]
				for b, r := range rrow {
					lo, hi := b*fx, min((b+1)*fx, nx)
					seg := orow[lo:hi]
					if r.below == r.above {
						// Most blocks are wholly outside or inside.
						if v := uint16(r.above); v != 0 {
							for i := range seg {
								seg[i] = v
							}
						}
						continue
					}
					below, above := uint16(r.below), uint16(r.above)
					for i, v := range row[lo:hi] {
						if v < r.t {
							seg[i] = below
						} else {
							seg[i] = above
						}
					}
				}
			}
		}
	})
	return out
}
