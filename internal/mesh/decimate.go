package mesh

import (
	"fmt"
	"math"
	"slices"
)

// Decimate simplifies m to at most target triangles by quadric-error edge
// collapse (Garland–Heckbert) and returns a new mesh; m is not modified.
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
// target does it take collapses that change the volume.
//
// Because of those constraints the result can keep more than target
// triangles; target <= 0 simplifies as far as they allow (four triangles for
// a sphere-like component). Edges that are not shared by exactly two
// consistently oriented triangles, and vertices whose triangles do not form
// a single fan, are left untouched. A target at or above the triangle count,
// or a mesh whose indices are out of range or not a multiple of three, gives
// an unchanged copy. The result is compacted (no unused vertices) and has no
// Normals: positions moved, so the caller recomputes them.
//
// It is written by hand because no maintained pure-Go library does quadric
// decimation; meshoptimizer's simplifier would need cgo.
func Decimate(m *Mesh, target int) *Mesh {
	if m == nil {
		return nil
	}
	if target >= m.Triangles() || !decValid(m) {
		return decCopy(m)
	}
	d := newDecimator(m)
	d.run(target)
	return d.result()
}

// Tuning. decSigma2 is the variance of the normal in the probabilistic plane
// quadrics (Trettner & Kobbelt 2020): it adds a small point quadric that keeps
// the 3×3 system well conditioned on flat patches, where marching-cubes
// meshes are mostly flat, and there pulls new vertices towards the middle of
// the patch, which keeps triangles well shaped.
const (
	decSigma2   = 1e-3
	decMinCos   = 0.2  // smallest cosine between a triangle's normal before and after a collapse
	decMinShape = 0.05 // triangles worse than this (1 = equilateral) must not get worse
	decRescans  = 4    // full re-evaluations when the queue runs dry above target
)

const (
	decLocked uint8 = 1 << iota // on a non-manifold edge or vertex: never moves
	decDead                     // collapsed away
)

// decQuad is a symmetric quadric xᵀAx + 2bᵀx + c stored as
// A00 A01 A02 A11 A12 A22, b0 b1 b2, c.
type decQuad [10]float64

type decimator struct {
	vert   []decVertex
	idx    []int32  // vertex per corner; a corner is also the half-edge to the next corner; -1 once removed
	opp    []int32  // twin half-edge, -1 where the edge is not manifold
	out    []int32  // one outgoing half-edge per vertex, -1 when unused
	stamp  []uint32 // bumped whenever a vertex changes; invalidates queued edges
	flag   []uint8
	mark   []uint32 // scratch neighbour marks for the link condition
	tok    uint32
	heap   decHeap
	live   int  // triangles left
	strict bool // only collapses that keep the volume
	centre [3]float64

	// Scratch for one collapse: the outgoing half-edges of its ends, and the
	// triangles that survive it, relative to the edge's middle.
	fanA, fanB []int32
	wedges     []decWedge
}

// decVertex keeps a vertex's position, relative to the centre, beside its
// quadric: edges are visited in cost order, all over the mesh, so each visit
// is a cache miss, and one is cheaper than two.
type decVertex struct {
	q decQuad
	p [3]float64
}

// decWedge is a triangle around a collapsing edge: the moving corner v and
// the opposite side q→r.
type decWedge struct{ v, q, r [3]float64 }

// decEntry is a queued edge. It is stale once either end has changed:
// stamps only grow, so an unchanged sum means both are unchanged.
type decEntry struct {
	cost float32
	a, b int32
	s    uint32
}

func decNext(h int32) int32 {
	if h%3 == 2 {
		return h - 2
	}
	return h + 1
}

func decPrev(h int32) int32 {
	if h%3 == 0 {
		return h + 2
	}
	return h - 1
}

