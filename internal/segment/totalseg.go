package segment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/volume"
)

// TotalSegmentator runs the TotalSegmentator command-line tool
// (github.com/wasserth/TotalSegmentator, v2, task "total": 117 classes) as a
// subprocess and checks what it writes. Its output uses the
// labels.TotalSegmentator table.
//
// Each run gets a private folder under TempDir holding the input CT, the
// label map, the --report file and a TotalSegmentator home whose
// config.json turns usage statistics off (the tool otherwise POSTs every
// run to its authors' server). The weights stay where they were: the
// home the environment names (TOTALSEG_HOME_DIR, else
// ~/.totalsegmentator) is passed on as TOTALSEG_WEIGHTS_PATH unless that is
// set already. The whole process group is killed on timeout or
// cancellation, so the tool's worker processes do not outlive it holding
// the GPU.
//
// The output is accepted only on the input's grid (dims equal, affine
// within float32 rounding), with values in the table, and with label names
// agreeing with ours (a different task or --v1_order would silently
// relabel organs). It carries TotalSegmentator's Caret label table, or
// ours when the tool wrote none.
//
// The zero value runs "TotalSegmentator" from PATH on its default device.
// A TotalSegmentator may be used by several goroutines at once; each run
// then occupies the GPU, so callers bound concurrency themselves.
type TotalSegmentator struct {
	Command string        // executable name or path; "" means "TotalSegmentator"
	Fast    bool          // --fast: the 3 mm model
	Device  string        // --device: gpu, gpu:N, cpu or mps; "" leaves the tool's default (gpu, else cpu)
	Timeout time.Duration // the run is killed after this long; 0 leaves only ctx to bound it
	Env     []string      // KEY=VALUE added to the process environment
	TempDir string        // parent of the run folders; "" means os.TempDir()
}

// Report is TotalSegmentator's --report file, decoded: software and model
// versions, device, task, classes, runtime and output files. Its keys are
// not documented beyond that list, so it is kept as parsed JSON.
type Report map[string]any

// tailBytes is how much of the tool's stderr an error quotes: enough for a
// Python traceback's last frames and the exception line.
const tailBytes = 4 << 10

// waitDelay bounds how long Wait waits for the output pipes after the
// process exits or is killed.
const waitDelay = 10 * time.Second

// Name returns "totalsegmentator".
func (*TotalSegmentator) Name() string { return "totalsegmentator" }

// Available reports whether the command can be found, with an error saying
// how to install it when not.
func (t *TotalSegmentator) Available() error {
	_, err := t.lookPath()
	return err
}

// Segment labels ct with TotalSegmentator's 117 classes (see
// SegmentWithReport).
func (t *TotalSegmentator) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	lm, _, err := t.SegmentWithReport(ctx, ct)
	return lm, err
}

// SegmentWithReport labels ct and returns TotalSegmentator's run report as
// well; the report is nil when the tool wrote none or an unreadable one,
// which does not fail the run. Input that is not a CT is refused with
// ErrNotCT before the tool is started. A run stopped by Timeout returns an
// error wrapping context.DeadlineExceeded; one stopped by ctx wraps
// ctx's error.
func (t *TotalSegmentator) SegmentWithReport(ctx context.Context, ct *volume.CT) (*volume.LabelMap, Report, error) {
	if ct == nil {
		return nil, nil, errors.New("totalsegmentator: no CT")
	}
	if len(ct.HU) != ct.Len() || ct.Len() == 0 {
		return nil, nil, fmt.Errorf("totalsegmentator: CT has %d voxels for dims %v", len(ct.HU), ct.Dims)
	}
	if err := checkCT(ct.HU); err != nil {
		return nil, nil, err
	}
	command, err := t.lookPath()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(t.TempDir, "iris-totalseg-")
	if err != nil {
		return nil, nil, fmt.Errorf("totalsegmentator: %w", err)
	}
	defer os.RemoveAll(dir)

	// The input name must end in .nii.gz: TotalSegmentator takes anything
	// else for a DICOM folder.
	in, out, report := filepath.Join(dir, "ct.nii.gz"), filepath.Join(dir, "labels.nii.gz"), filepath.Join(dir, "report.json")
	env, err := t.environ(filepath.Join(dir, "home"))
	if err != nil {
		return nil, nil, err
	}
	if err := volume.WriteCTFile(in, ct); err != nil {
		return nil, nil, fmt.Errorf("totalsegmentator: %w", err)
	}
	stdout, stderr, err := t.run(ctx, command, t.args(in, out, report), env, dir)
	if err != nil {
		return nil, nil, err
	}
	lm, err := readOutput(out, ct.Grid)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("totalsegmentator: %s exited successfully but wrote no label map%s", t.command(), output(stderr, stdout))
	}
	if err != nil {
		return nil, nil, err
	}
	return lm, readReport(report), nil
}

