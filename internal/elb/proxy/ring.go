package proxy

import "time"

// The ring data plane. On Linux with io_uring (ring_linux.go), HTTP client
// connections are served by a few ring loops, one per P, each on a locked
// thread: a loop reads a request, sends it to a pooled target connection,
// reads the response and sends it back without a goroutine switch, and
// many connections' socket operations share one io_uring_enter. On this
// kind of VM a system call costs a microsecond, as much as the rest of a
// request's user-space work, and the loops make about one per several
// requests where a goroutine per connection makes four or five.
//
// The loops serve the common case only: HTTP/1.1 requests without a body
// or with a small one that came with the head, and responses whose length
// is known. At the first request or response
// they do not serve, the connection (and its target connection, mid
// response) is handed to a goroutine of server.go with everything read so
// far, and stays there. So every feature of the goroutine path holds, and
// the loops only ever shorten it.

// ringBconn is a ring loop's connection to a target.
type ringBconn struct {
	fd     int
	buf    []byte // the response as it arrives
	n      int    // bytes in buf
	out    []byte // the request head
	sa     [28]byte
	saLen  uint32
	idleAt time.Time
}

const ringTargetBuf = 16 << 10
