// Package functions holds only this test: it keeps each Lambda linking
// what it runs and nothing more, by reading `go list -deps` of each
// function's main package.
package functions

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/iris-oculus/iris/"

// The imaging code: what reads, segments and meshes volumes, the codec
// modules behind it, and the stage handlers that use it. Each Lambda may
// link only the groups it runs (allowed below): the API serves JSON and
// signs URLs, dispatch starts segmentations over ports and status keeps
// the job records (reading manifests through the leaf package
// export/manifest, which internal/export is matched exactly to allow), so
// they link none of it; ingest reads and checks scans but meshes nothing;
// the mesher reads label maps (NIfTI) and meshes them, and decodes no
// DICOM and segments nothing.
var (
	// volumes: the NIfTI reader and the label tables, which ingest and
	// the mesher both need.
	volumes = []string{mod + "internal/volume", mod + "internal/labels", "github.com/klauspost/pgzip"}
	// reading: the DICOM reader and its codecs, the scan reader over it,
	// the CT check of package segment, and the ingest stage.
	reading = []string{
		mod + "internal/dicom", mod + "internal/scan", mod + "internal/segment", mod + "internal/pipeline/ingest",
		"github.com/suyashkumar/dicom", "github.com/cocosip/",
	}
	// meshing: the mesher, the model writers and the mesher stage.
	meshing = []string{
		mod + "internal/mesh", mod + "internal/export\x00", "github.com/qmuntal/gltf", mod + "internal/pipeline/mesher",
	}
	// all is internal/pipeline itself, which re-exports every stage for
	// iris serve: no Lambda links it.
	all = []string{mod + "internal/pipeline\x00"}
)

// never is what no Lambda runs: the local adapters and SQLite, the CDK,
// the endpoint control plane (iris endpoint's), the CLI.
var never = []string{
	mod + "internal/local", "modernc.org/sqlite", "github.com/aws/aws-cdk-go", "github.com/aws/jsii-runtime-go",
	mod + "internal/aws/endpoint", "github.com/aws/aws-sdk-go-v2/service/sagemaker\x00", mod + "cmd/",
	mod + "infra", "github.com/schollz/progressbar", "github.com/fsnotify/fsnotify", "github.com/johannesboyne/gofakes3",
}

// forbid is never and every imaging group but the allowed ones.
func forbid(allowed ...*[]string) []string {
	out := append([]string{}, never...)
	for _, g := range []*[]string{&volumes, &reading, &meshing, &all} {
		if !slices.Contains(allowed, g) {
			out = append(out, *g...)
		}
	}
	return out
}

func TestLambdaDependencies(t *testing.T) {
	for _, fn := range []struct {
		name      string
		forbidden []string
	}{
		{"api", forbid()},
		{"dispatch", forbid()},
		{"ingest", forbid(&volumes, &reading)},
		{"mesher", forbid(&volumes, &meshing)},
		{"status", forbid()},
	} {
		t.Run(fn.name, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "./"+fn.name).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v\n%s", fn.name, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list -deps ./%s listed %d packages; the check would prove nothing", fn.name, len(deps))
			}
			for _, d := range deps {
				for _, f := range fn.forbidden {
					// A trailing NUL marks an exact name (the control-plane
					// SDK, not sagemakerruntime); otherwise a prefix.
					if exact, ok := strings.CutSuffix(f, "\x00"); ok && d == exact || !ok && strings.HasPrefix(d, f) {
						t.Errorf("functions/%s links %s (forbidden: %s)", fn.name, d, strings.TrimSuffix(f, "\x00"))
					}
				}
			}
			t.Logf("functions/%s links %d packages", fn.name, len(deps))
		})
	}
}
