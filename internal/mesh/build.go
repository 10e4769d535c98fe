package mesh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/iris-oculus/iris/internal/mesh/decimate"

	"github.com/iris-oculus/iris/internal/volume"

	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
)

// Options controls Build. Options whose fields are all zero but for
// MemoryBudget mean DefaultOptions with that budget; in any other, a zero
// Reduce or Workers takes its default and a zero Smooth means no
// smoothing.
type Options struct {
	// Smooth is the smoothing strength, 0..1; 0 is none. It sets the
	// windowed-sinc filter's pass band to 10^(-2·Smooth) (Laplacian
	// eigenvalue; 0.5 → 0.1, about as smooth as 3D Slicer's default), with
	// 20 iterations. Whatever the strength, no vertex moves more than a
	// voxel along any axis.
	Smooth float64
	// Reduce is the fraction of each organ's triangles that decimation
	// keeps, 0 < Reduce ≤ 1; 0 means 0.1.
	Reduce float64
	// MaxTriangles, if > 0, is a triangle budget for the whole scene, shared
	// between organs in proportion to their extracted triangle counts with
	// at least MinTriangles each; it overrides Reduce.
	MaxTriangles int
	// Labels restricts Build to these labels; nil means every label present.
	Labels []uint16
	// Workers is the most organs meshed at once; 0 means
	// runtime.GOMAXPROCS(0). Fewer run side by side where their working
	// sets would not fit the memory budget (see meshOrgans).
	Workers int
	// MemoryBudget is what the organs meshed side by side may hold
	// together, by their estimated working sets (bytesPerFace per
	// marching-cubes face). Below the default it means the default: the
	// biggest organ's working set and an eighth as much again, so that the
	// peak is about the biggest organ's (see meshOrgans). A caller with
	// memory to spare raises it so that big organs mesh side by side: on
	// a 512×512×300 CT's body and skeleton that took meshing from 13.2–13.9
	// s to 10.1–11.2 s on 2 cores (two processes, 2026-12-06).
	MemoryBudget int64
	// Progress, if not nil, is called after each organ with the number done
	// and the total. Calls are serialized.
	Progress func(done, total int)
}

// MinTriangles is the fewest triangles decimation leaves an organ with
// (unless it had fewer to begin with).
const MinTriangles = 100

// DefaultOptions returns moderate smoothing and 10% of the triangles.
func DefaultOptions() Options {
	return Options{Smooth: 0.5, Reduce: 0.1, Workers: runtime.GOMAXPROCS(0)}
}

