package segment

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// buildFakeTotalSegmentator compiles testdata/faketotalseg into dir and
// returns its path. It stands in for the real tool, which needs Python,
// PyTorch and gigabytes of weights; see its doc for the modes.
func buildFakeTotalSegmentator(tb testing.TB, dir string) string {
	tb.Helper()
	exe := filepath.Join(dir, "TotalSegmentator")
	out, err := exec.Command("go", "build", "-o", exe, "./testdata/faketotalseg").CombinedOutput()
	if err != nil {
		tb.Fatalf("build the fake TotalSegmentator: %v\n%s", err, out)
	}
	return exe
}

func tsLoad(tb testing.TB, name string) *volume.Image {
	tb.Helper()
	im, err := volume.ReadFile(testdata.Path(tb, "totalsegmentator-example", name), volume.ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return im
}

func tsCT(tb testing.TB) *volume.CT {
	tb.Helper()
	ct, err := tsLoad(tb, "ct_3mm.nii.gz").CT()
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// tsEngine returns an engine running the fake in mode, with its run
// folders in a fresh TempDir and HOME pointing at a known place.
func tsEngine(t *testing.T, exe, mode string, extra ...string) (*TotalSegmentator, string) {
	tmp := t.TempDir()
	env := append([]string{
		"FAKE_TOTALSEG=" + mode,
		"FAKE_TOTALSEG_SEG=" + testdata.Path(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz"),
		"HOME=/home/radiologist",
		"TOTALSEG_HOME_DIR=", "TOTALSEG_WEIGHTS_PATH=", // whatever this machine has
	}, extra...)
	return &TotalSegmentator{Command: exe, Env: env, TempDir: tmp}, tmp
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("run left %d entries in TempDir, first %q", len(left), left[0].Name())
	}
}

func TestTotalSegmentator(t *testing.T) {
	exe := buildFakeTotalSegmentator(t, t.TempDir())
	ct := tsCT(t)
	ref, err := tsLoad(t, "ct_3mm_seg.nii.gz").LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	var huSum int64
	for _, v := range ct.HU {
		huSum += int64(v)
	}

	t.Run("real output passes through", func(t *testing.T) {
		e, tmp := tsEngine(t, exe, "ok")
		if err := e.Available(); err != nil {
			t.Fatalf("Available: %v", err)
		}
		lm, rep, err := e.SegmentWithReport(context.Background(), ct)
		if err != nil {
			t.Fatal(err)
		}
		if lm.Grid != ct.Grid {
			t.Errorf("grid %v, want the input's %v exactly", lm.Grid, ct.Grid)
		}
		if !slices.Equal(lm.Data, ref.Data) {
			t.Error("label data differ from TotalSegmentator's file")
		}
		names := caretNames(t, lm)
		if len(names) != 117 || names[5] != "liver" || names[117] != "costal_cartilages" {
			t.Errorf("Caret table has %d names, 5=%q 117=%q", len(names), names[5], names[117])
		}
		wantArgs := []any{"-i", "", "-o", "", "--ml", "--report", ""}
		args, _ := rep["args"].([]any)
		if len(args) != len(wantArgs) {
			t.Fatalf("args %v, want the shape %v", args, wantArgs)
		}
		for i, a := range wantArgs {
			if a != "" && args[i] != a {
				t.Errorf("arg %d = %v, want %v (all: %v)", i, args[i], a, args)
			}
		}
		if in := args[1].(string); !strings.HasSuffix(in, ".nii.gz") || !strings.HasPrefix(in, tmp) {
			t.Errorf("input %q: want a .nii.gz under TempDir %s", in, tmp)
		}
		config, _ := rep["config"].(map[string]any)
		if config["send_usage_stats"] != false {
			t.Errorf("config.json seen by the tool: %v; want send_usage_stats false", config)
		}
		if got, want := rep["weights_path"], "/home/radiologist/.totalsegmentator/nnunet/results"; got != want {
			t.Errorf("TOTALSEG_WEIGHTS_PATH = %v, want %v", got, want)
		}
		if got := rep["input_hu_sum"]; got != float64(huSum) {
			t.Errorf("the tool read a CT summing to %v HU, want %d", got, huSum)
		}
		if rep["device"] != "gpu" || rep["fast"] != false {
			t.Errorf("device %v fast %v, want the tool's defaults", rep["device"], rep["fast"])
		}
		assertEmptyDir(t, tmp)
	})

	t.Run("flags and weights location", func(t *testing.T) {
		for _, c := range []struct {
			env     []string
			weights string
		}{
			{[]string{"TOTALSEG_HOME_DIR=/opt/ts"}, "/opt/ts/nnunet/results"},
			{[]string{"TOTALSEG_HOME_DIR=/opt/ts", "TOTALSEG_WEIGHTS_PATH=/weights"}, "/weights"},
			{[]string{"HOME=/"}, "/tmp/.totalsegmentator/nnunet/results"},
		} {
			e, _ := tsEngine(t, exe, "ok", c.env...)
			e.Fast, e.Device = true, "gpu:1"
			_, rep, err := e.SegmentWithReport(context.Background(), ct)
			if err != nil {
				t.Fatal(err)
			}
			args := fmt.Sprint(rep["args"])
			if !strings.Contains(args, "--ml --fast --device gpu:1 --report") {
				t.Errorf("args %s lack --fast --device gpu:1", args)
			}
			if rep["weights_path"] != c.weights {
				t.Errorf("env %v: weights path %v, want %v", c.env, rep["weights_path"], c.weights)
			}
			home := rep["config"].(map[string]any)
			if home["send_usage_stats"] != false {
				t.Errorf("env %v: usage stats %v", c.env, home["send_usage_stats"])
			}
		}
	})

	t.Run("missing Caret table is added", func(t *testing.T) {
		e, _ := tsEngine(t, exe, "nocaret")
		lm, err := e.Segment(context.Background(), ct)
		if err != nil {
			t.Fatal(err)
		}
		names := caretNames(t, lm)
		for _, c := range labels.TotalSegmentator().Classes() {
			if names[c.Value] != c.Name {
				t.Errorf("added table names %d %q, want %q", c.Value, names[c.Value], c.Name)
			}
		}
		if !slices.Equal(lm.Data, ref.Data) {
			t.Error("label data changed")
		}
	})

	t.Run("no report is no error", func(t *testing.T) {
		e, _ := tsEngine(t, exe, "noreport")
		lm, rep, err := e.SegmentWithReport(context.Background(), ct)
		if err != nil || lm == nil || rep != nil {
			t.Fatalf("got %v, report %v, error %v; want a label map, no report", lm != nil, rep, err)
		}
	})

	bad := []struct {
		mode string
		want []string
		not  string // text that must have been cut from the quoted output
	}{
		{"fail", []string{"exit status 1", "torch.OutOfMemoryError: CUDA out of memory", "…"}, "part 0 of"},
		{"nothing", []string{"wrote no label map", "Invalid license number"}, ""},
		{"shift", []string{"not on the input's grid", "affine[0][3]"}, ""},
		{"dims", []string{"not on the input's grid", "dims [122 101 29], input [122 101 30]"}, ""},
		{"labels", []string{"outside the 117 classes", ": 200 (first at voxel "}, ""},
		{"v1names", []string{`names label 5 "spleen"`, `has "liver"`}, ""},
	}
	for _, c := range bad {
		t.Run(c.mode, func(t *testing.T) {
			e, tmp := tsEngine(t, exe, c.mode)
			lm, err := e.Segment(context.Background(), ct)
			if err == nil {
				t.Fatalf("no error; got a label map %v", lm.Dims)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if c.not != "" && strings.Contains(msg, c.not) {
				t.Errorf("error quotes %q, which should have been cut", c.not)
			}
			if len(msg) > tailBytes+1024 {
				t.Errorf("error is %d bytes long", len(msg))
			}
			assertEmptyDir(t, tmp)
		})
	}

	t.Run("timeout kills the process group", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		e, tmp := tsEngine(t, exe, "hang", "FAKE_TOTALSEG_PIDFILE="+pidFile)
		e.Timeout = 2 * time.Second
		start := time.Now()
		_, err := e.Segment(context.Background(), ct)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed after its 2s timeout") || !strings.Contains(err.Error(), "Predicting") {
			t.Fatalf("error %v; want DeadlineExceeded, naming the timeout and quoting stderr", err)
		}
		// The grandchild holds the output pipes: had it survived, Wait
		// would have waited the whole waitDelay.
		if took > waitDelay/2 {
			t.Errorf("returned after %v: the group was not killed", took)
		}
		assertDead(t, pidFile)
		assertEmptyDir(t, tmp)
	})

	t.Run("cancellation kills the process group", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		e, _ := tsEngine(t, exe, "hang", "FAKE_TOTALSEG_PIDFILE="+pidFile)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // cancel once the tool is running
			defer cancel()
			for range 1000 {
				if _, err := os.Stat(pidFile); err == nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		_, err := e.Segment(ctx, ct)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v; want context.Canceled", err)
		}
		assertDead(t, pidFile)
	})

	t.Run("not a CT is refused before running", func(t *testing.T) {
		e, _ := tsEngine(t, exe, "fail")
		seg := &volume.CT{Grid: ref.Grid, HU: make([]int16, len(ref.Data))}
		for i, v := range ref.Data {
			seg.HU[i] = int16(v)
		}
		if _, err := e.Segment(context.Background(), seg); !errors.Is(err, ErrNotCT) {
			t.Fatalf("error %v, want ErrNotCT", err)
		}
	})

	t.Run("command not installed", func(t *testing.T) {
		e := &TotalSegmentator{Command: filepath.Join(t.TempDir(), "TotalSegmentator")}
		for _, err := range []error{e.Available(), func() error { _, err := e.Segment(context.Background(), ct); return err }()} {
			if err == nil || !strings.Contains(err.Error(), "pip install TotalSegmentator") {
				t.Errorf("error %v; want one saying how to install it", err)
			}
		}
		t.Setenv("PATH", t.TempDir())
		if err := (&TotalSegmentator{}).Available(); err == nil || !strings.Contains(err.Error(), `"TotalSegmentator" not found`) {
			t.Errorf("zero value with an empty PATH: %v", err)
		}
	})
}

