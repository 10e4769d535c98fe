package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/testdata"
)

// TestInstalled: in this checkout, after `make tools`, each tool is found
// at its pinned version and runs.
func TestInstalled(t *testing.T) {
	node, script := GLTFValidator(t)
	if _, err := os.Stat(script); err != nil {
		t.Errorf("glTF validator script: %v", err)
	}
	_, pkg := Dynalite(t)
	if _, err := os.Stat(filepath.Join(pkg, "cli.js")); err != nil {
		t.Errorf("dynalite: %v", err)
	}
	// Both npm tools load under this node.
	for _, mod := range []string{filepath.Join(filepath.Dir(script), "node_modules", "gltf-validator"), pkg} {
		if out, err := exec.Command(node, "-e", "require(process.argv[1])", mod).CombinedOutput(); err != nil {
			t.Errorf("node cannot load %s: %v\n%s", mod, err, out)
		}
	}
	// goaws starts and prints its loopback address.
	cmd := exec.Command(Goaws(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		buf := make([]byte, 256)
		n, _ := out.Read(buf)
		line <- string(buf[:n])
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "listening on 127.0.0.1:") {
			t.Errorf("goaws's first line is %q, want listening on 127.0.0.1:PORT", l)
		}
	case <-time.After(30 * time.Second):
		t.Error("goaws printed nothing in 30 s")
	}
}

// TestMissingOrStale: a tool that is not installed, or not at its pin,
// fails with one line that names it and says to run `make tools`.
func TestMissingOrStale(t *testing.T) {
	root, err := testdata.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(t *testing.T, from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		write(t, to, string(b))
	}
	pin := `{"dependencies": {"dynalite": "4.0.0"}}`
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		check func(dir string) error
		want  []string
	}{
		{"npm tool not installed", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tools/dynalite/package.json"), pin)
		}, func(dir string) error { _, err := npmToolPath(dir, "dynalite", "dynalite"); return err },
			[]string{"dynalite 4.0.0 is not installed", "run `make tools`"}},
		{"npm tool at another version", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tools/dynalite/package.json"), pin)
			write(t, filepath.Join(dir, "tools/dynalite/node_modules/dynalite/package.json"), `{"version": "3.2.2"}`)
		}, func(dir string) error { _, err := npmToolPath(dir, "dynalite", "dynalite"); return err },
			[]string{"dynalite in tools/dynalite is 3.2.2, package.json pins 4.0.0", "run `make tools`"}},
		{"npm tool not pinned", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "tools/dynalite/package.json"), `{"dependencies": {}}`)
		}, func(dir string) error { _, err := npmToolPath(dir, "dynalite", "dynalite"); return err },
			[]string{"tools/dynalite/package.json does not pin dynalite"}},
		{"goaws not built", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(root, "tools/goaws/go.mod"), filepath.Join(dir, "tools/goaws/go.mod"))
		}, func(dir string) error { _, err := goawsPath(dir); return err },
			[]string{"goaws v", "is not installed", "run `make tools`"}},
		{"goaws is some other program", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(root, "tools/goaws/go.mod"), filepath.Join(dir, "tools/goaws/go.mod"))
			write(t, filepath.Join(dir, "bin/tools/goaws"), "#!/bin/sh\n")
		}, func(dir string) error { _, err := goawsPath(dir); return err },
			[]string{"is not a Go binary", "run `make tools`"}},
		{"goaws older than its source", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(root, "tools/goaws/go.mod"), filepath.Join(dir, "tools/goaws/go.mod"))
			copyFile(t, filepath.Join(root, "bin/tools/goaws"), filepath.Join(dir, "bin/tools/goaws"))
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "bin/tools/goaws"), old, old); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "tools/goaws/main.go"), "package main\n")
		}, func(dir string) error { _, err := goawsPath(dir); return err },
			[]string{"older than tools/goaws/main.go", "run `make tools`"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			err := c.check(dir)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}
