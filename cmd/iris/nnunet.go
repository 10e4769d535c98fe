package main

import (
	"fmt"
	"io"

	"github.com/iris-oculus/iris/internal/nnunet"
)

// configureNNUNet points the totalseg-fast engine at a weights folder and
// shows, on a terminal, the download's bytes and the tiles done.
func configureNNUNet(e *nnunet.Engine, weightsDir string, stderr io.Writer) {
	e.Weights.Dir = weightsDir
	e.Weights.Log = func(msg string) { fmt.Fprintln(stderr, msg) }
	dl := newProgress(stderr, "weights", false)
	e.Weights.Progress = func(done, total int64) {
		if total > 0 {
			dl.set(int(done>>20), int(total>>20))
		}
	}
	tiles := newProgress(stderr, "tiles", false)
	e.Progress = tiles.set
}
