package nnunet

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tinyCheckpoint(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(tinyFolder(), "fold_0", "checkpoint_final.pth"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rezip copies a zip, letting edit replace (or drop, with nil) entries.
func rezip(t testing.TB, in []byte, edit func(name string, data []byte) []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if data = edit(f.Name, data); data == nil {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		w.Write(data)
	}
	zw.Close()
	return buf.Bytes()
}

func TestCheckpointKeys(t *testing.T) {
	b := tinyCheckpoint(t)
	w, err := ReadCheckpoint(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// the state dict holds every module under its DNA names, duplicates included
	for _, k := range []string{
		"encoder.stages.0.0.convs.0.conv.weight", "encoder.stages.0.0.convs.0.all_modules.0.weight",
		"decoder.encoder.stages.2.0.convs.1.norm.bias", "decoder.seg_layers.0.weight", "decoder.transpconvs.1.weight",
	} {
		if _, ok := w[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	a, c := w["encoder.stages.0.0.convs.0.conv.weight"], w["encoder.stages.0.0.convs.0.all_modules.0.weight"]
	if len(a.Data) != 4*1*1*3*3 || a.Data[5] != c.Data[5] {
		t.Errorf("conv weight %v", a.Shape)
	}
}

func TestCheckpointRefused(t *testing.T) {
	good := tinyCheckpoint(t)
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"not a zip": {[]byte("PK not really"), "not a PyTorch zip"},
		"truncated": {good[:len(good)/2], "not a PyTorch zip"},
		"no pickle": {rezip(t, good, func(n string, d []byte) []byte {
			return map[bool][]byte{true: nil, false: d}[strings.HasSuffix(n, "data.pkl")]
		}), "no <archive>/data.pkl"},
		"short data": {rezip(t, good, func(n string, d []byte) []byte {
			return map[bool][]byte{true: d[:8], false: d}[strings.HasSuffix(n, "/data/0")]
		}), "holds 8 bytes"},
		"no storage": {rezip(t, good, func(n string, d []byte) []byte {
			return map[bool][]byte{true: nil, false: d}[strings.HasSuffix(n, "/data/3")]
		}), "storage record missing"},
		"garbage pickle": {rezip(t, good, func(n string, d []byte) []byte {
			if strings.HasSuffix(n, "data.pkl") {
				return d[:len(d)/3]
			}
			return d
		}), "pickle"},
	} {
		_, err := ReadCheckpoint(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
}

// FuzzReadCheckpoint: no input may panic or allocate past the limits.
func FuzzReadCheckpoint(f *testing.F) {
	f.Add(tinyCheckpoint(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		ReadCheckpoint(bytes.NewReader(b), int64(len(b)))
	})
}
