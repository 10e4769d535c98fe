package local

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// BlobPath is where URLSigner's URLs are served.
const BlobPath = "/blobs/"

// URLSigner makes the local equivalent of S3 presigned URLs: expiring,
// HMAC-SHA256-signed links to DirBlobs objects, served by Handler. An
// upload URL fixes its key and exact size; a download URL its key and the
// file name a browser saves it under. The zero value is not usable: use
// NewURLSigner.
type URLSigner struct {
	// Allowed, when set, decides whether an upload may go ahead (the
	// job still waits for its file); an error refuses it with 409.
	Allowed func(ctx context.Context, key string) error
	// A transfer must move MinBytes in every Window, or its connection
	// is closed: a client that trickles a byte at a time holds no
	// connection for long. Zero values mean DefaultMinBytes and
	// DefaultWindow.
	MinBytes int64
	Window   time.Duration
	Log      *slog.Logger // nil means slog.Default()

	base   string // "" gives URLs relative to the serving origin
	secret []byte
	now    func() time.Time
}

// The minimum transfer rate of signed uploads and downloads: 64 KiB in
// every 30 s (about 2 KiB/s, far below any real link).
const (
	DefaultMinBytes = 64 << 10
	DefaultWindow   = 30 * time.Second
)

// LoadSecret returns the signing secret kept in the file at path, creating
// it (32 random bytes, mode 0600) on first use, so that signed URLs
// outlive a restart. A secret file that others may read is refused.
func LoadSecret(path string) ([]byte, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("signing secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, werr := f.Write(secret)
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("signing secret %s: %w", path, werr)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("signing secret: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing secret %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing secret: %w", err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("signing secret %s: %d bytes, want 32 (remove it to make a new one)", path, len(b))
	}
	return b, nil
}

var _ ports.Signer = (*URLSigner)(nil)

// NewURLSigner signs with secret (random when nil, so URLs die with the
// process) and prefixes URLs with base, e.g. "http://127.0.0.1:8080".
func NewURLSigner(base string, secret []byte) (*URLSigner, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("url signer: %w", err)
		}
	}
	return &URLSigner{base: strings.TrimRight(base, "/"), secret: secret, now: time.Now}, nil
}

// SignUpload implements ports.Signer: a PUT of exactly bytes bytes to key.
func (s *URLSigner) SignUpload(_ context.Context, key string, bytes int64, expires time.Time) (ports.Upload, error) {
	if !strings.HasPrefix(key, events.PrefixUploads) {
		return ports.Upload{}, fmt.Errorf("sign upload: %q is not under %s", key, events.PrefixUploads)
	}
	if err := CheckKey(key); err != nil {
		return ports.Upload{}, fmt.Errorf("sign upload: %w", err)
	}
	q := url.Values{"expires": {strconv.FormatInt(expires.Unix(), 10)}, "bytes": {strconv.FormatInt(bytes, 10)}}
	q.Set("sig", s.sign(http.MethodPut, key, q))
	return ports.Upload{
		Method:    http.MethodPut,
		URL:       s.base + BlobPath + key + "?" + q.Encode(),
		Headers:   map[string]string{"Content-Type": "application/octet-stream"},
		ExpiresAt: expires.UTC(),
	}, nil
}

// SignDownload implements ports.Signer.
func (s *URLSigner) SignDownload(_ context.Context, key, filename string, expires time.Time) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("sign download: %w", err)
	}
	q := url.Values{"expires": {strconv.FormatInt(expires.Unix(), 10)}, "name": {filename}}
	q.Set("sig", s.sign(http.MethodGet, key, q))
	return s.base + BlobPath + key + "?" + q.Encode(), nil
}

// sign covers the method, the key and every query value but sig.
func (s *URLSigner) sign(method, key string, q url.Values) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s", method, key, q.Get("expires"), q.Get("bytes"), q.Get("name"))
	return hex.EncodeToString(m.Sum(nil))
}

// verify checks the signature and expiry of a request.
func (s *URLSigner) verify(method, key string, q url.Values) error {
	want := s.sign(method, key, q)
	if !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
		return errors.New("the link's signature does not match")
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || s.now().Unix() > exp {
		return errors.New("the link has expired; ask for a new one")
	}
	return nil
}

// Handler serves signed uploads (PUT) and downloads (GET, HEAD) of blobs.
func (s *URLSigner) Handler(blobs *DirBlobs) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, BlobPath)
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		if method != http.MethodGet && method != http.MethodPut {
			w.Header().Set("Allow", "GET, HEAD, PUT")
			blobError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on a blob link")
			return
		}
		if err := s.verify(method, key, r.URL.Query()); err != nil {
			blobError(w, http.StatusForbidden, "forbidden", err.Error())
			return
		}
		if method == http.MethodPut {
			s.put(w, r, blobs, key)
			return
		}
		s.get(w, r, blobs, key)
	})
}

