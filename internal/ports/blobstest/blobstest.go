// Package blobstest checks a ports.Blobs against the contract the pipeline
// relies on, which is S3's: what Put stored Get and Head give back with
// its size and a bare (unquoted) ETag that changes with the content; a
// missing key reads as fs.ErrNotExist; a later Put replaces; a Put that
// fails (a short body, a reader error) leaves the key as it was, and a
// reader never sees part of an object; Delete is idempotent; List gives
// the objects under a prefix, and only those, in key order. The directory
// blobs of iris serve, S3 (on its emulator) and the tests' in-memory
// blobs run the same suite.
//
// It does not check events: which Put announces an object is the
// platform's business (S3 notifications, the local bus), tested there.
package blobstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/iris-oculus/iris/internal/ports"
)

// Run runs the suite; newBlobs returns an empty bucket for each subtest.
// Keys are under results/ and volumes/, which every implementation
// accepts without side effects.
func Run(t *testing.T, newBlobs func(t *testing.T) ports.Blobs) {
	ctx := context.Background()
	const key = "results/job-blobs01/scene.glb"

	t.Run("PutThenGetAndHead", func(t *testing.T) {
		b := newBlobs(t)
		data := []byte("glTF and then some bytes")
		mustPut(t, b, key, data)
		got, info := mustGet(t, b, key)
		if !bytes.Equal(got, data) {
			t.Fatalf("Get = %q, want %q", got, data)
		}
		if info.Key != key || info.Size != int64(len(data)) {
			t.Errorf("Get's info = %+v, want key %s and size %d", info, key, len(data))
		}
		if info.ETag == "" || strings.ContainsAny(info.ETag, `"`) {
			t.Errorf("ETag %q: want a bare, non-empty tag", info.ETag)
		}
		if info.Modified.IsZero() {
			t.Errorf("Modified is not set")
		}
		head, err := b.Head(ctx, key)
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		if head.Key != key || head.Size != info.Size || head.ETag != info.ETag {
			t.Errorf("Head = %+v, want what Get said, %+v", head, info)
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		b := newBlobs(t)
		mustPut(t, b, key, nil)
		if got, info := mustGet(t, b, key); len(got) != 0 || info.Size != 0 {
			t.Fatalf("Get = %d bytes, size %d; want an empty object", len(got), info.Size)
		}
	})

	t.Run("MissingIsNotExist", func(t *testing.T) {
		b := newBlobs(t)
		mustPut(t, b, key, []byte("x"))
		for _, k := range []string{"results/job-blobs01/missing.glb", "results/job-blobs01/scene.glb/below", "results/job-blobs01"} {
			if rc, _, err := b.Get(ctx, k); !errors.Is(err, fs.ErrNotExist) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Get(%s) error = %v, want fs.ErrNotExist", k, err)
			}
			if _, err := b.Head(ctx, k); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Head(%s) error = %v, want fs.ErrNotExist", k, err)
			}
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		b := newBlobs(t)
		mustPut(t, b, key, []byte("first version"))
		_, first := mustGet(t, b, key)
		mustPut(t, b, key, []byte("second, longer version"))
		got, second := mustGet(t, b, key)
		if string(got) != "second, longer version" {
			t.Fatalf("Get after the second Put = %q", got)
		}
		if second.ETag == first.ETag {
			t.Errorf("the ETag stayed %q across different contents", first.ETag)
		}
	})

	t.Run("FailedPutLeavesTheKey", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			body func() io.Reader
			size int64
		}{
			{"a body shorter than its size", func() io.Reader { return bytes.NewReader([]byte("short")) }, 100},
			{"a reader that fails midway", func() io.Reader {
				return io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{1}, 1000)), errReader{})
			}, 2000},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBlobs(t)
				// A new key stays missing.
				if err := b.Put(ctx, key, tc.body(), tc.size, "model/gltf-binary"); err == nil {
					t.Fatal("Put succeeded")
				}
				if _, err := b.Head(ctx, key); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after a failed Put of a new key, Head error = %v, want fs.ErrNotExist", err)
				}
				// An existing key keeps its object.
				mustPut(t, b, key, []byte("the good one"))
				if err := b.Put(ctx, key, tc.body(), tc.size, "model/gltf-binary"); err == nil {
					t.Fatal("Put over an object succeeded")
				}
				if got, _ := mustGet(t, b, key); string(got) != "the good one" {
					t.Errorf("after a failed Put the object is %q, want the earlier one", got)
				}
			})
		}
	})

	t.Run("ReadersNeverSeePartialObjects", func(t *testing.T) {
		b := newBlobs(t)
		versions := make([][]byte, 4)
		for i := range versions {
			versions[i] = bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
		}
		mustPut(t, b, key, versions[0])
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range versions {
			wg.Go(func() {
				if err := b.Put(ctx, key, bytes.NewReader(versions[i]), int64(len(versions[i])), "application/octet-stream"); err != nil {
					errs <- fmt.Errorf("Put of version %d: %w", i, err)
				}
			})
		}
		for range 8 {
			wg.Go(func() {
				rc, _, err := b.Get(ctx, key)
				if err != nil {
					errs <- fmt.Errorf("Get during Puts: %w", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("read during Puts: %w", err)
					return
				}
				if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
					errs <- fmt.Errorf("a reader saw %d bytes that are no version Put wrote", len(got))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		b := newBlobs(t)
		mustPut(t, b, key, []byte("x"))
		mustPut(t, b, "results/job-blobs01/scene.obj", []byte("y"))
		for i := range 2 {
			if err := b.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := b.Head(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Head after Delete error = %v, want fs.ErrNotExist", err)
		}
		if err := b.Delete(ctx, "results/job-never1/x.glb"); err != nil {
			t.Errorf("Delete of a key never stored: %v", err)
		}
		if got, _ := mustGet(t, b, "results/job-blobs01/scene.obj"); string(got) != "y" {
			t.Errorf("the neighbour is %q after Delete, want %q", got, "y")
		}
	})

	t.Run("ListByPrefixInKeyOrder", func(t *testing.T) {
		b := newBlobs(t)
		objs := map[string]string{
			"results/job-blobs01/stl/liver.stl": "liver",
			"results/job-blobs01/manifest.json": "{}",
			"results/job-blobs01/scene.glb":     "glTF",
			"results/job-blobs012/scene.glb":    "another job whose id extends the first",
			"volumes/job-blobs01/ct.nii.gz":     "ct",
		}
		for k, v := range objs {
			mustPut(t, b, k, []byte(v))
		}
		got, err := b.List(ctx, "results/job-blobs01/")
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		want := []string{"results/job-blobs01/manifest.json", "results/job-blobs01/scene.glb", "results/job-blobs01/stl/liver.stl"}
		var keys []string
		for _, o := range got {
			keys = append(keys, o.Key)
			head, err := b.Head(ctx, o.Key)
			if err != nil || o.Size != int64(len(objs[o.Key])) || o.ETag != head.ETag {
				t.Errorf("List's %+v: want size %d and Head's ETag (%+v, %v)", o, len(objs[o.Key]), head, err)
			}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("List(results/job-blobs01/) = %q, want %q", keys, want)
		}
		if got, err := b.List(ctx, "results/job-nothing1/"); err != nil || len(got) != 0 {
			t.Errorf("List of an empty prefix = %v, %v; want nothing, no error", got, err)
		}
		if got, err := b.List(ctx, "results/job-blobs01"); err != nil || len(got) != 4 {
			t.Errorf("List(results/job-blobs01) = %d objects, %v; want the 4 whose keys start so", len(got), err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("the disk went away") }

func mustPut(t *testing.T, b ports.Blobs, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), "application/octet-stream"); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, b ports.Blobs, key string) ([]byte, ports.BlobInfo) {
	t.Helper()
	rc, info, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got, info
}
