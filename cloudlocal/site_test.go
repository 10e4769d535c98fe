package cloudlocal

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// siteTemplate is the site's part of the template, in the shape the CDK
// emits (infra/web.go, infra/api.go, infra/storage.go).
const siteTemplate = `{"Resources":{
 "Data":{"Type":"AWS::S3::Bucket","Properties":{"CorsConfiguration":{"CorsRules":[{"AllowedHeaders":["*"],"AllowedMethods":["GET","HEAD","PUT","POST"],
   "AllowedOrigins":[{"Fn::Join":["",["https://",{"Fn::GetAtt":["Dist","DomainName"]}]]}],"ExposedHeaders":["ETag"],"MaxAge":3600}]}}},
 "Site":{"Type":"AWS::S3::Bucket"},
 "Users":{"Type":"AWS::Cognito::UserPool"},
 "UsersWeb":{"Type":"AWS::Cognito::UserPoolClient"},
 "UsersLogin":{"Type":"AWS::Cognito::UserPoolDomain"},
 "Dist":{"Type":"AWS::CloudFront::Distribution","Properties":{"DistributionConfig":{
   "CustomErrorResponses":[{"ErrorCode":403,"ResponseCode":200,"ResponsePagePath":"/index.html"},{"ErrorCode":404,"ResponseCode":200,"ResponsePagePath":"/index.html"}],
   "DefaultCacheBehavior":{"ResponseHeadersPolicyId":"67f7725c-6f97-4210-82d7-5512b31e9d03"},"DefaultRootObject":"index.html",
   "Origins":[{"DomainName":{"Fn::GetAtt":["Site","RegionalDomainName"]},"Id":"o1","S3OriginConfig":{"OriginAccessIdentity":""}}]}}},
 "Content":{"Type":"Custom::CDKBucketDeployment","Properties":{"SourceObjectKeys":["aaa.zip","bbb.zip"],
   "SourceMarkers":[{},{"<<marker:0xbaba:0>>":{"Fn::GetAtt":["Api","ApiEndpoint"]}}],"SourceMarkersConfig":[{},{"jsonEscape":true}],
   "DestinationBucketName":{"Ref":"Site"}}}
}}`

func TestSiteModel(t *testing.T) {
	tpl, err := ParseTemplate([]byte(siteTemplate))
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{}
	for _, id := range tpl.of("AWS::S3::Bucket") {
		m.Buckets = append(m.Buckets, BucketSpec{ID: id, CORS: corsRules(tpl.Resources[id].Properties)})
	}
	if err := tpl.site(m); err != nil {
		t.Fatal(err)
	}
	s := m.Site
	if s == nil || s.Distribution != "Dist" || s.Bucket != "Site" || s.RootObject != "index.html" || !s.SecurityHeaders ||
		s.Errors[403] != (ErrorPage{"/index.html", 200}) || s.Errors[404] != (ErrorPage{"/index.html", 200}) {
		t.Fatalf("site %+v", s)
	}
	if len(s.Deployments) != 1 || s.Deployments[0].Bucket != "Site" || len(s.Deployments[0].Sources) != 2 {
		t.Fatalf("deployments %+v", s.Deployments)
	}
	if src := s.Deployments[0].Sources[1]; src.Asset != "bbb" || !src.JSONEscape || src.Markers["<<marker:0xbaba:0>>"] == nil {
		t.Errorf("config.json's source %+v", src)
	}
	if src := s.Deployments[0].Sources[0]; src.Asset != "aaa" || src.JSONEscape || len(src.Markers) != 0 {
		t.Errorf("the app's source %+v", src)
	}
	if m.Identity != (IdentitySpec{Pool: "Users", Client: "UsersWeb", Domain: "UsersLogin"}) {
		t.Errorf("identity %+v", m.Identity)
	}
	if len(m.Buckets[0].CORS) != 1 || m.Buckets[0].CORS[0].MaxAge != 3600 || len(m.Buckets[1].CORS) != 0 {
		t.Errorf("bucket CORS %+v", m.Buckets)
	}
}

