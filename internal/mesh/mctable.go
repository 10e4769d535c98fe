package mesh

import (
	"fmt"
	"math"
)

// The marching-cubes case table for binary masks, derived at start-up from
// one rule instead of being typed in, so that it is consistent by
// construction.
//
// A cube has eight voxel centres as corners; corner c = dx + 2·dy + 4·dz.
// An edge whose two corners differ carries one surface vertex at its
// midpoint (for a binary mask the iso-surface crosses half way). On each
// cube face the crossing edges are paired into surface segments: two
// crossings are joined; four (the ambiguous face, foreground on one
// diagonal) are joined around each foreground corner, so diagonal
// foreground voxels are kept apart. The rule looks only at the face's four
// voxels, so the two cubes sharing a face always agree, which is what
// makes the surface watertight. Every crossing edge lies on exactly two
// faces, so the pairing links the crossings of a cube into cycles: each
// cycle is one surface polygon, and no cube-interior ambiguity remains
// (foreground is 6-connected, background 18-connected).
//
// Each polygon is oriented so that the background lies to its outside and
// triangulated with diagonals that never lie on a cube face (such a
// diagonal could coincide with one in the neighbouring cube, giving an edge
// with four triangles). Every polygon of every configuration has such a
// triangulation (TestMCTable checks it); buildMCTable panics otherwise.

// mcEdges lists the two corners of each cube edge: x edges 0-3 (index
// dy+2dz), y edges 4-7 (dx+2dz), z edges 8-11 (dx+2dy).
var mcEdges = [12][2]uint8{
	{0, 1}, {2, 3}, {4, 5}, {6, 7},
	{0, 2}, {1, 3}, {4, 6}, {5, 7},
	{0, 4}, {1, 5}, {2, 6}, {3, 7},
}

// mcTable holds, per configuration (bit c set = corner c foreground), the
// triangles as triples of cube edges, counter-clockwise seen from the
// background. It is computed once and never modified.
var mcTable = buildMCTable()

func buildMCTable() *[256][]uint8 {
	var t [256][]uint8
	for cfg := range 256 {
		for _, cyc := range mcCycles(uint8(cfg)) {
			tris, ok := triangulatePolygon(cyc)
			if !ok {
				panic(fmt.Sprintf("mesh: no face-safe triangulation of polygon %v in configuration %08b", cyc, cfg))
			}
			t[cfg] = append(t[cfg], tris...)
		}
	}
	return &t
}

func cornerPos(c uint8) [3]float64 {
	return [3]float64{float64(c & 1), float64(c >> 1 & 1), float64(c >> 2 & 1)}
}

func edgeMid(e uint8) [3]float64 {
	a, b := cornerPos(mcEdges[e][0]), cornerPos(mcEdges[e][1])
	return [3]float64{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2}
}

// cubeFaceEdges returns the edges of face f = 2·axis + side (the corners
// whose bit axis equals side) and its outward normal.
func cubeFaceEdges(f int) (edges []uint8, normal [3]float64) {
	axis, side := f/2, uint8(f%2)
	for e, c := range mcEdges {
		if cornerPos(c[0])[axis] == float64(side) && cornerPos(c[1])[axis] == float64(side) {
			edges = append(edges, uint8(e))
		}
	}
	normal[axis] = float64(2*int(side) - 1)
	return edges, normal
}

// mcCycles returns the crossing-edge cycles of a configuration, each
// oriented with the background outside.
func mcCycles(cfg uint8) [][]uint8 {
	c, _ := mcCyclesFaces(cfg)
	return c
}

// mcCyclesFaces is mcCycles that also returns, for each cycle, the face
// joining each vertex to the next (faces[i] joins cycle[i] and cycle[i+1]).
func mcCyclesFaces(cfg uint8) (cycles [][]uint8, faces [][]int) {
	fg := func(c uint8) bool { return cfg>>c&1 == 1 }
	crossing := func(e uint8) bool { return fg(mcEdges[e][0]) != fg(mcEdges[e][1]) }
	type link struct {
		to   uint8
		face int
	}
	var links [12][]link
	join := func(a, b uint8, f int) {
		links[a] = append(links[a], link{b, f})
		links[b] = append(links[b], link{a, f})
	}
	for f := range 6 {
		fe, _ := cubeFaceEdges(f)
		var cross []uint8
		for _, e := range fe {
			if crossing(e) {
				cross = append(cross, e)
			}
		}
		switch len(cross) {
		case 2:
			join(cross[0], cross[1], f)
		case 4:
			// Pair the two edges that meet at each foreground corner.
			for i := 0; i < 4; i++ {
				for j := i + 1; j < 4; j++ {
					if c, ok := sharedCorner(cross[i], cross[j]); ok && fg(c) {
						join(cross[i], cross[j], f)
					}
				}
			}
		}
	}
	var seen [12]bool
	for start := uint8(0); start < 12; start++ {
		if !crossing(start) || seen[start] {
			continue
		}
		cyc := []uint8{start}
		var fs []int
		seen[start] = true
		prev, cur := -1, start
		for {
			// Every crossing edge lies on two faces, so it has exactly two
			// links, to distinct edges: take the one not just come from.
			l := links[cur][0]
			if int(l.to) == prev {
				l = links[cur][1]
			}
			fs = append(fs, l.face)
			if l.to == start {
				break
			}
			prev, cur = int(cur), l.to
			seen[cur] = true
			cyc = append(cyc, cur)
		}
		if !segmentOutward(cfg, cyc[0], cyc[1], fs[0]) {
			reverseCycle(cyc, fs)
		}
		cycles = append(cycles, cyc)
		faces = append(faces, fs)
	}
	return cycles, faces
}

