package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The HTTP/1.1 front end of HTTP listeners. net/http.Server costs, for
// every request on a keep-alive connection, a background read (a goroutine
// wake-up and a syscall) and its cancellation, a context, a Request with
// its header map and a response writer; on two cores behind a VM's syscall
// tax that was half of the proxy's throughput. Here one goroutine per
// client connection reads heads into its own buffer, parses them without
// allocating (reqhead.go), and writes each response head and small body
// with one write.

const (
	// initialReadBuf holds a typical request head; the buffer grows for
	// larger heads up to maxRequestHead and shrinks back when idle.
	initialReadBuf = 4 << 10
	// outFlushAt is how much response body is gathered before a write.
	outFlushAt = 32 << 10
	// maxDiscardBody is how much of a request body the load balancer
	// reads and drops to keep a connection open when it answers by itself;
	// beyond it the connection is closed instead.
	maxDiscardBody = 256 << 10
)

var (
	readBufs = sync.Pool{New: func() any { b := make([]byte, initialReadBuf); return &b }}
	// outBufs hold a response on its way out; a connection has one only
	// while it answers, so idle keep-alive connections cost their read
	// buffer alone.
	outBufs = sync.Pool{New: func() any { b := make([]byte, 0, outBufSize); return &b }}
)

const outBufSize = outFlushAt + 8<<10

// acquireOut gives the connection an output buffer for a response.
func (c *httpConn) acquireOut() {
	if c.out == nil {
		c.outp = outBufs.Get().(*[]byte)
		c.out = (*c.outp)[:0]
	}
}

// releaseOut returns the output buffer once its bytes are written.
func (c *httpConn) releaseOut() {
	if c.outp != nil && cap(c.out) == outBufSize {
		*c.outp = c.out[:0]
		outBufs.Put(c.outp)
	}
	c.outp, c.out = nil, nil
}

// httpConn is one client connection of an HTTP listener.
type httpConn struct {
	l  *listener
	c  net.Conn
	tc *net.TCPConn // nil when the listener is not TCP (tests)

	rbp       *[]byte
	rbuf      []byte
	r, w      int
	scanned   int
	inRequest bool      // between a request's first byte and its response's end
	armed     time.Time // when the read deadline was last pushed out
	idle      atomic.Bool
	target    atomic.Pointer[bconn] // the target connection in use, for close
	out       []byte
	outp      *[]byte // the pooled buffer out came from
	req       request
	remote    netip.AddrPort
	remoteIP  string // for X-Forwarded-For
	lb        lengthBody

	// flushAwait's state, kept here so that its callback, bound once in
	// awaitFn, allocates nothing per request.
	rc           syscall.RawConn
	rr           rawReader
	awaitFn      func(uintptr) bool
	awaitP       []byte
	awaitN       int
	awaitErr     error
	awaitDone    bool
	awaitRead    int // bytes await read after the write; -1 when none
	awaitReadErr syscall.Errno
	guardExpired bool
	pipelined    bool // the client sent a request before the previous response
	strikes      int  // reads that found data right after the guard expired

	st *lbStats // the load balancer's, counted in at accept
	// rs is set while a ring loop serves the connection (ring.go); then c
	// has no net.Conn and only the loop touches it. modeMu orders the
	// hand-over to a goroutine against kill and wakeIdle.
	modeMu sync.Mutex
	rs     *ringClient
}

// serveHTTP accepts client connections until the listener closes.
func (l *listener) serveHTTP() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.p.log.Warn("accept failed", "addr", l.ln.Addr().String(), "err", err)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		c := &httpConn{l: l, st: l.cfg.Load().stats}
		c.setConn(nc)
		if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			c.remote = a.AddrPort()
			c.remoteIP = c.remote.Addr().Unmap().String()
		} else {
			c.remoteIP = clientIP(nc.RemoteAddr().String())
		}
		if !l.track(c) {
			nc.Close()
			continue
		}
		c.st.newConns.Add(1)
		c.st.active.Add(1)
		c.rbp = readBufs.Get().(*[]byte)
		c.rbuf = *c.rbp
		if c.tc != nil && l.p.rings.adopt(c) {
			continue
		}
		go c.run(nil)
	}
}

