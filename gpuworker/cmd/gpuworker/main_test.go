package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

func TestRunRefuses(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", "usage: gpuworker serve"},
		{[]string{"segment"}, "", "usage: gpuworker serve"},
		{[]string{"serve", "-engine", "magic"}, "", `-engine "magic"`},
		{[]string{"serve", "extra"}, "", "unexpected arguments"},
		{[]string{"serve", "-concurrency", "0"}, "", "at least 1"},
		{[]string{"serve"}, "GPUWORKER_CONCURRENCY=two", "GPUWORKER_CONCURRENCY"},
		{[]string{"serve", "-addr", "256.0.0.1:1"}, "", "256.0.0.1"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			if k, v, ok := strings.Cut(c.env, "="); ok {
				t.Setenv(k, v)
			}
			err := run(c.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run %q (env %q): %v, want an error naming %q", c.args, c.env, err, c.want)
			}
		})
	}
}

func goBuild(t *testing.T, name, pkg string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", exe, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return exe
}

// TestSIGTERM runs the real binary as SageMaker does (`gpuworker serve`,
// configured from the environment) with the fake TotalSegmentator taking
// two seconds, sends SIGTERM while an invocation is in the tool, and
// checks that the invocation still gets its label map and the process
// exits cleanly, logging JSON throughout.
func TestSIGTERM(t *testing.T) {
	worker := goBuild(t, "gpuworker", ".")
	fake := goBuild(t, "TotalSegmentator", "github.com/iris-oculus/iris/internal/segment/testdata/faketotalseg")
	seg := testdata.Path(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	cmd := exec.Command(worker, "serve")
	cmd.Env = append(os.Environ(),
		"GPUWORKER_ADDR=127.0.0.1:0",
		"GPUWORKER_TOTALSEG_COMMAND="+fake,
		"GPUWORKER_WARMUP=false",
		"GPUWORKER_TMP="+t.TempDir(),
		"FAKE_TOTALSEG=slow", "FAKE_TOTALSEG_SLEEP=2s", "FAKE_TOTALSEG_SEG="+seg,
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan map[string]any, 100)
	go func() {
		defer close(logs)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			logs <- m
		}
	}()
	await := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-logs:
				if !ok {
					t.Fatalf("the worker exited before logging %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q log", msg)
			}
		}
	}
	url := "http://" + await("listening")["addr"].(string)
	await("ready")
	if resp, err := http.Get(url + "/ping"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}

	ct, err := os.ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/invocations", "application/octet-stream", bytes.NewReader(ct))
		if err != nil {
			got <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp, body, err}
	}()
	if m := await("segmenting"); m["engine"] != "totalsegmentator" {
		t.Errorf("segmenting with %v", m["engine"])
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	await("shutting down")
	r := <-got
	if r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("in-flight invocation: %v %v %s", r.err, r.resp, r.body)
	}
	if r.resp.ContentLength != int64(len(r.body)) || len(r.resp.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d for %d bytes, Transfer-Encoding %v", r.resp.ContentLength, len(r.body), r.resp.TransferEncoding)
	}
	im, err := volume.Read(bytes.NewReader(r.body), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := volume.ReadFile(seg, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.LabelMap()
	if !slices.Equal(lm.Data, want.Data) {
		t.Error("label map differs from the tool's output")
	}
	if m := await("invocation done"); m["engine_report"] == nil {
		t.Error("the tool's report was not logged")
	}
	await("stopped")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}
