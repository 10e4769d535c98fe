package local

import (
	"context"
	"crypto/md5"
	"database/sql"
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

	// Fault, when set, is called at each step of Put with the step's
	// name and the key: a test's kill hook (see Put for the steps).
	Fault func(step, key string)

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
//
// With a *Bus, the event goes through an outbox, so that a crash between
// the file and its event loses neither: the event is recorded in the
// database before the file is renamed into place ("recorded"), and moved
// to the bus's queues, in one transaction, after the rename ("renamed",
// then "published"). Recover, at start, publishes the events of files
// that made it into place and drops those of files that did not.
func (b *DirBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	return b.put(ctx, key, r, size, nil)
}

// put is Put with check, which runs (when not nil) in the transaction
// that publishes the event: an error from it withdraws the object.
func (b *DirBlobs) put(ctx context.Context, key string, r io.Reader, size int64, check func(tx *sql.Tx) error) error {
	path, err := b.Path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	bus, _ := b.bus.(*Bus)
	if bus == nil {
		n, etag, err := b.write(ctx, key, path, r, size, nil)
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		if err := b.announce(ctx, key, n, etag); err != nil {
			return fmt.Errorf("put %s: stored, but %w", key, err)
		}
		return nil
	}
	var ev events.Event
	record := func(n int64, etag string) error {
		b.fault("written", key)
		if ev, err = b.objectCreated(key, n, etag, time.Now()); err != nil {
			return err
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err := bus.db.sql.ExecContext(ctx,
			`INSERT OR REPLACE INTO blob_outbox (key, size, etag, event) VALUES (?, ?, ?, ?)`, key, n, etag, raw); err != nil {
			return fmt.Errorf("record the event of %s: %w", key, err)
		}
		b.fault("recorded", key)
		return nil
	}
	_, etag, err := b.write(ctx, key, path, r, size, record)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	b.fault("renamed", key)
	if err := b.publishRecorded(ctx, bus, key, etag, ev, check); err != nil {
		if errors.Is(err, errWithdrawn) {
			b.withdraw(bus, key, etag)
			return fmt.Errorf("put %s: %w", key, err)
		}
		return fmt.Errorf("put %s: stored, but %w", key, err)
	}
	b.fault("published", key)
	return nil
}

// errWithdrawn wraps a put's check error: the object was removed again.
var errWithdrawn = errors.New("withdrawn")

// publishRecorded moves key's recorded event to the bus's queues, in one
// transaction with check.
func (b *DirBlobs) publishRecorded(ctx context.Context, bus *Bus, key, etag string, ev events.Event, check func(tx *sql.Tx) error) error {
	ds, err := bus.deliveries([]events.Event{ev})
	if err != nil {
		return err
	}
	tx, err := bus.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	defer tx.Rollback()
	if check != nil {
		if err := check(tx); err != nil {
			return fmt.Errorf("%w: %w", errWithdrawn, err)
		}
	}
	if err := bus.enqueue(ctx, tx, ds); err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM blob_outbox WHERE key = ? AND etag = ?`, key, etag); err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	bus.notify(ds)
	return nil
}

// withdraw removes an object whose put was refused after the rename, and
// its recorded event.
func (b *DirBlobs) withdraw(bus *Bus, key, etag string) {
	if path, err := b.Path(key); err == nil {
		if fi, err := os.Stat(path); err == nil && b.wrote(key, fi) {
			os.Remove(path)
			b.forget(key)
			b.prune(filepath.Dir(path))
		}
	}
	bus.db.sql.Exec(`DELETE FROM blob_outbox WHERE key = ? AND etag = ?`, key, etag)
}

func (b *DirBlobs) fault(step, key string) {
	if b.Fault != nil {
		b.Fault(step, key)
	}
}

// Recover finishes what a crash interrupted in Put: the recorded event of
// a file that is in place, with the recorded content, is published; that
// of one that never got there is dropped. Call it at start, before any
// Put, while no other process writes the bucket. It returns how many
// events it published.
func (b *DirBlobs) Recover(ctx context.Context) (int, error) {
	bus, _ := b.bus.(*Bus)
	if bus == nil {
		return 0, nil
	}
	rows, err := bus.db.sql.QueryContext(ctx, `SELECT key, etag, event FROM blob_outbox`)
	if err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	type rec struct {
		key, etag string
		ev        []byte
	}
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.key, &r.etag, &r.ev); err != nil {
			rows.Close()
			return 0, fmt.Errorf("recover outbox: %w", err)
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	published := 0
	for _, r := range recs {
		info, err := b.Head(ctx, r.key)
		var ev events.Event
		if err == nil && info.ETag == r.etag && json.Unmarshal(r.ev, &ev) == nil {
			// A signed upload's claim is marked done with its event, as
			// PutUpload would have, so the link is not good for another.
			claimDone := func(tx *sql.Tx) error {
				k, err := events.ParseKey(r.key)
				if err != nil || k.Prefix != events.PrefixUploads {
					return nil
				}
				_, err = tx.ExecContext(ctx, `UPDATE upload_claims SET state = 'done' WHERE job_id = ? AND state = 'uploading'`, k.JobID)
				return err
			}
			if err := b.publishRecorded(ctx, bus, r.key, r.etag, ev, claimDone); err != nil {
				return published, fmt.Errorf("recover outbox: %w", err)
			}
			published++
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return published, fmt.Errorf("recover outbox: %w", err)
		}
		if _, err := bus.db.sql.ExecContext(ctx, `DELETE FROM blob_outbox WHERE key = ? AND etag = ?`, r.key, r.etag); err != nil {
			return published, fmt.Errorf("recover outbox: %w", err)
		}
	}
	return published, nil
}

// write stores r at path through a temporary file; before, when not nil,
// runs between the fsync and the rename with the size and ETag.
func (b *DirBlobs) write(ctx context.Context, key, path string, r io.Reader, size int64, before func(n int64, etag string) error) (int64, string, error) {
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
	if before != nil {
		if err := before(n, etag); err != nil {
			return 0, "", err
		}
	}
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
