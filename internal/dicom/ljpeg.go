package dicom

import (
	"encoding/binary"
	"fmt"
)

// losslessJPEGDecoder decodes JPEG Lossless, Non-Hierarchical (process 14,
// ITU T.81 Annex H): Huffman-coded differences from one of seven predictors,
// 2–16 bit precision, point transform, restart intervals, interleaved or
// not. It is written here because no Go library decodes 16-bit CT in it
// (cocosip's fails on the SSSS=16 difference, others are wrong).
type losslessJPEGDecoder struct{}

func (losslessJPEGDecoder) decode(src []byte, f frameInfo, dst []int32) error {
	d := ljpeg{data: src, want: f, dst: dst}
	if err := d.run(); err != nil {
		return fmt.Errorf("JPEG lossless: %w", err)
	}
	return nil
}

type ljComp struct {
	id, h, v int
	done     bool
}

type ljpeg struct {
	data []byte
	pos  int
	want frameInfo
	dst  []int32

	precision     int
	width, height int
	comps         []ljComp
	tables        [4]*huffTable
	restart       int // MCUs per restart interval, 0 for none
}

// Markers this decoder acts on.
const (
	mSOF3 = 0xC3
	mDHT  = 0xC4
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDNL  = 0xDC
	mDRI  = 0xDD
	mRST0 = 0xD0
)

func (d *ljpeg) run() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return fmt.Errorf("%w: no JPEG SOI marker", ErrCorrupt)
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			return d.finish()
		case m == mSOF3:
			err = d.readSOF()
		case m == mDHT:
			err = d.readDHT()
		case m == mDRI:
			err = d.readDRI()
		case m == mSOS:
			err = d.readScan()
		case m == mDNL:
			return fmt.Errorf("%w: DNL marker (height defined after the scan) is not supported", ErrUnsupportedSyntax)
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return fmt.Errorf("%w: JPEG frame type SOF%d is not lossless Huffman process 14", ErrUnsupportedSyntax, m-0xC0)
		default: // APPn, COM, DQT, … : skip
			_, err = d.segment()
		}
		if err != nil {
			return err
		}
	}
}

// nextMarker skips to the next marker and returns its code.
func (d *ljpeg) nextMarker() (byte, error) {
	for d.pos+1 < len(d.data) {
		if d.data[d.pos] != 0xFF {
			d.pos++
			continue
		}
		m := d.data[d.pos+1]
		if m == 0xFF { // fill byte
			d.pos++
			continue
		}
		d.pos += 2
		if m == 0 || (m >= mRST0 && m < mRST0+8) {
			continue // stuffed byte or stray restart marker
		}
		return m, nil
	}
	return 0, fmt.Errorf("%w: JPEG data ends without EOI", ErrCorrupt)
}

// segment returns the payload of the marker segment at d.pos.
func (d *ljpeg) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, fmt.Errorf("%w: truncated JPEG marker segment", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 || d.pos+n > len(d.data) {
		return nil, fmt.Errorf("%w: JPEG marker segment length %d overruns the data", ErrCorrupt, n)
	}
	s := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return s, nil
}

func (d *ljpeg) readSOF() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if d.comps != nil {
		return fmt.Errorf("%w: two JPEG frame headers", ErrCorrupt)
	}
	if len(s) < 6 {
		return fmt.Errorf("%w: short SOF3", ErrCorrupt)
	}
	d.precision = int(s[0])
	d.height = int(binary.BigEndian.Uint16(s[1:]))
	d.width = int(binary.BigEndian.Uint16(s[3:]))
	nf := int(s[5])
	if d.precision < 2 || d.precision > 16 {
		return fmt.Errorf("%w: JPEG precision %d outside 2..16", ErrCorrupt, d.precision)
	}
	if nf < 1 || len(s) < 6+3*nf {
		return fmt.Errorf("%w: SOF3 with %d components", ErrCorrupt, nf)
	}
	w := d.want
	if d.width != w.Cols || d.height != w.Rows || nf != w.Samples {
		return fmt.Errorf("%w: JPEG frame is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, d.width, d.height, nf, w.Cols, w.Rows, w.Samples)
	}
	if len(d.dst) < w.len() {
		return fmt.Errorf("%w: output buffer too small", ErrCorrupt)
	}
	for i := 0; i < nf; i++ {
		c := s[6+3*i:]
		comp := ljComp{id: int(c[0]), h: int(c[1] >> 4), v: int(c[1] & 15)}
		if nf > 1 && (comp.h != 1 || comp.v != 1) {
			return fmt.Errorf("%w: JPEG component sampling %d×%d", ErrUnsupportedImage, comp.h, comp.v)
		}
		d.comps = append(d.comps, comp)
	}
	return nil
}

