package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, c := range []struct {
		version, commit string
		web             bool
		want            string
	}{
		{"v1.2.3", "0123456789abcdef0123456789abcdef01234567", true,
			"iris v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567, " + platform + ", web app embedded)"},
		{"v0.1.0-rc.1", "abc", false, "iris v0.1.0-rc.1 (commit abc, " + platform + ", web app not built)"},
	} {
		if got := versionLine(c.version, c.commit, c.web); got != c.want {
			t.Errorf("versionLine(%q, %q, %v)\n got %q\nwant %q", c.version, c.commit, c.web, got, c.want)
		}
	}
	// Unstamped: "dev", and a commit from the VCS stamp or "unknown".
	if got := versionLine("dev", "", false); !strings.HasPrefix(got, "iris dev (commit ") || strings.Contains(got, "commit ,") {
		t.Errorf("unstamped: %q", got)
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil {
		t.Fatalf("iris version: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "iris "+version+" (commit ") || strings.Count(got, "\n") != 1 {
		t.Errorf("iris version printed %q", got)
	}
	if err := run(context.Background(), []string{"version", "extra"}, &out, &errOut); exitCode(err) != 2 {
		t.Errorf("iris version extra: %v, exit %d; want a usage error", err, exitCode(err))
	}
}
