package decimate

// SetSideBySideMin lets the tests split passes of small surfaces between
// two goroutines, as collapseSideBySide does for big ones.
func SetSideBySideMin(d *Decimator, n int) { d.sideBySideMin = n }
