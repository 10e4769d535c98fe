package labels

// Present returns the non-zero label values that occur in data, ascending.
func Present(data []uint16) []uint16 {
	var seen [1 << 16]bool
	for _, v := range data {
		seen[v] = true
	}
	var vs []uint16
	for v := 1; v < len(seen); v++ {
		if seen[v] {
			vs = append(vs, uint16(v))
		}
	}
	return vs
}

// FileNames returns the label names of the first Caret label table among a
// NIfTI file's extension payloads; nil, nil when there is none.
func FileNames(extensions ...[]byte) (map[uint16]string, error) {
	for _, data := range extensions {
		if IsCaret(data) {
			return ParseCaret(data)
		}
	}
	return nil, nil
}
