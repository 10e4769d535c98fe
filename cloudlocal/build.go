package cloudlocal

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries are the mains Start runs, built for this machine.
var Binaries = []string{"./functions/ingest", "./functions/dispatch", "./functions/mesher", "./functions/status", "./functions/api", "./gpuworker/cmd/gpuworker"}

// Build compiles pkgs (Binaries by default) from the repository at root
// into dir, each named after its folder, as `go build -o dir/` does, with
// the lambda.norpc tag the Lambda zips are built with.
func Build(ctx context.Context, root, dir string, pkgs ...string) error {
	if len(pkgs) == 0 {
		pkgs = Binaries
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("missing go on PATH: %w", err)
	}
	args := append([]string{"build", "-tags", "lambda.norpc", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
	return nil
}

// Synth synthesizes the stack as `make synth` does, without the CDK CLI:
// it builds the CDK app (infra/cmd/app, cdk.json's "app") and runs it with
// cdk.json's context in CDK_CONTEXT_JSON, placeholder Lambda zips (the
// template does not depend on their content) and no web app, and returns
// Iris.template.json. It needs Node.js (jsii) and takes tens of seconds.
func Synth(ctx context.Context, root, work string) ([]byte, error) {
	tpl, _, err := SynthWithSite(ctx, root, work, "")
	return tpl, err
}

// SynthWithSite is Synth with the built web app at webDist (web/dist,
// with its index.html) deployed to the site bucket, as `make synth` does
// after the web build; "" leaves it out. It returns the template and the
// cloud assembly (work/cdk.out) that holds the site's staged assets, for
// Config.Assembly. The web app adds the CDK's bucket deployment and its
// AWS CLI layer (about 20 MB copied) to the assembly.
func SynthWithSite(ctx context.Context, root, work, webDist string) ([]byte, string, error) {
	if webDist != "" {
		abs, err := filepath.Abs(webDist)
		if err != nil {
			return nil, "", err
		}
		if _, err := os.Stat(filepath.Join(abs, "index.html")); err != nil {
			return nil, "", fmt.Errorf("web app %s has no index.html: build it (make web/dist/index.html)", webDist)
		}
		webDist = abs
	}
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, "", err
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		return nil, "", fmt.Errorf("cdk.json: %w", err)
	}
	lambdaDir := filepath.Join(work, "lambda-zips")
	if err := os.MkdirAll(lambdaDir, 0o755); err != nil {
		return nil, "", err
	}
	for _, fn := range []string{"ingest", "dispatch", "mesher", "status", "api"} {
		if err := placeholderZip(filepath.Join(lambdaDir, fn+".zip"), fn); err != nil {
			return nil, "", err
		}
	}
	cdk.Context["lambdaDir"] = lambdaDir
	cdk.Context["webDist"] = webDist
	ctxJSON, _ := json.Marshal(cdk.Context)
	app := filepath.Join(work, "cdkapp")
	if err := Build(ctx, root, app, "./infra/cmd/app"); err != nil {
		return nil, "", err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return nil, "", fmt.Errorf("missing node (Node.js >= 20, for the CDK's jsii): apt-get install nodejs")
	}
	out := filepath.Join(work, "cdk.out")
	cmd := exec.CommandContext(ctx, filepath.Join(app, "app"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CDK_OUTDIR="+out, "CDK_CONTEXT_JSON="+string(ctxJSON))
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("synthesize: %v\n%s", err, b)
	}
	tpl, err := os.ReadFile(filepath.Join(out, "Iris.template.json"))
	return tpl, out, err
}

func placeholderZip(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\n# placeholder for " + name + "\nexit 1\n"))
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
