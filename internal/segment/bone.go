package segment

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/iris-oculus/iris/internal/hugepage"
)

// boneParams are the skeleton thresholds; see defaultBone.
type boneParams struct {
	seedHU, growHU int16   // hysteresis on the 3 mm-scale CT: cortex seeds, partial-volume edge
	edgeHU         int16   // on finer grids, the unsmoothed voxel's threshold
	closeMM        float64 // in-plane closing that seals gaps in the cortex (see closingMM)
	maxHoleMM2     float64 // largest marrow cavity filled in a slice
	// A cavity whose mean HU lies strictly between softMinHU and
	// softMaxHU is soft tissue, not trabecular (denser) or fatty
	// (lighter) marrow; in the midline it is the spinal canal and stays
	// open.
	softMinHU, softMaxHU int16
	// On finer grids only: the outline's voxels must reach rimHU (about
	// half-way from soft tissue to cortex, a threshold only a sharp
	// boundary can be held to), and the slice's bone is opened by a disk
	// of openMM, which removes spurs and thin calcified vessel walls and
	// is a no-op on 3 mm voxels.
	rimHU  int16
	openMM float64
	// A piece of skeleton smaller than minPieceML whose voxels spread
	// less than minPieceSpreadMM (standard deviation along its longest
	// axis) is a calcification, not a bone: ribs and vertebrae are larger
	// or, when a thin slab cuts a rib short, long arcs.
	minPieceML, minPieceSpreadMM float64
}

// defaultBone was chosen on the two TotalSegmentator examples (a
// non-contrast 3 mm CT and a contrast-enhanced 1×1×2 mm one): a lower
// growHU or edgeHU takes in contrast-filled vessels and costal cartilage,
// a higher one loses the thin ribs of the 3 mm scan. rimHU and openMM trim
// the fine scan's outline by about a voxel, where it was systematically
// fatter than TotalSegmentator's; the piece rule drops isolated aortic
// and cartilage calcifications. Calcified aortic wall touching a vertebra
// and calcified costal cartilage continuing a rib still count as bone.
var defaultBone = boneParams{
	seedHU: 250, growHU: 120, edgeHU: 180, closeMM: 4, maxHoleMM2: 800, softMinHU: -30, softMaxHU: 60,
	rimHU: 220, openMM: 1.5, minPieceML: 1.5, minPieceSpreadMM: 10,
}

// canalMidlineMM is how far from the body's midline the spinal canal's
// centre may lie.
const canalMidlineMM = 20

// boneFlag marks hysteresis bone in the label array while the skeleton is
// built; no label value uses the bit.
const boneFlag = 0x8000

// skeleton marks bone in lab (which holds the body). On the CT smoothed to
// a 3 mm scale, so that thresholds meet the same partial-volume mix at
// every resolution: cortex above seedHU and its edge above growHU joined
// to it in 3D. Then per slice the cortex is closed and the cavities it
// encloses are filled: trabecular or fatty marrow, but not the spinal
// canal (soft-tissue density in the midline). Closing the cortex matters
// because trabecular bone of an elderly spine is barely denser than
// muscle at 3 mm. On finer grids the slice's outline is then trimmed
// (rimHU, openMM); last, small compact pieces are dropped (dropPieces).
func skeleton(fr frame, hu []int16, lab []uint16, mid []float64, bp boneParams) {
	hs := smoothed(fr, hu)
	hysteresis(fr, hs, lab, bp)
	edge, rim := bp.growHU, int16(math.MinInt16)
	if &hs[0] != &hu[0] {
		edge, rim = bp.edgeHU, bp.rimHU
	}
	nxy := fr.dims[0] * fr.dims[1]
	parallel(fr.dims[2], func(k0, k1 int) {
		s := newBoneSlice(fr, bp)
		for k := k0; k < k1; k++ {
			o := k * nxy
			s.run(hu[o:o+nxy], hs[o:o+nxy], lab[o:o+nxy], edge, rim, mid[k])
		}
	})
	dropPieces(fr, lab, bp)
}