func (t *TotalSegmentator) command() string {
	if t.Command == "" {
		return "TotalSegmentator"
	}
	return t.Command
}

func (t *TotalSegmentator) lookPath() (string, error) {
	path, err := exec.LookPath(t.command())
	if err != nil {
		return "", fmt.Errorf("totalsegmentator: command %q not found (%v): install it with `pip install TotalSegmentator` "+
			"(Python 3.9+ with PyTorch; a CUDA GPU for minutes rather than an hour per scan), set its path, or use the native engine",
			t.command(), err)
	}
	return path, nil
}

// args builds the command line; -o is a file because of --ml.
func (t *TotalSegmentator) args(in, out, report string) []string {
	args := []string{"-i", in, "-o", out, "--ml"}
	if t.Fast {
		args = append(args, "--fast")
	}
	if t.Device != "" {
		args = append(args, "--device", t.Device)
	}
	return append(args, "--report", report)
}

// environ returns the process environment with a fresh TotalSegmentator
// home at home whose config turns usage statistics off, and the weights
// left where the inherited environment keeps them.
func (t *TotalSegmentator) environ(home string) ([]string, error) {
	env := append(os.Environ(), t.Env...)
	get := func(key string) string {
		v := ""
		for _, kv := range env {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val // the last one wins, as in exec.Cmd
			}
		}
		return v
	}
	if get("TOTALSEG_WEIGHTS_PATH") == "" {
		old := get("TOTALSEG_HOME_DIR")
		if old == "" {
			// TotalSegmentator's get_totalseg_dir: ~/.totalsegmentator,
			// or /tmp/.totalsegmentator where the home is "/".
			h := get("HOME")
			if h == "" || h == "/" {
				h = "/tmp"
			}
			old = filepath.Join(h, ".totalsegmentator")
		}
		env = append(env, "TOTALSEG_WEIGHTS_PATH="+filepath.Join(old, "nnunet", "results"))
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, fmt.Errorf("totalsegmentator: %w", err)
	}
	config, _ := json.Marshal(map[string]any{
		"totalseg_id":                 "totalseg_IRIS",
		"send_usage_stats":            false,
		"prediction_counter":          0,
		"statistics_disclaimer_shown": true,
	})
	if err := os.WriteFile(filepath.Join(home, "config.json"), config, 0o600); err != nil {
		return nil, fmt.Errorf("totalsegmentator: %w", err)
	}
	return append(env, "TOTALSEG_HOME_DIR="+home), nil
}

// errTimeout is the cause of a run stopped by TotalSegmentator.Timeout.
var errTimeout = fmt.Errorf("timed out: %w", context.DeadlineExceeded)

// run starts the command in its own process group and waits for it. It
// returns the tails of the command's output.
func (t *TotalSegmentator) run(ctx context.Context, command string, args, env []string, dir string) (stdout, stderr *tail, err error) {
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	stdout, stderr = &tail{max: 1 << 10}, &tail{max: tailBytes}
	cmd := exec.CommandContext(ctx, command, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if errors.Is(cause, errTimeout) {
			return stdout, stderr, fmt.Errorf("totalsegmentator: killed after its %v timeout%s: %w", t.Timeout, output(stderr, stdout), cause)
		}
		return stdout, stderr, fmt.Errorf("totalsegmentator: stopped after %v: %w", time.Since(start).Round(time.Millisecond), cause)
	}
	if err != nil {
		return stdout, stderr, fmt.Errorf("totalsegmentator: %s %v%s", t.command(), err, output(stderr, stdout))
	}
	return stdout, stderr, nil
}

// output quotes the tool's stderr, or its stdout where stderr is empty
// (some of its errors are printed, with exit status 0).
func output(stderr, stdout *tail) string {
	for _, tl := range []*tail{stderr, stdout} {
		if s := tl.String(); s != "" {
			return ":\n" + s
		}
	}
	return " (no output)"
}

