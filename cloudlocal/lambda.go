package cloudlocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FunctionError is a function's failed invocation: what the Runtime API
// received on /error, or what Lambda reports when the process died or ran
// past its timeout.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Function is one Lambda function: its processes (execution
// environments) each poll a Runtime API served on a loopback port of
// their own, so a dead or stuck process is tied to the invocation it
// held.
type Function struct {
	Spec *FunctionSpec
	arn  string
	bin  string
	env  []string
	log  *slog.Logger
	out  io.Writer
	tmp  string

	queue chan *invocation
	wg    sync.WaitGroup
	crash atomic.Int64 // invocations still to crash their environment
	stats struct {
		sync.Mutex
		invocations, errors, restarts int
	}
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result
	once     sync.Once
}

type result struct {
	payload []byte
	err     *FunctionError
}

func (inv *invocation) finish(r result) { inv.once.Do(func() { inv.done <- r }) }

// Crash makes the next n invocations kill the execution environment that
// takes them, as an out-of-memory kill does: the invocation fails with
// Runtime.ExitError and a new environment starts. It is the fault
// injection of the failure scenarios.
func (f *Function) Crash(n int) { f.crash.Add(int64(n)) }

// Stats are a function's counters.
type Stats struct{ Invocations, Errors, Restarts int }

// Stats reports f's counters.
func (f *Function) Stats() Stats {
	f.stats.Lock()
	defer f.stats.Unlock()
	return Stats{f.stats.invocations, f.stats.errors, f.stats.restarts}
}

// Invoke runs one synchronous invocation and returns the response, or the
// function's error. It waits for a free execution environment.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	inv := &invocation{id: newID(), payload: payload, done: make(chan result, 1)}
	select {
	case f.queue <- inv:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-inv.done // every taken invocation is finished: response, error, crash or timeout
	f.stats.Lock()
	f.stats.invocations++
	if r.err != nil {
		f.stats.errors++
	}
	f.stats.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	return r.payload, nil
}

// start runs n execution environments until ctx ends.
func (f *Function) start(ctx context.Context, n int) error {
	if _, err := os.Stat(f.bin); err != nil {
		return fmt.Errorf("function %s: %w", f.Spec.Name, err)
	}
	for i := range n {
		env := &environment{f: f, n: i, current: make(chan *invocation, 1)}
		if err := env.listen(); err != nil {
			return err
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			env.run(ctx)
		}()
	}
	return nil
}

// environment is one execution environment: a process of the function's
// binary and the Runtime API it polls.
type environment struct {
	f       *Function
	n       int
	ln      net.Listener
	mu      sync.Mutex
	held    *invocation // taken by the process, not yet answered
	kill    func()      // ends the running process
	current chan *invocation
}

func (e *environment) listen() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.ln = ln
	return nil
}

// run serves the Runtime API and keeps a process running until ctx ends.
func (e *environment) run(ctx context.Context) {
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(e.ln)
	defer srv.Close()
	tmp := filepath.Join(e.f.tmp, fmt.Sprintf("%s-%d", e.f.Spec.Name, e.n))
	for ctx.Err() == nil {
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			e.f.log.Error("lambda: tmp", "function", e.f.Spec.Name, "err", err)
			return
		}
		procCtx, kill := context.WithCancel(ctx)
		e.mu.Lock()
		e.kill = kill
		e.mu.Unlock()
		cmd := dieWithParent(exec.CommandContext(procCtx, e.f.bin))
		cmd.Env = append(append([]string{}, e.f.env...), "AWS_LAMBDA_RUNTIME_API="+e.ln.Addr().String(), "TMPDIR="+tmp,
			"AWS_LAMBDA_LOG_STREAM_NAME="+fmt.Sprintf("env-%d", e.n))
		cmd.Stdout, cmd.Stderr = e.f.out, e.f.out
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			kill()
			e.f.log.Error("lambda: start", "function", e.f.Spec.Name, "err", err)
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var why *FunctionError
	watch:
		for {
			e.mu.Lock()
			held := e.held
			e.mu.Unlock()
			var timer <-chan time.Time
			if held != nil {
				timer = time.After(time.Until(held.deadline))
			}
			select {
			case err := <-exited:
				why = &FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("RequestId: %s Error: Runtime exited: %v", idOf(held), err)}
				break watch
			case <-timer:
				why = &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", idOf(held), e.f.Spec.Timeout.Seconds())}
				kill()
				<-exited
				break watch
			case <-time.After(250 * time.Millisecond): // re-read held
			}
		}
		kill()
		e.mu.Lock()
		held := e.held
		e.held = nil
		e.mu.Unlock()
		if held != nil {
			held.finish(result{err: why})
		}
		if ctx.Err() != nil {
			return
		}
		e.f.stats.Lock()
		e.f.stats.restarts++
		e.f.stats.Unlock()
		e.f.log.Warn("lambda: execution environment ended; starting a new one", "function", e.f.Spec.Name, "why", why.Message)
	}
}

func idOf(inv *invocation) string {
	if inv == nil {
		return "-"
	}
	return inv.id
}

// ServeHTTP is the Lambda Runtime API (2018-06-01): next, response,
// error, init/error.
func (e *environment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, "/2018-06-01/runtime/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && p == "invocation/next":
		var inv *invocation
		select {
		case inv = <-e.f.queue:
		case <-r.Context().Done():
			return
		}
		inv.deadline = time.Now().Add(e.f.Spec.Timeout)
		e.mu.Lock()
		e.held = inv
		e.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", e.f.arn)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+newID()[:8]+"-"+newID()[:24]+";Sampled=0")
		h.Set("Content-Type", "application/json")
		w.Write(inv.payload)
		if e.f.crash.Add(-1) >= 0 {
			e.mu.Lock()
			kill := e.kill
			e.mu.Unlock()
			if kill != nil {
				go kill()
			}
		} else {
			e.f.crash.Add(1)
		}
	case r.Method == http.MethodPost && strings.HasPrefix(p, "invocation/"):
		id, kind, _ := strings.Cut(strings.TrimPrefix(p, "invocation/"), "/")
		body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		held := e.held
		if held != nil && held.id == id {
			e.held = nil
		}
		e.mu.Unlock()
		if held == nil || held.id != id {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"errorType":"InvalidRequestID","errorMessage":"unknown request id %s"}`, id)
			return
		}
		switch kind {
		case "response":
			if len(body) > 6<<20 {
				held.finish(result{err: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "response payload over 6 MB"}})
			} else {
				held.finish(result{payload: body})
			}
		case "error":
			fe := &FunctionError{}
			if json.Unmarshal(body, fe) != nil || fe.Type == "" {
				fe = &FunctionError{Type: r.Header.Get("Lambda-Runtime-Function-Error-Type"), Message: string(body)}
			}
			held.finish(result{err: fe})
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"OK"}`))
	case r.Method == http.MethodPost && p == "init/error":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		e.f.log.Error("lambda: init error", "function", e.f.Spec.Name, "body", string(body))
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"OK"}`))
	default:
		http.NotFound(w, r)
	}
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// errAsync says an asynchronous invocation failed every try.
var errAsync = errors.New("asynchronous invocation failed every try")
