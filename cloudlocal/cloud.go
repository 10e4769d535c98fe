package cloudlocal

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Config is what Start needs.
type Config struct {
	Template []byte // the synthesized Iris.template.json
	// Bin holds the host builds of ingest, dispatch, mesher, status, api
	// (the functions/* mains) and gpuworker.
	Bin string
	// Goaws is the goaws binary and Dynalite the dynalite package folder,
	// where `make tools` installs them (bin/tools/goaws and
	// tools/dynalite/node_modules/dynalite).
	Goaws, Dynalite string
	Work            string    // scratch folder: function /tmp folders, certificates
	Logs            io.Writer // the functions' and emulators' output
	Log             *slog.Logger
	OIDC            OIDC
	Chaos           Chaos
	// AsyncRetryDelay is the wait before Lambda's first asynchronous
	// retry (the second waits twice as long); 0 means a minute, as on AWS.
	AsyncRetryDelay time.Duration
	// ScheduleEvery replaces the schedules' rates when non-zero; negative
	// turns schedules off (Tick still runs them).
	ScheduleEvery time.Duration
	// MaxEnvironments caps each function's execution environments (this
	// machine has few cores); 0 means 2.
	MaxEnvironments int
	// APIAddr is where the HTTP API listens; "" means a free loopback port.
	APIAddr string
	// RetryBackoff replaces the queue consumers' IRIS_RETRY_BACKOFF (the
	// template's is timing.RetryBackoff, a minute) when non-zero.
	RetryBackoff time.Duration
	// Assembly is the cloud assembly (cdk.out) the template was
	// synthesized into, with the staged assets of its bucket deployments.
	// When set, the web app is deployed as the stack deploys it and served
	// over HTTPS at SiteAddr ("" means a free loopback port), as its
	// CloudFront distribution; OIDC then needs ClientID.
	Assembly, SiteAddr string
}

// Cloud is the running deployment.
type Cloud struct {
	Model     *Model
	Bus       *Bus
	Queues    *Queues
	Endpoint  *Endpoint
	Functions map[string]*Function // by name: ingest, dispatch, …
	S3        *s3.Client           // a client of the S3 emulator
	Dynamo    *dynamodb.Client
	// Bucket is the data bucket (the one with EventBridge notifications);
	// Table the job table.
	Bucket, Table string
	S3URL, APIURL string
	// SiteURL is the web app's origin (https://127.0.0.1:PORT) when
	// Config.Assembly is set.
	SiteURL  string
	CABundle string // the S3 emulator's certificate (PEM), for AWS_CA_BUNDLE
	Env      []string

	s3      *s3Events
	reads   *tableReads
	busy    atomic.Int64
	cancel  context.CancelFunc
	closers []func()

	oidc             OIDC
	siteLn           net.Listener
	siteHost         string
	s3Cert, siteCert *x509.Certificate
}

func toolMissing(what, path string) error {
	return fmt.Errorf("missing %s (%s): run `make tools`", what, path)
}

