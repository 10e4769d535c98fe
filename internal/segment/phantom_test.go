package segment

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/volume"
)

// phantom is a synthetic chest: an elliptic body with subcutaneous fat on
// a table, a spine, two lungs with vessels, a trachea dividing into main
// bronchi that enter the lungs, a thin column of air in the esophagus,
// gas in the stomach just under the left lung and a bubble of gut gas
// lower down. Neither real example holds a
// trachea, so this is where the airway logic is checked against a known
// truth. Coordinates are patient mm, RAS.
type phantom struct {
	ct    *volume.CT
	truth []uint8 // native labels
}

var (
	phantomOnce sync.Once
	phantomVal  *phantom
)

// newPhantom builds the phantom once per test binary; callers must not
// modify it.
func newPhantom() *phantom {
	phantomOnce.Do(func() { phantomVal = buildPhantom() })
	return phantomVal
}

func buildPhantom() *phantom {
	const nx, ny, nz = 300, 240, 100
	sp := [3]float64{1.2, 1.2, 2.5}
	g := volume.Grid{Dims: [3]int{nx, ny, nz}}
	g.Affine = volume.Affine{
		{sp[0], 0, 0, -nx / 2 * sp[0]},
		{0, sp[1], 0, -ny / 2 * sp[1]},
		{0, 0, sp[2], -nz / 2 * sp[2]},
		{0, 0, 0, 1},
	}
	ph := &phantom{ct: &volume.CT{Grid: g, HU: make([]int16, g.Len())}, truth: make([]uint8, g.Len())}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range nz {
		for j := range ny {
			for i := range nx {
				p := g.Affine.Apply(float64(i), float64(j), float64(k))
				hu, lab := phantomAt(p[0], p[1], p[2])
				n := i + nx*(j+ny*k)
				ph.ct.HU[n] = int16(hu + rng.Float64()*30 - 15)
				ph.truth[n] = lab
			}
		}
	}
	return ph
}

func sq(v float64) float64 { return v * v }

// segmentDist is the distance from p to the segment a–b.
func segmentDist(p, a, b [3]float64) float64 {
	var ab, ap [3]float64
	var t, l2 float64
	for c := range 3 {
		ab[c], ap[c] = b[c]-a[c], p[c]-a[c]
		t += ab[c] * ap[c]
		l2 += ab[c] * ab[c]
	}
	t = math.Max(0, math.Min(1, t/l2))
	var d float64
	for c := range 3 {
		d += sq(p[c] - (a[c] + t*ab[c]))
	}
	return math.Sqrt(d)
}

func phantomAt(x, y, z float64) (float64, uint8) {
	p := [3]float64{x, y, z}
	// Table: a dense plate 10 mm below the back.
	if y >= -126 && y <= -121 && math.Abs(x) < 175 {
		return 250, 0
	}
	body := sq(x/150)+sq(y/110) <= 1
	if !body {
		return -1000, 0
	}
	// Airway lumen first, then walls, so the lumen runs on through the
	// carina.
	carina := [3]float64{0, 20, 60}
	wall := math.Inf(1) // distance to the nearest airway axis beyond its lumen
	for _, end := range [][3]float64{{-45, 10, 35}, {45, 10, 35}} {
		d := segmentDist(p, carina, end)
		if d < 6 {
			return -1000, labAirways
		}
		wall = math.Min(wall, d-6)
	}
	if z >= 60 {
		d := math.Hypot(x, y-20)
		if d < 9 {
			return -1000, labAirways
		}
		wall = math.Min(wall, d-9)
	}
	if wall < 2 {
		return 60, labBody
	}
	if math.Hypot(x+8, y+5) < 3 && z > -60 { // esophageal air
		return -1000, labBody
	}
	for _, side := range []float64{-1, 1} {
		if sq((x-side*75)/55)+sq((y+10)/70)+sq((z-40)/90) <= 1 {
			lab := uint8(labLungL)
			if side > 0 {
				lab = labLungR
			}
			for _, v := range [][2]float64{{70, 0}, {92, -30}, {60, -40}} {
				if math.Hypot(x-side*v[0], y-v[1]) < 3 {
					return 40, lab
				}
			}
			return -850, lab
		}
	}
	if d := math.Hypot(x, y+70); d < 18 {
		if d > 16 {
			return 700, labSkeleton
		}
		return 200, labSkeleton
	}
	if sq(x+30)+sq(y-50)+sq(z+90) < sq(20) { // gut gas
		return -1000, labBody
	}
	if sq(x+60)+sq(y-40)+sq(z+55) < sq(20) { // stomach gas 5 mm under the left lung
		return -1000, labBody
	}
	if sq(x/135)+sq(y/95) > 1 {
		return -100, labBody // subcutaneous fat
	}
	return 40, labBody
}

