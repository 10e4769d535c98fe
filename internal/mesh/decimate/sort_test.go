package decimate

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// mortonKeys is n keys as load makes them: a 30-bit code above ascending
// vertex indices, the codes drawn from few values so that many are equal.
func mortonKeys(n int, codes uint64) []uint64 {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]uint64, n)
	for v := range keys {
		keys[v] = r.Uint64N(codes)<<32 | uint64(v)
	}
	return keys
}

func TestSortMorton(t *testing.T) {
	for _, c := range []struct{ n, codes int }{{0, 1}, {1, 1}, {2, 1}, {1000, 7}, {100000, 1 << 30}, {100000, 1 << 12}} {
		keys := mortonKeys(c.n, uint64(c.codes))
		want := slices.Clone(keys)
		slices.Sort(want)
		var spare []uint64
		for range 2 { // the second time with the spare of the first
			got := slices.Clone(keys)
			spare = sortMorton(got, spare)
			if !slices.Equal(got, want) {
				t.Fatalf("%d keys, %d codes: sortMorton differs from slices.Sort", c.n, c.codes)
			}
		}
	}
}

// BenchmarkSortMorton compares the radix sort with slices.Sort on as many
// keys as the largest organ of big_labels has vertices.
func BenchmarkSortMorton(b *testing.B) {
	keys := mortonKeys(711000, 1<<30)
	work := make([]uint64, len(keys))
	b.Run("radix", func(b *testing.B) {
		var spare []uint64
		for b.Loop() {
			copy(work, keys)
			spare = sortMorton(work, spare)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			copy(work, keys)
			slices.Sort(work)
		}
	})
}
