package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/local"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/timing"
)

// localBucket names the bucket in local events, as an S3 bucket name would.
const localBucket = "iris-local"

// localOwner owns every job of a local install without --token.
const localOwner = "local"

type serveConfig struct {
	data, addr, engine, token string
	public                    bool
	oidc                      local.OIDCConfig
	settle, sweepEvery        time.Duration
	segmentTimeout            time.Duration
	hosts                     string        // --host: names beyond loopback the server answers to
	idleTimeout               time.Duration // --idle-timeout
	largeUpload               int64

	// Set by tests only, never by a flag: how long a failed mesh message
	// waits before its next try (0: timing.RetryBackoff), and a wrapper of
	// the mesher's view of the bucket, to inject faults.
	meshBackoff     time.Duration
	meshBlobsFaults func(ports.Blobs) ports.Blobs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris serve [--data DIR] [--addr 127.0.0.1:8080] [--engine native|totalseg-fast|totalsegmentator|http://host:port] [--token SECRET]")
		fs.PrintDefaults()
	}
	var c serveConfig
	fs.StringVar(&c.data, "data", "iris-data", "data folder: bucket/ (drop scans into bucket/uploads/) and iris.db")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.engine, "engine", "native", "segmentation engine: native, totalseg-fast, totalsegmentator, or the URL of a running gpuworker")
	fs.StringVar(&c.token, "token", "", "require this bearer token on the API (needed with --public)")
	fs.BoolVar(&c.public, "public", false, "allow listening beyond loopback")
	fs.StringVar(&c.oidc.Issuer, "oidc-issuer", "", "sign in with this OpenID Connect provider: bearer tokens are checked against its JWKS, the owner is the token's sub")
	fs.StringVar(&c.oidc.Audience, "oidc-audience", "", "with --oidc-issuer: the audience tokens must carry (aud, or client_id)")
	fs.StringVar(&c.oidc.ClientID, "oidc-client-id", "", "with --oidc-issuer: the web app's client id (default: --oidc-audience)")
	fs.StringVar(&c.oidc.Scope, "oidc-scope", "", "with --oidc-issuer: the scopes the web app asks for (default \"openid profile email\")")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "how long a dropped file must stay unchanged before it is taken (a dropped folder: twice as long)")
	fs.DurationVar(&c.sweepEvery, "sweep", time.Minute, "how often stuck jobs are looked for")
	fs.DurationVar(&c.segmentTimeout, "segment-timeout", 30*time.Minute, "give up a segmentation after this long")
	fs.StringVar(&c.hosts, "host", "", "comma-separated host names the server answers to besides localhost and IP addresses (the public name with --public)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", time.Minute, "close a keep-alive connection idle this long")
	fs.Int64Var(&c.largeUpload, "large-upload", 0, "uploads over this many bytes are ingested apart, so small ones never wait behind them (0: from the machine's memory)")
	if _, err := parseArgs(fs, args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := checkAddr(c.addr, c.public, c.token+c.oidc.Issuer); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := checkOIDC(c); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := checkToken(c.token); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	engine, err := serveEngine(c.engine, c.segmentTimeout)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logNNUNet(engine, log)
	return serve(ctx, c, engine, log, stdout)
}

