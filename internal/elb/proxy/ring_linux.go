package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// See ring.go for what the ring loops do and why.

const ringEntries = 1024

// Operation kinds, the low byte of a request's user data. Every chain of
// linked operations ends in one that always completes (its "final" kind);
// the others report only failures, or a progress the loop needs.
const (
	opWake            = iota + 1 // the eventfd read: posted work
	opIgnore                     // completions nobody waits for (cancels)
	opClientSendFail             // a response could not be sent; opClientRecv is cancelled
	opClientRecv                 // final: bytes of the next request
	opClientSentNext             // final: a response went out, a pipelined request waits
	opClientSentLast             // final: the last response of a closing connection went out
	opTargetConnected            // the connect of a new target connection finished
	opTargetSendFail             // the request could not be sent; opTargetRecv is cancelled
	opTargetRecv                 // final: bytes of the response head
	opTargetBody                 // final: bytes of the response body
)

type ringPhase uint8

const (
	phaseIdle    ringPhase = iota // waiting for a request
	phaseForward                  // the request is on its way to the target, or its head back
	phaseStream                   // the response body is being relayed
	phaseClosing                  // the last response is going out
)

// ringClient is the ring state of a client connection.
type ringClient struct {
	lp       *ringLoop
	fd       int
	slot     uint32
	gen      uint32
	started  bool
	closed   bool
	busy     bool // a chain is in flight; the connection waits for its final completion
	phase    ringPhase
	deadline time.Time
	timedOut bool
	killed   bool

	// The request being forwarded.
	cfg         *listenerConfig
	f           *forwardAction
	fg          *fwdGroup
	set         *targetSet
	t           *target
	b           *ringBconn
	connecting  bool
	reused      bool
	retried     bool
	start       time.Time
	body        []byte // the request body, in the client buffer
	bodyLeft    int64  // of the response body, still to come
	chunked     bool   // the response body is chunked
	chunks      chunkScanner
	closeAfter  bool
	reuseTarget bool
}

// ringSet is the proxy's ring loops.
type ringSet struct {
	loops []*ringLoop
	next  atomic.Uint32
	// served counts the requests the loops answered themselves, handoffs
	// the connections they gave to goroutines.
	served, handoffs atomic.Uint64
}

// startRings starts n ring loops, or none when io_uring cannot be used.
func startRings(p *Proxy, n int) (*ringSet, error) {
	s := &ringSet{}
	for range max(n, 1) {
		lp, err := startRingLoop(p, s)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.loops = append(s.loops, lp)
	}
	return s, nil
}

// adopt gives a new client connection to a ring loop. The loop owns a
// duplicate of the socket, which Go's poller does not watch; false leaves
// the connection as it was.
func (s *ringSet) adopt(c *httpConn) bool {
	if s == nil {
		return false
	}
	fd := -1
	var derr error
	if err := c.rc.Control(func(sfd uintptr) {
		fd, derr = dupCloexec(int(sfd))
	}); err != nil || derr != nil {
		return false
	}
	lp := s.loops[s.next.Add(1)%uint32(len(s.loops))]
	rs := &ringClient{lp: lp, fd: fd}
	c.modeMu.Lock()
	nc := c.c
	c.c, c.tc, c.rc = nil, nil, nil
	c.rs = rs
	c.modeMu.Unlock()
	nc.Close()
	lp.post(func() { lp.start(c, rs) })
	return true
}

// stop ends the loops; their connections are closed already.
func (s *ringSet) stop() {
	if s == nil {
		return
	}
	for _, lp := range s.loops {
		lp.post(func() { lp.stopping = true })
	}
	for _, lp := range s.loops {
		<-lp.done
	}
}

func dupCloexec(fd int) (int, error) {
	nfd, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, os.NewSyscallError("fcntl", e)
	}
	return int(nfd), nil
}

// fdConn turns a socket the loop owned into a net.Conn of Go's poller. The
// fd is consumed either way.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	return nc, err
}

