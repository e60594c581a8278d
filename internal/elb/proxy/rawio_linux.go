package proxy

import (
	"syscall"
	"unsafe"
)

// rawRead and rawWrite are read(2) and write(2) on the non-blocking sockets
// of the hot path, made without telling the scheduler (RawSyscall). Loopback
// writes run the receiver's TCP stack inline and take tens of microseconds
// on a VM; announced as syscalls, that is long enough for sysmon to take the
// P away and hand it to another thread, and each such hand-off costs futex
// wake-ups and context switches. A non-blocking socket call never blocks, so
// keeping the P is safe.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
