package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/volume"
)

func runMesh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mesh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris mesh LABELS.nii.gz -o OUT [--smooth 0..1] [--reduce 0..1 | --max-triangles N] [--formats glb,obj,stl] [--labels liver,aorta,…]")
		fmt.Fprintln(stderr, "       iris mesh LABELS_OR_FOLDER... -o OUT [--json] [--skip-existing] [-j N]  (batch: OUT/NAME/ each)")
		fs.PrintDefaults()
	}
	def := mesh.DefaultOptions()
	out := fs.String("o", "", "output folder (created if missing)")
	smooth := fs.Float64("smooth", def.Smooth, "smoothing strength, 0 (none) to 1")
	reduce := fs.Float64("reduce", def.Reduce, "fraction of triangles kept by decimation, (0, 1]")
	maxTris := fs.Int("max-triangles", 0, "total triangle budget for all organs (overrides --reduce)")
	formats := fs.String("formats", "glb,obj,stl", "comma-separated output formats: glb, obj, stl")
	only := fs.String("labels", "", "comma-separated organ names or label values to mesh (default: all present)")
	var bf batchFlags
	bf.register(fs, false)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: mesh takes one or more label maps, got none", errUsage)
	}
	if *out == "" {
		return fmt.Errorf("%w: -o OUT is required", errUsage)
	}
	if *smooth < 0 || *smooth > 1 {
		return fmt.Errorf("%w: --smooth %v is outside 0..1", errUsage, *smooth)
	}
	if *reduce <= 0 || *reduce > 1 {
		return fmt.Errorf("%w: --reduce %v is outside (0, 1]", errUsage, *reduce)
	}
	if *maxTris < 0 {
		return fmt.Errorf("%w: --max-triangles %d is negative", errUsage, *maxTris)
	}
	fmts, err := export.ParseFormats(*formats)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	p := plan{verb: "mesh",
		complete: func(t task) bool { return fileExists(filepath.Join(t.Out, export.ManifestFile)) },
		outputs:  func(t task) []string { return []string{t.Out} },
	}
	if st, err := os.Stat(pos[0]); len(pos) == 1 && err == nil && !st.IsDir() {
		p.tasks, p.jobs = []task{{Input: pos[0], Out: *out}}, 1 // one label map: its models in OUT itself
	} else {
		found, err := findInputs(pos, findNIfTI, *out)
		if err != nil {
			return err
		}
		for _, fd := range found {
			p.tasks = append(p.tasks, task{Input: fd.path, Out: filepath.Join(*out, fd.name)})
		}
		// Meshing a whole-body map peaks near 900 MB (README, big_labels).
		p.batch = true
		p.jobs = cmp.Or(bf.jobs, defaultJobs(1<<30, len(p.tasks)))
	}
	// Each input meshes its organs on its share of the cores.
	workers := max(runtime.GOMAXPROCS(0)/p.jobs, 1)
	p.work = func(ctx context.Context, t task, o *outcome) error {
		start := time.Now()
		lm, table, err := loadLabelMap(t.Input)
		if err != nil {
			return failAt("labels", err)
		}
		opt := mesh.Options{Smooth: *smooth, Reduce: *reduce, MaxTriangles: *maxTris, Workers: workers}
		if *only != "" {
			if opt.Labels, err = selectLabels(*only, table); err != nil {
				return failAt("labels", err)
			}
		}
		o.time("read", start)
		step := time.Now()
		bar := newProgress(stderr, "meshing", bf.quiet || p.batch)
		opt.Progress = bar.set
		surfaces, err := mesh.Build(ctx, lm, opt)
		bar.finish()
		if err != nil {
			return failAt("mesh", fmt.Errorf("mesh %s: %w", t.Input, err))
		}
		o.time("mesh", step)
		step = time.Now()
		man, err := export.Write(t.Out, export.Source{File: filepath.Base(t.Input), LabelMap: lm}, surfaces, table, export.Options{
			Formats: fmts, Created: time.Now().UTC(), Generator: "iris mesh",
			Smooth: opt.Smooth, Reduce: opt.Reduce, MaxTriangles: opt.MaxTriangles,
		})
		if err != nil {
			return failAt("write", fmt.Errorf("write models to %s: %w", t.Out, err))
		}
		o.time("write", step)
		o.Outputs = []string{filepath.Join(t.Out, export.ManifestFile)}
		for _, f := range man.Files {
			o.Outputs = append(o.Outputs, filepath.Join(t.Out, filepath.FromSlash(f.Name)))
		}
		for _, g := range man.Organs {
			o.Organs = append(o.Organs, organ{Label: g.Label, Name: g.Name, Voxels: g.VoxelCount, VolumeMl: g.VoxelVolumeMl})
		}
		if !bf.quiet && !p.batch {
			var b strings.Builder
			printSummary(&b, man)
			o.notes = append(o.notes, strings.TrimRight(b.String(), "\n"))
		}
		o.line = fmt.Sprintf("%d organs meshed in %.1fs; models in %s", len(man.Organs), time.Since(start).Seconds(), t.Out)
		return nil
	}
	return execute(ctx, p, bf, stdout, stderr)
}

// loadLabelMap reads a label map and the class table that names its values:
// names from the file's label-table extension when present, colours from
// our tables by name.
func loadLabelMap(path string) (*volume.LabelMap, *labels.Table, error) {
	img, err := volume.ReadFile(path, volume.ReadOptions{})
	if err != nil {
		return nil, nil, err
	}
	lm, err := img.LabelMap()
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a label map: %w", path, err)
	}
	exts := make([][]byte, len(lm.Extensions))
	for i, e := range lm.Extensions {
		exts[i] = e.Data
	}
	names, err := labels.FileNames(exts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: label table extension: %w", path, err)
	}
	return lm, labels.ForFile(names, labels.Present(lm.Data)), nil
}

// selectLabels turns "liver,aorta,5" into label values, naming what is unknown.
func selectLabels(list string, table *labels.Table) ([]uint16, error) {
	var vs []uint16
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 16); err == nil && n > 0 {
			vs = append(vs, uint16(n))
			continue
		}
		c, ok := table.ByName(name)
		if !ok {
			return nil, fmt.Errorf("--labels: %q is not a label of this map", name)
		}
		vs = append(vs, c.Value)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("--labels %q names no label", list)
	}
	return vs, nil
}

func printSummary(w io.Writer, man *export.Manifest) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "label\torgan\tvoxels\tvoxel mL\tmesh mL\tdiff %\ttriangles\tborder\t")
	for _, o := range man.Organs {
		diff := 0.0
		if o.VoxelVolumeMl > 0 {
			diff = 100 * (o.MeshVolumeMl - o.VoxelVolumeMl) / o.VoxelVolumeMl
		}
		border := ""
		if o.TouchesBorder {
			border = "partial"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f\t%.2f\t%+.2f\t%d\t%s\t\n",
			o.Label, o.Name, o.VoxelCount, o.VoxelVolumeMl, o.MeshVolumeMl, diff, o.Triangles, border)
	}
	tw.Flush()
}

// isTerminal reports whether w is a character device, where a progress bar
// belongs; logs and pipes get none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
