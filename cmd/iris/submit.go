package main

// The API client commands: submit, jobs, job, download. They talk to a
// running `iris serve` or the AWS deployment through internal/client.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	apiclient "github.com/iris-oculus/iris/internal/client"
	"github.com/iris-oculus/iris/internal/job"
)

// serverFlags are how every client command finds and signs in to the API.
type serverFlags struct {
	server, token     string
	issuer, clientID  string
	interactiveSignIn bool
	stderr            io.Writer
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.server, "server", cmp.Or(os.Getenv("IRIS_SERVER"), "http://127.0.0.1:8080"), "the API's base URL: iris serve's address, or the deployment's API URL (env IRIS_SERVER)")
	fs.StringVar(&s.token, "token", "", "bearer token (default: env IRIS_TOKEN): iris serve's --token, or a sign-in token of the deployment")
	fs.StringVar(&s.issuer, "issuer", os.Getenv("IRIS_OIDC_ISSUER"), "OIDC issuer to sign in at with the device-code flow when no token is given (env IRIS_OIDC_ISSUER)")
	fs.StringVar(&s.clientID, "client-id", os.Getenv("IRIS_OIDC_CLIENT_ID"), "OIDC client id for the device-code flow (env IRIS_OIDC_CLIENT_ID)")
}

// connect makes the client: the token given, else IRIS_TOKEN, else a
// device-code sign-in when an issuer is set.
func (s *serverFlags) connect(ctx context.Context) (*apiclient.Client, error) {
	token := cmp.Or(s.token, os.Getenv("IRIS_TOKEN"))
	if token == "" && s.issuer != "" {
		if s.clientID == "" {
			return nil, fmt.Errorf("%w: --issuer needs --client-id (or IRIS_OIDC_CLIENT_ID)", errUsage)
		}
		t, err := apiclient.DeviceLogin(ctx, s.issuer, s.clientID, func(uri, code, complete string) {
			if complete != "" {
				fmt.Fprintf(s.stderr, "To sign in, open %s\n(or open %s and enter the code %s)\n", complete, uri, code)
			} else {
				fmt.Fprintf(s.stderr, "To sign in, open %s and enter the code %s\n", uri, code)
			}
		})
		if errors.Is(err, apiclient.ErrNoDeviceFlow) {
			return nil, fmt.Errorf("sign in at %s: %w; pass --token or set IRIS_TOKEN instead", s.issuer, err)
		}
		if err != nil {
			return nil, fmt.Errorf("sign in at %s: %w", s.issuer, err)
		}
		token = t
	}
	c, err := apiclient.New(s.server, token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, nil
}

// explain turns a refused sign-in into what to do about it.
func (s *serverFlags) explain(err error) error {
	if !errors.Is(err, apiclient.ErrUnauthorized) {
		return err
	}
	return fmt.Errorf("%s wants a sign-in token (%v). Pass --token or set IRIS_TOKEN: for iris serve, the --token it was started with; "+
		"for the AWS deployment, an ID token of its user pool (its web app holds one once you have signed in; Cognito offers no device-code sign-in); "+
		"with another OIDC provider that offers the device-code flow, set IRIS_OIDC_ISSUER and IRIS_OIDC_CLIENT_ID to sign in here", s.server, err)
}

// artifactFormats maps --formats items to the artifacts they select.
var artifactFormats = map[string]func(name string) bool{
	"manifest": func(n string) bool { return n == "manifest.json" },
	"glb":      func(n string) bool { return path.Ext(n) == ".glb" },
	"obj":      func(n string) bool { return path.Ext(n) == ".obj" || path.Ext(n) == ".mtl" },
	"stl":      func(n string) bool { return path.Ext(n) == ".stl" },
	"labels":   func(n string) bool { return strings.HasPrefix(n, "labels.") },
	"volume":   func(n string) bool { return n == events.VolumeFile },
}

const defaultArtifactFormats = "manifest,glb,obj,stl,labels"

// parseArtifactFormats checks a --formats list.
func parseArtifactFormats(list string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		if _, ok := artifactFormats[item]; !ok {
			return nil, fmt.Errorf("--formats: unknown %q; known: manifest, glb, obj, stl, labels, volume", item)
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--formats %q names nothing", list)
	}
	return out, nil
}

func selected(name string, formats []string) bool {
	for _, f := range formats {
		if artifactFormats[f](name) {
			return true
		}
	}
	return false
}

// download saves the chosen artifacts of v under dir and returns their paths.
func download(ctx context.Context, c *apiclient.Client, v api.JobView, dir string, formats []string) ([]string, error) {
	var out []string
	for _, a := range v.Artifacts {
		if !selected(a.Name, formats) {
			continue
		}
		p, err := c.Download(ctx, a, dir, nil)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func organsOfJob(v api.JobView) []organ {
	out := []organ{}
	for _, o := range v.Organs {
		out = append(out, organ{Label: uint16(o.Label), Name: o.Name, Voxels: o.VoxelCount, VolumeMl: o.VolumeMl})
	}
	return out
}

// uploads sums the progress of uploads in flight for one progress bar.
type uploads struct {
	mu          sync.Mutex
	done, total map[string]int64
	bar         *progress
}

func (u *uploads) report(id string) apiclient.Progress {
	return func(done, total int64) {
		u.mu.Lock()
		u.done[id], u.total[id] = done, total
		var d, t int64
		for k := range u.done {
			d, t = d+u.done[k], t+u.total[k]
		}
		u.mu.Unlock()
		u.bar.set(int(d>>10), int(t>>10))
	}
}

func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris submit SCAN... [--server URL] [--token T] [--wait] [-o DIR] [--formats manifest,glb,obj,stl,labels,volume] [--json]")
		fs.PrintDefaults()
	}
	sf := serverFlags{stderr: stderr}
	sf.register(fs)
	wait := fs.Bool("wait", false, "follow each job to its end, and download its results into -o")
	out := fs.String("o", "", "with --wait: where results go (DIR for one scan, DIR/NAME/ for each of several)")
	formats := fs.String("formats", defaultArtifactFormats, "with --wait: what to download: manifest, glb, obj, stl, labels, volume")
	poll := fs.Duration("poll", 2*time.Second, "with --wait: how often to ask how a job is doing")
	timeout := fs.Duration("timeout", 2*time.Hour, "with --wait: give up on a job after this long")
	var bf batchFlags
	bf.register(fs, false)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: submit takes one or more scans", errUsage)
	}
	fmts, err := parseArtifactFormats(*formats)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out != "" && !*wait {
		return fmt.Errorf("%w: -o needs --wait (results exist once a job is done)", errUsage)
	}
	if *poll <= 0 {
		return fmt.Errorf("%w: --poll must be positive", errUsage)
	}
	found, err := findInputs(pos, findNIfTI|findDICOM, *out)
	if err != nil {
		return err
	}
	c, err := sf.connect(ctx)
	if err != nil {
		return err
	}
	p := plan{verb: "submit", batch: len(found) > 1,
		jobs:     cmp.Or(bf.jobs, min(len(found), 4)), // uploads and polls wait on the network, not the CPU
		complete: func(task) bool { return false },
	}
	for _, f := range found {
		dir := *out
		if len(found) > 1 && dir != "" {
			dir = filepath.Join(dir, f.name)
		}
		p.tasks = append(p.tasks, task{Input: f.path, Out: dir})
	}
	up := &uploads{done: map[string]int64{}, total: map[string]int64{}, bar: newProgress(stderr, "uploading (kB)", bf.quiet)}
	var mu sync.Mutex
	jobIDs := map[string]string{}
	p.work = func(ctx context.Context, t task, o *outcome) error {
		start := time.Now()
		v, err := c.Submit(ctx, t.Input, up.report(t.Input))
		if err != nil {
			return failAt("upload", sf.explain(err))
		}
		mu.Lock()
		jobIDs[t.Input] = v.ID
		mu.Unlock()
		o.Job = v.ID
		o.time("upload", start)
		o.line = fmt.Sprintf("submitted %s: job %s", t.Input, v.ID)
		if !*wait {
			return nil
		}
		step := time.Now()
		wctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		v, err = c.Wait(wctx, v.ID, *poll, func(v api.JobView) {
			if !bf.json && !bf.quiet && isTerminal(stderr) {
				fmt.Fprintf(stderr, "job %s (%s): %s\n", v.ID, filepath.Base(t.Input), v.Status)
			}
		})
		if err != nil {
			return failAt("wait", fmt.Errorf("job %s: %w", o.Job, sf.explain(err)))
		}
		o.time("processing", step)
		o.Organs = organsOfJob(v)
		if v.Status == job.Failed {
			if v.Error != nil {
				return &jobFailure{v.ID, *v.Error}
			}
			return &jobFailure{v.ID, job.Error{Code: "failed", Message: "the job failed without a reason"}}
		}
		step = time.Now()
		if t.Out != "" {
			files, err := download(ctx, c, v, t.Out, fmts)
			if err != nil {
				return failAt("write", fmt.Errorf("job %s: %w", v.ID, err))
			}
			o.Outputs = files
			o.time("download", step)
		}
		o.line = fmt.Sprintf("job %s (%s) done: %d organs", v.ID, t.Input, len(v.Organs))
		if t.Out != "" {
			o.line += fmt.Sprintf("; %d files in %s", len(o.Outputs), t.Out)
		}
		return nil
	}
	err = execute(ctx, p, bf, stdout, stderr)
	return err
}

