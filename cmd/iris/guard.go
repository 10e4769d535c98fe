package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/local"
	"github.com/iris-oculus/iris/internal/ports"
)

// minTokenLen is the shortest --token accepted: a bearer token is the only
// lock on patient data beyond loopback.
const minTokenLen = 16

// checkToken refuses a token that is blank or short, whether or not the
// server is public: a token that is set is meant to protect.
func checkToken(token string) error {
	if token == "" {
		return nil
	}
	if strings.TrimSpace(token) != token || len(token) < minTokenLen {
		return fmt.Errorf("--token must be at least %d characters, with no spaces around it (try: openssl rand -hex 24)", minTokenLen)
	}
	return nil
}

// hostNames parses --host: the names the server answers to beyond the
// loopback names and IP literals.
func hostNames(list string) []string {
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			names = append(names, strings.TrimSuffix(n, "."))
		}
	}
	return names
}

// hostAllowed reports whether a request's Host names this server: an IP
// literal (DNS rebinding needs a name the attacker controls), "localhost",
// or one of names.
func hostAllowed(hostport string, names []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, n := range names {
		if host == n {
			return true
		}
	}
	return false
}

// securityHeaders are on every answer: the web app loads only its own
// scripts, styles, images and workers, talks only to its origin, and may
// not be framed; links (signed URLs) are not sent as referrers.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self' blob: data:; " +
		"object-src 'none'; base-uri 'none'; " +
		"form-action 'self'; frame-ancestors 'none'",
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
}

// guard is the server's front door: it refuses a Host it does not answer
// to (DNS rebinding), sets the security headers, and refuses cross-origin
// browser requests that change state (Sec-Fetch-Site, Origin), which a
// browser sends without a preflight when they are "simple" (a text/plain
// POST).
func guard(next http.Handler, names []string, log *slog.Logger) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Warn("refused a cross-origin request", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		jsonError(w, http.StatusForbidden, "cross_origin", "requests from other sites are refused")
	}))
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if !hostAllowed(r.Host, names) {
			log.Warn("refused a request for another host", "host", r.Host, "path", r.URL.Path)
			jsonError(w, http.StatusMisdirectedRequest, "bad_host",
				"this server does not answer to that host name; start it with --host NAME to allow a name")
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			// Even a safe method: another site (or another port of
			// localhost) reads nothing, downloads nothing.
			if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, local.BlobPath) && r.Method != http.MethodGet && r.Method != http.MethodHead {
				jsonError(w, http.StatusForbidden, "cross_origin", "requests from other sites are refused")
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
}

func jsonError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", errCode, msg)
}

// Server timeouts. An API request is small and quick; the signed blob
// routes move their own deadlines while a transfer keeps its minimum rate
// (local.URLSigner), so a large upload is not cut and a trickle is.
const (
	readHeaderTimeout = 10 * time.Second
	requestTimeout    = 60 * time.Second // reading a request's body, and writing its answer
)

// newHTTPServer is the server with its timeouts; idle bounds a keep-alive
// connection's wait for its next request.
func newHTTPServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// uploadAllowed lets a signed upload go ahead only for a job that still
// waits for its file.
func uploadAllowed(store ports.Store) func(ctx context.Context, key string) error {
	return func(ctx context.Context, key string) error {
		k, err := events.ParseKey(key)
		if err != nil {
			return err
		}
		j, err := store.Get(ctx, k.JobID)
		if err != nil {
			return err
		}
		if j.Status != job.Created || j.UploadKey != key {
			return errors.New("the job is " + string(j.Status))
		}
		return nil
	}
}

// faultHook reads IRIS_FAULT ("step@part", e.g. "renamed@segmentations/"
// or "recorded@manifest.json"): the crash tests' kill point. At that step
// of a Put of a key that contains part, the process kills itself with
// SIGKILL, as a power cut would; nothing runs after it. Empty means no
// hook.
func faultHook(spec string) func(step, key string) {
	step, part, ok := strings.Cut(spec, "@")
	if spec == "" || !ok {
		return nil
	}
	return func(s, key string) {
		if s == step && strings.Contains(key, part) {
			fmt.Fprintf(os.Stderr, "IRIS_FAULT: killed at %s of %s\n", s, key)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Kill() // SIGKILL on Unix
			}
			select {} // the signal is on its way
		}
	}
}

// recoverWork finishes, at start, what a crash left half done: events of
// stored objects still in the outbox are published, and work files no
// live job owns (partial uploads, the spool, folders of jobs without a
// record for longer than the orphan grace) are removed.
func recoverWork(ctx context.Context, blobs *local.DirBlobs, store ports.Store, tmp string, log *slog.Logger) error {
	n, err := blobs.Recover(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("published the events a crash held back", "events", n)
	}
	r, err := blobs.SweepWork(ctx, tmp, orphanGrace, func(ctx context.Context, id string) (bool, error) {
		_, err := store.Get(ctx, id)
		if errors.Is(err, job.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	if r != (local.SweepReport{}) {
		log.Info("removed work files no live job owns", "partial", r.Partial, "spooled", r.Spooled, "orphans", r.Orphans, "claims", r.Released)
	}
	return nil
}

// orphanGrace is how old a job's folder must be, without a record, to be
// swept at start: the record of a dropped file's job is made by the status
// stage after ingest, and an event for it is retried this long (the
// pipeline's orphan grace is 15 minutes).
const orphanGrace = time.Hour
