// Package decimate simplifies closed triangle surfaces by quadric-error
// edge collapse (Garland–Heckbert), for the organ meshes of package mesh.
// It works on flat position and index slices and knows nothing of labels,
// files or the rest of the meshing pipeline; normals are the caller's.
//
// It is written for closed organ surfaces extracted from label maps, and keeps
// them closed, 2-manifold, consistently oriented and of the same topology:
// a collapse is taken only when it passes the link condition, does not flip,
// degenerate or badly sliver any triangle around it, and does not reduce a
// component below a tetrahedron. Each new vertex is placed where the sum of
// the (probabilistic, hence always invertible) plane quadrics of the
// triangles it replaces is least, subject to the enclosed volume not changing
// (Lindström–Turk volume preservation), so decimation neither shrinks nor
// inflates an organ. Only when no volume-keeping collapse is left above
// target does it take collapses that change the volume. Collapses go in
// rounds, cheapest first, each vertex changing at most once a round
// (meshoptimizer's scheme), which is much faster than a priority queue
// updated after every collapse and as good.
//
// A big surface's passes run on two goroutines: scoring scans the two
// halves of the half-edges, and collapsing splits the vertices in two
// halves of space, each collapsing, in cost order, the edges whose
// neighbourhoods lie within it, the few edges between them after (see
// collapseSideBySide). The result does not depend on the number of cores.
// On big_labels' largest organ (1.4 M triangles) that took decimation from
// about 1.97 s to 1.54 s on two idle cores; on a 512×512×300 CT, whose
// body is meshed alone at the end, the meshing from 11.9 s to 9.6 s (one
// run each).
//
// Because of those constraints the result can keep more than target
// triangles; target <= 0 simplifies as far as they allow (four triangles for
// a sphere-like component). Edges that are not shared by exactly two
// consistently oriented triangles, and vertices whose triangles do not form
// a single fan, are left untouched.
//
// It is written by hand because no maintained pure-Go library does quadric
// decimation; meshoptimizer's simplifier would need cgo.
package decimate

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
)

// vec3 is geom's vector for the hot loops.
type vec3 = geom.Vec3

// Simplify is (&Decimator{}).Simplify.
func Simplify(positions []float32, indices []uint32, target int) ([]float32, []uint32, bool) {
	var d Decimator
	return d.Simplify(positions, indices, target)
}

// Simplify reduces the surface (x,y,z per vertex in positions, three indices
// per triangle) to at most target triangles and returns new, compacted
// slices (no unused vertices) and true; its inputs are not modified. It
// returns false, and nil slices, when it does nothing: a target at or above
// the triangle count, or indices out of range or not a multiple of three.
// A Decimator reuses its buffers from one call to the next; it is not safe
// for concurrent use.
func (d *Decimator) Simplify(positions []float32, indices []uint32, target int) ([]float32, []uint32, bool) {
	m := &surface{Positions: positions, Indices: indices}
	if target >= m.Triangles() || !valid(m) {
		return nil, nil, false
	}
	d.reset(m)
	d.run(target)
	pos, idx := d.result()
	return pos, idx, true
}

// surface is the input and output of a decimation.
type surface struct {
	Positions []float32 // x,y,z per vertex
	Indices   []uint32  // 3 per triangle
}

func (m *surface) Triangles() int { return len(m.Indices) / 3 }
func (m *surface) Vertices() int  { return len(m.Positions) / 3 }

// Tuning. sigma2 is the variance of the normal in the probabilistic plane
// quadrics (Trettner & Kobbelt 2020): it adds a small point quadric that keeps
// the 3×3 system well conditioned on flat patches, where marching-cubes
// meshes are mostly flat, and there pulls new vertices towards the middle of
// the patch, which keeps triangles well shaped.
const (
	sigma2    = 1e-3
	minCos    = 0.2  // smallest cosine between a triangle's normal before and after a collapse
	minShape  = 0.05 // triangles worse than this (1 = equilateral) must not get worse
	rescans   = 4    // passes that retry rejected edges when the rest run out above target
	passSlack = 1.5  // a pass takes edges up to this times the cost of the last one it needs
	looseMin  = 32   // the fewest triangles of a component that volume-changing collapses may touch
)

const (
	locked uint8 = 1 << iota // on a non-manifold edge or vertex: never moves
	dead                     // collapsed away
)

// quadric is a symmetric quadric xᵀAx + 2bᵀx + c stored as
// A00 A01 A02 A11 A12 A22, b0 b1 b2, c.
type quadric [10]float64

// Decimator simplifies surfaces, keeping its buffers from one call to the
// next. The zero value is ready to use.
type Decimator struct {
	vs       []vertex
	quad     []quadric // per vertex
	he       []half    // per corner, which is also the half-edge to the next corner
	compTris []int32   // live triangles per connected component
	clock    uint32
	reject   []uint32 // per half-edge: 1 + its ends' stamp sum when its collapse was refused, else 0
	scored   []uint32 // per half-edge: 1 + its ends' stamp sum when score was set, else 0
	score    []float32
	tok      uint32
	pass     uint32
	cands    []candidate
	spare    []candidate // radix sort scratch
	keys     []half      // load's scratch when d.he is too short for it
	ints     []int32     // scratch for load, sortTriangles, link and result
	live     int         // triangles left
	strict   bool        // only collapses that keep the volume
	centre   vec3

	seq           collapser    // collapses in cost order, alone
	side          [2]collapser // collapse the two halves of a big pass side by side
	pending       []uint64     // per half-edge, a bit: left for seq in this pass
	routes        []uint8      // per candidate half-edge, its route in this pass (see route)
	sideBySideMin int          // the fewest chosen edges a pass splits; 0 means sideBySide
}

