package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The HTTP forwarding path. It deliberately avoids http.Transport: the
// handler goroutine writes the request on a pooled keep-alive connection
// and reads the response itself, so a request costs no goroutine hand-offs
// (Transport runs a read loop and a write loop per connection and talks to
// them through channels, which on two cores costs more than the proxying).

const (
	maxIdlePerTarget = 512
	// poolIdleLimit drops pooled connections idle for longer than common
	// server keep-alive timeouts, before the target closes them under us.
	poolIdleLimit = 50 * time.Second
	copyBufSize   = 32 << 10
	// targetReadBuf is a target connection's read buffer, which bounds the
	// lines of its responses' heads and trailers.
	targetReadBuf = 8 << 10
)

var (
	copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
	readers  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, targetReadBuf) }}
	writers  = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// bconn is a connection to a target with its buffers.
type bconn struct {
	c  net.Conn
	rc syscall.RawConn // nil when c is not a socket
	rr rawReader
	// pre holds bytes a ring loop had read from the connection before it
	// handed the connection over; reads return them first.
	pre     []byte
	br      *bufio.Reader
	bw      *bufio.Writer
	timeout time.Duration
	armed   time.Time // when the read deadline was last pushed out
	idleAt  time.Time
	// awaitNext makes the next write wait for the response: see writeAwait.
	awaitNext bool
	// writeAwait's state, so that its callback, bound once in awaitFn,
	// allocates nothing per request.
	awaitFn   func(uintptr) bool
	awaitP    []byte
	awaitN    int
	awaitErr  error
	awaitDone bool
}

func newBconn(c net.Conn, timeout time.Duration) *bconn {
	b := &bconn{c: c, timeout: timeout}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			b.rc = rc
			b.rr.init(rc)
			b.awaitFn = b.await
		}
	}
	b.br = readers.Get().(*bufio.Reader)
	b.br.Reset(b)
	b.bw = writers.Get().(*bufio.Writer)
	b.bw.Reset(bconnWriter{b})
	return b
}

// await is the RawConn.Read callback of writeAwait: the first call writes,
// the next one, when the connection is readable, ends the wait.
func (b *bconn) await(fd uintptr) bool {
	if b.awaitDone {
		return true
	}
	b.awaitDone = true
	for b.awaitN < len(b.awaitP) {
		k, e := rawWrite(fd, b.awaitP[b.awaitN:])
		b.awaitN += k
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			b.awaitErr = e
			return true
		}
	}
	return false
}

// bconnWriter is the target connection as the request writer sees it.
type bconnWriter struct{ b *bconn }

func (w bconnWriter) Write(p []byte) (int, error) {
	if w.b.awaitNext && w.b.rc != nil && w.b.br.Buffered() == 0 && len(w.b.pre) == 0 {
		w.b.awaitNext = false
		return w.b.writeAwait(p)
	}
	return w.b.c.Write(p)
}

// flushAwait sends the buffered request and waits until the target has
// answered something.
func (b *bconn) flushAwait() error {
	b.awaitNext = true
	err := b.bw.Flush()
	b.awaitNext = false
	return err
}

// writeAwait writes the last bytes of a request and then waits for the
// connection to become readable, without the read that net.Conn would try
// first: right after a request that read always finds nothing, and on a VM
// each syscall costs as much as the rest of the proxying. The write is made
// from inside RawConn.Read, after the poller's readiness was reset, so the
// response cannot arrive unnoticed between the write and the wait. If the
// socket buffer is full the rest goes the ordinary way. Waiting honours the
// read deadline; whatever ends the wait (data, timeout, close) the
// following read sees too.
func (b *bconn) writeAwait(p []byte) (int, error) {
	now := time.Now()
	if now.Sub(b.armed) > b.timeout>>3 {
		b.armed = now
		b.c.SetReadDeadline(now.Add(b.timeout))
	}
	b.awaitP, b.awaitN, b.awaitErr, b.awaitDone = p, 0, nil, false
	b.rc.Read(b.awaitFn)
	n, werr := b.awaitN, b.awaitErr
	b.awaitP = nil
	if werr == syscall.EAGAIN {
		m, err := b.c.Write(p[n:])
		return n + m, err
	}
	if werr != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Addr: b.c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	}
	return n, nil
}

