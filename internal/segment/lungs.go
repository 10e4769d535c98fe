package segment

import "math"

// Lung criteria. Air inside the body is lung, airway or gas in the gut.
// Lungs are told from gas by anatomy, not by size: with the airway in
// view, a lung touches the bronchi or reaches above the carina; without
// it (an abdominal scan showing only the lung bases), a lung runs out of
// the top of the scan and its lowest part lies in the posterior
// costophrenic recess, whereas gas in a supine patient's gut rises to the
// anterior side.
const (
	lungHU          = -400 // block mean below which a block is air-filled
	minLungML       = 5.0
	recessMM        = 15.0 // height of a lung's lowest part examined
	recessMaxRel    = 0.5  // its centre lies in the posterior half of the body
	lungLateralMM   = 20.0 // a lung lies on average this far off the midline
	lungSideFrac    = 0.85 // a component this much on one side is that side's lung
	lungFillMM      = 4.0  // closing radius that takes vessels into the lung
	coreHU          = -700 // blocks below this are air or lung, not a partial diaphragm
	airwayContactMM = 6.0
)

// airPart is one 6-connected component of air inside the body.
type airPart struct {
	ml            float64
	touchesTop    bool    // reaches the most superior slice of the scan
	touchesAirway bool    // within airwayContactMM of the airway
	supMM, infMM  float64 // most superior and inferior extent
	offMidline    float64 // mean distance from the slices' midlines, mm
	recessRel     float64 // posterior (0) to anterior (1) position of its lowest part
	leftFrac      float64 // share of blocks left of the midline
	lung          bool
	reason        string // why it is or is not a lung, for tests
}

// lungs labels the left (1) and right (2) lungs at block level among the
// air inside the body.
// carinaMM is the level where the trachea ends, ignored without an airway.
func (c *coarse) lungs(filled []bool, bs []sliceBody, airway []bool, carinaMM float64) (side []uint8, parts []airPart) {
	air := make([]bool, len(c.hu))
	for p, v := range c.hu {
		air[p] = filled[p] && v < lungHU && (airway == nil || !airway[p])
	}
	lab, sizes := c.airParts(air)
	var near []bool
	if airway != nil {
		near = dilate(c.g, airway, airwayContactMM, [3]bool{true, true, true})
	}
	blockML := c.g.sp[0] * c.g.sp[1] * c.g.sp[2] / 1000
	parts = make([]airPart, len(sizes))
	nx, ny := c.g.n[0], c.g.n[1]
	top := c.topSlice()
	for l := range parts {
		parts[l] = airPart{ml: float64(sizes[l]) * blockML, supMM: math.Inf(-1), infMM: math.Inf(1)}
	}
	for p, l := range lab {
		if l == 0 {
			continue
		}
		a := &parts[l]
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		z := c.superior(k)
		a.supMM, a.infMM = max(a.supMM, z), min(a.infMM, z)
		a.offMidline += math.Abs(c.right(i, j) - bs[k].midRight)
		if k == top {
			a.touchesTop = true
		}
		if near != nil && near[p] {
			a.touchesAirway = true
		}
		if c.right(i, j) < bs[k].midRight {
			a.leftFrac++
		}
	}
	// Position of each part's lowest recessMM relative to the body.
	recSum := make([]float64, len(parts))
	recN := make([]float64, len(parts))
	for p, l := range lab {
		if l == 0 {
			continue
		}
		a := &parts[l]
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		if c.superior(k) > a.infMM+recessMM {
			continue
		}
		b := bs[k]
		recSum[l] += (c.anterior(i, j) - b.antLo) / (b.antHi - b.antLo)
		recN[l]++
	}
	for l := 1; l < len(parts); l++ {
		a := &parts[l]
		n := float64(sizes[l])
		a.offMidline /= n
		a.leftFrac /= n
		a.recessRel = recSum[l] / recN[l]
		a.lung, a.reason = isLung(a, airway != nil, carinaMM)
	}
	side = make([]uint8, len(c.hu))
	for l := 1; l < len(parts); l++ {
		a := parts[l]
		if !a.lung {
			continue
		}
		switch {
		case a.leftFrac >= lungSideFrac:
			c.paint(side, lab, int32(l), 1)
		case a.leftFrac <= 1-lungSideFrac:
			c.paint(side, lab, int32(l), 2)
		default:
			c.splitSides(side, lab, int32(l), bs)
		}
	}
	return c.fillLungs(side), parts
}

