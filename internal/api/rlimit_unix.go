//go:build unix

package api

import "syscall"

// openFileLimit is the process's soft limit of open files (RLIMIT_NOFILE),
// which the Go runtime raised to the hard limit at start-up; 0 when unknown.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur) // int64 on some systems
}
