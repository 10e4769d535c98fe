package cicd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// platforms are what `make release` builds, by binary name.
var platforms = map[string]struct{ goos, goarch string }{
	"iris-linux-amd64":       {"linux", "amd64"},
	"iris-linux-arm64":       {"linux", "arm64"},
	"iris-darwin-amd64":      {"darwin", "amd64"},
	"iris-darwin-arm64":      {"darwin", "arm64"},
	"iris-windows-amd64.exe": {"windows", "amd64"},
}

// TestRelease builds the release with `make release` into a temporary
// folder (or, with IRIS_RELEASE_DIR, IRIS_RELEASE_VERSION and
// IRIS_RELEASE_COMMIT set, checks a release built already, as the release
// workflow does before it uploads) and checks that:
//   - it holds exactly one binary per platform and SHA256SUMS, whose sums
//     are right;
//   - each binary is for its platform and statically linked as far as the
//     platform allows: Linux ELF with no interpreter and no shared
//     library; macOS Mach-O linking only the system's libSystem and
//     frameworks, which every Go program on macOS does; Windows PE
//     importing only system DLLs;
//   - each was built without cgo, with -trimpath and the webdist tag, and
//     holds the built web app (web/dist/index.html, byte for byte);
//   - the binary for this machine prints the stamped version and commit.
func TestRelease(t *testing.T) {
	r := root(t)
	dir, version, commit := os.Getenv("IRIS_RELEASE_DIR"), os.Getenv("IRIS_RELEASE_VERSION"), os.Getenv("IRIS_RELEASE_COMMIT")
	if dir == "" {
		dir, version, commit = t.TempDir(), "v0.0.0-releasetest.1", "0123456789abcdef0123456789abcdef01234567"
		mk, err := exec.LookPath("make")
		if err != nil {
			t.Fatal("make is not on PATH: install make (apt-get install make) to build the release")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, mk, "--no-print-directory", "release", "RELEASE_DIR="+dir, "VERSION="+version, "COMMIT="+commit)
		cmd.Dir = r
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release: %v\n%s", err, out)
		}
		t.Logf("make release: %.1f s", time.Since(start).Seconds())
	} else if version == "" || commit == "" {
		t.Fatal("IRIS_RELEASE_DIR is set without IRIS_RELEASE_VERSION and IRIS_RELEASE_COMMIT")
	}

	webIndex, err := os.ReadFile(filepath.Join(r, "web", "dist", "index.html"))
	if err != nil {
		t.Fatalf("the built web app: %v", err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"SHA256SUMS"}
	for n := range platforms {
		want = append(want, n)
	}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Fatalf("%s holds %v, want %v", dir, names, want)
	}

	sums := readSums(t, filepath.Join(dir, "SHA256SUMS"))
	for name, p := range platforms {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256(data); sums[name] != hex.EncodeToString(h[:]) {
				t.Errorf("SHA256SUMS says %s, the file hashes to %x", sums[name], h)
			}
			var problems []string
			switch p.goos {
			case "linux":
				problems = checkELF(path, p.goarch)
			case "darwin":
				problems = checkMachO(path, p.goarch)
			case "windows":
				problems = checkPE(path, p.goarch)
			}
			for _, pr := range problems {
				t.Error(pr)
			}
			info, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatalf("build info: %v", err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"CGO_ENABLED": "0", "GOOS": p.goos, "GOARCH": p.goarch, "-trimpath": "true", "-tags": "webdist"} {
				if settings[k] != v {
					t.Errorf("built with %s=%q, want %q", k, settings[k], v)
				}
			}
			// -trimpath keeps -ldflags out of the build info; the stamped
			// strings are in the binary's data.
			if !bytes.Contains(data, []byte(version)) || !bytes.Contains(data, []byte(commit)) {
				t.Errorf("version %s and commit %s are not stamped in", version, commit)
			}
			if !bytes.Contains(data, webIndex) {
				t.Error("the built web app (web/dist/index.html) is not embedded")
			}
		})
	}

	// The binary for this machine runs and says what it is.
	host := fmt.Sprintf("iris-%s-%s", runtime.GOOS, runtime.GOARCH)
	if runtime.GOOS == "windows" {
		host += ".exe"
	}
	if _, ok := platforms[host]; !ok {
		t.Fatalf("no release binary runs on this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	out, err := exec.Command(filepath.Join(dir, host), "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", host, err)
	}
	wantLine := fmt.Sprintf("iris %s (commit %s, ", version, commit)
	if got := string(out); !strings.HasPrefix(got, wantLine) || !strings.HasSuffix(got, ", web app embedded)\n") {
		t.Errorf("%s version printed %q, want %q… ending \", web app embedded)\"", host, got, wantLine)
	}
}

