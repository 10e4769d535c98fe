// Command cloud-local runs the serverless deployment on this machine
// (`make cloud-local`): the five Lambda functions built from functions/*,
// wired by the synthesized CloudFormation template, on S3, SQS, DynamoDB,
// EventBridge, SageMaker and API Gateway emulators on loopback (package
// cloudlocal). It prints where to upload and the API's address, then
// reports each job's progress until Ctrl-C.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iris-oculus/iris/cloudlocal"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/job"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cloud-local:", err)
		os.Exit(1)
	}
}

func run() error {
	template := flag.String("template", "", "a synthesized Iris.template.json (default: synthesize the stack now)")
	goaws := flag.String("goaws", "bin/tools/goaws", "the goaws binary `make tools` built")
	dynalite := flag.String("dynalite", "tools/dynalite/node_modules/dynalite", "the dynalite package `make tools` installed")
	work := flag.String("work", "", "scratch folder (default: a new temporary one)")
	apiAddr := flag.String("api-addr", "127.0.0.1:8090", "the HTTP API's listen address (loopback)")
	issuer := flag.String("oidc-issuer", "", "OIDC issuer whose tokens the JWT authorizer accepts (instead of the template's Cognito pool); "+
		"default: start the loopback provider web/e2e/oidc-provider.mjs with a user demo")
	audience := flag.String("oidc-audience", "iris-api,iris-web", "accepted token audiences or client ids, comma-separated")
	clientID := flag.String("oidc-client-id", "iris-web", "the web app's client at the provider (the user pool client in config.json)")
	webDist := flag.String("web-dist", "web/dist", "the built web app, deployed as the stack deploys it; \"\" serves no site")
	siteAddr := flag.String("site-addr", "127.0.0.1:8091", "where the site (the CloudFront distribution) listens, over HTTPS")
	flag.Parse()
	for _, a := range []string{*apiAddr, *siteAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") && !strings.HasPrefix(a, "localhost:") {
			return fmt.Errorf("%s: cloud-local listens on loopback only", a)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "iris-cloud-local-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Println("cloud-local: building the functions and gpuworker for this machine…")
	bin := filepath.Join(dir, "bin")
	if err := cloudlocal.Build(ctx, ".", bin); err != nil {
		return err
	}
	var tpl []byte
	var assembly string
	var err error
	if *template != "" {
		tpl, err = os.ReadFile(*template)
		if *webDist != "" {
			assembly = filepath.Dir(*template) // the cloud assembly the template was written into
		}
	} else {
		fmt.Println("cloud-local: synthesizing the stack (the CDK app through jsii; a minute or two)…")
		tpl, assembly, err = cloudlocal.SynthWithSite(ctx, ".", dir, *webDist)
	}
	if err != nil {
		return err
	}
	users := ""
	if assembly != "" && *issuer == "" {
		// The provider's client redirects to the site's origin.
		password := rand.Text()[:16]
		*issuer, err = startProvider(ctx, "https://"+*siteAddr, *clientID, "demo:"+password)
		if err != nil {
			return err
		}
		users = fmt.Sprintf("  sign in as   demo, password %s (at %s)\n", password, *issuer)
	}
	logPath := filepath.Join(dir, "cloud.log")
	logs, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logs.Close()
	var aud []string
	for _, a := range strings.Split(*audience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			aud = append(aud, a)
		}
	}
	c, err := cloudlocal.Start(ctx, cloudlocal.Config{
		Template: tpl, Bin: bin, Goaws: *goaws, Dynalite: *dynalite, Work: dir, Logs: logs,
		Log:  slog.New(slog.NewTextHandler(logs, nil)),
		OIDC: cloudlocal.OIDC{Issuer: *issuer, Audience: aud, ClientID: *clientID}, APIAddr: *apiAddr,
		Assembly: assembly, SiteAddr: *siteAddr,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if c.SiteURL != "" {
		fmt.Printf(`
The web app, as the stack deploys it (its config.json names the API and the provider):
  %s/
%sThe site and S3 serve a self-signed certificate; a browser started as
  chromium --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list=%s %s/
trusts it (and nothing else).
`, c.SiteURL, users, strings.Join(c.CertificatePins(), ","), c.SiteURL)
	}
	fmt.Printf(`
IRIS Oculus runs on emulators, wired by the synthesized template:
  S3 (HTTPS)   %s  bucket %s  (its certificate: %s)
  HTTP API     %s/api/health  (JWT routes: %s)
  logs         %s

Drop a scan (a NIfTI file or a zip of one DICOM series):
  aws --endpoint-url %s --ca-bundle %s s3 cp scan.nii.gz s3://%s/uploads/scan.nii.gz
Models appear under s3://%s/results/<job>/; progress is printed below. Ctrl-C stops.

`, c.S3URL, c.Bucket, c.CABundle, c.APIURL, authLine(*issuer), logPath, c.S3URL, c.CABundle, c.Bucket, c.Bucket)
	watch(ctx, c)
	return nil
}

func authLine(issuer string) string {
	if issuer == "" {
		return "every request refused: give -oidc-issuer and -oidc-audience"
	}
	return "tokens from " + issuer
}

// watch prints each job's status when it changes.
func watch(ctx context.Context, c *cloudlocal.Cloud) {
	seen := map[string]job.Status{}
	store := iaws.NewDynamoStore(c.Dynamo, c.Table)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		out, err := c.Dynamo.Scan(ctx, &dynamodb.ScanInput{TableName: &c.Table, ProjectionExpression: strPtr("jobId")})
		if err != nil {
			continue
		}
		for _, it := range out.Items {
			v, ok := it["jobId"].(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			ids := v.Value
			j, err := store.Get(ctx, ids)
			if err != nil || seen[ids] == j.Status {
				continue
			}
			seen[ids] = j.Status
			line := fmt.Sprintf("%s  job %s: %s", time.Now().Format("15:04:05"), ids, j.Status)
			if j.Error != nil {
				line += fmt.Sprintf(" (%s: %s)", j.Error.Code, j.Error.Message)
			}
			if j.Status == job.Done {
				line += fmt.Sprintf(", %d organs under s3://%s/results/%s/", len(j.Organs), c.Bucket, ids)
			}
			fmt.Println(line)
		}
	}
}

func strPtr(s string) *string { return &s }

// startProvider runs the loopback OpenID Connect provider of the web
// app's tests (web/e2e/oidc-provider.mjs, npm oidc-provider) with one
// client and user (name:password), until ctx ends, and returns its
// issuer.
func startProvider(ctx context.Context, origin, client, user string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("missing node (Node.js >= 20, for the sign-in provider): apt-get install nodejs")
	}
	if _, err := os.Stat("web/node_modules/oidc-provider"); err != nil {
		return "", fmt.Errorf("web/node_modules/oidc-provider not found: run `cd web && npm ci`")
	}
	cmd := exec.CommandContext(ctx, node, "e2e/oidc-provider.mjs", "--port", "0", "--client", client+"="+origin, "--user", user, "--audience", "iris-api")
	cmd.Dir = "web"
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the sign-in provider: %w", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var v struct{ Issuer string }
		if json.Unmarshal(sc.Bytes(), &v) == nil && v.Issuer != "" {
			go func() {
				for sc.Scan() {
				}
			}()
			return v.Issuer, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return "", fmt.Errorf("the sign-in provider web/e2e/oidc-provider.mjs did not start")
}
