package dicom

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type zipEntry struct {
	name   string
	data   []byte
	method uint16
	flags  uint16
}

func makeZip(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method, Flags: e.flags})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var zipFixture fixture[[]byte]

// seriesZip zips the native copy of the real series into nested folders,
// with the clutter real uploads carry.
func seriesZip(t testing.TB) []byte {
	native := nativeReal(t)
	return zipFixture.get(t, func() ([]byte, error) { return makeSeriesZip(t, native), nil })
}

func makeSeriesZip(t testing.TB, native nativeSeries) []byte {
	one, err := os.ReadFile(filepath.Join(native.dir, native.order[0]))
	if err != nil {
		t.Fatal(err)
	}
	entries := []zipEntry{
		{name: "export/"},
		{name: "export/DICOMDIR", data: one, method: zip.Deflate}, // a real slice: must still be skipped
		{name: "export/.DS_Store", data: []byte("\x00\x00\x00\x01Bud1")},
		{name: "__MACOSX/export/._IM0", data: one[:200]},
		{name: "export/readme.txt", data: []byte("anonymised export")},
	}
	for i, f := range native.order {
		b, err := os.ReadFile(filepath.Join(native.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		m := uint16(zip.Store)
		if i%5 == 0 { // some deflated: both paths are read
			m = zip.Deflate
		}
		entries = append(entries, zipEntry{name: "export/series 2/" + f, data: b, method: m})
	}
	return makeZip(t, entries)
}

// TestReadZip reads the zipped series from memory, from a file without a
// .zip name, and with one worker, and compares each with dcm2niix's
// conversion of the original series.
func TestReadZip(t *testing.T) {
	ref := realReference(t)
	z := seriesZip(t)
	ctx := context.Background()

	res, err := ReadZip(ctx, bytes.NewReader(z), int64(len(z)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	compareCT(t, res.CT, ref)
	warn := strings.Join(res.Warnings, "\n")
	for _, w := range []string{"skipped 3 system files", "ignored 1 files that are not DICOM"} {
		if !strings.Contains(warn, w) {
			t.Errorf("warnings %q lack %q", warn, w)
		}
	}

	path := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(path, z, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = ReadPath(ctx, path, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	compareCT(t, res.CT, ref)
}

func TestUnsafeZip(t *testing.T) {
	native := nativeReal(t)
	slice0, _ := os.ReadFile(filepath.Join(native.dir, native.order[0]))
	bomb := make([]byte, 20<<20) // zeros: deflate packs them ~1000:1
	lying := makeZip(t, []zipEntry{{name: "a.dcm", data: slice0, method: zip.Deflate}})
	if i := bytes.Index(lying, []byte("PK\x01\x02")); i >= 0 {
		binary.LittleEndian.PutUint32(lying[i+24:], 1000) // central directory: uncompressed size
	}
	cases := []struct {
		name string
		zip  []byte
		opt  Options
		text string
	}{
		{"parent path", makeZip(t, []zipEntry{{name: "ok/../../evil.dcm", data: slice0}}), Options{}, "climbs out"},
		{"absolute path", makeZip(t, []zipEntry{{name: "/etc/evil.dcm", data: slice0}}), Options{}, "absolute"},
		{"drive letter", makeZip(t, []zipEntry{{name: `C:\evil.dcm`, data: slice0}}), Options{}, "absolute"},
		{"backslash parent", makeZip(t, []zipEntry{{name: `a\..\..\evil.dcm`, data: slice0}}), Options{}, "climbs out"},
		{"encrypted", makeZip(t, []zipEntry{{name: "a.dcm", data: slice0, method: zip.Deflate, flags: 1}}), Options{}, "encrypted"},
		{"bomb", makeZip(t, []zipEntry{{name: "bomb.dcm", data: bomb, method: zip.Deflate}}), Options{}, "inflates past 100:1"},
		{"over MaxBytes", seriesZip(t), Options{MaxBytes: 3 << 20}, "archive inflates past 3145728 bytes"},
		{"size in header is a lie", lying, Options{}, `entry "a.dcm"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadZip(context.Background(), bytes.NewReader(c.zip), int64(len(c.zip)), c.opt)
			if !errors.Is(err, ErrUnsafeZip) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %v, want ErrUnsafeZip naming %q", err, c.text)
			}
		})
	}
	garbage := []byte("PK\x03\x04 this is not really a zip")
	if _, err := ReadZip(context.Background(), bytes.NewReader(garbage), int64(len(garbage)), Options{}); !errors.Is(err, ErrNotDICOM) {
		t.Errorf("garbage zip: %v, want ErrNotDICOM", err)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	z := seriesZip(t)
	if _, err := ReadZip(ctx, bytes.NewReader(z), int64(len(z)), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