func TestToLocal(t *testing.T) {
	c := &Cloud{oidc: OIDC{Issuer: "http://127.0.0.1:9400", EndSession: "http://127.0.0.1:9400/session/end"}}
	for _, tc := range []struct{ in, want, err string }{
		{"https://iris-local.auth.us-east-1.amazoncognito.com/logout", "http://127.0.0.1:9400/session/end", ""},
		{"https://127.0.0.1:8091/", "https://127.0.0.1:8091/", ""},
		{"https://iris-local.auth.us-east-1.amazoncognito.com/oauth2/authorize", "", "no local stand-in"},
	} {
		got, err := c.toLocal(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("toLocal(%s) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// fakeS3 is gofakes3 (with its allow-all CORS) and a client of it.
func fakeS3(t *testing.T, buckets ...string) (http.Handler, *s3.Client) {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	h := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, s3.New(s3.Options{Region: Region, BaseEndpoint: awssdk.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

func TestBucketCORS(t *testing.T) {
	const site = "https://127.0.0.1:8091"
	h, client := fakeS3(t, "data", "logs")
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: awssdk.String("data"), Key: awssdk.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	b := &bucketCORS{next: h, rules: map[string][]corsRule{"data": {{
		CORSRule: CORSRule{AllowedMethods: []string{"GET", "HEAD", "PUT", "POST"}, AllowedHeaders: []string{"*"}, ExposedHeaders: []string{"ETag"}, MaxAge: 3600},
		origins:  []string{site},
	}}}}
	for _, tc := range []struct {
		name, method, path, origin, ask, askHeaders string
		status                                      int
		allow                                       string // Access-Control-Allow-Origin wanted
	}{
		{"preflight of a PUT from the site", "OPTIONS", "/data/uploads/a", site, "PUT", "content-type, if-none-match", 200, site},
		{"preflight from another origin", "OPTIONS", "/data/uploads/a", "https://evil.example", "PUT", "content-type", 403, ""},
		{"preflight of a DELETE", "OPTIONS", "/data/k", site, "DELETE", "", 403, ""},
		{"preflight to a bucket without CORS", "OPTIONS", "/logs/k", site, "GET", "", 403, ""},
		{"GET from the site", "GET", "/data/k", site, "", "", 200, site},
		{"GET from another origin", "GET", "/data/k", "https://evil.example", "", "", 200, ""},
		{"GET from a bucket without CORS", "GET", "/logs/none", site, "", "", 404, ""},
		{"GET without an origin", "GET", "/data/k", "", "", "", 200, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.ask != "" {
			req.Header.Set("Access-Control-Request-Method", tc.ask)
		}
		if tc.askHeaders != "" {
			req.Header.Set("Access-Control-Request-Headers", tc.askHeaders)
		}
		w := httptest.NewRecorder()
		b.ServeHTTP(w, req)
		res := w.Result()
		if res.StatusCode != tc.status || res.Header.Get("Access-Control-Allow-Origin") != tc.allow {
			t.Errorf("%s: %d, allow-origin %q; want %d, %q", tc.name, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), tc.status, tc.allow)
		}
		if tc.allow != "" && tc.ask == "" && res.Header.Get("Access-Control-Expose-Headers") != "ETag" {
			t.Errorf("%s: exposes %q, want ETag", tc.name, res.Header.Get("Access-Control-Expose-Headers"))
		}
		if tc.ask == "PUT" && tc.status == 200 && !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "if-none-match") {
			t.Errorf("%s: allows headers %q", tc.name, res.Header.Get("Access-Control-Allow-Headers"))
		}
	}
}

func TestDistribution(t *testing.T) {
	_, client := fakeS3(t, "site")
	for key, body := range map[string]string{"index.html": "<!doctype html>app", "assets/app.js": "console.log(1)", "config.json": `{"apiUrl":"http://x"}`} {
		ct := map[string]string{".html": "text/html", ".js": "text/javascript", "json": "application/json"}[key[strings.LastIndex(key, "."):]]
		in := &s3.PutObjectInput{Bucket: awssdk.String("site"), Key: awssdk.String(key), Body: strings.NewReader(body)}
		if ct != "" {
			in.ContentType = &ct
		}
		if _, err := client.PutObject(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	d := &distribution{bucket: "site", s3: client, spec: &SiteSpec{RootObject: "index.html", SecurityHeaders: true,
		Errors: map[int]ErrorPage{403: {"/index.html", 200}, 404: {"/index.html", 200}}}}
	for _, tc := range []struct {
		method, path string
		status       int
		body, ct     string
	}{
		{"GET", "/", 200, "<!doctype html>app", "text/html"},
		{"GET", "/assets/app.js", 200, "console.log(1)", "text/javascript"},
		{"GET", "/jobs/abc", 200, "<!doctype html>app", "text/html"},
		{"GET", "/config.json", 200, `{"apiUrl":"http://x"}`, ""},
		{"HEAD", "/", 200, "", "text/html"},
		{"POST", "/", 403, "", ""},
	} {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		res := w.Result()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != tc.status || (tc.status == 200 && !bytes.Equal(body, []byte(tc.body))) || (tc.ct != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), tc.ct)) {
			t.Errorf("%s %s: %d %q %q; want %d %q %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Content-Type"), body, tc.status, tc.ct, tc.body)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("%s %s: no security headers", tc.method, tc.path)
		}
	}
}