func TestPhantom(t *testing.T) {
	ph := newPhantom()
	lm, err := Native{}.Segment(context.Background(), ph.ct)
	if err != nil {
		t.Fatal(err)
	}
	vv := ph.ct.VoxelVolume() / 1000
	for _, tc := range []struct {
		name  string
		label uint16
		min   float64
	}{
		{"body", labBody, 0.95},
		{"skeleton", labSkeleton, 0.85},
		{"lung_left", labLungL, 0.95},
		{"lung_right", labLungR, 0.95},
		{"airways", labAirways, 0.80},
	} {
		want := make([]bool, len(ph.truth))
		for p, v := range ph.truth {
			want[p] = uint16(v) == tc.label || (tc.label == labBody && v != 0)
		}
		got := labelMask(lm, tc.label)
		if tc.label == labBody {
			for p, v := range lm.Data {
				got[p] = v != 0
			}
		}
		d, na, nb := dice(got, want)
		t.Logf("phantom: %-10s Dice %.3f  ours %7.1f mL  truth %7.1f mL", tc.name, d, float64(na)*vv, float64(nb)*vv)
		if d < tc.min {
			t.Errorf("%s: Dice %.3f < %.2f", tc.name, d, tc.min)
		}
	}
	// Gut gas is body, neither lung nor airway.
	gas := 0
	for p, v := range ph.truth {
		if v == labBody && ph.ct.HU[p] < -900 && lm.Data[p] != labBody {
			gas++
		}
	}
	if gas > 0 {
		t.Errorf("%d voxels of gut or esophageal air labelled other than body", gas)
	}
}

