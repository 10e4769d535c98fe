// Command iris is IRIS Oculus on one machine: it meshes label maps,
// segments and converts CT scans, and (later) serves the whole pipeline.
//
// Usage:
//
//	iris serve [--data DIR] [--addr 127.0.0.1:8080] [--engine native|totalsegmentator|http://host:port]
//	iris segment CT.nii.gz|DICOM_FOLDER|SERIES.zip -o labels.nii.gz [--engine native|totalsegmentator]
//	iris convert DICOM_FOLDER|SERIES.zip -o ct.nii.gz
//	iris mesh LABELS.nii.gz -o OUT [--smooth 0..1] [--reduce 0..1 | --max-triangles N] [--formats glb,obj,stl] [--labels liver,aorta,…]
//	iris segment|convert|mesh INPUT_OR_FOLDER... -o OUT_FOLDER [--json] [--skip-existing] [-j N]
//	iris submit SCAN... --server URL [--wait] [-o DIR]; iris jobs; iris job ID; iris download ID
//
// Exit status: 0 all done, 1 some input failed (after the others ran), 2 usage.
//
// Every command exits non-zero with a one-line reason on bad input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one verb of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "the whole pipeline on this machine: drop folder, HTTP API and web app", runServe},
		{"mesh", "label map → named, coloured organ meshes (GLB, OBJ/MTL, STL, manifest)", runMesh},
		{"segment", "CT (NIfTI, DICOM folder or zip) → label map (native engine or TotalSegmentator)", runSegment},
		{"endpoint", "the AWS GPU endpoint: status, start (keep one warm), stop (scale to zero)", runEndpoint},
		{"convert", "DICOM series (folder or zip) → de-identified NIfTI, with what was found", runConvert},
		{"submit", "send scans to a running iris serve or AWS deployment; --wait for the models", runSubmit},
		{"jobs", "list the jobs of a running iris serve or AWS deployment", runJobs},
		{"job", "one job of a running iris serve or AWS deployment", runJob},
		{"download", "download a finished job's models", runDownload},
	}
}

// errUsage marks errors whose message is already a complete usage complaint.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "iris: %v\n", oneLine(err))
		}
		os.Exit(exitCode(err))
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr, cmds)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "usage: iris COMMAND [arguments]\n\ncommands:")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'iris COMMAND -h' for a command's flags.")
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// oneLine keeps the reason on one line, as scripts and people expect.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// parseArgs parses flags wherever they appear among the positional
// arguments (the standard flag package stops at the first positional one),
// so `iris mesh in.nii.gz -o out` works as people type it.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
