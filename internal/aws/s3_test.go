package aws

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/aws/awstest"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/ports/blobstest"
	"github.com/iris-oculus/iris/internal/testdata"
)

const testBucket = "iris-test-bucket"

// onlyReader hides every method but Read, as a network stream would.
type onlyReader struct{ io.Reader }

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestS3BlobsRoundTrip(t *testing.T) {
	ct, err := os.ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tls  bool
		body func([]byte) io.Reader
	}{
		// HTTPS is S3's only transport in production: the SDK streams a
		// non-seekable body with a trailing checksum.
		{"https stream", true, func(b []byte) io.Reader { return onlyReader{bytes.NewReader(b)} }},
		// Plain HTTP needs a seekable body (the pipeline passes files).
		{"http seekable", false, func(b []byte) io.Reader { return bytes.NewReader(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := awstest.StartS3(t, testBucket, tc.tls)
			b := NewS3Blobs(srv.Client, testBucket)
			job := "job-s3blob1"
			objs := map[string][]byte{
				events.VolumeKey(job):                        ct,
				events.UploadKey(job, "scan.nii.gz"):         ct[:1000],
				events.ResultsPrefix(job) + "manifest.json":  []byte(`{"organs":[]}`),
				events.ResultsPrefix(job) + "stl/liver.stl":  bytes.Repeat([]byte{7}, 4096),
				events.ResultsPrefix("job-other1") + "x.glb": []byte("glTF"),
			}
			for k, v := range objs {
				if err := b.Put(ctx, k, tc.body(v), int64(len(v)), "application/octet-stream"); err != nil {
					t.Fatalf("Put(%s): %v", k, err)
				}
			}
			for k, v := range objs {
				rc, info, err := b.Get(ctx, k)
				if err != nil {
					t.Fatalf("Get(%s): %v", k, err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("Get(%s) = %d bytes (%v), want the %d put", k, len(got), err, len(v))
				}
				if info.Key != k || info.Size != int64(len(v)) || info.ETag != md5hex(v) || info.Modified.IsZero() {
					t.Errorf("Get(%s) info = %+v", k, info)
				}
				head, err := b.Head(ctx, k)
				if err != nil || head.Size != info.Size || head.ETag != info.ETag {
					t.Errorf("Head(%s) = %+v, %v; Get said %+v", k, head, err, info)
				}
			}
			list, err := b.List(ctx, events.ResultsPrefix(job))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{events.ResultsPrefix(job) + "manifest.json", events.ResultsPrefix(job) + "stl/liver.stl"}
			if len(list) != len(want) {
				t.Fatalf("List = %+v, want keys %v", list, want)
			}
			for i, info := range list {
				if info.Key != want[i] || info.Size != int64(len(objs[want[i]])) || info.ETag != md5hex(objs[want[i]]) {
					t.Errorf("List[%d] = %+v, want %s", i, info, want[i])
				}
			}

			k := events.VolumeKey(job)
			if err := b.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Get(ctx, k); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Get after Delete: %v, want fs.ErrNotExist", err)
			}
			if err := b.Delete(ctx, k); err != nil {
				t.Errorf("deleting a missing key: %v", err)
			}
		})
	}
}

func TestS3BlobsErrors(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, false)
	ctx := context.Background()
	b := NewS3Blobs(srv.Client, testBucket)
	missing := events.SegmentationKey("job-nothing")
	if _, _, err := b.Get(ctx, missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "s3://"+testBucket+"/"+missing) {
		t.Errorf("Get(missing) = %v; want fs.ErrNotExist naming the object", err)
	}
	if _, err := b.Head(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Head(missing) = %v; want fs.ErrNotExist", err)
	}
	if got, err := b.List(ctx, "segmentations/"); err != nil || len(got) != 0 {
		t.Errorf("List(empty prefix) = %v, %v", got, err)
	}
	// A missing bucket is a deployment error, not a missing object.
	nb := NewS3Blobs(srv.Client, "no-such-bucket")
	if _, _, err := nb.Get(ctx, missing); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get from a missing bucket = %v; want an error that is not fs.ErrNotExist", err)
	}
	if err := b.Put(ctx, "volumes/x/ct.nii.gz", strings.NewReader("x"), -1, ""); err == nil {
		t.Error("Put with an unknown size succeeded")
	}
}