func decValid(m *Mesh) bool {
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

func decCopy(m *Mesh) *Mesh {
	c := &Mesh{
		Positions: append([]float32(nil), m.Positions...),
		Indices:   append([]uint32(nil), m.Indices...),
	}
	if m.Normals != nil {
		c.Normals = append([]float32(nil), m.Normals...)
	}
	return c
}

func newDecimator(m *Mesh) *decimator {
	nv, nh := m.Vertices(), len(m.Indices)
	d := &decimator{
		vert:  make([]decVertex, nv),
		idx:   make([]int32, nh),
		opp:   make([]int32, nh),
		out:   make([]int32, nv),
		stamp: make([]uint32, nv),
		flag:  make([]uint8, nv),
		mark:  make([]uint32, nv),
		live:  nh / 3,
	}
	d.centre = decCentre(m.Positions)
	rank := d.load(m)
	d.sortTriangles(m, rank)
	d.link()
	d.addQuadrics()
	d.fillQueue()
	return d
}

// load copies the vertices in Morton (Z-curve) order of their positions, so
// that vertices near each other in space are near each other in memory, and
// returns each input vertex's place in that order.
func (d *decimator) load(m *Mesh) []int32 {
	lo, hi := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}, [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i, p := range m.Positions {
		lo[i%3] = min(lo[i%3], float64(p))
		hi[i%3] = max(hi[i%3], float64(p))
	}
	scale := 1023 / max(hi[0]-lo[0], hi[1]-lo[1], hi[2]-lo[2], 1e-30)
	keys := make([]uint64, len(d.vert))
	for v := range keys {
		var c uint64
		for k := range 3 {
			c |= decSpread(uint64((float64(m.Positions[3*v+k])-lo[k])*scale)) << k
		}
		keys[v] = c<<32 | uint64(v)
	}
	slices.Sort(keys)
	rank := make([]int32, len(d.vert))
	for i, key := range keys {
		v := int(uint32(key))
		rank[v] = int32(i)
		for k := range 3 {
			d.vert[i].p[k] = float64(m.Positions[3*v+k]) - d.centre[k]
		}
	}
	return rank
}

// decSpread puts the 10 low bits of x 3 bits apart.
func decSpread(x uint64) uint64 {
	x &= 0x3ff
	x = (x | x<<16) & 0x30000ff
	x = (x | x<<8) & 0x300f00f
	x = (x | x<<4) & 0x30c30c3
	x = (x | x<<2) & 0x9249249
	return x
}

// sortTriangles copies the triangles renumbered by rank and ordered by their
// first vertex in that order (a counting sort), again for locality.
func (d *decimator) sortTriangles(m *Mesh, rank []int32) {
	start := make([]int32, len(rank)+1)
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
			d.idx[int(i)+c] = rank[m.Indices[3*t+c]]
		}
	}
}

// decCentre is the middle of the bounding box; working relative to it keeps
// float64 volumes and quadrics of patient-space coordinates precise.
func decCentre(p []float32) [3]float64 {
	if len(p) < 3 {
		return [3]float64{}
	}
	lo := [3]float32{p[0], p[1], p[2]}
	hi := lo
	for i := 3; i+2 < len(p); i += 3 {
		for k := range 3 {
			lo[k] = min(lo[k], p[i+k])
			hi[k] = max(hi[k], p[i+k])
		}
	}
	var c [3]float64
	for k := range 3 {
		c[k] = (float64(lo[k]) + float64(hi[k])) / 2
	}
	return c
}

// link pairs each half-edge with its twin through a vertex→outgoing
// half-edge table (CSR), and locks every vertex where the surface is not a
// closed, oriented 2-manifold.
func (d *decimator) link() {
	nv := len(d.out)
	start := make([]int32, nv+1)
	for h := range d.idx {
		start[d.idx[h]+1]++
	}
	for v := range nv {
		start[v+1] += start[v]
	}
	// dst holds, per outgoing half-edge, its end vertex and its id.
	dst := make([]int32, 2*len(d.idx))
	fill := append([]int32(nil), start[:nv]...)
	for h := range d.idx {
		a := d.idx[h]
		i := fill[a]
		fill[a]++
		dst[2*i] = d.idx[decNext(int32(h))]
		dst[2*i+1] = int32(h)
	}
	for t := 0; t < len(d.idx); t += 3 {
		a, b, c := d.idx[t], d.idx[t+1], d.idx[t+2]
		if a == b || b == c || c == a {
			d.flag[a] |= decLocked
			d.flag[b] |= decLocked
			d.flag[c] |= decLocked
		}
	}
	for h := range d.idx {
		a, b := d.idx[h], d.idx[decNext(int32(h))]
		twin, n := int32(-1), 0
		for i := start[b]; i < start[b+1]; i++ {
			if dst[2*i] == a {
				twin = dst[2*i+1]
				n++
			}
		}
		if n != 1 {
			twin = -1
			d.flag[a] |= decLocked
			d.flag[b] |= decLocked
		}
		d.opp[h] = twin
	}
	for v := range nv {
		n := start[v+1] - start[v]
		if n == 0 {
			d.out[v] = -1
			continue
		}
		d.out[v] = dst[2*start[v]+1]
		if d.flag[v]&decLocked != 0 {
			continue
		}
		// A single closed fan visits every outgoing half-edge; a pinched
		// vertex (two fans touching) visits only some of them.
		if n < 3 || d.fanSize(int32(v), n) != n {
			d.flag[v] |= decLocked
		}
	}
}