// hysteresis sets boneFlag on body voxels of hs above growHU that are
// 6-connected to one above seedHU.
func hysteresis(fr frame, hs []int16, lab []uint16, bp boneParams) {
	nx, ny, nz := fr.dims[0], fr.dims[1], fr.dims[2]
	nxy := nx * ny
	// Seeds are collected per slice in parallel, then grown serially.
	seeds := make([][]int32, nz)
	parallel(nz, func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			var s []int32
			for p := k * nxy; p < (k+1)*nxy; p++ {
				if hs[p] >= bp.seedHU && lab[p] == labBody {
					lab[p] |= boneFlag
					s = append(s, int32(p))
				}
			}
			seeds[k] = s
		}
	})
	var stack []int32
	for _, s := range seeds {
		stack = append(stack, s...)
	}
	grow := bp.growHU
	for len(stack) > 0 {
		p := int(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		try := func(q int) {
			if lab[q] == labBody && hs[q] >= grow {
				lab[q] |= boneFlag
				stack = append(stack, int32(q))
			}
		}
		forNeighbours6(p, nx, ny, nz, try)
	}
}

// boneSlice holds one worker's buffers for closing and filling a slice.
type boneSlice struct {
	nx, ny   int
	sp       [2]float64
	lr       int
	bp       boneParams
	m, c     *bitplane
	tmp      *bitplane
	widths   []int
	opening  []int // disk of bp.openMM; nil where it is a single pixel
	xs       []*bitplane
	stack    []int32
	holeLab  []int32
	holeSize []int
}

func newBoneSlice(fr frame, bp boneParams) *boneSlice {
	nx, ny := fr.dims[0], fr.dims[1]
	s := &boneSlice{
		nx: nx, ny: ny, sp: [2]float64{fr.sp[0], fr.sp[1]}, lr: fr.lr, bp: bp,
		m: newBitplane(nx, ny), c: newBitplane(nx, ny), tmp: newBitplane(nx, ny),
		holeLab: make([]int32, nx*ny),
	}
	s.widths = diskWidths(closingMM(bp.closeMM, s.sp), s.sp)
	if w := diskWidths(min(bp.openMM, bp.closeMM), s.sp); len(w) > 1 || w[0] > 0 {
		s.opening = w
	}
	for range s.widths {
		s.xs = append(s.xs, newBitplane(nx, ny))
	}
	return s
}

// closingMM is the radius of the disk that closes the cortex: closeMM, or
// on pixels so coarse that a disk of closeMM would leave out the diagonal
// neighbours (a plus sign on 3 mm pixels), just enough to take in the
// whole 3×3 neighbourhood. There, thin cortex lost to partial volume
// breaks the ring by a pixel in any direction, diagonal ones included, and
// a plus-shaped closing leaves such gaps open, so the marrow inside is
// never filled.
func closingMM(closeMM float64, sp [2]float64) float64 {
	diag := math.Hypot(sp[0], sp[1]) * (1 + 1e-9) // 1e-9: diskWidths truncates
	return max(closeMM, diag)
}

func (s *boneSlice) run(hu, hs []int16, lab []uint16, edge, rim int16, mid float64) {
	s.m.clear()
	jlo, jhi := s.ny, -1
	for p, l := range lab {
		if l&boneFlag == 0 {
			continue
		}
		lab[p] = l &^ boneFlag
		if hu[p] < edge {
			continue
		}
		i, j := p%s.nx, p/s.nx
		s.m.set(i, j)
		jlo, jhi = min(jlo, j), max(jhi, j)
	}
	if jhi < 0 {
		return
	}
	ry := len(s.widths) - 1
	j0, j1 := max(0, jlo-ry-1), min(s.ny, jhi+ry+2)
	closeDisk(s.c, s.m, s.widths, s.xs, s.tmp, j0, j1)
	s.fill(hs, lab, mid, j0, j1)
	s.peel(hu, rim, j0, j1)
	s.open(j0, j1)
	for j := j0; j < j1; j++ {
		for k, v := range s.m.row(j) {
			for v != 0 {
				lab[k<<6+bits.TrailingZeros64(v)+s.nx*j] = labSkeleton
				v &= v - 1
			}
		}
	}
}

