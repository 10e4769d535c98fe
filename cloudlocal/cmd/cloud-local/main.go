// Command cloud-local runs the serverless deployment on this machine
// (`make cloud-local`): the five Lambda functions built from functions/*,
// wired by the synthesized CloudFormation template, on S3, SQS, DynamoDB,
// EventBridge, SageMaker and API Gateway emulators on loopback (package
// cloudlocal). It prints where to upload and the API's address, then
// reports each job's progress until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
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
	issuer := flag.String("oidc-issuer", "", "OIDC issuer whose tokens the JWT authorizer accepts (instead of the template's Cognito pool)")
	audience := flag.String("oidc-audience", "", "accepted token audiences or client ids, comma-separated")
	flag.Parse()
	if !strings.HasPrefix(*apiAddr, "127.0.0.1:") && !strings.HasPrefix(*apiAddr, "localhost:") {
		return fmt.Errorf("-api-addr %s: cloud-local listens on loopback only", *apiAddr)
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
	var err error
	if *template != "" {
		tpl, err = os.ReadFile(*template)
	} else {
		fmt.Println("cloud-local: synthesizing the stack (the CDK app through jsii; a minute or two)…")
		tpl, err = cloudlocal.Synth(ctx, ".", dir)
	}
	if err != nil {
		return err
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
		OIDC: cloudlocal.OIDC{Issuer: *issuer, Audience: aud}, APIAddr: *apiAddr,
	})
	if err != nil {
		return err
	}
	defer c.Close()
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
