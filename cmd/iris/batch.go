package main

// Batch runs: segment, convert and mesh over many scans at once, for
// scripts and pipelines. One input and a NIfTI -o is the classic single
// run; several inputs, or a folder of scans, with -o naming a folder, is a
// batch: each input gets its own subfolder, inputs run in parallel within
// the machine's cores and memory, a failure is reported and the batch goes
// on, and the run ends with a summary and exit status 1 if any failed.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	apiclient "github.com/iris-oculus/iris/internal/client"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// Codes of failures that happen outside what the pipeline names (see
// internal/pipeline/common.go for the rest, which the CLI shares).
const (
	codeWriteFailed = "write_failed" // the output could not be written (disk full, permissions)
	codeCanceled    = "canceled"     // the run was interrupted (Ctrl-C) before this input finished
	codeUnreadable  = "unreadable"   // the input could not be opened at all (missing, permissions)
	codeUnreachable = "unreachable"  // submit: the server could not be reached or answered out of turn
)

// task is one input of a run and where its output goes.
type task struct {
	Input string // as given, or as found in a given folder
	Out   string // output file (segment, convert) or folder (mesh)
}

// organ is one label of an outcome.
type organ struct {
	Label    uint16  `json:"label"`
	Name     string  `json:"name"`
	Voxels   int     `json:"voxels"`
	VolumeMl float64 `json:"volumeMl"`
}

// failure is an outcome's error: a stable code (the pipeline's, where it
// has one) and a message for people.
type failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// outcome is what --json prints for one input: one JSON object per line.
type outcome struct {
	Input   string             `json:"input"`
	Job     string             `json:"job,omitempty"` // submit: the job's id
	Outputs []string           `json:"outputs"`
	Timings map[string]float64 `json:"timings"` // seconds, by step, and "total"
	Organs  []organ            `json:"organs"`
	Skipped bool               `json:"skipped,omitempty"` // --skip-existing found its output complete
	Error   *failure           `json:"error"`

	notes []string // human mode: what to tell the person (DICOM series chosen, …)
	line  string   // human mode: the one-line result
}

func (o *outcome) time(step string, since time.Time) {
	o.Timings[step] = math.Round(time.Since(since).Seconds()*1000) / 1000
}

// stageError is an error with the step it happened in, for classify.
type stageError struct {
	stage string // "read", "segment", "mesh", "write"
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func failAt(stage string, err error) error { return &stageError{stage, err} }

// about prefixes err with what and the input, unless it names the input.
func about(what, input string, err error) error {
	if strings.Contains(err.Error(), input) {
		return err
	}
	return fmt.Errorf("%s %s: %w", what, input, err)
}

// classify names a failure with the pipeline's codes.
func classify(input string, err error) *failure {
	f := &failure{Message: oneLine(err)}
	var se *stageError
	stage := ""
	if errors.As(err, &se) {
		stage = se.stage
	}
	var jf *jobFailure
	var ae *apiclient.Error
	switch {
	case errors.As(err, &jf):
		f.Code = jf.err.Code
	case errors.As(err, &ae) && ae.Code != "":
		f.Code = ae.Code
	case errors.Is(err, context.Canceled):
		f.Code = codeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		f.Code = pipeline.CodeTimeout
	case stage == "write":
		f.Code = codeWriteFailed
	case stage == "segment" && errors.Is(err, segment.ErrNotCT):
		f.Code = pipeline.CodeNotCT
	case stage == "segment":
		f.Code = pipeline.CodeSegmentationFailed
	case stage == "labels":
		f.Code = pipeline.CodeInvalidLabelMap
	case stage == "mesh":
		f.Code = pipeline.CodeMeshFailed
	case stage == "upload" || stage == "wait":
		f.Code = codeUnreachable
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission):
		f.Code = codeUnreadable
	default:
		f.Code, _ = pipeline.Classify(err, looksNIfTI(input))
	}
	return f
}

// looksNIfTI reports whether a file begins like a NIfTI file (or gzip).
func looksNIfTI(path string) bool {
	head, err := readHead(path, 352)
	return err == nil && scan.Sniff(head) == scan.NIfTI
}