// peel clears the pixels of s.m's outline (4-neighbours of a pixel
// outside it) below rim HU.
func (s *boneSlice) peel(hu []int16, rim int16, j0, j1 int) {
	if rim == math.MinInt16 {
		return
	}
	m, out := s.m, s.tmp
	zero := s.xs[0].row(0)
	clear(zero)
	for j := j0; j < j1; j++ {
		r, up, dn := m.row(j), zero, zero
		if j > 0 {
			up = m.row(j - 1)
		}
		if j < m.ny-1 {
			dn = m.row(j + 1)
		}
		o := out.row(j)
		for k, v := range r {
			west, east := v<<1, v>>1
			if k > 0 {
				west |= r[k-1] >> 63
			}
			if k < len(r)-1 {
				east |= r[k+1] << 63
			}
			edge := v &^ (west & east & up[k] & dn[k])
			o[k] = v
			for edge != 0 {
				b := bits.TrailingZeros64(edge)
				edge &= edge - 1
				if hu[k<<6+b+s.nx*j] < rim {
					o[k] &^= 1 << b
				}
			}
		}
	}
	for j := j0; j < j1; j++ {
		copy(m.row(j), out.row(j))
	}
}

// open replaces s.m by its opening with the disk s.opening.
func (s *boneSlice) open(j0, j1 int) {
	w := s.opening
	if w == nil {
		return
	}
	xs, ero := s.xs[:len(w)], s.c
	dilateDisk(s.tmp, s.m, xs, w, j0, j1, true)
	ry := len(w) - 1
	for j := max(0, j0-ry); j < min(ero.ny, j1+ry); j++ {
		r := ero.row(j)
		if j < j0 || j >= j1 {
			clear(r)
			continue
		}
		for k, v := range s.tmp.row(j) {
			r[k] = ^v
		}
		r[len(r)-1] &= ero.last
	}
	dilateDisk(s.m, ero, xs, w, j0, j1, false)
}

// fill sets in s.m the closed cortex and the cavities it encloses within
// rows [j0, j1), which are empty at both ends, where lab holds the body.
func (s *boneSlice) fill(hs []int16, lab []uint16, mid float64, j0, j1 int) {
	nx, c, o := s.nx, s.c, s.tmp
	// Background reachable from the plane's border is outside: seed the
	// window's first and last rows and the plane's side columns, then
	// sweep down and up until nothing changes.
	free := s.xs[0]
	for j := j0; j < j1; j++ {
		f, or := free.row(j), o.row(j)
		for k, v := range c.row(j) {
			f[k] = ^v
			or[k] = 0
		}
		f[len(f)-1] &= c.last
		or[0] = f[0] & 1
		or[len(or)-1] |= f[len(f)-1] & (1 << ((nx - 1) & 63))
	}
	copy(o.row(j0), free.row(j0))
	copy(o.row(j1-1), free.row(j1-1))
	for changed := true; changed; {
		changed = false
		for j := j0 + 1; j < j1; j++ {
			changed = spread(o.row(j), o.row(j-1), free.row(j)) || changed
		}
		for j := j1 - 2; j >= j0; j-- {
			changed = spread(o.row(j), o.row(j+1), free.row(j)) || changed
		}
	}
	// What is neither cortex nor outside is a cavity; label the cavities.
	s.holeSize = s.holeSize[:0]
	type stat struct{ sum, pos int }
	var stats []stat
	for j := j0; j < j1; j++ {
		for k, v := range free.row(j) {
			hole := v &^ o.row(j)[k]
			for hole != 0 {
				i := k<<6 + bits.TrailingZeros64(hole)
				hole &= hole - 1
				p := i + nx*j
				if s.holeLab[p] != 0 {
					continue
				}
				id := int32(len(s.holeSize) + 1)
				var st stat
				n := 0
				s.stack = append(s.stack[:0], int32(p))
				s.holeLab[p] = id
				for len(s.stack) > 0 {
					q := int(s.stack[len(s.stack)-1])
					s.stack = s.stack[:len(s.stack)-1]
					n++
					qi, qj := q%nx, q/nx
					st.sum += int(hs[q])
					st.pos += [2]int{qi, qj}[s.lr]
					for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
						ri, rj := qi+d[0], qj+d[1]
						if ri < 0 || ri >= nx || rj < j0 || rj >= j1 {
							continue
						}
						r := ri + nx*rj
						if s.holeLab[r] != 0 || c.get(ri, rj) || o.get(ri, rj) {
							continue
						}
						s.holeLab[r] = id
						s.stack = append(s.stack, int32(r))
					}
				}
				s.holeSize = append(s.holeSize, n)
				stats = append(stats, st)
			}
		}
	}
	ok := make([]bool, len(s.holeSize)+1)
	area := s.sp[0] * s.sp[1]
	for h, n := range s.holeSize {
		mean := stats[h].sum / n
		off := math.Abs(float64(stats[h].pos)/float64(n)-mid) * s.sp[s.lr]
		soft := mean > int(s.bp.softMinHU) && mean < int(s.bp.softMaxHU)
		ok[h+1] = float64(n)*area <= s.bp.maxHoleMM2 && !(soft && off < canalMidlineMM)
	}
	// The bone goes to s.m, no longer needed as the closing's source.
	for j := j0; j < j1; j++ {
		out := s.m.row(j)
		for k, v := range free.row(j) {
			out[k] = 0
			bone := c.row(j)[k] | v&^o.row(j)[k] // cortex or cavity
			for bone != 0 {
				b := bits.TrailingZeros64(bone)
				bone &= bone - 1
				p := k<<6 + b + nx*j
				h := s.holeLab[p]
				s.holeLab[p] = 0
				if (h == 0 || ok[h]) && lab[p] == labBody {
					out[k] |= 1 << b
				}
			}
		}
	}
}