// reverseCycle reverses a cycle in place together with its joining faces.
func reverseCycle(cyc []uint8, fs []int) {
	n := len(cyc)
	// New order: cyc[0], cyc[n-1], ..., cyc[1]; the face joining new[i]
	// and new[i+1] is the old face joining them the other way round.
	c2 := make([]uint8, n)
	f2 := make([]int, n)
	for i := range n {
		c2[i] = cyc[(n-i)%n]
		f2[i] = fs[(2*n-i-1)%n]
	}
	copy(cyc, c2)
	copy(fs, f2)
}

// sharedCorner returns the corner two edges have in common.
func sharedCorner(a, b uint8) (uint8, bool) {
	for _, x := range mcEdges[a] {
		for _, y := range mcEdges[b] {
			if x == y {
				return x, true
			}
		}
	}
	return 0, false
}

// segmentOutward reports whether the segment from edge a's vertex to edge
// b's vertex on face f has the background on its left seen from outside the
// cube: that is the direction the boundary of an outward-facing polygon
// runs.
func segmentOutward(cfg uint8, a, b uint8, f int) bool {
	_, n := cubeFaceEdges(f)
	ma, mb := edgeMid(a), edgeMid(b)
	c := mcEdges[a][0]
	if cfg>>c&1 == 0 {
		c = mcEdges[a][1]
	}
	pf := cornerPos(c)
	d := sub3(mb, ma)
	g := sub3(ma, pf) // from the foreground corner toward the background
	return dot3(cross3(d, g), n) > 0
}

// sharesFace reports whether two cube edges lie on a common cube face.
func sharesFace(a, b uint8) bool {
	for f := range 6 {
		fe, _ := cubeFaceEdges(f)
		na := 0
		for _, e := range fe {
			if e == a || e == b {
				na++
			}
		}
		if na == 2 {
			return true
		}
	}
	return false
}

// triangulatePolygon finds the best-shaped triangulation of an oriented
// cycle of edge vertices whose diagonals avoid cube faces, by dynamic
// programming over sub-polygons. Quality is the worst triangle's
// normal-aligned shape measure, so folded triangulations lose.
func triangulatePolygon(cyc []uint8) ([]uint8, bool) {
	n := len(cyc)
	if n == 3 {
		return []uint8{cyc[0], cyc[1], cyc[2]}, true
	}
	var normal [3]float64 // Newell normal of the polygon
	for i := range n {
		a, b := edgeMid(cyc[i]), edgeMid(cyc[(i+1)%n])
		normal = add3(normal, cross3(a, b))
	}
	okDiag := func(i, j int) bool {
		if j == i+1 || (i == 0 && j == n-1) {
			return true // a polygon side, not a diagonal
		}
		return !sharesFace(cyc[i], cyc[j])
	}
	quality := func(i, j, k int) float64 {
		a, b, c := edgeMid(cyc[i]), edgeMid(cyc[j]), edgeMid(cyc[k])
		cr := cross3(sub3(b, a), sub3(c, a))
		l := norm2(sub3(b, a)) + norm2(sub3(c, b)) + norm2(sub3(a, c))
		return dot3(cr, normal) / (math.Sqrt(norm2(normal)) * l)
	}
	best := make([][]float64, n)
	split := make([][]int, n)
	for i := range best {
		best[i] = make([]float64, n)
		split[i] = make([]int, n)
	}
	for span := 2; span < n; span++ {
		for i := 0; i+span < n; i++ {
			j := i + span
			best[i][j] = math.Inf(-1)
			if !okDiag(i, j) {
				continue
			}
			for m := i + 1; m < j; m++ {
				q := quality(i, m, j)
				if m > i+1 {
					q = math.Min(q, best[i][m])
				}
				if j > m+1 {
					q = math.Min(q, best[m][j])
				}
				if q > best[i][j] {
					best[i][j], split[i][j] = q, m
				}
			}
		}
	}
	if !(best[0][n-1] > 0) {
		return nil, false
	}
	var tris []uint8
	var emit func(i, j int)
	emit = func(i, j int) {
		if j-i < 2 {
			return
		}
		m := split[i][j]
		tris = append(tris, cyc[i], cyc[m], cyc[j])
		emit(i, m)
		emit(m, j)
	}
	emit(0, n-1)
	return tris, true
}

func add3(a, b [3]float64) [3]float64 { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub3(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func dot3(a, b [3]float64) float64    { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm2(a [3]float64) float64      { return dot3(a, a) }
func cross3(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