// Read implements the target idle timeout: a read fails once the target
// has sent nothing for the timeout. Pushing the deadline out costs a timer
// update, so it is done only when the last push is more than an eighth of
// the timeout old; the effective timeout is thus between 7/8 and all of it.
func (b *bconn) Read(p []byte) (int, error) {
	if len(b.pre) > 0 {
		n := copy(p, b.pre)
		b.pre = b.pre[n:]
		return n, nil
	}
	now := time.Now()
	if now.Sub(b.armed) > b.timeout>>3 {
		b.armed = now
		b.c.SetReadDeadline(now.Add(b.timeout))
	}
	if b.rc == nil {
		return b.c.Read(p)
	}
	return b.rr.read(b.c, p)
}

func (b *bconn) close() {
	b.c.Close()
	b.br.Reset(nil)
	readers.Put(b.br)
	b.bw.Reset(nil)
	writers.Put(b.bw)
	b.br, b.bw = nil, nil
}

type connPool struct {
	mu     sync.Mutex
	idle   []*bconn // LIFO: the most recently used connection is the warmest
	closed bool
	// ringIdle are the idle connections of the ring loops (ring.go): any
	// loop may take one, as no ring operation is pending on an idle one.
	ringIdle []*ringBconn
}

func (cp *connPool) getRing(now time.Time) *ringBconn { return poolGet(cp, &cp.ringIdle, now) }

func (cp *connPool) putRing(b *ringBconn, now time.Time) { poolPut(cp, &cp.ringIdle, b, now) }

func (cp *connPool) get(now time.Time) *bconn { return poolGet(cp, &cp.idle, now) }

func (cp *connPool) put(b *bconn, now time.Time) { poolPut(cp, &cp.idle, b, now) }

// idleConn is what a pool keeps: bconn and ringBconn.
type idleConn interface {
	close()
	idleSince() *time.Time
}

func (b *bconn) idleSince() *time.Time     { return &b.idleAt }
func (b *ringBconn) idleSince() *time.Time { return &b.idleAt }

// poolGet takes the most recently used idle connection of list that is
// not too old to trust, closing older ones on the way; the zero T when
// there is none.
func poolGet[T idleConn](cp *connPool, list *[]T, now time.Time) T {
	var zero T
	cp.mu.Lock()
	for n := len(*list); n > 0; n = len(*list) {
		b := (*list)[n-1]
		(*list)[n-1] = zero
		*list = (*list)[:n-1]
		if now.Sub(*b.idleSince()) < poolIdleLimit {
			cp.mu.Unlock()
			return b
		}
		cp.mu.Unlock()
		b.close()
		cp.mu.Lock()
	}
	cp.mu.Unlock()
	return zero
}

// poolPut keeps b for reuse, or closes it when the pool is closed or full.
func poolPut[T idleConn](cp *connPool, list *[]T, b T, now time.Time) {
	cp.mu.Lock()
	if cp.closed || len(*list) >= maxIdlePerTarget {
		cp.mu.Unlock()
		b.close()
		return
	}
	*b.idleSince() = now
	*list = append(*list, b)
	cp.mu.Unlock()
}

func (cp *connPool) closeAll() {
	cp.mu.Lock()
	cp.closed = true
	idle, ringIdle := cp.idle, cp.ringIdle
	cp.idle, cp.ringIdle = nil, nil
	cp.mu.Unlock()
	for _, b := range idle {
		b.close()
	}
	for _, b := range ringIdle {
		b.close()
	}
}

// forward sends the request to a target of the chosen group and streams
// the response back. It returns whether the client connection stays open.
func (l *listener) forward(c *httpConn, cfg *listenerConfig, f *forwardAction) bool {
	fg, set, t, failed := l.choose(c, cfg, f)
	if failed {
		return c.writeELBError(cfg, http.StatusServiceUnavailable, false)
	}
	return l.exchange(c, cfg, f, fg, set, t)
}

