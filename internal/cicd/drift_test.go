package cicd

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/iris-oculus/iris/internal/testdata"
)

// root is the repository's root.
func root(t *testing.T) string {
	t.Helper()
	r, err := testdata.RepoRoot()
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return r
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeTestCommand is the command that the README's quick start says
// runs every test.
func readmeTestCommand(t *testing.T) string {
	t.Helper()
	readme := read(t, "README.md")
	_, quick, ok := strings.Cut(readme, "## Quick start")
	if !ok {
		t.Fatal("README.md has no \"## Quick start\" section")
	}
	_, block, ok := strings.Cut(quick, "```sh\n")
	if !ok {
		t.Fatal("README.md's quick start has no ```sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	for _, line := range strings.Split(block, "\n") {
		cmd, comment, ok := strings.Cut(line, "#")
		if ok && strings.Contains(comment, "runs every test") {
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatalf("README.md's quick start names no command that \"runs every test\":\n%s", block)
	return ""
}

// workflow is one parsed file of .github/workflows.
type workflow struct {
	name string
	text string
	doc  map[string]any
}

func loadWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	w := workflow{name: name, text: read(t, filepath.Join(".github", "workflows", name))}
	if err := yaml.Unmarshal([]byte(w.text), &w.doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w
}

func workflows(t *testing.T) []workflow {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(root(t), ".github", "workflows", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []workflow
	for _, n := range names {
		if ext := filepath.Ext(n); ext != ".yml" && ext != ".yaml" {
			t.Errorf("%s: not a workflow file (.yml)", n)
			continue
		}
		out = append(out, loadWorkflow(t, filepath.Base(n)))
	}
	if len(out) != 3 {
		t.Errorf("%d workflows, want test, deploy and release", len(out))
	}
	return out
}

func (w workflow) jobs(t *testing.T) map[string]map[string]any {
	t.Helper()
	jobs := map[string]map[string]any{}
	m, _ := w.doc["jobs"].(map[string]any)
	for id, j := range m {
		jm, ok := j.(map[string]any)
		if !ok {
			t.Fatalf("%s: job %s is not a map", w.name, id)
		}
		jobs[id] = jm
	}
	if len(jobs) == 0 {
		t.Fatalf("%s has no jobs", w.name)
	}
	return jobs
}

func (w workflow) job(t *testing.T, id string) map[string]any {
	t.Helper()
	j, ok := w.jobs(t)[id]
	if !ok {
		t.Fatalf("%s has no job %q", w.name, id)
	}
	return j
}

func steps(job map[string]any) []map[string]any {
	var out []map[string]any
	for _, s := range asList(job["steps"]) {
		if m, ok := s.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// runLines are the command lines of a job's run: steps, trimmed, without
// comments and blank lines, continuation lines joined.
func runLines(job map[string]any) []string {
	var out []string
	for _, s := range steps(job) {
		run, _ := s["run"].(string)
		run = strings.ReplaceAll(run, "\\\n", " ")
		for _, l := range strings.Split(run, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// makeGoals are the goals of a `make` command line, or nil when the line
// is not one.
func makeGoals(line string) []string {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "make" {
		return nil
	}
	var goals []string
	for _, a := range f[1:] {
		if !strings.HasPrefix(a, "-") && !strings.Contains(a, "=") {
			goals = append(goals, a)
		}
	}
	return goals
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	default:
		return []any{v}
	}
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// trigger is the on: entry for event, or nil.
func (w workflow) trigger(t *testing.T, event string) (map[string]any, bool) {
	t.Helper()
	on, ok := w.doc["on"].(map[string]any)
	if !ok {
		t.Fatalf("%s: on: is not a map of events", w.name)
	}
	v, ok := on[event]
	m, _ := v.(map[string]any)
	return m, ok
}

// TestWorkflowsRunTheDocumentedCommands: the test workflow and .ci/run
// run the README's test command, the deploy workflow `make deploy`, the
// release workflow `make release`, and `make test` runs actionlint.
func TestWorkflowsRunTheDocumentedCommands(t *testing.T) {
	cmd := readmeTestCommand(t)
	if cmd != "make test" {
		t.Logf("the README's test command is %q", cmd)
	}

	// .ci/run ends by running it.
	var ciLines []string
	sc := bufio.NewScanner(strings.NewReader(read(t, ".ci/run")))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			ciLines = append(ciLines, l)
		}
	}
	if len(ciLines) == 0 || (ciLines[len(ciLines)-1] != cmd && ciLines[len(ciLines)-1] != "exec "+cmd) {
		t.Errorf(".ci/run does not end with the README's test command %q (last line %q)", cmd, ciLines[len(ciLines)-1])
	}

	// The test workflow runs .ci/run (or the command itself), on pushes,
	// pull requests and when deploy and release call it.
	test := loadWorkflow(t, "test.yml")
	lines := runLines(test.job(t, "test"))
	if !slices.Contains(lines, ".ci/run") && !slices.Contains(lines, cmd) {
		t.Errorf("test.yml's test job runs neither .ci/run nor %q: %q", cmd, lines)
	}
	for _, ev := range []string{"push", "pull_request", "workflow_call"} {
		if _, ok := test.trigger(t, ev); !ok {
			t.Errorf("test.yml does not run on %s", ev)
		}
	}

	// deploy runs `make deploy`, after the tests, on main.
	deploy := loadWorkflow(t, "deploy.yml")
	if !slices.ContainsFunc(runLines(deploy.job(t, "deploy")), func(l string) bool { return slices.Contains(makeGoals(l), "deploy") }) {
		t.Error("deploy.yml's deploy job does not run make deploy")
	}
	if push, ok := deploy.trigger(t, "push"); !ok || !reflect.DeepEqual(asStrings(push["branches"]), []string{"main"}) {
		t.Errorf("deploy.yml does not run on pushes to main: %v", push)
	}
	if _, ok := deploy.trigger(t, "workflow_dispatch"); !ok {
		t.Error("deploy.yml cannot be run by hand (workflow_dispatch)")
	}

	// release runs `make release`, after the tests, on v* tags.
	release := loadWorkflow(t, "release.yml")
	if !slices.ContainsFunc(runLines(release.job(t, "release")), func(l string) bool { return slices.Contains(makeGoals(l), "release") }) {
		t.Error("release.yml's release job does not run make release")
	}
	if push, ok := release.trigger(t, "push"); !ok || !reflect.DeepEqual(asStrings(push["tags"]), []string{"v*"}) {
		t.Errorf("release.yml does not run on v* tags: %v", push)
	}

	// Both test the commit first, with the test workflow itself.
	for _, w := range []struct {
		wf  workflow
		job string
	}{{deploy, "deploy"}, {release, "release"}} {
		if uses := w.wf.job(t, "test")["uses"]; uses != "./.github/workflows/test.yml" {
			t.Errorf("%s: job test uses %v, want ./.github/workflows/test.yml", w.wf.name, uses)
		}
		if needs := asStrings(w.wf.job(t, w.job)["needs"]); !slices.Contains(needs, "test") {
			t.Errorf("%s: job %s does not need test (needs %v)", w.wf.name, w.job, needs)
		}
	}

	// `make test` runs actionlint.
	mk := read(t, "Makefile")
	m := regexp.MustCompile(`(?m)^test:(.*)$`).FindStringSubmatch(mk)
	if m == nil || !slices.Contains(strings.Fields(m[1]), "actionlint") {
		t.Errorf("the Makefile's test target does not depend on actionlint: %q", m)
	}
	if !regexp.MustCompile(`(?m)^ACTIONLINT := github\.com/rhysd/actionlint/cmd/actionlint@v\d+\.\d+\.\d+$`).MatchString(mk) {
		t.Error("the Makefile does not pin actionlint to a version (ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@vX.Y.Z)")
	}
}

// TestDeployWorkflow: OIDC credentials only, a protected environment, one
// deploy at a time, outputs printed.
func TestDeployWorkflow(t *testing.T) {
	w := loadWorkflow(t, "deploy.yml")
	job := w.job(t, "deploy")
	if env := job["environment"]; env != "production" && !(func() bool { m, _ := env.(map[string]any); return m["name"] == "production" })() {
		t.Errorf("the deploy job's environment is %v, want production (the role trusts no other)", env)
	}
	conc, _ := job["concurrency"].(map[string]any)
	if g, _ := conc["group"].(string); g == "" || conc["cancel-in-progress"] != false {
		t.Errorf("the deploy job's concurrency is %v, want a group with cancel-in-progress: false", conc)
	}
	var creds map[string]any
	for _, s := range steps(job) {
		if uses, _ := s["uses"].(string); strings.HasPrefix(uses, "aws-actions/configure-aws-credentials@") {
			creds, _ = s["with"].(map[string]any)
		}
	}
	if creds == nil {
		t.Fatal("the deploy job does not use aws-actions/configure-aws-credentials")
	}
	if r, _ := creds["role-to-assume"].(string); !strings.Contains(r, "vars.") {
		t.Errorf("role-to-assume is %q, want it from a repository variable", r)
	}
	for k := range creds {
		if strings.Contains(k, "access-key") || strings.Contains(k, "secret") || k == "aws-session-token" {
			t.Errorf("configure-aws-credentials is given %s: credentials must come from OIDC only", k)
		}
	}
	if strings.Contains(w.text, "secrets.") {
		t.Error("deploy.yml reads a secret: nothing is stored, credentials come from OIDC")
	}
	for _, ctx := range []string{"alarmEmail", "siteDomain", "siteCertificateArn", "instanceType"} {
		if !strings.Contains(w.text, ctx+"=") {
			t.Errorf("deploy.yml does not pass the %s context", ctx)
		}
	}
	if !strings.Contains(w.text, "--outputs-file") || !strings.Contains(w.text, "GITHUB_STEP_SUMMARY") {
		t.Error("deploy.yml does not print the stack outputs")
	}
}

var (
	pinnedRe  = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	versionRe = regexp.MustCompile(`#\s*v\d+(\.\d+)*\s*$`)
)

// TestWorkflowsPinnedAndLeastPrivilege: every action is pinned to a full
// commit (with its version in a comment), no workflow grants anything by
// default, every job states its permissions, and only the deploy job may
// ask for an OIDC token.
func TestWorkflowsPinnedAndLeastPrivilege(t *testing.T) {
	want := map[string]map[string]map[string]any{
		"test.yml":    {"test": {"contents": "read"}},
		"deploy.yml":  {"test": {"contents": "read"}, "deploy": {"contents": "read", "id-token": "write"}},
		"release.yml": {"test": {"contents": "read"}, "release": {"contents": "write"}},
	}
	for _, w := range workflows(t) {
		if p, ok := w.doc["permissions"].(map[string]any); !ok || len(p) != 0 {
			t.Errorf("%s: top-level permissions are %v, want {} (each job states its own)", w.name, w.doc["permissions"])
		}
		for id, job := range w.jobs(t) {
			got, _ := job["permissions"].(map[string]any)
			if exp, ok := want[w.name][id]; !ok {
				t.Errorf("%s: job %s is not known to this test; add its permissions here", w.name, id)
			} else if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s: job %s has permissions %v, want %v", w.name, id, got, exp)
			}
			for _, s := range steps(job) {
				uses, _ := s["uses"].(string)
				if uses == "" || strings.HasPrefix(uses, "./") {
					continue
				}
				if !pinnedRe.MatchString(uses) {
					t.Errorf("%s: %s is not pinned to a full commit SHA", w.name, uses)
				}
				if strings.HasPrefix(uses, "actions/checkout@") {
					if with, _ := s["with"].(map[string]any); with["persist-credentials"] != false {
						t.Errorf("%s: job %s checks out with persisted credentials", w.name, id)
					}
				}
			}
		}
		// The version comment that says what the SHA is.
		for i, line := range strings.Split(w.text, "\n") {
			if _, after, ok := strings.Cut(line, "uses: "); ok && !strings.HasPrefix(after, "./") && !versionRe.MatchString(after) {
				t.Errorf("%s:%d: %s has no # vX.Y.Z comment", w.name, i+1, strings.TrimSpace(after))
			}
		}
	}
}

// TestWorkflowCaches: the Go version is go.mod's, and the test job's caches
// are keyed on every go.sum and npm lock file of the repository.
func TestWorkflowCaches(t *testing.T) {
	r := root(t)
	gomod := read(t, "go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	var locks []string
	err := filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "bin" || (strings.HasPrefix(d.Name(), ".") && path != r && d.Name() != ".github")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "go.sum" || d.Name() == "package-lock.json") {
			rel, _ := filepath.Rel(r, path)
			if !strings.HasPrefix(rel, "testdata"+string(filepath.Separator)) && !strings.Contains(rel, string(filepath.Separator)+"testdata"+string(filepath.Separator)) {
				locks = append(locks, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(locks)
	keyed := map[string]bool{}
	for _, w := range workflows(t) {
		for id, job := range w.jobs(t) {
			for _, s := range steps(job) {
				uses, _ := s["uses"].(string)
				with, _ := s["with"].(map[string]any)
				if strings.HasPrefix(uses, "actions/setup-go@") {
					if v := with["go-version"]; v != m[1] {
						t.Errorf("%s: job %s sets up Go %v, go.mod says %s", w.name, id, v, m[1])
					}
				}
				if w.name == "test.yml" && (strings.HasPrefix(uses, "actions/setup-go@") || strings.HasPrefix(uses, "actions/setup-node@")) {
					for _, p := range strings.Fields(with["cache-dependency-path"].(string)) {
						keyed[p] = true
					}
				}
			}
		}
	}
	for _, l := range locks {
		if !keyed[l] {
			t.Errorf("test.yml's caches are not keyed on %s", l)
		}
	}
	if len(locks) < 5 {
		t.Errorf("found only %d lock files (%v): the walk is broken", len(locks), locks)
	}
}
