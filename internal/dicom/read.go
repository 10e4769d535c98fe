package dicom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/iris-oculus/iris/internal/hugepage"
	"github.com/iris-oculus/iris/internal/volume"
	"github.com/suyashkumar/dicom/pkg/dicomio"
)

// convert runs the two passes: headers of every entry (to group, choose
// and sort), then pixels of the chosen slices straight into the volume.
// Memory stays at one int16 volume plus one frame per worker.
func convert(ctx context.Context, entries []entry, skipped int, opt Options) (*Result, error) {
	headers, broken, warnings, err := scanHeaders(ctx, entries, opt)
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		warnings = append(warnings, fmt.Sprintf("skipped %d system files (DICOMDIR, macOS metadata)", skipped))
	}
	if len(headers) == 0 {
		if len(broken) > 0 {
			return nil, fmt.Errorf("%s: %w", broken[0].name, broken[0].err)
		}
		return nil, fmt.Errorf("%w among %d files", ErrNotDICOM, len(entries))
	}
	all := groupSeries(headers)
	chosen, files, w, err := pick(all, broken)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, w...)

	h := files[0]
	grid := volume.Grid{Dims: [3]int{h.cols, h.rows, len(files)}, Affine: affine(files)}
	if need := int64(grid.Len()) * 2; need > opt.maxBytes() {
		return nil, fmt.Errorf("%w: a %d×%d×%d volume needs %d bytes", ErrTooLarge, h.cols, h.rows, len(files), need)
	}
	if opt.Admit != nil {
		if err := opt.Admit(grid.Dims); err != nil {
			return nil, err
		}
	}
	ct := &volume.CT{Grid: grid, HU: hugepage.Make[int16](grid.Len())}
	clamped, err := decodeSlices(ctx, entries, files, ct, opt.workers())
	if err != nil {
		return nil, err
	}
	if clamped > 0 {
		warnings = append(warnings, fmt.Sprintf("%d voxels outside the int16 range were clamped", clamped))
	}
	res := &Result{CT: ct, Info: makeInfo(files, grid, opt), Chosen: chosen.summary}
	if t, sp := res.Info.SliceThickness, res.Info.SliceSpacing; t > 0 && math.Abs(t-sp) > 0.01*sp {
		warnings = append(warnings, fmt.Sprintf("SliceThickness %.3g mm differs from the %.3g mm between slice positions; the grid uses the positions", t, sp))
	}
	res.Warnings = warnings
	for _, s := range all {
		res.Series = append(res.Series, s.summary)
	}
	return res, nil
}

// pick chooses the series, validates it and sorts its slices.
func pick(all []*series, broken []damaged) (*series, []*header, []string, error) {
	chosen, err := choose(all)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := chosen.check(); err != nil {
		return nil, nil, nil, err
	}
	warnings, err := checkDamaged(broken, chosen)
	if err != nil {
		return nil, nil, nil, err
	}
	if n := chosen.localize + chosen.offAxis; n > 0 {
		warnings = append(warnings, fmt.Sprintf("dropped %d localizer images from %s", n, chosen.label()))
	}
	if chosen.repeats > 0 {
		warnings = append(warnings, fmt.Sprintf("dropped %d repeated copies of a SOP instance", chosen.repeats))
	}
	files, w, err := sortSlices(chosen.files)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", chosen.label(), err)
	}
	return chosen, files, append(warnings, w...), nil
}

// makeInfo copies the allow-listed attributes of the first slice.
func makeInfo(files []*header, grid volume.Grid, opt Options) Info {
	h := files[0]
	info := Info{
		Modality: h.modality, Manufacturer: h.manufacturer, ManufacturerModel: h.model, KVP: h.kvp,
		SeriesDescription: h.description, BodyPart: h.bodyPart, ConvolutionKernel: h.kernel,
		SliceThickness: h.thickness, TransferSyntax: syntaxes(files),
		Rows: h.rows, Cols: h.cols, Slices: len(files), PixelSpacing: h.spacing,
		SliceSpacing: vec3(files[len(files)-1].ipp).sub(vec3(h.ipp)).norm() / float64(len(files)-1),
		Orientation:  axisCodes(grid.Affine),
	}
	if opt.KeepDate {
		info.AcquisitionDate = h.acquisitionDate
	}
	return info
}

// damaged is a DICOM file whose header failed to parse part-way.
type damaged struct {
	name string
	h    *header // what was read before the failure; nil if nothing
	err  error
}

