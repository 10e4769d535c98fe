package infra

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

// The stack is synthesized once per test binary: jsii runs the CDK in a
// node process, and a synthesis takes seconds. A second synthesis, with
// the optional context set (synthCtx), is made when a test asks for it.
var (
	synthOnce sync.Once
	synthed   *synthesis
	synthErr  error

	ctxOnce  sync.Once
	ctxSynth *synthesis
	ctxErr   error
)

// optionalContext is the context of the second synthesis: every option
// this stack has beyond the defaults, read through PropsFromContext as
// `cdk synth -c` would, in a region other than us-east-1 so that
// CloudFront's web ACL needs its own stack.
var optionalContext = map[string]any{
	CtxAPIDomain:       "api.iris.example.org",
	CtxAPICertificate:  "arn:aws:acm:eu-west-1:111111111111:certificate/0e0e0e0e-1111-2222-3333-444444444444",
	CtxWAF:             "true",
	CtxBucketAlarmGB:   "250",
	CtxSiteDomain:      "iris.example.org",
	CtxSiteCertificate: "arn:aws:acm:us-east-1:111111111111:certificate/5e5e5e5e-1111-2222-3333-444444444444",
}

// synthesis is the synthesized stack as the tests read it.
type synthesis struct {
	outdir    string
	template  map[string]any      // the CloudFormation template
	tpl       assertions.Template // the same, for the assertions library
	messages  []*cxapi.SynthesisMessage
	bucketRef any // how the template refers to the data bucket's name
	stack     awscdk.Stack
	edge      *synthesis // the us-east-1 edge stack, when there is one
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range []*synthesis{synthed, ctxSynth} {
		if s != nil {
			os.RemoveAll(s.outdir)
		}
	}
	jsii.Close()
	os.Exit(code)
}

// synth returns the stack synthesized with cdk.json's context (the
// feature flags `cdk synth` uses), placeholder Lambda zips and a
// placeholder web app, so that the optional BucketDeployment is covered
// too.
func synth(t *testing.T) *synthesis {
	t.Helper()
	synthOnce.Do(func() { synthed, synthErr = doSynth(nil, nil) })
	if synthErr != nil {
		t.Fatalf("synth: %v", synthErr)
	}
	return synthed
}

// synthCtx returns the stack synthesized with optionalContext, in
// eu-west-1.
func synthCtx(t *testing.T) *synthesis {
	t.Helper()
	ctxOnce.Do(func() {
		ctxSynth, ctxErr = doSynth(optionalContext, &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-west-1")})
	})
	if ctxErr != nil {
		t.Fatalf("synth with context: %v", ctxErr)
	}
	return ctxSynth
}

func doSynth(extra map[string]any, env *awscdk.Environment) (_ *synthesis, err error) {
	tmp, err := os.MkdirTemp("", "iris-infra-test-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	lambdaDir, webDist, outdir := filepath.Join(tmp, "lambda"), filepath.Join(tmp, "web"), filepath.Join(tmp, "cdk.out")
	for _, d := range []string{lambdaDir, webDist} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, fn := range functionNames {
		if err := placeholderZip(filepath.Join(lambdaDir, fn+".zip")); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(webDist, "index.html"), []byte("<!doctype html><title>IRIS</title>"), 0o644); err != nil {
		return nil, err
	}
	ctx, err := cdkContext("../cdk.json")
	if err != nil {
		return nil, err
	}
	// cdk.json turns annotations into a validation report that fails the
	// synthesis (so `cdk synth` stops on a cdk-nag error); here they are
	// collected instead, so that TestNag can name each one.
	ctx["@aws-cdk/core:annotationsInValidationReport"] = false
	for k, v := range extra {
		ctx[k] = v
	}
	ctx[CtxLambdaDir], ctx[CtxWebDist] = lambdaDir, webDist
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)})
	p, err := PropsFromContext(app.Node(), "..")
	if err != nil {
		return nil, err
	}
	st, err := NewStack(app, "Iris", &awscdk.StackProps{Env: env}, p)
	if err != nil {
		return nil, err
	}
	asm := app.Synth(nil)
	s, err := readStack(asm, "Iris", tmp)
	if err != nil {
		return nil, err
	}
	s.stack = st.Stack
	s.bucketRef = st.Stack.Resolve(st.Bucket.BucketName())
	if st.Edge != nil {
		if s.edge, err = readStack(asm, *st.Edge.ArtifactId(), tmp); err != nil {
			return nil, err
		}
		s.edge.stack = st.Edge
	}
	return s, nil
}

// readStack reads one stack's template and synthesis messages.
func readStack(asm cxapi.CloudAssembly, id, outdir string) (*synthesis, error) {
	art := asm.GetStackArtifact(jsii.String(id))
	raw, err := os.ReadFile(*art.TemplateFullPath())
	if err != nil {
		return nil, err
	}
	s := &synthesis{outdir: outdir}
	if err := json.Unmarshal(raw, &s.template); err != nil {
		return nil, fmt.Errorf("%s template: %w", id, err)
	}
	s.tpl = assertions.Template_FromJSON(&s.template, nil)
	if m := art.Messages(); m != nil {
		s.messages = *m
	}
	return s, nil
}

// cdkContext is the "context" of cdk.json.
func cdkContext(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c.Context, nil
}

// placeholderZip writes a zip holding a bootstrap file, as
// build-lambdas.sh does with the real binary.
func placeholderZip(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\nexit 1\n"))
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// resources are the template's resources of type typ, by logical id.
func (s *synthesis) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.template["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// resource is the one resource of type typ whose logical id starts with
// prefix (CDK appends a hash to the construct path).
func (s *synthesis) resource(t *testing.T, typ, prefix string) (string, map[string]any) {
	t.Helper()
	var id string
	var res map[string]any
	for k, r := range s.resources(typ) {
		if strings.HasPrefix(k, prefix) {
			if res != nil {
				t.Fatalf("two %s resources start with %q: %s and %s", typ, prefix, id, k)
			}
			id, res = k, r
		}
	}
	if res == nil {
		t.Fatalf("no %s resource starts with %q", typ, prefix)
	}
	return id, res
}

// props are a resource's properties.
func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// assert runs an assertions-library check, turning its panic into a test
// failure.
func assert(t *testing.T, what string, check func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	check()
}

// jsonOf marshals v for comparisons and messages.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// TestNag: cdk-nag finds no unsuppressed error, on the defaults and with
// every option set (where the edge stack is checked too).
func TestNag(t *testing.T) {
	t.Run("defaults", func(t *testing.T) { nagErrors(t, synth(t)) })
	t.Run("context", func(t *testing.T) {
		s := synthCtx(t)
		nagErrors(t, s)
		if s.edge == nil {
			t.Fatal("no edge stack")
		}
		nagErrors(t, s.edge)
	})
}

func nagErrors(t *testing.T, s *synthesis) {
	var errs, warns int
	for _, m := range s.messages {
		data := fmt.Sprint(m.Entry.Data)
		if d, ok := m.Entry.Data.(*string); ok {
			data = *d
		}
		switch m.Level {
		case cxapi.SynthesisMessageLevel_ERROR:
			errs++
			t.Errorf("%s: %s", *m.Id, data)
		case cxapi.SynthesisMessageLevel_WARNING:
			warns++
			t.Logf("warning %s: %s", *m.Id, data)
		}
	}
	t.Logf("%d errors, %d warnings", errs, warns)
}