// Start brings the deployment up; Close takes it down.
func Start(ctx context.Context, cfg Config) (c *Cloud, err error) {
	tpl, err := ParseTemplate(cfg.Template)
	if err != nil {
		return nil, err
	}
	m, err := tpl.Model()
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Logs == nil {
		cfg.Logs = io.Discard
	}
	if cfg.AsyncRetryDelay == 0 {
		cfg.AsyncRetryDelay = time.Minute
	}
	if cfg.MaxEnvironments == 0 {
		cfg.MaxEnvironments = 2
	}
	for _, p := range []*string{&cfg.Goaws, &cfg.Dynalite, &cfg.Bin, &cfg.Work} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}
	goaws := cfg.Goaws
	if _, err := os.Stat(goaws); err != nil {
		return nil, toolMissing("goaws", goaws)
	}
	dynalite := cfg.Dynalite
	if _, err := os.Stat(dynalite); err != nil {
		return nil, toolMissing("dynalite", dynalite)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("missing node (Node.js >= 20, for dynalite): apt-get install nodejs")
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c = &Cloud{Model: m, Functions: map[string]*Function{}, cancel: cancel, oidc: cfg.OIDC}
	started := c
	defer func() {
		if err != nil {
			started.Close()
			c = nil
		}
	}()
	if cfg.Assembly != "" {
		// The site's address is the distribution's domain name, which
		// CORS and config.json name: known before anything is resolved.
		if err := c.listenSite(cfg); err != nil {
			return nil, err
		}
		c.closers = append(c.closers, func() { c.siteLn.Close() })
	}
	creds := credentials.NewStaticCredentialsProvider("AKIDLOCAL", "SECRETLOCAL", "")

	// SQS and DynamoDB: the emulators, as processes.
	sqsAddr, err := c.startProcess(runCtx, cfg.Logs, "goaws", dieWithParent(exec.Command(goaws, "-sweep", "500ms")))
	if err != nil {
		return nil, err
	}
	script := fmt.Sprintf(`const s = require(%q)({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
s.listen(0, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + s.address().port));`, dynalite)
	ddbAddr, err := c.startProcess(runCtx, cfg.Logs, "dynalite", dieWithParent(exec.Command(node, "-e", script)))
	if err != nil {
		return nil, err
	}
	sqsClient := sqs.New(sqs.Options{Region: Region, BaseEndpoint: awssdk.String("http://" + sqsAddr), Credentials: creds})
	c.Dynamo = dynamodb.New(dynamodb.Options{Region: Region, BaseEndpoint: awssdk.String("http://" + ddbAddr), Credentials: creds})
	// The functions reach dynalite through a proxy that counts what their
	// reads return (TableReads); the test's own client goes direct.
	c.reads = &tableReads{byOp: map[string]TableReads{}}
	ddbProxy, err := c.reads.proxy(ddbAddr)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, ddbProxy.close)

	// The bus exists before S3, which puts events on it.
	c.Queues = &Queues{client: sqsClient, url: map[string]string{}, arn: map[string]string{}}
	c.Bus = &Bus{rules: m.Rules, functions: map[string]*Function{}, queues: c.Queues, log: cfg.Log, chaos: cfg.Chaos,
		retryDelay: cfg.AsyncRetryDelay, busy: &c.busy, delivered: map[string]int{}, rng: rand.New(rand.NewPCG(1, 2))}

	// S3: gofakes3 over HTTPS.
	backend := s3mem.New()
	notify := map[string]bool{}
	for _, b := range m.Buckets {
		name := bucketName(b.ID)
		if err := backend.CreateBucket(name); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", name, err)
		}
		notify[name] = b.EventBridge
		if b.EventBridge {
			if c.Bucket != "" {
				return nil, fmt.Errorf("template: two buckets send events to EventBridge")
			}
			c.Bucket = name
		}
	}
	if c.Bucket == "" {
		return nil, fmt.Errorf("template: no bucket sends its events to EventBridge")
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	c.s3 = &s3Events{next: fake.Server(), backend: backend, notify: notify, bus: c.Bus, ctx: runCtx, faults: map[string]int{}, creds: creds}
	cors, err := c.bucketCORS(c.s3, cfg)
	if err != nil {
		return nil, err
	}
	s3srv := httptest.NewUnstartedServer(cors)
	s3srv.Config.ErrorLog = log.New(io.Discard, "", 0) // gofakes3 writes some headers twice
	s3srv.StartTLS()
	c.closers = append(c.closers, s3srv.Close)
	c.S3URL = s3srv.URL
	c.s3Cert = s3srv.Certificate()
	c.CABundle = filepath.Join(cfg.Work, "s3-ca.pem")
	if err := os.WriteFile(c.CABundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s3srv.Certificate().Raw}), 0o644); err != nil {
		return nil, err
	}
	c.S3 = s3.New(s3.Options{Region: Region, BaseEndpoint: awssdk.String(s3srv.URL), UsePathStyle: true, Credentials: creds, HTTPClient: s3srv.Client()})

	// Queues: dead-letter queues first, then those that redrive to them.
	for pass := 0; pass < 2; pass++ {
		for id, q := range m.Queues {
			if (q.DLQ != "") != (pass == 1) {
				continue
			}
			attrs := map[string]string{"VisibilityTimeout": fmt.Sprint(int(q.Visibility.Seconds()))}
			if q.DLQ != "" {
				arn, ok := c.Queues.arn[q.DLQ]
				if !ok {
					return nil, fmt.Errorf("queue %s redrives to %s, which is not a plain queue", id, q.DLQ)
				}
				rp, _ := json.Marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": q.MaxReceiveCount})
				attrs["RedrivePolicy"] = string(rp)
			}
			out, err := sqsClient.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: awssdk.String(id), Attributes: attrs})
			if err != nil {
				return nil, fmt.Errorf("create queue %s: %w", id, err)
			}
			c.Queues.url[id] = *out.QueueUrl
			ga, err := sqsClient.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
			if err != nil {
				return nil, fmt.Errorf("queue %s attributes: %w", id, err)
			}
			c.Queues.arn[id] = ga.Attributes["QueueArn"]
		}
	}

	// The table.
	c.Table = m.Table.ID
	if err := createTable(ctx, c.Dynamo, c.Table, m.Table.Props); err != nil {
		return nil, err
	}

	// Endpoints the functions reach, by SDK service id.
	mux := http.NewServeMux()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	awsURL := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	c.closers = append(c.closers, func() { srv.Close() })
	mux.Handle("/events", c.Bus.handler(runCtx)) // the JSON protocol posts to the endpoint's path

	look := c.lookup()
	if err := m.Compile(look); err != nil {
		return nil, err
	}
	// SageMaker: the endpoint and its container.
	ep := m.Endpoint
	out, err := Resolve(ep.OutputPath, look)
	if err != nil {
		return nil, fmt.Errorf("endpoint output path: %w", err)
	}
	fail, err := Resolve(ep.FailurePath, look)
	if err != nil {
		return nil, fmt.Errorf("endpoint failure path: %w", err)
	}
	container, err := c.startGPUWorker(runCtx, cfg, ep)
	if err != nil {
		return nil, err
	}
	epName, _ := look(ep.ID, "EndpointName")
	c.Endpoint = &Endpoint{name: epName, outputPath: out, failurePath: fail, errorTopic: ep.ErrorTopic, container: container,
		s3: c.S3, log: cfg.Log, busy: &c.busy, queue: make(chan asyncRequest, 1000)}
	c.Endpoint.work(runCtx, ep.MaxConcurrency)
	mux.Handle("/sagemaker/", http.StripPrefix("/sagemaker", c.Endpoint))

	c.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=" + Region, "AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=SECRETLOCAL",
		"AWS_CA_BUNDLE=" + c.CABundle,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_S3=" + c.S3URL,
		"AWS_ENDPOINT_URL_SQS=http://" + sqsAddr,
		"AWS_ENDPOINT_URL_DYNAMODB=http://" + ddbProxy.addr,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + awsURL + "/events",
		"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=" + awsURL + "/sagemaker",
	}

	// The functions.
	for id, spec := range m.Functions {
		if spec.Runtime != "provided.al2023" {
			continue // the CDK's own helpers (bucket notifications, deployments)
		}
		env := append([]string{}, c.Env...)
		env = append(env, "AWS_LAMBDA_FUNCTION_NAME="+spec.Name, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", spec.MemoryMB), "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+spec.Name)
		for k, v := range spec.Env {
			s, err := Resolve(v, look)
			if err != nil {
				return nil, fmt.Errorf("function %s: %s: %w", spec.Name, k, err)
			}
			if k == "IRIS_RETRY_BACKOFF" && cfg.RetryBackoff > 0 {
				s = cfg.RetryBackoff.String()
			}
			env = append(env, k+"="+s)
		}
		arn, _ := look(id, "Arn")
		f := &Function{Spec: spec, arn: arn, bin: filepath.Join(cfg.Bin, spec.Name), env: env, log: cfg.Log,
			out: prefixed(cfg.Logs, spec.Name), tmp: filepath.Join(cfg.Work, "lambda"), queue: make(chan *invocation)}
		c.Functions[spec.Name] = f
		c.Bus.functions[id] = f
	}
	if len(c.Functions) != 5 {
		return nil, fmt.Errorf("template: %d provided.al2023 functions, want 5", len(c.Functions))
	}
	concurrency := map[string]int{}
	for _, ms := range m.Mappings {
		n := ms.MaxConcurrency
		if n == 0 || n > cfg.MaxEnvironments {
			n = cfg.MaxEnvironments
		}
		concurrency[ms.Function] = n
	}
	for id, spec := range m.Functions {
		f := c.Bus.functions[id]
		if f == nil {
			continue
		}
		n := cfg.MaxEnvironments
		if k, ok := concurrency[id]; ok {
			n = k
		}
		if err := f.start(runCtx, n); err != nil {
			return nil, err
		}
		_ = spec
	}
	for _, ms := range m.Mappings {
		p := &poller{spec: ms, queue: m.Queues[ms.Queue], fn: c.Bus.functions[ms.Function], queues: c.Queues, log: cfg.Log, busy: &c.busy, receives: map[string]int{}}
		p.run(runCtx, concurrency[ms.Function])
	}
	for _, r := range m.Rules {
		if r.Schedule > 0 && cfg.ScheduleEvery >= 0 {
			every := r.Schedule
			if cfg.ScheduleEvery > 0 {
				every = cfg.ScheduleEvery
			}
			go c.Bus.schedule(runCtx, r, every)
		}
	}

	// The HTTP API.
	api := &HTTPAPI{routes: m.API.Routes, functions: c.Bus.functions, oidc: cfg.OIDC, cors: m.API.Cors, log: cfg.Log}
	api.origins = c.origins(list(m.API.Cors["AllowOrigins"]), cfg)
	addr := cfg.APIAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	apiLn, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	apiSrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go apiSrv.Serve(apiLn)
	c.closers = append(c.closers, func() { apiSrv.Close() })
	c.APIURL = "http://" + apiLn.Addr().String()
	if cfg.Assembly != "" {
		if err := c.deploySite(ctx, cfg, look); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// origins resolves CORS origins. One that names what is not here (the
// CloudFront distribution's domain when no site is served) allows
// nothing, as the site's origin on AWS allows no page served from here.
func (c *Cloud) origins(vals []any, cfg Config) []string {
	var out []string
	for _, v := range vals {
		o, err := Resolve(v, c.lookup())
		if err != nil {
			cfg.Log.Info("CORS origin not served here", "why", err)
			continue
		}
		out = append(out, o)
	}
	return out
}

// bucketCORS wraps the S3 emulator with the buckets' CORS rules.
func (c *Cloud) bucketCORS(next http.Handler, cfg Config) (http.Handler, error) {
	b := &bucketCORS{next: next, rules: map[string][]corsRule{}}
	for _, bs := range c.Model.Buckets {
		for _, r := range bs.CORS {
			b.rules[bucketName(bs.ID)] = append(b.rules[bucketName(bs.ID)], corsRule{CORSRule: r, origins: c.origins(r.AllowedOrigins, cfg)})
		}
	}
	return b, nil
}

// lookup resolves references to the stack's resources to their local
// names.
func (c *Cloud) lookup() Lookup {
	return func(id, attr string) (string, error) {
		for _, b := range c.Model.Buckets {
			if b.ID == id {
				switch attr {
				case "":
					return bucketName(id), nil
				case "Arn":
					return "arn:aws:s3:::" + bucketName(id), nil
				}
			}
		}
		if _, ok := c.Model.Queues[id]; ok {
			switch attr {
			case "":
				return c.Queues.url[id], nil
			case "Arn":
				return c.Queues.arn[id], nil
			case "QueueName":
				return id, nil
			}
		}
		if id == c.Model.Table.ID {
			switch attr {
			case "":
				return id, nil
			case "Arn":
				return "arn:aws:dynamodb:" + Region + ":" + Account + ":table/" + id, nil
			}
		}
		if id == c.Model.Endpoint.ID && (attr == "EndpointName" || attr == "") {
			return strings.ToLower(id), nil
		}
		if f, ok := c.Model.Functions[id]; ok {
			switch attr {
			case "":
				return f.Name, nil
			case "Arn":
				return "arn:aws:lambda:" + Region + ":" + Account + ":function:" + f.Name, nil
			}
		}
		if id == c.Model.Endpoint.ErrorTopic && attr == "" {
			return "arn:aws:sns:" + Region + ":" + Account + ":" + id, nil
		}
		// The site, the HTTP API's address and the user pool, which an
		// OIDC provider stands for.
		if s := c.Model.Site; s != nil && id == s.Distribution {
			switch attr {
			case "":
				return "LOCALSITE", nil
			case "DomainName":
				if c.siteHost == "" {
					return "", fmt.Errorf("the site (distribution %s) is not served: no Config.Assembly", id)
				}
				return c.siteHost, nil
			}
		}
		if id == c.Model.API.ID && attr == "ApiEndpoint" && c.APIURL != "" {
			return c.APIURL, nil
		}
		switch idn := c.Model.Identity; {
		case id == idn.Pool && attr == "":
			return Region + "_local", nil
		case id == idn.Pool && attr == "ProviderURL" && c.oidc.Issuer != "":
			return c.oidc.Issuer, nil
		case id == idn.Client && attr == "" && c.oidc.ClientID != "":
			return c.oidc.ClientID, nil
		case id == idn.Domain && attr == "":
			return localLoginDomain, nil
		}
		return "", fmt.Errorf("no local value for %s.%s", id, attr)
	}
}

// bucketName is a valid bucket name made from a logical id.
func bucketName(id string) string { return strings.ToLower(id) }

// startGPUWorker runs the gpuworker binary with the native engine and
// the model's container environment, and waits for /ping.
func (c *Cloud) startGPUWorker(ctx context.Context, cfg Config, ep EndpointSpec) (string, error) {
	bin := filepath.Join(cfg.Bin, "gpuworker")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("gpuworker binary: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := dieWithParent(exec.CommandContext(ctx, bin, "serve", "-addr", addr, "-engine", "native"))
	cmd.Env = append(os.Environ(), "GPUWORKER_CONCURRENCY="+fmt.Sprint(ep.MaxConcurrency), "TMPDIR="+cfg.Work)
	cmd.Stdout, cmd.Stderr = prefixed(cfg.Logs, "gpuworker"), prefixed(cfg.Logs, "gpuworker")
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start gpuworker: %w", err)
	}
	c.closers = append(c.closers, func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("gpuworker did not answer /ping with 200 within 3 minutes")
}

// startProcess runs an emulator that prints "listening on ADDR" first.
func (c *Cloud) startProcess(ctx context.Context, logs io.Writer, name string, cmd *exec.Cmd) (string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = prefixed(logs, name)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	c.closers = append(c.closers, func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		w := prefixed(logs, name)
		for sc.Scan() {
			fmt.Fprintln(w, sc.Text())
		}
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			return "", fmt.Errorf("%s did not start: %q", name, l)
		}
		return addr, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("%s did not report its address within 30s", name)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Close stops everything.
func (c *Cloud) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	for _, f := range c.Functions {
		f.wg.Wait()
	}
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

// Busy reports whether any delivery, batch or segmentation is under way.
func (c *Cloud) Busy() bool { return c.busy.Load() > 0 }

// DeadLetters counts the messages in every dead-letter queue, by logical
// id.
func (c *Cloud) DeadLetters(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	dlq := map[string]bool{}
	for _, q := range c.Model.Queues {
		if q.DLQ != "" {
			dlq[q.DLQ] = true
		}
	}
	for _, f := range c.Model.Functions {
		if f.DLQ != "" {
			dlq[f.DLQ] = true
		}
	}
	for _, r := range c.Model.Rules {
		for _, t := range r.Targets {
			if t.DLQ != "" {
				dlq[t.DLQ] = true
			}
		}
	}
	var errs []error
	for id := range dlq {
		v, nv, err := c.Queues.Depth(ctx, id)
		errs = append(errs, err)
		out[id] = v + nv
	}
	return out, errors.Join(errs...)
}

func createTable(ctx context.Context, db *dynamodb.Client, name string, props map[string]any) error {
	keep := map[string]any{"TableName": name, "BillingMode": "PAY_PER_REQUEST"}
	for _, k := range []string{"KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
		if v, ok := props[k]; ok {
			keep[k] = v
		}
	}
	raw, _ := json.Marshal(keep)
	var in dynamodb.CreateTableInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("table %s from the template: %w", name, err)
	}
	for i := range in.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes[i].ProvisionedThroughput = nil
	}
	if _, err := db.CreateTable(ctx, &in); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}

// prefixed writes each line with "[name] " in front.
func prefixed(w io.Writer, name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "No messages in Queue") {
				continue // goaws's warning on every empty receive
			}
			fmt.Fprintf(w, "[%s] %s\n", name, sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	return pw
}
