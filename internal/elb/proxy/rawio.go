package proxy

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader reads a socket through its RawConn with rawRead: the poller
// still parks the goroutine until the socket is readable and enforces the
// read deadline, only the syscall itself skips the scheduler (see
// rawio_linux.go). Its callback is bound once, so a read allocates nothing.
type rawReader struct {
	rc    syscall.RawConn
	fn    func(uintptr) bool
	p     []byte
	n     int
	errno syscall.Errno
	tries int // read(2) calls within the current read
}

func (r *rawReader) init(rc syscall.RawConn) {
	r.rc = rc
	r.fn = r.callback
}

func (r *rawReader) callback(fd uintptr) bool {
	for {
		r.tries++
		n, e := rawRead(fd, r.p)
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return false
		}
		r.n, r.errno = n, e
		return true
	}
}

// read reads into p; c names the connection in errors.
func (r *rawReader) read(c net.Conn, p []byte) (int, error) {
	r.p, r.n, r.errno, r.tries = p, 0, 0, 0
	err := r.rc.Read(r.fn)
	r.p = nil
	switch {
	case err != nil:
		return 0, err
	case r.errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", r.errno)}
	case r.n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return r.n, nil
}