// spread grows the outside region o of a row from the row above or below
// (from) and then along the row's runs of free pixels, reporting whether
// it grew.
func spread(o, from, free []uint64) bool {
	var before [8]uint64 // enough for rows of 512 pixels without allocating
	old := append(before[:0], o...)
	for k := range o {
		o[k] |= from[k] & free[k]
	}
	// Along the row: adding the seeds to the free mask carries each seed
	// through its run of free bits, toward higher bits; reversing the bits
	// does the same toward lower ones.
	var carry uint64
	for k := range o {
		f := free[k]
		x := o[k]&f | carry&f&1
		sum, c := bits.Add64(f, x, 0)
		o[k] = (sum^f)&f | x
		carry = c
	}
	carry = 0
	for k := len(o) - 1; k >= 0; k-- {
		f := bits.Reverse64(free[k])
		x := bits.Reverse64(o[k])&f | carry&f&1
		sum, c := bits.Add64(f, x, 0)
		o[k] = bits.Reverse64((sum^f)&f | x)
		carry = c
	}
	for k := range o {
		if o[k] != old[k] {
			return true
		}
	}
	return false
}

// smoothed averages hu over a box of about coarseMM on each side (an odd
// number of voxels; one where the voxels are that large already, in which
// case hu itself is returned).
func smoothed(fr frame, hu []int16) []int16 {
	var r [3]int
	for a := range 3 {
		r[a] = blockFactor(fr.sp[a]) / 2
	}
	if r == [3]int{} {
		return hu
	}
	nx, ny, nz := fr.dims[0], fr.dims[1], fr.dims[2]
	nxy := nx * ny
	a := hugepage.Make[int16](len(hu))
	parallel(nz, func(k0, k1 int) {
		b := newBoxPlane(nx, ny, r[0], r[1])
		for k := k0; k < k1; k++ {
			b.mean(hu[k*nxy:(k+1)*nxy], a[k*nxy:(k+1)*nxy])
		}
	})
	boxSlices(a, nxy, nz, r[2])
	return a
}

