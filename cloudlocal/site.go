package cloudlocal

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SiteSpec is the web app as the stack serves it: a CloudFront
// distribution in front of a bucket, and the bucket deployments that fill
// the bucket (the built app, and config.json with the deployment's
// addresses written into it by markers).
type SiteSpec struct {
	Distribution string // logical id
	Bucket       string // the origin bucket's logical id
	RootObject   string
	// Errors maps an origin's status to the page answered instead
	// (CustomErrorResponses: 403 and 404 answer /index.html with 200).
	Errors map[int]ErrorPage
	// SecurityHeaders: the behaviour has the managed SecurityHeadersPolicy.
	SecurityHeaders bool
	Deployments     []DeploymentSpec
}

// ErrorPage is a distribution's custom error response.
type ErrorPage struct {
	Path   string
	Status int
}

// DeploymentSpec is a Custom::CDKBucketDeployment: assets copied into a
// bucket.
type DeploymentSpec struct {
	ID      string
	Bucket  string // the destination bucket's logical id
	Sources []SourceSpec
}

// SourceSpec is one source of a bucket deployment: a staged asset of the
// cloud assembly (cdk.out/asset.HASH, a folder or a zip), and the markers
// the deployment replaces in its files with the values of template
// expressions (how Source.jsonData carries tokens such as the API's URL).
type SourceSpec struct {
	Asset      string
	Markers    map[string]any
	JSONEscape bool
}

// IdentitySpec is the Cognito user pool, its app client and its managed
// login domain. Locally an OpenID Connect provider stands for all three
// (Config.OIDC).
type IdentitySpec struct {
	Pool, Client, Domain string
}

// CORSRule is one rule of a bucket's CORS configuration; AllowedOrigins
// are template values until resolved.
type CORSRule struct {
	AllowedOrigins []any
	AllowedMethods []string
	AllowedHeaders []string
	ExposedHeaders []string
	MaxAge         int
}

// securityHeadersPolicy is the id of CloudFront's managed
// SecurityHeadersPolicy, and securityHeaders what it adds.
const securityHeadersPolicy = "67f7725c-6f97-4210-82d7-5512b31e9d03"

var securityHeaders = map[string]string{
	"Referrer-Policy":           "strict-origin-when-cross-origin",
	"Strict-Transport-Security": "max-age=31536000",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "SAMEORIGIN",
	"X-Xss-Protection":          "1; mode=block",
}

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func corsRules(p map[string]any) []CORSRule {
	cc, _ := p["CorsConfiguration"].(map[string]any)
	var out []CORSRule
	for _, r := range list(cc["CorsRules"]) {
		rm, _ := r.(map[string]any)
		if rm == nil {
			continue
		}
		out = append(out, CORSRule{AllowedOrigins: list(rm["AllowedOrigins"]), AllowedMethods: strs(rm["AllowedMethods"]),
			AllowedHeaders: strs(rm["AllowedHeaders"]), ExposedHeaders: strs(rm["ExposedHeaders"]), MaxAge: int(num(rm["MaxAge"]))})
	}
	return out
}

