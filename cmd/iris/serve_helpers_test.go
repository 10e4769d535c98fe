package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	apiclient "github.com/iris-oculus/iris/internal/client"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/local"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/ports"
)

// testFlags make a server quick to test: drops settle fast, and the sweep
// runs often (it must never fail a healthy job).
var testFlags = []string{"--addr", "127.0.0.1:0", "--settle", "1s", "--sweep", "1s"}

// runningRe finds the address serve prints once it listens.
var runningRe = regexp.MustCompile(`running at (http://[^\s/]+)/`)

// syncBuffer is a bytes.Buffer safe for concurrent writers that reports
// the server's URL once it is printed.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	url  chan string
	sent bool
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{url: make(chan string, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if !b.sent {
		if m := runningRe.FindSubmatch(b.buf.Bytes()); m != nil {
			b.sent = true
			b.url <- string(m[1])
		}
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the end of a log, for failure messages.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// inProcess is `iris serve` run by run() in this test process.
type inProcess struct {
	base, data string
	log        *syncBuffer
	stop       context.CancelFunc
	done       chan error
}

// startInProcess runs `iris serve` on data until the test ends, then
// stops it as Ctrl-C would and checks that it stopped cleanly.
func startInProcess(t *testing.T, data string, args ...string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{data: data, log: newSyncBuffer(), stop: cancel, done: make(chan error, 1)}
	stdout := newSyncBuffer()
	argv := append([]string{"serve", "--data", data}, append(slices.Clone(testFlags), args...)...)
	go func() { s.done <- run(ctx, argv, stdout, s.log) }()
	select {
	case s.base = <-stdout.url:
	case err := <-s.done:
		cancel()
		t.Fatalf("iris serve stopped at start: %v\n%s", err, s.log)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("iris serve printed no URL in 30 s; stdout %q\n%s", stdout, s.log)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("iris serve stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("iris serve did not stop within 60 s of Ctrl-C")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.log.String(), 8000))
		}
	})
	return s
}

func (s *inProcess) client(t *testing.T) *client { return newClient(t, s.base) }

// client speaks the API of one server: through internal/client, the
// client `iris submit` uses, and raw requests (do) for what a client
// would never send.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	api  *apiclient.Client
}

func newClient(t testing.TB, base string) *client {
	ac, err := apiclient.New(base, "")
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, hc: &http.Client{Timeout: 30 * time.Second}, api: ac}
}

