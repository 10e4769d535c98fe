package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// The envelope fields a local "Object Created" event carries where AWS
// would name a real account and region.
const (
	LocalAccount = "000000000000"
	LocalRegion  = "local"
)

// DirBlobs is the bucket as a directory: key "a/b/c" is the file root/a/b/c.
// Writes are atomic (a temporary file in the same folder, fsync, rename),
// so a reader sees the old object or the new one, never a part. The ETag is
// the hex MD5 of the content, as S3 gives for single-part uploads, without
// quotes. After a successful Put, an S3 "Object Created" event goes to the
// bus, so the local pipeline reacts as the AWS one does.
//
// ETags are remembered in memory per file (identity, size, mtime); a file
// the process has not written or read before is hashed on first Head, Get
// or List. Hidden names (".*") are never objects: they are temporary files.
type DirBlobs struct {
	root   string
	bucket string
	bus    ports.Bus

	seq   atomic.Uint64
	mu    sync.Mutex
	etags map[string]etagEntry // by key
}

type etagEntry struct {
	fi   os.FileInfo // identifies the file version (os.SameFile, size, mtime)
	etag string
	put  bool // written by Put, which announced it
}

var _ ports.Blobs = (*DirBlobs)(nil)

// NewDirBlobs serves the bucket named bucket from the directory root,
// creating it (and its uploads/ folder) if needed. Events go to bus; nil
// means none are emitted.
func NewDirBlobs(root, bucket string, bus ports.Bus) (*DirBlobs, error) {
	if bucket == "" {
		return nil, errors.New("new blobs: empty bucket name")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("new blobs: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, filepath.FromSlash(events.PrefixUploads)), 0o755); err != nil {
		return nil, fmt.Errorf("new blobs: %w", err)
	}
	return &DirBlobs{root: abs, bucket: bucket, bus: bus, etags: map[string]etagEntry{}}, nil
}

// Root is the bucket's directory.
func (b *DirBlobs) Root() string { return b.root }

// Bucket is the bucket's name, as events carry it.
func (b *DirBlobs) Bucket() string { return b.bucket }

// CheckKey reports whether key can name an object: only [A-Za-z0-9/_.-],
// no empty, "." or ".." segment, no segment starting with "." (those are
// temporary files), no leading or trailing slash.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", events.ErrBadKey)
	}
	for _, r := range key {
		if !keyChar(r) {
			return fmt.Errorf("%w: %q has %q, outside [A-Za-z0-9/_.-]", events.ErrBadKey, key, r)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg[0] == '.' {
			return fmt.Errorf("%w: %q has an empty or dot-led segment", events.ErrBadKey, key)
		}
	}
	return nil
}

func keyChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '_' || r == '.' || r == '-'
}

// Path is the file that holds key, for tools that need a path (a
// subprocess segmenter). The key must be valid; the file need not exist.
func (b *DirBlobs) Path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

// Put implements ports.Blobs. size is checked when ≥ 0; contentType is
// not kept. If the object is stored but the event cannot be published,
// Put reports it; putting again repeats both.
func (b *DirBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	path, err := b.Path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	n, etag, err := b.write(ctx, key, path, r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := b.announce(ctx, key, n, etag); err != nil {
		return fmt.Errorf("put %s: stored, but %w", key, err)
	}
	return nil
}

func (b *DirBlobs) write(ctx context.Context, key, path string, r io.Reader, size int64) (int64, string, error) {
	dir := filepath.Dir(path)
	var f *os.File
	var err error
	for range 3 { // a concurrent Delete may prune the folder in between
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return 0, "", err
		}
		if f, err = os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp"); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return 0, "", err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return 0, "", err
	}
	if size >= 0 && n != size {
		return 0, "", fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return 0, "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	if err := f.Close(); err != nil {
		return 0, "", err
	}
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return 0, "", fmt.Errorf("%s is a folder of other objects", key)
	}
	etag := hex.EncodeToString(h.Sum(nil))
	// Remembered before the rename, so the drop-folder watcher never sees
	// the file without knowing that Put announces it.
	b.remember(key, fi, etag, true)
	if err := os.Rename(tmp, path); err != nil {
		b.forget(key)
		return 0, "", err
	}
	ok = true
	syncDir(dir)
	return n, etag, nil
}

// syncDir makes a rename in dir durable; not all platforms can (Windows),
// and the data itself is already synced, so failure is not an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// announce publishes the S3 "Object Created" event for key.
func (b *DirBlobs) announce(ctx context.Context, key string, size int64, etag string) error {
	if b.bus == nil {
		return nil
	}
	ev, err := b.objectCreated(key, size, etag, time.Now())
	if err != nil {
		return err
	}
	if err := b.bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	return nil
}

// objectCreated builds the event as EventBridge delivers S3's.
func (b *DirBlobs) objectCreated(key string, size int64, etag string, now time.Time) (events.Event, error) {
	var d events.S3Object
	d.Version = "0"
	d.Bucket.Name = b.bucket
	d.Object.Key = key
	d.Object.Size = size
	d.Object.ETag = etag
	// S3 sequencers are hex and grow for later events on the same key.
	d.Object.Sequencer = fmt.Sprintf("%016X%08X", now.UnixNano(), uint32(b.seq.Add(1)))
	d.RequestID = strings.ToUpper(strings.ReplaceAll(newID(), "-", "")[:16])
	d.Requester = LocalAccount
	d.Reason = "PutObject"
	raw, err := json.Marshal(d)
	if err != nil {
		return events.Event{}, fmt.Errorf("encode Object Created for %s: %w", key, err)
	}
	return events.Event{
		Version:    "0",
		ID:         newID(),
		DetailType: events.ObjectCreated,
		Source:     events.SourceS3,
		Account:    LocalAccount,
		Time:       now.UTC().Truncate(time.Second), // EventBridge times have whole seconds
		Region:     LocalRegion,
		Resources:  []string{"arn:aws:s3:::" + b.bucket},
		Detail:     raw,
	}, nil
}