// Resolved is o with its zero fields as Build takes them (see Options), or
// an error naming the field Build would refuse: what a caller records as
// the settings used.
func (o Options) Resolved() (Options, error) {
	if o.MemoryBudget < 0 {
		return o, fmt.Errorf("mesh: negative MemoryBudget %d", o.MemoryBudget)
	}
	if o.Smooth == 0 && o.Reduce == 0 && o.MaxTriangles == 0 && o.Labels == nil && o.Workers == 0 && o.Progress == nil {
		d := DefaultOptions()
		d.MemoryBudget = o.MemoryBudget
		return d, nil
	}
	if !(o.Smooth >= 0 && o.Smooth <= 1) {
		return o, fmt.Errorf("mesh: Smooth %v is outside 0..1", o.Smooth)
	}
	if o.Reduce == 0 {
		o.Reduce = DefaultOptions().Reduce
	}
	if !(o.Reduce > 0 && o.Reduce <= 1) {
		return o, fmt.Errorf("mesh: Reduce %v is outside (0, 1]", o.Reduce)
	}
	if o.MaxTriangles < 0 {
		return o, fmt.Errorf("mesh: negative MaxTriangles %d", o.MaxTriangles)
	}
	if o.Workers < 0 {
		return o, fmt.Errorf("mesh: negative Workers %d", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

// Surface is one label's mesh and its measurements.
type Surface struct {
	Label            uint16
	Mesh             *Mesh
	VoxelCount       int
	VoxelVolume      float64    // mm³ (count × voxel volume)
	MeshVolume       float64    // mm³, enclosed by Mesh
	SurfaceArea      float64    // mm²
	BBoxMin, BBoxMax [3]float64 // mm, RAS, of Mesh's vertices
	TouchesBorder    bool       // the label reaches the first or last index on some axis
	// Boundary: vertex distances to the label's voxel boundary (see
	// BoundaryDistances), what the exact volume does not decide.
	Boundary BoundaryStats
}

// geometry is the label map's index → RAS map and what follows from it.
type geometry struct {
	m           [3][4]float64
	flip        bool    // the map mirrors: triangles must be reversed
	voxelVolume float64 // mm³
	maxOffset   float64 // largest volume-correcting offset, mm
}

func newGeometry(a volume.Affine) (geometry, error) {
	var g geometry
	for r := range 3 {
		for c := range 4 {
			if math.IsNaN(a[r][c]) || math.IsInf(a[r][c], 0) {
				return g, fmt.Errorf("mesh: affine has a non-finite entry %v", a[r][c])
			}
			g.m[r][c] = a[r][c]
		}
	}
	det := a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
		a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
		a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	if det == 0 || math.IsNaN(det) {
		return g, errors.New("mesh: affine is singular (a voxel has no volume)")
	}
	g.flip = det < 0
	g.voxelVolume = math.Abs(det)
	minSpacing := math.Inf(1)
	for c := range 3 {
		minSpacing = min(minSpacing, math.Sqrt(a[0][c]*a[0][c]+a[1][c]*a[1][c]+a[2][c]*a[2][c]))
	}
	g.maxOffset = volumeOffsetLimit * minSpacing
	return g, nil
}

func (g *geometry) apply(p [3]float64) [3]float64 {
	var w [3]float64
	for r := range 3 {
		w[r] = g.m[r][0]*p[0] + g.m[r][1]*p[1] + g.m[r][2]*p[2] + g.m[r][3]
	}
	return w
}

// organ is one label to mesh, with how far to decimate it.
type organ struct {
	label  uint16
	stats  labelStats
	target int // decimation target; 0 = by Reduce
}

// Build meshes every label of lm (or opt.Labels) and returns the surfaces
// sorted by label. Labels are meshed in parallel, largest first, each
// cropped to its bounding box, within a memory budget set by the largest
// (or Options.MemoryBudget). It fails on an invalid label map or
// options, a label map with no labels, a requested label that is not
// present, or ctx being done.
func Build(ctx context.Context, lm *volume.LabelMap, opt Options) ([]Surface, error) {
	opt, err := opt.Resolved()
	if err != nil {
		return nil, err
	}
	if err := checkLabelMap(lm); err != nil {
		return nil, err
	}
	g, err := newGeometry(lm.Affine)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	organs, err := planOrgans(measureLabels(lm, opt.Workers), opt)
	if err != nil {
		return nil, err
	}
	return meshOrgans(ctx, lm, g, organs, opt)
}

func checkLabelMap(lm *volume.LabelMap) error {
	if lm == nil {
		return errors.New("mesh: nil label map")
	}
	d := lm.Dims
	if d[0] <= 0 || d[1] <= 0 || d[2] <= 0 {
		return fmt.Errorf("mesh: label map dims %v: every dimension must be positive", d)
	}
	if d[0] > math.MaxInt32 || d[1] > math.MaxInt32 || d[2] > math.MaxInt32 ||
		d[0]*d[1] > math.MaxInt/d[2] {
		return fmt.Errorf("mesh: label map dims %v are too large", d)
	}
	if n := d[0] * d[1] * d[2]; len(lm.Data) != n {
		return fmt.Errorf("mesh: label map has %d voxels, dims %v need %d", len(lm.Data), d, n)
	}
	return nil
}

// planOrgans picks the labels to mesh, in label order, with their targets.
func planOrgans(stats []labelStats, opt Options) ([]organ, error) {
	var organs []organ
	if opt.Labels == nil {
		for l := 1; l < len(stats); l++ {
			if stats[l].count > 0 {
				organs = append(organs, organ{label: uint16(l), stats: stats[l]})
			}
		}
		if len(organs) == 0 {
			return nil, errors.New("mesh: label map has no labels (every voxel is 0)")
		}
	} else {
		want := slices.Clone(opt.Labels)
		slices.Sort(want)
		want = slices.Compact(want)
		var missing []string
		for _, l := range want {
			if l == 0 {
				return nil, errors.New("mesh: label 0 is background and has no surface")
			}
			if int(l) >= len(stats) || stats[l].count == 0 {
				missing = append(missing, fmt.Sprint(l))
				continue
			}
			organs = append(organs, organ{label: l, stats: stats[l]})
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("mesh: labels not present in the label map: %s", strings.Join(missing, ", "))
		}
		if len(organs) == 0 {
			return nil, errors.New("mesh: Labels is empty")
		}
	}
	if opt.MaxTriangles > 0 {
		// A label's boundary voxel faces are its extracted vertices, and
		// its extracted triangles are twice that (less twice the Euler
		// characteristic): the faces share the budget as the triangles.
		var faces int64
		for _, j := range organs {
			faces += j.stats.faces
		}
		for i := range organs {
			share := float64(opt.MaxTriangles) * float64(organs[i].stats.faces) / float64(faces)
			organs[i].target = max(MinTriangles, int(share))
		}
	}
	return organs, nil
}

// bytesPerFace is about what meshing a label takes per boundary voxel face
// (one extracted vertex, two triangles) at its peak, in decimation: the
// RAS copy (36 bytes) and the decimator's vertices, quadrics, half-edges,
// per-edge scores and candidates (some 310 bytes). Extraction and
// smoothing take some 220.
const bytesPerFace = 350

// workingSet estimates the bytes meshing j holds at its peak.
func workingSet(j organ) int64 { return bytesPerFace * j.stats.faces }

// schedule returns the order in which to mesh the organs, indices into
// organs: the one with the biggest working set first, so that it never
// waits for room and never ends up alone at the end, then the rest by
// descending cost (bounding box plus faces), so that the last to finish
// is a small one; and the memory budget, the biggest working set and an
// eighth as much again.
func schedule(organs []organ) ([]int, int64) {
	order := make([]int, len(organs))
	for i := range order {
		order[i] = i
	}
	cost := func(j organ) int64 {
		b := int64(j.stats.hi[0]-j.stats.lo[0]+1) * int64(j.stats.hi[1]-j.stats.lo[1]+1) * int64(j.stats.hi[2]-j.stats.lo[2]+1)
		return b + 16*j.stats.faces
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(cost(organs[b]), cost(organs[a])) })
	if len(order) == 0 {
		return order, 0
	}
	big := 0
	for i, k := range order {
		if workingSet(organs[k]) > workingSet(organs[order[big]]) {
			big = i
		}
	}
	k := order[big]
	copy(order[1:big+1], order[:big])
	order[0] = k
	budget := workingSet(organs[k])
	return order, budget + budget/8
}

// meshOrgans meshes the organs on a pool of workers, biggest first so that
// the last one to finish is a small one. Organs run side by side only while
// their working sets fit a memory budget: the biggest organ's and an eighth
// as much again, or Options.MemoryBudget when that is more. So while the
// biggest runs, the other workers take organs up to an eighth of its size (on big_labels, while the liver runs, the
// small organs, which add up to more work than the liver), and the peak is
// about the biggest organ's working set, not the sum of the biggest few.
func meshOrgans(ctx context.Context, lm *volume.LabelMap, g geometry, organs []organ, opt Options) ([]Surface, error) {
	order, budget := schedule(organs)
	budget = max(budget, opt.MemoryBudget)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]Surface, len(organs))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		freed   = sync.NewCond(&mu)
		started = make([]bool, len(order))
		left    = len(order) // not started
		inUse   int64        // working sets of the organs being meshed
		done    int
		first   error
	)
	// claim returns the next organ in order whose working set fits the
	// budget beside those being meshed (any, when none is), waiting for
	// one to finish when none fits; -1 when every organ has started or the
	// build failed.
	claim := func() int {
		mu.Lock()
		defer mu.Unlock()
		for left > 0 && ctx.Err() == nil {
			for i, k := range order {
				if !started[i] && (inUse == 0 || inUse+workingSet(organs[k]) <= budget) {
					started[i] = true
					left--
					inUse += workingSet(organs[k])
					return k
				}
			}
			freed.Wait()
		}
		return -1
	}
	finish := func(k int, err error) {
		mu.Lock()
		defer mu.Unlock()
		inUse -= workingSet(organs[k])
		freed.Broadcast()
		if err != nil {
			if first == nil {
				first = err
			}
			cancel(err)
			return
		}
		done++
		if opt.Progress != nil {
			opt.Progress(done, len(organs))
		}
	}
	for range min(opt.Workers, len(organs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			for {
				k := claim()
				if k < 0 {
					return
				}
				s, err := w.surface(ctx, lm, g, organs[k], opt)
				if err == nil {
					out[k] = s
				}
				finish(k, err)
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return out, nil
}

// worker holds one goroutine's reusable buffers.
type worker struct {
	ex  extractor
	sm  smoother
	dec decimate.Decimator
	pos []float32
	idx []uint32
	vb  []float64
}

// surface meshes one label: extract, smooth, map to RAS, decimate, restore
// the volume, normals, measurements.
func (w *worker) surface(ctx context.Context, lm *volume.LabelMap, g geometry, j organ, opt Options) (Surface, error) {
	st := j.stats
	b := box{
		lo: [3]int{int(st.lo[0]), int(st.lo[1]), int(st.lo[2])},
		hi: [3]int{int(st.hi[0]), int(st.hi[1]), int(st.hi[2])},
	}
	if err := w.ex.extract(ctx, lm, j.label, b, int(st.faces)); err != nil {
		return Surface{}, err
	}
	if opt.Smooth > 0 {
		w.sm.smooth(w.ex.pos, w.ex.tris, passBand(opt.Smooth), smoothIterations)
	}
	if err := ctx.Err(); err != nil {
		return Surface{}, err
	}
	m := w.worldMesh(g)
	big := workingSet(j) > keepBytes
	if big {
		// A big organ's extraction and smoothing buffers are garbage now;
		// collect them before decimation allocates about as much again, or
		// the heap grows to hold both (the collector's pacing lets it
		// double between collections). On a heap of flat numeric slices a
		// collection takes milliseconds.
		w.trim()
		runtime.GC()
	}
	target := j.target
	if target == 0 {
		target = max(MinTriangles, int(math.Round(opt.Reduce*float64(m.Triangles()))))
	}
	if target < m.Triangles() {
		if pos, idx, ok := w.dec.Simplify(m.Positions, m.Indices, target); ok {
			m = &Mesh{Positions: pos, Indices: idx}
		} else {
			m = &Mesh{Positions: slices.Clone(m.Positions), Indices: slices.Clone(m.Indices)}
		}
	} else {
		m = &Mesh{Positions: slices.Clone(m.Positions), Indices: slices.Clone(m.Indices)}
	}
	if err := ctx.Err(); err != nil {
		return Surface{}, err
	}
	voxVol := float64(st.count) * g.voxelVolume
	w.vb = restoreVolume(m, voxVol, g.maxOffset, w.vb)
	m.ComputeNormals()

	s := Surface{
		Label:       j.label,
		Mesh:        m,
		VoxelCount:  int(st.count),
		VoxelVolume: voxVol,
		MeshVolume:  m.Volume(),
		SurfaceArea: m.Area(),
	}
	s.BBoxMin, s.BBoxMax = bounds(m.Positions)
	bs, err := Boundary(lm, j.label, m)
	if err != nil {
		return Surface{}, err
	}
	s.Boundary = bs
	for k := range 3 {
		if st.lo[k] == 0 || int(st.hi[k]) == lm.Dims[k]-1 {
			s.TouchesBorder = true
		}
	}
	if big {
		w.release()
		runtime.GC()
	}
	return s, nil
}

// keepBytes is the largest working set whose buffers a worker keeps from
// one organ to the next: small organs, the many, reuse their buffers; a big
// organ's are let go (and collected) as soon as it is done with them, so
// that they are not held through the rest of the build.
const keepBytes = 8 << 20

// trim lets go of the extraction and smoothing buffers.
func (w *worker) trim() {
	w.ex = extractor{}
	w.sm = smoother{}
}

// release lets go of the decimator's buffers and the RAS copy.
func (w *worker) release() {
	w.dec = decimate.Decimator{}
	w.pos, w.idx, w.vb = nil, nil, nil
}

// worldMesh maps the extracted surface to RAS millimetres in the worker's
// own buffers (the decimator copies what it keeps), reversing every triangle
// where the affine mirrors, so that they stay counter-clockwise seen from
// outside.
func (w *worker) worldMesh(g geometry) *Mesh {
	src := w.ex.pos
	w.pos = geom.Grow(w.pos, len(src))
	for v := 0; v+2 < len(src); v += 3 {
		p := g.apply([3]float64{src[v], src[v+1], src[v+2]})
		w.pos[v], w.pos[v+1], w.pos[v+2] = float32(p[0]), float32(p[1]), float32(p[2])
	}
	w.idx = append(w.idx[:0], w.ex.tris...)
	if g.flip {
		for t := 0; t+2 < len(w.idx); t += 3 {
			w.idx[t+1], w.idx[t+2] = w.idx[t+2], w.idx[t+1]
		}
	}
	return &Mesh{Positions: w.pos, Indices: w.idx}
}

func bounds(p []float32) (lo, hi [3]float64) {
	if len(p) < 3 {
		return lo, hi
	}
	for k := range 3 {
		lo[k], hi[k] = float64(p[k]), float64(p[k])
	}
	for v := 3; v+2 < len(p); v += 3 {
		for k := range 3 {
			x := float64(p[v+k])
			lo[k], hi[k] = min(lo[k], x), max(hi[k], x)
		}
	}
	return lo, hi
}