func caretNames(t *testing.T, lm *volume.LabelMap) map[uint16]string {
	t.Helper()
	for _, e := range lm.Extensions {
		if labels.IsCaret(e.Data) {
			names, err := labels.ParseCaret(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			return names
		}
	}
	t.Fatal("no Caret extension")
	return nil
}

// assertDead waits a little for the process in pidFile to be gone (or a
// zombie no one has reaped yet).
func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the fake wrote no grandchild pid: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			p, _ := os.FindProcess(pid)
			p.Kill()
			t.Fatalf("grandchild %d still runs: the process group was not killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTail(t *testing.T) {
	long := strings.Repeat("x", 50) + "é" + strings.Repeat("y", 9)
	for _, c := range []struct {
		max    int
		writes []string
		want   string
	}{
		{10, nil, ""},
		{10, []string{"  short\n"}, "short"},
		{10, []string{"abc", "def"}, "abcdef"},
		{10, []string{long}, "…" + strings.Repeat("y", 9)}, // é cut in half is dropped
		{10, []string{"0123456789", "0123456789", "abcdefghij"}, "…abcdefghij"},
		{4, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "…ghij"},
	} {
		tl := &tail{max: c.max}
		for _, w := range c.writes {
			tl.Write([]byte(w))
		}
		if got := tl.String(); got != c.want {
			t.Errorf("max %d, writes %q: %q, want %q", c.max, c.writes, got, c.want)
		}
	}
}

// BenchmarkTotalSegmentatorOverhead measures what the engine adds around
// the tool on the 122×101×30 example: writing the CT, starting the fake,
// reading and checking its label map.
func BenchmarkTotalSegmentatorOverhead(b *testing.B) {
	exe := buildFakeTotalSegmentator(b, b.TempDir())
	ct := tsCT(b)
	e := &TotalSegmentator{Command: exe, TempDir: b.TempDir(), Env: []string{
		"FAKE_TOTALSEG=ok",
		"FAKE_TOTALSEG_SEG=" + testdata.Path(b, "totalsegmentator-example", "ct_3mm_seg.nii.gz"),
	}}
	for b.Loop() {
		if _, err := e.Segment(context.Background(), ct); err != nil {
			b.Fatal(err)
		}
	}
}