// boxSlices replaces every plane of a (nz planes of nxy values) by the
// mean of the planes within r of it, in place: each worker owns a run of
// planes, keeps the originals of those it has overwritten, and reads the
// neighbours' planes beyond its run from copies taken before any work.
func boxSlices(a []int16, nxy, nz, r int) {
	if r == 0 {
		return
	}
	plane := func(k int) []int16 { return a[k*nxy : (k+1)*nxy] }
	w := min(runtime.GOMAXPROCS(0), nz)
	bounds := make([]int, w+1)
	for c := range bounds {
		bounds[c] = c * nz / w
	}
	lo := make([][][]int16, w) // lo[c][d]: original of plane bounds[c]-r+d
	hi := make([][][]int16, w) // hi[c][d]: original of plane bounds[c+1]+d
	for c := range w {
		for d := range r {
			var l, h []int16
			if k := bounds[c] - r + d; k >= 0 {
				l = slices.Clone(plane(k))
			}
			if k := bounds[c+1] + d; k < nz {
				h = slices.Clone(plane(k))
			}
			lo[c], hi[c] = append(lo[c], l), append(hi[c], h)
		}
	}
	var wg sync.WaitGroup
	for c := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := lo[c] // originals of planes k-r .. k-1
			acc := make([]int32, nxy)
			ring := make([][]int16, r+1) // plane k's original goes to ring[k%(r+1)]
			for k := bounds[c]; k < bounds[c+1]; k++ {
				cur := ring[k%(r+1)]
				if cur == nil {
					cur = make([]int16, nxy)
					ring[k%(r+1)] = cur
				}
				copy(cur, plane(k))
				n := 1
				for p, v := range cur {
					acc[p] = int32(v)
				}
				add := func(src []int16) {
					if src == nil {
						return
					}
					n++
					for p, v := range src {
						acc[p] += int32(v)
					}
				}
				for _, src := range prev {
					add(src)
				}
				for d := 1; d <= r; d++ {
					switch kk := k + d; {
					case kk < bounds[c+1]:
						add(plane(kk))
					case kk < nz:
						add(hi[c][kk-bounds[c+1]])
					}
				}
				inv := recip(n)
				dst := plane(k)
				for p, v := range acc {
					dst[p] = divRecip(v, inv)
				}
				prev = append(prev[1:len(prev):len(prev)], cur)
			}
		}()
	}
	wg.Wait()
}

// boxPlane averages a slice over a (2rx+1)×(2ry+1) box, shrunk at the
// borders: running sums along rows, then a running sum of those across
// rows, one division per pixel.
type boxPlane struct {
	nx, ny, rx, ry int
	sums, acc      []int32
	inv            [][]int64 // inv[cy][i]: reciprocal of the box size at column i with cy rows
}

func newBoxPlane(nx, ny, rx, ry int) *boxPlane {
	b := &boxPlane{nx: nx, ny: ny, rx: rx, ry: ry, sums: make([]int32, nx*ny), acc: make([]int32, nx)}
	b.inv = make([][]int64, 2*ry+2)
	for cy := 1; cy <= 2*ry+1; cy++ {
		b.inv[cy] = make([]int64, nx)
		for i := range nx {
			cx := min(i+rx, nx-1) - max(i-rx, 0) + 1
			b.inv[cy][i] = recip(cx * cy)
		}
	}
	return b
}

func (b *boxPlane) mean(src, dst []int16) {
	nx, ny, rx, ry := b.nx, b.ny, b.rx, b.ry
	for j := range ny {
		row, out := src[j*nx:(j+1)*nx], b.sums[j*nx:(j+1)*nx]
		var sum int32
		for q := 0; q < rx && q < nx; q++ {
			sum += int32(row[q])
		}
		for q := range nx {
			if q+rx < nx {
				sum += int32(row[q+rx])
			}
			if q-rx-1 >= 0 {
				sum -= int32(row[q-rx-1])
			}
			out[q] = sum
		}
	}
	acc := b.acc
	clear(acc)
	for j := 0; j < ry && j < ny; j++ {
		addRow(acc, b.sums[j*nx:(j+1)*nx], 1)
	}
	for j := range ny {
		if j+ry < ny {
			addRow(acc, b.sums[(j+ry)*nx:(j+ry+1)*nx], 1)
		}
		if j-ry-1 >= 0 {
			addRow(acc, b.sums[(j-ry-1)*nx:(j-ry)*nx], -1)
		}
		cy := min(j+ry, ny-1) - max(j-ry, 0) + 1
		inv, out := b.inv[cy], dst[j*nx:(j+1)*nx]
		for i, v := range acc {
			out[i] = divRecip(v, inv[i])
		}
	}
}

// recip and divRecip divide by a count with a multiply. The truncation
// toward zero is exact when |sum| < 2³²/n, so for means of up to 361
// int16 values (TestDivRecip).
func recip(n int) int64 { return (1<<32)/int64(n) + 1 }

func divRecip(sum int32, inv int64) int16 {
	if sum >= 0 {
		return int16((int64(sum) * inv) >> 32)
	}
	return -int16((int64(-sum) * inv) >> 32)
}

func addRow(acc []int32, row []int32, sign int32) {
	acc = acc[:len(row)]
	if sign > 0 {
		for i, v := range row {
			acc[i] += v
		}
		return
	}
	for i, v := range row {
		acc[i] -= v
	}
}