func TestS3BlobsListPages(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, false)
	ctx := context.Background()
	b := NewS3Blobs(srv.Client, testBucket)
	const n = 1003 // S3 pages at 1000 keys
	for i := range n {
		k := fmt.Sprintf("results/job-pages1/stl/%04d.stl", i)
		if err := b.Put(ctx, k, strings.NewReader("s"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.List(ctx, "results/job-pages1/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0].Key != "results/job-pages1/stl/0000.stl" || got[n-1].Key != fmt.Sprintf("results/job-pages1/stl/%04d.stl", n-1) {
		t.Fatalf("List returned %d keys (first %v), want %d in order", len(got), got[:min(1, len(got))], n)
	}
}

func newSigner(t *testing.T, srv *awstest.S3, post bool, now time.Time) *S3Signer {
	t.Helper()
	return NewS3Signer(s3.NewPresignClient(srv.Client), S3SignerConfig{Bucket: testBucket, Post: post, Now: func() time.Time { return now }})
}

func TestS3SignerPut(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, true)
	ctx := context.Background()
	now := time.Now()
	body, err := os.ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	key := events.UploadKey("job-signput", "ct_3mm.nii.gz")
	expires := now.Add(15 * time.Minute)
	up, err := newSigner(t, srv, false, now).SignUpload(ctx, key, int64(len(body)), expires)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if up.Method != http.MethodPut || !up.ExpiresAt.Equal(expires) || u.Path != "/"+testBucket+"/"+key {
		t.Errorf("upload = %+v", up)
	}
	if q.Get("X-Amz-Expires") != "900" {
		t.Errorf("X-Amz-Expires = %q, want 900", q.Get("X-Amz-Expires"))
	}
	sh := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	for _, h := range []string{"content-length", "host", "if-none-match"} {
		if !slices.Contains(sh, h) {
			t.Errorf("signed headers %v lack %s", sh, h)
		}
	}
	for h := range up.Headers {
		if strings.EqualFold(h, "Content-Length") || strings.EqualFold(h, "Host") {
			t.Errorf("Headers tells the client to set %s, which browsers refuse", h)
		}
	}
	// The client must send the condition (the web app and internal/client
	// send every header of Headers).
	if got := up.Headers["If-None-Match"]; got != "*" {
		t.Errorf("Headers[If-None-Match] = %q, want *; headers %v", got, up.Headers)
	}

	// gofakes3 checks no signature, so check here that the signature
	// covers the length and the condition: re-signing the request
	// reproduces it, and re-signing it with any other length, or without
	// If-None-Match, does not.
	cond := http.Header{"If-None-Match": {"*"}}
	if sig := resign(t, up.URL, int64(len(body)), cond); sig != q.Get("X-Amz-Signature") {
		t.Fatalf("re-signing the same request gave %s, the URL has %s; the checks below would prove nothing", sig, q.Get("X-Amz-Signature"))
	}
	if sig := resign(t, up.URL, int64(len(body))+1, cond); sig == q.Get("X-Amz-Signature") {
		t.Error("the signature does not depend on Content-Length: S3 would take an upload of any size")
	}
	if sig := resign(t, up.URL, int64(len(body)), nil); sig == q.Get("X-Amz-Signature") {
		t.Error("the signature does not depend on If-None-Match: a client could drop it and replace the upload")
	}

	// The URL works with a plain HTTP client, as a browser would use it;
	// the same request again is refused, and the first upload stays.
	put := func(b []byte) int {
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(b))
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		resp, err := srv.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(body); code != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d", code)
	}
	other := bytes.Clone(body)
	other[len(other)/2] ^= 0xff
	if code := put(other); code != http.StatusPreconditionFailed {
		t.Errorf("second PUT to the presigned URL: %d, want 412", code)
	}
	info, err := NewS3Blobs(srv.Client, testBucket).Head(ctx, key)
	if err != nil || info.Size != int64(len(body)) || info.ETag != md5hex(body) {
		t.Errorf("uploaded object = %+v, %v; want the first upload (ETag %s)", info, err, md5hex(body))
	}
}

