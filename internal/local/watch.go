package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/iris-oculus/iris/events"
)

// DefaultSettle is how long a dropped file must keep its size and mtime
// before it counts as complete.
const DefaultSettle = 2 * time.Second

// Watcher turns files a person drops into the bucket's uploads/ folder
// (cp, Finder, a slow network copy; subfolders included) into S3 "Object
// Created" events, as an upload through S3 would. fsnotify reports no
// "closed after writing", so a file counts as complete once its size and
// mtime have not changed for the settle period; a copy that stalls longer
// than that is announced early (and again, with a new ETag, when it
// finishes — ingest derives the job from key and ETag). Renaming a finished
// file into place is the reliable way to drop.
//
// Ignored: hidden names (".*", and hidden folders), partial downloads
// ("*.tmp", "*.part", "*.partial", "*.crdownload", "*.download", "*~"),
// desktop litter (Thumbs.db, desktop.ini), symlinks, and files DirBlobs.Put
// wrote (Put announced them). A drop whose name has characters outside the
// key alphabet ("My Scan (1).nii.gz") is renamed in place to its
// events.SafeName form, unless that name is taken.
//
// At start it scans the folder, so drops made while the program was down
// are announced too (again, for ones announced before: consumers are
// idempotent).
type Watcher struct {
	blobs   *DirBlobs
	settle  time.Duration
	dir     string // the uploads folder
	fsw     *fsnotify.Watcher
	pending map[string]*candidate  // by path: files still settling
	emitted map[string]os.FileInfo // by path: the version last announced
}

type candidate struct {
	fi    os.FileInfo
	since time.Time // last change seen
}

// Watch runs a Watcher on blobs' uploads/ folder until ctx is cancelled.
// settle ≤ 0 means DefaultSettle.
func Watch(ctx context.Context, blobs *DirBlobs, settle time.Duration) error {
	w, err := NewWatcher(blobs, settle)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// NewWatcher starts watching blobs' uploads/ folder and its subfolders and
// finds the files already there; Run announces them once settled. Files
// changed between NewWatcher and Run are not missed.
func NewWatcher(blobs *DirBlobs, settle time.Duration) (*Watcher, error) {
	if blobs.bus == nil {
		return nil, errors.New("watch uploads: the blobs have no bus to announce drops on")
	}
	if settle <= 0 {
		settle = DefaultSettle
	}
	dir := filepath.Join(blobs.root, filepath.FromSlash(events.PrefixUploads))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("watch uploads: %w", err)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch uploads: %w", err)
	}
	w := &Watcher{blobs: blobs, settle: settle, dir: dir, fsw: fsw,
		pending: map[string]*candidate{}, emitted: map[string]os.FileInfo{}}
	if err := w.addTree(dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch uploads: %w", err)
	}
	return w, nil
}

// Close stops watching; Run closes the watcher itself when it returns.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Run announces complete drops until ctx is cancelled, then closes the
// watcher and returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.fsw.Close()
	tick := time.NewTicker(max(w.settle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return nil
			}
			w.handle(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return nil
			}
			slog.Warn("watch uploads", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.addTree(w.dir) // events were lost: look again
			}
		case <-tick.C:
			w.flush(ctx)
		}
	}
}

// ignored reports names that are not drops (yet): temporary, partial,
// hidden or desktop files.
func ignored(name string) bool {
	if name == "" || name[0] == '.' || strings.HasSuffix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range []string{".tmp", ".part", ".partial", ".crdownload", ".download"} {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return lower == "thumbs.db" || lower == "desktop.ini"
}

// addTree watches dir and the folders below it and considers their files.
// Each folder is watched before it is read, so nothing falls in between.
func (w *Watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			slog.Warn("watch uploads", "path", p, "err", err)
			return nil
		}
		if p != dir && ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if err := w.fsw.Add(p); err != nil {
				return fmt.Errorf("watch %s: %w", p, err)
			}
		case d.Type().IsRegular():
			if fi, err := d.Info(); err == nil {
				w.touch(p, fi)
			}
		}
		return nil
	})
}

