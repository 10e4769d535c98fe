package nnunet

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/x448/float16"
)

// npyArray is one array of a NumPy .npz file: its shape and its values
// widened to float64 (every dtype the reference script writes fits).
type npyArray struct {
	shape []int
	dtype string
	f64   []float64
	raw   []byte
}

func (a npyArray) f32() []float32 {
	out := make([]float32, len(a.f64))
	for i, v := range a.f64 {
		out[i] = float32(v)
	}
	return out
}

func (a npyArray) u16() []uint16 {
	out := make([]uint16, len(a.raw)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(a.raw[2*i:])
	}
	return out
}

var headerRE = regexp.MustCompile(`'descr':\s*'([^']+)'.*'fortran_order':\s*(True|False).*'shape':\s*\(([^)]*)\)`)

// readNPZ reads np.savez(_compressed) output: C-order little-endian arrays
// of f4, f8, i1/2/4/8, u1/u2.
func readNPZ(path string) (map[string]npyArray, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out := map[string]npyArray{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if len(b) < 10 || string(b[1:6]) != "NUMPY" {
			return nil, fmt.Errorf("%s: not npy", f.Name)
		}
		var hl, off int
		if b[6] == 1 {
			hl, off = int(binary.LittleEndian.Uint16(b[8:])), 10
		} else {
			hl, off = int(binary.LittleEndian.Uint32(b[8:])), 12
		}
		m := headerRE.FindStringSubmatch(string(b[off : off+hl]))
		if m == nil || m[2] == "True" {
			return nil, fmt.Errorf("%s: header %q", f.Name, b[off:off+hl])
		}
		a := npyArray{dtype: m[1], raw: b[off+hl:]}
		for _, s := range strings.Split(m[3], ",") {
			if s = strings.TrimSpace(s); s != "" {
				n, _ := strconv.Atoi(s)
				a.shape = append(a.shape, n)
			}
		}
		r := a.raw
		le := binary.LittleEndian
		switch a.dtype {
		case "<f4":
			for i := 0; i+4 <= len(r); i += 4 {
				a.f64 = append(a.f64, float64(math.Float32frombits(le.Uint32(r[i:]))))
			}
		case "<f8":
			for i := 0; i+8 <= len(r); i += 8 {
				a.f64 = append(a.f64, math.Float64frombits(le.Uint64(r[i:])))
			}
		case "|u1":
			for _, v := range r {
				a.f64 = append(a.f64, float64(v))
			}
		case "<u2":
			for i := 0; i+2 <= len(r); i += 2 {
				a.f64 = append(a.f64, float64(le.Uint16(r[i:])))
			}
		case "<i2":
			for i := 0; i+2 <= len(r); i += 2 {
				a.f64 = append(a.f64, float64(int16(le.Uint16(r[i:]))))
			}
		case "<i4":
			for i := 0; i+4 <= len(r); i += 4 {
				a.f64 = append(a.f64, float64(int32(le.Uint32(r[i:]))))
			}
		case "<i8":
			for i := 0; i+8 <= len(r); i += 8 {
				a.f64 = append(a.f64, float64(int64(le.Uint64(r[i:]))))
			}
		default:
			return nil, fmt.Errorf("%s: dtype %s", f.Name, a.dtype)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

var (
	refOnce sync.Once
	refData map[string]npyArray
	refErr  error
)

// tinyRef is the committed reference of tools/nnunet/ref.py tiny.
func tinyRef(t testing.TB) map[string]npyArray {
	refOnce.Do(func() { refData, refErr = readNPZ(filepath.Join("testdata", "tiny", "ref.npz")) })
	if refErr != nil {
		t.Fatalf("reference: %v (regenerate with /usr/bin/python3 tools/nnunet/ref.py tiny)", refErr)
	}
	return refData
}

func tinyFolder() string {
	return filepath.Join("testdata", "tiny", "Dataset999_Tiny", "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres")
}

// closeTo reports the largest absolute difference of got from want,
// relative to want's range (max - min).
func relDiff(got []float32, want []float64) (maxAbs, rng float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, w := range want {
		lo, hi = min(lo, w), max(hi, w)
		maxAbs = max(maxAbs, math.Abs(float64(got[i])-w))
	}
	return maxAbs, hi - lo
}

var _ = bytes.NewReader

func f16FromBits(b uint16) float32 { return float16.Frombits(b).Float32() }