func (d *ljpeg) readDHT() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	for len(s) > 0 {
		if len(s) < 17 {
			return fmt.Errorf("%w: short DHT", ErrCorrupt)
		}
		th := int(s[0] & 15)
		if th > 3 {
			return fmt.Errorf("%w: Huffman table id %d", ErrCorrupt, th)
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(s[1+i])
			total += counts[i]
		}
		if len(s) < 17+total {
			return fmt.Errorf("%w: DHT lists %d symbols, has %d bytes", ErrCorrupt, total, len(s)-17)
		}
		t, err := newHuffTable(counts, s[17:17+total])
		if err != nil {
			return err
		}
		d.tables[th] = t
		s = s[17+total:]
	}
	return nil
}

func (d *ljpeg) readDRI() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if len(s) < 2 {
		return fmt.Errorf("%w: short DRI", ErrCorrupt)
	}
	d.restart = int(binary.BigEndian.Uint16(s))
	return nil
}

// scanComp is one component of a scan: where its samples go, its table.
type scanComp struct {
	index int // position among the frame's components
	table *huffTable
}

func (d *ljpeg) readScan() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if d.comps == nil {
		return fmt.Errorf("%w: scan before the SOF3 frame header", ErrCorrupt)
	}
	if len(s) < 1 || len(s) < 1+2*int(s[0])+3 {
		return fmt.Errorf("%w: short SOS", ErrCorrupt)
	}
	ns := int(s[0])
	var comps []scanComp
	for i := 0; i < ns; i++ {
		id, td := int(s[1+2*i]), int(s[2+2*i]>>4)
		idx := -1
		for j, c := range d.comps {
			if c.id == id {
				idx = j
			}
		}
		if idx < 0 || d.comps[idx].done {
			return fmt.Errorf("%w: scan names component %d twice or not in the frame", ErrCorrupt, id)
		}
		if td > 3 || d.tables[td] == nil {
			return fmt.Errorf("%w: scan uses undefined Huffman table %d", ErrCorrupt, td)
		}
		d.comps[idx].done = true
		comps = append(comps, scanComp{idx, d.tables[td]})
	}
	p := s[1+2*ns:]
	pred, pt := int(p[0]), int(p[2]&15)
	if pred < 1 || pred > 7 {
		return fmt.Errorf("%w: lossless predictor %d outside 1..7", ErrCorrupt, pred)
	}
	if pt >= d.precision {
		return fmt.Errorf("%w: point transform %d with precision %d", ErrCorrupt, pt, d.precision)
	}
	if d.restart%d.width != 0 {
		// T.81 leaves the prediction of a line that a restart splits
		// unclear; IJG (dcmtk) refuses such streams, and so do we.
		return fmt.Errorf("%w: JPEG restart interval %d is not a multiple of the %d samples per line",
			ErrUnsupportedSyntax, d.restart, d.width)
	}
	return d.decodeScan(comps, pred, pt)
}

// decodeScan reconstructs the samples of comps (H.2): the first sample of
// the scan and of each restart interval (which begins a line) is predicted
// by 2^(P−Pt−1), the rest of that line by the left neighbour, the first
// sample of other lines by the one above, and all others by predictor pred. Arithmetic is modulo
// 2^16; the point transform shifts the result left at the end.
func (d *ljpeg) decodeScan(comps []scanComp, pred, pt int) error {
	br := bitReader{data: d.data, pos: d.pos}
	w, h, nc := d.width, d.height, len(d.comps)
	dst := d.dst
	initial := int32(1) << (d.precision - pt - 1)
	row := w * nc
	left := d.restart
	reset, resetRow := true, 0
	nextRST := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if d.restart > 0 {
				if left == 0 {
					if err := br.restart(nextRST); err != nil {
						return err
					}
					nextRST = (nextRST + 1) & 7
					left = d.restart
					reset = true
				}
				left--
			}
			first := reset
			if reset {
				reset, resetRow = false, y
			}
			base := (y*w + x) * nc
			for _, c := range comps {
				diff, err := br.diff(c.table)
				if err != nil {
					return fmt.Errorf("sample (%d,%d): %w", x, y, err)
				}
				i := base + c.index
				var p int32
				switch {
				case first:
					p = initial
				case y == resetRow:
					p = dst[i-nc]
				case x == 0:
					p = dst[i-row]
				default:
					p = predict(pred, dst[i-nc], dst[i-row], dst[i-row-nc])
				}
				dst[i] = (p + diff) & 0xFFFF
			}
		}
	}
	if br.overrun() {
		return fmt.Errorf("%w: JPEG scan data ends before all %d×%d samples", ErrCorrupt, w, h)
	}
	if pt > 0 {
		for _, c := range comps {
			for i := c.index; i < w*h*nc; i += nc {
				dst[i] <<= pt
			}
		}
	}
	d.pos = br.pos
	return nil
}

