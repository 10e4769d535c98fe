package nnunet

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// tinyTask is the tiny test model published as if it were a release:
// a zip holding Dataset999_Tiny/<trainer>/....
func tinyTask(url string) Task {
	return Task{ID: 999, Name: "tiny", Dataset: "Dataset999_Tiny",
		Trainer: "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres", URL: url, Licence: "test"}
}

func tinyZip(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	root := filepath.Join("testdata", "tiny")
	err := filepath.WalkDir(filepath.Join(root, "Dataset999_Tiny"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range extra {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// server serves body at /w.zip; truncate > 0 declares the full length but
// sends only that many bytes.
func server(t *testing.T, body []byte, truncate int) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/w.zip" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if truncate > 0 {
			w.Write(body[:truncate])
			return // the handler returns early: the client sees a short body
		}
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

func TestDownloadWeights(t *testing.T) {
	body := tinyZip(t, nil)
	sum := sha256.Sum256(body)
	s, hits := server(t, body, 0)
	dir := t.TempDir()
	var last, total int64
	var logged []string
	opts := WeightsOptions{Dir: dir, TotalSegmentatorHome: "-", Download: true, SHA256: hex.EncodeToString(sum[:]),
		Progress: func(d, n int64) { last, total = d, n },
		Log:      func(m string) { logged = append(logged, m) }}
	m, err := ResolveWeights(context.Background(), tinyTask(s.URL+"/w.zip"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(body)) || total != int64(len(body)) {
		t.Errorf("progress ended at %d of %d, want %d", last, total, len(body))
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "licence: test") {
		t.Errorf("log %q", logged)
	}
	if _, err := LoadModel(m, 0); err != nil {
		t.Fatalf("downloaded model does not load: %v", err)
	}
	// the second time comes from the cache, checked against the recorded hash
	if _, err := ResolveWeights(context.Background(), tinyTask(s.URL+"/w.zip"), opts); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests, want 1", hits.Load())
	}
	opts.SHA256 = strings.Repeat("0", 64)
	if _, err := ResolveWeights(context.Background(), tinyTask(s.URL+"/w.zip"), opts); err == nil {
		t.Error("cached weights with another recorded hash were accepted")
	}
	// no leftovers beside the model
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "Dataset999_Tiny" {
		t.Errorf("weights dir holds %v", ents)
	}
}

func TestDownloadWeightsFailures(t *testing.T) {
	body := tinyZip(t, nil)
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name     string
		body     []byte
		truncate int
		sha      string
		path     string
		want     string
	}{
		{"truncated", body, len(body) / 2, "", "/w.zip", "download weights"},
		{"bad checksum", body, 0, strings.Repeat("ab", 32), "/w.zip", "SHA-256"},
		{"not found", body, 0, good, "/missing.zip", "404"},
		{"not a zip", []byte("<html>rate limited</html>"), 0, "", "/w.zip", "unpack"},
		{"zip slip", tinyZip(t, map[string]string{"Dataset999_Tiny/../../evil": "x"}), 0, "", "/w.zip", "leaves the folder"},
		{"wrong content", tinyZip(t, nil), 0, "", "/w.zip", "does not hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := server(t, c.body, c.truncate)
			dir := t.TempDir()
			task := tinyTask(s.URL + c.path)
			if c.name == "wrong content" {
				task.Trainer = "otherTrainer__nnUNetPlans__3d_fullres"
			}
			_, err := ResolveWeights(context.Background(), task,
				WeightsOptions{Dir: dir, TotalSegmentatorHome: "-", Download: true, SHA256: c.sha})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one mentioning %q", err, c.want)
			}
			if hasModel(filepath.Join(dir, task.Dataset, task.Trainer)) && c.name != "wrong content" {
				t.Error("a failed download left a model in place")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".download-") {
					t.Errorf("temporary %s left behind", e.Name())
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "..", "evil")); err == nil {
				t.Error("zip slip wrote outside the folder")
			}
		})
	}
}

func TestWeightsFromTotalSegmentatorHome(t *testing.T) {
	home := t.TempDir()
	dst := filepath.Join(home, "nnunet", "results")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", "tiny"))); err != nil {
		t.Fatal(err)
	}
	m, err := ResolveWeights(context.Background(), tinyTask("http://127.0.0.1:1/unused"),
		WeightsOptions{Dir: t.TempDir(), TotalSegmentatorHome: home})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m, dst) {
		t.Errorf("model %s not from the TotalSegmentator home", m)
	}
	if _, err := ResolveWeights(context.Background(), tinyTask("http://127.0.0.1:1/unused"),
		WeightsOptions{Dir: t.TempDir(), TotalSegmentatorHome: "-"}); err == nil {
		t.Error("no weights and no download allowed, yet resolved")
	}
}

// TestEngine is the engine as iris uses it: weights from a loopback
// release, loaded once, progress reported per call.
func TestEngine(t *testing.T) {
	s, hits := server(t, tinyZip(t, nil), 0)
	e := &Engine{Task: tinyTask(s.URL + "/w.zip"), Weights: WeightsOptions{Dir: t.TempDir(), TotalSegmentatorHome: "-", Download: true}}
	ct := sharedCT(t)
	ct.HU = ct.HU[:ct.Dims[0]*ct.Dims[1]*8]
	ct.Dims[2] = 8
	for range 2 {
		n := 0
		lm, err := e.Segment(WithProgress(context.Background(), func(d, total int) { n = total }), ct)
		if err != nil {
			t.Fatal(err)
		}
		if lm.Dims != ct.Dims || len(lm.Data) != ct.Len() || n == 0 {
			t.Fatalf("label map %v, %d tiles", lm.Dims, n)
		}
	}
	if hits.Load() != 1 || e.Name() != "totalseg-fast" {
		t.Errorf("%d downloads, name %s", hits.Load(), e.Name())
	}
}