// scanHeaders reads every entry's header in parallel. Entries that are not
// DICOM are ignored; DICOM files that fail to parse are returned apart; an
// unsafe zip stops everything.
func scanHeaders(ctx context.Context, entries []entry, opt Options) ([]*header, []damaged, []string, error) {
	hs := make([]*header, len(entries))
	bad := make([]error, len(entries))
	err := parallel(ctx, len(entries), opt.workers(), func(i int) error {
		h, err := scanEntry(&entries[i])
		if h != nil {
			h.entry = i
		}
		switch {
		case errors.Is(err, ErrUnsafeZip):
			return err
		case errors.Is(err, errNoMeta):
		default:
			hs[i], bad[i] = h, err
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var ok []*header
	var broken []damaged
	ignored := 0
	for i, h := range hs {
		switch {
		case bad[i] != nil:
			broken = append(broken, damaged{entries[i].name, h, bad[i]})
		case h != nil:
			ok = append(ok, h)
		default:
			ignored++
		}
	}
	var warnings []string
	if ignored > 0 {
		warnings = append(warnings, fmt.Sprintf("ignored %d files that are not DICOM", ignored))
	}
	return ok, broken, warnings, nil
}

// checkDamaged fails when a damaged file belongs to the chosen series (it
// would be a missing slice) and reports the others as warnings.
func checkDamaged(broken []damaged, chosen *series) ([]string, error) {
	key := seriesKey(chosen.files[0])
	var warnings []string
	for _, d := range broken {
		if d.h != nil && d.h.hasIPP && seriesKey(d.h) == key {
			return nil, fmt.Errorf("%s, a slice of %s: %w", d.name, chosen.label(), d.err)
		}
		warnings = append(warnings, fmt.Sprintf("skipped unreadable DICOM file %s: %v", d.name, d.err))
	}
	return warnings, nil
}

func scanEntry(e *entry) (*header, error) {
	rc, err := e.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size := e.size
	if size < 0 {
		size = dicomio.LimitReadUntilEOF
	}
	h, err := readHeader(rc, size)
	if e.size < 0 {
		// A zip entry: read it to its end, counting its true size against
		// the archive's limits, even when it is not DICOM.
		if _, derr := io.Copy(io.Discard, rc); derr != nil && (err == nil || errors.Is(derr, ErrUnsafeZip)) {
			err = derr
		}
	}
	return h, err
}

// decodeSlices decodes files[k] into slice k of ct, each worker with one
// frame buffer, and returns how many voxels were clamped to int16.
func decodeSlices(ctx context.Context, entries []entry, files []*header, ct *volume.CT, workers int) (int64, error) {
	var clamped atomic.Int64
	per := ct.Dims[0] * ct.Dims[1]
	bufs := sync.Pool{New: func() any { return make([]int32, per) }}
	err := parallel(ctx, len(files), workers, func(k int) error {
		h := files[k]
		e := &entries[h.entry]
		buf := bufs.Get().([]int32)
		defer bufs.Put(buf)
		if err := decodeSlice(e, h, buf); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		clamped.Add(rescale(buf, ct.HU[k*per:(k+1)*per], h))
		return nil
	})
	return clamped.Load(), err
}

func decodeSlice(e *entry, h *header, buf []int32) error {
	rc, err := e.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := readPixels(rc, e.size)
	if err != nil {
		return err
	}
	dec, err := decoderFor(h.ts)
	if err != nil {
		return err
	}
	f := h.frame()
	if err := dec.decode(data, f, buf); err != nil {
		return err
	}
	storedValues(buf, f.BitsStored, f.PixelRepresentation)
	return nil
}

// rescale writes HU = stored·slope + intercept into out with the rows
// flipped (dcm2niix's j = rows−1−row), rounding half to even (as numpy and
// volume.Image.CT do) and clamping to int16; it returns the number of clamped voxels.
func rescale(in []int32, out []int16, h *header) int64 {
	rows, cols := h.rows, h.cols
	var clamped int64
	intIntercept := h.intercept == math.Trunc(h.intercept) && math.Abs(h.intercept) < 1<<30
	for r := 0; r < rows; r++ {
		src := in[r*cols : (r+1)*cols]
		dst := out[(rows-1-r)*cols : (rows-r)*cols]
		if h.slope == 1 && intIntercept {
			off := int64(h.intercept)
			for c, v := range src {
				dst[c] = clamp16(int64(v)+off, &clamped)
			}
			continue
		}
		for c, v := range src {
			dst[c] = clamp16(int64(math.RoundToEven(float64(v)*h.slope+h.intercept)), &clamped)
		}
	}
	return clamped
}

func clamp16(v int64, clamped *int64) int16 {
	switch {
	case v > math.MaxInt16:
		*clamped++
		return math.MaxInt16
	case v < math.MinInt16:
		*clamped++
		return math.MinInt16
	}
	return int16(v)
}

// parallel runs fn(0..n-1) on workers goroutines and returns the error of
// the lowest failing index; the first failure stops further work.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, min(workers, n))
	var (
		next   atomic.Int64
		mu     sync.Mutex
		errAt  = n
		result error
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if i < errAt {
						errAt, result = i, err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if result != nil {
		return result
	}
	return context.Cause(ctx)
}