// ringLoop is one loop: a ring, its thread, the connections it serves.
type ringLoop struct {
	p        *Proxy
	set      *ringSet
	r        *uring
	efd      int
	efdBuf   [8]byte
	mu       sync.Mutex
	posted   []func()
	work     []func()
	slots    []*httpConn
	gens     []uint32
	free     []uint32
	live     int
	stopping bool
	exited   bool // guarded by mu
	done     chan struct{}
	now      time.Time
	br       *bufio.Reader // parses response heads out of sr
	sr       sliceReader
}

func startRingLoop(p *Proxy, set *ringSet) (*ringLoop, error) {
	lp := &ringLoop{p: p, set: set, done: make(chan struct{}), br: bufio.NewReaderSize(nil, ringTargetBuf)}
	ready := make(chan error, 1)
	go lp.run(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return lp, nil
}

func (lp *ringLoop) run(ready chan<- error) {
	// The ring may only be entered from the thread that made it. The
	// thread is never unlocked, so it ends with the goroutine.
	runtime.LockOSThread()
	defer close(lp.done)
	r, err := newURing(ringEntries)
	if err != nil {
		ready <- err
		return
	}
	efd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if e != 0 {
		r.close()
		ready <- fmt.Errorf("%w: eventfd: %w", errNoRing, e)
		return
	}
	lp.r, lp.efd = r, int(efd)
	defer func() {
		// A late post must not write to the eventfd's number once it
		// may name another file.
		lp.mu.Lock()
		lp.exited = true
		lp.mu.Unlock()
		r.close()
		syscall.Close(lp.efd)
	}()
	ready <- nil
	lp.armWake()
	tick := lp.p.ringTick()
	lp.now = time.Now()
	next := lp.now.Add(tick)
	for !lp.stopping {
		if err := r.enter(1, max(next.Sub(lp.now), time.Millisecond)); err != nil {
			lp.p.log.Error("ring loop", "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		lp.now = time.Now()
		r.each(lp.complete)
		if !lp.now.Before(next) {
			lp.tick()
			next = lp.now.Add(tick)
		}
	}
	if lp.live > 0 {
		// Close ends every connection before the loops; this is a bug.
		lp.p.log.Error("ring loop stopped with connections open", "connections", lp.live)
	}
}

// ringTick is how often ring loops look for expired timeouts: an eighth of
// the shortest, within 10 ms and 250 ms.
func (p *Proxy) ringTick() time.Duration {
	d := min(p.idleTimeout, p.targetTimeout, p.connectTimeout) / 8
	return min(max(d, 10*time.Millisecond), 250*time.Millisecond)
}

// post runs f on the loop's thread.
func (lp *ringLoop) post(f func()) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.exited {
		return
	}
	lp.posted = append(lp.posted, f)
	if len(lp.posted) == 1 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		syscall.Write(lp.efd, one[:])
	}
}

func (lp *ringLoop) armWake() {
	s := lp.r.sqe()
	s.opcode = uringOpRead
	s.fd = int32(lp.efd)
	s.addr = uint64(uintptr(unsafe.Pointer(&lp.efdBuf[0])))
	s.len = 8
	s.userData = opWake
}

func (lp *ringLoop) runPosted() {
	lp.mu.Lock()
	lp.work, lp.posted = lp.posted, lp.work[:0]
	lp.mu.Unlock()
	for i, f := range lp.work {
		f()
		lp.work[i] = nil
	}
}

func (lp *ringLoop) ud(rs *ringClient, op uint64) uint64 {
	return uint64(rs.slot)<<32 | uint64(rs.gen&0xffffff)<<8 | op
}

func (lp *ringLoop) complete(ud uint64, res int32) {
	op := ud & 0xff
	switch op {
	case opWake:
		lp.runPosted()
		lp.armWake()
		return
	case opIgnore:
		return
	}
	slot := uint32(ud >> 32)
	if int(slot) >= len(lp.slots) || lp.gens[slot]&0xffffff != uint32(ud>>8)&0xffffff || lp.slots[slot] == nil {
		return
	}
	c := lp.slots[slot]
	rs := c.rs
	switch op {
	case opClientSendFail:
	case opClientRecv:
		rs.busy = false
		lp.clientRecv(c, rs, res)
	case opClientSentNext:
		rs.busy = false
		if res < 0 || int(res) != len(c.out) || rs.killed {
			lp.close(c, rs)
			return
		}
		c.releaseOut()
		lp.nextRequest(c, rs)
	case opClientSentLast:
		rs.busy = false
		lp.close(c, rs)
	case opTargetConnected:
		if res >= 0 {
			rs.connecting = false
			rs.deadline = lp.now.Add(lp.p.targetTimeout)
		}
	case opTargetSendFail:
	case opTargetRecv:
		rs.busy = false
		lp.targetHead(c, rs, res)
	case opTargetBody:
		rs.busy = false
		lp.targetBody(c, rs, res)
	}
}

// start begins serving an adopted connection.
func (lp *ringLoop) start(c *httpConn, rs *ringClient) {
	if n := len(lp.free); n > 0 {
		rs.slot = lp.free[n-1]
		lp.free = lp.free[:n-1]
	} else {
		rs.slot = uint32(len(lp.slots))
		lp.slots = append(lp.slots, nil)
		lp.gens = append(lp.gens, 0)
	}
	lp.gens[rs.slot]++
	rs.gen = lp.gens[rs.slot]
	lp.slots[rs.slot] = c
	lp.live++
	rs.started = true
	if rs.killed || lp.stopping || c.l.draining.Load() {
		lp.close(c, rs)
		return
	}
	lp.armClientRecv(c, rs, false)
}

// armClientRecv waits for more of the next request, after sending c.out
// first when send is set. The idle timeout runs from here: a client that
// neither reads its response nor sends for that long is idle too.
func (lp *ringLoop) armClientRecv(c *httpConn, rs *ringClient, send bool) {
	rs.phase, rs.busy = phaseIdle, true
	rs.deadline = lp.now.Add(lp.p.idleTimeout)
	if send {
		lp.r.send(rs.fd, c.out, sqeIOLink|sqeCQESkipSuccess, lp.ud(rs, opClientSendFail))
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	// After a response, poll first: the next request answers it.
	lp.r.recv(rs.fd, c.rbuf[c.w:], send, lp.ud(rs, opClientRecv))
}

// sendClient sends c.out on its own; op (opClientSentNext or
// opClientSentLast) says what follows.
func (lp *ringLoop) sendClient(c *httpConn, rs *ringClient, op uint64) {
	rs.busy = true
	lp.r.send(rs.fd, c.out, 0, lp.ud(rs, op))
}

func (lp *ringLoop) clientRecv(c *httpConn, rs *ringClient, res int32) {
	c.releaseOut() // sent, or never to be
	if rs.killed || res <= 0 {
		lp.close(c, rs)
		return
	}
	c.w += int(res)
	lp.nextRequest(c, rs)
}

// nextRequest parses the next request from the client buffer and answers
// it, or waits for more of it.
func (lp *ringLoop) nextRequest(c *httpConn, rs *ringClient) {
	l := c.l
	buf := c.rbuf[c.r:c.w]
	n := headEnd(buf, 0)
	if n < 0 {
		if c.w < len(c.rbuf) {
			lp.armClientRecv(c, rs, false)
			return
		}
		if c.r > 0 {
			copy(c.rbuf, buf)
			c.r, c.w = 0, len(buf)
			lp.armClientRecv(c, rs, false)
			return
		}
		// A head larger than the buffer: the goroutine grows it.
		lp.handoff(c, rs, nil)
		return
	}
	hn, err := parseRequestHead(buf[:n], &c.req)
	if err != nil {
		// The goroutine parses it again and answers the error.
		lp.handoff(c, rs, nil)
		return
	}
	c.r += hn
	req := &c.req
	// A body goes along only when it came whole with the head (small
	// ones: the client buffer holds 4 KiB).
	if req.minor != 1 || req.chunked || req.contentLength > int64(c.w-c.r) || req.upgrade != nil || req.expectContinue {
		lp.handoff(c, rs, func() bool { return l.handle(c) })
		return
	}
	c.acquireOut()
	cfg, ru := l.route(c)
	if ru == nil || ru.fwd == nil {
		lp.respond(c, rs, l.answer(c, cfg, ru))
		return
	}
	f := ru.fwd
	fg, set, t, failed := l.choose(c, cfg, f)
	if failed {
		lp.respond(c, rs, c.writeELBError(cfg, http.StatusServiceUnavailable, false))
		return
	}
	if !t.ip.IsValid() {
		// A target known by name: the dialer resolves it.
		lp.handoff(c, rs, func() bool { return l.exchange(c, cfg, f, fg, set, t) })
		return
	}
	t.inflight.Add(1)
	rs.cfg, rs.f, rs.fg, rs.set, rs.t = cfg, f, fg, set, t
	rs.retried = false
	rs.body = nil
	if req.contentLength > 0 {
		// Safe in the buffer: the client is read again only after the
		// response.
		rs.body = c.rbuf[c.r : c.r+int(req.contentLength)]
		c.r += int(req.contentLength)
	}
	lp.sendRequest(c, rs, false)
}

// sendRequest sends the request head on a pooled connection to rs.t, or a
// new one, and waits for the response.
func (lp *ringLoop) sendRequest(c *httpConn, rs *ringClient, fresh bool) {
	var b *ringBconn
	if !fresh {
		b = rs.t.pool.getRing(lp.now)
	}
	rs.reused = b != nil
	rs.connecting = false
	if b == nil {
		var err error
		if b, err = dialRing(rs.t); err != nil {
			lp.p.log.Debug("target connect failed", "target", rs.t.addr, "err", err)
			lp.failForward(c, rs, http.StatusBadGateway)
			return
		}
		rs.connecting = true
	}
	rs.b = b
	b.out = append(c.l.appendRequestHead(b.out[:0], c), rs.body...)
	b.n = 0
	rs.start = lp.now
	rs.phase, rs.busy, rs.timedOut = phaseForward, true, false
	if rs.connecting {
		rs.deadline = lp.now.Add(lp.p.connectTimeout)
		s := lp.r.sqe()
		s.opcode = uringOpConnect
		s.flags = sqeIOLink
		s.fd = int32(b.fd)
		s.addr = uint64(uintptr(unsafe.Pointer(&b.sa[0])))
		s.off = uint64(b.saLen)
		s.userData = lp.ud(rs, opTargetConnected)
	} else {
		rs.deadline = lp.now.Add(lp.p.targetTimeout)
	}
	lp.r.send(b.fd, b.out, sqeIOLink|sqeCQESkipSuccess, lp.ud(rs, opTargetSendFail))
	lp.recvTarget(rs, b.buf[b.n:], opTargetRecv, true)
}

func (lp *ringLoop) recvTarget(rs *ringClient, p []byte, op uint64, pollFirst bool) {
	rs.busy = true
	lp.r.recv(rs.b.fd, p, pollFirst, lp.ud(rs, op))
}

// targetHead takes bytes of the response head.
func (lp *ringLoop) targetHead(c *httpConn, rs *ringClient, res int32) {
	b := rs.b
	if rs.killed {
		lp.close(c, rs)
		return
	}
	if res <= 0 {
		switch {
		case rs.timedOut:
			lp.failForward(c, rs, http.StatusGatewayTimeout)
		case rs.reused && !rs.retried && b.n == 0 && rs.body == nil:
			// The target may have closed the idle connection just as it
			// was taken from the pool: once more on a new one (as the
			// goroutine path does, only for a request without a body).
			b.close()
			rs.b = nil
			rs.retried = true
			lp.sendRequest(c, rs, true)
		default:
			lp.p.log.Debug("target request failed", "target", rs.t.addr, "err", syscall.Errno(-res))
			lp.failForward(c, rs, http.StatusBadGateway)
		}
		return
	}
	b.n += int(res)
	rs.deadline = lp.now.Add(lp.p.targetTimeout)
	n := headEnd(b.buf[:b.n], 0)
	if n < 0 {
		if b.n == len(b.buf) {
			lp.handoffResponse(c, rs)
			return
		}
		lp.recvTarget(rs, b.buf[b.n:], opTargetRecv, false)
		return
	}
	lp.sr.b = b.buf[:n]
	lp.br.Reset(&lp.sr)
	var rh respHead
	var err error
	c.out, rh, err = readOneHead(lp.br, c.out[:0])
	hasBody := rh.hasBody(c.req.isHead())
	rs.chunked = hasBody && rh.chunked
	if err != nil || rh.code < 200 || (hasBody && rh.contentLength < 0 && !rs.chunked) {
		// Interim responses, bodies that run to the close, broken heads:
		// the goroutine path reads it all again.
		c.out = c.out[:0]
		lp.handoffResponse(c, rs)
		return
	}
	rs.fg.stats.countTarget(rh.code, lp.now.Sub(rs.start))
	_, rs.closeAfter, _ = c.l.finishHead(c, rs.f, rs.fg, rs.set, rs.t, &rh)
	rs.reuseTarget = !rh.close
	body := b.buf[n:b.n]
	if rs.chunked {
		rs.chunks = chunkScanner{line: rs.chunks.line[:0]}
		lp.relayChunks(c, body, rs, c.out)
		return
	}
	var left int64
	if hasBody {
		left = rh.contentLength
	}
	if int64(len(body)) > left {
		// More than the response: the connection cannot be trusted.
		rs.reuseTarget = false
		body = body[:left]
	}
	c.out = append(c.out, body...)
	rs.bodyLeft = left - int64(len(body))
	if rs.bodyLeft == 0 {
		lp.finish(c, rs)
		return
	}
	lp.relay(c, rs)
}

// relay sends what c.out holds of the response and reads the next part of
// its body: straight into c.out when its length is known, into the target
// buffer for relayChunks when it is chunked.
func (lp *ringLoop) relay(c *httpConn, rs *ringClient) {
	rs.phase = phaseStream
	if len(c.out) > 0 {
		lp.r.send(rs.fd, c.out, sqeIOLink|sqeCQESkipSuccess, lp.ud(rs, opIgnore))
	}
	if rs.chunked {
		lp.recvTarget(rs, rs.b.buf, opTargetBody, false)
		return
	}
	c.out = c.out[:cap(c.out)]
	lp.recvTarget(rs, c.out[:min(int64(len(c.out)), rs.bodyLeft)], opTargetBody, false)
}

// relayChunks decodes p, the next bytes of a chunked body, appends them
// to out (what c.out keeps of the response yet to send) and relays them;
// the body's end ends the exchange.
func (lp *ringLoop) relayChunks(c *httpConn, p []byte, rs *ringClient, out []byte) {
	var used int
	var done bool
	var err error
	c.out, used, done, err = rs.chunks.scan(out, p)
	switch {
	case err != nil:
		// The status line is gone: cutting the connection is all that is
		// left.
		lp.p.log.Debug("target response failed", "target", rs.t.addr, "err", err)
		lp.close(c, rs)
	case done:
		if used < len(p) {
			rs.reuseTarget = false // more than the response
		}
		lp.finish(c, rs)
	default:
		lp.relay(c, rs)
	}
}

func (lp *ringLoop) targetBody(c *httpConn, rs *ringClient, res int32) {
	if res == 0 && rs.chunked && !rs.killed {
		if out, ok := rs.chunks.eof(c.out[:0]); ok {
			c.out = out
			rs.reuseTarget = false
			lp.finish(c, rs)
			return
		}
	}
	if rs.killed || res <= 0 {
		// The client went away, or the target stopped early: the status
		// line is gone, so cutting the connection is all that is left.
		lp.close(c, rs)
		return
	}
	rs.deadline = lp.now.Add(lp.p.targetTimeout)
	if rs.chunked {
		lp.relayChunks(c, rs.b.buf[:res], rs, c.out[:0])
		return
	}
	c.out = c.out[:res]
	rs.bodyLeft -= int64(res)
	if rs.bodyLeft > 0 {
		lp.relay(c, rs)
		return
	}
	lp.finish(c, rs)
}

// finish ends an exchange whose whole response is read: the target
// connection goes back to the pool and the rest of the response out.
func (lp *ringLoop) finish(c *httpConn, rs *ringClient) {
	lp.endExchange(rs, true)
	lp.respond(c, rs, !rs.closeAfter)
}

// endExchange gives the target connection back to the pool, or closes it,
// and ends the request's count on the target.
func (lp *ringLoop) endExchange(rs *ringClient, complete bool) {
	if b := rs.b; b != nil {
		if complete && rs.reuseTarget {
			rs.t.pool.putRing(b, lp.now)
		} else {
			b.close()
		}
		rs.b = nil
	}
	if rs.t != nil {
		rs.t.done()
	}
	rs.cfg, rs.f, rs.fg, rs.set, rs.t, rs.body = nil, nil, nil, nil, nil, nil
}

// failForward answers a request the target did not answer.
func (lp *ringLoop) failForward(c *httpConn, rs *ringClient, code int) {
	cfg := rs.cfg
	c.out = c.out[:0]
	lp.endExchange(rs, false)
	lp.respond(c, rs, c.l.forwardFailed(c, cfg, code))
}

// respond sends the response in c.out; keep tells whether the connection
// stays open for another request.
func (lp *ringLoop) respond(c *httpConn, rs *ringClient, keep bool) {
	lp.set.served.Add(1)
	switch {
	case rs.killed:
		lp.close(c, rs)
	case !keep:
		rs.phase = phaseClosing
		lp.sendClient(c, rs, opClientSentLast)
	case c.r < c.w:
		// A pipelined request is waiting: answer it once this is sent.
		lp.sendClient(c, rs, opClientSentNext)
	default:
		lp.armClientRecv(c, rs, true)
	}
}

// handoffResponse hands the connection and its target connection, with
// the response bytes read so far, to a goroutine that reads the response.
func (lp *ringLoop) handoffResponse(c *httpConn, rs *ringClient) {
	b := rs.b
	rs.b = nil
	pre := append([]byte(nil), b.buf[:b.n]...)
	nc, err := fdConn(b.fd)
	b.fd = -1
	if err != nil {
		lp.p.log.Warn("handing a target connection over failed", "err", err)
		lp.failForward(c, rs, http.StatusBadGateway)
		return
	}
	bc := newBconn(nc, lp.p.targetTimeout)
	bc.pre = pre
	cfg, f, fg, set, t, start := rs.cfg, rs.f, rs.fg, rs.set, rs.t, rs.start
	rs.cfg, rs.f, rs.fg, rs.set, rs.t = nil, nil, nil, nil, nil
	if !lp.handoff(c, rs, func() bool { return c.l.resume(c, cfg, f, fg, set, t, bc, start) }) {
		bc.close()
		t.done()
	}
}

// handoff gives the connection to a goroutine of server.go, which answers
// first (when set) and serves it from then on. When that fails the
// connection is closed and first never runs.
func (lp *ringLoop) handoff(c *httpConn, rs *ringClient, first func() bool) bool {
	nc, err := fdConn(rs.fd)
	rs.fd = -1
	if err != nil {
		lp.p.log.Warn("handing a client connection over failed", "err", err)
		lp.close(c, rs)
		return false
	}
	lp.release(rs)
	lp.set.handoffs.Add(1)
	c.releaseOut()
	c.modeMu.Lock()
	c.setConn(nc)
	c.rs = nil
	killed := rs.killed
	c.modeMu.Unlock()
	if killed {
		nc.Close()
	}
	go c.run(first)
	return true
}

// close ends a connection with no chain in flight, and the exchange it
// was in, if any, as incomplete.
func (lp *ringLoop) close(c *httpConn, rs *ringClient) {
	if rs.t != nil {
		lp.endExchange(rs, false)
	}
	if rs.fd >= 0 {
		syscall.Close(rs.fd)
		rs.fd = -1
	}
	rs.closed = true
	lp.release(rs)
	c.st.active.Add(-1)
	c.releaseOut()
	if c.rbp != nil {
		c.releaseReadBuf()
	}
	c.l.untrack(c)
}

// release frees the connection's slot.
func (lp *ringLoop) release(rs *ringClient) {
	lp.slots[rs.slot] = nil
	lp.free = append(lp.free, rs.slot)
	lp.live--
}

// kill closes the connection soon, from any goroutine; c.modeMu is held.
func (rs *ringClient) kill(c *httpConn) {
	rs.lp.post(func() {
		if c.rs != rs {
			c.kill() // handed over meanwhile
			return
		}
		if rs.closed || rs.killed {
			return
		}
		rs.killed = true
		if rs.started {
			rs.lp.interrupt(rs)
		}
	})
}

// wakeIdle closes the connection if it waits for a request, for a draining
// listener; c.modeMu is held.
func (rs *ringClient) wakeIdle(c *httpConn) {
	rs.lp.post(func() {
		if c.rs != rs {
			c.wakeIdle()
			return
		}
		if rs.started && !rs.closed && rs.phase == phaseIdle && c.r == c.w {
			// Only the read side: a response still going out finishes,
			// then the read ends the connection.
			syscall.Shutdown(rs.fd, syscall.SHUT_RD)
		}
	})
}

// interrupt makes the connection's chain end now.
func (lp *ringLoop) interrupt(rs *ringClient) {
	if !rs.busy {
		return
	}
	syscall.Shutdown(rs.fd, syscall.SHUT_RDWR)
	if rs.b == nil {
		return
	}
	if rs.connecting {
		// shutdown does not end a connect; a cancel does.
		lp.r.cancel(lp.ud(rs, opTargetConnected), opIgnore)
		return
	}
	syscall.Shutdown(rs.b.fd, syscall.SHUT_RDWR)
}

// tick ends the chains whose time is up: idle clients are closed, targets
// that keep the client waiting get it a 504.
func (lp *ringLoop) tick() {
	for _, c := range lp.slots {
		if c == nil {
			continue
		}
		rs := c.rs
		if !rs.busy || lp.now.Before(rs.deadline) {
			continue
		}
		rs.deadline = lp.now.Add(time.Hour)
		switch rs.phase {
		case phaseIdle:
			syscall.Shutdown(rs.fd, syscall.SHUT_RDWR)
		case phaseForward, phaseStream:
			rs.timedOut = true
			if rs.connecting {
				lp.r.cancel(lp.ud(rs, opTargetConnected), opIgnore)
			} else if rs.b != nil {
				syscall.Shutdown(rs.b.fd, syscall.SHUT_RDWR)
			}
		}
	}
}

// dialRing makes a non-blocking socket for a connection to t; the loop
// connects it.
func dialRing(t *target) (*ringBconn, error) {
	b := &ringBconn{buf: make([]byte, ringTargetBuf)}
	addr := t.ip.Addr().Unmap()
	family := syscall.AF_INET6
	if addr.Is4() {
		family = syscall.AF_INET
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	b.fd = fd
	// As net.Dialer does: no Nagle delay, and keep-alive probes after
	// 30 s idle, as the proxy's dialer is set.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 30)
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 30)
	port := t.ip.Port()
	binary.NativeEndian.PutUint16(b.sa[0:], uint16(family))
	binary.BigEndian.PutUint16(b.sa[2:], port)
	if family == syscall.AF_INET {
		a := addr.As4()
		copy(b.sa[4:8], a[:])
		b.saLen = 16
	} else {
		a := addr.As16()
		copy(b.sa[8:24], a[:])
		b.saLen = 28
	}
	return b, nil
}

func (b *ringBconn) close() {
	if b.fd >= 0 {
		syscall.Close(b.fd)
		b.fd = -1
	}
}

// sliceReader reads a response head for bufio without copying it first.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("response head ended early")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// ringCounts reports what the ring loops did, for tests.
func (p *Proxy) ringCounts() (served, handoffs uint64, ok bool) {
	if p.rings == nil {
		return 0, 0, false
	}
	return p.rings.served.Load(), p.rings.handoffs.Load(), true
}
