package hugepage

import "syscall"

const huge = 2 << 20

// advise calls madvise(MADV_HUGEPAGE) on the whole huge pages inside
// [p, p+n). Its error is ignored on purpose: EINVAL means the kernel was
// built without transparent huge pages, and either way memory stays as
// usable as before.
func advise(p, n uintptr) {
	beg := (p + huge - 1) &^ (huge - 1)
	end := (p + n) &^ (huge - 1)
	if beg >= end {
		return
	}
	syscall.Syscall(syscall.SYS_MADVISE, beg, end-beg, syscall.MADV_HUGEPAGE)
}
