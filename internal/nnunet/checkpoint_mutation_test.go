package nnunet

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestCheckpointMutations feeds the reader damaged copies of a real
// checkpoint (bytes overwritten with large lengths, cut out, inserted): each
// must come back, with an error or weights, without a panic.
func TestCheckpointMutations(t *testing.T) {
	good := tinyCheckpoint(t)
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 500; it++ {
		b := append([]byte(nil), good...)
		for range 1 + r.Intn(8) {
			switch r.Intn(4) {
			case 0:
				b[r.Intn(len(b))] = byte(r.Intn(256))
			case 1:
				i := r.Intn(len(b) - 8)
				copy(b[i:], []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}[:1+r.Intn(8)])
			case 2:
				i, n := r.Intn(len(b)), r.Intn(64)
				b = append(b[:i], b[min(len(b), i+n):]...)
			case 3:
				i := r.Intn(len(b))
				b = append(b[:i], append(make([]byte, r.Intn(16)), b[i:]...)...)
			}
		}
		w, err := ReadCheckpoint(bytes.NewReader(b), int64(len(b)))
		if err == nil && len(w) == 0 {
			t.Errorf("mutation %d: no error and no weights", it)
		}
	}
}
