// Package awstest starts real local AWS-compatible servers for tests and
// returns aws-sdk-go-v2 clients wired to them:
//
//   - S3: gofakes3 v1.2.0, in process (httptest).
//   - DynamoDB: dynalite (Node.js), pinned in tools/dynalite.
//   - SQS: goaws, built from the small module in tools/goaws, which binds
//     loopback only (goaws's own command listens on every interface).
//   - Services no emulator covers (EventBridge, SageMaker, Application
//     Auto Scaling): JSONAPI, an httptest server speaking the AWS JSON
//     protocol with handlers the test supplies, recording what the SDK
//     sent.
//
// Every server listens on 127.0.0.1 and dies with the test. The tests
// install nothing: `make tools` installs dynalite and goaws once, at their
// pinned versions (see package tools), and a missing one fails the test
// with one line that says so; it never skips.
//
// What the emulators do not check is listed where each is started; the
// package doc of internal/aws says what only real AWS can verify.
package awstest

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/iris-oculus/iris/tools"
)

// Region is what every client here uses; the emulators accept any.
const Region = "us-east-1"

// Credentials returns fixed test credentials; the emulators accept any.
func Credentials() awssdk.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", "")
}

// S3 is a gofakes3 server holding one bucket.
type S3 struct {
	Server *httptest.Server
	Client *s3.Client
	Bucket string
}

// StartS3 starts gofakes3 with bucket created. With tls, the server speaks
// HTTPS, as S3 does, so the SDK streams non-seekable bodies with a trailing
// checksum; without it, request bodies must be seekable.
//
// gofakes3 does not verify signatures, expiry or POST policies: a
// presigned URL is only checked for its shape there.
func StartS3(t testing.TB, bucket string, tls bool) *S3 {
	t.Helper()
	h := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: awssdk.String(srv.URL),
		UsePathStyle: true,
		Credentials:  Credentials(),
		HTTPClient:   srv.Client(),
	})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("gofakes3: create bucket %s: %v", bucket, err)
	}
	return &S3{Server: srv, Client: c, Bucket: bucket}
}

// StartDynalite starts an in-memory dynalite on a loopback port and
// returns a client for it. Tables become ACTIVE at once.
//
// dynalite lacks TransactWriteItems, UpdateTimeToLive (items never expire)
// and ReturnValuesOnConditionCheckFailure.
func StartDynalite(t testing.TB) *dynamodb.Client {
	t.Helper()
	node, pkg := tools.Dynalite(t)
	script := fmt.Sprintf(`const s = require(%q)({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
s.listen(0, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + s.address().port));`, pkg)
	addr := startServer(t, "dynalite", exec.Command(node, "-e", script))
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: awssdk.String("http://" + addr),
		Credentials:  Credentials(),
	})
}

// StartGoaws starts goaws on a loopback port, applying visibility
// timeouts and redrives every sweep (goaws's default is 1 s), and returns
// a client for it.
//
// goaws keeps ApproximateReceiveCount at 1 across receives and applies
// timeouts only at its sweeps: poll, do not sleep, and do not assert on
// receive counts.
func StartGoaws(t testing.TB, sweep time.Duration) *sqs.Client {
	t.Helper()
	bin := tools.Goaws(t)
	addr := startServer(t, "goaws", exec.Command(bin, "-sweep", sweep.String()))
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: awssdk.String("http://" + addr),
		Credentials:  Credentials(),
	})
}

// startServer runs cmd, which must print "listening on ADDR" as its
// first line, and stops it when the test ends.
func startServer(t testing.TB, name string, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // keep the pipe drained
		}
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening on ")
		if !ok || !found || !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("%s did not start: first line %q, stderr: %s", name, l, stderr.String())
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not report its address within 30s; stderr: %s", name, stderr.String())
	}
	return ""
}
