// Command gpuworker is the SageMaker inference container's entry point.
// SageMaker starts the image as `docker run IMAGE serve`; the image's
// ENTRYPOINT is this binary, so it runs `gpuworker serve`.
//
//	gpuworker serve [flags]
//
// It listens at once (SageMaker wants a connection within 250 ms), warms the
// engine up in the background (GET /ping answers 503 until that succeeds),
// logs JSON to stderr, and on SIGTERM or SIGINT stops accepting and lets
// the invocation in flight finish (see gpuworker.Server.Serve).
//
// Every flag can also be set from the environment as GPUWORKER_<FLAG>,
// upper case with '-' as '_' (GPUWORKER_ENGINE=native); a flag given on the
// command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iris-oculus/iris/gpuworker"
	"github.com/iris-oculus/iris/internal/nnunet"
	"github.com/iris-oculus/iris/internal/segment"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gpuworker:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		return errors.New("usage: gpuworker serve [flags] (run `gpuworker serve -h` for the flags)")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8080", "listen address (SageMaker requires port 8080)")
	engineName := fs.String("engine", "totalsegmentator", "segmentation engine: totalsegmentator, totalseg-fast (TotalSegmentator's --fast network in Go, on the CPU) or native")
	concurrency := fs.Int("concurrency", 1, "invocations segmented at once, the others queue; with totalsegmentator and no -device, invocation slot i runs on gpu:i, so set it to the number of GPUs")
	command := fs.String("totalseg-command", "TotalSegmentator", "totalsegmentator: the executable")
	fast := fs.Bool("fast", false, "totalsegmentator: the 3 mm model (--fast)")
	device := fs.String("device", "", "totalsegmentator: --device for every slot (gpu, gpu:N, cpu); empty means gpu:i per slot")
	maxBody := fs.Int64("max-body", gpuworker.DefaultMaxBodyBytes, "largest request body in bytes")
	timeout := fs.Duration("timeout", gpuworker.DefaultTimeout, "per invocation, queueing included (keep it at most the endpoint's InvocationTimeoutSeconds)")
	grace := fs.Duration("grace", 25*time.Second, "on SIGTERM, how long the invocations in flight may finish (SageMaker kills after 30 s)")
	warmup := fs.Bool("warmup", true, "run the engine once on a synthetic CT before /ping answers 200")
	tmp := fs.String("tmp", "", "folder for request bodies and engine runs (default $TMPDIR or /tmp)")
	if err := fromEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *concurrency < 1 {
		return fmt.Errorf("-concurrency %d: want at least 1", *concurrency)
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	engines, err := newEngines(*engineName, *concurrency, *command, *fast, *device, *tmp)
	if err != nil {
		return err
	}
	srv := &gpuworker.Server{Engines: engines, MaxBodyBytes: *maxBody, Timeout: *timeout, TempDir: *tmp, Logger: log}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "engine", *engineName, "concurrency", *concurrency,
		"max_body", *maxBody, "timeout", timeout.String())
	go warm(ctx, srv, engines, *warmup, log)
	if err := srv.Serve(ctx, ln, *grace); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// fromEnv sets each flag from GPUWORKER_<NAME> where that is set.
func fromEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		key := "GPUWORKER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", key, v, e)
			}
		}
	})
	return err
}

func newEngines(name string, n int, command string, fast bool, device, tmp string) ([]segment.Engine, error) {
	engines := make([]segment.Engine, n)
	// one Go network shared by every slot: it is safe for concurrent use and
	// its weights are loaded (downloaded at the warm-up) once
	shared := &nnunet.Engine{Weights: nnunet.WeightsOptions{Download: true}}
	for i := range engines {
		switch name {
		case nnunet.EngineName:
			engines[i] = shared
		case "native":
			engines[i] = segment.Native{}
		case "totalsegmentator":
			d := device
			if d == "" && n > 1 {
				d = fmt.Sprintf("gpu:%d", i)
			}
			engines[i] = &segment.TotalSegmentator{Command: command, Fast: fast, Device: d, TempDir: tmp}
		default:
			return nil, fmt.Errorf("-engine %q: want totalsegmentator, %s or native", name, nnunet.EngineName)
		}
	}
	return engines, nil
}

// warm marks the server ready once every engine has run on the phantom,
// the GPUs in parallel.
func warm(ctx context.Context, srv *gpuworker.Server, engines []segment.Engine, run bool, log *slog.Logger) {
	if !run {
		srv.SetReady(nil)
		log.Info("ready", "warmup", false)
		return
	}
	start := time.Now()
	errs := make([]error, len(engines))
	var wg sync.WaitGroup
	for i, e := range engines {
		wg.Go(func() { errs[i] = gpuworker.Warmup(ctx, e) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	srv.SetReady(err)
	if err != nil {
		log.Error("warm-up failed; /ping answers 503", "error", err.Error(), "seconds", time.Since(start).Seconds())
		return
	}
	log.Info("ready", "warmup", true, "seconds", time.Since(start).Seconds())
}
