package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iris-oculus/iris/internal/nnunet"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

func runSegment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("segment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris segment CT.nii.gz|DICOM_FOLDER|SERIES.zip -o labels.nii.gz [--engine native|totalsegmentator|totalseg-fast] [--fast] [--device gpu|cpu] [--weights-dir DIR]")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "output label map (.nii.gz)")
	engineName := fs.String("engine", "native", "segmentation engine: native (built in), totalseg-fast (TotalSegmentator's --fast network run in Go; downloads its weights at first use) or totalsegmentator (needs the TotalSegmentator command)")
	weightsDir := fs.String("weights-dir", "", "totalseg-fast: weights cache (default "+nnunet.DefaultWeightsDir()+"; ~/.totalsegmentator is used too)")
	fast := fs.Bool("fast", false, "totalsegmentator: the 3 mm model (--fast)")
	device := fs.String("device", "", "totalsegmentator: --device (gpu, cpu, mps, gpu:N)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: segment takes one input and -o OUT", errUsage)
	}
	engine, err := newEngine(*engineName, *fast, *device, *timeout)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if e, ok := engine.(*nnunet.Engine); ok {
		configureNNUNet(e, *weightsDir, stderr)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	s, err := scan.ReadFile(ctx, pos[0], scan.Options{})
	if err != nil {
		return fmt.Errorf("read %s: %w", pos[0], err)
	}
	if s.DICOM != nil {
		fmt.Fprintln(stdout, s.DICOM.Summary())
	}
	lm, err := engine.Segment(ctx, s.CT)
	if err != nil {
		return fmt.Errorf("segment %s with %s: %w", pos[0], engine.Name(), err)
	}
	if err := volume.WriteLabelMapFile(*out, lm); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "segmented %s with the %s engine in %.1fs; label map in %s\n", pos[0], engine.Name(), time.Since(start).Seconds(), *out)
	return nil
}

func newEngine(name string, fast bool, device string, timeout time.Duration) (segment.Engine, error) {
	switch name {
	case "native":
		return segment.Native{}, nil
	case "totalsegmentator":
		return &segment.TotalSegmentator{Fast: fast, Device: device, Timeout: timeout}, nil
	case nnunet.EngineName:
		return &nnunet.Engine{Weights: nnunet.WeightsOptions{Download: true}}, nil
	}
	return nil, fmt.Errorf("--engine %q: want native, %s or totalsegmentator", name, nnunet.EngineName)
}
