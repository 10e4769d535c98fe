// Package tools finds the pinned programs that the tests run beside the
// code: the Khronos glTF validator and dynalite (npm packages locked in
// tools/gltf and tools/dynalite) and goaws (built from the small module in
// tools/goaws into bin/tools/goaws). `make tools` installs all three, once,
// and .ci/run does it through `make test`.
//
// It installs nothing. A tool that is missing, or installed at a version
// other than the pinned one, fails the test with one line that names the
// tool and says to run `make tools`; it never skips.
package tools

import (
	"bufio"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
)

// Install is the command that installs every tool.
const Install = "make tools"

// GoawsModule is the SQS emulator's module, whose version tools/goaws/go.mod pins.
const GoawsModule = "github.com/Admiral-Piett/goaws"

// Node returns the node executable, which runs the npm tools.
func Node(tb testing.TB) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node is not on PATH: install Node.js 20 or later (apt-get install nodejs npm), then run `%s`", Install)
	}
	return node
}

// GLTFValidator returns node and the script that validates a .glb with the
// Khronos glTF validator (tools/gltf/validate.mjs).
func GLTFValidator(tb testing.TB) (node, script string) {
	tb.Helper()
	dir := npmTool(tb, "gltf", "gltf-validator")
	return Node(tb), filepath.Join(dir, "validate.mjs")
}

// Dynalite returns node and the folder of the dynalite package, for
// `require(dir)`.
func Dynalite(tb testing.TB) (node, pkg string) {
	tb.Helper()
	dir := npmTool(tb, "dynalite", "dynalite")
	return Node(tb), filepath.Join(dir, "node_modules", "dynalite")
}

// Goaws returns the loopback goaws wrapper, bin/tools/goaws.
func Goaws(tb testing.TB) string {
	tb.Helper()
	root, err := testdata.RepoRoot()
	if err != nil {
		tb.Fatalf("repository root: %v", err)
	}
	path, err := goawsPath(root)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// goawsPath is the goaws binary under root, or an error that says what to
// run.
func goawsPath(root string) (string, error) {
	src := filepath.Join(root, "tools", "goaws")
	bin := filepath.Join(root, "bin", "tools", "goaws")
	want, err := requiredVersion(filepath.Join(src, "go.mod"), GoawsModule)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("goaws %s is not installed (%s is missing): run `%s`", want, bin, Install)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("goaws at %s is not a Go binary (%v): run `%s`", bin, err, Install)
	}
	var got string
	for _, d := range info.Deps {
		if d.Path == GoawsModule {
			got = d.Version
		}
	}
	if got != want {
		return "", fmt.Errorf("goaws at %s is %q, tools/goaws pins %s: run `%s`", bin, got, want, Install)
	}
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		if s, err := os.Stat(filepath.Join(src, f)); err == nil && s.ModTime().After(st.ModTime()) {
			return "", fmt.Errorf("goaws at %s is older than tools/goaws/%s: run `%s`", bin, f, Install)
		}
	}
	return bin, nil
}

// npmTool checks that tools/<dir> has its pinned package installed and
// returns tools/<dir>.
func npmTool(tb testing.TB, dir, pkg string) string {
	tb.Helper()
	root, err := testdata.RepoRoot()
	if err != nil {
		tb.Fatalf("repository root: %v", err)
	}
	path, err := npmToolPath(root, dir, pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// npmToolPath is tools/<dir> under root when it holds pkg at the version
// its package.json pins, or an error that says what to run.
func npmToolPath(root, dir, pkg string) (string, error) {
	tool := filepath.Join(root, "tools", dir)
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
		Version      string            `json:"version"`
	}
	if err := readJSON(filepath.Join(tool, "package.json"), &manifest); err != nil {
		return "", err
	}
	want := manifest.Dependencies[pkg]
	if want == "" {
		return "", fmt.Errorf("tools/%s/package.json does not pin %s", dir, pkg)
	}
	installed := filepath.Join(tool, "node_modules", pkg, "package.json")
	manifest.Version = ""
	if err := readJSON(installed, &manifest); err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("%s %s is not installed (tools/%s/node_modules): run `%s`", pkg, want, dir, Install)
		}
		return "", err
	}
	if manifest.Version != want {
		return "", fmt.Errorf("%s in tools/%s is %s, package.json pins %s: run `%s`", pkg, dir, manifest.Version, want, Install)
	}
	return tool, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// requiredVersion is the version go.mod requires of module.
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", gomod, err)
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}