// batchFlags are the flags every batch-capable command shares.
type batchFlags struct {
	jobs         int
	json         bool
	skipExisting bool
	quiet        bool
	ext          string
}

func (b *batchFlags) register(fs *flag.FlagSet, ext bool) {
	fs.IntVar(&b.jobs, "j", 0, "inputs run at once (0: from the cores and memory)")
	fs.BoolVar(&b.json, "json", false, "print one JSON object per input on stdout, nothing else")
	fs.BoolVar(&b.skipExisting, "skip-existing", false, "skip inputs whose output is already complete (resume a batch)")
	fs.BoolVar(&b.quiet, "q", false, "no progress bar or tables")
	if ext {
		fs.StringVar(&b.ext, "ext", ".nii.gz", "batch: the NIfTI files written, .nii.gz (gzip) or .nii (uncompressed)")
	}
}

// plan is a run: its tasks and how to do and check each.
type plan struct {
	verb     string
	tasks    []task
	batch    bool                                                // several inputs into a folder (a table at the end)
	jobs     int                                                 // inputs at once
	work     func(ctx context.Context, t task, o *outcome) error // does one task
	complete func(t task) bool                                   // whether t's output is already there (for --skip-existing)
	outputs  func(t task) []string                               // what a skipped task's outputs are
}

// execute runs every task of p, at most p.jobs at once, reporting each as
// it ends; it returns an error (exit 1) when any failed.
func execute(ctx context.Context, p plan, f batchFlags, stdout, stderr io.Writer) error {
	results := make([]*outcome, len(p.tasks))
	bar := newProgress(stderr, p.verb, f.quiet || !p.batch)
	var mu sync.Mutex
	finished := 0
	report := func(i int, o *outcome) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = o
		finished++
		if f.json {
			b, _ := json.Marshal(o)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			for _, n := range o.notes {
				fmt.Fprintln(stdout, n)
			}
			switch {
			case o.Error != nil && p.batch:
				fmt.Fprintf(stdout, "FAILED %s: %s (%s)\n", o.Input, o.Error.Message, o.Error.Code)
			case o.Error == nil && o.line != "":
				fmt.Fprintln(stdout, o.line)
			}
		}
		bar.set(finished, len(p.tasks))
	}

	sem := make(chan struct{}, max(p.jobs, 1))
	var wg sync.WaitGroup
	for i, t := range p.tasks {
		o := &outcome{Input: t.Input, Outputs: []string{}, Timings: map[string]float64{}, Organs: []organ{}}
		if f.skipExisting && p.complete(t) {
			o.Skipped, o.Outputs = true, p.outputs(t)
			o.line = "skipped " + t.Input + ": " + strings.Join(o.Outputs, ", ") + " is already there"
			report(i, o)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			o.Error = classify(t.Input, ctx.Err())
			report(i, o)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			err := p.work(ctx, t, o)
			o.time("total", start)
			if err != nil {
				o.Error = classify(t.Input, err)
				o.Outputs = []string{}
			}
			report(i, o)
		}()
	}
	wg.Wait()
	bar.finish()

	failed := 0
	for _, o := range results {
		if o.Error != nil {
			failed++
		}
	}
	if p.batch && !f.json && !f.quiet {
		printBatchSummary(stdout, results)
	}
	if failed > 0 {
		if !p.batch {
			// A single run fails with its own reason, as before batches.
			return errors.New(results[0].Error.Message)
		}
		// Exit status 1, after every other input was done.
		return fmt.Errorf("%d of %d inputs failed", failed, len(results))
	}
	return nil
}

// printBatchSummary prints one row per input, in input order.
func printBatchSummary(w io.Writer, results []*outcome) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "input\tresult\tseconds\torgans\toutput or reason")
	ok, skipped, failed := 0, 0, 0
	for _, o := range results {
		status, detail := "ok", strings.Join(o.Outputs, " ")
		switch {
		case o.Error != nil:
			status, detail = "FAILED", o.Error.Code+": "+o.Error.Message
			failed++
		case o.Skipped:
			status = "skipped"
			skipped++
		default:
			ok++
		}
		if len(detail) > 120 {
			detail = detail[:117] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%d\t%s\n", o.Input, status, o.Timings["total"], len(o.Organs), detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d done, %d skipped, %d failed, of %d inputs\n", ok, skipped, failed, len(results))
}