// site reads the distribution, the bucket deployments and the user pool.
func (t *Template) site(m *Model) error {
	one := func(typ string) (string, error) {
		ids := t.of(typ)
		if len(ids) > 1 {
			return "", fmt.Errorf("template: %d resources of type %s, want at most 1", len(ids), typ)
		}
		if len(ids) == 0 {
			return "", nil
		}
		return ids[0], nil
	}
	var err error
	for _, x := range []struct {
		typ string
		id  *string
	}{{"AWS::Cognito::UserPool", &m.Identity.Pool}, {"AWS::Cognito::UserPoolClient", &m.Identity.Client}, {"AWS::Cognito::UserPoolDomain", &m.Identity.Domain}} {
		if *x.id, err = one(x.typ); err != nil {
			return err
		}
	}
	dist, err := one("AWS::CloudFront::Distribution")
	if err != nil || dist == "" {
		return err
	}
	dc, _ := t.Resources[dist].Properties["DistributionConfig"].(map[string]any)
	s := &SiteSpec{Distribution: dist, Errors: map[int]ErrorPage{}}
	s.RootObject, _ = dc["DefaultRootObject"].(string)
	origins := list(dc["Origins"])
	if len(origins) != 1 {
		return fmt.Errorf("template: distribution %s has %d origins, want 1 (the site bucket)", dist, len(origins))
	}
	o, _ := origins[0].(map[string]any)
	if g, ok := o["DomainName"].(map[string]any)["Fn::GetAtt"].([]any); ok && len(g) == 2 {
		s.Bucket, _ = g[0].(string)
	}
	if _, ok := o["S3OriginConfig"]; !ok || t.Resources[s.Bucket].Type != "AWS::S3::Bucket" {
		return fmt.Errorf("template: distribution %s's origin is not a bucket of the stack", dist)
	}
	for _, e := range list(dc["CustomErrorResponses"]) {
		em, _ := e.(map[string]any)
		page, _ := em["ResponsePagePath"].(string)
		s.Errors[int(num(em["ErrorCode"]))] = ErrorPage{Path: page, Status: int(num(em["ResponseCode"]))}
	}
	if b, ok := dc["DefaultCacheBehavior"].(map[string]any); ok {
		s.SecurityHeaders = b["ResponseHeadersPolicyId"] == securityHeadersPolicy
	}
	for _, id := range t.of("Custom::CDKBucketDeployment") {
		p := t.Resources[id].Properties
		d := DeploymentSpec{ID: id, Bucket: refID(p["DestinationBucketName"])}
		markers, cfgs := list(p["SourceMarkers"]), list(p["SourceMarkersConfig"])
		for i, k := range strs(p["SourceObjectKeys"]) {
			src := SourceSpec{Asset: strings.TrimSuffix(k, ".zip")}
			if i < len(markers) {
				src.Markers, _ = markers[i].(map[string]any)
			}
			if i < len(cfgs) {
				c, _ := cfgs[i].(map[string]any)
				src.JSONEscape = c["jsonEscape"] == true
			}
			d.Sources = append(d.Sources, src)
		}
		s.Deployments = append(s.Deployments, d)
	}
	m.Site = s
	return nil
}

// Cognito's managed login: the Ref of a user pool domain is its prefix,
// and the domain https://PREFIX.auth.REGION.amazoncognito.com.
const localLoginDomain = "iris-local"

var managedLogin = "https://" + localLoginDomain + ".auth." + Region + ".amazoncognito.com"

// toLocal maps a resolved URL of an AWS service the site names to where
// it runs here: Cognito's managed-login /logout is the OIDC provider's
// end-session endpoint.
func (c *Cloud) toLocal(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, managedLogin)
	if !ok {
		return v, nil
	}
	if rest != "/logout" {
		return "", fmt.Errorf("%s: no local stand-in for Cognito's managed login path %q", v, rest)
	}
	if c.oidc.EndSession == "" {
		return "", fmt.Errorf("the OIDC provider %s names no end_session_endpoint, which stands for Cognito's /logout", c.oidc.Issuer)
	}
	return c.oidc.EndSession, nil
}

// discoverEndSession reads the provider's end_session_endpoint.
func discoverEndSession(ctx context.Context, issuer string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("OIDC discovery of %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OIDC discovery of %s: %s", issuer, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return "", fmt.Errorf("OIDC discovery of %s: %w", issuer, err)
	}
	return d.EndSession, nil
}

// listenSite opens the site's listener, so that its address (the
// distribution's domain name) is known before anything is resolved.
func (c *Cloud) listenSite(cfg Config) error {
	if c.Model.Site == nil {
		return fmt.Errorf("Config.Assembly is set, but the template has no CloudFront distribution")
	}
	if len(c.Model.Site.Deployments) == 0 {
		return fmt.Errorf("the template deploys no web app to its site bucket: synthesize with the web app built (SynthWithSite, or make synth after the web build)")
	}
	if cfg.OIDC.Issuer == "" || cfg.OIDC.ClientID == "" {
		return fmt.Errorf("the site's config.json names the sign-in provider: Config.OIDC needs Issuer and ClientID")
	}
	addr := cfg.SiteAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	c.siteLn = ln
	c.siteHost = ln.Addr().String()
	c.SiteURL = "https://" + c.siteHost
	return nil
}