// setConn makes nc the connection's socket.
func (c *httpConn) setConn(nc net.Conn) {
	c.c, c.tc, c.rc = nc, nil, nil
	if tc, ok := nc.(*net.TCPConn); ok {
		c.tc = tc
		if rc, err := tc.SyscallConn(); err == nil {
			c.rc = rc
			c.rr.init(rc)
			c.awaitFn = c.await
		}
	}
}

// track registers a connection so that shutdown and close can reach it.
// It fails once the listener is closing.
func (l *listener) track(c *httpConn) bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[c] = struct{}{}
	l.p.wg.Add(1)
	l.connWG.Add(1)
	return true
}

func (l *listener) untrack(c *httpConn) {
	l.connMu.Lock()
	delete(l.conns, c)
	l.connMu.Unlock()
	l.connWG.Done()
	l.p.wg.Done()
}

// forEachConn calls f on every open connection.
func (l *listener) forEachConn(f func(*httpConn)) {
	l.connMu.Lock()
	cs := make([]*httpConn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.connMu.Unlock()
	for _, c := range cs {
		f(c)
	}
}

// wakeIdle makes a connection waiting for its next request notice that the
// listener is draining; one in the middle of a request finishes it first.
func (c *httpConn) wakeIdle() {
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	if c.rs != nil {
		c.rs.wakeIdle(c)
		return
	}
	if c.idle.Load() {
		c.c.SetReadDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// kill closes the connection and the target connection it is waiting on.
func (c *httpConn) kill() {
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	if c.rs != nil {
		c.rs.kill(c)
		return
	}
	c.c.Close()
	if bc := c.target.Load(); bc != nil {
		bc.c.Close()
	}
}

// run serves the connection's requests on its own goroutine until it
// closes. first, when set, answers a request a ring loop handed over (its
// head already parsed) and tells whether the connection stays open.
func (c *httpConn) run(first func() bool) {
	defer c.end()
	for {
		if first == nil && !c.readRequest() {
			return
		}
		c.inRequest = true
		c.acquireOut()
		var keep bool
		if first != nil {
			keep, first = first(), nil
		} else {
			keep = c.l.handle(c)
		}
		c.inRequest = false
		if !keep || c.l.draining.Load() {
			c.flush()
			return
		}
		if c.r < c.w {
			c.pipelined = true
		}
		if c.r == c.w && len(c.rbuf) > initialReadBuf {
			// A large head grew the buffer; give the memory back while idle.
			c.releaseReadBuf()
			c.rbp = readBufs.Get().(*[]byte)
			c.rbuf = *c.rbp
		}
	}
}

// end releases a closed connection of goroutine mode.
func (c *httpConn) end() {
	c.st.active.Add(-1)
	c.c.Close()
	c.releaseOut()
	if c.rbp != nil {
		c.releaseReadBuf()
	}
	c.l.untrack(c)
}

func (c *httpConn) releaseReadBuf() {
	if len(*c.rbp) == initialReadBuf && &(*c.rbp)[0] == &c.rbuf[0] {
		readBufs.Put(c.rbp)
	}
	c.rbp, c.rbuf, c.r, c.w = nil, nil, 0, 0
}

// readRequest reads and parses the next request head. On a malformed head
// it answers 400 (or 501/417) itself and returns false.
func (c *httpConn) readRequest() bool {
	c.scanned = 0
	if len(c.out) > 0 && c.flushAwait() != nil {
		return false
	}
	for {
		if c.w > c.r {
			buf := c.rbuf[c.r:c.w]
			if n := headEnd(buf, c.scanned); n >= 0 {
				hn, err := parseRequestHead(buf[:n], &c.req)
				switch {
				case err == nil:
					c.r += hn
					return true
				case errors.Is(err, errIncomplete):
					// Only leading empty lines so far.
					c.scanned = n
				default:
					c.inRequest = true
					c.rejectHead(err)
					return false
				}
			} else {
				c.scanned = len(buf)
				if len(buf) >= maxRequestHead {
					c.inRequest = true
					c.rejectHead(errBadRequest)
					return false
				}
			}
		}
		idle := c.r == c.w
		if idle {
			c.idle.Store(true)
			if c.l.draining.Load() {
				c.idle.Store(false)
				return false
			}
		} else {
			c.inRequest = true
		}
		ok := c.fill(maxRequestHead)
		c.idle.Store(false)
		if !ok {
			if c.w > c.r {
				// A head cut short by a timeout or close: nothing to answer.
				c.l.p.log.Debug("incomplete request head", "remote", c.remoteIP)
			}
			return false
		}
	}
}

func (c *httpConn) rejectHead(err error) {
	code := 400
	switch {
	case errors.Is(err, errNotImplemented):
		code = 501
	case errors.Is(err, errExpectation):
		code = 417
	}
	cfg := c.l.cfg.Load()
	cfg.stats.requests.Add(1)
	cfg.stats.direct.Add(1)
	c.acquireOut()
	c.writeELBError(cfg, code, true)
	c.lingerClose()
}

// lingerClose ends a connection whose client may still be sending (a
// rejected head or body): closing with unread bytes would make the kernel
// reset the connection and could destroy the error response before the
// client reads it. So the write half closes first and what the client
// still sends is read and dropped, for a bounded time and size.
func (c *httpConn) lingerClose() {
	if c.tc == nil {
		return
	}
	c.tc.CloseWrite()
	c.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := c.rbuf
	if len(buf) == 0 {
		return
	}
	for n := 0; n < maxDiscardBody; {
		k, err := c.c.Read(buf)
		n += k
		if err != nil {
			return
		}
	}
}

// fill reads more client bytes into the buffer, growing it up to limit.
// It returns false on EOF, error or idle timeout.
func (c *httpConn) fill(limit int) bool {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if c.w == len(c.rbuf) {
		if c.r > 0 {
			copy(c.rbuf, c.rbuf[c.r:c.w])
			c.w -= c.r
			c.r = 0
		} else if len(c.rbuf) < limit {
			nb := make([]byte, min(2*len(c.rbuf), limit))
			copy(nb, c.rbuf[:c.w])
			c.rbuf = nb
		} else {
			return false
		}
	}
	for {
		c.armRead()
		var n int
		var err error
		if c.rc == nil {
			n, err = c.c.Read(c.rbuf[c.w:])
		} else {
			n, err = c.rr.read(c.c, c.rbuf[c.w:])
			if c.guardExpired && n > 0 && c.rr.tries == 1 {
				// Data already there when flushAwait's guard expired may
				// have been missed by the poller because the client
				// pipelines; as likely it came just then, so only a
				// repeat makes the connection give flushAwait up.
				if c.strikes++; c.strikes >= 3 {
					c.pipelined = true
				}
			}
			c.guardExpired = false
		}
		c.w += n
		if n > 0 {
			return true
		}
		if err == nil {
			continue
		}
		if isTimeout(err) && c.l.draining.Load() && c.inRequest &&
			time.Now().Before(c.armed.Add(c.l.p.idleTimeout*7/8)) {
			// shutdown woke this connection as idle just as a request
			// arrived: it is not idle, so it keeps reading.
			c.armed = time.Time{}
			continue
		}
		return false
	}
}

// awaitGuard bounds how long flushAwait trusts the poller to report the
// next request. A request the client pipelined before the previous
// response went out may have arrived unreported; it is found when the
// guard expires, and the connection stops using flushAwait.
const awaitGuard = 25 * time.Millisecond

// flushAwait sends the pending response and waits for the next request
// without the read net.Conn would try first, which right after a response
// always finds nothing (see bconn.writeAwait). The write is made inside
// RawConn.Read, after the poller's readiness was reset, so a request sent
// in answer to this response is never missed; one sent earlier (pipelined)
// might be, hence awaitGuard.
func (c *httpConn) flushAwait() error {
	if c.rc == nil || c.pipelined || c.r != c.w {
		return c.flush()
	}
	now := time.Now()
	// The guard is the only deadline until the next client read that
	// fill makes, which sets the idle deadline again; a head that arrives
	// whole is read by await itself and needs none.
	c.c.SetReadDeadline(now.Add(awaitGuard))
	c.armed = time.Time{}
	c.r, c.w = 0, 0
	c.awaitP, c.awaitN, c.awaitErr, c.awaitDone, c.awaitRead, c.awaitReadErr = c.out, 0, nil, false, -1, 0
	err := c.rc.Read(c.awaitFn)
	p, n, werr := c.awaitP, c.awaitN, c.awaitErr
	c.awaitP, c.awaitErr = nil, nil
	if werr == syscall.EAGAIN {
		// The socket buffer is full (a slow reader): the rest goes the
		// ordinary way and the next request is read by fill.
		_, werr = c.c.Write(p[n:])
	}
	c.releaseOut() // a no-op when await released it before waiting
	if werr != nil {
		return werr
	}
	switch {
	case c.awaitRead > 0:
		c.w = c.awaitRead
	case c.awaitRead == 0:
		return io.EOF
	case c.awaitReadErr != 0:
		return c.awaitReadErr
	case err != nil && isTimeout(err):
		c.guardExpired = true
	}
	return nil
}

// await is the RawConn.Read callback of flushAwait.
func (c *httpConn) await(fd uintptr) bool {
	if c.awaitDone {
		// Readable: take the next request now rather than in another
		// RawConn.Read.
		for {
			n, e := rawRead(fd, c.rbuf)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			case 0:
				c.awaitRead = n
			default:
				c.awaitReadErr = e
			}
			return true
		}
	}
	c.awaitDone = true
	p := c.awaitP
	for c.awaitN < len(p) {
		k, e := rawWrite(fd, p[c.awaitN:])
		c.awaitN += k
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			c.awaitErr = e
			return true
		}
	}
	c.releaseOut()
	return false
}

// armRead pushes the client read deadline out to the idle timeout. As in
// bconn.Read, only when the last push is an eighth of the timeout old, to
// spare a timer update per read.
func (c *httpConn) armRead() {
	now := time.Now()
	t := c.l.p.idleTimeout
	if now.Sub(c.armed) > t>>3 {
		c.armed = now
		c.c.SetReadDeadline(now.Add(t))
	}
}

// flush writes the pending output. A ring loop sends it itself.
func (c *httpConn) flush() error {
	if len(c.out) == 0 || c.rs != nil {
		return nil
	}
	_, err := c.c.Write(c.out)
	c.out = c.out[:0]
	return err
}

// appendStatus appends an HTTP/1.1 status line.
func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, statusText(code)...)
	return append(b, "\r\n"...)
}

