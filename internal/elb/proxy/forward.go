package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
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
)

var (
	copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
	readers  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	writers  = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// bconn is a connection to a target with its buffers.
type bconn struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	timeout time.Duration
	armed   time.Time // when the read deadline was last pushed out
	idleAt  time.Time
}

func newBconn(c net.Conn, timeout time.Duration) *bconn {
	b := &bconn{c: c, timeout: timeout}
	b.br = readers.Get().(*bufio.Reader)
	b.br.Reset(b)
	b.bw = writers.Get().(*bufio.Writer)
	b.bw.Reset(c)
	return b
}

// Read implements the target idle timeout: a read fails once the target
// has sent nothing for the timeout. Pushing the deadline out costs a timer
// update, so it is done only when the last push is more than an eighth of
// the timeout old; the effective timeout is thus between 7/8 and all of it.
func (b *bconn) Read(p []byte) (int, error) {
	now := time.Now()
	if now.Sub(b.armed) > b.timeout>>3 {
		b.armed = now
		b.c.SetReadDeadline(now.Add(b.timeout))
	}
	return b.c.Read(p)
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
}

func (cp *connPool) get(now time.Time) *bconn {
	cp.mu.Lock()
	for n := len(cp.idle); n > 0; n = len(cp.idle) {
		b := cp.idle[n-1]
		cp.idle[n-1] = nil
		cp.idle = cp.idle[:n-1]
		if now.Sub(b.idleAt) < poolIdleLimit {
			cp.mu.Unlock()
			return b
		}
		cp.mu.Unlock()
		b.close()
		cp.mu.Lock()
	}
	cp.mu.Unlock()
	return nil
}

func (cp *connPool) put(b *bconn, now time.Time) {
	cp.mu.Lock()
	if cp.closed || len(cp.idle) >= maxIdlePerTarget {
		cp.mu.Unlock()
		b.close()
		return
	}
	b.idleAt = now
	cp.idle = append(cp.idle, b)
	cp.mu.Unlock()
}

func (cp *connPool) closeAll() {
	cp.mu.Lock()
	cp.closed = true
	idle := cp.idle
	cp.idle = nil
	cp.mu.Unlock()
	for _, b := range idle {
		b.close()
	}
}

// forward sends the request to a target of the chosen group and streams
// the response back.
func (l *listener) forward(w http.ResponseWriter, r *http.Request, c *listenerConfig, f *forwardAction) {
	var tgCookie string
	if f.sticky > 0 {
		tgCookie = readCookie(r, "AWSALBTG")
	}
	fg, failOpen := f.pick(tgCookie)
	if fg == nil {
		c.stats.direct.Add(1)
		l.elbError(w, c, http.StatusServiceUnavailable)
		return
	}
	fg.stats.requests.Add(1)
	set := fg.g.set.Load()
	var tCookie string
	if set.sticky > 0 {
		tCookie = readCookie(r, "AWSALB")
	}
	t := set.pick(fg.g, failOpen, tCookie)
	if t == nil {
		l.elbError(w, c, http.StatusServiceUnavailable)
		return
	}
	t.inflight.Add(1)
	defer t.done()

	upgrade := upgradeType(r.Header)
	h := w.Header()
	bc, rh, rt, code := l.roundTrip(r, t, upgrade, h)
	if code != 0 {
		clear(h)
		l.elbError(w, c, code)
		return
	}
	fg.stats.countTarget(rh.code, rt)
	if rh.code == http.StatusSwitchingProtocols {
		l.upgrade(w, bc, &rh, t, c)
		return
	}
	body := rh.bodyReader(bc.br, r.Method)
	if f.sticky > 0 && len(f.groups) > 1 {
		h["Set-Cookie"] = append(h["Set-Cookie"], stickyCookie("AWSALBTG", fg.cookie, f.sticky, l.p.now()))
	}
	if set.sticky > 0 {
		h["Set-Cookie"] = append(h["Set-Cookie"], stickyCookie("AWSALB", t.cookie, set.sticky, l.p.now()))
	}
	w.WriteHeader(rh.code)
	complete, targetErr := copyBody(w, body, rh.contentLength < 0)
	if complete && !rh.close {
		t.pool.put(bc, time.Now())
	} else {
		bc.close()
	}
	if targetErr {
		// The status line is gone already; cutting the client connection is
		// the only way to tell it the response is incomplete.
		panic(http.ErrAbortHandler)
	}
}

