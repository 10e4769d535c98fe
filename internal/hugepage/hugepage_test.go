package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// vma is one mapping of /proc/self/smaps: its range and its VmFlags.
type vma struct {
	lo, hi uintptr
	flags  []string
}

// mappings reads /proc/self/smaps.
func mappings(t *testing.T) []vma {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vma
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && strings.Contains(line[:strings.IndexByte(line, ' ')], "-") {
			out = append(out, vma{lo: lo, hi: hi})
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && len(out) > 0 {
			out[len(out)-1].flags = strings.Fields(rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// advised reports whether the byte at p lies in a mapping marked for huge
// pages ("hg"), and that mapping.
func advised(t *testing.T, p uintptr) (vma, bool) {
	for _, m := range mappings(t) {
		if m.lo <= p && p < m.hi {
			for _, f := range m.flags {
				if f == "hg" {
					return m, true
				}
			}
			return m, false
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return vma{}, false
}

func TestAdvise(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("huge page advice exists only on Linux; elsewhere Advise does nothing")
	}
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skip("this kernel has no transparent huge pages, so madvise refuses the advice:", err)
	}
	const n = 32 << 20
	s := Make[uint32](n / 4)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	inner := (base + huge - 1) &^ (huge - 1)
	m, ok := advised(t, inner)
	if !ok {
		t.Fatalf("the first whole huge page of a %d MiB buffer is not advised", n>>20)
	}
	if m.lo < base || m.hi > base+n {
		t.Errorf("advised mapping %#x-%#x reaches outside the buffer %#x-%#x", m.lo, m.hi, base, base+n)
	}
	if m.hi-m.lo < n-2*huge {
		t.Errorf("advised mapping is %d bytes; want all %d whole huge pages of the buffer", m.hi-m.lo, (n-2*huge)/huge)
	}

	small := make([]byte, Min-1)
	Advise(small)
	if m, ok := advised(t, uintptr(unsafe.Pointer(unsafe.SliceData(small)))+huge); ok && m.lo >= uintptr(unsafe.Pointer(unsafe.SliceData(small))) {
		t.Errorf("a buffer under Min (%d bytes) was advised: %#x-%#x", len(small), m.lo, m.hi)
	}
	runtime.KeepAlive(s)
	runtime.KeepAlive(small)
}

func TestAdviseEmpty(t *testing.T) {
	Advise[float64](nil)
	Advise(make([]int16, 0, 1<<24)) // capacity, not length, is what the buffer holds
	if s := Make[byte](0); len(s) != 0 {
		t.Errorf("Make(0) has length %d", len(s))
	}
}

// BenchmarkFirstTouch writes one byte a 4 KiB page into a 256 MiB buffer
// fresh from the OS: the page faults that a volume or a mesher array pays
// once. Between iterations the heap is handed back to the OS, so every
// iteration faults again. The heap reuses the same addresses, and advice
// stays on addresses, so small-pages marks its buffer MADV_NOHUGEPAGE first.
func BenchmarkFirstTouch(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("huge page advice exists only on Linux")
	}
	const n = 256 << 20
	for _, c := range []struct {
		name string
		make func() []byte
	}{
		{"small-pages", func() []byte {
			s := make([]byte, n)
			p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
			syscall.Syscall(syscall.SYS_MADVISE, p&^4095, n, syscall.MADV_NOHUGEPAGE)
			return s
		}},
		{"huge-pages", func() []byte { return Make[byte](n) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				b.StopTimer()
				debug.FreeOSMemory()
				b.StartTimer()
				s := c.make()
				for i := 0; i < len(s); i += 4096 {
					s[i] = 1
				}
				runtime.KeepAlive(s)
			}
		})
	}
}