// Get implements ports.Blobs; the caller closes the reader.
func (b *DirBlobs) Get(ctx context.Context, key string) (io.ReadCloser, ports.BlobInfo, error) {
	path, err := b.Path(key)
	if err != nil {
		return nil, ports.BlobInfo{}, fmt.Errorf("get: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, ports.BlobInfo{}, fmt.Errorf("get %s: %w", key, notExist(err))
	}
	info, err := b.info(key, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, ports.BlobInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	return f, info, nil
}

// Head implements ports.Blobs.
func (b *DirBlobs) Head(ctx context.Context, key string) (ports.BlobInfo, error) {
	path, err := b.Path(key)
	if err != nil {
		return ports.BlobInfo{}, fmt.Errorf("head: %w", err)
	}
	info, err := b.headPath(key, path)
	if err != nil {
		return ports.BlobInfo{}, fmt.Errorf("head %s: %w", key, err)
	}
	return info, nil
}

func (b *DirBlobs) headPath(key, path string) (ports.BlobInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return ports.BlobInfo{}, notExist(err)
	}
	if etag, ok := b.cached(key, fi); ok {
		return blobInfo(key, fi, etag), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return ports.BlobInfo{}, notExist(err)
	}
	defer f.Close()
	return b.info(key, f)
}

// info describes the open file f, hashing it if its ETag is not known.
func (b *DirBlobs) info(key string, f *os.File) (ports.BlobInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return ports.BlobInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return ports.BlobInfo{}, fmt.Errorf("%s is a folder, not an object: %w", key, fs.ErrNotExist)
	}
	if etag, ok := b.cached(key, fi); ok {
		return blobInfo(key, fi, etag), nil
	}
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return ports.BlobInfo{}, err
	}
	etag := hex.EncodeToString(h.Sum(nil))
	b.remember(key, fi, etag, false)
	return blobInfo(key, fi, etag), nil
}

func blobInfo(key string, fi os.FileInfo, etag string) ports.BlobInfo {
	return ports.BlobInfo{Key: key, Size: fi.Size(), ETag: etag, Modified: fi.ModTime().UTC()}
}

// notExist makes "not a directory" (a key below an object) read as
// missing too.
func notExist(err error) error {
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (b *DirBlobs) remember(key string, fi os.FileInfo, etag string, put bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.etags[key] = etagEntry{fi: fi, etag: etag, put: put}
}

func (b *DirBlobs) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.etags, key)
}

func (b *DirBlobs) cached(key string, fi os.FileInfo) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.etags[key]
	if !ok || !sameVersion(e.fi, fi) {
		return "", false
	}
	return e.etag, true
}

// wrote reports whether fi is the very file version Put wrote for key.
func (b *DirBlobs) wrote(key string, fi os.FileInfo) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.etags[key]
	return ok && e.put && sameVersion(e.fi, fi)
}

// Delete implements ports.Blobs. Deleting a missing key is not an error
// (as in S3). Folders left empty are removed, except the top-level prefix
// folders (uploads/ is watched).
func (b *DirBlobs) Delete(ctx context.Context, key string) error {
	path, err := b.Path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(notExist(err), fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a prefix, not an object: S3 has nothing to delete
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	b.forget(key)
	b.prune(filepath.Dir(path))
	return nil
}

// prune removes dir and its parents while they are empty, stopping below
// the top-level folders.
func (b *DirBlobs) prune(dir string) {
	for {
		parent := filepath.Dir(dir)
		if dir == b.root || parent == b.root || !strings.HasPrefix(dir, b.root+string(filepath.Separator)) {
			return
		}
		if os.Remove(dir) != nil { // not empty (or gone): stop
			return
		}
		dir = parent
	}
}

// List implements ports.Blobs: the objects whose keys start with
// prefix, in key order. Files whose names are not valid keys (a person's
// "My Scan.nii") and hidden files are not objects and are left out.
func (b *DirBlobs) List(ctx context.Context, prefix string) ([]ports.BlobInfo, error) {
	for _, r := range prefix {
		if !keyChar(r) {
			return nil, fmt.Errorf("list: %w: prefix %q has %q", events.ErrBadKey, prefix, r)
		}
	}
	if strings.Contains(prefix, "..") || strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("list: %w: prefix %q", events.ErrBadKey, prefix)
	}
	start := b.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(b.root, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if p != start && d.Name()[0] == '.' {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(key, prefix) && CheckKey(key) == nil {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	sort.Strings(keys)
	out := make([]ports.BlobInfo, 0, len(keys))
	for _, k := range keys {
		info, err := b.headPath(k, filepath.Join(b.root, filepath.FromSlash(k)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while listing
		}
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		out = append(out, info)
	}
	return out, nil
}
