package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/limits"
)

// niftiHeader is a NIfTI-1 header (348 bytes and the 4-byte extension
// flag) declaring an int16 volume of dims with 1 mm voxels and an sform, so
// that only its size can be held against it.
func niftiHeader(dims [3]int) []byte {
	b := make([]byte, 352)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 348)
	le.PutUint16(b[40:], 3)
	for i, d := range dims {
		le.PutUint16(b[42+2*i:], uint16(d))
	}
	for i := 3; i < 7; i++ {
		le.PutUint16(b[42+2*i:], 1)
	}
	le.PutUint16(b[70:], 4)  // int16
	le.PutUint16(b[72:], 16) // bitpix
	for i := range 8 {
		le.PutUint32(b[76+4*i:], math.Float32bits(1))
	}
	le.PutUint32(b[108:], math.Float32bits(352)) // vox_offset
	le.PutUint32(b[112:], math.Float32bits(1))   // scl_slope
	le.PutUint16(b[252:], 1)                     // qform_code
	le.PutUint16(b[254:], 1)                     // sform_code
	for r := range 3 {
		le.PutUint32(b[280+16*r+4*r:], math.Float32bits(1))
	}
	copy(b[344:], "n+1\x00")
	return b
}

// gzipOf gzips the header and then n bytes from fill.
func gzipOf(t testing.TB, head []byte, n int64, fill io.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(head)
	if _, err := io.CopyN(zw, fill, n); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipZeros is a gzip file of the header and then n zero bytes, written
// as several gzip members (RFC 1952 allows any number; gzip, Python and
// Go read them as one stream), so that it is made in milliseconds rather
// than by deflating 1.48 GB. Each full member inflates 16 MiB of zeros
// from some 16 kB, as one deflate stream would.
func gzipZeros(t testing.TB, head []byte, n int64) []byte {
	t.Helper()
	const chunk = 16 << 20
	member := func(b []byte) []byte {
		return gzipOf(t, b, 0, bytes.NewReader(nil))
	}
	out := member(head)
	full := member(make([]byte, chunk))
	for ; n >= chunk; n -= chunk {
		out = append(out, full...)
	}
	if n > 0 {
		out = append(out, member(make([]byte, n))...)
	}
	return out
}

// hostile is what the hostile test sent, each under its name.
type hostile struct {
	name string
	data []byte
	code string
}

var bigDims = [3]int{1000, 1000, 740} // 1.48 GB of int16

// TestHostileUploads ingests, in a process of its own, five 1.6 MB gzips
// that inflate to 1.48 GB of zeros at once, a 4 MB gzip and a 4 MB .nii
// that declare the same volume, with the ingest function's limits (3008
// MB). Each is refused from its header, and the process's peak resident
// memory stays far below one such volume.
func TestHostileUploads(t *testing.T) {
	dir := t.TempDir()
	head := niftiHeader(bigDims)
	need := int64(bigDims[0] * bigDims[1] * bigDims[2] * 2)
	bomb := gzipZeros(t, head, need)
	random := make([]byte, 4<<20)
	rand.Read(random)
	files := map[string][]byte{
		"bomb.nii.gz":     bomb,
		"declares.nii.gz": gzipOf(t, head, int64(len(random)), bytes.NewReader(random)),
		"declares.nii":    append(head, random...),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", name, limits.Bytes(int64(len(b))))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHostileChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "IRIS_HOSTILE_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHelperHostileChild") {
		t.Fatalf("the child failed: %v", err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage for the child")
	}
	peak := ru.Maxrss << 10 // Linux reports kB
	t.Logf("child peak RSS %s for 7 hostile uploads of which 5 at once (one decoded volume would be %s)", limits.Bytes(peak), limits.Bytes(need))
	if peak > 300<<20 {
		t.Errorf("peak RSS %s: the hostile uploads were decoded, not refused from their headers", limits.Bytes(peak))
	}
}

// TestHelperHostileChild is TestHostileUploads' child process; run alone
// (without IRIS_HOSTILE_CHILD) it has nothing to do.
func TestHelperHostileChild(t *testing.T) {
	dir := os.Getenv("IRIS_HOSTILE_CHILD")
	if dir == "" {
		return
	}
	lambda := limits.For(3008<<20, 2)
	cases := []hostile{
		{"bomb.nii.gz", nil, CodeTooLarge}, {"bomb.nii.gz", nil, CodeTooLarge}, {"bomb.nii.gz", nil, CodeTooLarge},
		{"bomb.nii.gz", nil, CodeTooLarge}, {"bomb.nii.gz", nil, CodeTooLarge},
		{"declares.nii.gz", nil, CodeTooLarge},
		{"declares.nii", nil, CodeTooLarge}, // over the 3008 MB function's volume limit before the length is looked at
	}
	r := newIngestRig(t)
	r.in.Pool = limits.NewPool(lambda)
	var evs []events.Event
	for i, c := range cases {
		b, err := os.ReadFile(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, r.upload(t, events.UploadKey(apiID(fmt.Sprint(i)), c.name), b))
	}
	var wg sync.WaitGroup
	took := make([]time.Duration, len(evs))
	for i, ev := range evs {
		wg.Go(func() {
			start := time.Now()
			if err := r.in.Handle(context.Background(), ev); err != nil {
				t.Errorf("%s: %v", cases[i].name, err)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	got := map[string]string{}
	for _, ev := range r.bus.all() {
		if ev.DetailType != events.JobRejected {
			t.Errorf("published %s", ev.DetailType)
			continue
		}
		f := decode[events.Failure](t, ev)
		got[f.JobID] = f.Code
		t.Logf("%s: %s", f.Code, f.Message)
		if !strings.Contains(f.Message, "the limit is") {
			t.Errorf("the message does not name the limit: %s", f.Message)
		}
	}
	for i, c := range cases {
		if code := got[apiID(fmt.Sprint(i))]; code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, code, c.code)
		}
		t.Logf("%s refused in %v", c.name, took[i].Round(time.Millisecond))
	}
}

// The bomb is what it says: a gzip reader inflates it to the header and
// 1.48 GB of zeros.
func TestGzipZerosInflates(t *testing.T) {
	head := niftiHeader([3]int{4, 4, 4})
	b := gzipZeros(t, head, 40<<20)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(head)+40<<20 || !bytes.Equal(got[:len(head)], head) || bytes.ContainsFunc(got[len(head):], func(r rune) bool { return r != 0 }) {
		t.Errorf("inflated to %d bytes, want the header and 40 MiB of zeros", len(got))
	}
	t.Logf("%s inflate to %s", limits.Bytes(int64(len(b))), limits.Bytes(int64(len(got))))
}
