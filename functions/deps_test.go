// Package functions holds only this test: it keeps each Lambda linking
// what it runs and nothing more, by reading `go list -deps` of each
// function's main package.
package functions

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/iris-oculus/iris/"

// imaging is the code that reads, segments and meshes volumes, and the
// codec modules behind it, with the stage handlers that use it
// (internal/pipeline, not its light dispatch package). The API Lambda
// serves JSON and signs URLs, dispatch starts segmentations over ports,
// and status keeps the job records (reading manifests through the leaf
// package export/manifest, which internal/export is matched exactly to
// allow): they must link none of it.
var imaging = []string{
	mod + "internal/volume", mod + "internal/dicom", mod + "internal/scan", mod + "internal/segment",
	mod + "internal/mesh", mod + "internal/export\x00", mod + "internal/labels", mod + "internal/pipeline\x00",
	"github.com/suyashkumar/dicom", "github.com/cocosip/", "github.com/qmuntal/gltf",
	"github.com/klauspost/pgzip",
}

// never is what no Lambda runs: the local adapters and SQLite, the CDK,
// the endpoint control plane (iris endpoint's), the CLI.
var never = []string{
	mod + "internal/local", "modernc.org/sqlite", "github.com/aws/aws-cdk-go", "github.com/aws/jsii-runtime-go",
	mod + "internal/aws/endpoint", "github.com/aws/aws-sdk-go-v2/service/sagemaker\x00", mod + "cmd/",
	mod + "infra", "github.com/schollz/progressbar", "github.com/fsnotify/fsnotify", "github.com/johannesboyne/gofakes3",
}

func TestLambdaDependencies(t *testing.T) {
	for _, fn := range []struct {
		name      string
		forbidden []string
	}{
		{"api", append(append([]string{}, never...), imaging...)},
		{"dispatch", append(append([]string{}, never...), imaging...)},
		{"ingest", never},
		{"mesher", never},
		{"status", append(append([]string{}, never...), imaging...)},
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
