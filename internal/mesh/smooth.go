package mesh

import (
	"math"

	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
)

// Smoothing, in voxel index coordinates (neighbour averaging commutes with
// the affine, so this is the same as smoothing in millimetres), in four
// steps.
//
// 1. Windowed-sinc filter (Taubin, Zhang & Golub, "Optimal surface
// smoothing as filter design", 1996; what VTK's
// vtkWindowedSincPolyDataFilter does): a low-pass filter on the mesh's
// graph Laplacian, written as a Chebyshev polynomial of the
// neighbour-averaging operator W. With the eigenvalues of W written cos θ
// (θ = 0 the mean, larger θ finer detail), the ideal filter keeps θ < θpb;
// its cosine series, truncated to N terms and tapered by a window, is
// Σ wₙcₙTₙ(W) with c₀ = θpb/π and cₙ = 2 sin(nθpb)/(nπ). The coefficients
// are scaled to sum to one, so a translation passes unchanged and large
// shapes, the low frequencies, pass with gain close to one: unlike plain
// Laplacian smoothing, the surface does not shrink.
//
// 2. Thin structures. The filter still shrinks a tube a few voxels across
// toward its axis: the loop of vertices around it is a short wave, which
// the filter removes. Yet the tube's shrinkage, seen as each vertex's
// displacement along its normal, is the same all around the loop and
// along the tube: a long wave. So the normal displacement is low-passed
// (with a tenth of the pass band) and taken back. The voxel staircase,
// whose normal displacement alternates within a few edges, stays removed.
//
// 3. A limit: no vertex moves more than smoothReach voxels along any axis
// from its marching-cubes position, which lies on the voxel boundary. The
// limit scales each vertex's move by a weight w ≤ 1, spread to its
// neighbours so that the limit does not leave a crease.
//
// 4. No folds: every triangle must keep facing the way its marching-cubes
// original faces (by a margin, so none becomes a sliver); the moves of the
// vertices of one that does not are halved until it does, and undone if
// that is not enough.

const (
	smoothIterations = 20
	// restoreBand is the pass band of step 2 relative to step 1's.
	restoreBand = 0.1
	// smoothReach bounds a vertex's move along each index axis, in voxels.
	smoothReach = 1.0
	// spreadRounds is how far, in edges, a reduced weight spreads.
	spreadRounds = 3
	// foldMargin is the least ratio of a triangle's area projected on its
	// original normal to its longest edge squared.
	foldMargin = 1e-3
	// foldHalvings is how many times a folding vertex's move is halved
	// before it is undone.
	foldHalvings = 6
)

// passBand maps Options.Smooth (0..1] to the filter's pass band kpb, an
// eigenvalue of the Laplacian I−W: 10^(−2·Smooth), so 0.5 gives 0.1. On a
// regular mesh a wave of λ edges has kpb ≈ 2π²/λ², so 0.5 keeps waves
// longer than about 14 edges and removes the voxel staircase (2 to 6
// edges). At 0.5 the surfaces are about as smooth (mean angle between
// neighbouring triangles) as 3D Slicer's default, whose VTK filter counts
// its pass band on another scale.
func passBand(smooth float64) float64 { return math.Pow(10, -2*smooth) }