// defaultJobs is how many inputs run at once: no more than the cores, nor
// than the available memory holds at perScan bytes each, nor than there
// are inputs.
func defaultJobs(perScan int64, inputs int) int {
	j := runtime.GOMAXPROCS(0)
	if mem := availableMemory(); mem > 0 && perScan > 0 {
		j = min(j, int(mem/perScan))
	}
	return max(1, min(j, inputs))
}

// availableMemory is MemAvailable from /proc/meminfo, or 0 where unknown.
func availableMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// organsOf lists the labels present in lm, named from its label table.
func organsOf(lm *volume.LabelMap) []organ {
	counts := map[uint16]int{}
	for _, v := range lm.Data {
		if v != 0 {
			counts[v]++
		}
	}
	table := labelTable(lm)
	vv := lm.Grid.VoxelVolume() / 1000
	out := []organ{}
	for _, v := range slices.Sorted(mapKeys(counts)) {
		out = append(out, organ{Label: v, Name: table.Class(v).Name, Voxels: counts[v],
			VolumeMl: math.Round(float64(counts[v])*vv*1000) / 1000})
	}
	return out
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// labelTable names lm's values: from its label-table extension when there
// is one, else TotalSegmentator's table.
func labelTable(lm *volume.LabelMap) *labels.Table {
	exts := make([][]byte, len(lm.Extensions))
	for i, e := range lm.Extensions {
		exts[i] = e.Data
	}
	names, _ := labels.FileNames(exts...) // a damaged table names nothing; values still count
	return labels.ForFile(names, labels.Present(lm.Data))
}

// exists reports whether path is there.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// batchOutput decides between a single run and a batch from the inputs and
// -o: one input that is a file or a DICOM series and an -o with a NIfTI name
// is a single run; anything else is a batch into the folder -o. An -o that
// looks like a file name of another kind is refused with the known ones.
func isNIfTIName(out string) (bool, error) {
	if _, err := volume.FormatOf(out); err == nil {
		return true, nil
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return false, nil
	}
	base := filepath.Base(out)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		_, err := volume.FormatOf(out)
		return false, fmt.Errorf("-o %s: %w (or a folder, for a batch)", out, err)
	}
	return false, nil
}

// outputExt checks --ext.
func outputExt(ext string) (string, error) {
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	if _, err := volume.FormatOf("x" + ext); err != nil {
		return "", fmt.Errorf("--ext %s: %w", ext, err)
	}
	return strings.ToLower(ext), nil
}

// filePlan sets up a run whose output per input is one NIfTI file: -o
// itself for a single run (one input, -o a NIfTI name), else
// OUT/<name>/<base><ext> for each input found.
func filePlan(verb string, inputs []string, out string, kinds int, base string, f batchFlags, perScan int64) (plan, error) {
	single, err := isNIfTIName(out)
	if err != nil {
		return plan{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	p := plan{verb: verb,
		complete: func(t task) bool { return fileExists(t.Out) },
		outputs:  func(t task) []string { return []string{t.Out} },
	}
	if single {
		if len(inputs) != 1 {
			return plan{}, fmt.Errorf("%w: -o %s names one file, for one input; name a folder to run %d inputs", errUsage, out, len(inputs))
		}
		p.tasks, p.jobs = []task{{Input: inputs[0], Out: out}}, 1
		return p, nil
	}
	ext, err := outputExt(f.ext)
	if err != nil {
		return plan{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	found, err := findInputs(inputs, kinds, out)
	if err != nil {
		return plan{}, err
	}
	for _, fd := range found {
		p.tasks = append(p.tasks, task{Input: fd.path, Out: filepath.Join(out, fd.name, base+ext)})
	}
	p.batch = true
	p.jobs = cmp.Or(f.jobs, defaultJobs(perScan, len(p.tasks)))
	return p, nil
}

// writeFile makes path's folder and runs write, as the write step.
func writeFile(path string, write func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return failAt("write", fmt.Errorf("make folder for %s: %w", path, err))
	}
	if err := write(); err != nil {
		return failAt("write", fmt.Errorf("write %s: %w", path, err))
	}
	return nil
}
