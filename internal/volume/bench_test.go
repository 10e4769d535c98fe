package volume

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// largeCTDims is 512×512×200 int16: 105 MB of voxels.
var largeCTDims = [3]int{512, 512, 200}

// largeCTEnv names a path where BenchmarkReadLarge keeps its input, so
// that bench/nifti/run.sh can time nibabel on the same file.
const largeCTEnv = "IRIS_NIFTI_BENCH_FILE"

var largeCT struct {
	once sync.Once
	path string
	err  error
}

// largeCTFile returns the benchmark volume, written once per process (or
// once at all when $IRIS_NIFTI_BENCH_FILE names where to keep it).
func largeCTFile(b *testing.B) string {
	b.Helper()
	largeCT.once.Do(func() {
		path := os.Getenv(largeCTEnv)
		if path == "" {
			dir, err := os.MkdirTemp("", "volume-bench")
			if err != nil {
				largeCT.err = err
				return
			}
			path = filepath.Join(dir, "ct_large.nii.gz")
		} else if _, err := os.Stat(path); err == nil {
			largeCT.path = path
			return
		}
		largeCT.path, largeCT.err = path, WriteCTFile(path, syntheticCT(largeCTDims, 1))
	})
	if largeCT.err != nil {
		b.Fatal(largeCT.err)
	}
	return largeCT.path
}

// syntheticCT is a deterministic CT-like phantom: air around an elliptical
// body with a fat rim, soft tissue, two lungs, a spine and a table, plus
// Gaussian noise like a low-dose scanner's (σ 40–60 HU) and some organ
// texture. Its gzip ratio, about 1.65, is near real CT's (1.53 for the
// shared ct_3mm); a noiseless phantom would compress tens of times and
// flatter every reader.
func syntheticCT(dims [3]int, seed uint64) *CT {
	nx, ny, nz := dims[0], dims[1], dims[2]
	ct := &CT{Grid: Grid{Dims: dims, Affine: Affine{
		{-0.8, 0, 0, 204}, {0, -0.8, 0, 204}, {0, 0, 1.5, -300}, {0, 0, 0, 1},
	}}, HU: make([]int16, nx*ny*nz)}
	rng := rand.New(rand.NewPCG(seed, 42))
	sx, sy := float64(nx)/512, float64(ny)/512
	for k := range nz {
		a := (235 + 10*math.Sin(float64(k)/30)) * sx
		bAx := 200 * sy
		lungs := k > nz*2/5
		for j := range ny {
			for i := range nx {
				x, y := float64(i)-256*sx, float64(j)-270*sy
				r := (x*x)/(a*a) + (y*y)/(bAx*bAx)
				hu, sigma := -1000.0, 40.0
				switch {
				case r < 0.85:
					hu, sigma = 40, 60
					lx := math.Abs(x) - 80*sx
					ly := y + 30*sy
					if lungs && (lx*lx)/(60*60*sx*sx)+(ly*ly)/(80*80*sy*sy) < 1 {
						hu, sigma = -850, 60
					}
					if dx, dy := x, y-90*sy; dx*dx+dy*dy < 20*20*sx*sy {
						hu = 700
					}
				case r < 1:
					hu, sigma = -100, 50
				case j > int(430*sy) && j < int(440*sy) && i > nx/6 && i < nx*5/6:
					hu = 200
				}
				if hu > -1000 { // organ texture: slow variation deflate cannot model
					hu += 30 * math.Sin(float64(i)/7+float64(k)/11) * math.Cos(float64(j)/9)
				}
				v := math.Round(hu + sigma*rng.NormFloat64())
				ct.HU[i+nx*(j+ny*k)] = int16(max(v, -1024))
			}
		}
	}
	return ct
}

