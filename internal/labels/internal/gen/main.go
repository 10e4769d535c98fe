// Command gen writes package labels' total_table.go from the shared class
// facts (testdata/totalsegmentator-v2-classes.tsv at the repository
// root, or $IRIS_SHARED_DATA). Run it with `go generate ./internal/labels`.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iris-oculus/iris/internal/labels/internal/classtsv"
)

func main() {
	tsv := flag.String("tsv", "", "class facts TSV (default: the shared data folder's "+classtsv.FileName+")")
	out := flag.String("o", "total_table.go", "output Go file")
	flag.Parse()
	log.SetFlags(0)
	if *tsv == "" {
		dir, err := sharedData()
		if err != nil {
			log.Fatal(err)
		}
		*tsv = filepath.Join(dir, classtsv.FileName)
	}
	rows, err := classtsv.ReadFile(*tsv)
	if err != nil {
		log.Fatal(err)
	}
	src, err := classtsv.Source(rows)
	if err != nil {
		log.Fatalf("format generated source: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// sharedData finds the test data folder (testdata/ at the repository
// root) as internal/testdata does.
func sharedData() (string, error) {
	if d := os.Getenv("IRIS_SHARED_DATA"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory; pass -tsv")
		}
		dir = parent
	}
}