// readOutput reads and checks the label map TotalSegmentator wrote, and
// returns it on g itself (the file's affine went through float32). A
// missing file gives an error wrapping fs.ErrNotExist.
func readOutput(path string, g volume.Grid) (*volume.LabelMap, error) {
	im, err := volume.ReadFile(path, volume.ReadOptions{})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("totalsegmentator: output: %w", err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		return nil, fmt.Errorf("totalsegmentator: output: %w", err)
	}
	if err := sameGrid(lm.Grid, g); err != nil {
		return nil, fmt.Errorf("totalsegmentator: output is not on the input's grid: %w", err)
	}
	lm.Grid = g
	present := presentValues(lm.Data)
	if err := checkTotalLabels(lm, present); err != nil {
		return nil, err
	}
	if err := checkCaret(lm, present); err != nil {
		return nil, err
	}
	return lm, nil
}

// sameGrid compares dims exactly and the affine to float32 precision (the
// NIfTI sform is float32): within 1e-4 plus a millionth of the value.
func sameGrid(got, want volume.Grid) error {
	if got.Dims != want.Dims {
		return fmt.Errorf("dims %v, input %v", got.Dims, want.Dims)
	}
	for r := range 3 {
		for c := range 4 {
			a, b := got.Affine[r][c], want.Affine[r][c]
			if !(math.Abs(a-b) <= 1e-4+1e-6*math.Abs(b)) {
				return fmt.Errorf("affine[%d][%d] is %g, input %g", r, c, a, b)
			}
		}
	}
	return nil
}

func presentValues(data []uint16) []bool {
	present := make([]bool, 1<<16)
	for _, v := range data {
		present[v] = true
	}
	return present
}

// checkTotalLabels refuses values outside the "total" table, naming them
// and the first voxel holding one.
func checkTotalLabels(lm *volume.LabelMap, present []bool) error {
	table := labels.TotalSegmentator()
	var bad []string
	first := -1
	for v := 1; v < len(present); v++ {
		if _, ok := table.Lookup(uint16(v)); present[v] && !ok {
			bad = append(bad, fmt.Sprint(v))
			if first < 0 {
				first = slices.Index(lm.Data, uint16(v))
			}
		}
	}
	if bad == nil {
		return nil
	}
	nx, ny := lm.Dims[0], lm.Dims[1]
	return fmt.Errorf("totalsegmentator: output holds label values outside the %d classes of the total task: %s (first at voxel %d,%d,%d)",
		len(table.Classes()), strings.Join(bad, ", "), first%nx, first/nx%ny, first/(nx*ny))
}

// checkCaret keeps TotalSegmentator's Caret label table if it names the
// present values as ours does, refuses it if it names them otherwise, and
// adds ours when there is none that parses.
func checkCaret(lm *volume.LabelMap, present []bool) error {
	table := labels.TotalSegmentator()
	for i, e := range lm.Extensions {
		if !labels.IsCaret(e.Data) {
			continue
		}
		names, err := labels.ParseCaret(e.Data)
		if err != nil {
			lm.Extensions = slices.Delete(slices.Clone(lm.Extensions), i, i+1)
			break
		}
		for v, name := range names {
			if want := table.Class(v).Name; present[v] && name != want {
				return fmt.Errorf("totalsegmentator: output names label %d %q where the total task's table has %q: another task, version or --v1_order?", v, name, want)
			}
		}
		return nil
	}
	lm.Extensions = append(lm.Extensions, volume.Extension{Code: labels.CaretExtensionCode, Data: labels.Caret(table.Classes())})
	return nil
}

// readReport decodes the --report file; a missing or malformed one gives
// nil.
func readReport(path string) Report {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var r Report
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return r
}

// tail keeps the last max bytes written to it.
type tail struct {
	max  int
	buf  []byte
	lost bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.lost = true
	}
	return len(p), nil
}

// String returns the kept bytes, trimmed, and marked "…" when earlier
// output was dropped.
func (t *tail) String() string {
	b := t.buf
	if len(b) > t.max {
		b, t.lost = b[len(b)-t.max:], true
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
	if t.lost && s != "" {
		s = "…" + s
	}
	return s
}