// roundTrip writes the request to a connection to t and reads the response
// head. On failure it returns the ELB status to answer: 502 when the
// target refused or broke the connection, 504 when it timed out. A request
// without a body that fails on a reused connection is retried once on a
// new one, since the target may have closed the idle connection just as it
// was taken from the pool.
func (l *listener) roundTrip(r *http.Request, t *target, upgrade string, h http.Header) (*bconn, respHead, time.Duration, int) {
	p := l.p
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var bc *bconn
		if attempt == 0 {
			bc = t.pool.get(start)
		}
		reused := bc != nil
		if bc == nil {
			c, err := p.dialer.DialContext(r.Context(), "tcp", t.addr)
			if err != nil {
				p.log.Debug("target connect failed", "target", t.addr, "err", err)
				if isTimeout(err) {
					return nil, respHead{}, 0, http.StatusGatewayTimeout
				}
				return nil, respHead{}, 0, http.StatusBadGateway
			}
			bc = newBconn(c, p.targetTimeout)
		}
		err := writeRequest(bc.bw, r, l.portStr, upgrade)
		var rh respHead
		if err == nil {
			rh, err = readHead(bc.br, h)
		}
		if err == nil {
			return bc, rh, time.Since(start), 0
		}
		bc.close()
		clear(h)
		if reused && r.ContentLength == 0 && !isTimeout(err) && r.Context().Err() == nil {
			continue
		}
		p.log.Debug("target request failed", "target", t.addr, "err", err)
		if isTimeout(err) {
			return nil, respHead{}, 0, http.StatusGatewayTimeout
		}
		return nil, respHead{}, 0, http.StatusBadGateway
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeRequest writes the request head and body for the target, dropping
// hop-by-hop headers and adding ELB's X-Forwarded-* headers.
func writeRequest(bw *bufio.Writer, r *http.Request, port, upgrade string) error {
	uri := r.RequestURI
	if uri == "" || (uri[0] != '/' && uri != "*") {
		uri = r.URL.RequestURI()
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	var connTokens []string
	if cv := r.Header["Connection"]; len(cv) > 0 {
		connTokens = headerTokens(cv)
	}
	var xff []string
	for k, vs := range r.Header {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding",
			"Upgrade", "Content-Length", "Expect", "Host", "X-Forwarded-Proto", "X-Forwarded-Port":
			continue
		case "X-Forwarded-For":
			xff = vs
			continue
		}
		if connTokens != nil && hasToken(connTokens, k) {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("X-Forwarded-For: ")
	for _, v := range xff {
		bw.WriteString(v)
		bw.WriteString(", ")
	}
	bw.WriteString(clientIP(r.RemoteAddr))
	bw.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: ")
	bw.WriteString(port)
	bw.WriteString("\r\n")
	if upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(upgrade)
		bw.WriteString("\r\n")
	}
	switch {
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		if _, err := io.CopyN(bw, r.Body, r.ContentLength); err != nil {
			return err
		}
	case r.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		bp := copyBufs.Get().(*[]byte)
		_, err := io.CopyBuffer(cw, r.Body, *bp)
		copyBufs.Put(bp)
		if err != nil {
			return err
		}
		cw.Close()
		bw.WriteString("\r\n")
	default:
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
	}
	return bw.Flush()
}

// copyBody streams the response body to the client. complete is true when
// the body was read to its end; targetErr when the target failed mid-body.
// Bodies of unknown length are flushed as they come, so streams (server-sent
// events, long polls) are not held in the buffer.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) (complete, targetErr bool) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	fl, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false, false
			}
			if flush && fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			return true, false
		}
		if err != nil {
			return false, true
		}
	}
}

// upgrade completes a protocol switch (WebSocket): the client connection is
// taken from the HTTP server and bytes are copied both ways until each side
// has closed its half.
func (l *listener) upgrade(w http.ResponseWriter, bc *bconn, rh *respHead, t *target, c *listenerConfig) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		bc.c.Close()
		l.elbError(w, c, http.StatusBadGateway)
		return
	}
	cc, brw, err := hj.Hijack()
	if err != nil {
		bc.c.Close()
		return
	}
	defer cc.Close()
	defer bc.c.Close()
	c.stats.active.Add(1) // the server stops counting a hijacked connection
	defer c.stats.active.Add(-1)
	h := w.Header()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ")
	brw.WriteString(rh.upgrade)
	brw.WriteString("\r\n")
	h.Write(brw)
	brw.WriteString("\r\n")
	if brw.Flush() != nil {
		return
	}
	if !l.p.trackFlow(cc) {
		return
	}
	defer l.p.untrackFlow(cc)
	t.addFlow(cc)
	defer t.removeFlow(cc)
	t.addFlow(bc.c)
	defer t.removeFlow(bc.c)

	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(bc.c, brw.Reader)
		closeWrite(bc.c)
	}()
	io.Copy(cc, bc.br)
	closeWrite(cc)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// upgradeType returns the protocol a request asks to switch to, if any.
func upgradeType(h http.Header) string {
	cv := h["Connection"]
	if len(cv) == 0 {
		return ""
	}
	if !hasToken(headerTokens(cv), "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

func headerTokens(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

func hasToken(tokens []string, name string) bool {
	for _, t := range tokens {
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}

func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

func readCookie(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

func stickyCookie(name, value string, d time.Duration, now time.Time) string {
	return name + "=" + value + "; Expires=" + now.Add(d).UTC().Format(http.TimeFormat) + "; Path=/"
}