// fanSize walks the fan of v, giving up after limit steps.
func (d *decimator) fanSize(v int32, limit int32) int32 {
	h0 := d.out[v]
	h, n := h0, int32(0)
	for {
		n++
		h = d.opp[decPrev(h)]
		if h < 0 || h == h0 || n > limit {
			return n
		}
	}
}

func (d *decimator) addQuadrics() {
	for t := 0; t < len(d.idx); t += 3 {
		a, b, c := d.idx[t], d.idx[t+1], d.idx[t+2]
		pa, pb, pc := d.vert[a].p, d.vert[b].p, d.vert[c].p
		n := decCross(decSub(pb, pa), decSub(pc, pa))
		l := decLen(n)
		if l == 0 {
			continue
		}
		var ctr [3]float64
		for k := range 3 {
			ctr[k] = (pa[k] + pb[k] + pc[k]) / 3
		}
		q := decPlaneQuadric(decScale(n, 1/l), ctr, l/2)
		for _, v := range [3]int32{a, b, c} {
			d.vert[v].q.add(&q)
		}
	}
}

// decPlaneQuadric is w·((n·x − n·p)² + σ²|x − p|²), the isotropic
// probabilistic plane quadric of Trettner & Kobbelt.
func decPlaneQuadric(n, p [3]float64, w float64) decQuad {
	dd := -decDot(n, p)
	s := decSigma2
	return decQuad{
		w * (n[0]*n[0] + s), w * n[0] * n[1], w * n[0] * n[2],
		w * (n[1]*n[1] + s), w * n[1] * n[2],
		w * (n[2]*n[2] + s),
		w * (dd*n[0] - s*p[0]), w * (dd*n[1] - s*p[1]), w * (dd*n[2] - s*p[2]),
		w * (dd*dd + s*decDot(p, p)),
	}
}

func (q *decQuad) add(r *decQuad) {
	for k := range q {
		q[k] += r[k]
	}
}

func decSum(a, b *decQuad) decQuad {
	var q decQuad
	for k := range q {
		q[k] = a[k] + b[k]
	}
	return q
}

// inverse inverts A, reporting false when it is close to singular.
func (q *decQuad) inverse() (inv [6]float64, ok bool) {
	a00, a01, a02, a11, a12, a22 := q[0], q[1], q[2], q[3], q[4], q[5]
	c00 := a11*a22 - a12*a12
	c01 := a02*a12 - a01*a22
	c02 := a01*a12 - a02*a11
	det := a00*c00 + a01*c01 + a02*c02
	tr := a00 + a11 + a22
	if !(det > 1e-12*tr*tr*tr) {
		return inv, false
	}
	r := 1 / det
	return [6]float64{
		c00 * r, c01 * r, c02 * r,
		(a00*a22 - a02*a02) * r, (a01*a02 - a00*a12) * r,
		(a00*a11 - a01*a01) * r,
	}, true
}

func decMulSym(s *[6]float64, v [3]float64) [3]float64 {
	return [3]float64{
		s[0]*v[0] + s[1]*v[1] + s[2]*v[2],
		s[1]*v[0] + s[3]*v[1] + s[4]*v[2],
		s[2]*v[0] + s[4]*v[1] + s[5]*v[2],
	}
}

// eval is xᵀAx + 2bᵀx + c.
func (q *decQuad) eval(x [3]float64) float64 {
	return x[0]*(q[0]*x[0]+2*(q[1]*x[1]+q[2]*x[2]+q[6])) +
		x[1]*(q[3]*x[1]+2*(q[4]*x[2]+q[7])) +
		x[2]*(q[5]*x[2]+2*q[8]) + q[9]
}

func (d *decimator) movable(v int32) bool { return d.flag[v]&(decLocked|decDead) == 0 }

// fillQueue queues every collapsible edge once and heapifies.
func (d *decimator) fillQueue() {
	if d.heap == nil {
		// Room for the edges and half as many again, so that requeued
		// entries rarely make the queue grow; compactQueue makes room.
		d.heap = make(decHeap, 0, len(d.idx)/2*3/2)
	}
	d.heap = d.heap[:0]
	for h := range d.idx {
		t := d.opp[h]
		if t < int32(h) {
			continue
		}
		a, b := d.idx[h], d.idx[t]
		if d.movable(a) && d.movable(b) {
			d.heap = append(d.heap, d.entry(a, b))
		}
	}
	d.heap.init()
}