func isLung(a *airPart, withAirway bool, carinaMM float64) (bool, string) {
	if a.ml < minLungML {
		return false, "small"
	}
	if withAirway && a.touchesAirway {
		return true, "touches the airway"
	}
	// Apart from the airway (or without one in view) a lung must still be
	// where lungs are: lateral, its lowest part in the posterior recess,
	// and reaching above the carina or out of the top of the scan.
	switch {
	case a.offMidline < lungLateralMM:
		return false, "in the midline"
	case a.recessRel > recessMaxRel:
		return false, "lowest part is anterior (gut gas rises)"
	case withAirway && a.supMM < carinaMM:
		return false, "below the carina, apart from the airway"
	case !withAirway && !a.touchesTop:
		return false, "does not reach the top of the scan"
	}
	if withAirway {
		return true, "reaches above the carina, lowest part posterior"
	}
	return true, "lung base: leaves the top, lowest part posterior"
}

func (c *coarse) paint(side []uint8, lab []int32, id int32, v uint8) {
	for p, l := range lab {
		if l == id {
			side[p] = v
		}
	}
}

// splitSides divides a component holding both lungs (joined at the
// anterior junction or through unremoved airway) by the midline of each
// slice.
func (c *coarse) splitSides(side []uint8, lab []int32, id int32, bs []sliceBody) {
	nx, ny := c.g.n[0], c.g.n[1]
	for p, l := range lab {
		if l != id {
			continue
		}
		i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
		if c.right(i, j) < bs[k].midRight {
			side[p] = 1
		} else {
			side[p] = 2
		}
	}
}

// fillLungs closes each lung in-plane and fills its holes, so vessels and
// nodules inside the lung belong to it, as in a radiologist's contour.
func (c *coarse) fillLungs(side []uint8) []uint8 {
	out := make([]uint8, len(side))
	copy(out, side)
	for v := uint8(1); v <= 2; v++ {
		m := make([]bool, len(side))
		any := false
		for p, s := range side {
			if s == v {
				m[p], any = true, true
			}
		}
		if !any {
			continue
		}
		f := fillHoles2D(c.g, closing(c.g, m, lungFillMM, [3]bool{true, true, false}))
		for p, ok := range f {
			if ok && out[p] == 0 {
				out[p] = v
			}
		}
	}
	return out
}

// airParts divides the air inside the body into parts: its 6-connected
// components, except that a component holding several cores (connected
// blocks below coreHU, each of at least minLungML) is split between them,
// each block going to the core it is nearest to through the component. A
// lung base and the gas in the stomach or colon under it are often joined
// through blocks that straddle a diaphragm thinner than a block; their
// cores are not.
func (c *coarse) airParts(air []bool) ([]int32, []int) {
	lab, sizes := components(c.g, air)
	core := make([]bool, len(air))
	for p, a := range air {
		core[p] = a && c.hu[p] < coreHU
	}
	clab, csizes := components(c.g, core)
	minBlocks := int(minLungML / (c.g.sp[0] * c.g.sp[1] * c.g.sp[2] / 1000))
	// The big cores of each component, and the part each core becomes.
	bigCores := make([]int, len(sizes))
	part := make([]int32, len(csizes))
	owner := make([]int32, len(csizes))
	for p, cl := range clab {
		if cl != 0 {
			owner[cl] = lab[p]
		}
	}
	for cl := 1; cl < len(csizes); cl++ {
		if csizes[cl] >= minBlocks {
			bigCores[owner[cl]]++
		}
	}
	next := int32(len(sizes))
	var queue []int32
	for cl := 1; cl < len(csizes); cl++ {
		if o := owner[cl]; csizes[cl] >= minBlocks && bigCores[o] >= 2 {
			part[cl] = next
			next++
		}
	}
	if next == int32(len(sizes)) {
		return lab, sizes
	}
	split := make([]bool, len(sizes))
	for p, cl := range clab {
		if part[cl] != 0 {
			split[lab[p]] = true
		}
	}
	out := make([]int32, len(lab))
	for p, l := range lab {
		switch {
		case l == 0:
		case !split[l]:
			out[p] = l
		case part[clab[p]] != 0:
			out[p] = part[clab[p]]
			queue = append(queue, int32(p))
		}
	}
	// Breadth-first, so each block goes to the nearest core.
	nx, ny, nxy := c.g.n[0], c.g.n[1], c.g.n[0]*c.g.n[1]
	for h := 0; h < len(queue); h++ {
		p := int(queue[h])
		i, j, k := p%nx, (p/nx)%ny, p/nxy
		for d, q := range [6]int{p - 1, p + 1, p - nx, p + nx, p - nxy, p + nxy} {
			switch {
			case d == 0 && i == 0, d == 1 && i == nx-1, d == 2 && j == 0,
				d == 3 && j == ny-1, d == 4 && k == 0, d == 5 && k == c.g.n[2]-1:
				continue
			}
			if out[q] == 0 && lab[q] == lab[p] {
				out[q] = out[p]
				queue = append(queue, int32(q))
			}
		}
	}
	newSizes := make([]int, next)
	for _, l := range out {
		newSizes[l]++
	}
	newSizes[0] = 0
	return out, newSizes
}