func (s *URLSigner) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *URLSigner) rate() (int64, time.Duration) {
	n, d := s.MinBytes, s.Window
	if n <= 0 {
		n = DefaultMinBytes
	}
	if d <= 0 {
		d = DefaultWindow
	}
	return n, d
}

func (s *URLSigner) put(w http.ResponseWriter, r *http.Request, blobs *DirBlobs, key string) {
	want, _ := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if r.ContentLength >= 0 && r.ContentLength != want {
		blobError(w, http.StatusBadRequest, "size_mismatch",
			fmt.Sprintf("the upload is %d bytes but the link was made for %d", r.ContentLength, want))
		return
	}
	if s.Allowed != nil {
		if err := s.Allowed(r.Context(), key); err != nil {
			s.log().InfoContext(r.Context(), "upload refused", "key", key, "err", err)
			blobError(w, http.StatusConflict, "conflict", "this job no longer takes a file; start a new job")
			return
		}
	}
	minBytes, window := s.rate()
	rc := http.NewResponseController(w)
	body := &exactReader{r: &rateReader{r: r.Body, rc: rc, min: minBytes, window: window}, want: want}
	body.r = io.LimitReader(body.r, want+1)
	rc.SetReadDeadline(time.Now().Add(window))
	err := blobs.PutUpload(r.Context(), key, body, want)
	// The server's write timeout ran from the request's start; the
	// answer to a long upload has the window from now.
	rc.SetWriteDeadline(time.Now().Add(window))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, ErrUploadUsed) && r.Header.Get("If-None-Match") == "*":
		// The client asked for the condition an S3 upload URL signs:
		// answer as S3 and RFC 9110 do for a PUT whose target exists.
		blobError(w, http.StatusPreconditionFailed, "precondition_failed", "this job's file was sent already; an upload link is good for one upload")
	case errors.Is(err, ErrUploadUsed):
		blobError(w, http.StatusConflict, "conflict", "this job's file was sent already; an upload link is good for one upload")
	case errors.Is(err, ErrUploadGone):
		blobError(w, http.StatusGone, "gone", "the job was deleted")
	case errors.Is(err, errSizeMismatch):
		blobError(w, http.StatusBadRequest, "size_mismatch", fmt.Sprintf("the upload must be exactly %d bytes, as the link says", want))
	case errors.Is(err, os.ErrDeadlineExceeded):
		blobError(w, http.StatusRequestTimeout, "too_slow", fmt.Sprintf("the upload sent less than %d bytes in %v; try again on a better connection", minBytes, window))
	default:
		s.log().ErrorContext(r.Context(), "storing an upload failed", "key", key, "err", err)
		blobError(w, http.StatusInternalServerError, "internal", "storing the upload failed on our side; try again")
	}
}

// rateReader moves the connection's read deadline one window on each
// time min more bytes have arrived, so an upload that keeps a minimum rate
// never times out and one that trickles does.
type rateReader struct {
	r      io.Reader
	rc     *http.ResponseController
	min    int64
	window time.Duration
	got    int64 // since the deadline last moved
}

func (t *rateReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.got += int64(n)
	if t.got >= t.min {
		t.got = 0
		t.rc.SetReadDeadline(time.Now().Add(t.window))
	}
	return n, err
}

// rateWriter is rateReader for a download's writes.
type rateWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	min    int64
	window time.Duration
	sent   int64
}

func (t *rateWriter) Write(p []byte) (int, error) {
	n, err := t.ResponseWriter.Write(p)
	t.sent += int64(n)
	if t.sent >= t.min {
		t.sent = 0
		t.rc.SetWriteDeadline(time.Now().Add(t.window))
	}
	return n, err
}

func (s *URLSigner) get(w http.ResponseWriter, r *http.Request, blobs *DirBlobs, key string) {
	rc, info, err := blobs.Get(r.Context(), key)
	if errors.Is(err, fs.ErrNotExist) {
		blobError(w, http.StatusNotFound, "not_found", "the file no longer exists")
		return
	}
	if err != nil {
		s.log().ErrorContext(r.Context(), "reading a download failed", "key", key, "err", err)
		blobError(w, http.StatusInternalServerError, "internal", "reading the file failed on our side; try again")
		return
	}
	defer rc.Close()
	minBytes, window := s.rate()
	ctl := http.NewResponseController(w)
	ctl.SetWriteDeadline(time.Now().Add(window))
	w = &rateWriter{ResponseWriter: w, rc: ctl, min: minBytes, window: window}
	if name := r.URL.Query().Get("name"); name != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", info.Modified, rs)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, rc)
	}
}

var errSizeMismatch = errors.New("upload size differs from the signed size")

// exactReader fails unless exactly want bytes arrive, so a truncated or
// oversized upload never becomes an object.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want {
		return n, fmt.Errorf("%w: more than %d bytes", errSizeMismatch, e.want)
	}
	if errors.Is(err, io.EOF) && e.n != e.want {
		return n, fmt.Errorf("%w: got %d of %d bytes", errSizeMismatch, e.n, e.want)
	}
	return n, err
}

func blobError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", errCode, msg)
}