func (d *decimator) entry(a, b int32) decEntry {
	q := decSum(&d.vert[a].q, &d.vert[b].q)
	inv, ok := q.inverse()
	_, cost := d.place(&q, &inv, ok, a, b)
	return decEntry{cost: float32(cost), a: a, b: b, s: d.stamp[a] + d.stamp[b]}
}

// place returns the point minimising q, or the best of the ends and the
// midpoint when the system is ill-conditioned (!ok) or its solution lies
// farther from the edge's middle than the edge is long, with the error there.
func (d *decimator) place(q *decQuad, inv *[6]float64, ok bool, a, b int32) ([3]float64, float64) {
	pa, pb := d.vert[a].p, d.vert[b].p
	mid := decScale(decAdd(pa, pb), 0.5)
	if ok {
		x := decMulSym(inv, [3]float64{-q[6], -q[7], -q[8]})
		if decDist2(x, mid) <= decDist2(pa, pb) {
			return x, q.eval(x)
		}
	}
	best, cost := mid, q.eval(mid)
	for _, x := range [2][3]float64{pa, pb} {
		if c := q.eval(x); c < cost {
			best, cost = x, c
		}
	}
	return best, cost
}

// run collapses the cheapest edges until target triangles remain or no edge
// can go. Edges rejected by the checks leave the queue until an end changes;
// when the queue runs dry above target, all edges are queued again, since
// collapses nearby may have made them acceptable. Collapses that cannot keep
// the volume are taken only when volume-keeping ones run out.
func (d *decimator) run(target int) {
	for _, strict := range [2]bool{true, false} {
		d.strict = strict
		for pass := range decRescans + 1 {
			if pass > 0 || !strict {
				d.fillQueue()
			}
			if d.drain(target) == 0 || d.live <= target {
				break
			}
		}
		if d.live <= target {
			return
		}
	}
}

// drain collapses queued edges, cheapest first, until target triangles
// remain or the queue is empty, and returns the number collapsed.
func (d *decimator) drain(target int) int {
	collapsed := 0
	for d.live > target && len(d.heap) > 0 {
		e := d.heap.pop()
		if d.stamp[e.a]+d.stamp[e.b] != e.s || !d.movable(e.a) || !d.movable(e.b) {
			continue
		}
		if d.collapse(e.a, e.b) {
			collapsed++
			if len(d.heap)+64 > cap(d.heap) {
				d.compactQueue()
			}
			d.requeue(e.b)
		}
	}
	return collapsed
}

// compactQueue drops stale entries, so that the queue stays within its
// first allocation: at most the live edges remain.
func (d *decimator) compactQueue() {

	k := 0
	for _, e := range d.heap {
		if d.stamp[e.a]+d.stamp[e.b] == e.s {
			d.heap[k] = e
			k++
		}
	}
	d.heap = d.heap[:k]
	d.heap.init()
}

// requeue queues every collapsible edge around v.
func (d *decimator) requeue(v int32) {
	h0 := d.out[v]
	h := h0
	for {
		w := d.idx[decNext(h)]
		if d.movable(w) {
			d.heap.push(d.entry(v, w))
		}
		h = d.opp[decPrev(h)]
		if h == h0 {
			return
		}
	}
}

// fan appends the outgoing half-edges of v to buf.
func (d *decimator) fan(v int32, buf []int32) []int32 {
	buf = buf[:0]
	h0 := d.out[v]
	h := h0
	for {
		buf = append(buf, h)
		h = d.opp[decPrev(h)]
		if h == h0 {
			return buf
		}
	}
}

// collapse merges a into b if the checks allow, and reports whether it did.
func (d *decimator) collapse(a, b int32) bool {
	d.fanA = d.fan(a, d.fanA)
	d.fanB = d.fan(b, d.fanB)
	if len(d.fanA) == 3 && len(d.fanB) == 3 {
		return false // a tetrahedron: the smallest closed surface
	}
	d.tok++
	if d.tok == 0 {
		clear(d.mark)
		d.tok = 1
	}
	he := int32(-1)
	for _, h := range d.fanA {
		w := d.idx[decNext(h)]
		d.mark[w] = d.tok
		if w == b {
			he = h
		}
	}
	if he < 0 {
		return false
	}
	// Link condition: the one-rings share only the two opposite vertices.
	common := 0
	for _, h := range d.fanB {
		if w := d.idx[decNext(h)]; w != a && d.mark[w] == d.tok {
			common++
		}
	}
	if common != 2 {
		DbgReason = "link"
		return false
	}
	x, ok := d.target(a, b)
	if !ok {
		return false
	}
	d.apply(he, a, b, x)
	return true
}

