package cloudlocal_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/cloudlocal"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/testdata"
)

// TestCloudLocalBrowser is scenario 1 of issue 10 in a real browser: the
// web app deployed as the stack deploys it (web/dist and the config.json
// of the template's bucket deployment, served by the emulated CloudFront
// distribution over HTTPS), sign-in at a real OpenID Connect provider on
// loopback, and web/e2e/cloud.e2e.mjs driving Debian's Chromium through
// it: alice signs in, uploads the 3 mm CT through the presigned URL the
// API returns, watches the stages reach done, sees the organs, downloads
// the GLB and signs out; bob signs in and sees none of it. No token is
// made here: every one comes from the provider through the browser.
func TestCloudLocalBrowser(t *testing.T) {
	ctx := context.Background()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20.19+ (the browser test is web/e2e/cloud.e2e.mjs)")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("chromium not found at %s: apt-get install chromium (or set CHROMIUM)", chromium)
	}
	web, _ := filepath.Abs(filepath.Join(root, "web"))
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		t.Fatal("web/node_modules/playwright-core not found: run `cd web && npm ci`")
	}
	dist := filepath.Join(web, "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatal("web/dist/index.html not found: build the web app (`make iris`, or `npm run build` in web/)")
	}
	scan := testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz")

	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	t0 := time.Now()
	if err := cloudlocal.Build(ctx, root, bin); err != nil {
		t.Fatal(err)
	}
	// CLOUDLOCAL_ASSEMBLY: a cloud assembly synthesized with the web app
	// (make synth after the web build writes bin/cdk.out), to save the
	// synthesis.
	var tpl []byte
	assembly := os.Getenv("CLOUDLOCAL_ASSEMBLY")
	if assembly != "" {
		tpl, err = os.ReadFile(filepath.Join(assembly, "Iris.template.json"))
	} else {
		tpl, assembly, err = cloudlocal.SynthWithSite(ctx, root, work, dist)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: build + synth with the web app %.1f s", time.Since(t0).Seconds())

	// The site's address comes first: the provider's client redirects
	// there, and the deployment's config.json names the provider.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	siteAddr := ln.Addr().String()
	ln.Close()
	issuer := startProviderFor(t, "https://"+siteAddr)
	c := startDeployment(t, ctx, cloudlocal.Config{
		Template: tpl, Bin: bin, Work: work, Assembly: assembly, SiteAddr: siteAddr,
		OIDC: cloudlocal.OIDC{Issuer: issuer, Audience: []string{"iris-api", "iris-web"}, ClientID: "iris-web"},
	})

	t.Run("the site, its config.json and CORS as the template declares them", func(t *testing.T) {
		siteChecks(t, c, issuer)
	})
	if t.Failed() {
		return
	}

	e2e, cancel := context.WithTimeout(ctx, 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(e2e, node, "e2e/cloud.e2e.mjs")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "SITE_URL="+c.SiteURL, "API_URL="+c.APIURL, "S3_URL="+c.S3URL, "OIDC_ISSUER="+issuer,
		"CERT_PINS="+strings.Join(c.CertificatePins(), ","), "IRIS_SCAN="+scan, "CHROMIUM="+chromium,
		`E2E_USERS=[{"name":"alice","password":"alice-pw","sub":"sub-alice"},{"name":"bob","password":"bob-pw","sub":"sub-bob"}]`,
		"E2E_OUT="+filepath.Join(work, "e2e"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var result struct {
		Job        string  `json:"job"`
		DoneS      float64 `json:"doneSeconds"`
		Organs     int     `json:"organs"`
		GLBBytes   int64   `json:"glbBytes"`
		StagesSeen []string
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(r), &result); err != nil {
				t.Errorf("cloud.e2e.mjs result %q: %v", r, err)
			}
			continue
		}
		t.Log(line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("web/e2e/cloud.e2e.mjs: %v\n%s", err, stderr.String())
	}

	// What the browser did, as the deployment recorded it.
	if result.Job == "" {
		t.Fatal("cloud.e2e.mjs reported no job")
	}
	j, err := iaws.NewDynamoStore(c.Dynamo, c.Table).Get(ctx, result.Job)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != job.Done || j.Owner != "sub-alice" || len(j.Organs) != result.Organs {
		t.Errorf("job %s: %s, owner %q, %d organs; the browser saw %d organs and wants done, owner sub-alice", j.ID, j.Status, j.Owner, len(j.Organs), result.Organs)
	}
	if j.Input == nil || j.Input.File != "ct_3mm.nii.gz" {
		t.Errorf("job input %+v, want the uploaded ct_3mm.nii.gz", j.Input)
	}
	t.Logf("figure: scenario 1 in Chromium: upload → done %.1f s as the page saw it (%s), %d organs, GLB %d bytes",
		result.DoneS, strings.Join(result.StagesSeen, " → "), result.Organs, result.GLBBytes)
}

// siteChecks holds the served site to the template: the app at / and at
// any client-side path (the distribution's error responses), config.json
// with the emulated API and the provider, and CORS on the API and the
// data bucket for the site's origin only.
func siteChecks(t *testing.T, c *cloudlocal.Cloud, issuer string) {
	hc := siteClient(t, c)
	get := func(url string) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	index, err := os.ReadFile(filepath.Join(root, "web", "dist", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/jobs/some-job", "/auth/callback"} {
		resp, body := get(c.SiteURL + p)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, index) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, %d bytes; want web/dist/index.html", p, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("GET %s: no security headers (%v)", p, resp.Header)
		}
	}
	resp, body := get(c.SiteURL + "/config.json")
	var cfg struct {
		APIURL string `json:"apiUrl"`
		OIDC   struct {
			Authority, ClientID, Scope, EndSessionEndpoint string
			LogoutParams                                   map[string]string
		} `json:"oidc"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("config.json: %d %v: %s", resp.StatusCode, err, body)
	}
	t.Logf("config.json as deployed: %s", body)
	if cfg.APIURL != c.APIURL || cfg.OIDC.Authority != issuer || cfg.OIDC.ClientID != "iris-web" || cfg.OIDC.EndSessionEndpoint != issuer+"/session/end" ||
		cfg.OIDC.LogoutParams["client_id"] != "iris-web" || cfg.OIDC.LogoutParams["logout_uri"] != c.SiteURL+"/" || !strings.Contains(cfg.OIDC.Scope, "openid") {
		t.Errorf("config.json: %+v; want the API at %s, the provider %s, client iris-web, sign-out back to %s/", cfg, c.APIURL, issuer, c.SiteURL)
	}

	// CORS: the site's origin may call the API and the data bucket;
	// another origin may not.
	for _, tc := range []struct {
		name, url, method, headers string
	}{
		{"API", c.APIURL + "/api/jobs", http.MethodPost, "authorization,content-type"},
		{"data bucket", c.S3URL + "/" + c.Bucket + "/uploads/x.nii.gz", http.MethodPut, "content-type"},
	} {
		for _, origin := range []string{c.SiteURL, "https://elsewhere.example"} {
			req, _ := http.NewRequest(http.MethodOptions, tc.url, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", tc.method)
			req.Header.Set("Access-Control-Request-Headers", tc.headers)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			allowed := resp.Header.Get("Access-Control-Allow-Origin") == origin && resp.StatusCode/100 == 2 &&
				strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), tc.method)
			if want := origin == c.SiteURL; allowed != want {
				t.Errorf("%s preflight from %s: %d, allow-origin %q, methods %q; want allowed %v", tc.name, origin, resp.StatusCode,
					resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Methods"), want)
			}
		}
	}
}

// siteClient trusts the emulators' self-signed certificate (the S3
// emulator's and the site's are httptest's one).
func siteClient(t *testing.T, c *cloudlocal.Cloud) *http.Client {
	t.Helper()
	return s3Client(t, c)
}
