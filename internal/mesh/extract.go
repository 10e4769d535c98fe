package mesh

import (
	"context"
	"encoding/binary"

	"github.com/iris-oculus/iris/internal/volume"

	"github.com/iris-oculus/iris/internal/mesh/internal/geom"
)

// box is an inclusive range of voxel indices.
type box struct{ lo, hi [3]int }

// extractor runs marching cubes on one label's binary mask, cropped to the
// label's bounding box plus one background voxel on every side, so the
// surface closes where the label meets the volume's border. It streams two
// mask slices at a time and caches the vertex on each crossing voxel edge
// of the two slices, so each vertex is made once and memory is O(slice).
// Its buffers are reused from label to label.
type extractor struct {
	nx, ny int // padded crop size in x and y

	mask [2][]uint8 // slices z and z+1 of the padded crop: 1 = label
	any  [2]bool    // whether each mask slice has any voxel of the label
	// Vertex ids on crossing voxel edges: x and y edges of slices z and
	// z+1, z edges between them. Entries of edges that do not cross are
	// stale and never read: the case table only names crossing edges.
	xid, yid [2][]int32
	zid      []int32

	pos  []float64 // vertex positions in voxel index coordinates
	tris []uint32
}

// extract fills e.pos and e.tris with the surface of label inside
// b, oriented counter-clockwise seen from outside in index space. faces,
// the label's boundary voxel faces, is its number of vertices (one per
// crossing voxel edge) and about half its number of triangles: it sizes
// the buffers once.
func (e *extractor) extract(ctx context.Context, lm *volume.LabelMap, label uint16, b box, faces int) error {
	e.nx, e.ny = b.hi[0]-b.lo[0]+3, b.hi[1]-b.lo[1]+3
	nz := b.hi[2] - b.lo[2] + 3
	n := e.nx * e.ny
	for s := range 2 {
		e.mask[s] = geom.Grow(e.mask[s], n)
		e.xid[s] = geom.Grow(e.xid[s], n)
		e.yid[s] = geom.Grow(e.yid[s], n)
	}
	e.zid = geom.Grow(e.zid, n)
	e.pos = geom.Reserve(e.pos, 3*faces)
	e.tris = geom.Reserve(e.tris, 6*faces+96)

	// Crop coordinates c map to voxel indices b.lo-1+c.
	org := [3]float64{float64(b.lo[0] - 1), float64(b.lo[1] - 1), float64(b.lo[2] - 1)}
	clear(e.mask[0]) // crop slice 0 is padding
	e.any[0] = false
	for cz := 0; cz+1 < nz; cz++ {
		if cz%16 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e.loadSlice(lm, label, b, cz+1, nz)
		z := org[2] + float64(cz)
		if e.any[1] {
			e.planeVertices(org, z+1)
		}
		if e.any[0] || e.any[1] {
			e.zVertices(org, z+0.5)
			e.cubes()
		}
		e.mask[0], e.mask[1] = e.mask[1], e.mask[0]
		e.any[0], e.any[1] = e.any[1], e.any[0]
		e.xid[0], e.xid[1] = e.xid[1], e.xid[0]
		e.yid[0], e.yid[1] = e.yid[1], e.yid[0]
	}
	return nil
}

// loadSlice fills mask[1] with crop slice cz; the outermost crop slices,
// rows and columns are padding and stay 0.
func (e *extractor) loadSlice(lm *volume.LabelMap, label uint16, b box, cz, nz int) {
	m := e.mask[1]
	clear(m)
	e.any[1] = false
	if cz == 0 || cz == nz-1 {
		return
	}
	d0, d1 := lm.Dims[0], lm.Dims[1]
	k := b.lo[2] - 1 + cz
	w := b.hi[0] - b.lo[0] + 1
	for cy := 1; cy < e.ny-1; cy++ {
		j := b.lo[1] - 1 + cy
		src := lm.Data[b.lo[0]+d0*(j+d1*k):][:w]
		dst := m[1+e.nx*cy:][:w]
		var n uint8
		for i, v := range src {
			if v == label {
				dst[i] = 1
				n = 1
			}
		}
		e.any[1] = e.any[1] || n != 0
	}
}

