package infra

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// lambdaDir makes a folder with the five zips (contents do not matter
// to the checks).
func lambdaDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range functionNames {
		if err := placeholderZip(filepath.Join(dir, fn+".zip")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPropsDefaults(t *testing.T) {
	p, err := Props{RepoRoot: "..", LambdaDir: lambdaDir(t)}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if p.InstanceType != DefaultInstanceType || p.MaxInstances != DefaultMaxInstances || p.GPUsPerInstance != 1 ||
		p.MesherMemoryMB != DefaultMesherMemoryMB || p.MesherConcurrency != DefaultMesherConcurrency {
		t.Errorf("defaults %+v", p)
	}
}

func TestPropsErrors(t *testing.T) {
	zips := lambdaDir(t)
	partial := t.TempDir()
	if err := placeholderZip(filepath.Join(partial, "api.zip")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    Props
		want []string
	}{
		{"no zips", Props{RepoRoot: "..", LambdaDir: t.TempDir()}, []string{"ingest.zip is missing", "api.zip is missing", "build-lambdas"}},
		{"some zips", Props{RepoRoot: "..", LambdaDir: partial}, []string{"mesher.zip is missing"}},
		{"not the repository", Props{RepoRoot: t.TempDir(), LambdaDir: zips}, []string{"gpuworker/Dockerfile is missing", "Dockerfile.dockerignore is missing"}},
		{"instance type", Props{RepoRoot: "..", LambdaDir: zips, InstanceType: "g5.xlarge"}, []string{`"g5.xlarge" is not a SageMaker instance type`}},
		{"memory", Props{RepoRoot: "..", LambdaDir: zips, MesherMemoryMB: 20000}, []string{"20000 MB"}},
		{"concurrency 1", Props{RepoRoot: "..", LambdaDir: zips, MesherConcurrency: 1}, []string{"2–1000"}},
		{"domain without certificate", Props{RepoRoot: "..", LambdaDir: zips, SiteDomain: "iris.example.org"}, []string{"set both or neither"}},
		{"bad domain", Props{RepoRoot: "..", LambdaDir: zips, SiteDomain: "Iris Site", SiteCertificateARN: "arn:x"}, []string{`"Iris Site" is not`}},
		{"bad origin", Props{RepoRoot: "..", LambdaDir: zips, ExtraOrigins: []string{"localhost:5173"}}, []string{`"localhost:5173"`}},
		{"web app without index", Props{RepoRoot: "..", LambdaDir: zips, WebDist: t.TempDir()}, []string{"has no index.html"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.withDefaults()
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestPropsFromContext(t *testing.T) {
	web := t.TempDir()
	if err := os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ctx     map[string]any
		check   func(Props) bool
		wantErr string
	}{
		{
			name: "CLI strings",
			ctx: map[string]any{CtxInstanceType: "ml.g4dn.xlarge", CtxMaxInstances: "4", CtxGPUsPerInstance: "1",
				CtxExtraOrigins: "http://localhost:5173, https://a.example.org", CtxSelfSignUp: "true", CtxWebDist: web, CtxAlarmEmail: "ops@example.org"},
			check: func(p Props) bool {
				return p.InstanceType == "ml.g4dn.xlarge" && p.MaxInstances == 4 && p.SelfSignUp && p.WebDist == web &&
					len(p.ExtraOrigins) == 2 && p.ExtraOrigins[1] == "https://a.example.org" && p.AlarmEmail == "ops@example.org"
			},
		},
		{
			name:  "cdk.json numbers and booleans",
			ctx:   map[string]any{CtxMaxInstances: 3, CtxMesherMemoryMB: 4096, CtxSelfSignUp: false},
			check: func(p Props) bool { return p.MaxInstances == 3 && p.MesherMemoryMB == 4096 && !p.SelfSignUp },
		},
		{name: "webDist empty turns the web app off", ctx: map[string]any{CtxWebDist: ""}, check: func(p Props) bool { return p.WebDist == "" }},
		{name: "bad number", ctx: map[string]any{CtxMaxInstances: "many"}, wantErr: `maxInstances="many"`},
		{name: "bad boolean", ctx: map[string]any{CtxSelfSignUp: "yes"}, wantErr: `selfSignUp="yes"`},
		{
			name: "operating options, as cdk.json types",
			ctx:  map[string]any{CtxWAF: true, CtxBucketAlarmGB: 500, CtxAPIDomain: "api.x.org", CtxAPICertificate: "arn:aws:acm:eu-west-1:111111111111:certificate/abc"},
			check: func(p Props) bool {
				return p.WAF && p.BucketAlarmGB == 500 && p.APIDomain == "api.x.org" && strings.HasSuffix(p.APICertificateARN, "/abc")
			},
		},
		{name: "bad waf boolean", ctx: map[string]any{CtxWAF: "on"}, wantErr: `waf="on"`},
		{name: "bad bucket alarm", ctx: map[string]any{CtxBucketAlarmGB: "100GB"}, wantErr: `bucketAlarmGB="100GB"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(&awscdk.AppProps{Context: &tt.ctx, Outdir: jsii.String(t.TempDir())})
			p, err := PropsFromContext(app.Node(), t.TempDir())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(p) {
				t.Errorf("props %+v", p)
			}
		})
	}
}

func TestEventPattern(t *testing.T) {
	good := map[string]any{"source": []any{"a"}, "detail-type": []any{"b", "c"}, "account": []any{"1"},
		"detail": map[string]any{"x": []any{map[string]any{"prefix": "p"}}}}
	ep, err := eventPattern(good)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Source == nil || ep.DetailType == nil || ep.Account == nil || ep.Detail == nil ||
		len(*ep.Source) != 1 || *(*ep.DetailType)[1] != "c" || *(*ep.Account)[0] != "1" || (*ep.Detail)["x"] == nil {
		t.Errorf("pattern %+v lost fields of %v", ep, good)
	}
	tests := []struct {
		p    map[string]any
		want string
	}{
		{map[string]any{"sourc": []any{"a"}}, `"sourc" is not an EventBridge envelope field`},
		{map[string]any{"source": "a"}, "want a list of strings"},
		{map[string]any{"source": []any{map[string]any{"prefix": "a"}}}, "content filters belong under detail"},
		{map[string]any{"detail": []any{"a"}}, "want an object"},
	}
	for _, tt := range tests {
		if _, err := eventPattern(tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("eventPattern(%v) error %v, want %q", tt.p, err, tt.want)
		}
	}
}