// exchange sends the request to t and its response to the client.
func (l *listener) exchange(c *httpConn, cfg *listenerConfig, f *forwardAction, fg *fwdGroup, set *targetSet, t *target) bool {
	t.inflight.Add(1)
	defer t.done()
	bc, rh, rt, code := l.roundTrip(c, t)
	if code != 0 {
		return l.forwardFailed(c, cfg, code)
	}
	fg.stats.countTarget(rh.code, rt)
	return l.respond(c, f, fg, set, t, bc, &rh)
}

// resume finishes an exchange a ring loop began: the request went out on
// bc at start, and the response, whatever of it bc.pre holds and the rest,
// is read here. t.inflight already counts the request.
func (l *listener) resume(c *httpConn, cfg *listenerConfig, f *forwardAction, fg *fwdGroup, set *targetSet, t *target, bc *bconn, start time.Time) bool {
	defer t.done()
	c.target.Store(bc)
	var rh respHead
	var err error
	c.out, rh, err = readHead(bc.br, c.out)
	c.target.Store(nil)
	if err != nil {
		bc.close()
		l.p.log.Debug("target request failed", "target", t.addr, "err", err)
		return l.forwardFailed(c, cfg, failureStatus(err))
	}
	fg.stats.countTarget(rh.code, time.Since(start))
	return l.respond(c, f, fg, set, t, bc, &rh)
}

// choose picks the target group and the target for a forwarded request,
// and counts the request as the chosen group's. failed means there is no
// target to send it to (ELB answers 503).
func (l *listener) choose(c *httpConn, cfg *listenerConfig, f *forwardAction) (fg *fwdGroup, set *targetSet, t *target, failed bool) {
	req := &c.req
	var tgCookie []byte
	if f.sticky > 0 {
		tgCookie = req.cookie("AWSALBTG")
	}
	fg, failOpen := f.pick(tgCookie)
	if fg == nil {
		cfg.stats.direct.Add(1)
		return nil, nil, nil, true
	}
	fg.stats.requests.Add(1)
	set = fg.g.set.Load()
	var tCookie []byte
	if set.sticky > 0 {
		tCookie = req.cookie("AWSALB")
	}
	t = set.pick(fg.g, failOpen, tCookie)
	if t == nil {
		return fg, set, nil, true
	}
	return fg, set, t, false
}

// forwardFailed answers a request whose exchange with the target failed
// with the status roundTrip gave.
func (l *listener) forwardFailed(c *httpConn, cfg *listenerConfig, code int) bool {
	if code == http.StatusBadRequest {
		// The client's body framing broke while it was being sent:
		// neither the target nor this connection can be trusted.
		c.writeELBError(cfg, code, true)
		c.lingerClose()
		return false
	}
	if code == -1 {
		return false // the client went away
	}
	return c.writeELBError(cfg, code, c.req.chunked || c.req.contentLength > 0)
}

// respond sends the target's response, whose head readHead put in c.out,
// to the client, and gives the target connection back to the pool when it
// can carry another request.
func (l *listener) respond(c *httpConn, f *forwardAction, fg *fwdGroup, set *targetSet, t *target, bc *bconn, rh *respHead) bool {
	c.target.Store(bc)
	defer c.target.Store(nil)
	if rh.code == http.StatusSwitchingProtocols {
		l.upgrade(c, bc, rh, t)
		return false
	}
	hasBody, closeConn, chunkOut := l.finishHead(c, f, fg, set, t, rh)
	complete, targetErr := true, false
	if hasBody {
		var body io.Reader
		switch {
		case rh.chunked:
			body = &chunkedBody{br: bc.br, r: httputil.NewChunkedReader(bc.br)}
		case rh.contentLength >= 0:
			c.lb = lengthBody{br: bc.br, n: rh.contentLength}
			body = &c.lb
		default:
			body = bc.br
		}
		complete, targetErr = c.copyResponseBody(body, chunkOut, rh.contentLength < 0)
	}
	// A keep-alive response stays in c.out: the serve loop sends it and
	// waits for the next request in one step (flushAwait), once the target
	// connection is back in the pool.
	if complete && closeConn {
		c.flush()
	}
	if complete && !rh.close {
		t.pool.put(bc, time.Now())
	} else {
		bc.close()
	}
	if targetErr || !complete {
		// The status line is gone already; cutting the client connection is
		// the only way to tell it the response is incomplete.
		return false
	}
	return !closeConn
}

