// Package limits decides how much one job may use on the machine it runs
// on — the upload's size, the decoded volume, the memory held at once — and
// states a refusal the same way on every platform. The values derive from
// the memory the process may use: on AWS Lambda the function's memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), on one machine the cgroup limit or the
// machine's memory. It knows nothing of file formats: the readers compute
// what an input needs from its header and ask here whether it fits.
//
// Pool hands out the memory budget to concurrent jobs, so that a large job
// waits for memory while small ones go on beside it, and a job that could
// never fit is refused at once. Written by hand: x/sync/semaphore queues a
// small job behind a large waiter, which is what the pool must not do.
package limits

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// ErrTooLarge matches every *TooLarge.
var ErrTooLarge = errors.New("too large")

// TooLarge reports an input over a limit: what was measured, how much it
// needs and the limit. Its message is what a person reads, the same on
// every platform.
type TooLarge struct {
	What  string // "the upload", "the decoded volume", …
	Need  int64
	Limit int64
}

func (e *TooLarge) Error() string {
	return fmt.Sprintf("%s is %s; the limit is %s", e.What, Bytes(e.Need), Bytes(e.Limit))
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLarge) Is(target error) bool { return target == ErrTooLarge }

// Check returns a *TooLarge when need is over limit.
func Check(what string, need, limit int64) error {
	if need > limit {
		return &TooLarge{What: what, Need: need, Limit: limit}
	}
	return nil
}

// Limits bound one job. Derive them with For (or Machine); the zero value
// is not usable.
type Limits struct {
	// Memory is what the stages of this process may hold at once, over all
	// jobs: the Pool's capacity.
	Memory int64
	// Job is what one job may hold at once (≤ Memory).
	Job int64
	// Upload caps an upload's stored size, checked first by the API from
	// the size the client declares, then by ingest from the object.
	Upload int64
	// Volume caps the decoded voxel bytes of an input as stored (a NIfTI's
	// dims × datatype size, a DICOM series' rows × columns × slices × 2).
	Volume int64
	// GzipRatio caps decoded / compressed size of a gzipped NIfTI, so a
	// small gzip that inflates to a large volume (a bomb) is refused from
	// its header. Real CT compresses some 2–10:1; deflate's ceiling is
	// about 1032:1.
	GzipRatio int64
	// Workers is how many inputs a stage works on at once.
	Workers int
	// Large is the upload size from which an upload is ingested apart
	// from small ones (iris serve's large lane).
	Large int64
}

// Defaults that For uses.
const (
	// reserve is what the Go runtime, the SDK and buffers take besides the
	// voxel arrays.
	reserve = 256 << 20
	// MaxGzipRatio is Limits.GzipRatio.
	MaxGzipRatio = 64
	// Ceiling caps the volume limit however large the machine: the
	// readers' default (volume.DefaultMaxBytes, which the GPU worker
	// applies), so a volume ingest accepts is one every later stage
	// reads. 512×512×2800 int16 fits. The local segmenter and the mesher
	// derive their limits with For from their own memory, as ingest does:
	// one given less memory than ingest refuses as too_large, naming its
	// limit, what ingest accepted, instead of running out of memory.
	Ceiling = 1_500_000_000
)

// For derives the limits from the memory the process may use and its
// cores. A job holds the input as stored plus its int16 copy (ingest) or
// the label map and the meshes (mesher): the volume may take a third of a
// job's memory. An upload may be twice the volume (float32 NIfTI, a zip of
// uncompressed DICOM with headers).
func For(memory int64, cores int) Limits {
	usable := max(memory-reserve, 64<<20)
	workers := max(min(cores, 8), 1)
	job := usable
	vol := min(job/3, Ceiling)
	return Limits{
		Memory:    usable,
		Job:       job,
		Upload:    2 * vol,
		Volume:    vol,
		GzipRatio: MaxGzipRatio,
		Workers:   workers,
		Large:     max(vol/32, 8<<20),
	}
}

// GoMemLimit is the Go runtime's soft memory limit (GOMEMLIMIT) for a
// process given memory: halfway between what For lets its jobs hold
// (memory less reserve) and memory itself. Without a limit the collector
// lets the heap grow to twice what is live before it collects, so a job
// within its limits could be killed for garbage; below the jobs' limit,
// the collector would run without end on a job that is within it.
func GoMemLimit(memory int64) int64 {
	jobs := For(memory, 1).Memory
	return jobs + max(memory-jobs, 0)/2
}

// EnvLambdaMemory is the variable in which Lambda states the function's
// memory in MB.
const EnvLambdaMemory = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"

// Machine derives the limits for this process: on Lambda from
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE, elsewhere from half of the cgroup's
// memory limit or of the machine's memory (the rest is the segmenter's,
// the mesher's and the system's).
func Machine() Limits {
	return For(MemoryFrom(os.Getenv, readFile), runtime.NumCPU())
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

// MemoryFrom is the memory Machine uses, from the environment and the
// files given (tests pass their own).
func MemoryFrom(getenv func(string) string, read func(string) ([]byte, error)) int64 {
	if mb, err := strconv.ParseInt(getenv(EnvLambdaMemory), 10, 64); err == nil && mb > 0 {
		return mb << 20
	}
	total := int64(0)
	if b, err := read("/proc/meminfo"); err == nil {
		total = memTotal(b)
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := read(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	if total == 0 {
		total = 4 << 30 // unknown: assume a small machine
	}
	return total / 2
}

// memTotal reads MemTotal (kB) from /proc/meminfo.
func memTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Pool shares Limits.Memory among concurrent jobs. Unlike a FIFO
// semaphore (golang.org/x/sync/semaphore makes every newcomer wait behind
// the first waiter), a job whose need fits the free memory gets it at once
// even while a larger one waits: a small job never waits behind a large
// one. A large job can then wait while small ones keep coming; on one
// machine that is the better failure.
type Pool struct {
	lim     Limits
	mu      sync.Mutex
	used    int64
	waiters []*waiter
}

type waiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

// NewPool makes a pool of l.Memory bytes.
func NewPool(l Limits) *Pool { return &Pool{lim: l} }

// Limits returns the pool's limits.
func (p *Pool) Limits() Limits { return p.lim }

// Reserve takes need bytes for a job, waiting while other jobs hold the
// memory, and returns the function that gives them back (call it once).
// A need over the job limit is refused at once with a *TooLarge naming
// what; a cancelled ctx ends the wait with its error.
func (p *Pool) Reserve(ctx context.Context, what string, need int64) (release func(), err error) {
	if err := Check(what, need, p.lim.Job); err != nil {
		return nil, err
	}
	need = max(need, 1)
	release = func() { p.give(need) }
	p.mu.Lock()
	if p.used+need <= p.lim.Memory {
		p.used += need
		p.mu.Unlock()
		return release, nil
	}
	w := &waiter{n: need, ready: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		p.mu.Unlock()
		release()
		return nil, ctx.Err()
	default:
	}
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	return nil, ctx.Err()
}

// give returns n bytes and grants, in order, every waiter that now fits.
func (p *Pool) give(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= n
	keep := p.waiters[:0]
	for _, w := range p.waiters {
		if p.used+w.n <= p.lim.Memory {
			p.used += w.n
			close(w.ready)
			continue
		}
		keep = append(keep, w)
	}
	clear(p.waiters[len(keep):])
	p.waiters = keep
}

// Waiting is how many jobs wait for memory.
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// Bytes writes a byte count for people, in decimal units: "512 MB".
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.3g %cB", v, "kMGT"[i])
}