// resign recomputes the SigV4 query signature of the presigned PUT rawURL
// for a request body of length n with the headers h, as S3 does when it
// checks one.
func resign(t *testing.T, rawURL string, n int64, h http.Header) string {
	t.Helper()
	u, _ := url.Parse(rawURL)
	q := u.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), nil)
	req.ContentLength = n
	for k, v := range h {
		req.Header[k] = v
	}
	creds, _ := awstest.Credentials().Retrieve(context.Background())
	signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", awstest.Region, at)
	if err != nil {
		t.Fatal(err)
	}
	su, _ := url.Parse(signed)
	return su.Query().Get("X-Amz-Signature")
}

func TestS3SignerPost(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, false)
	ctx := context.Background()
	now := time.Now()
	body := bytes.Repeat([]byte("dicom"), 2000)
	key := events.UploadKey("job-signpost", "series.zip")
	expires := now.Add(10 * time.Minute)
	up, err := newSigner(t, srv, true, now).SignUpload(ctx, key, int64(len(body)), expires)
	if err != nil {
		t.Fatal(err)
	}
	if up.Method != http.MethodPost || up.URL != srv.Server.URL+"/"+testBucket || up.Fields["key"] != key || up.Fields["X-Amz-Signature"] == "" {
		t.Fatalf("upload = %+v", up)
	}
	raw, err := base64.StdEncoding.DecodeString(up.Fields["policy"])
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Expiration time.Time `json:"expiration"`
		Conditions []any     `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &policy); err != nil {
		t.Fatalf("policy %s: %v", raw, err)
	}
	if d := policy.Expiration.Sub(expires); d < -time.Second || d > time.Second {
		t.Errorf("policy expires %v, want %v", policy.Expiration, expires)
	}
	conds := fmt.Sprint(policy.Conditions)
	for _, want := range []string{fmt.Sprintf("[content-length-range %d %d]", len(body), len(body)), "map[bucket:" + testBucket + "]", "map[key:" + key + "]"} {
		if !strings.Contains(conds, want) {
			t.Errorf("policy conditions %s lack %s", conds, want)
		}
	}

	// A browser form upload: the fields, then the file. gofakes3 does
	// not enforce the policy; S3 does.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for k, v := range up.Fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, _ := mw.CreateFormFile("file", "series.zip")
	fw.Write(body)
	mw.Close()
	resp, err := http.Post(up.URL, mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST form: %s", resp.Status)
	}
	info, err := NewS3Blobs(srv.Client, testBucket).Head(ctx, key)
	if err != nil || info.Size != int64(len(body)) {
		t.Errorf("uploaded object = %+v, %v", info, err)
	}
}

func TestS3SignerDownload(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, false)
	ctx := context.Background()
	now := time.Now()
	key := events.ResultsPrefix("job-download") + "scene.glb"
	body := []byte("glTF\x02\x00\x00\x00")
	if err := NewS3Blobs(srv.Client, testBucket).Put(ctx, key, bytes.NewReader(body), int64(len(body)), "model/gltf-binary"); err != nil {
		t.Fatal(err)
	}
	s := newSigner(t, srv, false, now)
	for _, tc := range []struct{ filename, want string }{
		{"scene.glb", "scene.glb"},
		{"", "scene.glb"}, // the key's base name
		{"Leber & Milz (CT).glb", "Leber & Milz (CT).glb"},
		{"fígado.glb", "fígado.glb"}, // RFC 2231 encoded
	} {
		t.Run(tc.want, func(t *testing.T) {
			link, err := s.SignDownload(ctx, key, tc.filename, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(link)
			if u.Query().Get("X-Amz-Expires") != "3600" {
				t.Errorf("X-Amz-Expires = %q", u.Query().Get("X-Amz-Expires"))
			}
			resp, err := http.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
				t.Fatalf("GET = %s, %q", resp.Status, got)
			}
			disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			if err != nil || disp != "attachment" || params["filename"] != tc.want {
				t.Errorf("Content-Disposition %q = %s %v (%v), want attachment; filename=%q", resp.Header.Get("Content-Disposition"), disp, params, err, tc.want)
			}
		})
	}
}

func TestS3SignerRefuses(t *testing.T) {
	srv := awstest.StartS3(t, testBucket, false)
	ctx := context.Background()
	now := time.Now()
	s := newSigner(t, srv, false, now)
	for _, tc := range []struct {
		name    string
		bytes   int64
		expires time.Time
	}{
		{"expired", 10, now.Add(-time.Minute)},
		{"beyond SigV4's 7 days", 10, now.Add(MaxPresignExpiry + time.Hour)},
		{"empty upload", 0, now.Add(time.Minute)},
	} {
		if _, err := s.SignUpload(ctx, "uploads/job-refuse1/a.nii", tc.bytes, tc.expires); err == nil {
			t.Errorf("%s: SignUpload succeeded", tc.name)
		}
	}
	if _, err := s.SignDownload(ctx, "results/job-refuse1/a.glb", "a.glb", now); err == nil {
		t.Error("SignDownload expiring now succeeded")
	}
	// Seven days exactly is allowed and signed as such.
	up, err := s.SignUpload(ctx, "uploads/job-refuse1/a.nii", 10, now.Add(MaxPresignExpiry))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	if u.Query().Get("X-Amz-Expires") != strconv.Itoa(int(MaxPresignExpiry/time.Second)) {
		t.Errorf("X-Amz-Expires = %s", u.Query().Get("X-Amz-Expires"))
	}
}

// discardS3 is an HTTPS server that takes any PutObject and keeps nothing,
// so that what a Put allocates is the client's doing.
func discardS3(t testing.TB) *s3.Client {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPut || n == 0 {
			http.Error(w, "want a PUT with a body", http.StatusBadRequest)
			return
		}
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{Region: awstest.Region, BaseEndpoint: awssdk.String(srv.URL), UsePathStyle: true, Credentials: awstest.Credentials(), HTTPClient: srv.Client()})
}

// A Lambda has 1-3 GB for volumes up to 1 GB: Put must stream, not
// buffer, a body it cannot seek.
func TestS3BlobsPutStreams(t *testing.T) {
	const size = 64 << 20
	b := NewS3Blobs(discardS3(t), testBucket)
	body := func() io.Reader { return onlyReader{io.LimitReader(zeros{}, size)} }
	// Warm up connections and pools before measuring.
	if err := b.Put(context.Background(), "volumes/job-stream1/ct.nii.gz", body(), size, ""); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := b.Put(context.Background(), "volumes/job-stream1/ct.nii.gz", body(), size, ""); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("putting %d MiB allocated %d MiB: the body is being buffered", size>>20, alloc>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func BenchmarkS3BlobsPutStream(b *testing.B) {
	const size = 16 << 20
	blobs := NewS3Blobs(discardS3(b), testBucket)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := blobs.Put(context.Background(), "volumes/job-bench01/ct.nii.gz", onlyReader{io.LimitReader(zeros{}, size)}, size, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestS3BlobsContract runs the Blobs conformance suite on S3Blobs against
// the S3 emulator, over HTTPS as the Lambdas reach S3.
func TestS3BlobsContract(t *testing.T) {
	blobstest.Run(t, func(t *testing.T) ports.Blobs {
		srv := awstest.StartS3(t, testBucket, true)
		return NewS3Blobs(srv.Client, testBucket)
	})
}
