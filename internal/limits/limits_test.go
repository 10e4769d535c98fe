package limits

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/volume"
)

func TestFor(t *testing.T) {
	tests := []struct {
		name          string
		memory        int64
		cores         int
		volume, large int64
		workers       int
	}{
		// The ingest function: 3008 MB, 2 vCPUs. A 512×512×1700 int16
		// series (891 MB) fits; 512×512×1800 does not.
		{"lambda 3008 MB", 3008 << 20, 2, 917 << 20, 28 << 20, 2},
		{"laptop half of 16 GB", 8 << 30, 8, Ceiling, Ceiling / 32, 8},
		{"large machine", 256 << 30, 64, Ceiling, Ceiling / 32, 8},
		{"tiny", 100 << 20, 1, 21 << 20, 8 << 20, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := For(tt.memory, tt.cores)
			if d := l.Volume - tt.volume; d < -(1<<20) || d > 1<<20 {
				t.Errorf("Volume %s, want about %s", Bytes(l.Volume), Bytes(tt.volume))
			}
			if l.Upload != 2*l.Volume || l.Job > l.Memory || l.Memory > tt.memory || l.Workers != tt.workers {
				t.Errorf("limits %+v inconsistent", l)
			}
			if d := l.Large - tt.large; d < -(1<<20) || d > 1<<20 {
				t.Errorf("Large %s, want about %s", Bytes(l.Large), Bytes(tt.large))
			}
			// An int16 volume at the limit and its HU copy fit a job.
			if 2*l.Volume+256<<20 > l.Job+l.Job/4 && tt.memory > 1<<30 {
				t.Errorf("a volume at the limit does not fit a job: %+v", l)
			}
		})
	}
}

// TestGoMemLimit: the soft limit lies above what For lets the jobs hold
// and below the memory, for every memory a Lambda function can have.
func TestGoMemLimit(t *testing.T) {
	for _, mb := range []int64{128, 256, 512, 1769, 3008, 10240} {
		mem := mb << 20
		got, jobs := GoMemLimit(mem), For(mem, 2).Memory
		if got <= jobs || got >= mem {
			t.Errorf("%d MiB: GoMemLimit %d MiB, want above the jobs' %d MiB and below %d MiB", mb, got>>20, jobs>>20, mb)
		}
	}
}

func TestMemoryFrom(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if s, ok := m[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	meminfo := "MemTotal:       24000000 kB\nMemFree:         1000 kB\n"
	tests := []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  int64
	}{
		{"lambda", map[string]string{EnvLambdaMemory: "3008"}, map[string]string{"/proc/meminfo": meminfo}, 3008 << 20},
		{"machine: half", nil, map[string]string{"/proc/meminfo": meminfo}, 24000000 << 10 / 2},
		{"cgroup v2 smaller", nil, map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "4294967296\n"}, 2 << 30},
		{"cgroup v2 unlimited", nil, map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n"}, 24000000 << 10 / 2},
		{"nothing known", map[string]string{EnvLambdaMemory: "lots"}, nil, 2 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MemoryFrom(env(tt.env), files(tt.files)); got != tt.want {
				t.Errorf("MemoryFrom = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPool(t *testing.T) {
	l := For(1<<30, 2)
	p := NewPool(l)
	ctx := context.Background()

	// Over a job's limit: refused at once, naming the limit.
	if _, err := p.Reserve(ctx, "the volume", l.Job+1); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the limit is") {
		t.Fatalf("Reserve over the job limit = %v, want a TooLarge naming the limit", err)
	}
	// A second job waits for the memory the first holds, and gets it when
	// the first gives it back.
	release, err := p.Reserve(ctx, "a", l.Memory*3/4)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := p.Reserve(ctx, "b", l.Memory/2)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	for deadline := time.Now().Add(10 * time.Second); p.Waiting() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second job never waited")
		}
	}
	// A small one that fits is not held behind the waiting one.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	small, err := p.Reserve(sctx, "c", l.Memory/8)
	if err != nil {
		t.Fatalf("a small job waited behind a large waiter: %v", err)
	}
	small()
	select {
	case <-got:
		t.Fatal("the second job got memory the first still holds")
	default:
	}
	release()
	select {
	case r := <-got:
		r()
	case <-time.After(10 * time.Second):
		t.Fatal("the second job never got the memory the first gave back")
	}
	// A cancelled wait ends.
	hold, _ := p.Reserve(ctx, "d", l.Memory)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Reserve(cctx, "e", 1); err == nil {
		t.Error("a cancelled wait succeeded")
	}
	hold()
}

func TestTooLargeMessage(t *testing.T) {
	err := Check("the upload", 3_100_000_000, 2_000_000_000)
	if err == nil || err.Error() != "the upload is 3.1 GB; the limit is 2 GB" {
		t.Errorf("message %q", err)
	}
	if Check("x", 5, 5) != nil {
		t.Error("need equal to the limit refused")
	}
}

// The segmenter and the mesher read volumes with volume's default limit: a
// volume ingest accepts must be one they read.
func TestCeilingIsTheReadersDefault(t *testing.T) {
	if Ceiling != volume.DefaultMaxBytes {
		t.Errorf("Ceiling %d, volume.DefaultMaxBytes %d", Ceiling, volume.DefaultMaxBytes)
	}
}