// jobFailure is a job the pipeline failed, with its own code.
type jobFailure struct {
	id  string
	err job.Error
}

func (j *jobFailure) Error() string {
	return fmt.Sprintf("job %s failed at %s: %s", j.id, j.err.Stage, j.err.Message)
}

func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris jobs [--server URL] [--token T] [--limit N] [--json]")
		fs.PrintDefaults()
	}
	sf := serverFlags{stderr: stderr}
	sf.register(fs)
	limit := fs.Int("limit", api.DefaultListLimit, fmt.Sprintf("jobs to list, newest first (1..%d per page; more are paged)", api.MaxListLimit))
	asJSON := fs.Bool("json", false, "print the jobs as JSON lines, one job per line")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 0 || *limit < 1 {
		fs.Usage()
		return fmt.Errorf("%w: jobs takes no arguments and a positive --limit", errUsage)
	}
	c, err := sf.connect(ctx)
	if err != nil {
		return err
	}
	var all []api.JobView
	cursor := ""
	for len(all) < *limit {
		page, err := c.Jobs(ctx, min(*limit-len(all), api.MaxListLimit), cursor)
		if err != nil {
			return sf.explain(err)
		}
		all = append(all, page.Jobs...)
		if page.Next == "" || len(page.Jobs) == 0 {
			break
		}
		cursor = page.Next
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, v := range all {
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "job\tstatus\tcreated\tinput\torgans\terror")
	for _, v := range all {
		input, reason := "", ""
		if v.Input != nil {
			input = v.Input.File
		}
		if v.Error != nil {
			reason = v.Error.Code
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.Status, v.CreatedAt.Local().Format("2006-01-02 15:04"), input, len(v.Organs), reason)
	}
	return tw.Flush()
}

