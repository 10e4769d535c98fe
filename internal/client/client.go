// Package client speaks IRIS Oculus's HTTP API (internal/api) from the
// other side: create a job, upload the scan through the signed URL it
// gives, follow the job to its end, list jobs and download the results.
// It needs only the API's base URL and, where the API wants one, a bearer
// token, so one client serves `iris serve` (loopback without a token, or
// --token, or an OIDC sign-in) and the AWS deployment (API Gateway with a
// JWT authorizer) alike. The token goes to the API only, never to the
// signed storage URLs, which carry their own authority.
//
// It does not sign in: getting a token is the caller's (see DeviceLogin
// for the OIDC device-code flow).
package client

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// Client is one API endpoint and its credentials. Its methods are safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	// HTTP sends the API calls; its Timeout should stay short (they are
	// small). Transfers use Transfer, with no overall timeout.
	HTTP     *http.Client
	Transfer *http.Client
}

// New makes a client for the API at base ("https://host/prefix" or
// "http://127.0.0.1:8080"); token is the bearer token, "" for none.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want an http:// or https:// URL", base)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) && token != "" {
		return nil, fmt.Errorf("server %s: a token is only sent over https (or to loopback)", base)
	}
	return &Client{base: u, token: token,
		HTTP:     &http.Client{Timeout: 60 * time.Second},
		Transfer: &http.Client{},
	}, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// Error is an error answer of the API: its HTTP status and its JSON
// {"error": {"code", "message"}}.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// ErrUnauthorized is wrapped by the error of a call the API refused for
// want of a (valid) token.
var ErrUnauthorized = errors.New("the server wants a sign-in token")

// Is lets errors.Is(err, ErrUnauthorized) find a 401.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthorized && e.Status == http.StatusUnauthorized
}

// resolve turns a URL the API gave (absolute, or relative to the server,
// as iris serve's signed URLs are) into an absolute one.
func (c *Client) resolve(ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("bad URL from the server: %w", err)
	}
	u = c.base.ResolveReference(u)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bad URL from the server: scheme %q", u.Scheme)
	}
	return u, nil
}

// call sends an API request with the token and decodes a JSON answer into
// out (nil: none expected).
func (c *Client) call(ctx context.Context, method, p string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	rel, err := url.Parse(p)
	if err != nil {
		return err
	}
	u.Path = strings.TrimRight(c.base.Path, "/") + rel.Path
	u.RawQuery = rel.RawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, rel.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, rel.Path, err)
	}
	if resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the API's JSON: %w", method, rel.Path, err)
	}
	return nil
}

// apiError decodes an error answer; one that is not the API's JSON (a
// proxy's page) keeps a short excerpt.
func apiError(status int, b []byte) error {
	var eb api.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		return &Error{Status: status, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	// S3's errors (a presigned upload refused) are XML.
	var s3e struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}
	if xml.Unmarshal(b, &s3e) == nil && s3e.Code != "" {
		return &Error{Status: status, Code: s3e.Code, Message: s3e.Message}
	}
	msg := strings.Join(strings.Fields(string(b)), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}

// Create makes a job for a file called filename of size bytes.
func (c *Client) Create(ctx context.Context, filename string, size int64) (api.CreateJobResponse, error) {
	var cr api.CreateJobResponse
	err := c.call(ctx, http.MethodPost, "/api/jobs", api.CreateJobRequest{Filename: filename, Bytes: size}, &cr)
	if err == nil && cr.Job.ID == "" {
		err = errors.New("POST /api/jobs: the answer names no job")
	}
	return cr, err
}

// Job gets one job.
func (c *Client) Job(ctx context.Context, id string) (api.JobView, error) {
	var v api.JobView
	if strings.ContainsAny(id, "/?#%") || id == "" {
		return v, fmt.Errorf("job id %q is not an id", id)
	}
	err := c.call(ctx, http.MethodGet, "/api/jobs/"+id, nil, &v)
	return v, err
}

// Jobs lists a page of jobs, newest first; cursor "" is the first page.
func (c *Client) Jobs(ctx context.Context, limit int, cursor string) (api.JobList, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var l api.JobList
	err := c.call(ctx, http.MethodGet, "/api/jobs?"+q.Encode(), nil, &l)
	return l, err
}

// Delete deletes a job and its files.
func (c *Client) Delete(ctx context.Context, id string) error {
	if strings.ContainsAny(id, "/?#%") || id == "" {
		return fmt.Errorf("job id %q is not an id", id)
	}
	return c.call(ctx, http.MethodDelete, "/api/jobs/"+id, nil, nil)
}

// Progress is told how many bytes of total have gone so far.
type Progress func(done, total int64)

// countingReader tells a Progress as it is read.
type countingReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.fn != nil && n > 0 {
		c.fn(c.done, c.total)
	}
	return n, err
}

