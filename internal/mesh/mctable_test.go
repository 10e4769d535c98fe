package mesh

import "testing"

// TestMCTable checks every configuration's table entry against the rules it
// was derived from: every crossing edge in exactly one polygon, every
// polygon side oriented with the background outside, triangles covering
// each polygon with consistent orientation, no diagonal on a cube face, and
// no degenerate triangle.
func TestMCTable(t *testing.T) {
	maxCycle := 0
	for cfg := range 256 {
		fg := func(c uint8) bool { return cfg>>c&1 == 1 }
		cycles, faces := mcCyclesFaces(uint8(cfg))
		var used [12]int
		for ci, cyc := range cycles {
			maxCycle = max(maxCycle, len(cyc))
			for i, e := range cyc {
				used[e]++
				next := cyc[(i+1)%len(cyc)]
				if !segmentOutward(uint8(cfg), e, next, faces[ci][i]) {
					t.Errorf("config %08b: segment %d→%d on face %d runs the wrong way", cfg, e, next, faces[ci][i])
				}
			}
		}
		for e := range uint8(12) {
			want := 0
			if fg(mcEdges[e][0]) != fg(mcEdges[e][1]) {
				want = 1
			}
			if used[e] != want {
				t.Errorf("config %08b: edge %d in %d polygons, want %d", cfg, e, used[e], want)
			}
		}

		tris := mcTable[cfg]
		// Directed sides: each polygon side once, each diagonal both ways.
		type dir struct{ a, b uint8 }
		count := map[dir]int{}
		for i := 0; i < len(tris); i += 3 {
			tri := tris[i : i+3]
			var p [3][3]float64
			for k, r := range tri {
				p[k] = edgeMid(r)
				count[dir{tri[k], tri[(k+1)%3]}]++
			}
			if a := norm2(cross3(sub3(p[1], p[0]), sub3(p[2], p[0]))); a < 1e-6 {
				t.Errorf("config %08b: degenerate triangle %v", cfg, tri)
			}
		}
		for d, n := range count {
			if n != 1 {
				t.Errorf("config %08b: directed edge %v used %d times", cfg, d, n)
			}
			if count[dir{d.b, d.a}] == 1 { // an interior diagonal
				if sharesFace(d.a, d.b) {
					t.Errorf("config %08b: diagonal %d-%d lies on a cube face", cfg, d.a, d.b)
				}
				continue
			}
			if !polygonSide(cycles, d.a, d.b) {
				t.Errorf("config %08b: boundary edge %d→%d is not a polygon side", cfg, d.a, d.b)
			}
		}
	}
	t.Logf("longest polygon: %d edges", maxCycle)
}

func polygonSide(cycles [][]uint8, a, b uint8) bool {
	for _, cyc := range cycles {
		for i, e := range cyc {
			if e == a && cyc[(i+1)%len(cyc)] == b {
				return true
			}
		}
	}
	return false
}