// wedge is a triangle around a collapsing edge: the moving corner v and
// the opposite side q→r.
type wedge struct{ v, q, r vec3 }

// vertex is a vertex: what a collapse reads of each vertex around it, in
// one cache line. The quadrics, needed only for the collapsing pair, are
// apart.
type vertex struct {
	p     vec3   // position relative to the centre
	out   int32  // one outgoing half-edge, -1 when unused
	stamp uint32 // when the vertex last changed, by clock
	busy  uint32 // the pass in which it last changed
	mark  uint32 // scratch neighbour mark for the link condition
	comp  int32  // connected component
	flag  uint8
}

// half is a corner of a triangle and the half-edge from it to the next
// corner: the corner's vertex, and the twin half-edge, -1 where the edge is
// not manifold; both -1 once the triangle is removed. Together because
// walking a fan needs both.
type half struct{ v, opp int32 }

// candidate is a candidate collapse in a pass: an edge, by one of its
// half-edges, and the least error of collapsing it. Eight bytes: its ends
// are looked up when it comes up, which costs less than sorting and
// holding twice the bytes.
type candidate struct {
	cost float32
	h    int32
}

func nextCorner(h int32) int32 {
	if h%3 == 2 {
		return h - 2
	}
	return h + 1
}

func prevCorner(h int32) int32 {
	if h%3 == 0 {
		return h + 2
	}
	return h - 1
}

func valid(m *surface) bool {
	if len(m.Indices)%3 != 0 || len(m.Positions)%3 != 0 || len(m.Positions)/3 > math.MaxInt32 || len(m.Indices) > math.MaxInt32 {
		return false
	}
	n := uint32(len(m.Positions) / 3)
	for _, i := range m.Indices {
		if i >= n {
			return false
		}
	}
	return true
}

// reset loads m, reusing d's buffers.
func (d *Decimator) reset(m *surface) {
	nv, nh := m.Vertices(), len(m.Indices)
	d.vs = geom.Zeroed(d.vs, nv)
	d.quad = geom.Zeroed(d.quad, nv)
	d.he = geom.Grow(d.he, nh)
	// reject and scored are link's scratch first; it clears them.
	d.reject = geom.Grow(d.reject, nh)
	d.scored = geom.Grow(d.scored, nh)
	d.score = geom.Grow(d.score, nh)
	d.tok, d.pass, d.clock = 0, 0, 0
	d.cands = geom.Reserve(d.cands, nh/2)
	d.live = nh / 3
	d.centre = centroid(m.Positions)
	rank := d.load(m)
	d.sortTriangles(m, rank)
	d.link()
	d.components()
	d.addQuadrics()
}

// components numbers the connected components, by union-find over the
// triangles, and counts their triangles. Collapses never join or split
// components; apply keeps the counts.
func (d *Decimator) components() {
	f := geom.NewForest(d.ints[:len(d.vs)])
	for t := 0; t+2 < len(d.he); t += 3 {
		f.Union(d.he[t].v, d.he[t+1].v)
		f.Union(d.he[t].v, d.he[t+2].v)
	}
	d.compTris = d.compTris[:0]
	id := d.ints[len(d.vs) : 2*len(d.vs)]
	for i := range id {
		id[i] = -1
	}
	for v := range d.vs {
		r := f.Find(int32(v))
		if id[r] < 0 {
			id[r] = int32(len(d.compTris))
			d.compTris = append(d.compTris, 0)
		}
		d.vs[v].comp = id[r]
	}
	for t := 0; t+2 < len(d.he); t += 3 {
		d.compTris[d.vs[d.he[t].v].comp]++
	}
}

// load copies the vertices in Morton (Z-curve) order of their positions, so
// that vertices near each other in space are near each other in memory, and
// returns each input vertex's place in that order. The sort's keys and its
// scratch borrow d.he, which sortTriangles fills only afterwards (a closed
// surface has six half-edges a vertex), rather than 16 more bytes a vertex.
func (d *Decimator) load(m *surface) []int32 {
	lo, hi := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}, [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i, p := range m.Positions {
		lo[i%3] = min(lo[i%3], float64(p))
		hi[i%3] = max(hi[i%3], float64(p))
	}
	scale := 1023 / max(hi[0]-lo[0], hi[1]-lo[1], hi[2]-lo[2], 1e-30)
	nv := len(d.vs)
	scratch := d.he
	if len(scratch) < 2*nv { // unused vertices
		d.keys = geom.Grow(d.keys, 2*nv)
		scratch = d.keys
	}
	keys := scratch[:nv]
	for v := range keys {
		var c uint64
		for k := range 3 {
			c |= spread(uint64((float64(m.Positions[3*v+k])-lo[k])*scale)) << k
		}
		keys[v] = half{v: int32(v), opp: int32(c)}
	}
	keys = sortMorton(keys, scratch[nv:2*nv])
	d.ints = geom.Grow(d.ints, 2*nv+1)
	rank := d.ints[:nv]
	for i, key := range keys {
		rank[key.v] = int32(i)
		p := m.Positions[3*key.v : 3*key.v+3 : 3*key.v+3]
		d.vs[i].p = geom.Sub(geom.V(float64(p[0]), float64(p[1]), float64(p[2])), d.centre)
	}
	return rank
}