// BenchmarkReadLarge reads a ~100 MB (decoded) gzipped int16 CT to an
// []int16, the work nibabel's np.asanyarray(img.dataobj) does in
// bench/nifti/nibabel_read.py.
func BenchmarkReadLarge(b *testing.B) {
	path := largeCTFile(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "MB-gz")
	b.SetBytes(int64(2 * largeCTDims[0] * largeCTDims[1] * largeCTDims[2]))
	for b.Loop() {
		im, err := ReadFile(path, ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(im.Data.([]int16)) != largeCTDims[0]*largeCTDims[1]*largeCTDims[2] {
			b.Fatal("short read")
		}
	}
}

// BenchmarkReadGzip compares the two gzip readers at several sizes; it
// sets pgzipMinSize.
func BenchmarkReadGzip(b *testing.B) {
	for _, nz := range []int{1, 4, 10, 40, 80, 200} {
		ct := syntheticCT([3]int{512, 512, nz}, 7)
		var buf bytes.Buffer
		if err := WriteCT(&buf, ct); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"klauspost", "pgzip"} {
			b.Run(fmt.Sprintf("%s/%.1fMB", name, float64(buf.Len())/1e6), func(b *testing.B) {
				b.SetBytes(int64(2 * len(ct.HU)))
				for b.Loop() {
					var z io.Reader
					var err error
					if name == "pgzip" {
						z, err = pgzip.NewReader(bytes.NewReader(buf.Bytes()))
					} else {
						z, err = gzip.NewReader(bytes.NewReader(buf.Bytes()))
					}
					if err != nil {
						b.Fatal(err)
					}
					h, err := readHeader(z, DefaultMaxBytes)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := readVoxels(z, h); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriteLabelMap measures the label-map level on the real
// TotalSegmentator output (512×512×20, 31 labels) and on a CT-sized map
// made from it by repeating each slice 10 times (512×512×200).
func BenchmarkWriteLabelMap(b *testing.B) {
	seg, err := ReadFile(testdata.Path(b, "totalsegmentator-example", "dicom_seg.nii.gz"), ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	small, err := seg.LabelMap()
	if err != nil {
		b.Fatal(err)
	}
	big := &LabelMap{Grid: small.Grid}
	big.Dims[2] *= 10
	plane := small.Dims[0] * small.Dims[1]
	for k := range big.Dims[2] {
		big.Data = append(big.Data, small.Data[k/10*plane:(k/10+1)*plane]...)
	}
	for _, c := range []struct {
		name string
		lm   *LabelMap
	}{{"dicom_seg", small}, {"dicom_seg_x10", big}} {
		hdr, err := encodeHeader(c.lm.Grid, Uint8, intentLabel, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, level := range []int{1, 3, 5, 6, 7, 9} {
			b.Run(fmt.Sprintf("%s/level%d", c.name, level), func(b *testing.B) {
				var n int
				b.SetBytes(int64(len(c.lm.Data)))
				for b.Loop() {
					var buf bytes.Buffer
					err := writeBody(&buf, NIIGz, level, false, hdr, func(cb []byte, w io.Writer) error {
						return writeChunks(w, cb, 1, c.lm.Data, encode8)
					})
					if err != nil {
						b.Fatal(err)
					}
					n = buf.Len()
				}
				b.ReportMetric(float64(n)/1e3, "kB-out")
			})
		}
	}
}

// writeCTEnv names a real CT (.nii or .nii.gz) for BenchmarkWriteCT:
// synthetic noise compresses unlike a scan (bench/serve/ctdone.sh keeps
// the 512×512×300 series it makes, in bench/out/dicom/j2k-300, becomes one
// with `iris convert bench/out/dicom/j2k-300 -o ct.nii.gz`).
const writeCTEnv = "IRIS_WRITECT_BENCH_FILE"

// BenchmarkWriteCT compares levels, and klauspost with pgzip (blocks
// compressed on all cores), on a 512×512×100 noisy CT or on the real CT
// $IRIS_WRITECT_BENCH_FILE names; it sets ctLevel and ctParallel.
func BenchmarkWriteCT(b *testing.B) {
	ct := syntheticCT([3]int{512, 512, 100}, 5)
	if path := os.Getenv(writeCTEnv); path != "" {
		im, err := ReadFile(path, ReadOptions{})
		if err == nil {
			ct, err = im.CT()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	hdr, err := encodeHeader(ct.Grid, Int16, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []int{1, 2, 5} {
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("level%d/parallel=%v", level, parallel), func(b *testing.B) {
				var n int
				b.SetBytes(int64(2 * len(ct.HU)))
				for b.Loop() {
					var buf bytes.Buffer
					z, err := newGzipWriter(&buf, level, parallel)
					if err != nil {
						b.Fatal(err)
					}
					z.Write(hdr)
					if err := writeChunks(z, make([]byte, chunkSize), 2, ct.HU, encodeLE); err != nil {
						b.Fatal(err)
					}
					if err := z.Close(); err != nil {
						b.Fatal(err)
					}
					n = buf.Len()
				}
				b.ReportMetric(float64(2*len(ct.HU))/float64(n), "ratio")
			})
		}
	}
}

// BenchmarkWriteCTFile writes a 512×512×300 CT (a 300-slice series, 157 MB
// of voxels) to a file as .nii and as .nii.gz, fsync included: what
// choosing the uncompressed name saves.
func BenchmarkWriteCTFile(b *testing.B) {
	ct := syntheticCT([3]int{512, 512, 300}, 5)
	dir := b.TempDir()
	for _, name := range []string{"ct.nii", "ct.nii.gz"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(2 * len(ct.HU)))
			for b.Loop() {
				if err := WriteCTFile(filepath.Join(dir, name), ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