// finishHead ends the response head in c.out (the status line and the
// end-to-end headers) with the body's framing, the stickiness cookies and
// the connection header. A body that runs until the target closes sets
// rh.close. closeConn tells whether the client connection ends after this
// response; chunkOut whether the body goes out chunked.
func (l *listener) finishHead(c *httpConn, f *forwardAction, fg *fwdGroup, set *targetSet, t *target, rh *respHead) (hasBody, closeConn, chunkOut bool) {
	req := &c.req
	hasBody = rh.hasBody(req.isHead())
	closeConn = req.close || l.draining.Load()
	switch {
	case rh.contentLength >= 0:
		c.out = append(c.out, "Content-Length: "...)
		c.out = strconv.AppendInt(c.out, rh.contentLength, 10)
		c.out = append(c.out, "\r\n"...)
	case !hasBody:
	case req.minor >= 1:
		c.out = append(c.out, "Transfer-Encoding: chunked\r\n"...)
		chunkOut = true
	default:
		closeConn = true // an HTTP/1.0 client reads to the close
	}
	if hasBody && !rh.chunked && rh.contentLength < 0 {
		rh.close = true
	}
	if f.sticky > 0 && len(f.groups) > 1 {
		c.out = appendStickyCookie(c.out, "AWSALBTG", fg.cookie, f.sticky, l.p.now())
	}
	if set.sticky > 0 {
		c.out = appendStickyCookie(c.out, "AWSALB", t.cookie, set.sticky, l.p.now())
	}
	c.out = appendConnection(c.out, closeConn, req.minor)
	c.out = append(c.out, "\r\n"...)
	return hasBody, closeConn, chunkOut
}

// copyResponseBody streams a response body into the client output.
// complete is true when the body was read to its end and written;
// targetErr when the target failed mid-body. Bodies of unknown length are
// flushed as they come, so streams (server-sent events, long polls) are
// not held back.
func (c *httpConn) copyResponseBody(body io.Reader, chunkOut, flushEach bool) (complete, targetErr bool) {
	for {
		if len(c.out) >= outFlushAt {
			if c.flush() != nil {
				return false, false
			}
		}
		if cap(c.out)-len(c.out) < 4<<10 {
			// Only a response head of more than outFlushAt gets here.
			c.out = append(c.out[:cap(c.out)], make([]byte, 8<<10)...)[:len(c.out)]
		}
		start := len(c.out)
		if chunkOut {
			// Room for the chunk-size line, filled in once the size is known.
			c.out = append(c.out, "0000000\r\n"...)
		}
		free := c.out[len(c.out) : cap(c.out)-2]
		n, err := body.Read(free)
		if n > 0 {
			if chunkOut {
				size := strconv.AppendInt(c.out[start:start], int64(n), 16)
				// Right-align the size in its slot with leading zeros.
				pad := 7 - len(size)
				copy(c.out[start+pad:], size)
				for i := 0; i < pad; i++ {
					c.out[start+i] = '0'
				}
				c.out = append(c.out[:len(c.out)+n], "\r\n"...)
			} else {
				c.out = c.out[:len(c.out)+n]
			}
			if flushEach && c.flush() != nil {
				return false, false
			}
		} else {
			c.out = c.out[:start]
		}
		if err == io.EOF {
			if chunkOut {
				c.out = append(c.out, "0\r\n\r\n"...)
			}
			return true, false
		}
		if err != nil {
			c.flush()
			return false, true
		}
	}
}