// sincCoefficients returns the n+1 filter coefficients for pass band kpb
// (an eigenvalue of the Laplacian I−W, in (0, 2)), windowed with a Nuttall
// window, which unlike Hamming's does not bias the overall scale.
func sincCoefficients(kpb float64, n int) []float64 {
	theta := math.Acos(1 - kpb)
	c := make([]float64, n+1)
	var sum float64
	for i := range c {
		x := math.Pi * float64(i) / float64(n+1)
		w := 0.355768 + 0.487396*math.Cos(x) + 0.144232*math.Cos(2*x) + 0.012604*math.Cos(3*x)
		if i == 0 {
			c[i] = theta / math.Pi
		} else {
			c[i] = 2 * math.Sin(float64(i)*theta) / (float64(i) * math.Pi)
		}
		c[i] *= w
		sum += c[i]
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

// smoother holds the buffers of smooth, reused between labels.
type smoother struct {
	start      []int32  // CSR offsets into nbr
	nbr        []uint32 // each vertex's neighbours
	t0, t1, t2 []float64
	move, nrm  []float64 // 3 per vertex
	h, hf, w   []float64 // 1 per vertex
	bad        []bool
}

// smooth moves pos (3 per vertex, voxel index coordinates), the vertices
// of the closed triangle mesh tris, as described above.
func (s *smoother) smooth(pos []float64, tris []uint32, kpb float64, iterations int) {
	nv := len(pos) / 3
	s.neighbours(nv, tris)

	// 1. Filter; move = filtered − original.
	s.move = geom.Grow(s.move, 3*nv)
	s.filter(s.move, pos, 3, sincCoefficients(kpb, iterations))
	for i, p := range pos {
		s.move[i] -= p
	}

	// 2. Take back the low-passed normal displacement.
	s.nrm = geom.Grow(s.nrm, 3*nv)
	s.h, s.hf = geom.Grow(s.h, nv), geom.Grow(s.hf, nv)
	s.t0 = geom.Grow(s.t0, 3*nv) // free until the next filter
	smoothed := s.t0
	for i := range smoothed {
		smoothed[i] = pos[i] + s.move[i]
	}
	vertexNormals(s.nrm, smoothed, tris)
	for v := range nv {
		s.h[v] = dot3(vec(s.move, uint32(v)), vec(s.nrm, uint32(v)))
	}
	s.filter(s.hf, s.h, 1, sincCoefficients(kpb*restoreBand, iterations))
	for v := range nv {
		for k := range 3 {
			s.move[3*v+k] -= s.hf[v] * s.nrm[3*v+k]
		}
	}

	// 3. Limit the reach, without creases.
	s.w = geom.Grow(s.w, nv)
	for v := range nv {
		m := max(math.Abs(s.move[3*v]), math.Abs(s.move[3*v+1]), math.Abs(s.move[3*v+2]))
		s.w[v] = min(1, smoothReach/m)
	}
	s.spread(spreadRounds)

	// 4. Unfold, then apply.
	s.unfold(pos, tris)
	for v := range nv {
		for k := range 3 {
			pos[3*v+k] += s.w[v] * s.move[3*v+k]
		}
	}
}

// spread lowers each weight to the mean of its neighbours' where that is
// lower, rounds times: a limited vertex pulls its surroundings down
// gradually instead of standing out as a kink. Weights only decrease, so
// every limit still holds.
func (s *smoother) spread(rounds int) {
	nv := len(s.w)
	for range rounds {
		lowered := false
		for v := range nv {
			nb := s.nbr[s.start[v]:s.start[v+1]]
			var m float64
			for _, u := range nb {
				m += s.w[u]
			}
			if m /= float64(len(nb)); m < s.w[v] {
				s.w[v] = m
				lowered = true
			}
		}
		if !lowered {
			return
		}
	}
}

// unfold lowers the weights of the vertices of every triangle that would
// not face the way its original does, until none is left: halving them a
// few times, then setting them to zero, which restores the original
// triangle; each zeroing round grows the set of restored vertices, so the
// loop ends.
func (s *smoother) unfold(pos []float64, tris []uint32) {
	s.bad = geom.Grow(s.bad, len(s.w))
	at := func(v uint32) vec3 {
		return geom.Add(vecAt(pos, v), geom.Scale(vecAt(s.move, v), s.w[v]))
	}
	for round := 0; ; round++ {
		clear(s.bad)
		found := false
		for t := 0; t+2 < len(tris); t += 3 {
			i, j, k := tris[t], tris[t+1], tris[t+2]
			if s.w[i] == 0 && s.w[j] == 0 && s.w[k] == 0 {
				continue // the original triangle
			}
			a := vecAt(pos, i)
			n0 := geom.Cross(geom.Sub(vecAt(pos, j), a), geom.Sub(vecAt(pos, k), a))
			a, b, c := at(i), at(j), at(k)
			e1, e2 := geom.Sub(b, a), geom.Sub(c, a)
			l := max(geom.Dot(e1, e1), geom.Dot(e2, e2), geom.Dist2(c, b))
			if geom.Dot(geom.Cross(e1, e2), n0) <= foldMargin*l*math.Sqrt(geom.Dot(n0, n0)) {
				s.bad[i], s.bad[j], s.bad[k] = true, true, true
				found = true
			}
		}
		if !found {
			return
		}
		f := 0.5
		if round >= foldHalvings {
			f = 0
		}
		for v, b := range s.bad {
			if b {
				s.w[v] *= f
			}
		}
	}
}

// filter sets dst to the filter with coefficients c applied to src, which
// has dim values per vertex: Σ c[n]·T(n) with T(0) = src, T(1) = W·src and
// T(n) = 2·W·T(n−1) − T(n−2).
func (s *smoother) filter(dst, src []float64, dim int, c []float64) {
	t0 := append(s.t0[:0], src...)
	t1, t2 := geom.Grow(s.t1, len(src)), geom.Grow(s.t2, len(src))
	s.average(t1, t0, dim)
	for i := range dst {
		dst[i] = c[0]*t0[i] + c[1]*t1[i]
	}
	for n := 2; n < len(c); n++ {
		s.average(t2, t1, dim)
		cn := c[n]
		for i, w := range t2 {
			v := 2*w - t0[i]
			t2[i] = v
			dst[i] += cn * v
		}
		t0, t1, t2 = t1, t2, t0
	}
	s.t0, s.t1, s.t2 = t0, t1, t2
}

// vertexNormals sets n to the area-weighted unit vertex normals of the
// mesh with positions p (n and p distinct); a vertex in no triangle gets 0.
func vertexNormals(n, p []float64, tris []uint32) {
	clear(n)
	for t := 0; t+2 < len(tris); t += 3 {
		i, j, k := tris[t], tris[t+1], tris[t+2]
		a := vecAt(p, i)
		c := geom.Cross(geom.Sub(vecAt(p, j), a), geom.Sub(vecAt(p, k), a))
		for _, v := range [3]uint32{i, j, k} {
			m := n[3*v : 3*v+3 : 3*v+3]
			m[0] += c.X
			m[1] += c.Y
			m[2] += c.Z
		}
	}
	for v := 0; v+2 < len(n); v += 3 {
		if l := math.Sqrt(n[v]*n[v] + n[v+1]*n[v+1] + n[v+2]*n[v+2]); l > 0 {
			n[v], n[v+1], n[v+2] = n[v]/l, n[v+1]/l, n[v+2]/l
		}
	}
}

// neighbours builds the vertex adjacency of a closed, oriented manifold:
// each directed edge a→b occurs exactly once, so listing b under a for
// every triangle edge names each neighbour exactly once.
func (s *smoother) neighbours(nv int, tris []uint32) {
	// Count into start[v], sum to the end of v's range, then fill each range
	// from its end: start[v] comes down to the range's beginning.
	s.start = geom.Zeroed(s.start, nv+1)
	for _, v := range tris {
		s.start[v]++
	}
	for v := 1; v < nv; v++ {
		s.start[v] += s.start[v-1]
	}
	s.start[nv] = int32(len(tris))
	s.nbr = geom.Grow(s.nbr, len(tris))
	for t := 0; t+2 < len(tris); t += 3 {
		a, b, c := tris[t], tris[t+1], tris[t+2]
		s.start[a]--
		s.nbr[s.start[a]] = b
		s.start[b]--
		s.nbr[s.start[b]] = c
		s.start[c]--
		s.nbr[s.start[c]] = a
	}
}

// average sets dst to W·src, src having dim values per vertex: each
// vertex gets the mean of its neighbours.
func (s *smoother) average(dst, src []float64, dim int) {
	if dim == 1 {
		for v := 0; v+1 < len(s.start); v++ {
			nb := s.nbr[s.start[v]:s.start[v+1]]
			var x float64
			for _, u := range nb {
				x += src[u]
			}
			dst[v] = x / float64(len(nb))
		}
		return
	}
	for v := 0; v+1 < len(s.start); v++ {
		nb := s.nbr[s.start[v]:s.start[v+1]]
		var x, y, z float64
		for _, u := range nb {
			p := src[3*u : 3*u+3 : 3*u+3]
			x += p[0]
			y += p[1]
			z += p[2]
		}
		inv := 1 / float64(len(nb))
		dst[3*v], dst[3*v+1], dst[3*v+2] = x*inv, y*inv, z*inv
	}
}