func predict(sel int, ra, rb, rc int32) int32 {
	switch sel {
	case 1:
		return ra
	case 2:
		return rb
	case 3:
		return rc
	case 4:
		return ra + rb - rc
	case 5:
		return ra + (rb-rc)>>1
	case 6:
		return rb + (ra-rc)>>1
	default:
		return (ra + rb) >> 1
	}
}

func (d *ljpeg) finish() error {
	if d.comps == nil {
		return fmt.Errorf("%w: JPEG without SOF3 frame header", ErrCorrupt)
	}
	for _, c := range d.comps {
		if !c.done {
			return fmt.Errorf("%w: JPEG component %d has no scan", ErrCorrupt, c.id)
		}
	}
	return nil
}

// huffTable decodes one table's codes: a 9-bit lookup for short codes, the
// canonical maxcode walk (F.2.2.3) for longer ones.
type huffTable struct {
	fast    [512]uint16 // len<<8 | symbol, 0 when the code is longer
	maxcode [17]int32   // -1 when no code of that length
	valptr  [17]int32
	mincode [17]int32
	vals    []byte
}

func newHuffTable(counts [16]int, vals []byte) (*huffTable, error) {
	t := &huffTable{vals: append([]byte(nil), vals...)}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.maxcode[l] = -1
		if code+n > 1<<l {
			return nil, fmt.Errorf("%w: Huffman table over-subscribed at length %d", ErrCorrupt, l)
		}
		if n > 0 {
			t.valptr[l], t.mincode[l] = k, code
			for i := int32(0); i < n; i++ {
				if l <= 9 {
					c := (code + i) << (9 - l)
					for j := int32(0); j < 1<<(9-l); j++ {
						t.fast[c+j] = uint16(l<<8) | uint16(vals[k+i])
					}
				}
			}
			code += n
			k += n
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	for _, v := range vals {
		if v > 16 {
			return nil, fmt.Errorf("%w: lossless Huffman category %d > 16", ErrCorrupt, v)
		}
	}
	return t, nil
}

// bitReader reads entropy-coded bits, removing stuffed zero bytes. At a
// marker it feeds zero bits and counts them, so running past the data is
// detected rather than read as samples.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      uint // valid bits in acc (including padding)
	pad    uint // padding bits at the bottom of acc
	marker bool
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		if !b.marker && b.pos < len(b.data) {
			c := b.data[b.pos]
			if c != 0xFF {
				b.pos++
				b.acc = b.acc<<8 | uint64(c)
				b.n += 8
				continue
			}
			if b.pos+1 < len(b.data) && b.data[b.pos+1] == 0 {
				b.pos += 2
				b.acc = b.acc<<8 | 0xFF
				b.n += 8
				continue
			}
			b.marker = true
		}
		b.acc <<= 8
		b.n += 8
		b.pad += 8
	}
}

// overrun reports whether padding bits were consumed as data.
func (b *bitReader) overrun() bool { return b.n < b.pad }

func (b *bitReader) bits(n uint) int32 {
	v := int32(b.acc>>(b.n-n)) & (1<<n - 1)
	b.n -= n
	return v
}

// diff decodes one difference: a Huffman-coded category SSSS, then SSSS
// extra bits (Table H.2); SSSS=16 means 32768 with no extra bits.
func (b *bitReader) diff(t *huffTable) (int32, error) {
	if b.n < 32 {
		b.fill()
	}
	peek := uint32(b.acc>>(b.n-16)) & 0xFFFF
	var s int32
	if e := t.fast[peek>>7]; e != 0 {
		b.n -= uint(e >> 8)
		s = int32(e & 0xFF)
	} else {
		l := 10
		for ; l <= 16; l++ {
			code := int32(peek >> (16 - l))
			if code <= t.maxcode[l] {
				s = int32(t.vals[t.valptr[l]+code-t.mincode[l]])
				break
			}
		}
		if l > 16 {
			return 0, fmt.Errorf("%w: invalid Huffman code", ErrCorrupt)
		}
		b.n -= uint(l)
	}
	switch {
	case s == 0:
		return 0, nil
	case s == 16:
		return 32768, nil
	}
	v := b.bits(uint(s))
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v, nil
}

// restart consumes the RSTm marker that ends a restart interval and resets
// the bit buffer.
func (b *bitReader) restart(m int) error {
	if b.overrun() {
		return fmt.Errorf("%w: restart interval data ends early", ErrCorrupt)
	}
	for b.pos < len(b.data) && b.data[b.pos] == 0xFF && b.pos+1 < len(b.data) && b.data[b.pos+1] == 0xFF {
		b.pos++
	}
	if b.pos+1 >= len(b.data) || b.data[b.pos] != 0xFF || b.data[b.pos+1] != byte(mRST0+m) {
		return fmt.Errorf("%w: expected RST%d marker at byte %d", ErrCorrupt, m, b.pos)
	}
	b.pos += 2
	b.acc, b.n, b.pad, b.marker = 0, 0, 0, false
	return nil
}