func serveEngine(name string, timeout time.Duration) (segment.Engine, error) {
	if strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		return segment.Remote{URL: name}, nil
	}
	e, err := newEngine(name, false, "", timeout)
	if err != nil {
		return nil, err
	}
	if ts, ok := e.(*segment.TotalSegmentator); ok {
		if err := ts.Available(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// checkAddr keeps the server on loopback unless asked, and never serves
// beyond it without a token.
func checkAddr(addr string, public bool, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()
	switch {
	case !loopback && !public:
		return fmt.Errorf("--addr %s is beyond loopback: add --public (and --token or --oidc-issuer) to serve other machines", addr)
	case !loopback && token == "":
		return errors.New("--public needs --token or --oidc-issuer: scans are patient data")
	}
	return nil
}

// checkOIDC wants an audience with an issuer, and one way of signing in.
func checkOIDC(c serveConfig) error {
	o := c.oidc
	switch {
	case o.Issuer == "" && (o.Audience != "" || o.ClientID != "" || o.Scope != ""):
		return errors.New("--oidc-audience, --oidc-client-id and --oidc-scope need --oidc-issuer")
	case o.Issuer != "" && o.Audience == "":
		return errors.New("--oidc-issuer needs --oidc-audience (the client id, or the API's audience)")
	case o.Issuer != "" && c.token != "":
		return errors.New("--token and --oidc-issuer are two ways of signing in: choose one")
	}
	return nil
}

// serve wires the local adapters to the pipeline stages and runs them and
// the HTTP server until ctx ends, then drains.
func serve(ctx context.Context, c serveConfig, engine segment.Engine, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(c.data, 0o755); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	unlock, exclusive, err := lockData(c.data)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := local.Open(filepath.Join(c.data, "iris.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if exclusive {
		// Whatever is claimed now was claimed by a server that died; its
		// claims would hold the work back for up to a segmentation's
		// visibility timeout.
		n, err := db.ReleaseClaims(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("resuming work left in flight by the last run", "messages", n)
		}
	}
	store := db.Store()
	bus, err := local.NewBus(db, localBucket, nil)
	if err != nil {
		return err
	}
	blobs, err := local.NewDirBlobs(filepath.Join(c.data, "bucket"), localBucket, bus)
	if err != nil {
		return err
	}
	blobs.Fault = faultHook(os.Getenv("IRIS_FAULT"))
	tmp := filepath.Join(c.data, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if exclusive {
		if err := recoverWork(ctx, blobs, store, tmp, log); err != nil {
			return err
		}
	}
	jobsQueue := db.Queue("jobs")
	segmenter := &local.Segmenter{Blobs: blobs, Queue: db.Queue("segment"), Engine: engine, Timeout: c.segmentTimeout, Log: log}
	// The limits derive from this machine's memory; the pool lets a small
	// upload run beside a large one while the large one waits for memory.
	pool := limits.NewPool(limits.Machine())
	groupsQueue, largeQueue := db.Queue("ingest-groups"), db.Queue("ingest-large")
	if c.largeUpload <= 0 {
		c.largeUpload = pool.Limits().Large
	}
	ingest := &pipeline.Ingest{Blobs: blobs, Bus: bus, Queue: jobsQueue, Log: log, TempDir: tmp,
		Groups: groupsQueue, Settle: 2 * c.settle, Pool: pool, Large: largeQueue, LargeBytes: c.largeUpload}
	bus.Workers = map[string]int{events.TargetIngest: 2} // small uploads; large ones have their lane
	dispatch := &pipeline.Dispatch{Store: store, Blobs: blobs, Segmenter: segmenter, Bus: bus, Log: log, MaxAttempts: jobsQueue.MaxReceives}
	// The mesher consumes a queue of its own, as on AWS (an EventBridge
	// rule with an SQS target): the same attempts, the same backoff, the
	// same give-up with mesh_failed, and nothing dead-lettered.
	meshQueue := db.Queue("mesh")
	meshQueue.MaxReceives = timing.Attempts
	var meshBlobs ports.Blobs = blobs
	if c.meshBlobsFaults != nil {
		meshBlobs = c.meshBlobsFaults(blobs)
	}
	mesher := &pipeline.Mesher{Store: store, Blobs: meshBlobs, Bus: bus, Log: log, Mesh: meshOptions(), Generator: "iris serve", TempDir: tmp,
		MaxAttempts: meshQueue.MaxReceives}
	meshBackoff := c.meshBackoff
	if meshBackoff <= 0 {
		meshBackoff = timing.RetryBackoff
	}
	status := &pipeline.Status{Store: store, Blobs: blobs, Log: log, DropOwner: localOwner}
	if c.oidc.Issuer != "" {
		// Signed-in users are token subjects: dropped files belong to no
		// one of them, as on AWS (infra.DropOwner), not to a user whose
		// sub happens to be "local".
		status.DropOwner = "bucket-drop"
	}
	for target, h := range map[string]local.EventHandler{
		events.TargetIngest: ingest.Handle, events.TargetMesher: meshQueue.EventTarget(), events.TargetStatus: status.Handle,
	} {
		if err := bus.Handle(target, h); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	base := "http://" + ln.Addr().String()
	secret, err := local.LoadSecret(filepath.Join(c.data, "signing.key"))
	if err != nil {
		return err
	}
	signer, err := local.NewURLSigner("", secret)
	if err != nil {
		return err
	}
	signer.Allowed, signer.Log = uploadAllowed(store), log
	mux := http.NewServeMux()
	var handler http.Handler = mux
	ownerOf, webConfig := owner(c.token), local.ConfigHandler(local.WebConfig{})
	if c.oidc.Issuer != "" {
		o, err := local.NewOIDC(ctx, c.oidc)
		if err != nil {
			return err
		}
		ownerOf, webConfig, handler = o.Owner, o.ConfigHandler(), connectTo(mux, c.oidc.Issuer)
	}
	apiServer := &api.Server{Store: store, Blobs: blobs, Signer: signer, Owner: ownerOf, Log: log, MaxUploadBytes: pool.Limits().Upload,
		Exports: meshQueue, // print exports are mesh runs, as on AWS
		Health: func(ctx context.Context) map[string]error {
			_, _, err := store.List(ctx, localOwner, 1, "")
			_, berr := blobs.List(ctx, events.PrefixUploads)
			return map[string]error{"store": err, "bucket": berr, "engine": engineReady(engine)}
		}}
	mux.Handle("/config.json", webConfig)
	mux.Handle("/api/", apiServer.Handler())
	mux.Handle(local.BlobPath, signer.Handler(blobs))
	mux.Handle("/", webHandler())
	srv := newHTTPServer(guard(handler, hostNames(c.hosts), log), c.idleTimeout)

	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	workers := []func(context.Context) error{
		bus.Run,
		segmenter.Run,
		func(ctx context.Context) error {
			// With a backoff, a request that overtook its job's record (a
			// dropped file's is made by the status stage) is retried in a
			// second, not when its 5-minute claim runs out.
			jc := &local.Consumer{Queue: jobsQueue, Batch: 4, Visibility: 5 * time.Minute, Handler: dispatch.HandleBatch, Backoff: retryBackoff}
			return jc.Run(ctx)
		},
		func(ctx context.Context) error {
			mc := &local.Consumer{Queue: meshQueue, Batch: 1, Visibility: time.Minute, Handler: mesher.HandleBatch,
				Backoff: func(int) time.Duration { return meshBackoff }}
			return mc.Run(ctx)
		},
		func(ctx context.Context) error { return local.Watch(ctx, blobs, c.settle) },
		func(ctx context.Context) error {
			// Folders and large uploads: as many at once as there are
			// workers, each waiting for its memory in the pool.
			var g errgroup.Group
			for range pool.Limits().Workers {
				g.Go(func() error {
					return (&local.Consumer{Queue: groupsQueue, Batch: 1, Visibility: 5 * time.Minute, Handler: ingest.HandleGroupBatch, Backoff: retryBackoff}).Run(ctx)
				})
				g.Go(func() error {
					return (&local.Consumer{Queue: largeQueue, Batch: 1, Visibility: 5 * time.Minute, Handler: ingest.HandleLargeBatch, Backoff: retryBackoff}).Run(ctx)
				})
			}
			return g.Wait()
		},
		func(ctx context.Context) error { return sweep(ctx, status, c.sweepEvery, log) },
	}
	done := make(chan error, len(workers))
	for _, w := range workers {
		go func() { done <- w(runCtx) }()
	}
	// The server's end has a channel of its own: counted among the
	// workers', it would let serve return while a stage is still at work.
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintf(stdout, "IRIS Oculus is running at %s/\n", base)
	fmt.Fprintf(stdout, "  drop scans into %s\n", filepath.Join(blobs.Root(), "uploads"))
	fmt.Fprintf(stdout, "  engine: %s; data: %s; Ctrl-C stops (work in progress resumes on restart)\n", engine.Name(), c.data)

	var failure error
	running := len(workers)
	select {
	case <-ctx.Done():
		log.Info("stopping: finishing the work in hand")
	case failure = <-done:
		running--
		log.Error("a component stopped", "err", failure)
	case failure = <-served:
		log.Error("the HTTP server stopped", "err", failure)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	stop()
	for range running {
		select {
		case <-done:
		case <-shutdownCtx.Done():
			return errors.New("stop: timed out waiting for work in progress; it resumes on restart")
		}
	}
	if failure != nil && !errors.Is(failure, http.ErrServerClosed) && !errors.Is(failure, context.Canceled) {
		return failure
	}
	return nil
}

// connectTo lets the web app's scripts reach the OIDC provider (its
// discovery document, keys and token endpoint) past the front door's
// Content-Security-Policy, which guard sets before h runs.
func connectTo(h http.Handler, issuer string) http.Handler {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return h
	}
	origin := u.Scheme + "://" + u.Host
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if csp := w.Header().Get("Content-Security-Policy"); csp != "" {
			w.Header().Set("Content-Security-Policy", strings.Replace(csp, "connect-src 'self'", "connect-src 'self' "+origin, 1))
		}
		h.ServeHTTP(w, r)
	})
}

// owner is the local identity: one fixed owner, behind a bearer token when
// one is set.
func owner(token string) api.OwnerFunc {
	if token == "" {
		return api.FixedOwner(localOwner)
	}
	return func(r *http.Request) (string, error) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "", errors.New("missing or wrong token")
		}
		return localOwner, nil
	}
}

func engineReady(e segment.Engine) error {
	if ts, ok := e.(*segment.TotalSegmentator); ok {
		return ts.Available()
	}
	return nil
}

// meshOptions leaves one core to the API and the other stages where there
// are more than two: meshing organs on every core made each poll wait for
// a turn (p50 of GET /api/jobs/{id} 12 ms instead of 1.5 ms on 2 cores,
// bench/serve, before the job answer cache) and finished no more jobs,
// since segmenting and meshing overlap. On two cores it takes both: one
// worker left a 512×512×300 CT's body and skeleton to mesh one after the
// other, 2.5 s of a CT's 21 s (bench/serve/ctdone.sh, 3 pairs,
// 2026-12-06), while the API's back-to-back p99 with 200 pollers stayed
// under 100 ms either way (48 ms with one worker, 62 ms with two).
func meshOptions() mesh.Options {
	o := mesh.DefaultOptions()
	o.Workers = max(runtime.GOMAXPROCS(0)-1, 2)
	return o
}

// retryBackoff is how long a failed jobs-queue message waits before its
// next try: 1 s after the first receive, doubling up to a minute.
func retryBackoff(receives int) time.Duration {
	return min(time.Second<<min(max(receives-1, 0), 6), time.Minute)
}

// sweep fails stuck jobs now and then, as the scheduled rule does on AWS.
func sweep(ctx context.Context, status *pipeline.Status, every time.Duration, log *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := status.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Error("sweep", "err", err)
		} else if n > 0 {
			log.Warn("sweep failed stuck jobs", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