// sortMorton sorts keys, each a vertex (v) and its 30-bit Morton code
// (in opp: load sorts them in d.he's memory), the vertices in ascending
// order, by their codes with an LSD radix sort (three 10-bit digits),
// using spare (as long) as scratch, and returns the one of the two that
// holds the result.
// The sort is stable, so equal codes keep ascending vertices, as sorting
// whole code-and-vertex keys would. On 711 000 keys (big_labels' largest
// organ) it takes 4 ms where slices.Sort on the two packed in a uint64 took
// 63 ms (BenchmarkSortMorton).
func sortMorton(keys, spare []half) []half {
	src, dst := keys, spare[:len(keys)]
	for shift := uint(0); shift < 30; shift += 10 {
		var count [1025]int
		for _, k := range src {
			count[(k.opp>>shift)&1023+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, k := range src {
			d := (k.opp >> shift) & 1023
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	return src
}

// spread puts the 10 low bits of x 3 bits apart.
func spread(x uint64) uint64 {
	x &= 0x3ff
	x = (x | x<<16) & 0x30000ff
	x = (x | x<<8) & 0x300f00f
	x = (x | x<<4) & 0x30c30c3
	x = (x | x<<2) & 0x9249249
	return x
}

// sortTriangles copies the triangles renumbered by rank and ordered by their
// first vertex in that order (a counting sort), again for locality.
func (d *Decimator) sortTriangles(m *surface, rank []int32) {
	start := d.ints[len(rank):]
	clear(start)
	key := func(t int) int32 {
		return min(rank[m.Indices[3*t]], rank[m.Indices[3*t+1]], rank[m.Indices[3*t+2]])
	}
	nt := len(m.Indices) / 3
	for t := range nt {
		start[key(t)+1]++
	}
	for v := range len(rank) {
		start[v+1] += start[v]
	}
	for t := range nt {
		k := key(t)
		i := 3 * start[k]
		start[k]++
		for c := range 3 {
			d.he[int(i)+c].v = rank[m.Indices[3*t+c]]
		}
	}
}

// centroid is the middle of the bounding box; working relative to it keeps
// float64 volumes and quadrics of patient-space coordinates precise.
func centroid(p []float32) vec3 {
	if len(p) < 3 {
		return vec3{}
	}
	lo := [3]float32{p[0], p[1], p[2]}
	hi := lo
	for i := 3; i+2 < len(p); i += 3 {
		for k := range 3 {
			lo[k] = min(lo[k], p[i+k])
			hi[k] = max(hi[k], p[i+k])
		}
	}
	mid := func(k int) float64 { return (float64(lo[k]) + float64(hi[k])) / 2 }
	return geom.V(mid(0), mid(1), mid(2))
}

// link pairs each half-edge with its twin through a vertex→outgoing
// half-edge table (CSR), and locks every vertex where the surface is not a
// closed, oriented 2-manifold.
func (d *Decimator) link() {
	nv := len(d.vs)
	// ints holds 2nv+1 from load; the per-half-edge scratch (each outgoing
	// half-edge's end vertex and id, in CSR order) borrows reject and
	// scored, which are cleared at the end, rather than growing ints by
	// 8 bytes a half-edge.
	start, fill := d.ints[:nv+1], d.ints[nv+1:2*nv+1]
	dstV, dstH := d.reject[:len(d.he)], d.scored[:len(d.he)]
	defer clear(dstV)
	defer clear(dstH)
	clear(start)
	for h := range d.he {
		start[d.he[h].v+1]++
	}
	for v := range nv {
		start[v+1] += start[v]
	}
	copy(fill, start[:nv])
	for h := range d.he {
		a := d.he[h].v
		i := fill[a]
		fill[a]++
		dstV[i] = uint32(d.he[nextCorner(int32(h))].v)
		dstH[i] = uint32(h)
	}
	for t := 0; t < len(d.he); t += 3 {
		a, b, c := d.he[t].v, d.he[t+1].v, d.he[t+2].v
		if a == b || b == c || c == a {
			d.vs[a].flag |= locked
			d.vs[b].flag |= locked
			d.vs[c].flag |= locked
		}
	}
	for h := range d.he {
		a, b := d.he[h].v, d.he[nextCorner(int32(h))].v
		twin, n := int32(-1), 0
		for i := start[b]; i < start[b+1]; i++ {
			if int32(dstV[i]) == a {
				twin = int32(dstH[i])
				n++
			}
		}
		if n != 1 {
			twin = -1
			d.vs[a].flag |= locked
			d.vs[b].flag |= locked
		}
		d.he[h].opp = twin
	}
	for v := range nv {
		n := start[v+1] - start[v]
		if n == 0 {
			d.vs[v].out = -1
			continue
		}
		d.vs[v].out = int32(dstH[start[v]])
		if d.vs[v].flag&locked != 0 {
			continue
		}
		// A single closed fan visits every outgoing half-edge; a pinched
		// vertex (two fans touching) visits only some of them.
		if n < 3 || d.fanSize(int32(v), n) != n {
			d.vs[v].flag |= locked
		}
	}
}

// fanSize walks the fan of v, giving up after limit steps.
func (d *Decimator) fanSize(v int32, limit int32) int32 {
	h0 := d.vs[v].out
	h, n := h0, int32(0)
	for {
		n++
		h = d.he[prevCorner(h)].opp
		if h < 0 || h == h0 || n > limit {
			return n
		}
	}
}

func (d *Decimator) addQuadrics() {
	for t := 0; t < len(d.he); t += 3 {
		a, b, c := d.he[t].v, d.he[t+1].v, d.he[t+2].v
		pa, pb, pc := d.vs[a].p, d.vs[b].p, d.vs[c].p
		n := geom.Cross(geom.Sub(pb, pa), geom.Sub(pc, pa))
		l := geom.Len(n)
		if l == 0 {
			continue
		}
		ctr := geom.Scale(geom.Add(geom.Add(pa, pb), pc), 1.0/3)
		var q quadric
		planeQuadric(&q, geom.Scale(n, 1/l), ctr, l/2)
		d.quad[a].add(&q)
		d.quad[b].add(&q)
		d.quad[c].add(&q)
	}
}

// planeQuadric sets q to w·((n·x − n·p)² + σ²|x − p|²), the isotropic
// probabilistic plane quadric of Trettner & Kobbelt.
func planeQuadric(q *quadric, n, p vec3, w float64) {
	dd := -geom.Dot(n, p)
	s := sigma2
	*q = quadric{
		w * (n.X*n.X + s), w * n.X * n.Y, w * n.X * n.Z,
		w * (n.Y*n.Y + s), w * n.Y * n.Z,
		w * (n.Z*n.Z + s),
		w * (dd*n.X - s*p.X), w * (dd*n.Y - s*p.Y), w * (dd*n.Z - s*p.Z),
		w * (dd*dd + s*geom.Dot(p, p)),
	}
}

func (q *quadric) add(r *quadric) {
	for k := range q {
		q[k] += r[k]
	}
}

// sum sets q to a + b.
func (q *quadric) sum(a, b *quadric) {
	for k := range q {
		q[k] = a[k] + b[k]
	}
}

// inverse sets inv to the inverse of A, reporting false, and leaving inv
// alone, when A is close to singular.
func (q *quadric) inverse(inv *[6]float64) bool {
	a00, a01, a02, a11, a12, a22 := q[0], q[1], q[2], q[3], q[4], q[5]
	c00 := a11*a22 - a12*a12
	c01 := a02*a12 - a01*a22
	c02 := a01*a12 - a02*a11
	det := a00*c00 + a01*c01 + a02*c02
	tr := a00 + a11 + a22
	if !(det > 1e-12*tr*tr*tr) {
		return false
	}
	r := 1 / det
	*inv = [6]float64{
		c00 * r, c01 * r, c02 * r,
		(a00*a22 - a02*a02) * r, (a01*a02 - a00*a12) * r,
		(a00*a11 - a01*a01) * r,
	}
	return true
}

func mulSym(s *[6]float64, v vec3) vec3 {
	return geom.V(
		s[0]*v.X+s[1]*v.Y+s[2]*v.Z,
		s[1]*v.X+s[3]*v.Y+s[4]*v.Z,
		s[2]*v.X+s[4]*v.Y+s[5]*v.Z,
	)
}

// eval is xᵀAx + 2bᵀx + c.
func (q *quadric) eval(x vec3) float64 {
	return x.X*(q[0]*x.X+2*(q[1]*x.Y+q[2]*x.Z+q[6])) +
		x.Y*(q[3]*x.Y+2*(q[4]*x.Z+q[7])) +
		x.Z*(q[5]*x.Z+2*q[8]) + q[9]
}

func (d *Decimator) movable(v int32) bool { return d.vs[v].flag&(locked|dead) == 0 }

// cost is the least quadric error of collapsing a and b.
func (d *Decimator) cost(a, b int32) float32 {
	var q quadric
	var inv [6]float64
	q.sum(&d.quad[a], &d.quad[b])
	ok := q.inverse(&inv)
	_, c := d.place(&q, &inv, ok, a, b)
	return float32(c)
}

// place returns the point minimising q, or the best of the ends and the
// midpoint when the system is ill-conditioned (!ok) or its solution lies
// farther from the edge's middle than the edge is long, with the error there.
func (d *Decimator) place(q *quadric, inv *[6]float64, ok bool, a, b int32) (vec3, float64) {
	pa, pb := d.vs[a].p, d.vs[b].p
	mid := geom.Scale(geom.Add(pa, pb), 0.5)
	if ok {
		x := mulSym(inv, geom.V(-q[6], -q[7], -q[8]))
		if geom.Dist2(x, mid) <= geom.Dist2(pa, pb) {
			return x, q.eval(x)
		}
	}
	best, cost := mid, q.eval(mid)
	if c := q.eval(pa); c < cost {
		best, cost = pa, c
	}
	if c := q.eval(pb); c < cost {
		best, cost = pb, c
	}
	return best, cost
}

// run collapses edges, cheapest first, in passes, until target triangles
// remain or no edge can go. Collapses that cannot keep the volume are taken
// only when volume-keeping ones run out. An edge whose collapse was refused
// is not tried again until an end changes, except in a few last passes that
// retry them all, since collapses nearby may have made them acceptable.
func (d *Decimator) run(target int) {
	for _, strict := range [2]bool{true, false} {
		d.strict = strict
		clear(d.reject)
		for retries := 0; d.live > target; {
			if d.collapsePass(target) > 0 {
				continue
			}
			if retries == rescans {
				break
			}
			retries++
			clear(d.reject)
		}
		if d.live <= target {
			return
		}
	}
}

// collapsePass is one round of collapses and returns how many it made.
//
// Rather than keep a priority queue of every edge, updated after each
// collapse (most of the time goes into it), a pass scores every edge, sorts
// them, and collapses in that order those whose ends no earlier collapse of
// the pass has changed, so every score it acts on is current. It stops at
// the target, or once it has made a sixth of the collapses still needed and
// the edges cost passSlack times the last one that would be needed were
// every edge taken, as meshoptimizer does; the next pass scores the changed
// edges afresh. A pass with many edges to take collapses them on two
// goroutines (sideBySide).
func (d *Decimator) collapsePass(target int) int {
	d.pass++
	d.listCandidates()
	d.spare = sortCandidates(d.cands, d.spare)
	goal := (d.live - target + 1) / 2
	limit := float32(math.Inf(1))
	if goal < len(d.cands) {
		limit = passSlack * d.cands[goal].cost
	}
	if chosen := d.chosen(limit, goal); chosen >= cmp.Or(d.sideBySideMin, sideBySide) {
		return d.collapseSideBySide(d.cands[:chosen], goal, target)
	}
	c := d.startSeq(len(d.cands))
	defer d.endSeq(c)
	n := 0
	for _, e := range d.cands {
		if d.live <= target || (e.cost > limit && n > goal/6) {
			break
		}
		if c.try(e.h) == collapsed {
			n++
			d.live -= 2
		}
	}
	return n
}

// listCandidates lists the candidates of a pass in d.cands in half-edge order,
// scoring the edges whose ends changed since they were scored. A big
// surface's half-edges are scanned in two halves on two goroutines, the
// second half's candidates gathered in d.spare (free until the sort) and
// then appended: the same list either way. Scoring reads the vertices and
// quadrics and writes only each half-edge's own score.
func (d *Decimator) listCandidates() {
	d.cands = d.cands[:0]
	d.routes = geom.Grow(d.routes, len(d.he))
	if len(d.he) < 3*sideBySide {
		d.cands = d.scan(d.cands, 0, len(d.he))
		return
	}
	mid := len(d.he) / 2
	d.spare = geom.Reserve(d.spare, len(d.he)/2)
	var wg sync.WaitGroup
	wg.Go(func() { d.spare = d.scan(d.spare, mid, len(d.he)) })
	d.cands = d.scan(d.cands, 0, mid)
	wg.Wait()
	d.cands = append(d.cands, d.spare...)
}

// scan appends the candidates among half-edges [from, to) to cands, and
// records where each would go side by side (route), here in half-edge
// order rather than later in cost order, which reads the vertices at
// random.
func (d *Decimator) scan(cands []candidate, from, to int) []candidate {
	for h := from; h < to; h++ {
		t := d.he[h].opp
		if t < int32(h) {
			continue // removed, not manifold, or seen from its twin
		}
		a, b := d.he[h].v, d.he[nextCorner(int32(h))].v
		if !d.movable(a) || !d.movable(b) {
			continue
		}
		key := 1 + d.vs[a].stamp + d.vs[b].stamp
		if d.reject[h] == key {
			continue
		}
		if d.scored[h] != key {
			d.score[h], d.scored[h] = d.cost(a, b), key
		}
		d.routes[h] = d.route(a, b)
		cands = append(cands, candidate{cost: d.score[h], h: int32(h)})
	}
	return cands
}

// route is where collapseSideBySide sends the edge a–b: to the goroutine
// of the half both ends are in (0 or 1), or to d.seq (2) when they are in
// different halves or in a small component (see collapseSideBySide).
func (d *Decimator) route(a, b int32) uint8 {
	split := d.split()
	switch {
	case d.compTris[d.vs[a].comp] <= 2*looseMin+6 || (a < split) != (b < split):
		return 2
	case a < split:
		return 0
	}
	return 1
}

// chosen is how many of the sorted candidates a side-by-side pass takes:
// up to the first that costs more than limit, but at least a sixth of
// goal. The sequential pass stops the same way, counting collapses made
// instead of edges taken, which side by side it cannot know beforehand.
func (d *Decimator) chosen(limit float32, goal int) int {
	for i, e := range d.cands {
		if e.cost > limit && i > goal/6 {
			return i
		}
	}
	return len(d.cands)
}

// split is the first vertex of the second half of a side-by-side pass.
func (d *Decimator) split() int32 { return int32(len(d.vs) / 2) }

// sideBySide is the fewest edges a pass takes for collapseSideBySide to
// split them: below it, the goroutines would cost more than they save.
const sideBySide = 1 << 16

// collapseSideBySide collapses cands, sorted by cost, on two goroutines,
// at most goal between them, so that they cannot overshoot the target, then
// the edges they leave up to the target, and returns how many it made. The vertices are split in two halves of their Morton order,
// two halves of space; each goroutine takes, in cost order, the edges of
// its half whose ends' one-rings lie within it (up to its share of goal),
// so the two never read or write the same vertex or triangle: a collapse
// changes only the triangles around its ends, and those around a vertex
// of one half with one-ring in it have all their corners in it. The edges
// between the halves, those whose one-rings cross, and those of small
// components (whose triangle counts, which both goroutines change, decide
// whether a collapse may change the volume) are left to d.seq, in cost
// order, afterwards. What each goroutine does depends only on its half,
// so the result is the same on any number of cores.
func (d *Decimator) collapseSideBySide(cands []candidate, goal, target int) int {
	split := d.split()
	d.pending = geom.Zeroed(d.pending, (len(d.he)+63)/64)
	// Each half's edges, in cost order, in spare (free after the sort):
	// the first half's from the front, the second's from the back.
	d.spare = geom.Grow(d.spare, len(cands))
	lists := [2][]candidate{d.spare[:0], nil}
	back := len(cands)
	for _, e := range cands {
		switch d.routes[e.h] {
		case 0:
			lists[0] = append(lists[0], e)
		case 1:
			back--
			d.spare[back] = e
		default:
			d.pending[e.h>>6] |= 1 << (e.h & 63)
		}
	}
	lists[1] = d.spare[back:]
	slices.Reverse(lists[1])
	d.freshTokens(2 * len(cands))
	var wg sync.WaitGroup
	for k := range d.side {
		c := &d.side[k]
		c.d, c.alone, c.step = d, false, 2
		c.lo, c.hi = 0, split
		if k == 1 {
			c.lo, c.hi = split, int32(len(d.vs))
		}
		c.tok, c.clock = d.tok+uint32(k), d.clock+uint32(k)
		c.made, c.deferred = 0, c.deferred[:0]
		share := int(int64(goal) * int64(len(lists[k])) / int64(len(cands)))
		wg.Go(func() {
			for _, e := range lists[k] {
				if c.made >= share {
					return
				}
				switch c.try(e.h) {
				case collapsed:
					c.made++
				case deferred:
					c.deferred = append(c.deferred, e.h)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for k := range d.side {
		c := &d.side[k]
		d.tok, d.clock = max(d.tok, c.tok), max(d.clock, c.clock)
		d.live -= 2 * c.made
		n += c.made
		for _, h := range c.deferred {
			d.pending[h>>6] |= 1 << (h & 63)
		}
	}
	c := d.startSeq(len(cands))
	defer d.endSeq(c)
	for _, e := range cands {
		if d.live <= target {
			break
		}
		if d.pending[e.h>>6]&(1<<(e.h&63)) != 0 && c.try(e.h) == collapsed {
			n++
			d.live -= 2
		}
	}
	return n
}

// startSeq readies d.seq for up to n tries after whatever ran before.
func (d *Decimator) startSeq(n int) *collapser {
	d.freshTokens(n)
	c := &d.seq
	c.d, c.alone, c.step = d, true, 1
	c.lo, c.hi = 0, int32(len(d.vs))
	c.tok, c.clock = d.tok, d.clock
	return c
}

// endSeq takes back what d.seq used.
func (d *Decimator) endSeq(c *collapser) { d.tok, d.clock = c.tok, c.clock }

// freshTokens makes room for n more tries' mark tokens (two collapsers
// side by side use every other one each), clearing the marks when the
// counter would wrap, so that no stale mark equals a token in use.
func (d *Decimator) freshTokens(n int) {
	if uint64(d.tok)+2*uint64(n)+4 > math.MaxUint32 {
		for i := range d.vs {
			d.vs[i].mark = 0
		}
		d.tok = 0
	}
}

// collapser collapses edges on one goroutine: its scratch, the vertices it
// may read or change, and its own mark tokens and stamps, which two
// collapsers side by side take from the same counter, every other one.
type collapser struct {
	d      *Decimator
	lo, hi int32 // the vertices it owns: [lo, hi)
	alone  bool  // no collapser runs beside it, so it may read compTris
	step   uint32
	tok    uint32 // the last mark token it used
	clock  uint32 // the last stamp it gave
	// Scratch for one collapse: the outgoing half-edges of its ends, and
	// the triangles that survive it, relative to the edge's middle.
	fanA, fanB []int32
	wedges     []wedge
	made       int     // collapses it made side by side
	deferred   []int32 // half-edges it left to d.seq
}

// outcome is what became of a try.
type outcome uint8

const (
	skipped  outcome = iota // an end changed in this pass
	refused                 // the checks refused it
	deferred                // its one-rings reach beyond the collapser's vertices
	collapsed
)

func (c *collapser) nextTok() uint32   { c.tok += c.step; return c.tok }
func (c *collapser) nextStamp() uint32 { c.clock += c.step; return c.clock }

// owns reports whether every vertex at the far end of fan's half-edges is
// c's.
func (c *collapser) owns(fan []int32) bool {
	if c.alone {
		return true
	}
	for _, h := range fan {
		if w := c.d.he[nextCorner(h)].v; w < c.lo || w >= c.hi {
			return false
		}
	}
	return true
}

// try collapses the edge of half-edge h unless an end changed in this
// pass; a refusal is remembered until an end changes.
func (c *collapser) try(h int32) outcome {
	d := c.d
	// An end that changed in this pass, or died, shows as a busy end (a
	// collapse marks both, and a collapse's removed end now reads as the
	// busy one it merged into); a triangle of the edge that went, as -1.
	a, b := d.he[h].v, d.he[nextCorner(h)].v
	if a < 0 || d.vs[a].busy == d.pass || d.vs[b].busy == d.pass {
		return skipped
	}
	r := c.collapse(a, b)
	switch r {
	case refused:
		d.reject[h] = 1 + d.vs[a].stamp + d.vs[b].stamp
	case collapsed:
		d.vs[a].busy, d.vs[b].busy = d.pass, d.pass
	}
	return r
}

// sortCandidates sorts c by cost with an LSD radix sort on the costs' keys
// (three 11-bit digits), using spare as scratch, and returns spare for
// reuse. It is stable, so equal costs keep memory order.
func sortCandidates(c, spare []candidate) []candidate {
	if len(c) < 2 {
		return spare
	}
	spare = geom.Grow(spare, len(c))
	src, dst := c, spare
	for shift := uint(0); shift < 32; shift += 11 {
		var count [2049]int
		for _, e := range src {
			count[(sortKey(e.cost)>>shift)&2047+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, e := range src {
			k := (sortKey(e.cost) >> shift) & 2047
			dst[count[k]] = e
			count[k]++
		}
		src, dst = dst, src
	}
	copy(c, src) // after three digits the result is in spare
	return spare
}

// sortKey maps a float32 to a uint32 in the same order.
func sortKey(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

// fan appends the outgoing half-edges of v to buf.
func (d *Decimator) fan(v int32, buf []int32) []int32 {
	buf = buf[:0]
	h0 := d.vs[v].out
	h := h0
	for {
		buf = append(buf, h)
		h = d.he[prevCorner(h)].opp
		if h == h0 {
			return buf
		}
	}
}

// collapse merges a into b if the checks allow, and reports whether it did,
// or that it leaves the edge to another collapser: an end's one-ring
// reaches beyond c's vertices.
func (c *collapser) collapse(a, b int32) outcome {
	d := c.d
	c.fanA = d.fan(a, c.fanA)
	c.fanB = d.fan(b, c.fanB)
	if !c.owns(c.fanA) || !c.owns(c.fanB) {
		return deferred
	}
	if len(c.fanA) == 3 && len(c.fanB) == 3 {
		return refused // a tetrahedron: the smallest closed surface
	}
	tok := c.nextTok()
	he := int32(-1)
	for _, h := range c.fanA {
		w := d.he[nextCorner(h)].v
		d.vs[w].mark = tok
		if w == b {
			he = h
		}
	}
	if he < 0 {
		return refused
	}
	// Link condition: the one-rings share only the two opposite vertices.
	common := 0
	for _, h := range c.fanB {
		if w := d.he[nextCorner(h)].v; w != a && d.vs[w].mark == tok {
			common++
		}
	}
	if common != 2 {
		return refused
	}
	x, ok := c.target(a, b)
	if !ok {
		return refused
	}
	c.apply(he, a, b, x)
	return collapsed
}

// target chooses the new position of the merged vertex: the quadric's
// minimum subject to keeping the enclosed volume, or, unless d.strict, the
// unconstrained minimum; it reports false when the choice fails the triangle
// checks. The volume-keeping point may lie anywhere within the ring around
// the edge, or twice the edge's length from its middle, since on coarse,
// thin parts keeping the volume takes a long move.
func (c *collapser) target(a, b int32) (vec3, bool) {
	d := c.d
	var q quadric
	var inv [6]float64
	q.sum(&d.quad[a], &d.quad[b])
	invertible := q.inverse(&inv)
	x0, _ := d.place(&q, &inv, invertible, a, b)
	pa, pb := d.vs[a].p, d.vs[b].p
	o := geom.Scale(geom.Add(pa, pb), 0.5)
	g, s, r2 := c.gather(a, b, o)
	if invertible {
		// The volume after the collapse is linear in the new position x: the
		// surviving triangles around a and b, with a and b replaced by x,
		// enclose g·(x − o)/6 against s/6 before (Lindström & Turk 1998).
		// Of the points where they are equal, take the one nearest x0 in
		// the quadric's metric, so the least error.
		ag := mulSym(&inv, g)
		if den := geom.Dot(g, ag); den > 0 {
			xv := geom.Add(x0, geom.Scale(ag, (s-geom.Dot(g, geom.Sub(x0, o)))/den))
			if geom.Dist2(xv, o) <= max(r2, 4*geom.Dist2(pa, pb)) && c.acceptable(geom.Sub(xv, o), g) {
				return xv, true
			}
		}
	}
	// A collapser beside another is given no edge of a small component
	// (see sideBySide), so it need not read compTris, which the other
	// changes.
	if d.strict || (c.alone && d.compTris[d.vs[a].comp] <= looseMin) {
		// On a small component, a collapse that changes the volume can
		// push the new vertex through the few triangles the checks do not
		// see and turn the component inside out.
		return x0, false
	}
	return x0, c.acceptable(geom.Sub(x0, o), g)
}

// gather fills c.wedges with the triangles around a and b that survive their
// collapse, relative to o, and returns the volume terms g and s of target
// and the squared radius r2 of the ring around them.
func (c *collapser) gather(a, b int32, o vec3) (g vec3, s, r2 float64) {
	d := c.d
	c.wedges = c.wedges[:0]
	for i, fan := range [2][]int32{c.fanA, c.fanB} {
		v, other := a, b
		if i == 1 {
			v, other = b, a
		}
		pv := geom.Sub(d.vs[v].p, o)
		for _, h := range fan {
			qv, rv := d.he[nextCorner(h)].v, d.he[prevCorner(h)].v
			pq, pr := geom.Sub(d.vs[qv].p, o), geom.Sub(d.vs[rv].p, o)
			n := geom.Cross(pq, pr)
			if qv == other || rv == other {
				// The two triangles on the edge vanish; count them once.
				if i == 0 {
					s += geom.Dot(pv, n)
				}
				continue
			}
			g = geom.Add(g, n)
			s += geom.Dot(pv, n)
			r2 = max(r2, geom.Dot(pq, pq))
			c.wedges = append(c.wedges, wedge{pv, pq, pr})
		}
	}
	return g, s, r2
}

// acceptable reports whether moving the collapsing corners of c.wedges to x
// keeps every triangle facing the same way, non-degenerate and not much
// worse shaped. A sliver's normal is numerical noise, so a triangle that was
// one is held to the normal g of the whole fan instead: otherwise slivers
// block the collapses that would remove them.
func (c *collapser) acceptable(x, g vec3) bool {
	for i := range c.wedges {
		w := &c.wedges[i]
		eq, er := geom.Sub(w.q, x), geom.Sub(w.r, x)
		n1 := geom.Cross(eq, er)
		l1 := geom.Dot(n1, n1)
		if l1 == 0 {
			return false
		}
		e1, e2 := geom.Sub(w.q, w.v), geom.Sub(w.r, w.v)
		n0 := geom.Cross(e1, e2)
		l0 := geom.Dot(n0, n0)
		shape0, shape1 := shapeQuality(l0, e1, e2), shapeQuality(l1, eq, er)
		if shape1 < minShape && shape1 < shape0 {
			return false
		}
		if shape0 < minShape {
			n0, l0 = g, geom.Dot(g, g)
		}
		dot := geom.Dot(n0, n1)
		if dot <= 0 || dot*dot < minCos*minCos*l0*l1 {
			return false
		}
	}
	return true
}

// shapeQuality is 4√3·area / Σ edge², 1 for an equilateral triangle, given the
// squared doubled area and two edge vectors from the same corner.
func shapeQuality(n2 float64, e1, e2 vec3) float64 {
	s := geom.Dot(e1, e1) + geom.Dot(e2, e2) + geom.Dist2(e1, e2)
	if s == 0 {
		return 0
	}
	return 2 * math.Sqrt(3) * math.Sqrt(n2) / s
}

// apply collapses half-edge he (a→b), in triangle (a,b,c) whose twin lies in
// (b,a,d), moving b to x and removing a and both triangles.
func (c *collapser) apply(he, a, b int32, x vec3) {
	d := c.d
	h1, h2 := nextCorner(he), prevCorner(he) // b→c, c→a
	g0 := d.he[he].opp
	g1, g2 := nextCorner(g0), prevCorner(g0) // a→d, d→b
	o1, o2, o3, o4 := d.he[h1].opp, d.he[h2].opp, d.he[g1].opp, d.he[g2].opp
	for _, h := range c.fanA {
		d.he[h].v = b
	}
	d.he[o1].opp, d.he[o2].opp = o2, o1
	d.he[o3].opp, d.he[o4].opp = o4, o3
	for _, t := range [2]int32{he - he%3, g0 - g0%3} {
		d.he[t].v, d.he[t+1].v, d.he[t+2].v = -1, -1, -1
		d.he[t].opp, d.he[t+1].opp, d.he[t+2].opp = -1, -1, -1
	}
	d.vs[b].out = o2
	d.vs[d.he[o1].v].out = o1
	d.vs[d.he[o3].v].out = o3
	d.vs[a].out = -1
	d.vs[b].p = x
	d.quad[b].add(&d.quad[a])
	d.vs[a].flag |= dead
	// Fresh times, later than any before, so that the stamp sum of an edge
	// with a changed end differs from every sum recorded before.
	d.vs[a].stamp = c.nextStamp()
	d.vs[b].stamp = c.nextStamp()
	atomic.AddInt32(&d.compTris[d.vs[b].comp], -2)
}

// result compacts the surviving triangles and vertices into new slices,
// keeping the original vertex order.
func (d *Decimator) result() (positions []float32, indices []uint32) {
	remap := d.ints[:len(d.vs)]
	for i := range remap {
		remap[i] = -1
	}
	for _, h := range d.he {
		if h.v >= 0 {
			remap[h.v] = 0
		}
	}
	n := int32(0)
	for v := range remap {
		if remap[v] == 0 {
			remap[v] = n
			n++
		}
	}
	positions = make([]float32, 0, 3*n)
	indices = make([]uint32, 0, 3*d.live)
	for v := range remap {
		if remap[v] >= 0 {
			p := geom.Add(d.vs[v].p, d.centre)
			positions = append(positions, float32(p.X), float32(p.Y), float32(p.Z))
		}
	}
	for _, h := range d.he {
		if h.v >= 0 {
			indices = append(indices, uint32(remap[h.v]))
		}
	}
	return positions, indices
}
