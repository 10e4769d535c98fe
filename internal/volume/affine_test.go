package volume

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestAffineApplyInverse(t *testing.T) {
	a := obliqueAffine()
	inv, err := a.Inverse()
	if err != nil {
		t.Fatal(err)
	}
	for _, ijk := range [][3]float64{{0, 0, 0}, {1, 2, 3}, {511, 0, 19.5}} {
		p := a.Apply(ijk[0], ijk[1], ijk[2])
		back := inv.Apply(p[0], p[1], p[2])
		for c := range 3 {
			if math.Abs(back[c]-ijk[c]) > 1e-9 {
				t.Errorf("inverse(apply(%v)) = %v", ijk, back)
			}
		}
	}
	if p := testGrid.Affine.Apply(1, 2, 3); p != [3]float64{-1, 6, 16} {
		t.Errorf("Apply(1, 2, 3) = %v, want [-1 6 16]", p)
	}
	singular := a
	singular[0][2], singular[1][2], singular[2][2] = 0, 0, 0
	if _, err := singular.Inverse(); err == nil {
		t.Error("singular affine inverted")
	}
	projective := a
	projective[3][0] = 1
	if _, err := projective.Inverse(); err == nil || !strings.Contains(err.Error(), "last row") {
		t.Errorf("projective affine: %v", err)
	}
}

func TestSpacingAndVoxelVolume(t *testing.T) {
	g := Grid{Dims: [3]int{1, 1, 1}, Affine: obliqueAffine()}
	s := g.Spacing()
	for c, want := range [3]float64{0.7, 0.8, 2.5} {
		if math.Abs(s[c]-want) > 1e-12 {
			t.Errorf("spacing %v, want [0.7 0.8 2.5]", s)
		}
	}
	if v := g.VoxelVolume(); math.Abs(v-1.4) > 1e-12 {
		t.Errorf("voxel volume %g, want 1.4 (|det|, left-handed)", v)
	}
}

// TestOrientationMatchesNibabel compares with nibabel's aff2axcodes on
// axis permutations, flips, rotations up to and past 45°, shears and
// rank-deficient matrices.
func TestOrientationMatchesNibabel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var affs []Affine
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		for flips := range 8 {
			var a Affine
			for c := range 3 {
				a[p[c]][c] = 1.5 * float64(1-2*(flips>>c&1))
			}
			a[3][3] = 1
			affs = append(affs, a)
		}
	}
	for range 300 {
		var a Affine
		for r := range 3 {
			for c := range 4 {
				a[r][c] = rng.NormFloat64()
			}
		}
		a[3][3] = 1
		affs = append(affs, a)
	}
	zeroCol := affs[0]
	zeroCol[0][1], zeroCol[1][1], zeroCol[2][1] = 0, 0, 0
	rank1 := Affine{{1, 2, 3, 0}, {2, 4, 6, 0}, {0, 0, 0, 0}, {0, 0, 0, 1}}
	tie := Affine{{1, -1, 0, 0}, {1, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
	affs = append(affs, zeroCol, rank1, tie, obliqueAffine())
	js, err := json.Marshal(affs)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(runPythonInput(t, string(js), "axcodes"))
	if len(want) != len(affs) {
		t.Fatalf("nibabel gave %d answers for %d affines", len(want), len(affs))
	}
	for i, a := range affs {
		if got := a.Orientation(); got != want[i] {
			t.Errorf("affine %v: orientation %s, nibabel %s", a, got, want[i])
		}
	}
}

func TestQuaternionRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		// A random rotation from a random unit quaternion, random spacing,
		// and every fourth one left-handed.
		q := [4]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		if i%50 == 0 { // 180° turns, where a = 0
			q[0] = 0
		}
		n := math.Sqrt(q[0]*q[0] + q[1]*q[1] + q[2]*q[2] + q[3]*q[3])
		if q[0] < 0 {
			n = -n
		}
		pix := [3]float64{0.5 + rng.Float64(), 0.5 + rng.Float64(), 0.5 + 3*rng.Float64()}
		qfac := 1.0
		if i%4 == 3 {
			qfac = -1
		}
		want, err := quaternToMat(q[1]/n, q[2]/n, q[3]/n, pix, qfac, [3]float64{rng.NormFloat64() * 100, 1, 2}, 0x1p-52)
		if err != nil {
			t.Fatal(err)
		}
		got := matToQuatern(want)
		back, err := quaternToMat(got.b, got.c, got.d, got.pixel, got.qfac, got.off, 0x1p-52)
		if err != nil {
			t.Fatal(err)
		}
		// Near a = 0 (180° turns) a = sqrt(1-b²-c²-d²) amplifies rounding
		// to ~1e-8; the header stores float32 anyway.
		if d := maxDiff(back, want); d > 1e-6 || got.qfac != qfac {
			t.Fatalf("quaternion round trip of %v: differs by %g, qfac %g", want, d, got.qfac)
		}
	}
}

func TestPolarDropsShear(t *testing.T) {
	// rotation · symmetric positive definite stretch: the polar factor is
	// the rotation.
	c, s := math.Cos(0.4), math.Sin(0.4)
	rot := mat3{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
	stretch := mat3{{2, 0.3, 0.1}, {0.3, 1, 0.2}, {0.1, 0.2, 3}}
	p := rot.mul(stretch).polar()
	for r := range 3 {
		for k := range 3 {
			if math.Abs(p[r][k]-rot[r][k]) > 1e-12 {
				t.Fatalf("polar %v, want %v", p, rot)
			}
		}
	}
}
