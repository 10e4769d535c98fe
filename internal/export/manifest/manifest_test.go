package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"current schema", `{"schema":"1","generator":"g","organs":[{"label":5,"name":"liver","voxelCount":7}],"files":[{"name":"scene.glb","bytes":3}]}`, ""},
		{"other schema", `{"schema":"2"}`, `schema "2", want "1"`},
		{"no schema", `{}`, `schema "", want "1"`},
		{"not JSON", `manifest`, "read manifest x.json: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.body), "x.json")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Organs) != 1 || m.Organs[0].Name != "liver" || m.Organs[0].Label != 5 || m.Organs[0].VoxelCount != 7 ||
				len(m.Files) != 1 || m.Files[0].Bytes != 3 {
				t.Errorf("decoded %+v", m)
			}
		})
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "read manifest") {
		t.Fatalf("Read of a missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"schema":"1","generator":"iris"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Read(p)
	if err != nil || m.Generator != "iris" {
		t.Fatalf("Read: %+v, %v", m, err)
	}
}
