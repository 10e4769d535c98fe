// Command ctdone measures "a CT done in seconds": how long `iris serve`
// takes from the end of an upload to the job's done, for one scan, as the
// web app sends it (a DICOM folder as a stored zip, one PUT to the signed
// URL), and where that time goes, from the job record's stage timestamps.
//
// Each round starts its own `iris serve` on a fresh data folder (so no
// round finds the scan already seen), waits for it to listen, creates a
// job, uploads, polls GET /api/jobs/{id} every 20 ms until the job ends,
// and stops the server. It prints every round, then the median with the
// range. It does not build iris or make the series: bench/serve/ctdone.sh
// does.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	iris := flag.String("iris", "", "the iris binary to run")
	dir := flag.String("dir", "", "a DICOM series folder to upload as a stored zip (as the web app does)")
	file := flag.String("file", "", "or a file to upload as it is (.zip, .nii.gz)")
	engine := flag.String("engine", "native", "iris serve --engine")
	rounds := flag.Int("rounds", 3, "rounds, each on a fresh server")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on a round after this long")
	target := flag.Duration("target", 10*time.Second, "the figure to beat, printed beside the result")
	flag.Parse()
	if *iris == "" || (*dir == "") == (*file == "") || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: ctdone -iris BIN (-dir SERIES | -file SCAN) [-rounds 3]")
		os.Exit(2)
	}
	if err := run(*iris, *dir, *file, *engine, *rounds, *timeout, *target); err != nil {
		fmt.Fprintln(os.Stderr, "ctdone:", err)
		os.Exit(1)
	}
}

// stages are the job record's stage timestamps in pipeline order, after
// the upload's end, each with what the step into it does.
var stages = []struct{ status, step string }{
	{"accepted", "upload end → accepted: ingest (unzip, read and decode the series, write the volume)"},
	{"segmenting", "accepted → segmenting: queue and dispatch to the engine"},
	{"meshing", "segmenting → meshing: segmentation (native engine)"},
	{"done", "meshing → done: meshes and exports"},
}

type round struct {
	total time.Duration   // upload end → done
	steps []time.Duration // one per stages entry
	bytes int
}

func run(iris, dir, file, engine string, rounds int, timeout, target time.Duration) error {
	name, body, err := payload(dir, file)
	if err != nil {
		return err
	}
	fmt.Printf("upload: %s, %.1f MB; engine %s; %d rounds, each on a fresh iris serve; load average %s\n",
		name, float64(len(body))/1e6, engine, rounds, loadAverage())
	var rs []round
	for i := range rounds {
		r, err := oneRound(iris, engine, name, body, timeout)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		rs = append(rs, r)
		fmt.Printf("  round %d: %.2f s upload end → done (", i+1, r.total.Seconds())
		for k, s := range stages {
			if k > 0 {
				fmt.Print(", ")
			}
			fmt.Printf("%s %.2f s", s.status, r.steps[k].Seconds())
		}
		fmt.Printf("); load average %s\n", loadAverage())
	}
	med, lo, hi := spread(rs, func(r round) time.Duration { return r.total })
	verdict := "met"
	if med >= target {
		verdict = "NOT met"
	}
	fmt.Printf("upload end → done: median %.2f s (range %.2f–%.2f s), target < %s: %s", med.Seconds(), lo.Seconds(), hi.Seconds(), target, verdict)
	if hi >= target && med < target {
		fmt.Print(" in the median, not in every round")
	}
	fmt.Println()
	fmt.Println("| step | median s | range s | share: step median / total median |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for k, s := range stages {
		m, l, h := spread(rs, func(r round) time.Duration { return r.steps[k] })
		fmt.Printf("| %s | %.2f | %.2f–%.2f | %.0f %% |\n", s.step, m.Seconds(), l.Seconds(), h.Seconds(), 100*m.Seconds()/med.Seconds())
	}
	return nil
}

// spread is the median (the middle round; the lower middle for an even
// count), the least and the greatest of f over the rounds.
func spread(rs []round, f func(round) time.Duration) (med, lo, hi time.Duration) {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[(len(v)-1)/2], v[0], v[len(v)-1]
}

// payload is what the web app would send: a folder as a stored zip of its
// files (web/src/upload/dicomzip.ts uses fflate's ZipPassThrough), or the
// file as it is.
func payload(dir, file string) (string, []byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		return filepath.Base(file), b, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", nil, err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.Base(dir) + "/" + e.Name(), Method: zip.Store})
		if err != nil {
			return "", nil, err
		}
		if _, err := w.Write(b); err != nil {
			return "", nil, err
		}
		n++
	}
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	if n == 0 {
		return "", nil, fmt.Errorf("%s holds no files", dir)
	}
	return filepath.Base(dir) + ".zip", buf.Bytes(), nil
}

var urlLine = regexp.MustCompile(`running at (http://[^/ ]+)/`)

func oneRound(iris, engine, name string, body []byte, timeout time.Duration) (round, error) {
	data, err := os.MkdirTemp("", "ctdone-")
	if err != nil {
		return round{}, err
	}
	defer os.RemoveAll(data)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.Command(iris, "serve", "--data", data, "--addr", "127.0.0.1:0", "--engine", engine)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return round{}, err
	}
	if err := cmd.Start(); err != nil {
		return round{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case base <- m[1]:
				default:
				}
			}
		}
	}()
	var url string
	select {
	case url = <-base:
	case <-ctx.Done():
		return round{}, fmt.Errorf("iris serve printed no URL: %s", tail(logs.String()))
	}

	c := &http.Client{}
	req, _ := json.Marshal(map[string]any{"filename": name, "bytes": len(body)})
	var created struct {
		Job    struct{ ID string } `json:"job"`
		Upload struct {
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"upload"`
	}
	if err := do(ctx, c, "POST", url+"/api/jobs", map[string]string{"Content-Type": "application/json"}, req, &created); err != nil {
		return round{}, err
	}
	up := created.Upload.URL
	if strings.HasPrefix(up, "/") {
		up = url + up
	}
	if err := do(ctx, c, created.Upload.Method, up, created.Upload.Headers, body, nil); err != nil {
		return round{}, fmt.Errorf("upload: %w", err)
	}
	uploaded := time.Now()
	for {
		var v struct {
			Status string               `json:"status"`
			Stages map[string]time.Time `json:"stages"`
			Error  *struct{ Code, Message string }
		}
		if err := do(ctx, c, "GET", url+"/api/jobs/"+created.Job.ID, nil, nil, &v); err != nil {
			return round{}, err
		}
		switch v.Status {
		case "failed":
			return round{}, fmt.Errorf("the job failed: %+v", v.Error)
		case "done":
			done := time.Now()
			r := round{total: done.Sub(uploaded), bytes: len(body)}
			prev := uploaded
			for _, s := range stages {
				at, ok := v.Stages[s.status]
				if !ok {
					return round{}, fmt.Errorf("the done job has no %s time: %v", s.status, v.Stages)
				}
				r.steps = append(r.steps, at.Sub(prev))
				prev = at
			}
			// The done time is the record's; the poll that saw it came
			// at most one poll interval later.
			r.total = prev.Sub(uploaded)
			return r, nil
		}
		select {
		case <-ctx.Done():
			return round{}, fmt.Errorf("job %s still %s after %s", created.Job.ID, v.Status, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func do(ctx context.Context, c *http.Client, method, url string, headers map[string]string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %.300s", method, req.URL.Path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func tail(s string) string {
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

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