// writeELBError answers with an error page of the load balancer's own and
// counts it. closeConn ends the connection after it, as for a request
// whose framing could not be trusted.
func (c *httpConn) writeELBError(cfg *listenerConfig, code int, closeConn bool) bool {
	cfg.stats.countELB(code)
	body := elbErrorBody(code)
	return c.writeDirect(code, "text/html", body, "", closeConn)
}

// writeDirect writes a response the load balancer makes itself (fixed
// response, redirect, error) after dropping the request body. It returns
// whether the connection stays open.
func (c *httpConn) writeDirect(code int, contentType string, body []byte, location string, closeConn bool) bool {
	req := &c.req
	if !closeConn && !c.discardBody() {
		closeConn = true
	}
	closeConn = closeConn || req.close || c.l.draining.Load()
	c.out = appendStatus(c.out, code)
	c.out = append(c.out, "Server: awselb/2.0\r\n"...)
	if contentType != "" {
		c.out = append(c.out, "Content-Type: "...)
		c.out = append(c.out, contentType...)
		c.out = append(c.out, "\r\n"...)
	}
	if location != "" {
		c.out = append(c.out, "Location: "...)
		c.out = append(c.out, location...)
		c.out = append(c.out, "\r\n"...)
	}
	c.out = append(c.out, "Content-Length: "...)
	c.out = strconv.AppendInt(c.out, int64(len(body)), 10)
	c.out = append(c.out, "\r\n"...)
	c.out = appendConnection(c.out, closeConn, req.minor)
	c.out = append(c.out, "\r\n"...)
	if !req.isHead() {
		c.out = append(c.out, body...)
	}
	if closeConn {
		c.flush()
	}
	return !closeConn
}

