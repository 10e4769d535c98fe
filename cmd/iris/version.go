package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/iris-oculus/iris/web"
)

// version and commit are stamped at build time by `make release` (and the
// release workflow):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/iris
//
// Unstamped builds say "dev" and take the commit from the Go toolchain's
// VCS stamp when there is one.
var (
	version = "dev"
	commit  = ""
)

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: iris version") }
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintln(stdout, versionLine(version, commit, web.Built()))
	return nil
}

// versionLine is what `iris version` prints, one line:
//
//	iris v1.2.3 (commit 0123abc…, go1.26.8 linux/amd64, web app embedded)
func versionLine(version, commit string, webBuilt bool) string {
	if commit == "" {
		commit = vcsRevision()
	}
	if commit == "" {
		commit = "unknown"
	}
	app := "web app embedded"
	if !webBuilt {
		app = "web app not built"
	}
	return fmt.Sprintf("iris %s (commit %s, %s %s/%s, %s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, app)
}

// vcsRevision is the commit the go command recorded, with "-dirty" when
// the work tree had changes, or "".
func vcsRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
