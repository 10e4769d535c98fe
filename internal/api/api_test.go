package api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/ports/blobstest"
)

// memBlobs is a map-backed ports.Blobs that keeps the Blobs contract
// (TestMemBlobsContract).
type memBlobs struct {
	mu   sync.Mutex
	objs map[string]memObject
}

type memObject struct {
	data []byte
	info ports.BlobInfo
}

func (m *memBlobs) Put(_ context.Context, key string, r io.Reader, size int64, _ string) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if int64(len(b)) != size {
		return fmt.Errorf("put %s: %d bytes, size says %d", key, len(b), size)
	}
	sum := md5.Sum(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs = map[string]memObject{}
	}
	m.objs[key] = memObject{b, ports.BlobInfo{Key: key, Size: size, ETag: hex.EncodeToString(sum[:]), Modified: time.Now().UTC()}}
	return nil
}

func (m *memBlobs) Get(_ context.Context, key string) (io.ReadCloser, ports.BlobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, ports.BlobInfo{}, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(o.data)), o.info, nil
}

func (m *memBlobs) Head(ctx context.Context, key string) (ports.BlobInfo, error) {
	_, info, err := m.Get(ctx, key)
	return info, err
}

func (m *memBlobs) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memBlobs) List(_ context.Context, prefix string) ([]ports.BlobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ports.BlobInfo
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, o.info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// testSigner makes recognisable URLs that carry the key and expiry.
type testSigner struct{}

func (testSigner) SignUpload(_ context.Context, key string, n int64, exp time.Time) (ports.Upload, error) {
	return ports.Upload{Method: "PUT", URL: "http://blobs.test/" + key + "?exp=" + fmt.Sprint(exp.Unix()),
		Headers: map[string]string{"Content-Length": fmt.Sprint(n)}, ExpiresAt: exp}, nil
}

func (testSigner) SignDownload(_ context.Context, key, name string, exp time.Time) (string, error) {
	return "http://blobs.test/" + key + "?exp=" + fmt.Sprint(exp.Unix()) + "&name=" + name, nil
}

type fixture struct {
	srv   *httptest.Server
	store *job.Memory
	blobs *memBlobs
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{store: &job.Memory{}, blobs: &memBlobs{}, now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	s := &Server{Store: f.store, Blobs: f.blobs, Signer: testSigner{},
		Owner: func(r *http.Request) (string, error) {
			if o := r.Header.Get("X-Test-Owner"); o != "" {
				return o, nil
			}
			return "", fmt.Errorf("no owner")
		},
		Clock:          func() time.Time { f.now = f.now.Add(time.Second); return f.now },
		MaxUploadBytes: 1 << 30,
		Health:         func(context.Context) map[string]error { return map[string]error{"store": nil, "blobs": nil} },
	}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, owner, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if owner != "" {
		req.Header.Set("X-Test-Owner", owner)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestCreateJob(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body string
		code       int
		errCode    string
	}{
		{"nifti gz", `{"filename":"ct.nii.gz","bytes":483312}`, 201, ""},
		{"nifti", `{"filename":"scan.NII","bytes":10}`, 201, ""},
		{"dicom zip", `{"filename":"series.zip","bytes":10}`, 201, ""},
		{"wrong type", `{"filename":"photo.jpg","bytes":10}`, 415, "unsupported_file"},
		{"bare extension", `{"filename":".nii.gz","bytes":10}`, 415, "unsupported_file"},
		{"too large", `{"filename":"ct.nii.gz","bytes":2147483648}`, 413, "too_large"},
		{"zero bytes", `{"filename":"ct.nii.gz","bytes":0}`, 400, "bad_request"},
		{"not json", `filename=ct.nii.gz`, 400, "bad_request"},
		{"unknown field", `{"filename":"ct.nii.gz","bytes":1,"owner":"x"}`, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do(t, "alice", "POST", "/api/jobs", tt.body)
			if code != tt.code || errCode(body) != tt.errCode {
				t.Fatalf("got %d %v, want %d %q", code, body, tt.code, tt.errCode)
			}
			if code != 201 {
				return
			}
			j := body["job"].(map[string]any)
			up := body["upload"].(map[string]any)
			id := j["id"].(string)
			if j["status"] != "created" || !events.ValidJobID(id) {
				t.Errorf("job = %v", j)
			}
			// The file name is kept from the request, so a job that fails
			// before its input is read still shows what was sent.
			var req CreateJobRequest
			_ = json.Unmarshal([]byte(tt.body), &req)
			if j["fileName"] != events.SafeName(req.Filename) {
				t.Errorf("fileName = %v, want %q", j["fileName"], events.SafeName(req.Filename))
			}
			if up["method"] != "PUT" || !strings.Contains(up["url"].(string), "uploads/"+id+"/") || up["expiresAt"] == "" {
				t.Errorf("upload = %v", up)
			}
			stored, err := f.store.Get(context.Background(), id)
			if err != nil || stored.Owner != "alice" || stored.UploadKey == "" {
				t.Errorf("stored job = %+v, %v", stored, err)
			}
		})
	}
}

func TestOwnerIsolationAndLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, created := f.do(t, "alice", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":100}`)
	id := created["job"].(map[string]any)["id"].(string)

	// A finished job shows organs and signed artifact URLs.
	f.store.Advance(ctx, id, job.Update{Status: job.Done, At: f.now, Organs: []job.Organ{{Label: 5, Name: "liver", VolumeMl: 1500}},
		Artifacts: []job.Artifact{{Name: "scene.glb", Key: events.ResultsPrefix(id) + "scene.glb", Bytes: 42}}})
	for _, k := range []string{events.UploadKey(id, "ct.nii.gz"), events.VolumeKey(id), events.SegmentationKey(id), events.ResultsPrefix(id) + "scene.glb", "volumes/otherjob1/ct.nii.gz"} {
		f.blobs.Put(ctx, k, strings.NewReader("x"), 1, "")
	}

	code, got := f.do(t, "alice", "GET", "/api/jobs/"+id, "")
	if code != 200 || got["status"] != "done" {
		t.Fatalf("owner GET = %d %v", code, got)
	}
	arts := got["artifacts"].([]any)
	if len(arts) != 1 || !strings.Contains(arts[0].(map[string]any)["url"].(string), "scene.glb?exp=") {
		t.Errorf("artifacts = %v", arts)
	}
	if got["error"] != nil || len(got["organs"].([]any)) != 1 {
		t.Errorf("job view = %v", got)
	}
	for _, tc := range []struct{ method, path string }{{"GET", "/api/jobs/" + id}, {"DELETE", "/api/jobs/" + id}} {
		if code, body := f.do(t, "mallory", tc.method, tc.path, ""); code != 404 || errCode(body) != "not_found" {
			t.Errorf("other owner %s = %d %v, want 404", tc.method, code, body)
		}
	}
	if code, body := f.do(t, "", "GET", "/api/jobs/"+id, ""); code != 401 || errCode(body) != "unauthorized" {
		t.Errorf("anonymous GET = %d %v", code, body)
	}
	if code, _ := f.do(t, "alice", "DELETE", "/api/jobs/"+id, ""); code != 204 {
		t.Fatalf("DELETE = %d", code)
	}
	if code, _ := f.do(t, "alice", "GET", "/api/jobs/"+id, ""); code != 404 {
		t.Errorf("GET after DELETE = %d", code)
	}
	left, _ := f.blobs.List(ctx, "")
	if len(left) != 1 || left[0].Key != "volumes/otherjob1/ct.nii.gz" {
		t.Errorf("objects left after delete: %v (only the other job's should remain)", left)
	}
}

func TestListNewestFirstPaged(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := 0; i < 5; i++ {
		_, b := f.do(t, "alice", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":100}`)
		ids = append([]string{b["job"].(map[string]any)["id"].(string)}, ids...)
	}
	f.do(t, "bob", "POST", "/api/jobs", `{"filename":"ct.nii.gz","bytes":100}`)
	var seen []string
	cursor := ""
	for i := 0; i < 5; i++ {
		code, b := f.do(t, "alice", "GET", "/api/jobs?limit=2&cursor="+cursor, "")
		if code != 200 {
			t.Fatalf("list = %d %v", code, b)
		}
		for _, j := range b["jobs"].([]any) {
			seen = append(seen, j.(map[string]any)["id"].(string))
		}
		cursor = b["next"].(string)
		if cursor == "" {
			break
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Errorf("listed %v, want newest first %v", seen, ids)
	}
	if code, b := f.do(t, "alice", "GET", "/api/jobs?limit=0", ""); code != 400 || errCode(b) != "bad_request" {
		t.Errorf("limit=0 → %d %v", code, b)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		method, path string
		code         int
		errCode      string
	}{
		{"GET", "/api/nope", 404, "not_found"},
		{"PUT", "/api/jobs", 405, "method_not_allowed"},
		{"POST", "/api/jobs/abcdefgh", 405, "method_not_allowed"},
		{"GET", "/api/jobs/..%2f..%2fetc", 404, "not_found"},
		{"GET", "/api/jobs/nosuchjob1", 404, "not_found"},
	} {
		code, body := f.do(t, "alice", tc.method, tc.path, "")
		if code != tc.code || errCode(body) != tc.errCode {
			t.Errorf("%s %s = %d %v, want %d %s", tc.method, tc.path, code, body, tc.code, tc.errCode)
		}
	}
	code, body := f.do(t, "", "GET", "/api/health", "")
	if code != 200 || body["status"] != "ok" {
		t.Errorf("health = %d %v", code, body)
	}
}

func TestJobIDsSortByTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := 0; i < 100; i++ {
		id, err := NewJobID(t0.Add(time.Duration(i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !events.ValidJobID(id) || id <= prev {
			t.Fatalf("id %q after %q: not valid or not increasing", id, prev)
		}
		prev = id
	}
}

// TestMemBlobsContract holds the tests' in-memory bucket to the contract
// the real ones keep, so no API test passes on a behaviour S3 lacks.
func TestMemBlobsContract(t *testing.T) {
	blobstest.Run(t, func(*testing.T) ports.Blobs { return &memBlobs{} })
}