// roundTrip writes the request to a connection to t and reads the response
// head into c.out. On failure it returns the status to answer: 502 when the
// target refused or broke the connection, 504 when it timed out, 400 when
// the client's body was malformed, -1 when the client went away. A request
// without a body that fails on a reused connection is retried once on a
// new one, since the target may have closed the idle connection just as it
// was taken from the pool.
func (l *listener) roundTrip(c *httpConn, t *target) (*bconn, respHead, time.Duration, int) {
	p := l.p
	req := &c.req
	noBody := !req.chunked && req.contentLength <= 0
	mark := len(c.out)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var bc *bconn
		if attempt == 0 {
			bc = t.pool.get(start)
		}
		reused := bc != nil
		if bc == nil {
			nc, err := p.dialer.DialContext(p.ctx, "tcp", t.addr)
			if err != nil {
				p.log.Debug("target connect failed", "target", t.addr, "err", err)
				return nil, respHead{}, 0, failureStatus(err)
			}
			bc = newBconn(nc, p.targetTimeout)
		}
		c.target.Store(bc)
		l.writeRequestHead(bc.bw, c)
		var err error
		if !noBody {
			if err = c.sendContinue(); err != nil {
				bc.close()
				return nil, respHead{}, 0, -1
			}
			if cerr := c.copyRequestBody(bc.bw); cerr != nil {
				bc.close()
				if errors.Is(cerr, errBadRequest) {
					return nil, respHead{}, 0, http.StatusBadRequest
				}
				return nil, respHead{}, 0, -1
			}
		}
		err = bc.flushAwait()
		var rh respHead
		if err == nil {
			c.out, rh, err = readHead(bc.br, c.out)
		}
		c.target.Store(nil)
		if err == nil {
			return bc, rh, time.Since(start), 0
		}
		c.out = c.out[:mark]
		bc.close()
		if reused && noBody && !isTimeout(err) {
			continue
		}
		p.log.Debug("target request failed", "target", t.addr, "err", err)
		return nil, respHead{}, 0, failureStatus(err)
	}
}

