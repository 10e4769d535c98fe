package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/volume"
)

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris convert DICOM_FOLDER|SERIES.zip -o ct.nii.gz [--keep-date]")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "output NIfTI (.nii.gz)")
	keepDate := fs.Bool("keep-date", false, "keep the acquisition date (off: no dates leave the DICOM)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: convert takes one DICOM folder or .zip and -o OUT", errUsage)
	}
	res, err := dicom.ReadPath(ctx, pos[0], dicom.Options{KeepDate: *keepDate})
	if err != nil {
		return fmt.Errorf("convert %s: %w", pos[0], err)
	}
	fmt.Fprintln(stdout, res.Summary())
	if err := volume.WriteCTFile(*out, res.CT); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
