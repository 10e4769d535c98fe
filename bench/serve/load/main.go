// Command load measures how `iris serve` answers job polls while jobs run:
// N pollers GET /api/jobs/{id} as the web app does, while an uploader keeps
// CT scans flowing through the API, and it reports latency percentiles and
// throughput. It starts nothing itself: give it the URL of a running
// server (see run.sh). Loopback only, so it is never pointed at someone
// else's machine by accident.
//
// Latency is measured from sending a request to reading the last byte of
// its body. With -interval 0 each poller sends its next request as soon as
// the last one returns (a closed loop: throughput at saturation, latency
// then mostly queueing); with -interval d each poller sends one request
// every d, the pollers spread evenly over d: the load a crowd of browsers
// makes. With -etag each poller sends back the ETag of its last answer for
// the job in If-None-Match, as a client that keeps what it was sent may,
// and takes 304 Not Modified as "unchanged".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	base      string
	pollers   int
	duration  time.Duration
	warmup    time.Duration
	interval  time.Duration
	upload    string
	inFlight  int
	jsonOut   string
	label     string
	reqTimout time.Duration
	etag      bool
	rounds    int
}

func main() {
	var c config
	flag.StringVar(&c.base, "url", "", "server URL, e.g. http://127.0.0.1:8080 (loopback only)")
	flag.IntVar(&c.pollers, "pollers", 200, "concurrent pollers of GET /api/jobs/{id}")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured duration")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before measuring starts (not counted)")
	flag.DurationVar(&c.interval, "interval", 0, "time between one poller's requests; 0: back to back")
	flag.StringVar(&c.upload, "upload", "", "a CT file (.nii.gz) to keep uploading through the API while polling")
	flag.IntVar(&c.inFlight, "jobs", 2, "unfinished uploaded jobs to keep going")
	flag.StringVar(&c.jsonOut, "json", "", "also write the result as JSON to this file")
	flag.StringVar(&c.label, "label", "", "name of this run in the report")
	flag.DurationVar(&c.reqTimout, "timeout", 10*time.Second, "per-request timeout")
	flag.IntVar(&c.rounds, "rounds", 1, "measured rounds back to back (each with its warmup); more than one prints the median and range")
	flag.BoolVar(&c.etag, "etag", false, "send each job's last ETag in If-None-Match (304: unchanged)")
	flag.Parse()
	if err := rounds(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// rounds runs c.rounds measured rounds, reports each, and with more than
// one the median and range of their percentiles; -json gets them all.
func rounds(ctx context.Context, c config, stdout io.Writer) error {
	n := max(c.rounds, 1)
	var rs []result
	label := c.label
	for i := range n {
		if n > 1 {
			c.label = fmt.Sprintf("%s, round %d of %d", label, i+1, n)
		}
		r, err := run(ctx, c, stdout)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if n > 1 {
		fmt.Fprintf(stdout, "%s, %d rounds: median (range)", label, n)
		for _, q := range []struct {
			name string
			f    func(result) float64
		}{
			{"req/s", func(r result) float64 { return r.PerSecond }},
			{"p50 ms", func(r result) float64 { return r.P50Ms }},
			{"p99 ms", func(r result) float64 { return r.P99Ms }},
		} {
			v := make([]float64, n)
			for i, r := range rs {
				v[i] = q.f(r)
			}
			slices.Sort(v)
			fmt.Fprintf(stdout, " | %s %.1f (%.1f–%.1f)", q.name, v[(n-1)/2], v[0], v[n-1])
		}
		fmt.Fprintln(stdout)
	}
	if c.jsonOut != "" {
		var out any = rs
		if n == 1 {
			out = rs[0]
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// result is what one run measured.
type result struct {
	Label       string         `json:"label"`
	Pollers     int            `json:"pollers"`
	Interval    string         `json:"interval"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	PerSecond   float64        `json:"requestsPerSecond"`
	P50Ms       float64        `json:"p50Ms"`
	P95Ms       float64        `json:"p95Ms"`
	P99Ms       float64        `json:"p99Ms"`
	MaxMs       float64        `json:"maxMs"`
	Statuses    map[string]int `json:"jobStatusesSeen"`
	NotModified int            `json:"notModified"`
	ETag        bool           `json:"ifNoneMatch"`
	Uploaded    int            `json:"jobsUploaded"`
	Finished    int            `json:"jobsFinished"`
	FirstError  string         `json:"firstError,omitempty"`
	LoadAverage string         `json:"loadAverage"`
}

func run(ctx context.Context, c config, stdout io.Writer) (result, error) {
	if err := checkLoopback(c.base); err != nil {
		return result{}, err
	}
	c.base = strings.TrimRight(c.base, "/")
	if c.pollers < 0 || c.duration <= 0 || c.inFlight < 1 {
		return result{}, errors.New("need -pollers ≥ 0, -duration > 0 and -jobs ≥ 1")
	}
	var scan []byte
	if c.upload != "" {
		b, err := os.ReadFile(c.upload)
		if err != nil {
			return result{}, err
		}
		scan = b
	}
	client := &http.Client{
		Timeout: c.reqTimout,
		Transport: &http.Transport{
			MaxIdleConns:        c.pollers + 16,
			MaxIdleConnsPerHost: max(c.pollers+16, 200),
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
	jobs := &jobSet{}
	// The pollers need a job to poll from the start.
	id, err := createJob(ctx, client, c.base, "load.nii.gz", scan)
	if err != nil {
		return result{}, err
	}
	jobs.add(id)

	ctx, cancel := context.WithTimeout(ctx, c.warmup+c.duration)
	defer cancel()
	start := time.Now()
	measureFrom := start.Add(c.warmup)

	up := &uploader{client: client, base: c.base, scan: scan, jobs: jobs, inFlight: c.inFlight}
	var wg sync.WaitGroup
	if scan != nil {
		wg.Go(func() { up.run(ctx) })
	}
	stats := make([]*pollerStats, c.pollers)
	for i := range stats {
		s := &pollerStats{statuses: map[string]int{}}
		stats[i] = s
		wg.Go(func() { poll(ctx, client, c, jobs, i, measureFrom, s) })
	}
	wg.Wait()
	elapsed := time.Since(measureFrom).Seconds()

	res := summarize(stats, elapsed)
	res.Label, res.Pollers, res.Interval, res.ETag = c.label, c.pollers, c.interval.String(), c.etag
	res.Uploaded, res.Finished = int(up.uploaded.Load()), int(up.finished.Load())
	res.LoadAverage = loadAverage()
	report(stdout, res)
	if c.pollers > 0 && res.Requests == 0 {
		return res, errors.New("no request completed")
	}
	return res, nil
}

// checkLoopback refuses URLs beyond this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://127.0.0.1:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-url %q is not a loopback address; this tool only loads this machine", raw)
	}
	return nil
}

// jobSet is the ids the pollers choose from.
type jobSet struct {
	mu  sync.RWMutex
	ids []string
}

func (s *jobSet) add(id string) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()
}

func (s *jobSet) pick(i int) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ids[i%len(s.ids)]
}

type pollerStats struct {
	lat         []time.Duration
	errors      int
	firstErr    string
	statuses    map[string]int
	notModified int
}

// seen is what a poller keeps of a job's last full answer, with -etag.
type seen struct{ etag, status string }

func (s *pollerStats) fail(err error) {
	s.errors++
	if s.firstErr == "" {
		s.firstErr = err.Error()
	}
}

// poll is one poller: GET a job, read it, note the latency, repeat.
func poll(ctx context.Context, client *http.Client, c config, jobs *jobSet, n int, measureFrom time.Time, s *pollerStats) {
	// Pollers are spread over the interval, as browsers opened at
	// different moments are; started together they would poll in bursts.
	next := time.Now()
	if c.pollers > 0 {
		next = next.Add(c.interval * time.Duration(n) / time.Duration(c.pollers))
	}
	var last map[string]seen
	if c.etag {
		last = map[string]seen{}
	}
	for k := n; ctx.Err() == nil; k++ {
		if c.interval > 0 {
			next = next.Add(c.interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
		}
		id := jobs.pick(k)
		t0 := time.Now()
		status, fresh, err := poll1(ctx, client, c.base, id, last)
		d := time.Since(t0)
		if ctx.Err() != nil {
			return // cut off by the end of the run, not by the server
		}
		if t0.Before(measureFrom) {
			continue
		}
		if err != nil {
			s.fail(err)
			continue
		}
		s.lat = append(s.lat, d)
		s.statuses[status]++
		if !fresh {
			s.notModified++
		}
	}
}

// poll1 is one poll: with last (-etag), a conditional GET that answers
// from last on 304; fresh is false then.
func poll1(ctx context.Context, client *http.Client, base, id string, last map[string]seen) (status string, fresh bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/jobs/"+id, nil)
	if err != nil {
		return "", false, err
	}
	prev, had := last[id]
	if had {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", false, err
	}
	if resp.StatusCode == http.StatusNotModified && had {
		return prev.status, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("GET /api/jobs/%s: %s: %.200s", id, resp.Status, body)
	}
	var v struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", false, fmt.Errorf("GET /api/jobs/%s: %w", id, err)
	}
	if last != nil && resp.Header.Get("ETag") != "" {
		last[id] = seen{etag: resp.Header.Get("ETag"), status: v.Status}
	}
	return v.Status, true, nil
}

func getStatus(ctx context.Context, client *http.Client, base, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/jobs/"+id, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /api/jobs/%s: %s: %.200s", id, resp.Status, body)
	}
	var v struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("GET /api/jobs/%s: %w", id, err)
	}
	return v.Status, nil
}

// uploader keeps inFlight uploaded jobs unfinished until ctx ends.
type uploader struct {
	client             *http.Client
	base               string
	scan               []byte
	jobs               *jobSet
	inFlight           int
	uploaded, finished atomic.Int64
}

func (u *uploader) run(ctx context.Context) {
	var open []string
	for ctx.Err() == nil {
		for len(open) < u.inFlight && ctx.Err() == nil {
			id, err := createJob(ctx, u.client, u.base, "load.nii.gz", u.scan)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "load: upload:", err)
					time.Sleep(500 * time.Millisecond)
				}
				continue
			}
			u.uploaded.Add(1)
			u.jobs.add(id)
			open = append(open, id)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		open = slices.DeleteFunc(open, func(id string) bool {
			st, err := getStatus(ctx, u.client, u.base, id)
			if err == nil && (st == "done" || st == "failed") {
				u.finished.Add(1)
				return true
			}
			return false
		})
	}
}

// createJob creates a job through the API and uploads scan to its signed
// URL; a nil scan leaves the job waiting for its upload.
func createJob(ctx context.Context, client *http.Client, base, name string, scan []byte) (string, error) {
	size := max(len(scan), 1)
	body, _ := json.Marshal(map[string]any{"filename": filepath.Base(name), "bytes": size})
	resp, err := doJSON(ctx, client, http.MethodPost, base+"/api/jobs", "application/json", body)
	if err != nil {
		return "", err
	}
	var created struct {
		Job    struct{ ID string } `json:"job"`
		Upload struct {
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"upload"`
	}
	if err := json.Unmarshal(resp, &created); err != nil || created.Job.ID == "" {
		return "", fmt.Errorf("POST /api/jobs: unexpected answer %.200s", resp)
	}
	if scan == nil {
		return created.Job.ID, nil
	}
	u := created.Upload.URL
	if strings.HasPrefix(u, "/") {
		u = base + u
	}
	if _, err := doJSON(ctx, client, created.Upload.Method, u, created.Upload.Headers["Content-Type"], scan); err != nil {
		return "", err
	}
	return created.Job.ID, nil
}

func doJSON(ctx context.Context, client *http.Client, method, u, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %.200s", method, req.URL.Path, resp.Status, b)
	}
	return b, nil
}

func summarize(stats []*pollerStats, seconds float64) result {
	var all []time.Duration
	res := result{Seconds: seconds, Statuses: map[string]int{}}
	for _, s := range stats {
		all = append(all, s.lat...)
		res.Errors += s.errors
		if res.FirstError == "" {
			res.FirstError = s.firstErr
		}
		for k, v := range s.statuses {
			res.Statuses[k] += v
		}
		res.NotModified += s.notModified
	}
	slices.Sort(all)
	res.Requests = len(all)
	if seconds > 0 {
		res.PerSecond = float64(len(all)) / seconds
	}
	res.P50Ms, res.P95Ms, res.P99Ms = ms(quantile(all, 0.50)), ms(quantile(all, 0.95)), ms(quantile(all, 0.99))
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	return res
}

// quantile is the nearest-rank quantile of sorted.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// loadAverage is /proc/loadavg's first three fields, where there is one.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

func report(w io.Writer, r result) {
	name := r.Label
	if name == "" {
		name = "GET /api/jobs/{id}"
	}
	fmt.Fprintf(w, "%s: %d pollers, interval %s, %.1f s measured\n", name, r.Pollers, r.Interval, r.Seconds)
	fmt.Fprintf(w, "  | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | jobs uploaded/finished | load avg |\n")
	fmt.Fprintf(w, "  | %d | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %d/%d | %s |\n",
		r.Requests, r.PerSecond, r.P50Ms, r.P95Ms, r.P99Ms, r.MaxMs, r.Errors, r.Uploaded, r.Finished, r.LoadAverage)
	fmt.Fprintf(w, "  job statuses seen: %v\n", r.Statuses)
	if r.ETag {
		fmt.Fprintf(w, "  with If-None-Match: %d of %d answers were 304 Not Modified\n", r.NotModified, r.Requests)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
}