func appendConnection(b []byte, closeConn bool, minor int) []byte {
	if closeConn {
		return append(b, "Connection: close\r\n"...)
	}
	if minor == 0 {
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}

// discardBody reads and drops a request body the load balancer answers
// itself, so the connection can serve the next request. It returns false
// when the body is too large or broken; the connection must then close.
func (c *httpConn) discardBody() bool {
	req := &c.req
	switch {
	case req.chunked:
		cr := chunkReader{c: c}
		var n int
		for {
			b, err := cr.next(32 << 10)
			if err != nil {
				return errors.Is(err, errBodyEnd)
			}
			if n += len(b); n > maxDiscardBody {
				return false
			}
		}
	case req.contentLength > 0:
		if req.contentLength > maxDiscardBody {
			return false
		}
		for n := req.contentLength; n > 0; {
			if c.r == c.w && !c.fill(len(c.rbuf)) {
				return false
			}
			k := min(int64(c.w-c.r), n)
			c.r += int(k)
			n -= k
		}
	}
	return true
}

// sendContinue tells a client waiting on Expect: 100-continue to send its
// body.
func (c *httpConn) sendContinue() error {
	if !c.req.expectContinue || c.req.minor == 0 {
		return nil
	}
	c.req.expectContinue = false
	_, err := c.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	return err
}

var errBodyEnd = errors.New("end of body")

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4 << 10

// chunkReader decodes a chunked request body from the client buffer. It
// requires CRLF in the framing and hex sizes without sign, space or
// overflow: anything it cannot read exactly as a target would is refused.
type chunkReader struct {
	c         *httpConn
	left      int64 // bytes left in the current chunk
	afterData bool  // a chunk's data ended and its CRLF is due
}

// next returns up to max bytes of chunk data, a view into the client
// buffer valid until the next call; errBodyEnd after the last chunk and
// its trailer section.
func (cr *chunkReader) next(max int) ([]byte, error) {
	c := cr.c
	for {
		if cr.left > 0 {
			if c.r == c.w && !c.fill(len(c.rbuf)) {
				return nil, errClientGone
			}
			k := min(int64(c.w-c.r), cr.left, int64(max))
			b := c.rbuf[c.r : c.r+int(k)]
			c.r += int(k)
			cr.left -= k
			if cr.left == 0 {
				cr.afterData = true
			}
			return b, nil
		}
		if cr.afterData {
			line, err := c.readLine(2)
			if err != nil {
				return nil, err
			}
			if len(line) != 0 {
				return nil, errBadRequest
			}
			cr.afterData = false
		}
		line, err := c.readLine(maxChunkLine)
		if err != nil {
			return nil, err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return nil, errBadRequest
		}
		if size == 0 {
			// Trailer fields are dropped: they are not forwarded, as the
			// re-encoded body carries none.
			for n := 0; ; n++ {
				line, err := c.readLine(maxHeaderLine)
				if err != nil {
					return nil, err
				}
				if len(line) == 0 {
					return nil, errBodyEnd
				}
				if n > 100 {
					return nil, errBadRequest
				}
			}
		}
		cr.left = size
	}
}

var errClientGone = errors.New("client connection ended")

// readLine returns the next CRLF-terminated line from the client buffer
// without its CRLF. A bare LF or CR, or a line longer than limit, is
// refused.
func (c *httpConn) readLine(limit int) ([]byte, error) {
	from := 0
	for {
		buf := c.rbuf[c.r:c.w]
		if i := indexByteFrom(buf, '\n', from); i >= 0 {
			if i == 0 || buf[i-1] != '\r' || i-1 > limit {
				return nil, errBadRequest
			}
			line := buf[:i-1]
			for _, b := range line {
				if b == '\r' {
					return nil, errBadRequest
				}
			}
			c.r += i + 1
			return line, nil
		}
		from = len(buf)
		if len(buf) > limit+1 {
			return nil, errBadRequest
		}
		if !c.fill(max(len(c.rbuf), limit+2)) {
			return nil, errClientGone
		}
	}
}

func indexByteFrom(b []byte, c byte, from int) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// parseChunkSize reads "hex[;ext...]" as RFC 9112 §7.1 allows it.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false // more than 2^60: no body is that large
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && (rest[0] != ';' || !validValue(rest)) {
		return 0, false
	}
	return n, true
}
