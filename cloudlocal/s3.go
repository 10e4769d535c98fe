package cloudlocal

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
)

// s3Events wraps gofakes3's handler: when a request has created an
// object in a bucket whose notifications go to EventBridge, it puts the
// "Object Created" event S3 sends (detail version 0) on the bus.
type s3Events struct {
	next    http.Handler
	backend gofakes3.Backend
	notify  map[string]bool // buckets with EventBridge notifications
	bus     *Bus
	ctx     context.Context
	creds   awssdk.CredentialsProvider // what presigned URLs are checked against

	mu     sync.Mutex
	seq    uint64
	faults map[string]int // key prefix → reads still to refuse (<0: all)
	denied int
}

// RefusedReads counts the reads FailReads has refused so far.
func (c *Cloud) RefusedReads() int {
	c.s3.mu.Lock()
	defer c.s3.mu.Unlock()
	return c.s3.denied
}

// FailReads makes the S3 emulator refuse the next n GET requests (object
// reads; HEAD requests pass) for objects under prefix in the data bucket with 403 AccessDenied (an
// error the SDK does not retry, as an IAM or KMS denial), or every one
// while n is negative; n 0 lifts the fault. It is the fault injection of
// the failure scenarios, outside the functions.
func (c *Cloud) FailReads(prefix string, n int) {
	c.s3.mu.Lock()
	defer c.s3.mu.Unlock()
	if n == 0 {
		delete(c.s3.faults, prefix)
		return
	}
	c.s3.faults[prefix] = n
}

// refused reports whether a read of key is to fail, and counts it.
func (s *s3Events) refused(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || key == "" || !s.notify[bucket] {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, n := range s.faults {
		if !strings.HasPrefix(key, p) {
			continue
		}
		if n > 0 {
			if n == 1 {
				delete(s.faults, p)
			} else {
				s.faults[p] = n - 1
			}
		}
		s.denied++
		return true
	}
	return false
}

// checkPresigned checks a request made with a presigned URL (its query
// carries X-Amz-Signature) as S3 does, which gofakes3 does not: the URL
// must not have expired, and its signature must be the one the
// credentials make over the request as it arrived, with the headers the
// URL names as signed. A client that leaves out a signed header (the
// If-None-Match: * of an upload URL) or sends another Content-Length is
// refused with 403 SignatureDoesNotMatch. It returns 0 for a request
// that passes, or was not presigned (SDK requests sign an Authorization
// header, which is not checked).
func (s *s3Events) checkPresigned(r *http.Request) (status int, code, msg string) {
	q := r.URL.Query()
	sig := q.Get("X-Amz-Signature")
	if sig == "" || s.creds == nil {
		return 0, "", ""
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	expires, eerr := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || eerr != nil || expires <= 0 {
		return http.StatusBadRequest, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is missing or malformed"
	}
	if time.Now().After(at.Add(time.Duration(expires) * time.Second)) {
		return http.StatusForbidden, "AccessDenied", "Request has expired"
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		q.Del(k)
	}
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	again, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return http.StatusBadRequest, "InvalidRequest", "the request URL cannot be parsed"
	}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			if v := r.Header.Values(h); len(v) > 0 {
				again.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
	}
	creds, err := s.creds.Retrieve(r.Context())
	if err != nil {
		return http.StatusInternalServerError, "InternalError", "no credentials to check the signature with"
	}
	resigned, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		PresignHTTP(r.Context(), creds, again, "UNSIGNED-PAYLOAD", "s3", Region, at)
	if err != nil {
		return http.StatusInternalServerError, "InternalError", "the signature could not be computed"
	}
	if ru, err := url.Parse(resigned); err != nil || ru.Query().Get("X-Amz-Signature") != sig {
		return http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return 0, "", ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *s3Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := unchunk(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if status, code, msg := s.checkPresigned(r); status != 0 {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
		return
	}
	if s.refused(r) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied (cloudlocal fault)</Message></Error>`)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	s.next.ServeHTTP(sw, r)
	if sw.status != http.StatusOK && sw.status != 0 { // 0: nothing written, an implicit 200
		return
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || key == "" || !s.notify[bucket] {
		return
	}
	q := r.URL.Query()
	var reason string
	switch {
	case r.Method == http.MethodPut && q.Has("uploadId"):
		return // a part, not an object
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		reason = "CopyObject"
	case r.Method == http.MethodPut:
		reason = "PutObject"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		reason = "CompleteMultipartUpload"
	default:
		return
	}
	obj, err := s.backend.HeadObject(bucket, key)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	detail := map[string]any{
		"version": "0",
		"bucket":  map[string]any{"name": bucket},
		"object": map[string]any{"key": key, "size": obj.Size, "etag": hex.EncodeToString(obj.Hash),
			"sequencer": fmt.Sprintf("%018X", seq)},
		"request-id":        newID(),
		"requester":         Account,
		"source-ip-address": "127.0.0.1",
		"reason":            reason,
	}
	raw, _ := json.Marshal(detail)
	ev := envelope{Version: "0", ID: newID(), DetailType: "Object Created", Source: "aws.s3", Account: Account,
		Time: time.Now().UTC().Format(time.RFC3339), Region: Region, Resources: []string{"arn:aws:s3:::" + bucket}, Detail: raw}
	n := 1
	if s.bus.chaos.Duplicate {
		n = 2 // S3 event notifications are at least once
	}
	for range n {
		s.bus.put(s.ctx, ev)
	}
}

// unchunk decodes the aws-chunked body that aws-sdk-go-v2 sends over
// HTTPS with an unsigned trailing checksum (X-Amz-Content-Sha256:
// STREAMING-UNSIGNED-PAYLOAD-TRAILER), which gofakes3 v1.2.0 would store
// as it is: the request then carries the object's bytes alone, with
// X-Amz-Decoded-Content-Length as its length. The trailer's checksum is
// dropped unchecked, as gofakes3 checks none.
func unchunk(r *http.Request) error {
	if r.Header.Get("X-Amz-Content-Sha256") != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		return nil
	}
	n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("aws-chunked body without a valid X-Amz-Decoded-Content-Length")
	}
	br := bufio.NewReader(r.Body)
	pr, pw := io.Pipe()
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				pw.CloseWithError(fmt.Errorf("aws-chunked: %w", err))
				return
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			if err != nil || size < 0 {
				pw.CloseWithError(fmt.Errorf("aws-chunked: bad chunk size %q", line))
				return
			}
			if size == 0 {
				pw.Close() // the trailer follows; it is not needed
				return
			}
			if _, err := io.CopyN(pw, br, size); err != nil {
				pw.CloseWithError(fmt.Errorf("aws-chunked: %w", err))
				return
			}
			if _, err := br.ReadString('\n'); err != nil {
				pw.CloseWithError(fmt.Errorf("aws-chunked: %w", err))
				return
			}
		}
	}()
	r.Body = pr
	r.ContentLength = n
	r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("X-Amz-Trailer")
	var enc []string
	for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
			enc = append(enc, e)
		}
	}
	if len(enc) == 0 {
		r.Header.Del("Content-Encoding")
	} else {
		r.Header.Set("Content-Encoding", strings.Join(enc, ","))
	}
	return nil
}
