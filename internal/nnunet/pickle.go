package nnunet

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// checkPickle walks a pickle program's opcodes (protocols 0-5) and refuses
// it when an opcode is unknown or declares a length past the end of the
// program. gopickle allocates a declared length before reading it, so a
// hostile few bytes could otherwise ask for exabytes. It runs nothing.
func checkPickle(p []byte) error {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(p)-i) {
			return fmt.Errorf("pickle: opcode at %d declares %d bytes, %d remain", i, n, len(p)-i)
		}
		i += int(n)
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return fmt.Errorf("pickle: unterminated line at %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(p) {
		op := p[i]
		i++
		var err error
		switch op {
		case '.': // STOP
			return nil
		case '(', ')', ']', '}', 'N', '\x88', '\x89', 'a', 'e', 'l', 't', 'd', 's', 'u', '0', '1', '2',
			'R', 'b', 'o', '\x81', '\x85', '\x86', '\x87', '\x8f', '\x90', '\x91', '\x92', '\x93', '\x94', '\x97', '\x98', 'Q':
		case 'K', 'q', 'h', '\x82', '\x80':
			err = need(1)
		case 'M', '\x83':
			err = need(2)
		case 'J', 'r', 'j', '\x84':
			err = need(4)
		case 'G', '\x95': // BINFLOAT, FRAME (its content is more opcodes)
			err = need(8)
		case '\x8a', 'U', 'C', '\x8c': // 1-byte length, then data
			if err = need(1); err == nil {
				err = need(uint64(p[i-1]))
			}
		case 'T', 'B', 'X', '\x8b': // 4-byte length
			if err = need(4); err == nil {
				err = need(uint64(binary.LittleEndian.Uint32(p[i-4:])))
			}
		case '\x8e', '\x8d', '\x96': // 8-byte length
			if err = need(8); err == nil {
				err = need(binary.LittleEndian.Uint64(p[i-8:]))
			}
		case 'I', 'L', 'F', 'S', 'V', 'P', 'g', 'p':
			err = line()
		case 'c', 'i':
			if err = line(); err == nil {
				err = line()
			}
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at %d", op, i-1)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("pickle: no STOP")
}
