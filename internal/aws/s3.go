package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/iris-oculus/iris/internal/ports"
)

// S3API is the part of *s3.Client that S3Blobs uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3Blobs is the pipeline's bucket on S3 (ports.Blobs).
//
// Put streams the reader into one PutObject of the given size, so memory
// stays flat whatever the object's size. Over HTTPS (every AWS endpoint)
// the SDK sends a non-seekable body with a trailing checksum; over plain
// HTTP (a local emulator) the body must be an io.ReadSeeker, because the
// SDK then hashes the payload before sending it. One PutObject takes up to
// 5 GB, far above the pipeline's objects.
//
// Missing keys give errors matching fs.ErrNotExist. On real S3 a missing
// key reads as 404 only if the caller may s3:ListBucket; without it S3
// answers 403 AccessDenied, which is not mapped.
type S3Blobs struct {
	client S3API
	bucket string
}

var _ ports.Blobs = (*S3Blobs)(nil)

// NewS3Blobs returns the blobs of bucket, reached through client.
func NewS3Blobs(client S3API, bucket string) *S3Blobs {
	return &S3Blobs{client: client, bucket: bucket}
}

func (b *S3Blobs) uri(key string) string { return "s3://" + b.bucket + "/" + key }

// Put implements ports.Blobs. size must be the exact length of r.
func (b *S3Blobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if size < 0 {
		return fmt.Errorf("put %s: size unknown (%d); S3 needs the length up front", b.uri(key), size)
	}
	in := &s3.PutObjectInput{Bucket: &b.bucket, Key: &key, Body: r, ContentLength: &size}
	if contentType != "" {
		in.ContentType = &contentType
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s (%d bytes): %w", b.uri(key), size, err)
	}
	return nil
}

// Get implements ports.Blobs. The caller closes the body.
func (b *S3Blobs) Get(ctx context.Context, key string) (io.ReadCloser, ports.BlobInfo, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return nil, ports.BlobInfo{}, b.fail("get", key, err)
	}
	return out.Body, info(key, out.ContentLength, out.ETag, out.LastModified), nil
}

// Head implements ports.Blobs.
func (b *S3Blobs) Head(ctx context.Context, key string) (ports.BlobInfo, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return ports.BlobInfo{}, b.fail("head", key, err)
	}
	return info(key, out.ContentLength, out.ETag, out.LastModified), nil
}

// Delete implements ports.Blobs; deleting a missing key is not an error
// (S3 answers 204 either way).
func (b *S3Blobs) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key}); err != nil {
		return b.fail("delete", key, err)
	}
	return nil
}

// List implements ports.Blobs: every object under prefix, in key order,
// across as many pages as S3 returns.
func (b *S3Blobs) List(ctx context.Context, prefix string) ([]ports.BlobInfo, error) {
	var out []ports.BlobInfo
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", b.uri(prefix), err)
		}
		for _, o := range page.Contents {
			out = append(out, info(awssdk.ToString(o.Key), o.Size, o.ETag, o.LastModified))
		}
	}
	return out, nil
}

// fail wraps err with the operation and object, adding fs.ErrNotExist for
// a missing key (GetObject says NoSuchKey; HeadObject, having no body,
// only NotFound).
func (b *S3Blobs) fail(op, key string, err error) error {
	var noKey *types.NoSuchKey
	var notFound *types.NotFound
	if errors.As(err, &noKey) || errors.As(err, &notFound) {
		return fmt.Errorf("%s %s: %w: %w", op, b.uri(key), fs.ErrNotExist, err)
	}
	return fmt.Errorf("%s %s: %w", op, b.uri(key), err)
}

func info(key string, size *int64, etag *string, modified *time.Time) ports.BlobInfo {
	i := ports.BlobInfo{Key: key, Size: awssdk.ToInt64(size), ETag: strings.Trim(awssdk.ToString(etag), `"`)}
	if modified != nil {
		i.Modified = modified.UTC()
	}
	return i
}

// S3PresignAPI is the part of *s3.PresignClient that S3Signer uses.
type S3PresignAPI interface {
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignPostObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.PresignPostOptions)) (*s3.PresignedPostRequest, error)
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// MaxPresignExpiry is the longest validity SigV4 allows a presigned URL.
// URLs signed with temporary credentials (a Lambda's role) stop working
// when the session does, which may be sooner.
const MaxPresignExpiry = 7 * 24 * time.Hour

// S3SignerConfig configures an S3Signer.
type S3SignerConfig struct {
	Bucket string
	// Post makes SignUpload return a presigned POST form, whose policy
	// holds a content-length-range condition of exactly the announced
	// size, instead of a presigned PUT with the Content-Length signed.
	// S3 enforces the size either way; a POST form also suits HTML
	// forms and clients that cannot send a bare PUT. But S3 has no
	// conditional write for POST uploads: a POST form can replace the
	// upload as often as it likes until it expires, where a PUT URL is
	// refused (412) while its upload exists. The HTTP API signs PUTs.
	Post bool
	// Now tells the time, to turn absolute expiry times into the
	// durations SigV4 signs; nil means time.Now.
	Now func() time.Time
}

// S3Signer makes the HTTP API's expiring upload and download URLs
// (ports.Signer) with SigV4 presigning: nothing is sent to S3 until the
// client uses the URL.
type S3Signer struct {
	client S3PresignAPI
	cfg    S3SignerConfig
}

var _ ports.Signer = (*S3Signer)(nil)

