package dicom

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

// Zip limits beyond Options.MaxBytes. Deflate cannot exceed about 1032:1;
// DICOM slices compress at most a few tens to one (air padding), so an
// entry inflating past maxZipRatio is a bomb, not a scan.
const (
	maxZipEntries = 100_000
	maxZipRatio   = 100
	zipRatioSlack = 1 << 20 // small entries may exceed the ratio
)

// entry is one candidate file of the input.
type entry struct {
	name string
	// size is the file's byte count. For zip entries it is unknown (-1)
	// until the header pass has read the entry to its end; the header's
	// declared size is never trusted.
	size int64
	open func() (io.ReadCloser, error)
}

// skipName reports files that are never DICOM images: macOS metadata,
// DICOMDIR indexes.
func skipName(name string) bool {
	name = strings.ReplaceAll(name, `\`, "/")
	base := path.Base(name)
	if base == ".DS_Store" || strings.HasPrefix(base, "._") || strings.EqualFold(base, "DICOMDIR") {
		return true
	}
	return slices.Contains(strings.Split(name, "/"), "__MACOSX")
}

// dirEntries lists the regular files under dir in lexical order.
func dirEntries(dir string, maxBytes int64) ([]entry, int, error) {
	var entries []entry
	var total int64
	skipped := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if d.Name() == "__MACOSX" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || skipName(rel) {
			skipped++
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if total > maxBytes {
			return fmt.Errorf("%w: the folder holds more than %d bytes", ErrTooLarge, maxBytes)
		}
		entries = append(entries, entry{name: rel, size: info.Size(), open: func() (io.ReadCloser, error) {
			return os.Open(p)
		}})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", dir, err)
	}
	return entries, skipped, nil
}

// zipEntries checks every entry of the archive and lists the candidates.
func zipEntries(r io.ReaderAt, size int64, maxBytes int64) ([]entry, int, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotDICOM, err)
	}
	if len(zr.File) > maxZipEntries {
		return nil, 0, fmt.Errorf("%w: %d entries (at most %d)", ErrUnsafeZip, len(zr.File), maxZipEntries)
	}
	budget := &atomic.Int64{}
	budget.Store(maxBytes)
	var entries []entry
	var files []*zip.File
	skipped := 0
	for _, f := range zr.File {
		if err := checkZipName(f.Name); err != nil {
			return nil, 0, err
		}
		if f.Flags&1 != 0 {
			return nil, 0, fmt.Errorf("%w: entry %q is encrypted", ErrUnsafeZip, f.Name)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if skipName(f.Name) {
			skipped++
			continue
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, 0, fmt.Errorf("%w: entry %q uses compression method %d (only store and deflate are read)",
				ErrUnsafeZip, f.Name, f.Method)
		}
		entries = append(entries, entry{name: f.Name, size: -1})
		files = append(files, f)
	}
	for i := range entries {
		entries[i].open = zipOpener(files[i], &entries[i], budget, maxBytes)
	}
	return entries, skipped, nil
}

// checkZipName refuses names that would escape a folder if extracted:
// absolute paths, drive letters, ".." elements, NUL bytes.
func checkZipName(name string) error {
	n := strings.ReplaceAll(name, `\`, "/")
	bad := strings.HasPrefix(n, "/") || strings.ContainsRune(n, 0) ||
		(len(n) >= 2 && n[1] == ':') || slices.Contains(strings.Split(n, "/"), "..")
	if bad {
		return fmt.Errorf("%w: entry name %q is absolute or climbs out of the archive", ErrUnsafeZip, name)
	}
	return nil
}

// zipOpener opens an entry through a guard: on the first read it counts
// the bytes against the archive's budget and the entry's ratio limit and
// records the true size; later reads may not exceed that size.
func zipOpener(f *zip.File, e *entry, budget *atomic.Int64, maxBytes int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: entry %q: %v", ErrUnsafeZip, f.Name, err)
		}
		g := &zipGuard{rc: rc, name: f.Name, e: e}
		if e.size >= 0 {
			g.limit = e.size
		} else {
			g.budget, g.maxBytes = budget, maxBytes
			g.limit = int64(f.CompressedSize64)*maxZipRatio + zipRatioSlack
			g.measure = true
		}
		return g, nil
	}
}

type zipGuard struct {
	rc       io.ReadCloser
	name     string
	e        *entry
	n, limit int64
	measure  bool
	budget   *atomic.Int64
	maxBytes int64
}

func (g *zipGuard) Read(p []byte) (int, error) {
	if max := g.limit - g.n + 1; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := g.rc.Read(p)
	g.n += int64(n)
	if g.n > g.limit {
		if g.measure {
			return n, fmt.Errorf("%w: entry %q inflates past %d:1", ErrUnsafeZip, g.name, maxZipRatio)
		}
		return n, fmt.Errorf("%w: entry %q grew between reads", ErrUnsafeZip, g.name)
	}
	if g.measure && g.budget.Add(-int64(n)) < 0 {
		return n, fmt.Errorf("%w: archive inflates past %d bytes (Options.MaxBytes)", ErrUnsafeZip, g.maxBytes)
	}
	if errors.Is(err, io.EOF) && g.measure {
		g.e.size = g.n
	}
	if err != nil && !errors.Is(err, io.EOF) {
		// A checksum, size or deflate error: the archive is damaged or lies
		// about its contents.
		err = fmt.Errorf("%w: entry %q: %v", ErrUnsafeZip, g.name, err)
	}
	return n, err
}

func (g *zipGuard) Close() error { return g.rc.Close() }