// TestPhantomOrientation segments the phantom stored the other way round
// (LPS, slices along the first voxel axis) and expects the same labels.
func TestPhantomOrientation(t *testing.T) {
	ph := newPhantom()
	ref, err := Native{}.Segment(context.Background(), ph.ct)
	if err != nil {
		t.Fatal(err)
	}
	d := ph.ct.Dims
	// New voxel axes: (k, flipped i, flipped j) of the original.
	nd := [3]int{d[2], d[0], d[1]}
	src := func(a, b, c int) int { return (d[0] - 1 - b) + d[0]*((d[1]-1-c)+d[1]*a) }
	ct := &volume.CT{Grid: volume.Grid{Dims: nd}, HU: make([]int16, len(ph.ct.HU))}
	old := ph.ct.Affine
	for r := range 3 {
		ct.Affine[r][0] = old[r][2]
		ct.Affine[r][1] = -old[r][0]
		ct.Affine[r][2] = -old[r][1]
		ct.Affine[r][3] = old[r][3] + old[r][0]*float64(d[0]-1) + old[r][1]*float64(d[1]-1)
	}
	ct.Affine[3] = [4]float64{0, 0, 0, 1}
	for c := range nd[2] {
		for b := range nd[1] {
			for a := range nd[0] {
				ct.HU[a+nd[0]*(b+nd[1]*c)] = ph.ct.HU[src(a, b, c)]
			}
		}
	}
	if o := ct.Affine.Orientation(); o != "SLP" {
		t.Fatalf("test setup: orientation %s, want SLP", o)
	}
	lm, err := Native{}.Segment(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	if lm.Grid != ct.Grid {
		t.Fatalf("output grid %+v differs from input %+v", lm.Grid, ct.Grid)
	}
	diff := 0
	for c := range nd[2] {
		for b := range nd[1] {
			for a := range nd[0] {
				if lm.Data[a+nd[0]*(b+nd[1]*c)] != ref.Data[src(a, b, c)] {
					diff++
				}
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d voxels labelled differently when the volume is stored SLP instead of RAS", diff)
	}
}

func TestLabelTableExtension(t *testing.T) {
	ph := newPhantom()
	lm, err := Native{}.Segment(context.Background(), ph.ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.Extensions) != 1 || lm.Extensions[0].Code != labels.CaretExtensionCode {
		t.Fatalf("extensions %v: want one with code %d", lm.Extensions, labels.CaretExtensionCode)
	}
	names, err := labels.ParseCaret(lm.Extensions[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	present := map[uint16]bool{}
	for _, v := range lm.Data {
		present[v] = true
	}
	for _, c := range labels.Native().Classes() {
		name, listed := names[c.Value]
		if listed != present[c.Value] {
			t.Errorf("class %d %s: listed %v, present %v", c.Value, c.Name, listed, present[c.Value])
		}
		if listed && name != c.Name {
			t.Errorf("class %d named %q, want %q", c.Value, name, c.Name)
		}
	}
	for _, v := range []uint16{labBody, labSkeleton, labLungL, labLungR, labAirways} {
		if !present[v] {
			t.Errorf("label %d missing from the phantom's segmentation", v)
		}
	}
}

func TestRefusesNonCT(t *testing.T) {
	rc := realCases(t)[0]
	mr := &volume.CT{Grid: rc.ct.Grid, HU: make([]int16, len(rc.ct.HU))}
	for p, v := range rc.ct.HU {
		// An MR-like image: positive intensities, no air at -1000.
		mr.HU[p] = int16((int(v) + 1100) * 4000 / 2400)
	}
	lab := &volume.CT{Grid: rc.ref.Grid, HU: make([]int16, len(rc.ref.Data))}
	for p, v := range rc.ref.Data {
		lab.HU[p] = int16(v) // TotalSegmentator's label map, 0..117, read as CT
	}
	flat := &volume.CT{Grid: rc.ct.Grid, HU: make([]int16, len(rc.ct.HU))}
	for p := range flat.HU {
		flat.HU[p] = -1000 // air only
	}
	for _, tc := range []struct {
		name string
		ct   *volume.CT
		want string
	}{
		{"MR-like", mr, "air"},
		{"label map", lab, "air"},
		{"air only", flat, "soft tissue"},
	} {
		_, err := Native{}.Segment(context.Background(), tc.ct)
		if !errors.Is(err, ErrNotCT) {
			t.Errorf("%s: error %v, want ErrNotCT", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not name the reason (%q)", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

func TestBadInput(t *testing.T) {
	good := newPhantom().ct
	short := &volume.CT{Grid: good.Grid, HU: good.HU[:len(good.HU)-1]}
	noAffine := &volume.CT{Grid: volume.Grid{Dims: good.Dims}, HU: good.HU}
	for name, ct := range map[string]*volume.CT{"nil": nil, "short data": short, "zero affine": noAffine} {
		if _, err := (Native{}).Segment(context.Background(), ct); err == nil || errors.Is(err, ErrNotCT) {
			t.Errorf("%s: error %v, want a non-ErrNotCT error", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Native{}).Segment(ctx, good); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	if (Native{}).Name() != "native" {
		t.Errorf("Name() = %q", Native{}.Name())
	}
	var _ Engine = Native{}
}

// TestLungBasesByAnatomy checks that on the 3 mm example, where the
// lungs show only their bases and colon gas is the largest air inside the
// body, the lungs are chosen by anatomy rather than size.
func TestLungBasesByAnatomy(t *testing.T) {
	rc := realCases(t)[0]
	fr, _, err := orientation(rc.ct.Grid)
	if err != nil {
		t.Fatal(err)
	}
	c := downsample(fr, rc.ct.HU)
	filled := c.body()
	bs := c.bodySlices(filled)
	chain := c.trachea(filled, bs)
	if len(chain) != 0 {
		t.Errorf("a trachea found in an abdominal scan (%d slices)", len(chain))
	}
	_, parts := c.lungs(filled, bs, nil, 0)
	var largest airPart
	var lungs []airPart
	for _, a := range parts[1:] {
		if a.ml > largest.ml {
			largest = a
		}
		if a.lung {
			lungs = append(lungs, a)
		}
		if a.ml >= minLungML {
			t.Logf("air %6.1f mL lung=%v: %s", a.ml, a.lung, a.reason)
		}
	}
	if largest.lung {
		t.Errorf("the largest air component (%.1f mL) was taken for a lung", largest.ml)
	}
	if len(lungs) != 2 || lungs[0].leftFrac+lungs[1].leftFrac != 1 {
		t.Errorf("want one left and one right lung base, got %+v", lungs)
	}
	for _, l := range lungs {
		if l.ml >= largest.ml {
			t.Errorf("lung base %.1f mL not smaller than the gut gas %.1f mL: the case does not test what it should", l.ml, largest.ml)
		}
	}
}

// TestSmallVolumes feeds degenerate grids: each must come back labelled
// on its own grid or refused, never panic.
func TestSmallVolumes(t *testing.T) {
	ph := newPhantom()
	d := ph.ct.Dims
	for _, dims := range [][3]int{{1, 1, 1}, {d[0], d[1], 1}, {d[0], 1, d[2]}, {7, 5, 3}} {
		ct := &volume.CT{Grid: volume.Grid{Dims: dims, Affine: ph.ct.Affine}, HU: make([]int16, dims[0]*dims[1]*dims[2])}
		// A crop of the phantom's centre.
		o := [3]int{(d[0] - dims[0]) / 2, (d[1] - dims[1]) / 2, (d[2] - dims[2]) / 2}
		for k := range dims[2] {
			for j := range dims[1] {
				for i := range dims[0] {
					ct.HU[i+dims[0]*(j+dims[1]*k)] = ph.ct.HU[(o[0]+i)+d[0]*((o[1]+j)+d[1]*(o[2]+k))]
				}
			}
		}
		lm, err := Native{}.Segment(context.Background(), ct)
		if err != nil {
			t.Logf("%v: %v", dims, err)
			continue
		}
		if lm.Grid != ct.Grid || len(lm.Data) != len(ct.HU) {
			t.Errorf("%v: output grid %v with %d voxels", dims, lm.Dims, len(lm.Data))
		}
	}
}

func TestNativeLabelValues(t *testing.T) {
	for name, v := range map[string]uint16{
		"body": labBody, "skeleton": labSkeleton, "lung_left": labLungL, "lung_right": labLungR, "airways": labAirways,
	} {
		c, ok := labels.Native().ByName(name)
		if !ok || c.Value != v {
			t.Errorf("labels.Native %q = %d (found %v), engine uses %d", name, c.Value, ok, v)
		}
	}
}
