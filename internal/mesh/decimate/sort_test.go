package decimate

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// mortonKeys is n keys as load makes them: ascending vertices, each with a
// 30-bit code drawn from codes values, so that with few many are equal.
func mortonKeys(n int, codes int32) []half {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]half, n)
	for v := range keys {
		keys[v] = half{v: int32(v), opp: r.Int32N(codes)}
	}
	return keys
}

func byCodeThenVertex(a, b half) int {
	return cmp.Or(cmp.Compare(a.opp, b.opp), cmp.Compare(a.v, b.v))
}

func TestSortMorton(t *testing.T) {
	for _, c := range []struct {
		n     int
		codes int32
	}{{0, 1}, {1, 1}, {2, 1}, {1000, 7}, {100000, 1 << 30}, {100000, 1 << 12}} {
		keys := mortonKeys(c.n, c.codes)
		want := slices.Clone(keys)
		slices.SortFunc(want, byCodeThenVertex)
		got := sortMorton(slices.Clone(keys), make([]half, c.n+5))
		if !slices.Equal(got, want) {
			t.Fatalf("%d keys, %d codes: sortMorton differs from sorting by code, then vertex", c.n, c.codes)
		}
	}
}

// BenchmarkSortMorton compares the radix sort with what load did before:
// slices.Sort on the code and vertex packed in a uint64, on as many keys as
// the largest organ of big_labels has vertices.
func BenchmarkSortMorton(b *testing.B) {
	keys := mortonKeys(711000, 1<<30)
	work, spare := make([]half, len(keys)), make([]half, len(keys))
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(work, keys)
			sortMorton(work, spare)
		}
	})
	packed := make([]uint64, len(keys))
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			for i, k := range keys {
				packed[i] = uint64(k.opp)<<32 | uint64(k.v)
			}
			slices.Sort(packed)
		}
	})
}