// target chooses the new position of the merged vertex: the quadric's
// minimum subject to keeping the enclosed volume, or, unless d.strict, the
// unconstrained minimum; it reports false when the choice fails the triangle
// checks. The volume-keeping point may lie anywhere within the ring around
// the edge, or twice the edge's length from its middle, since on coarse,
// thin parts keeping the volume takes a long move.
func (d *decimator) target(a, b int32) ([3]float64, bool) {
	q := decSum(&d.vert[a].q, &d.vert[b].q)
	inv, invertible := q.inverse()
	x0, _ := d.place(&q, &inv, invertible, a, b)
	pa, pb := d.vert[a].p, d.vert[b].p
	o := decScale(decAdd(pa, pb), 0.5)
	g, s, r2 := d.gather(a, b, o)
	if invertible {
		// The volume after the collapse is linear in the new position x: the
		// surviving triangles around a and b, with a and b replaced by x,
		// enclose g·(x − o)/6 against s/6 before (Lindström & Turk 1998).
		// Of the points where they are equal, take the one nearest x0 in
		// the quadric's metric, so the least error.
		ag := decMulSym(&inv, g)
		if den := decDot(g, ag); den > 0 {
			xv := decAdd(x0, decScale(ag, (s-decDot(g, decSub(x0, o)))/den))
			DbgReason = fmt.Sprintf("far %.3f/%.3f x0 %.3f", math.Sqrt(decDist2(xv, o)), math.Sqrt(max(r2, 4*decDist2(pa, pb))), math.Sqrt(decDist2(x0, o)))
			if decDist2(xv, o) <= max(r2, 4*decDist2(pa, pb)) && d.acceptable(decSub(xv, o), g) {
				return xv, true
			}
		}
	}
	if d.strict {
		return x0, false
	}
	return x0, d.acceptable(decSub(x0, o), g)
}

// gather fills d.wedges with the triangles around a and b that survive their
// collapse, relative to o, and returns the volume terms g and s of target
// and the squared radius r2 of the ring around them.
func (d *decimator) gather(a, b int32, o [3]float64) (g [3]float64, s, r2 float64) {
	d.wedges = d.wedges[:0]
	for _, v := range [2]int32{a, b} {
		other, fan := b, d.fanA
		if v == b {
			other, fan = a, d.fanB
		}
		pv := decSub(d.vert[v].p, o)
		for _, h := range fan {
			qv, rv := d.idx[decNext(h)], d.idx[decPrev(h)]
			pq, pr := decSub(d.vert[qv].p, o), decSub(d.vert[rv].p, o)
			c := decCross(pq, pr)
			if qv == other || rv == other {
				// The two triangles on the edge vanish; count them once.
				if v == a {
					s += decDot(pv, c)
				}
				continue
			}
			g = decAdd(g, c)
			s += decDot(pv, c)
			r2 = max(r2, decDot(pq, pq))
			d.wedges = append(d.wedges, decWedge{pv, pq, pr})
		}
	}
	return g, s, r2
}

// acceptable reports whether moving the collapsing corners of d.wedges to x
// keeps every triangle facing the same way, non-degenerate and not much
// worse shaped. A sliver's normal is numerical noise, so a triangle that was
// one is held to the normal g of the whole fan instead: otherwise slivers
// block the collapses that would remove them.
func (d *decimator) acceptable(x, g [3]float64) bool {
	for i := range d.wedges {
		w := &d.wedges[i]
		eq, er := decSub(w.q, x), decSub(w.r, x)
		n1 := decCross(eq, er)
		l1 := decDot(n1, n1)
		if l1 == 0 {
			return false
		}
		e1, e2 := decSub(w.q, w.v), decSub(w.r, w.v)
		n0 := decCross(e1, e2)
		l0 := decDot(n0, n0)
		shape0, shape1 := decShape(l0, e1, e2), decShape(l1, eq, er)
		if shape1 < decMinShape && shape1 < shape0 {
			DbgReason += fmt.Sprintf(" shape %g<%g", shape1, shape0)
			return false
		}
		if shape0 < decMinShape {
			n0, l0 = g, decDot(g, g)
		}
		dot := decDot(n0, n1)
		if dot <= 0 || dot*dot < decMinCos*decMinCos*l0*l1 {
			DbgReason += fmt.Sprintf(" flip cos %g shape0 %g", dot/math.Sqrt(l0*l1), shape0)
			return false
		}
	}
	return true
}