func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris job ID [--server URL] [--token T] [--json]")
		fs.PrintDefaults()
	}
	sf := serverFlags{stderr: stderr}
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the job as the API's JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: job takes one job id", errUsage)
	}
	c, err := sf.connect(ctx)
	if err != nil {
		return err
	}
	v, err := c.Job(ctx, pos[0])
	if err != nil {
		return sf.explain(err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	fmt.Fprintf(stdout, "job %s: %s (updated %s)\n", v.ID, v.Status, v.UpdatedAt.Local().Format(time.DateTime))
	if v.Input != nil {
		fmt.Fprintf(stdout, "input: %s, %s, %d×%d×%d voxels\n", v.Input.File, v.Input.Format, v.Input.Dims[0], v.Input.Dims[1], v.Input.Dims[2])
	}
	if v.Error != nil {
		fmt.Fprintf(stdout, "failed at %s (%s): %s\n", v.Error.Stage, v.Error.Code, v.Error.Message)
	}
	if len(v.Organs) > 0 {
		fmt.Fprintf(stdout, "%d organs\n", len(v.Organs))
	}
	names := make([]string, 0, len(v.Artifacts))
	for _, a := range v.Artifacts {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if len(names) > 0 {
		fmt.Fprintf(stdout, "files: %s\n", strings.Join(names, ", "))
	}
	if v.Status == job.Failed {
		return fmt.Errorf("job %s failed", v.ID)
	}
	return nil
}

func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris download ID [-o DIR] [--formats manifest,glb,obj,stl,labels,volume] [--server URL] [--token T]")
		fs.PrintDefaults()
	}
	sf := serverFlags{stderr: stderr}
	sf.register(fs)
	out := fs.String("o", "", "folder for the files (default: the job id)")
	formats := fs.String("formats", defaultArtifactFormats, "what to download: manifest, glb, obj, stl, labels, volume")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: download takes one job id", errUsage)
	}
	fmts, err := parseArtifactFormats(*formats)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c, err := sf.connect(ctx)
	if err != nil {
		return err
	}
	v, err := c.Job(ctx, pos[0])
	if err != nil {
		return sf.explain(err)
	}
	if v.Status != job.Done {
		return fmt.Errorf("job %s is %s: results exist once it is done", v.ID, v.Status)
	}
	dir := cmp.Or(*out, v.ID)
	files, err := download(ctx, c, v, dir, fmts)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