func (w *Watcher) handle(ev fsnotify.Event) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.forget(ev.Name) // the new name of a rename arrives as a Create
		return
	}
	if ignored(filepath.Base(ev.Name)) {
		return
	}
	fi, err := os.Lstat(ev.Name)
	if err != nil {
		w.forget(ev.Name)
		return
	}
	switch {
	case fi.IsDir():
		if ev.Has(fsnotify.Create) {
			if err := w.addTree(ev.Name); err != nil {
				slog.Warn("watch uploads", "err", err)
			}
		}
	case fi.Mode().IsRegular():
		w.touch(ev.Name, fi)
	}
}

// touch notes activity on a file: it must now settle again, unless it is
// the version already announced.
func (w *Watcher) touch(path string, fi os.FileInfo) {
	if last, ok := w.emitted[path]; ok && sameVersion(last, fi) {
		return
	}
	w.pending[path] = &candidate{fi: fi, since: time.Now()}
}

// forget drops path and anything below it.
func (w *Watcher) forget(path string) {
	below := path + string(filepath.Separator)
	for p := range w.pending {
		if p == path || strings.HasPrefix(p, below) {
			delete(w.pending, p)
		}
	}
	for p := range w.emitted {
		if p == path || strings.HasPrefix(p, below) {
			delete(w.emitted, p)
		}
	}
}

// flush announces the files that have settled.
func (w *Watcher) flush(ctx context.Context) {
	now := time.Now()
	for path, c := range w.pending {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			delete(w.pending, path)
			continue
		}
		if !sameVersion(fi, c.fi) {
			c.fi, c.since = fi, now
			continue
		}
		if now.Sub(c.since) < w.settle {
			continue
		}
		delete(w.pending, path)
		if err := w.announce(ctx, path, fi); err != nil {
			slog.Warn("watch uploads: not announced; will retry", "path", path, "err", err)
			w.pending[path] = &candidate{fi: fi, since: now}
		}
	}
}

// announce publishes the Object Created event for a settled file.
func (w *Watcher) announce(ctx context.Context, path string, fi os.FileInfo) error {
	rel, err := filepath.Rel(w.blobs.root, path)
	if err != nil {
		return err
	}
	key := filepath.ToSlash(rel)
	if CheckKey(key) != nil {
		if path, key, err = w.rename(path, key); err != nil {
			w.emitted[path] = fi // do not retry until it changes
			slog.Warn("watch uploads: not a valid key", "path", path, "err", err)
			return nil
		}
	}
	if w.blobs.wrote(key, fi) {
		w.emitted[path] = fi
		return nil // Put announced it
	}
	etag, after, err := hashFile(path)
	if err != nil {
		return err
	}
	if !sameVersion(after, fi) {
		w.pending[path] = &candidate{fi: after, since: time.Now()} // still changing
		return nil
	}
	w.emitted[path] = after
	w.blobs.remember(key, after, etag, false)
	if err := w.blobs.announce(ctx, key, after.Size(), etag); err != nil {
		delete(w.emitted, path)
		return err
	}
	slog.Info("watch uploads: dropped file announced", "key", key, "bytes", after.Size())
	return nil
}

// rename moves a file whose key is invalid to the SafeName form of each
// segment, without overwriting anything.
func (w *Watcher) rename(path, key string) (newPath, newKey string, err error) {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = events.SafeName(s)
	}
	newKey = strings.Join(segs, "/")
	if err := CheckKey(newKey); err != nil {
		return path, key, err
	}
	newPath = filepath.Join(w.blobs.root, filepath.FromSlash(newKey))
	if err := os.MkdirAll(filepath.Dir(newPath), 0o755); err != nil {
		return path, key, err
	}
	if err := os.Link(path, newPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return path, key, fmt.Errorf("%s: its safe name %s is taken", key, newKey)
		}
		// No hard links here (FAT, some network shares): rename, if free.
		if _, serr := os.Lstat(newPath); !errors.Is(serr, fs.ErrNotExist) {
			return path, key, fmt.Errorf("%s: its safe name %s is taken", key, newKey)
		}
		if err := os.Rename(path, newPath); err != nil {
			return path, key, err
		}
	} else if err := os.Remove(path); err != nil {
		return path, key, err
	}
	if dir := filepath.Dir(path); dir != w.dir {
		os.Remove(dir) // the old folder, if that emptied it
	}
	slog.Info("watch uploads: renamed to a valid key", "from", key, "to", newKey)
	return newPath, newKey, nil
}

// hashFile returns the hex MD5 of the file at path and its state after
// reading.
func hashFile(path string) (string, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", nil, fmt.Errorf("read %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}
