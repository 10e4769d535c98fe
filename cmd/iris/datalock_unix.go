//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockData takes the data folder for this process. Two servers on one
// folder would take each other's work; and holding the folder alone is
// what lets a server release, at start, the claims a dead one left. The
// lock is the kernel's (flock on DATA/iris.lock), so it goes with the
// process, even on kill -9; child processes do not inherit it.
func lockData(dir string) (unlock func(), exclusive bool, err error) {
	path := filepath.Join(dir, "iris.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, fmt.Errorf("data folder %s is in use by another iris serve: stop that one or choose another --data folder", dir)
		}
		return nil, false, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	return func() { f.Close() }, true, nil
}
