// Package gpuworker is the SageMaker inference container around a
// segment.Engine: GET /ping answers 200 once the engine is ready, and POST
// /invocations takes the bytes of a CT (NIfTI .nii or .nii.gz, or a zip of
// one DICOM series, told apart by content and never by Content-Type) and
// answers with the multilabel label map as a gzipped NIfTI.
//
// It follows what SageMaker asynchronous inference expects of a container
// (see the README): port 8080, a response with an explicit Content-Length
// and small headers, errors as a small JSON body (SageMaker stores it at
// the failure path), one request per GPU at a time with the others
// queued, and on SIGTERM a shutdown that lets the request in flight finish.
// It does not fetch from or write to S3 (SageMaker does), know of jobs, or
// retry: a failed invocation fails the job.
//
// The HTTP plumbing is the standard library's; a web framework would bring
// routing this server does not need.
package gpuworker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

const (
	// DefaultMaxBodyBytes is the largest request body accepted when
	// Server.MaxBodyBytes is 0: SageMaker async's payload limit, 1 GB.
	DefaultMaxBodyBytes = 1 << 30

	// DefaultTimeout bounds one invocation when Server.Timeout is 0:
	// SageMaker async's longest InvocationTimeoutSeconds, 3600.
	DefaultTimeout = time.Hour
)

// Server answers the SageMaker container contract. Set its fields before
// the first call to Handler or Serve, and do not copy it afterwards.
//
// A new Server is not ready: /ping answers 503 until SetReady(nil).
type Server struct {
	// Engine segments the requests, Concurrency of them at once (0 means
	// 1). Engines, if not empty, replaces both: one engine per GPU, each
	// used by one request at a time.
	Engine      segment.Engine
	Engines     []segment.Engine
	Concurrency int

	MaxBodyBytes int64         // 0 means DefaultMaxBodyBytes
	Timeout      time.Duration // per invocation, queueing included; 0 means DefaultTimeout
	TempDir      string        // where request bodies are spooled; "" means os.TempDir()
	Logger       *slog.Logger  // nil means slog.Default()

	once     sync.Once
	slots    chan segment.Engine
	ready    atomic.Pointer[error] // nil: starting; *nil: ready; *err: failed
	inflight sync.WaitGroup
	seq      atomic.Int64
}