// readSums parses sha256sum's output: "<hex>  <name>" per line.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("%s: line %q is not \"<sha256>  <name>\"", path, sc.Text())
		}
		sums[strings.TrimPrefix(name, "*")] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(sums) != len(platforms) {
		t.Errorf("%s has %d sums, want %d", path, len(sums), len(platforms))
	}
	return sums
}

// checkELF: a Linux executable for goarch with no interpreter and no
// shared libraries.
func checkELF(path, goarch string) []string {
	f, err := elf.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("not an ELF file: %v", err)}
	}
	defer f.Close()
	var problems []string
	if want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]; f.Machine != want {
		problems = append(problems, fmt.Sprintf("ELF machine %v, want %v", f.Machine, want))
	}
	if f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("ELF type %v, want ET_EXEC (a static executable)", f.Type))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			problems = append(problems, fmt.Sprintf("has a %v program header: dynamically linked", p.Type))
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("needs shared libraries %v (%v)", libs, err))
	}
	return problems
}

// checkMachO: a macOS executable for goarch that links only what every
// Mac has: libSystem (Go makes its system calls through it) and system
// frameworks.
func checkMachO(path, goarch string) []string {
	f, err := macho.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("not a Mach-O file: %v", err)}
	}
	defer f.Close()
	var problems []string
	if want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]; f.Cpu != want {
		problems = append(problems, fmt.Sprintf("Mach-O CPU %v, want %v", f.Cpu, want))
	}
	if f.Type != macho.TypeExec {
		problems = append(problems, fmt.Sprintf("Mach-O type %v, want an executable", f.Type))
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		problems = append(problems, fmt.Sprintf("imported libraries: %v", err))
	}
	for _, l := range libs {
		if !strings.HasPrefix(l, "/usr/lib/") && !strings.HasPrefix(l, "/System/Library/Frameworks/") {
			problems = append(problems, fmt.Sprintf("links %s, which is not part of macOS", l))
		}
	}
	if !slices.Contains(libs, "/usr/lib/libSystem.B.dylib") {
		problems = append(problems, fmt.Sprintf("does not link libSystem (%v): not a Go program for macOS?", libs))
	}
	return problems
}

// windowsSystemDLLs are DLLs that ship with every Windows.
var windowsSystemDLLs = map[string]bool{
	"kernel32.dll": true, "ntdll.dll": true, "advapi32.dll": true, "ws2_32.dll": true, "winmm.dll": true,
	"user32.dll": true, "shell32.dll": true, "crypt32.dll": true, "bcrypt.dll": true, "iphlpapi.dll": true,
	"secur32.dll": true, "userenv.dll": true, "dnsapi.dll": true, "netapi32.dll": true, "powrprof.dll": true,
}

// checkPE: a Windows executable for goarch that imports system DLLs only.
func checkPE(path, goarch string) []string {
	f, err := pe.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("not a PE file: %v", err)}
	}
	defer f.Close()
	var problems []string
	if want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[goarch]; f.Machine != want {
		problems = append(problems, fmt.Sprintf("PE machine %#x, want %#x", f.Machine, want))
	}
	if f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 || f.Characteristics&pe.IMAGE_FILE_DLL != 0 {
		problems = append(problems, fmt.Sprintf("PE characteristics %#x: not an executable", f.Characteristics))
	}
	// debug/pe's ImportedLibraries returns nothing; the DLLs are named
	// in the imported symbols ("Name:dll").
	syms, err := f.ImportedSymbols()
	if err != nil {
		problems = append(problems, fmt.Sprintf("imported symbols: %v", err))
	}
	libs := map[string]bool{}
	for _, s := range syms {
		if _, dll, ok := strings.Cut(s, ":"); ok {
			libs[strings.ToLower(dll)] = true
		}
	}
	for l := range libs {
		if !windowsSystemDLLs[l] {
			problems = append(problems, fmt.Sprintf("imports %s, which is not a Windows system DLL", l))
		}
	}
	if !libs["kernel32.dll"] {
		problems = append(problems, fmt.Sprintf("does not import kernel32.dll (%v): not a Go program for Windows?", libs))
	}
	return problems
}
