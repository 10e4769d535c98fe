package cloudlocal_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/cloudlocal"
	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// webOrigin is where the provider's client redirects; nothing listens
// there: the sign-in stops at the redirect and reads the code.
const webOrigin = "http://127.0.0.1:9"

// startProvider runs the real OpenID Connect provider of the web app's
// tests (web/e2e/oidc-provider.mjs, npm oidc-provider) with the client
// iris-web and the users alice and bob, and returns its issuer.
func startProvider(t *testing.T) string {
	t.Helper()
	return startProviderFor(t, webOrigin)
}

// startProviderFor is startProvider with the client iris-web's redirects
// going to the web app at origin.
func startProviderFor(t *testing.T, origin string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20.19+ (the test runs the OIDC provider web/e2e/oidc-provider.mjs)")
	}
	web, _ := filepath.Abs(filepath.Join(root, "web"))
	if _, err := os.Stat(filepath.Join(web, "node_modules", "oidc-provider")); err != nil {
		t.Fatal("web/node_modules/oidc-provider not found: run `cd web && npm ci`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "e2e/oidc-provider.mjs", "--port", "0", "--client", "iris-web="+origin,
		"--user", "alice:alice-pw:sub-alice", "--user", "bob:bob-pw:sub-bob", "--access-ttl", "3600", "--audience", "iris-api")
	cmd.Dir = web
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "{") {
				line <- s.Text()
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		var v struct{ Issuer string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Issuer == "" {
			t.Fatalf("oidc-provider said %q", l)
		}
		return v.Issuer
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start within 30 s")
	}
	return ""
}