// failureStatus is ELB's answer when the exchange with a target failed
// with err: 504 when it timed out, 502 otherwise.
func failureStatus(err error) int {
	if isTimeout(err) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeRequestHead writes the request head for the target.
func (l *listener) writeRequestHead(bw *bufio.Writer, c *httpConn) {
	// Appended in the writer's free space, the head is copied only once.
	bw.Write(l.appendRequestHead(bw.AvailableBuffer(), c))
}

// appendRequestHead appends the request head for the target: the client's
// header lines as they came, less the hop-by-hop ones, with ELB's
// X-Forwarded-* headers and the body's framing.
func (l *listener) appendRequestHead(b []byte, c *httpConn) []byte {
	req := &c.req
	b = append(b, req.method...)
	b = append(b, ' ')
	if req.needSlash {
		b = append(b, '/')
	}
	b = append(b, req.uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.host...)
	b = append(b, "\r\n"...)
	xff := false
	for i := range req.headers {
		h := &req.headers[i]
		if hopByHopRequest(h.name) || (req.connOther && namedInConnection(req, h.name)) {
			continue
		}
		if len(h.name) == 15 && equalFold(h.name, "x-forwarded-for") {
			xff = true
			continue
		}
		b = append(b, h.name...)
		b = append(b, ": "...)
		b = append(b, h.value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Forwarded-For: "...)
	if xff {
		for i := range req.headers {
			h := &req.headers[i]
			if len(h.name) == 15 && equalFold(h.name, "x-forwarded-for") && len(h.value) > 0 {
				b = append(b, h.value...)
				b = append(b, ", "...)
			}
		}
	}
	b = append(b, c.remoteIP...)
	b = append(b, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: "...)
	b = append(b, l.portStr...)
	b = append(b, "\r\n"...)
	if req.upgrade != nil {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, req.upgrade...)
		b = append(b, "\r\n"...)
	}
	switch {
	case req.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n\r\n"...)
	case req.contentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, req.contentLength, 10)
		b = append(b, "\r\n\r\n"...)
	default:
		switch string(req.method) {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			b = append(b, "Content-Length: 0\r\n"...)
		}
		b = append(b, "\r\n"...)
	}
	return b
}

// hopByHopRequest reports the request headers that are not forwarded as
// they came: hop-by-hop ones, and those the load balancer sets itself.
func hopByHopRequest(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 4:
		return equalFold(name, "host")
	case 6:
		return equalFold(name, "expect")
	case 7:
		return equalFold(name, "upgrade") || equalFold(name, "trailer")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 14:
		return equalFold(name, "content-length")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding") || equalFold(name, "x-forwarded-port")
	case 18:
		return equalFold(name, "x-forwarded-proto")
	}
	return false
}

// namedInConnection reports whether a Connection header lists name.
func namedInConnection(req *request, name []byte) bool {
	found := false
	for i := range req.headers {
		h := &req.headers[i]
		if len(h.name) == 10 && equalFold(h.name, "connection") {
			forEachToken(h.value, func(tok []byte) {
				found = found || equalFold(tok, string(name))
			})
		}
	}
	return found
}

// copyRequestBody streams the request body to the target, re-encoding a
// chunked one. It returns errBadRequest for a malformed chunked body and
// errClientGone when the client stops sending.
func (c *httpConn) copyRequestBody(bw *bufio.Writer) error {
	req := &c.req
	if req.chunked {
		cr := chunkReader{c: c}
		for {
			b, err := cr.next(copyBufSize)
			if errors.Is(err, errBodyEnd) {
				bw.WriteString("0\r\n\r\n")
				return nil
			}
			if err != nil {
				return err
			}
			bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(b)), 16))
			bw.WriteString("\r\n")
			bw.Write(b)
			bw.WriteString("\r\n")
		}
	}
	for n := req.contentLength; n > 0; {
		if c.r == c.w && !c.fill(len(c.rbuf)) {
			return errClientGone
		}
		k := min(int64(c.w-c.r), n)
		bw.Write(c.rbuf[c.r : c.r+int(k)])
		c.r += int(k)
		n -= k
	}
	return nil
}

// upgrade completes a protocol switch (WebSocket): the 101 goes to the
// client and bytes are copied both ways until each side has closed its
// half.
func (l *listener) upgrade(c *httpConn, bc *bconn, rh *respHead, t *target) {
	defer bc.c.Close()
	c.out = append(c.out, "Connection: Upgrade\r\nUpgrade: "...)
	c.out = append(c.out, rh.upgrade...)
	c.out = append(c.out, "\r\n\r\n"...)
	if c.flush() != nil {
		return
	}
	// The idle timeout of HTTP requests does not apply to the stream.
	c.c.SetReadDeadline(time.Time{})
	bc.c.SetReadDeadline(time.Time{})
	if !l.p.trackFlow(c.c) {
		return
	}
	defer l.p.untrackFlow(c.c)
	t.addFlow(c.c)
	defer t.removeFlow(c.c)
	t.addFlow(bc.c)
	defer t.removeFlow(bc.c)

	// Bytes the client sent after the head belong to the new protocol.
	pending := c.rbuf[c.r:c.w]
	c.r = c.w
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(pending) > 0 {
			if _, err := bc.c.Write(pending); err != nil {
				return
			}
		}
		io.Copy(bc.c, c.c)
		closeWrite(bc.c)
	}()
	io.Copy(c.c, bc.br)
	closeWrite(c.c)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

func appendStickyCookie(b []byte, name, value string, d time.Duration, now time.Time) []byte {
	b = append(b, "Set-Cookie: "...)
	b = append(b, name...)
	b = append(b, '=')
	b = append(b, value...)
	b = append(b, "; Expires="...)
	b = now.Add(d).UTC().AppendFormat(b, http.TimeFormat)
	return append(b, "; Path=/\r\n"...)
}
