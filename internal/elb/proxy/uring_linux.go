package proxy

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A minimal io_uring binding: what the ring loops of ring_linux.go need,
// on the raw system calls (no cgo). Layouts and constants are those of
// <linux/io_uring.h>.

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	uringSetupSubmitAll    = 1 << 7
	uringSetupSingleIssuer = 1 << 12
	uringSetupDeferTaskrun = 1 << 13

	uringEnterGetEvents = 1 << 0
	uringEnterExtArg    = 1 << 3

	uringFeatSingleMmap = 1 << 0
	uringFeatExtArg     = 1 << 8

	uringOffSQRing = 0
	uringOffSQEs   = 0x10000000

	uringOpAsyncCancel = 14
	uringOpConnect     = 16
	uringOpRead        = 22
	uringOpSend        = 26
	uringOpRecv        = 27

	// recvPollFirst (in ioprio) waits for data before trying to read: for
	// a read that cannot find anything yet, as the answer to what was
	// just sent.
	recvPollFirst = 1 << 0

	sqeIOLink          = 1 << 2
	sqeCQESkipSuccess  = 1 << 6
	sqeSize            = 64
	cqeSize            = 16
	uringGeteventsSize = 24
)

var errNoRing = errors.New("io_uring is not available")

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uringGetEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// uring is one ring. With SINGLE_ISSUER and DEFER_TASKRUN only the thread
// that created it may submit, and completions are produced only while that
// thread is in io_uring_enter: the ring loop's thread, locked to its
// goroutine.
type uring struct {
	fd        int
	sqHead    *uint32
	sqTail    *uint32
	sqMask    uint32
	sqEntries uint32
	sqArray   []uint32
	sqes      []uringSQE
	cqHead    *uint32
	cqTail    *uint32
	cqMask    uint32
	cqes      []uringCQE
	tail      uint32 // next SQE to fill; the kernel's head says what it took

	ringMem, sqeMem []byte
	ts              syscall.Timespec
	arg             uringGetEventsArg
}

func newURing(entries uint32) (*uring, error) {
	var p uringParams
	p.flags = uringSetupSubmitAll | uringSetupSingleIssuer | uringSetupDeferTaskrun
	fd, _, e := syscall.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %w", errNoRing, e)
	}
	r := &uring{fd: int(fd)}
	if p.features&uringFeatSingleMmap == 0 || p.features&uringFeatExtArg == 0 {
		r.close()
		return nil, fmt.Errorf("%w: the kernel's io_uring is too old", errNoRing)
	}
	size := max(int(p.sqOff.array+p.sqEntries*4), int(p.cqOff.cqes+p.cqEntries*cqeSize))
	var err error
	r.ringMem, err = syscall.Mmap(r.fd, uringOffSQRing, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("%w: mmap rings: %w", errNoRing, err)
	}
	r.sqeMem, err = syscall.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*sqeSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("%w: mmap SQEs: %w", errNoRing, err)
	}
	base := unsafe.Pointer(&r.ringMem[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqEntries = p.sqEntries
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

func (r *uring) close() {
	if r.sqeMem != nil {
		syscall.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		syscall.Munmap(r.ringMem)
	}
	syscall.Close(r.fd)
}

// sqe returns a cleared submission entry, submitting what is queued first
// when the queue is full.
func (r *uring) sqe() *uringSQE {
	for r.tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		r.enter(0, 0)
	}
	i := r.tail & r.sqMask
	r.sqArray[i] = i
	r.tail++
	s := &r.sqes[i]
	*s = uringSQE{}
	return s
}

// enter submits the queued entries and, when wait > 0, waits until a
// completion is ready or timeout passes. Submitting alone never blocks, so
// it is made without telling the scheduler; waiting is announced so that
// the thread's P can run other goroutines meanwhile.
func (r *uring) enter(wait uint32, timeout time.Duration) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	n := uintptr(r.tail - atomic.LoadUint32(r.sqHead))
	var e syscall.Errno
	if wait == 0 {
		_, _, e = syscall.RawSyscall6(sysIOUringEnter, uintptr(r.fd), n, 0, 0, 0, 0)
	} else {
		r.ts = syscall.NsecToTimespec(int64(timeout))
		r.arg = uringGetEventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
		_, _, e = syscall.Syscall6(sysIOUringEnter, uintptr(r.fd), n, uintptr(wait),
			uringEnterGetEvents|uringEnterExtArg, uintptr(unsafe.Pointer(&r.arg)), uringGeteventsSize)
	}
	switch e {
	case 0, syscall.ETIME, syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
		// On EAGAIN or EBUSY (completions backed up) what the kernel did
		// not take stays queued; draining completions frees room.
		return nil
	}
	return fmt.Errorf("io_uring_enter: %w", e)
}

// each calls f for every ready completion and releases them.
func (r *uring) each(f func(userData uint64, res int32)) {
	head := atomic.LoadUint32(r.cqHead)
	for {
		tail := atomic.LoadUint32(r.cqTail)
		if head == tail {
			return
		}
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			f(c.userData, c.res)
		}
		atomic.StoreUint32(r.cqHead, head)
	}
}

// send queues a send of all of p on a stream socket (MSG_WAITALL makes the
// kernel finish a partial one). flags are SQE flags: a link, and skipping
// the completion on success.
func (r *uring) send(fd int, p []byte, flags uint8, userData uint64) {
	s := r.sqe()
	s.opcode = uringOpSend
	s.flags = flags
	s.fd = int32(fd)
	s.addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))))
	s.len = uint32(len(p))
	s.opFlags = syscall.MSG_NOSIGNAL | syscall.MSG_WAITALL
	s.userData = userData
}

// recv queues a read of what is there, up to len(p).
func (r *uring) recv(fd int, p []byte, pollFirst bool, userData uint64) {
	s := r.sqe()
	s.opcode = uringOpRecv
	if pollFirst {
		s.ioprio = recvPollFirst
	}
	s.fd = int32(fd)
	s.addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))))
	s.len = uint32(len(p))
	s.userData = userData
}

// cancel queues the cancellation of the operation with target's user
// data; its own completion carries userData.
func (r *uring) cancel(target, userData uint64) {
	s := r.sqe()
	s.opcode = uringOpAsyncCancel
	s.addr = target
	s.userData = userData
}