// signIn signs user in as the web app does (authorization code with
// PKCE through the provider's login form) and returns the access token.
func signIn(t *testing.T, issuer, user, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	redirect := webOrigin + "/auth/callback"
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {"iris-web"}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile email"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "state": {"s1"}}
	res, err := hc.Get(issuer + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %d %.300s", res.StatusCode, page)
	}
	res, err = hc.PostForm(issuer+string(m[1]), url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code after sign-in: %d %s", res.StatusCode, loc)
	}
	res, err = hc.PostForm(issuer+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {"iris-web"}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token exchange: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

// call makes a request to the deployment's HTTP API with a bearer token.
func call(t *testing.T, c *cloudlocal.Cloud, token, method, path string, body []byte, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, c.APIURL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %.200s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// signedInFlow is scenario 1 over HTTP with real tokens: alice signs in,
// creates a job, uploads the CT through the presigned URL, watches it
// reach done and downloads the GLB; bob sees none of it.
func signedInFlow(t *testing.T, c *cloudlocal.Cloud, issuer string, ct []byte) {
	alice := signIn(t, issuer, "alice", "alice-pw")
	bob := signIn(t, issuer, "bob", "bob-pw")
	t0 := time.Now()
	var cr struct {
		Job    api.JobView  `json:"job"`
		Upload ports.Upload `json:"upload"`
	}
	body, _ := json.Marshal(map[string]any{"filename": "ct_3mm.nii.gz", "bytes": len(ct)})
	if code := call(t, c, alice, http.MethodPost, "/api/jobs", body, &cr); code != http.StatusCreated {
		t.Fatalf("POST /api/jobs: %d", code)
	}
	req, _ := http.NewRequest(cr.Upload.Method, cr.Upload.URL, bytes.NewReader(ct))
	for k, v := range cr.Upload.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s3Client(t, c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	id := cr.Job.ID
	var v api.JobView
	if !waitFor(jobTimeout, func() bool {
		return call(t, c, alice, http.MethodGet, "/api/jobs/"+id, nil, &v) == http.StatusOK && v.Status.Terminal()
	}) {
		t.Fatalf("job %s not finished: %s", id, v.Status)
	}
	if v.Status != job.Done {
		t.Fatalf("job %s: %s %+v", id, v.Status, v.Error)
	}
	var glb *api.ArtifactView
	for i, a := range v.Artifacts {
		if strings.HasSuffix(a.Name, ".glb") {
			glb = &v.Artifacts[i]
		}
	}
	if glb == nil {
		t.Fatalf("no GLB among %+v", v.Artifacts)
	}
	resp, err = s3Client(t, c).Get(glb.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || int64(len(b)) != glb.Bytes || !bytes.HasPrefix(b, []byte("glTF")) {
		t.Errorf("GLB download: %d, %d bytes (listed %d), starts %q", resp.StatusCode, len(b), glb.Bytes, b[:min(4, len(b))])
	}
	t.Logf("figure: signed-in upload of the 3 mm CT → done %.1f s, %d organs, GLB %d bytes", time.Since(t0).Seconds(), len(v.Organs), len(b))

	// A print export through the API function and the mesh queue.
	t1 := time.Now()
	exp := []byte(`{"smooth":0.5,"maxTriangles":20000,"largestPieceOnly":true,"minPieceMl":0,"labels":[]}`)
	if code := call(t, c, bob, http.MethodPost, "/api/jobs/"+id+"/exports", exp, nil); code != http.StatusNotFound {
		t.Errorf("bob exports alice's job: %d, want 404", code)
	}
	if code := call(t, c, alice, http.MethodPost, "/api/jobs/"+id+"/exports", exp, nil); code != http.StatusAccepted {
		t.Fatalf("POST exports: %d", code)
	}
	var el api.ExportList
	if !waitFor(jobTimeout, func() bool {
		return call(t, c, alice, http.MethodGet, "/api/jobs/"+id+"/exports", nil, &el) == http.StatusOK &&
			len(el.Exports) == 1 && el.Exports[0].Status != api.ExportQueued
	}) {
		t.Fatalf("export not finished: %+v", el)
	}
	e := el.Exports[0]
	if e.Status != api.ExportDone || e.PrintPack == nil || len(e.Organs) != len(v.Organs) {
		t.Fatalf("export %s %+v, %d organs of %d", e.Status, e.Error, len(e.Organs), len(v.Organs))
	}
	resp, err = s3Client(t, c).Get(e.PrintPack.URL)
	if err != nil {
		t.Fatal(err)
	}
	pack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(pack), int64(len(pack)))
	if err != nil || len(zr.File) != len(v.Organs)+1 {
		t.Fatalf("print pack: %v, %d bytes", err, len(pack))
	}
	for _, o := range e.Organs {
		if !o.Watertight || o.Triangles == 0 {
			t.Errorf("print pack organ %+v", o)
		}
	}
	t.Logf("figure: print export through the mesh queue → done %.1f s, %d STL files, %d bytes", time.Since(t1).Seconds(), len(e.Organs), len(pack))

	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if code := call(t, c, bob, m, "/api/jobs/"+id, nil, nil); code != http.StatusNotFound {
			t.Errorf("bob %s alice's job: %d, want 404", m, code)
		}
	}
	var list struct {
		Jobs []api.JobView `json:"jobs"`
	}
	if code := call(t, c, bob, http.MethodGet, "/api/jobs", nil, &list); code != http.StatusOK {
		t.Errorf("bob's list: %d", code)
	}
	for _, j := range list.Jobs {
		if j.ID == id {
			t.Errorf("bob's list holds alice's job")
		}
	}
	if code := call(t, c, alice, http.MethodGet, "/api/jobs/"+id, nil, nil); code != http.StatusOK {
		t.Errorf("alice's job after bob's tries: %d", code)
	}
}

// submitFlow runs `iris submit --wait` (the binary built beside the
// functions) against the emulated deployment, with a real sign-in token
// in IRIS_TOKEN as a script would give it, and checks what it reports and
// downloads: the same client code that `iris serve`'s tests use.
func submitFlow(t *testing.T, c *cloudlocal.Cloud, bin, issuer string, ct []byte) {
	dir := t.TempDir()
	scan := filepath.Join(dir, "ct_3mm.nii.gz")
	if err := os.WriteFile(scan, ct, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(filepath.Join(bin, "iris"), "submit", scan, "--server", c.APIURL, "--wait",
		"-o", out, "--formats", "manifest,glb,labels", "--json")
	// The signed URLs point at the S3 emulator, whose certificate the
	// client must trust; Go reads SSL_CERT_FILE for its roots.
	cmd.Env = append(os.Environ(), "IRIS_TOKEN="+signIn(t, issuer, "alice", "alice-pw"), "SSL_CERT_FILE="+c.CABundle)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("iris submit: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var res struct {
		Job     string   `json:"job"`
		Outputs []string `json:"outputs"`
		Organs  []struct {
			Name string `json:"name"`
		} `json:"organs"`
		Error *struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("iris submit --json printed %q: %v", stdout.String(), err)
	}
	if res.Error != nil || res.Job == "" || len(res.Organs) == 0 || len(res.Outputs) != 3 {
		t.Fatalf("iris submit: %+v", res)
	}
	for _, p := range res.Outputs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			t.Errorf("output %s: %d bytes, %v", p, len(b), err)
		}
		if strings.HasSuffix(p, ".glb") && !bytes.HasPrefix(b, []byte("glTF")) {
			t.Errorf("%s is not a GLB", p)
		}
	}
	t.Logf("figure: iris submit --wait on the deployment: job %s done in %.1f s, %d organs, %d files", res.Job, time.Since(t0).Seconds(), len(res.Organs), len(res.Outputs))
}
