package volume

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// image3 makes a 3×1×1 image (or 3×1×1×2 with four set) with the data.
func image3(data any, slope, inter float64, four bool) *Image {
	h := Header{Grid: Grid{Dims: [3]int{3, 1, 1}}, Shape: []int{3, 1, 1}, TimePoints: 1, Slope: slope, Inter: inter}
	if four {
		h.Shape, h.TimePoints = []int{3, 1, 1, 2}, 2
	}
	return &Image{Header: h, Data: data}
}

func TestLabelMap(t *testing.T) {
	cases := []struct {
		name string
		im   *Image
		want []uint16
		err  string
	}{
		{"uint8", image3([]uint8{0, 7, 255}, 0, 0, false), []uint16{0, 7, 255}, ""},
		{"uint16", image3([]uint16{0, 700, 65535}, 0, 0, false), []uint16{0, 700, 65535}, ""},
		{"int16", image3([]int16{0, 117, 3}, 1, 0, false), []uint16{0, 117, 3}, ""},
		{"slope and inter ignored", image3([]int16{0, 2, 3}, 2, 5, false), []uint16{0, 2, 3}, ""},
		{"int16 negative", image3([]int16{0, 1, -1}, 0, 0, false), nil, "voxel (2, 0, 0) is -1"},
		{"int32 over 65535", image3([]int32{65536, 1, 1}, 0, 0, false), nil, "voxel (0, 0, 0) is 65536"},
		{"uint64 huge", image3([]uint64{1, math.MaxUint64, 1}, 0, 0, false), nil, "is 18446744073709551615"},
		{"int8", image3([]int8{0, 5, 127}, 0, 0, false), []uint16{0, 5, 127}, ""},
		{"integral float32", image3([]float32{0, 3, 65535}, 0, 0, false), []uint16{0, 3, 65535}, ""},
		{"fractional float32", image3([]float32{0, 2.5, 1}, 0, 0, false), nil, "voxel (1, 0, 0) is 2.5"},
		{"NaN float64", image3([]float64{0, 1, math.NaN()}, 0, 0, false), nil, "is NaN"},
		{"4D", image3([]uint8{0, 1, 2, 3, 4, 5}, 0, 0, true), nil, "want a single 3D volume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lm, err := c.im.LabelMap()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalSlices(lm.Data, c.want) {
				t.Errorf("labels %v, want %v", lm.Data, c.want)
			}
		})
	}
}

// TestLabelMapLarge converts volumes big enough to be split across cores:
// the values must all arrive, and a bad voxel must be the first one, in
// whichever chunk it lies and however many others follow it.
func TestLabelMapLarge(t *testing.T) {
	const n = 5<<20 + 123 // several chunks and a partial one
	grid := Grid{Dims: [3]int{n, 1, 1}}
	for _, bad := range []int{-1, 0, 1<<20 - 1, 1 << 20, 3<<20 + 7, n - 1} {
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(i % 40000)
		}
		if bad >= 0 {
			for i := bad; i < n; i += 1<<18 + 1 { // later bad voxels in later chunks too
				d[i] = -5
			}
		}
		im := &Image{Header: Header{Grid: grid, Shape: []int{n, 1, 1}, TimePoints: 1}, Data: d}
		lm, err := im.LabelMap()
		if bad < 0 {
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range lm.Data {
				if v != uint16(i%40000) {
					t.Fatalf("voxel %d is %d, want %d", i, v, i%40000)
				}
			}
			continue
		}
		want := fmt.Sprintf("voxel (%d, 0, 0) is -5", bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad voxel at %d: error %v, want one containing %q", bad, err, want)
		}
	}
}

func TestCT(t *testing.T) {
	cases := []struct {
		name string
		im   *Image
		want []int16
		err  string
	}{
		{"int16 unscaled", image3([]int16{-1024, 0, 3071}, math.NaN(), 5, false), []int16{-1024, 0, 3071}, ""},
		{"uint16 with dcm2niix intercept", image3([]uint16{0, 1024, 4095}, 1, -1024, false), []int16{-1024, 0, 3071}, ""},
		{"int16 half slope", image3([]int16{-3, 5, 7}, 0.5, -1024, false), []int16{-1026, -1022, -1020}, ""},
		{"float rounds half to even", image3([]float32{1.5, 2.5, -0.5}, 0, 0, false), []int16{2, 2, 0}, ""},
		{"clamped", image3([]float64{40000, -40000, math.Inf(1)}, 0, 0, false), []int16{32767, -32768, 32767}, ""},
		{"int32 clamped", image3([]int32{math.MaxInt32, math.MinInt32, 12}, 1, 0, false), []int16{32767, -32768, 12}, ""},
		{"NaN", image3([]float32{0, float32(math.NaN()), 0}, 0, 0, false), nil, "voxel (1, 0, 0) is NaN"},
		{"4D", image3([]int16{0, 1, 2, 3, 4, 5}, 0, 0, true), nil, "want a single 3D volume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, err := c.im.CT()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalSlices(ct.HU, c.want) {
				t.Errorf("HU %v, want %v", ct.HU, c.want)
			}
		})
	}
}

func TestFloat32(t *testing.T) {
	im := image3([]int16{-3, 0, 7, 1, 2, 3}, 0.5, -1024, true)
	want := []float32{-1025.5, -1024, -1020.5, -1023.5, -1023, -1022.5}
	if got := im.Float32(); !equalSlices(got, want) {
		t.Errorf("Float32 %v, want %v", got, want)
	}
	im = image3([]uint64{1 << 40, 0, 3}, 0, 0, false)
	if got := im.Float32(); got[0] != 1<<40 || got[2] != 3 {
		t.Errorf("unscaled Float32 %v", got)
	}
}

func TestDatatype(t *testing.T) {
	for _, c := range []struct {
		d    Datatype
		size int
		name string
		i    bool
	}{
		{Uint8, 1, "uint8", true}, {Int8, 1, "int8", true}, {Int16, 2, "int16", true}, {Uint16, 2, "uint16", true},
		{Int32, 4, "int32", true}, {Uint32, 4, "uint32", true}, {Float32, 4, "float32", false},
		{Int64, 8, "int64", true}, {Uint64, 8, "uint64", true}, {Float64, 8, "float64", false},
		{128, 0, "RGB", false}, {1792, 0, "complex128", false}, {7, 0, "Datatype(7)", false},
	} {
		if c.d.Size() != c.size || c.d.String() != c.name || c.d.Integer() != c.i {
			t.Errorf("%d: size %d name %s integer %v", int(c.d), c.d.Size(), c.d, c.d.Integer())
		}
	}
}
