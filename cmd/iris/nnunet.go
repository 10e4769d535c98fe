package main

import (
	"fmt"
	"io"
	"log/slog"

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

// logNNUNet makes a totalseg-fast engine under iris serve log where its
// weights come from, the download's progress by the 10 %, and each tile
// done of the total.
func logNNUNet(e any, log *slog.Logger) {
	n, ok := e.(*nnunet.Engine)
	if !ok {
		return
	}
	n.Weights.Log = func(msg string) { log.Info(msg) }
	last := int64(-1)
	n.Weights.Progress = func(done, total int64) {
		if total > 0 && done*10/total != last {
			last = done * 10 / total
			log.Info("weights download", "bytes", done, "of", total)
		}
	}
	n.Progress = func(done, total int) {
		log.Info("segment", "engine", nnunet.EngineName, "tiles_done", done, "tiles", total)
	}
}