// word reads 8 mask bytes at once; the compiler makes it one load.
func word(b []uint8, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// planeVertices makes the vertices on crossing x and y edges of mask[1],
// which is at index z.
func (e *extractor) planeVertices(org [3]float64, z float64) {
	m, nx := e.mask[1], e.nx
	xid, yid := e.xid[1], e.yid[1]
	for cy := 0; cy < e.ny; cy++ {
		row := m[nx*cy : nx*(cy+1)]
		y := org[1] + float64(cy)
		for cx := 0; cx+1 < nx; cx++ {
			// Eight edges with no crossing at a time.
			if cx+9 <= nx && word(row, cx) == word(row, cx+1) {
				cx += 7
				continue
			}
			if row[cx] != row[cx+1] {
				xid[nx*cy+cx] = e.vertex(org[0]+float64(cx)+0.5, y, z)
			}
		}
		if cy+1 == e.ny {
			break
		}
		next := m[nx*(cy+1) : nx*(cy+2)]
		for cx := 0; cx < nx; cx++ {
			if cx+8 <= nx && word(row, cx) == word(next, cx) {
				cx += 7
				continue
			}
			if row[cx] != next[cx] {
				yid[nx*cy+cx] = e.vertex(org[0]+float64(cx), y+0.5, z)
			}
		}
	}
}

// zVertices makes the vertices on crossing z edges between the two slices.
func (e *extractor) zVertices(org [3]float64, z float64) {
	m0, m1, nx := e.mask[0], e.mask[1], e.nx
	for i := 0; i < len(m0); i++ {
		if i+8 <= len(m0) && word(m0, i) == word(m1, i) {
			i += 7
			continue
		}
		if m0[i] != m1[i] {
			e.zid[i] = e.vertex(org[0]+float64(i%nx), org[1]+float64(i/nx), z)
		}
	}
}

func (e *extractor) vertex(x, y, z float64) int32 {
	id := int32(len(e.pos) / 3)
	e.pos = append(e.pos, x, y, z)
	return id
}

// cubes emits the triangles of the layer of cubes between the two slices.
func (e *extractor) cubes() {
	m0, m1, nx := e.mask[0], e.mask[1], e.nx
	// Where each cube edge's vertex id is kept, relative to the cube's
	// lower corner (see mcEdges for the edge numbering).
	ids := [5][]int32{e.xid[0], e.xid[1], e.yid[0], e.yid[1], e.zid}
	arr := [12]uint8{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4}
	off := [12]int{0, nx, 0, nx, 0, 1, 0, 1, 0, 1, nx, nx + 1}
	for cy := 0; cy+1 < e.ny; cy++ {
		r := nx * cy
		a0, b0 := m0[r:r+nx], m0[r+nx:r+2*nx]
		a1, b1 := m1[r:r+nx], m1[r+nx:r+2*nx]
		for cx := 0; cx+1 < nx; cx++ {
			// Eight cubes (nine voxel columns) all outside or all inside.
			if cx+9 <= nx {
				or := word(a0, cx) | word(b0, cx) | word(a1, cx) | word(b1, cx) |
					uint64(a0[cx+8]|b0[cx+8]|a1[cx+8]|b1[cx+8])
				and := word(a0, cx) & word(b0, cx) & word(a1, cx) & word(b1, cx)
				if or == 0 || (and == 0x0101010101010101 && a0[cx+8]&b0[cx+8]&a1[cx+8]&b1[cx+8] == 1) {
					cx += 7
					continue
				}
			}
			cfg := a0[cx] | a0[cx+1]<<1 | b0[cx]<<2 | b0[cx+1]<<3 |
				a1[cx]<<4 | a1[cx+1]<<5 | b1[cx]<<6 | b1[cx+1]<<7
			if cfg == 0 || cfg == 0xff {
				continue
			}
			i := r + cx
			for _, ed := range mcTable[cfg] {
				e.tris = append(e.tris, uint32(ids[arr[ed]][i+off[ed]]))
			}
		}
	}
}