// deploySite does what the stack's bucket deployments do (each asset's
// files copied into the destination bucket, the markers replaced with
// the values they stand for, resolved to the local deployment), then
// serves the distribution over HTTPS.
func (c *Cloud) deploySite(ctx context.Context, cfg Config, look Lookup) error {
	if cfg.OIDC.EndSession == "" {
		es, err := discoverEndSession(ctx, cfg.OIDC.Issuer)
		if err != nil {
			return err
		}
		c.oidc.EndSession = es
	}
	files := 0
	for _, d := range c.Model.Site.Deployments {
		bucket, err := look(d.Bucket, "")
		if err != nil {
			return fmt.Errorf("deployment %s: %w", d.ID, err)
		}
		for _, src := range d.Sources {
			repl := make([]string, 0, 2*len(src.Markers))
			for marker, expr := range src.Markers {
				v, err := Resolve(expr, look)
				if err == nil {
					v, err = c.toLocal(v)
				}
				if err != nil {
					return fmt.Errorf("deployment %s: marker %s: %w", d.ID, marker, err)
				}
				if src.JSONEscape {
					b, _ := json.Marshal(v)
					v = string(b[1 : len(b)-1])
				}
				repl = append(repl, marker, v)
			}
			r := strings.NewReplacer(repl...)
			err := readAsset(filepath.Join(cfg.Assembly, "asset."+src.Asset), func(name string, data []byte) error {
				if len(repl) > 0 {
					data = []byte(r.Replace(string(data)))
				}
				files++
				in := &s3.PutObjectInput{Bucket: &bucket, Key: &name, Body: bytes.NewReader(data)}
				if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
					in.ContentType = &ct
				}
				if _, err := c.S3.PutObject(ctx, in); err != nil {
					return fmt.Errorf("deployment %s: put %s: %w", d.ID, name, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	bucket, err := look(c.Model.Site.Bucket, "")
	if err != nil {
		return err
	}
	cfg.Log.Info("site deployed", "files", files, "bucket", bucket, "url", c.SiteURL)
	srv := &httptest.Server{Listener: c.siteLn, Config: &http.Server{Handler: &distribution{spec: c.Model.Site, bucket: bucket, s3: c.S3},
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}}
	srv.StartTLS()
	c.siteCert = srv.Certificate()
	c.closers = append(c.closers, srv.Close)
	return nil
}

// readAsset calls put with each file of a staged asset: a folder, or a
// zip beside it.
func readAsset(dir string, put func(name string, data []byte) error) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			return put(filepath.ToSlash(rel), b)
		})
	}
	zr, err := zip.OpenReader(dir + ".zip")
	if err != nil {
		return fmt.Errorf("asset %s: neither a folder nor a zip in the cloud assembly: %w", filepath.Base(dir), err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := put(f.Name, b); err != nil {
			return err
		}
	}
	return nil
}

// distribution is CloudFront in front of the site bucket, as the
// template configures it: GET and HEAD, the default root object, the
// custom error responses (the origin answers 403 for a missing key, as S3
// does to an origin access control without s3:ListBucket), and the
// managed security headers. Caching and compression are left out.
type distribution struct {
	spec   *SiteSpec
	bucket string
	s3     *s3.Client
}

func (d *distribution) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.spec.SecurityHeaders {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "This distribution is not configured to allow the HTTP request method that was used for this request.", http.StatusForbidden)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	if key == "" {
		key = d.spec.RootObject
	}
	status, err := d.serve(w, r, key, http.StatusOK)
	if err == nil {
		return
	}
	if page, ok := d.spec.Errors[status]; ok {
		if _, err := d.serve(w, r, strings.TrimPrefix(page.Path, "/"), page.Status); err == nil {
			return
		}
	}
	http.Error(w, http.StatusText(status), status)
}

// serve writes the object at key with status; on failure it writes
// nothing and returns the origin's status.
func (d *distribution) serve(w http.ResponseWriter, r *http.Request, key string, status int) (int, error) {
	if key == "" {
		return http.StatusForbidden, errors.New("no key")
	}
	out, err := d.s3.GetObject(r.Context(), &s3.GetObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		return http.StatusForbidden, err
	}
	defer out.Body.Close()
	h := w.Header()
	if ct := awssdk.ToString(out.ContentType); ct != "" {
		h.Set("Content-Type", ct)
	}
	if et := awssdk.ToString(out.ETag); et != "" {
		h.Set("ETag", et)
	}
	if out.ContentLength != nil {
		h.Set("Content-Length", fmt.Sprint(*out.ContentLength))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.Copy(w, out.Body)
	}
	return status, nil
}

// CertificatePins are the SHA-256 hashes (base64) of the public keys of
// the emulators' self-signed certificates (S3 and the site), the form
// Chromium's --ignore-certificate-errors-spki-list takes.
func (c *Cloud) CertificatePins() []string {
	var out []string
	for _, cert := range []*x509.Certificate{c.s3Cert, c.siteCert} {
		if cert == nil {
			continue
		}
		sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		if p := base64.StdEncoding.EncodeToString(sum[:]); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
