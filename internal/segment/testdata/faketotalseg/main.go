// Command faketotalseg stands in for the TotalSegmentator CLI in tests. It
// takes the flags the engine passes (-i IN.nii.gz -o OUT.nii.gz --ml
// [--fast] [--device D] --report R.json), refuses others as argparse does,
// reads the input CT, and writes the label map named by $FAKE_TOTALSEG_SEG
// (a real TotalSegmentator output) to -o and a report of what it saw to
// --report. $FAKE_TOTALSEG picks a misbehaviour:
//
//	ok        copy the label map unchanged (the default)
//	slow      sleep $FAKE_TOTALSEG_SLEEP, then ok
//	fail      write a long traceback to stderr and exit 1
//	hang      start a grandchild sharing its output (its pid in
//	          $FAKE_TOTALSEG_PIDFILE) and sleep for an hour
//	nothing   print an error to stdout and exit 0 without output
//	shift     write the label map 5 mm off the input's grid
//	dims      write it one slice short
//	labels    write a value outside the 117 classes
//	nocaret   write it without the Caret extension
//	v1names   write a Caret table naming label 5 "spleen"
//	noreport  ok, but write no report
//	empty     write an all-background label map on the input's grid
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/volume"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faketotalseg:", err)
		os.Exit(1)
	}
}

type flags struct {
	in, out, device, report string
	ml, fast                bool
}

func parse(args []string) (flags, error) {
	var f flags
	for i := 0; i < len(args); i++ {
		value := func() string {
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "TotalSegmentator: error: argument %s: expected one argument\n", args[i])
				os.Exit(2)
			}
			i++
			return args[i]
		}
		switch args[i] {
		case "-i":
			f.in = value()
		case "-o":
			f.out = value()
		case "-ml", "--ml":
			f.ml = true
		case "-f", "--fast":
			f.fast = true
		case "-d", "--device":
			f.device = value()
		case "-rp", "--report":
			f.report = value()
		default:
			fmt.Fprintf(os.Stderr, "TotalSegmentator: error: unrecognized arguments: %s\n", args[i])
			os.Exit(2)
		}
	}
	if f.in == "" || f.out == "" {
		return f, fmt.Errorf("-i and -o are required")
	}
	if !f.ml {
		return f, fmt.Errorf("this fake writes multilabel output only (--ml)")
	}
	if !strings.HasSuffix(f.in, ".nii") && !strings.HasSuffix(f.in, ".nii.gz") {
		return f, fmt.Errorf("%s would be read as a DICOM folder", f.in)
	}
	return f, nil
}

func run(args []string) error {
	f, err := parse(args)
	if err != nil {
		return err
	}
	mode := os.Getenv("FAKE_TOTALSEG")
	switch mode {
	case "fail":
		for i := range 200 {
			fmt.Fprintf(os.Stderr, "Predicting part %d of 200 ...\n", i)
		}
		fmt.Fprintln(os.Stderr, "Traceback (most recent call last):\n  File \"nnunet.py\", line 1, in predict\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
		os.Exit(1)
	case "hang":
		child := exec.Command("sleep", "300")
		child.Stdout, child.Stderr = os.Stdout, os.Stderr // as multiprocessing workers inherit them
		if err := child.Start(); err != nil {
			return err
		}
		if err := os.WriteFile(os.Getenv("FAKE_TOTALSEG_PIDFILE"), fmt.Append(nil, child.Process.Pid), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "Predicting ...")
		time.Sleep(time.Hour)
		return nil
	case "nothing":
		fmt.Println("ERROR: Invalid license number. Please check your license number or contact support.")
		return nil
	case "slow":
		d, err := time.ParseDuration(os.Getenv("FAKE_TOTALSEG_SLEEP"))
		if err != nil {
			return err
		}
		time.Sleep(d)
	}

	im, err := volume.ReadFile(f.in, volume.ReadOptions{})
	if err != nil {
		return err
	}
	ct, err := im.CT()
	if err != nil {
		return err
	}
	if err := writeSeg(mode, f.out, ct.Grid); err != nil {
		return err
	}
	if mode == "noreport" || f.report == "" {
		return nil
	}
	return writeReport(f, args, ct)
}

// writeSeg writes $FAKE_TOTALSEG_SEG to out, altered as mode asks.
func writeSeg(mode, out string, g volume.Grid) error {
	if mode == "empty" {
		return volume.WriteLabelMapFile(out, &volume.LabelMap{Grid: g, Data: make([]uint16, g.Len())})
	}
	src := os.Getenv("FAKE_TOTALSEG_SEG")
	im, err := volume.ReadFile(src, volume.ReadOptions{})
	if err != nil {
		return err
	}
	lm, err := im.LabelMap()
	if err != nil {
		return err
	}
	if lm.Dims != g.Dims {
		return fmt.Errorf("%s has dims %v, the input %v", src, lm.Dims, g.Dims)
	}
	switch mode {
	case "ok", "", "slow", "noreport":
		return copyFile(out, src)
	case "shift":
		lm.Affine[0][3] += 5
	case "dims":
		lm.Dims[2]--
		lm.Data = lm.Data[:lm.Len()]
	case "labels":
		lm.Data[len(lm.Data)/2] = 200
	case "nocaret":
		lm.Extensions = nil
	case "v1names":
		classes := labels.TotalSegmentator().Classes()
		for i := range classes {
			if classes[i].Value == 5 {
				classes[i].Name = "spleen"
			}
		}
		lm.Extensions = []volume.Extension{{Code: labels.CaretExtensionCode, Data: labels.Caret(classes)}}
	default:
		return fmt.Errorf("unknown FAKE_TOTALSEG %q", mode)
	}
	return volume.WriteLabelMapFile(out, lm)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

// writeReport records what the fake was given, for the test to check.
func writeReport(f flags, args []string, ct *volume.CT) error {
	var sum int64
	for _, v := range ct.HU {
		sum += int64(v)
	}
	home := os.Getenv("TOTALSEG_HOME_DIR")
	var config map[string]any
	b, err := os.ReadFile(home + "/config.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &config); err != nil {
		return err
	}
	device := f.device
	if device == "" {
		device = "gpu"
	}
	rep := map[string]any{
		"totalsegmentator_version": "0.0.0-fake",
		"task":                     "total",
		"device":                   device,
		"fast":                     f.fast,
		"args":                     args,
		"config":                   config,
		"weights_path":             os.Getenv("TOTALSEG_WEIGHTS_PATH"),
		"input_dims":               ct.Dims,
		"input_hu_sum":             sum,
	}
	b, err = json.Marshal(rep)
	if err != nil {
		return err
	}
	return os.WriteFile(f.report, b, 0o644)
}