func (s *Server) init() {
	s.once.Do(func() {
		engines := s.Engines
		if len(engines) == 0 {
			n := max(s.Concurrency, 1)
			for range n {
				engines = append(engines, s.Engine)
			}
		}
		s.slots = make(chan segment.Engine, len(engines))
		for _, e := range engines {
			s.slots <- e
		}
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// SetReady records whether the engine is ready: nil makes /ping answer
// 200, an error makes it answer 503 with the error.
func (s *Server) SetReady(err error) { s.ready.Store(&err) }

// Handler returns the HTTP handler: GET /ping and POST /invocations.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", s.ping)
	mux.HandleFunc("POST /invocations", s.invoke)
	return mux
}

// Serve answers on ln until ctx is done, then stops accepting, waits up to
// grace for the requests in flight, cancels those still running (which
// kills their engine subprocesses) and returns once they have answered.
// SageMaker sends SIGKILL 30 s after SIGTERM, so grace should stay under
// that.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	hs := &http.Server{
		Handler:           s.Handler(),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.logger().Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		s.logger().Warn("grace period over; cancelling the invocations in flight")
		cancelBase()
		done := make(chan struct{})
		go func() { s.inflight.Wait(); close(done) }()
		select {
		case <-done:
			// The handlers have returned, but net/http may still be writing
			// their answers: wait for the connections to go idle before
			// closing them.
			idle, cancelIdle := context.WithTimeout(context.Background(), 2*time.Second)
			_ = hs.Shutdown(idle)
			cancelIdle()
		case <-time.After(3 * time.Second):
		}
		hs.Close()
	}
	<-served
	return err
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	p := s.ready.Load()
	switch {
	case p == nil:
		writeError(w, http.StatusServiceUnavailable, "starting", "the engine is warming up")
	case *p != nil:
		writeError(w, http.StatusServiceUnavailable, "not_ready", (*p).Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// errTimeout is the cause of an invocation stopped by Server.Timeout.
var errTimeout = errors.New("invocation timeout")

func (s *Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

// failure is an error answered with an HTTP status and a stable code.
type failure struct {
	status int
	code   string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	start := time.Now()
	log := s.logger().With("invocation", s.seq.Add(1))
	ctx, cancel := context.WithTimeoutCause(r.Context(), s.timeout(), errTimeout)
	defer cancel()

	body, stats, err := s.segment(ctx, w, r, log)
	if err != nil {
		var f *failure
		if !errors.As(err, &f) {
			f = &failure{http.StatusInternalServerError, "internal", err}
		}
		log.Error("invocation failed", append(stats, "status", f.status, "code", f.code, "error", err.Error(),
			"seconds", time.Since(start).Seconds())...)
		writeError(w, f.status, f.code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		log.Warn("writing the response", "error", err.Error())
	}
	log.Info("invocation done", append(stats, "status", http.StatusOK, "response_bytes", len(body),
		"seconds", time.Since(start).Seconds())...)
}

// segment reads the request, waits for an engine, and returns the encoded
// label map and log attributes describing the run.
func (s *Server) segment(ctx context.Context, w http.ResponseWriter, r *http.Request, log *slog.Logger) ([]byte, []any, error) {
	f, size, err := s.spool(w, r)
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	stats := []any{"request_bytes", size, "content_type", r.Header.Get("Content-Type")}

	queued := time.Now()
	var engine segment.Engine
	select {
	case engine = <-s.slots:
	case <-ctx.Done():
		return nil, stats, s.stopped(ctx, "while queued for the engine")
	}
	defer func() { s.slots <- engine }()
	stats = append(stats, "queued_seconds", time.Since(queued).Seconds())

	sc, err := scan.Read(ctx, f, size, scan.Options{})
	if err != nil {
		if ctx.Err() != nil {
			return nil, stats, s.stopped(ctx, "while reading the input")
		}
		return nil, stats, inputFailure(err)
	}
	ct := sc.CT
	stats = append(stats, "format", sc.Format, "dims", ct.Dims, "spacing", ct.Spacing())
	log.Info("segmenting", append(stats, "engine", engine.Name())...)

	began := time.Now()
	lm, report, err := segmentWith(ctx, engine, ct)
	stats = append(stats, "engine", engine.Name(), "segment_seconds", time.Since(began).Seconds())
	if report != nil {
		stats = append(stats, "engine_report", report)
	}
	switch {
	case err == nil:
	case errors.Is(err, segment.ErrNotCT):
		return nil, stats, &failure{http.StatusUnprocessableEntity, "not_ct", err}
	case ctx.Err() != nil:
		return nil, stats, s.stopped(ctx, fmt.Sprintf("while the %s engine ran: %v", engine.Name(), err))
	default:
		return nil, stats, &failure{http.StatusInternalServerError, "segmentation_failed", err}
	}
	if lm.Grid != ct.Grid || len(lm.Data) != ct.Len() {
		return nil, stats, &failure{http.StatusInternalServerError, "segmentation_failed",
			fmt.Errorf("the %s engine returned a label map of dims %v on another grid than the input's %v", engine.Name(), lm.Dims, ct.Dims)}
	}
	var buf bytes.Buffer
	if err := volume.WriteLabelMap(&buf, lm); err != nil {
		return nil, stats, err
	}
	return buf.Bytes(), stats, nil
}

// reporter is an engine that also returns its run report.
type reporter interface {
	SegmentWithReport(context.Context, *volume.CT) (*volume.LabelMap, segment.Report, error)
}

func segmentWith(ctx context.Context, e segment.Engine, ct *volume.CT) (*volume.LabelMap, segment.Report, error) {
	if r, ok := e.(reporter); ok {
		return r.SegmentWithReport(ctx, ct)
	}
	lm, err := e.Segment(ctx, ct)
	return lm, nil, err
}

// spool copies the request body to a temporary file, so that a 1 GB upload
// costs disk rather than memory, and scan.Read gets the io.ReaderAt a zip
// needs.
func (s *Server) spool(w http.ResponseWriter, r *http.Request) (*os.File, int64, error) {
	limit := s.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, 0, tooLarge(r.ContentLength, limit)
	}
	f, err := os.CreateTemp(s.TempDir, "iris-invocation-*")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit))
	if err == nil && n == 0 {
		err = &failure{http.StatusBadRequest, "empty_body", errors.New("the request body is empty: send the bytes of a NIfTI file or of a zip of a DICOM series")}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = tooLarge(-1, limit)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		var fl *failure
		if !errors.As(err, &fl) {
			err = &failure{http.StatusBadRequest, "bad_body", fmt.Errorf("reading the request body: %w", err)}
		}
		return nil, 0, err
	}
	return f, n, nil
}

func tooLarge(size, limit int64) error {
	what := "the request body is"
	if size >= 0 {
		what = fmt.Sprintf("the request body of %d bytes is", size)
	}
	return &failure{http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("%s larger than the limit of %d bytes", what, limit)}
}

// stopped explains an invocation stopped by its timeout or by the client
// or server going away.
func (s *Server) stopped(ctx context.Context, where string) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errTimeout) {
		return &failure{http.StatusGatewayTimeout, "timeout", fmt.Errorf("the invocation ran past its %v timeout %s", s.timeout(), where)}
	}
	return &failure{http.StatusServiceUnavailable, "cancelled", fmt.Errorf("the invocation was cancelled (%v) %s", cause, where)}
}