// decShape is 4√3·area / Σ edge², 1 for an equilateral triangle, given the
// squared doubled area and two edge vectors from the same corner.
func decShape(n2 float64, e1, e2 [3]float64) float64 {
	s := decDot(e1, e1) + decDot(e2, e2) + decDist2(e1, e2)
	if s == 0 {
		return 0
	}
	return 2 * math.Sqrt(3) * math.Sqrt(n2) / s
}

// apply collapses half-edge he (a→b), in triangle (a,b,c) whose twin lies in
// (b,a,d), moving b to x and removing a and both triangles.
func (d *decimator) apply(he, a, b int32, x [3]float64) {
	h1, h2 := decNext(he), decPrev(he) // b→c, c→a
	g0 := d.opp[he]
	g1, g2 := decNext(g0), decPrev(g0) // a→d, d→b
	o1, o2, o3, o4 := d.opp[h1], d.opp[h2], d.opp[g1], d.opp[g2]
	for _, h := range d.fanA {
		d.idx[h] = b
	}
	d.opp[o1], d.opp[o2] = o2, o1
	d.opp[o3], d.opp[o4] = o4, o3
	for _, t := range [2]int32{he - he%3, g0 - g0%3} {
		d.idx[t], d.idx[t+1], d.idx[t+2] = -1, -1, -1
		d.opp[t], d.opp[t+1], d.opp[t+2] = -1, -1, -1
	}
	d.out[b] = o2
	d.out[d.idx[o1]] = o1
	d.out[d.idx[o3]] = o3
	d.out[a] = -1
	d.vert[b].p = x
	d.vert[b].q.add(&d.vert[a].q)
	d.flag[a] |= decDead
	d.stamp[a]++
	d.stamp[b]++
	d.live -= 2
}

// result compacts the surviving triangles and vertices into a new Mesh,
// keeping the original vertex order.
func (d *decimator) result() *Mesh {
	remap := make([]int32, len(d.out))
	for i := range remap {
		remap[i] = -1
	}
	for _, v := range d.idx {
		if v >= 0 {
			remap[v] = 0
		}
	}
	n := int32(0)
	for v := range remap {
		if remap[v] == 0 {
			remap[v] = n
			n++
		}
	}
	m := &Mesh{
		Positions: make([]float32, 0, 3*n),
		Indices:   make([]uint32, 0, 3*d.live),
	}
	for v := range remap {
		if remap[v] >= 0 {
			for k := range 3 {
				m.Positions = append(m.Positions, float32(d.vert[v].p[k]+d.centre[k]))
			}
		}
	}
	for _, v := range d.idx {
		if v >= 0 {
			m.Indices = append(m.Indices, uint32(remap[v]))
		}
	}
	return m
}

// decHeap is a 4-ary min-heap on cost with lazy deletion: four children of
// 16 bytes share a cache line or two, so a pop touches half the lines of a
// binary heap.
type decHeap []decEntry

func (h decHeap) init() {
	if len(h) < 2 {
		return
	}
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		h.down(i)
	}
}

func (h *decHeap) push(e decEntry) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s[p].cost <= e.cost {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

func (h *decHeap) pop() decEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	if n > 0 {
		(*h).down(0)
	}
	return top
}

func (h decHeap) down(i int) {
	n := len(h)
	e := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		best := c
		for j := c + 1; j < min(c+4, n); j++ {
			if h[j].cost < h[best].cost {
				best = j
			}
		}
		if h[best].cost >= e.cost {
			break
		}
		h[i] = h[best]
		i = best
	}
	h[i] = e
}

func decAdd(a, b [3]float64) [3]float64 { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func decSub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func decScale(a [3]float64, s float64) [3]float64 {
	return [3]float64{a[0] * s, a[1] * s, a[2] * s}
}
func decDot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func decLen(a [3]float64) float64    { return math.Sqrt(decDot(a, a)) }
func decDist2(a, b [3]float64) float64 {
	s := decSub(a, b)
	return decDot(s, s)
}
func decCross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

var DbgReason string
