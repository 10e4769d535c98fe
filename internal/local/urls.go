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
	"mime"
	"net/http"
	"net/url"
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
	base   string // "" gives URLs relative to the serving origin
	secret []byte
	now    func() time.Time
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

func (s *URLSigner) put(w http.ResponseWriter, r *http.Request, blobs *DirBlobs, key string) {
	want, _ := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if r.ContentLength >= 0 && r.ContentLength != want {
		blobError(w, http.StatusBadRequest, "size_mismatch",
			fmt.Sprintf("the upload is %d bytes but the link was made for %d", r.ContentLength, want))
		return
	}
	body := &exactReader{r: io.LimitReader(r.Body, want+1), want: want}
	if err := blobs.Put(r.Context(), key, body, want, r.Header.Get("Content-Type")); err != nil {
		if errors.Is(err, errSizeMismatch) {
			blobError(w, http.StatusBadRequest, "size_mismatch", err.Error())
			return
		}
		blobError(w, http.StatusInternalServerError, "internal", "storing the upload failed: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *URLSigner) get(w http.ResponseWriter, r *http.Request, blobs *DirBlobs, key string) {
	rc, info, err := blobs.Get(r.Context(), key)
	if errors.Is(err, fs.ErrNotExist) {
		blobError(w, http.StatusNotFound, "not_found", "the file no longer exists")
		return
	}
	if err != nil {
		blobError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	defer rc.Close()
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