// inputCodes maps input errors to statuses and codes: 400 for bytes that
// cannot be read, 413 for too much, 422 for a readable input that is not
// a usable CT.
var inputCodes = []struct {
	err    error
	status int
	code   string
}{
	{scan.ErrUnknownFormat, http.StatusBadRequest, "unknown_format"},
	{dicom.ErrNotDICOM, http.StatusBadRequest, "not_dicom"},
	{dicom.ErrUnsafeZip, http.StatusBadRequest, "unsafe_zip"},
	{dicom.ErrCorrupt, http.StatusBadRequest, "corrupt_dicom"},
	{dicom.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{dicom.ErrNoCTSeries, http.StatusUnprocessableEntity, "no_ct_series"},
	{dicom.ErrTooFewSlices, http.StatusUnprocessableEntity, "too_few_slices"},
	{dicom.ErrMixedGeometry, http.StatusUnprocessableEntity, "mixed_geometry"},
	{dicom.ErrUnsupportedSyntax, http.StatusUnprocessableEntity, "unsupported_transfer_syntax"},
	{dicom.ErrUnsupportedImage, http.StatusUnprocessableEntity, "unsupported_image"},
	{dicom.ErrGantryTilt, http.StatusUnprocessableEntity, "gantry_tilt"},
	{dicom.ErrIrregularSpacing, http.StatusUnprocessableEntity, "irregular_spacing"},
	{dicom.ErrDuplicateSlices, http.StatusUnprocessableEntity, "duplicate_slices"},
	{segment.ErrNotCT, http.StatusUnprocessableEntity, "not_ct"},
}

func inputFailure(err error) error {
	for _, c := range inputCodes {
		if errors.Is(err, c.err) {
			return &failure{c.status, c.code, err}
		}
	}
	// What is left are NIfTI read errors (truncated, corrupt, unsupported
	// datatype, too large for volume.DefaultMaxBytes).
	return &failure{http.StatusBadRequest, "invalid_input", err}
}

// maxMessage bounds the error message in a response body, which SageMaker
// stores as the failure object.
const maxMessage = 8 << 10

func writeError(w http.ResponseWriter, status int, code, message string) {
	if len(message) > maxMessage {
		message = message[:maxMessage] + "…"
	}
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error detail `json:"error"`
	}{detail{code, message}})
}

// writeJSON answers with v and an explicit Content-Length: SageMaker
// refuses chunked responses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
