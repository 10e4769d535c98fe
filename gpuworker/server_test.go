package gpuworker

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func shared(tb testing.TB, name ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(testdata.Path(tb, append([]string{"totalsegmentator-example"}, name...)...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type zipEntry struct{ name, file string }

// zipOf builds a zip from entries whose file is a path under the shared
// DICOM folder, or literal content after "text:".
func zipOf(tb testing.TB, entries ...zipEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			tb.Fatal(err)
		}
		data := []byte(strings.TrimPrefix(e.file, "text:"))
		if !strings.HasPrefix(e.file, "text:") {
			data = shared(tb, "dicom", e.file)
		}
		if _, err := w.Write(data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func dicomFiles(tb testing.TB) []string {
	tb.Helper()
	ents, err := os.ReadDir(testdata.Path(tb, "totalsegmentator-example", "dicom"))
	if err != nil || len(ents) < 2 {
		tb.Fatalf("shared DICOM series: %v (%d files)", err, len(ents))
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// seriesZip zips the shared 20-slice series into a folder, as a user would.
func seriesZip(tb testing.TB) []byte {
	var entries []zipEntry
	for _, n := range dicomFiles(tb) {
		entries = append(entries, zipEntry{"CT/series1/" + n, n})
	}
	return zipOf(tb, entries...)
}

func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// start serves s over real HTTP, ready.
func start(t *testing.T, s *Server) string {
	t.Helper()
	if s.TempDir == "" {
		s.TempDir = t.TempDir()
	}
	if s.Logger == nil {
		s.Logger = quiet
	}
	s.SetReady(nil)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

var quiet = slog.New(slog.DiscardHandler)

func post(t *testing.T, url string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/invocations", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// checkFraming asserts what SageMaker needs of every response: a
// Content-Length equal to the body, no chunking, headers under 4 KB.
func checkFraming(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Length") == "" {
		t.Errorf("Content-Length %q (%d), body %d bytes", resp.Header.Get("Content-Length"), resp.ContentLength, len(body))
	}
	if len(resp.TransferEncoding) != 0 {
		t.Errorf("Transfer-Encoding %v", resp.TransferEncoding)
	}
	var hdr bytes.Buffer
	resp.Header.Write(&hdr)
	if hdr.Len() >= 4096 {
		t.Errorf("headers are %d bytes", hdr.Len())
	}
}

type apiError struct {
	Error struct{ Code, Message string }
}

func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) apiError {
	t.Helper()
	checkFraming(t, resp, body)
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body %q is not the JSON error: %v", resp.StatusCode, body, err)
	}
	if resp.StatusCode != status || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("got %d %q %q, want %d %q with a message", resp.StatusCode, e.Error.Code, e.Error.Message, status, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return e
}

// TestInvocations posts real CT bytes in each accepted form and checks the
// label map against the engine run directly on the same scan.
func TestInvocations(t *testing.T) {
	url := start(t, &Server{Engine: segment.Native{}})
	nii := shared(t, "ct_3mm.nii.gz")
	for _, c := range []struct {
		name string
		body []byte
		dims [3]int
	}{
		{"nii.gz", nii, [3]int{122, 101, 30}},
		{"nii", gunzip(t, nii), [3]int{122, 101, 30}},
		{"DICOM zip", seriesZip(t), [3]int{512, 512, 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, url, bytes.NewReader(c.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			checkFraming(t, resp, body)
			if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
				t.Errorf("Content-Type %q", ct)
			}
			im, err := volume.Read(bytes.NewReader(body), volume.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lm, err := im.LabelMap()
			if err != nil {
				t.Fatal(err)
			}
			sc, err := scan.Read(context.Background(), bytes.NewReader(c.body), int64(len(c.body)), scan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if lm.Dims != c.dims || lm.Dims != sc.CT.Dims || !sameAffine(lm.Affine, sc.CT.Affine) {
				t.Errorf("label map grid %v %v, input %v %v", lm.Dims, lm.Affine, sc.CT.Dims, sc.CT.Affine)
			}
			direct, err := segment.Native{}.Segment(context.Background(), sc.CT)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lm.Data, direct.Data) {
				t.Error("labels differ from the engine's own")
			}
			table := labels.Native()
			found := map[uint16]bool{}
			for _, v := range lm.Data {
				found[v] = true
			}
			for v := range found {
				if _, ok := table.Lookup(v); v != 0 && !ok {
					t.Errorf("label %d is not in the native table", v)
				}
			}
			if len(found) < 3 {
				t.Errorf("only labels %v found", found)
			}
			if len(lm.Extensions) == 0 || !labels.IsCaret(lm.Extensions[0].Data) {
				t.Error("no Caret label table")
			}
		})
	}
}

func sameAffine(a, b volume.Affine) bool {
	for r := range 4 {
		for c := range 4 {
			if d := a[r][c] - b[r][c]; d > 1e-4 || d < -1e-4 {
				return false
			}
		}
	}
	return true
}

func TestBadInput(t *testing.T) {
	tmp := t.TempDir()
	url := start(t, &Server{Engine: segment.Native{}, TempDir: tmp})
	files := dicomFiles(t)
	nii := shared(t, "ct_3mm.nii.gz")
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		code   string
		text   string
	}{
		{"text", []byte("this is a radiology report, not an image; it has no header at all"), 400, "unknown_format", "not a NIfTI"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 600)...), 400, "unknown_format", "not a NIfTI"},
		{"empty", nil, 400, "empty_body", "empty"},
		{"truncated nii.gz", nii[:len(nii)/3], 400, "invalid_input", ""},
		{"zip of no DICOM", zipOf(t, zipEntry{"notes.txt", "text:no images here"}), 400, "not_dicom", ""},
		{"zip climbing out", zipOf(t, zipEntry{"../../etc/" + files[0], files[0]}), 400, "unsafe_zip", "climbs out"},
		{"zip of one slice", zipOf(t, zipEntry{files[0], files[0]}), 422, "too_few_slices", ""},
		{"single DICOM file", shared(t, "dicom", files[0]), 422, "too_few_slices", ""},
		{"label map", shared(t, "ct_3mm_seg.nii.gz"), 422, "not_ct", "not a CT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, url, bytes.NewReader(c.body))
			e := wantError(t, resp, body, c.status, c.code)
			if !strings.Contains(e.Error.Message, c.text) {
				t.Errorf("message %q lacks %q", e.Error.Message, c.text)
			}
		})
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d spooled bodies left in TempDir", len(left))
	}
}

// onlyReader hides the length of a body, so that it is sent chunked.
type onlyReader struct{ io.Reader }

func TestBodyLimit(t *testing.T) {
	tmp := t.TempDir()
	url := start(t, &Server{Engine: segment.Native{}, MaxBodyBytes: 64 << 10, TempDir: tmp})
	nii := shared(t, "ct_3mm.nii.gz")
	resp, body := post(t, url, bytes.NewReader(nii))
	if e := wantError(t, resp, body, 413, "too_large"); !strings.Contains(e.Error.Message, "483312 bytes") {
		t.Errorf("message %q does not name the size", e.Error.Message)
	}
	resp, body = post(t, url, onlyReader{bytes.NewReader(nii)})
	if e := wantError(t, resp, body, 413, "too_large"); !strings.Contains(e.Error.Message, "65536") {
		t.Errorf("message %q does not name the limit", e.Error.Message)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d spooled bodies left in TempDir", len(left))
	}
}

// probe wraps the native engine to watch concurrency and to hold requests.
type probe struct {
	segment.Native
	active, peak, calls atomic.Int32
	entered             chan struct{} // receives once per call, if not nil
	release             chan struct{} // a call waits for it (or ctx), if not nil
	stubborn            bool          // wait for release even when ctx is done
	delay               time.Duration
}

func (p *probe) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	n := p.active.Add(1)
	defer p.active.Add(-1)
	p.calls.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.release != nil && p.stubborn {
		<-p.release
	}
	if p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	time.Sleep(p.delay)
	return p.Native.Segment(ctx, ct)
}

func TestConcurrency(t *testing.T) {
	nii := shared(t, "ct_3mm.nii.gz")
	parallel := func(t *testing.T, url string, n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, body := post(t, url, bytes.NewReader(nii))
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
	}

	t.Run("one at a time", func(t *testing.T) {
		p := &probe{delay: 200 * time.Millisecond}
		parallel(t, start(t, &Server{Engine: p}), 3)
		if p.calls.Load() != 3 || p.peak.Load() != 1 {
			t.Errorf("%d calls, %d at once; want 3, 1", p.calls.Load(), p.peak.Load())
		}
	})

	t.Run("two at once", func(t *testing.T) {
		// Each call waits for the other to have entered: with capacity 1
		// this would time out.
		p := &probe{entered: make(chan struct{}, 2), release: make(chan struct{})}
		go func() {
			<-p.entered
			select {
			case <-p.entered:
			case <-time.After(10 * time.Second):
			}
			close(p.release)
		}()
		parallel(t, start(t, &Server{Engine: p, Concurrency: 2}), 2)
		if p.peak.Load() != 2 {
			t.Errorf("%d at once, want 2", p.peak.Load())
		}
	})

	t.Run("one per engine", func(t *testing.T) {
		a, b := &probe{delay: 100 * time.Millisecond}, &probe{delay: 100 * time.Millisecond}
		parallel(t, start(t, &Server{Engines: []segment.Engine{a, b}}), 4)
		if a.peak.Load() != 1 || b.peak.Load() != 1 || a.calls.Load()+b.calls.Load() != 4 || a.calls.Load() == 0 || b.calls.Load() == 0 {
			t.Errorf("engine a: %d calls, %d at once; b: %d, %d", a.calls.Load(), a.peak.Load(), b.calls.Load(), b.peak.Load())
		}
	})
}

type failing struct {
	segment.Native
	err  error
	grid bool // return a label map on another grid
}

func (f failing) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	if f.grid {
		g := ct.Grid
		g.Dims[2]--
		return &volume.LabelMap{Grid: g, Data: make([]uint16, g.Len())}, nil
	}
	return nil, f.err
}

func TestEngineFailures(t *testing.T) {
	nii := shared(t, "ct_3mm.nii.gz")
	t.Run("error", func(t *testing.T) {
		url := start(t, &Server{Engine: failing{err: errors.New("CUDA out of memory")}})
		resp, body := post(t, url, bytes.NewReader(nii))
		if e := wantError(t, resp, body, 500, "segmentation_failed"); e.Error.Message != "CUDA out of memory" {
			t.Errorf("message %q", e.Error.Message)
		}
	})
	t.Run("wrong grid", func(t *testing.T) {
		url := start(t, &Server{Engine: failing{grid: true}})
		resp, body := post(t, url, bytes.NewReader(nii))
		wantError(t, resp, body, 500, "segmentation_failed")
	})
	t.Run("timeout", func(t *testing.T) {
		p := &probe{release: make(chan struct{})}
		url := start(t, &Server{Engine: p, Timeout: time.Second})
		resp, body := post(t, url, bytes.NewReader(nii))
		if e := wantError(t, resp, body, 504, "timeout"); !strings.Contains(e.Error.Message, "1s timeout while the native engine ran") {
			t.Errorf("message %q", e.Error.Message)
		}
	})
	t.Run("timeout while queued", func(t *testing.T) {
		// The first request holds the engine past its own timeout.
		p := &probe{entered: make(chan struct{}, 1), release: make(chan struct{}), stubborn: true}
		url := start(t, &Server{Engine: p, Timeout: time.Second})
		done := make(chan struct{})
		go func() {
			defer close(done)
			post(t, url, bytes.NewReader(nii))
		}()
		<-p.entered
		resp, body := post(t, url, bytes.NewReader(nii))
		if e := wantError(t, resp, body, 504, "timeout"); !strings.Contains(e.Error.Message, "1s timeout while queued") {
			t.Errorf("message %q does not say it timed out queued", e.Error.Message)
		}
		close(p.release)
		<-done
		if p.calls.Load() != 1 {
			t.Errorf("engine called %d times", p.calls.Load())
		}
	})
}

func TestPing(t *testing.T) {
	s := &Server{Engine: segment.Native{}, Logger: quiet}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	ping := func(status int, code string) apiError {
		t.Helper()
		resp, err := http.Get(hs.URL + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if status == 200 {
			checkFraming(t, resp, body)
			if resp.StatusCode != 200 {
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
			return apiError{}
		}
		return wantError(t, resp, body, status, code)
	}
	ping(503, "starting")
	s.SetReady(Warmup(context.Background(), segment.Native{}))
	ping(200, "")
	s.SetReady(Warmup(context.Background(), &segment.TotalSegmentator{Command: filepath.Join(t.TempDir(), "TotalSegmentator")}))
	if e := ping(503, "not_ready"); !strings.Contains(e.Error.Message, "pip install TotalSegmentator") {
		t.Errorf("message %q does not say how to install", e.Error.Message)
	}
	resp, err := http.Post(hs.URL+"/ping", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ping: %d", resp.StatusCode)
	}
}

// TestWarmupTotalSegmentator warms the TotalSegmentator engine up with the
// fake tool: a run that works makes the server ready, one that fails
// leaves /ping at 503 with the tool's error.
func TestWarmupTotalSegmentator(t *testing.T) {
	exe := buildFake(t)
	for _, c := range []struct {
		mode, err string
	}{
		{"empty", ""},
		{"fail", "CUDA out of memory"},
	} {
		e := &segment.TotalSegmentator{Command: exe, TempDir: t.TempDir(), Env: []string{"FAKE_TOTALSEG=" + c.mode}}
		err := Warmup(context.Background(), e)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("mode %s: warm-up error %v, want %q", c.mode, err, c.err)
		}
	}
}

// buildFake compiles the fake TotalSegmentator of internal/segment.
func buildFake(tb testing.TB) string {
	tb.Helper()
	exe := filepath.Join(tb.TempDir(), "TotalSegmentator")
	out, err := exec.Command("go", "build", "-o", exe, "github.com/iris-oculus/iris/internal/segment/testdata/faketotalseg").CombinedOutput()
	if err != nil {
		tb.Fatalf("build the fake TotalSegmentator: %v\n%s", err, out)
	}
	return exe
}

func TestPhantomLooksLikeCT(t *testing.T) {
	ct := Phantom()
	lm, err := segment.Native{}.Segment(context.Background(), ct)
	if err != nil {
		t.Fatalf("the native engine refuses the phantom: %v", err)
	}
	n := 0
	for _, v := range lm.Data {
		if v != 0 {
			n++
		}
	}
	// The trunk is an ellipse of 42×32 voxels' radii on 48 slices.
	if want := int(math.Round(math.Pi * 42 * 32 * 48)); n < want*8/10 || n > want*12/10 {
		t.Errorf("%d voxels labelled, want about %d", n, want)
	}
}

// TestServeShutdown stops the server while a request is in the engine: new
// connections are refused, the request in flight still gets its label map.
func TestServeShutdown(t *testing.T) {
	nii := shared(t, "ct_3mm.nii.gz")
	serve := func(t *testing.T, s *Server, grace time.Duration) (string, context.CancelFunc, chan error) {
		s.TempDir, s.Logger = t.TempDir(), quiet
		s.SetReady(nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln, grace) }()
		return "http://" + ln.Addr().String(), cancel, done
	}

	t.Run("in flight completes", func(t *testing.T) {
		p := &probe{entered: make(chan struct{}, 1), release: make(chan struct{})}
		url, cancel, done := serve(t, &Server{Engine: p}, 10*time.Second)
		type result struct {
			resp *http.Response
			body []byte
		}
		got := make(chan result, 1)
		go func() {
			resp, body := post(t, url, bytes.NewReader(nii))
			got <- result{resp, body}
		}()
		<-p.entered
		cancel() // what SIGTERM does in main
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("still accepting connections after shutdown began")
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(p.release)
		r := <-got
		if r.resp.StatusCode != http.StatusOK {
			t.Fatalf("in-flight request: %d %s", r.resp.StatusCode, r.body)
		}
		checkFraming(t, r.resp, r.body)
		if _, err := volume.Read(bytes.NewReader(r.body), volume.ReadOptions{}); err != nil {
			t.Errorf("in-flight label map: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	t.Run("grace over cancels", func(t *testing.T) {
		p := &probe{entered: make(chan struct{}, 1), release: make(chan struct{})}
		url, cancel, done := serve(t, &Server{Engine: p}, 300*time.Millisecond)
		got := make(chan *http.Response, 1)
		go func() {
			resp, body := post(t, url, bytes.NewReader(nii))
			wantError(t, resp, body, 503, "cancelled")
			got <- resp
		}()
		<-p.entered
		cancel()
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve: %v, want the grace period's deadline", err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("the cancelled request got no answer")
		}
	})
}

// BenchmarkInvocation measures a whole request with the native engine on
// the 122×101×30 example: spooling, reading, segmenting, encoding.
func BenchmarkInvocation(b *testing.B) {
	s := &Server{Engine: segment.Native{}, TempDir: b.TempDir(), Logger: quiet}
	s.SetReady(nil)
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	nii := shared(b, "ct_3mm.nii.gz")
	b.SetBytes(int64(len(nii)))
	for b.Loop() {
		resp, err := http.Post(hs.URL+"/invocations", "application/gzip", bytes.NewReader(nii))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