// NewS3Signer returns a signer for cfg.Bucket; client is usually
// s3.NewPresignClient of the Lambda's S3 client.
func NewS3Signer(client S3PresignAPI, cfg S3SignerConfig) *S3Signer {
	return &S3Signer{client: client, cfg: cfg}
}

func (s *S3Signer) ttl(expires time.Time) (time.Duration, error) {
	now := time.Now
	if s.cfg.Now != nil {
		now = s.cfg.Now
	}
	d := expires.Sub(now()).Round(time.Second)
	if d < time.Second || d > MaxPresignExpiry {
		return 0, fmt.Errorf("expiry %s is %s away; a presigned URL must live 1s to %s", expires.Format(time.RFC3339), d, MaxPresignExpiry)
	}
	return d, nil
}

// SignUpload implements ports.Signer. The upload must be exactly bytes long:
// for a PUT, Content-Length is a signed header, so S3 refuses any other
// length (SignatureDoesNotMatch); for a POST, the policy's
// content-length-range is [bytes, bytes] (EntityTooSmall/EntityTooLarge).
// Headers lists what the client must send besides Host and
// Content-Length, which its HTTP stack sets (browsers refuse to set them):
// for a PUT, If-None-Match: *, which makes it one upload (see signPut).
// A POST's Fields go into the multipart form before the file field.
func (s *S3Signer) SignUpload(ctx context.Context, key string, bytes int64, expires time.Time) (ports.Upload, error) {
	if bytes <= 0 {
		return ports.Upload{}, fmt.Errorf("sign upload of %s: size %d is not positive", key, bytes)
	}
	ttl, err := s.ttl(expires)
	if err != nil {
		return ports.Upload{}, fmt.Errorf("sign upload of %s: %w", key, err)
	}
	if s.cfg.Post {
		return s.signPost(ctx, key, bytes, ttl, expires)
	}
	return s.signPut(ctx, key, bytes, ttl, expires)
}

func (s *S3Signer) signPost(ctx context.Context, key string, bytes int64, ttl time.Duration, expires time.Time) (ports.Upload, error) {
	req, err := s.client.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key}, func(o *s3.PresignPostOptions) {
		o.Expires = ttl
		o.Conditions = []any{[]any{"content-length-range", bytes, bytes}}
	})
	if err != nil {
		return ports.Upload{}, fmt.Errorf("presign POST of s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return ports.Upload{Method: http.MethodPost, URL: req.URL, Fields: req.Values, ExpiresAt: expires}, nil
}

// signPut presigns a PUT of exactly bytes bytes that S3 takes only while
// no object exists at key: If-None-Match: * is a signed header, so a
// client must send it (without it the signature does not match), and S3
// answers a second PUT with the same URL 412 Precondition Failed instead
// of replacing the upload. PutObject has honoured If-None-Match: * since
// August 2024 (S3 User Guide, "How to prevent object overwrites with
// conditional writes": https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html);
// it applies to PutObject and CompleteMultipartUpload, not to POST
// uploads, so a presigned POST (S3SignerConfig.Post) stays reusable
// within its expiry.
//
// The condition holds only while the upload exists; ingest deletes it once
// the job is accepted, and then refuses to replace the job's volume
// (pipeline.Ingest), so a later PUT with the URL changes nothing.
func (s *S3Signer) signPut(ctx context.Context, key string, bytes int64, ttl time.Duration, expires time.Time) (ports.Upload, error) {
	in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key, ContentLength: &bytes, IfNoneMatch: awssdk.String("*")}
	req, err := s.client.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return ports.Upload{}, fmt.Errorf("presign PUT of s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	// Without Content-Length signed S3 would take an upload of any size;
	// without If-None-Match, any number of them. (The URL is a
	// credential: it stays out of the messages.)
	if !signs(req.URL, "content-length") {
		return ports.Upload{}, fmt.Errorf("presign PUT of s3://%s/%s: Content-Length %d is not among the signed headers", s.cfg.Bucket, key, bytes)
	}
	if !signs(req.URL, "if-none-match") || req.SignedHeader.Get("If-None-Match") != "*" {
		return ports.Upload{}, fmt.Errorf("presign PUT of s3://%s/%s: If-None-Match: * is not among the signed headers", s.cfg.Bucket, key)
	}
	up := ports.Upload{Method: req.Method, URL: req.URL, ExpiresAt: expires}
	for k, v := range req.SignedHeader {
		if strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") || len(v) == 0 {
			continue
		}
		if up.Headers == nil {
			up.Headers = map[string]string{}
		}
		up.Headers[http.CanonicalHeaderKey(k)] = strings.Join(v, ",")
	}
	return up, nil
}

// signs reports whether the presigned URL's X-Amz-SignedHeaders include
// header (lower case); the SDK signs content-length only for a positive
// length.
func signs(rawURL, header string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(u.Query().Get("X-Amz-SignedHeaders"), ";"), header)
}

// SignDownload implements ports.Signer: a presigned GET whose response
// carries Content-Disposition: attachment with filename (the key's base
// name when empty), encoded per RFC 6266/2231 when not plain ASCII.
func (s *S3Signer) SignDownload(ctx context.Context, key, filename string, expires time.Time) (string, error) {
	ttl, err := s.ttl(expires)
	if err != nil {
		return "", fmt.Errorf("sign download of %s: %w", key, err)
	}
	if filename == "" {
		filename = path.Base(key)
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": filename})
	if disp == "" {
		return "", fmt.Errorf("sign download of %s: file name %q cannot be put in a Content-Disposition header", key, filename)
	}
	req, err := s.client.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key, ResponseContentDisposition: &disp}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign GET of s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return req.URL, nil
}