// Upload sends size bytes of r as up says: a PUT of the bytes (iris serve,
// S3 presigned PUT) or a POST of a form with up.Fields and the file (S3
// presigned POST). The token is not sent: the URL is its own authority.
func (c *Client) Upload(ctx context.Context, up ports.Upload, r io.Reader, size int64, progress Progress) error {
	u, err := c.resolve(up.URL)
	if err != nil {
		return err
	}
	body := &countingReader{r: r, total: size, fn: progress}
	var req *http.Request
	switch strings.ToUpper(up.Method) {
	case http.MethodPut:
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, u.String(), body)
		if err != nil {
			return err
		}
		req.ContentLength = size
	case http.MethodPost:
		// A presigned POST is a multipart form whose file comes last; S3
		// wants its length, so the form's head and tail are built first.
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		for k, v := range up.Fields {
			if err := mw.WriteField(k, v); err != nil {
				return err
			}
		}
		if _, err := mw.CreateFormFile("file", "upload"); err != nil {
			return err
		}
		tail := "\r\n--" + mw.Boundary() + "--\r\n"
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(),
			io.MultiReader(bytes.NewReader(head.Bytes()), body, strings.NewReader(tail)))
		if err != nil {
			return err
		}
		req.ContentLength = int64(head.Len()) + size + int64(len(tail))
		req.Header.Set("Content-Type", mw.FormDataContentType())
	default:
		return fmt.Errorf("upload method %q: want PUT or POST", up.Method)
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Transfer.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload: %w", apiError(resp.StatusCode, b))
	}
	return nil
}

// Submit creates a job for the scan at p and uploads it: a NIfTI file or
// a DICOM zip as it is, a DICOM folder zipped on the way (into a
// temporary file, as the API takes one file).
func (c *Client) Submit(ctx context.Context, p string, progress Progress) (api.JobView, error) {
	st, err := os.Stat(p)
	if err != nil {
		return api.JobView{}, err
	}
	name := filepath.Base(p)
	file := p
	if st.IsDir() {
		tmp, err := zipFolder(p)
		if err != nil {
			return api.JobView{}, fmt.Errorf("zip %s: %w", p, err)
		}
		defer os.Remove(tmp)
		file, name = tmp, name+".zip"
	}
	f, err := os.Open(file)
	if err != nil {
		return api.JobView{}, err
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return api.JobView{}, err
	}
	cr, err := c.Create(ctx, name, fst.Size())
	if err != nil {
		return api.JobView{}, err
	}
	if err := c.Upload(ctx, cr.Upload, f, fst.Size(), progress); err != nil {
		return cr.Job, fmt.Errorf("job %s: %w", cr.Job.ID, err)
	}
	return cr.Job, nil
}

// zipFolder stores the regular files under dir in a temporary zip (no
// compression: DICOM images mostly are compressed already) and returns
// its path.
func zipFolder(dir string) (string, error) {
	f, err := os.CreateTemp("", "iris-series-*.zip")
	if err != nil {
		return "", err
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Store})
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Wait polls the job every poll until it is done or failed (or ctx ends),
// telling onChange of each status it sees change. Transient errors
// (network, 5xx) are retried; 4xx ones end the wait.
func (c *Client) Wait(ctx context.Context, id string, poll time.Duration, onChange func(api.JobView)) (api.JobView, error) {
	var last job.Status
	var lastErr error
	for {
		v, err := c.Job(ctx, id)
		var ae *Error
		switch {
		case err == nil:
			lastErr = nil
			if v.Status != last && onChange != nil {
				onChange(v)
			}
			last = v.Status
			if v.Status.Terminal() {
				return v, nil
			}
		case errors.As(err, &ae) && ae.Status < 500:
			return v, err
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return v, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// SafeName checks an artifact name from the server before it becomes a
// path: relative, slash-separated, no "..", no empty or hidden parts.
func SafeName(name string) (string, error) {
	clean := path.Clean(name)
	if name == "" || clean != name || path.IsAbs(name) || strings.Contains(name, "\\") {
		return "", fmt.Errorf("artifact name %q is not a plain relative path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, ".") {
			return "", fmt.Errorf("artifact name %q is not a plain relative path", name)
		}
	}
	return filepath.FromSlash(name), nil
}

// Download saves an artifact under dir (its name may hold a folder, as
// stl/liver.stl does), atomically, checking its size when the API gave
// one. The token is not sent: the URL is its own authority.
func (c *Client) Download(ctx context.Context, a api.ArtifactView, dir string, progress Progress) (string, error) {
	rel, err := SafeName(a.Name)
	if err != nil {
		return "", err
	}
	u, err := c.resolve(a.URL)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Transfer.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", a.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return "", fmt.Errorf("download %s: %w", a.Name, apiError(resp.StatusCode, b))
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	n, err := io.Copy(tmp, &countingReader{r: resp.Body, total: a.Bytes, fn: progress})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", a.Name, err)
	}
	if a.Bytes > 0 && n != a.Bytes {
		return "", fmt.Errorf("download %s: got %d bytes, the server listed %d", a.Name, n, a.Bytes)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return dst, nil
}
