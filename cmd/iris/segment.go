package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

func runSegment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("segment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris segment CT.nii.gz|DICOM_FOLDER|SERIES.zip -o labels.nii.gz|labels.nii [--engine native|totalsegmentator] [--fast] [--device gpu|cpu]")
		fmt.Fprintln(stderr, "       iris segment SCAN_OR_FOLDER... -o OUT_FOLDER [--json] [--skip-existing] [-j N] [--ext .nii.gz|.nii]  (batch: OUT_FOLDER/NAME/labels.nii.gz each)")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "output label map (.nii.gz gzip, .nii uncompressed), or a folder for a batch")
	engineName := fs.String("engine", "native", "segmentation engine: native (built in) or totalsegmentator (needs the TotalSegmentator command)")
	fast := fs.Bool("fast", false, "totalsegmentator: the 3 mm model (--fast)")
	device := fs.String("device", "", "totalsegmentator: --device (gpu, cpu, mps, gpu:N)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up on an input after this long")
	var bf batchFlags
	bf.register(fs, true)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) == 0 || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: segment takes one or more inputs and -o OUT", errUsage)
	}
	engine, err := newEngine(*engineName, *fast, *device, *timeout)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// A native segmentation of a 512×512×600 CT holds the CT, its masks and
	// the label map: about 2 GiB at its peak (assumed, not measured). A
	// TotalSegmentator run wants the GPU to itself.
	perScan := int64(2 << 30)
	if _, ok := engine.(*segment.TotalSegmentator); ok {
		bf.jobs = cmp.Or(bf.jobs, 1)
	}
	p, err := filePlan("segment", pos, *out, findNIfTI|findDICOM, "labels", bf, perScan)
	if err != nil {
		return err
	}
	p.work = func(ctx context.Context, t task, o *outcome) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		start := time.Now()
		s, err := scan.ReadFile(ctx, t.Input, scan.Options{})
		if err != nil {
			return failAt("read", about("read", t.Input, err))
		}
		o.time("read", start)
		if s.DICOM != nil && !p.batch {
			o.notes = append(o.notes, s.DICOM.Summary())
		}
		step := time.Now()
		lm, err := engine.Segment(ctx, s.CT)
		if err != nil {
			return failAt("segment", fmt.Errorf("segment %s with %s: %w", t.Input, engine.Name(), err))
		}
		o.time("segment", step)
		step = time.Now()
		if err := writeFile(t.Out, func() error { return volume.WriteLabelMapFile(t.Out, lm) }); err != nil {
			return err
		}
		o.time("write", step)
		o.Outputs, o.Organs = []string{t.Out}, organsOf(lm)
		o.line = fmt.Sprintf("segmented %s with the %s engine in %.1fs; label map in %s", t.Input, engine.Name(), time.Since(start).Seconds(), t.Out)
		return nil
	}
	return execute(ctx, p, bf, stdout, stderr)
}

func newEngine(name string, fast bool, device string, timeout time.Duration) (segment.Engine, error) {
	switch name {
	case "native":
		return segment.Native{}, nil
	case "totalsegmentator":
		return &segment.TotalSegmentator{Fast: fast, Device: device, Timeout: timeout}, nil
	}
	return nil, fmt.Errorf("--engine %q: want native or totalsegmentator", name)
}