// do sends a request; a path without a scheme is on the server.
func (c *client) do(method, url, contentType string, body []byte) (int, []byte) {
	c.t.Helper()
	code, b, err := c.try(method, url, contentType, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return code, b
}

func (c *client) try(method, url, contentType string, body []byte) (int, []byte, error) {
	if strings.HasPrefix(url, "/") {
		url = c.base + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read body: %w", method, req.URL.Path, err)
	}
	return resp.StatusCode, b, nil
}

// created is the answer to POST /api/jobs.
type created = api.CreateJobResponse

// create makes a job for a file of size bytes called name.
func (c *client) create(name string, size int) created {
	c.t.Helper()
	cr, err := c.api.Create(context.Background(), name, int64(size))
	if err != nil {
		c.t.Fatalf("POST /api/jobs %s: %v", name, err)
	}
	if cr.Job.ID == "" || cr.Job.Status != job.Created || cr.Upload.Method != http.MethodPut || !strings.HasPrefix(cr.Upload.URL, local.BlobPath+events.PrefixUploads+cr.Job.ID+"/") {
		c.t.Fatalf("POST /api/jobs: unexpected answer %+v", cr)
	}
	return cr
}

// put sends data to a signed upload URL.
func (c *client) put(up ports.Upload, data []byte) {
	c.t.Helper()
	if err := c.api.Upload(context.Background(), up, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		c.t.Fatalf("upload: %v", err)
	}
}

// submit creates a job and uploads data for it, as the web app does.
func (c *client) submit(name string, data []byte) string {
	c.t.Helper()
	cr := c.create(name, len(data))
	c.put(cr.Upload, data)
	return cr.Job.ID
}

// get returns the job's view, or the HTTP status when it is not 200.
func (c *client) get(id string) (api.JobView, int) {
	c.t.Helper()
	v, err := c.api.Job(context.Background(), id)
	var ae *apiclient.Error
	switch {
	case err == nil:
		return v, http.StatusOK
	case errors.As(err, &ae):
		return api.JobView{}, ae.Status
	}
	c.t.Fatalf("GET /api/jobs/%s: %v", id, err)
	return api.JobView{}, 0
}

// wait polls the job until it is finished (done or failed).
func (c *client) wait(id string, timeout time.Duration) api.JobView {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var v api.JobView
	for {
		var code int
		v, code = c.get(id)
		if code == http.StatusOK && v.Status.Terminal() {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s not finished after %v: HTTP %d, status %q", id, timeout, code, v.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// list pages through GET /api/jobs, limit jobs a page.
func (c *client) list(limit int) []api.JobView {
	c.t.Helper()
	var all []api.JobView
	cursor := ""
	for range 1000 {
		page, err := c.api.Jobs(context.Background(), limit, cursor)
		if err != nil {
			c.t.Fatalf("GET /api/jobs (limit %d, cursor %q): %v", limit, cursor, err)
		}
		if len(page.Jobs) > limit {
			c.t.Fatalf("GET /api/jobs: %d jobs on a page of %d", len(page.Jobs), limit)
		}
		all = append(all, page.Jobs...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
	c.t.Fatal("GET /api/jobs: the cursor never ends")
	return nil
}

// dropJobID is the job id a file dropped as uploads/name gets.
func dropJobID(name string, data []byte) string {
	sum := md5.Sum(data)
	return events.DropJobID(events.PrefixUploads+name, hex.EncodeToString(sum[:]))
}

// dropByRename writes data beside the bucket and renames it into
// uploads/, the reliable way to drop. It returns the job id to expect.
func dropByRename(t testing.TB, data, name string, b []byte) string {
	t.Helper()
	tmp := filepath.Join(data, "staging-"+name)
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(data, "bucket", "uploads", name)); err != nil {
		t.Fatal(err)
	}
	return dropJobID(name, b)
}

// dropSlowly copies data into uploads/name in chunks with pauses, as a
// slow network copy does; each pause is shorter than the settle time.
func dropSlowly(t testing.TB, data, name string, b []byte, chunks int, pause time.Duration) string {
	t.Helper()
	f, err := os.Create(filepath.Join(data, "bucket", "uploads", name))
	if err != nil {
		t.Fatal(err)
	}
	step := (len(b) + chunks - 1) / chunks
	for off := 0; off < len(b); off += step {
		if _, err := f.Write(b[off:min(off+step, len(b))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pause)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dropJobID(name, b)
}

// checkDone checks a finished job end to end: its record, the model set in
// the bucket, its manifest, and every artifact through its signed URL.
func checkDone(t *testing.T, c *client, data string, v api.JobView, format string, dims [3]int) {
	t.Helper()
	if v.Status != job.Done || v.Error != nil {
		t.Fatalf("job %s: status %s, error %+v; want done", v.ID, v.Status, v.Error)
	}
	if v.Input == nil || v.Input.Format != format || v.Input.Dims != dims {
		t.Errorf("job %s: input %+v; want format %s, dims %v", v.ID, v.Input, format, dims)
	}
	if v.Engine != "native" {
		t.Errorf("job %s: engine %q, want native", v.ID, v.Engine)
	}
	order := []job.Status{job.Created, job.Accepted, job.Segmenting, job.Meshing, job.Done}
	for i, s := range order {
		at, ok := v.Stages[s]
		if !ok {
			t.Errorf("job %s: no time for stage %s in %v", v.ID, s, v.Stages)
			continue
		}
		// Stages start in order, although S3 event times have whole
		// seconds (issue 11, item 10).
		if i > 0 && at.Before(v.Stages[order[i-1]]) {
			t.Errorf("job %s: stage %s at %v is before %s at %v", v.ID, s, at, order[i-1], v.Stages[order[i-1]])
		}
	}
	if len(v.Organs) < 2 {
		t.Errorf("job %s: %d organs, want at least 2 (the native engine finds body, lungs, bones …)", v.ID, len(v.Organs))
	}
	colour := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	for _, o := range v.Organs {
		if o.Name == "" || o.DisplayName == "" || !colour.MatchString(o.Color) || o.Triangles <= 0 || o.VolumeMl <= 0 {
			t.Errorf("job %s: organ %+v lacks a name, colour, triangles or volume", v.ID, o)
		}
	}

	results := filepath.Join(data, "bucket", filepath.FromSlash(events.ResultsPrefix(v.ID)))
	manBytes, err := os.ReadFile(filepath.Join(results, export.ManifestFile))
	if err != nil {
		t.Fatalf("job %s: %v", v.ID, err)
	}
	var man export.Manifest
	if err := json.Unmarshal(manBytes, &man); err != nil {
		t.Fatalf("job %s: manifest: %v", v.ID, err)
	}
	if man.Schema != export.SchemaVersion || man.Generator != "iris serve" || man.Source.Dims != dims {
		t.Errorf("job %s: manifest schema %q generator %q dims %v", v.ID, man.Schema, man.Generator, man.Source.Dims)
	}
	var manOrgans, viewOrgans []string
	for _, o := range man.Organs {
		manOrgans = append(manOrgans, o.Name)
	}
	for _, o := range v.Organs {
		viewOrgans = append(viewOrgans, o.Name)
	}
	if len(manOrgans) == 0 || !slices.Equal(manOrgans, viewOrgans) {
		t.Errorf("job %s: organs in the manifest %v, in the job %v", v.ID, manOrgans, viewOrgans)
	}
	hasGLB := false
	for _, f := range man.Files {
		fi, err := os.Stat(filepath.Join(results, filepath.FromSlash(f.Name)))
		if err != nil || fi.Size() != f.Bytes || f.Bytes == 0 {
			t.Errorf("job %s: manifest lists %s (%d bytes); on disk: %v", v.ID, f.Name, f.Bytes, err)
		}
		hasGLB = hasGLB || f.Name == "scene.glb"
	}
	if !hasGLB {
		t.Errorf("job %s: the manifest lists no scene.glb: %+v", v.ID, man.Files)
	}
	checkGLB(t, filepath.Join(results, "scene.glb"))

	names := map[string]bool{}
	for _, a := range v.Artifacts {
		names[a.Name] = true
		code, body := c.do(http.MethodGet, a.URL, "", nil)
		if code != http.StatusOK || int64(len(body)) != a.Bytes || a.Bytes == 0 {
			t.Errorf("job %s: GET artifact %s: HTTP %d, %d bytes; want 200 and %d bytes", v.ID, a.Name, code, len(body), a.Bytes)
		}
		if a.Name == export.ManifestFile && !bytes.Equal(body, manBytes) {
			t.Errorf("job %s: the downloaded manifest differs from results/%s/manifest.json", v.ID, v.ID)
		}
		if a.ExpiresAt.Before(time.Now()) {
			t.Errorf("job %s: artifact %s link expired at %v", v.ID, a.Name, a.ExpiresAt)
		}
	}
	for _, want := range []string{export.ManifestFile, "scene.glb", "scene.obj", events.VolumeFile} {
		if !names[want] {
			t.Errorf("job %s: no %s among the artifacts %v", v.ID, want, names)
		}
	}
	checkNoUpload(t, data, v.ID)
}

// checkGLB checks the binary glTF header of the file at path.
func checkGLB(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if len(b) < 20 || string(b[:4]) != "glTF" || binary.LittleEndian.Uint32(b[4:]) != 2 || int(binary.LittleEndian.Uint32(b[8:])) != len(b) {
		t.Errorf("%s is not a glTF 2.0 binary of its own length (%d bytes, head % x)", path, len(b), b[:min(len(b), 12)])
	}
}

// checkNoUpload checks that the job's upload is gone: it may carry
// patient data and the ingest deletes it.
func checkNoUpload(t *testing.T, data, id string) {
	t.Helper()
	dir := filepath.Join(data, "bucket", "uploads", id)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		t.Errorf("job %s: the upload folder still holds %d files", id, len(ents))
	}
}

// checkHumanMessage checks that a failure message is written for a person:
// advice in full sentences, capital first and full stop last, then at most
// the reader's own words in closing brackets, and nothing of a Go error
// dump anywhere.
func checkHumanMessage(t *testing.T, id, msg string) {
	t.Helper()
	advice := strings.TrimSpace(cutDetail(msg))
	switch {
	case len(msg) < 20 || len(msg) > 600:
		t.Errorf("job %s: message of %d characters: %q", id, len(msg), msg)
	case advice == "" || advice[0] < 'A' || advice[0] > 'Z':
		t.Errorf("job %s: message does not start with a capital: %q", id, msg)
	case !strings.HasSuffix(advice, "."):
		t.Errorf("job %s: the advice is not a full sentence: %q", id, advice)
	case len(strings.Fields(advice)) < 6:
		t.Errorf("job %s: the advice is too short to act on: %q", id, advice)
	case strings.ContainsAny(msg, "\n\t"):
		t.Errorf("job %s: message spans lines: %q", id, msg)
	}
	for _, dump := range []string{"%!", "&{", "<nil>", "goroutine ", "panic", "0xc0", ".go:", "errors.", "*fs.", "[]uint"} {
		if strings.Contains(msg, dump) {
			t.Errorf("job %s: message looks like a Go error dump (%q): %q", id, dump, msg)
		}
	}
}

// cutDetail drops a closing bracketed part (brackets may nest) from msg.
func cutDetail(msg string) string {
	if !strings.HasSuffix(msg, ")") {
		return msg
	}
	depth := 0
	for i := len(msg) - 1; i >= 0; i-- {
		switch msg[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return msg[:i]
			}
		}
	}
	return msg
}

// --- the built binary, for crash tests ---

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	binDir    string
)

// TestMain removes the folder of the binary the crash tests build.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// irisBinary builds this command once per test run, as `make build` does.
func irisBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is needed to build iris for the crash tests: %w", err)
			return
		}
		if binDir, buildErr = os.MkdirTemp("", "iris-test-bin-"); buildErr != nil {
			return
		}
		builtBin = filepath.Join(binDir, "iris")
		cmd := exec.Command(gobin, "build", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is `iris serve` running as its own process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	logPath string
	exited  chan struct{}
	state   *os.ProcessState
}

// startProc starts the binary on data and waits until it listens.
func startProc(t *testing.T, bin, data string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(data), fmt.Sprintf("serve-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"serve", "--data", data}, append(slices.Clone(testFlags), args...)...)
	cmd := exec.Command(bin, argv...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close() // the child has its own copy
	p := &proc{t: t, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := runningRe.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("log of pid %d:\n%s", cmd.Process.Pid, tail(p.log(), 6000))
		}
	})
	select {
	case p.base = <-urls:
	case <-p.exited:
		t.Fatalf("iris serve exited at start (%v):\n%s", p.state, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("iris serve printed no URL in 30 s:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) client() *client { return newClient(p.t, p.base) }

// kill9 kills the process as a crash or power cut would (the file system
// survives): no deferred function, no drain.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("the process survived SIGKILL for 10 s")
	}
}

// observer reads the queues in the server's SQLite file from this
// process, to time the crashes.
type observer struct {
	t  testing.TB
	db *local.DB
}

func observe(t testing.TB, data string) *observer {
	t.Helper()
	db, err := local.Open(filepath.Join(data, "iris.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &observer{t: t, db: db}
}

// queues are every queue `iris serve` keeps.
var queues = []string{"jobs", "segment", "mesh", "ingest-groups", "ingest-large",
	local.BusQueuePrefix + events.TargetIngest, local.BusQueuePrefix + events.TargetMesher, local.BusQueuePrefix + events.TargetStatus}

// stats counts a queue's messages; an error (the file busy) reads as none.
func (o *observer) stats(queue string) local.Stats {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := o.db.Queue(queue).Stats(ctx)
	if err != nil {
		o.t.Logf("stats of %s: %v", queue, err)
	}
	return s
}

// exists reports whether the bucket holds key.
func exists(data, key string) bool {
	_, err := os.Stat(filepath.Join(data, "bucket", filepath.FromSlash(key)))
	return err == nil
}

// waitFor polls cond every 5 ms until it holds; false after timeout.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// errMissed reports a crash moment that passed before it could be hit.
var errMissed = errors.New("the moment passed before it was seen")

// checkLabelMapDone checks a job whose upload was TotalSegmentator's label
// map of the example CT: done without a segmentation, with the organ names
// of its label table (TotalSegmentator's), and a manifest that says so.
func checkLabelMapDone(t *testing.T, data string, v api.JobView, file string) {
	t.Helper()
	if v.Status != job.Done || v.Error != nil {
		t.Fatalf("job %s: status %s, error %+v; want done", v.ID, v.Status, v.Error)
	}
	if v.Input == nil || v.Input.Kind != events.KindLabelMap || v.Input.File != file || v.Input.Labels != 41 || v.Input.Dims != [3]int{122, 101, 30} {
		t.Errorf("job %s: input %+v; want a label map of 41 labels from %s", v.ID, v.Input, file)
	}
	if _, ok := v.Stages[job.Segmenting]; ok || v.Engine != pipeline.NoEngine {
		t.Errorf("job %s: stages %v, engine %q; want no segmentation", v.ID, v.Stages, v.Engine)
	}
	names := map[int]string{}
	for _, o := range v.Organs {
		names[o.Label] = o.DisplayName + "|" + o.Name
	}
	if len(v.Organs) != 41 {
		t.Errorf("job %s: %d organs, want 41", v.ID, len(v.Organs))
	}
	for label, want := range map[int]string{1: "Spleen|spleen", 5: "Liver|liver", 2: "Right kidney|kidney_right", 52: "Aorta|aorta"} {
		if names[label] != want {
			t.Errorf("job %s: label %d is %q, want %q", v.ID, label, names[label], want)
		}
	}
	for _, a := range v.Artifacts {
		if a.Name == events.VolumeFile {
			t.Errorf("job %s: a CT volume is offered for a label map", v.ID)
		}
	}
	results := filepath.Join(data, "bucket", filepath.FromSlash(events.ResultsPrefix(v.ID)))
	manBytes, err := os.ReadFile(filepath.Join(results, export.ManifestFile))
	if err != nil {
		t.Fatalf("job %s: %v", v.ID, err)
	}
	var man export.Manifest
	if err := json.Unmarshal(manBytes, &man); err != nil {
		t.Fatalf("job %s: manifest: %v", v.ID, err)
	}
	if man.Source.Segmentation != export.NoSegmentation || len(man.Organs) != 41 {
		t.Errorf("job %s: manifest source %+v, %d organs", v.ID, man.Source, len(man.Organs))
	}
	checkNoUpload(t, data, v.ID)
}

// checkPrintExport asks a done job for a print export of three organs,
// largest pieces only, through the API, follows it to done, and checks
// the print pack it downloads and that the job's first set is unchanged.
func checkPrintExport(t *testing.T, c *client, data, id string) {
	t.Helper()
	manifest := filepath.Join(data, "bucket", filepath.FromSlash(events.ManifestKey(id)))
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"smooth":0.4,"maxTriangles":30000,"largestPieceOnly":true,"minPieceMl":0,"labels":[5,1,11]}`)
	code, resp := c.do("POST", "/api/jobs/"+id+"/exports", "application/json", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST exports: %d %s", code, resp)
	}
	var queued api.ExportView
	if err := json.Unmarshal(resp, &queued); err != nil || queued.Status != api.ExportQueued {
		t.Fatalf("POST exports answered %s (%v)", resp, err)
	}
	if code, resp := c.do("POST", "/api/jobs/"+id+"/exports", "application/json", []byte(`{"smooth":2}`)); code != http.StatusBadRequest || !strings.Contains(string(resp), "smooth") {
		t.Errorf("smooth 2: %d %s", code, resp)
	}
	var v api.ExportView
	if !waitFor(jobTimeout, func() bool {
		_, resp := c.do("GET", "/api/jobs/"+id+"/exports", "", nil)
		var l api.ExportList
		if json.Unmarshal(resp, &l) != nil || len(l.Exports) != 1 {
			return false
		}
		v = l.Exports[0]
		return v.Status != api.ExportQueued
	}) {
		t.Fatalf("export not finished after %v: %+v", jobTimeout, v)
	}
	if v.Status != api.ExportDone || v.PrintPack == nil || v.ID != queued.ID {
		t.Fatalf("export %+v", v)
	}
	code, pack := c.do("GET", v.PrintPack.URL, "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET print pack: %d", code)
	}
	zr, err := zip.NewReader(bytes.NewReader(pack), int64(len(pack)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if want := []string{"Spleen.stl", "Liver.stl", "Left lung lower lobe.stl", "README.txt"}; !slices.Equal(names, want) {
		t.Errorf("print pack holds %q, want %q", names, want)
	}
	for _, o := range v.Organs {
		if !o.Watertight || o.Triangles == 0 {
			t.Errorf("organ %+v", o)
		}
	}
	if after, _ := os.ReadFile(manifest); !bytes.Equal(before, after) {
		t.Error("the job's manifest changed with the export")
	}
}
