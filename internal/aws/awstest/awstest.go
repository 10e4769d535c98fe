// Package awstest starts real local AWS-compatible servers for tests and
// returns aws-sdk-go-v2 clients wired to them:
//
//   - S3: gofakes3 v1.2.0, in process (httptest).
//   - DynamoDB: dynalite 4.0.0 (Node.js), installed with npm on first use.
//   - SQS: goaws v0.5.4, built on first use from the small module in
//     internal/aws/internal/goaws, which binds loopback only (goaws's own
//     command listens on every interface).
//   - Services no emulator covers (EventBridge, SageMaker, Application
//     Auto Scaling): JSONAPI, an httptest server speaking the AWS JSON
//     protocol with handlers the test supplies, recording what the SDK
//     sent.
//
// Every server listens on 127.0.0.1 and dies with the test. Tools are
// cached under the user cache directory (os.UserCacheDir()/iris-tools), so
// only the first run pays for npm and go build. A tool that cannot be
// obtained fails the test with what to install; it never skips.
//
// What the emulators do not check is listed where each is started; the
// package doc of internal/aws says what only real AWS can verify.
package awstest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
)

// Region is what every client here uses; the emulators accept any.
const Region = "us-east-1"

// Credentials returns fixed test credentials; the emulators accept any.
func Credentials() awssdk.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", "")
}

// Tool versions.
const (
	DynaliteVersion = "4.0.0"
	GoawsVersion    = "v0.5.4"
)

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
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("dynalite needs Node.js >= 20 on PATH (apt-get install nodejs): %v", err)
	}
	dir := installDynalite(t)
	script := fmt.Sprintf(`const s = require(%q)({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
s.listen(0, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + s.address().port));`,
		filepath.Join(dir, "node_modules", "dynalite"))
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
	bin := buildGoaws(t)
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

// toolDir is where installed tools are cached across runs.
func toolDir(t testing.TB) string {
	t.Helper()
	d, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory for test tools: %v", err)
	}
	d = filepath.Join(d, "iris-tools")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("create %s: %v", d, err)
	}
	return d
}

// install runs fill into a fresh directory and renames it to final, so a
// half-finished install never passes for a finished one and concurrent
// test binaries do not trip over each other.
func install(t testing.TB, final, marker string, fill func(tmp string) error) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(final, marker)); err == nil {
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), filepath.Base(final)+".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(final, marker)); statErr != nil {
			t.Fatalf("install %s: %v", final, err)
		}
	}
}

func installDynalite(t testing.TB) string {
	t.Helper()
	final := filepath.Join(toolDir(t), "dynalite-"+DynaliteVersion)
	install(t, final, "node_modules/dynalite/cli.js", func(tmp string) error {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return fmt.Errorf("dynalite %s is installed with npm, which is not on PATH (apt-get install npm): %v", DynaliteVersion, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", "dynalite@"+DynaliteVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("npm install dynalite@%s: %v\n%s\nThe DynamoDB tests need it; run that command with registry access", DynaliteVersion, err, out)
		}
		return nil
	})
	return final
}

// buildGoaws builds the loopback goaws wrapper, cached by the hash of its
// module files.
func buildGoaws(t testing.TB) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the awstest source to find the goaws wrapper")
	}
	src := filepath.Join(filepath.Dir(self), "..", "internal", "goaws")
	h := sha256.New()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatalf("goaws wrapper source: %v", err)
		}
		h.Write(b)
	}
	final := filepath.Join(toolDir(t), "goaws-"+GoawsVersion+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	install(t, final, "goaws", func(tmp string) error {
		goBin, err := exec.LookPath("go")
		if err != nil {
			return fmt.Errorf("building goaws %s needs the go command on PATH: %v", GoawsVersion, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(tmp, "goaws"), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build goaws %s in %s: %v\n%s\nThe SQS tests need it; it downloads github.com/Admiral-Piett/goaws from the module proxy", GoawsVersion, src, err, out)
		}
		return nil
	})
	return filepath.Join(final, "goaws")
}
