package proxy

import (
	"errors"
	"io"
	"net"
	"time"
)

// serveTCP accepts flows for a network load balancer listener.
func (l *listener) serveTCP() {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http
			// does rather than spin.
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
		l.p.wg.Add(1)
		go func() {
			defer l.p.wg.Done()
			l.handleFlow(c)
		}()
	}
}

// handleFlow connects one client flow to a target chosen by group weight
// then round robin, and copies bytes both ways. When one side ends its
// stream, the other side's write half is closed, so half-closed protocols
// keep working; the flow ends when both directions are done.
func (l *listener) handleFlow(c net.Conn) {
	cfg := l.cfg.Load()
	st := cfg.stats
	st.newConns.Add(1)
	st.active.Add(1)
	defer st.active.Add(-1)
	defer c.Close()
	if !l.p.trackFlow(c) {
		return
	}
	defer l.p.untrackFlow(c)

	f := cfg.rules[0].fwd
	var bc net.Conn
	var t *target
	// A second attempt on another pick covers a target that died since its
	// last health check.
	for attempt := 0; attempt < 2 && bc == nil; attempt++ {
		fg, failOpen := f.pick(nil)
		if fg == nil {
			return
		}
		t = fg.g.set.Load().pick(fg.g, failOpen, nil)
		if t == nil {
			return
		}
		t.inflight.Add(1)
		d, err := l.p.dialer.DialContext(l.p.ctx, "tcp", t.addr)
		if err != nil {
			t.done()
			l.p.log.Debug("target connect failed", "target", t.addr, "err", err)
			continue
		}
		bc = d
	}
	if bc == nil {
		return
	}
	defer t.done()
	defer bc.Close()
	if !l.p.trackFlow(bc) {
		return
	}
	defer l.p.untrackFlow(bc)
	t.addFlow(c)
	defer t.removeFlow(c)
	t.addFlow(bc)
	defer t.removeFlow(bc)

	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(bc, c, st)
	}()
	pipe(c, bc, st)
	<-done
}

// pipe copies src to dst until src ends, then closes dst's write half. On
// an error (a reset) both connections are closed so the other direction
// stops too. Chunked io.CopyN keeps the splice(2) fast path of
// *net.TCPConn while letting ProcessedBytes advance during long flows.
func pipe(dst, src net.Conn, st *lbStats) {
	for {
		n, err := io.CopyN(dst, src, 256<<10)
		st.bytes.Add(uint64(n))
		if err == io.EOF {
			closeWrite(dst)
			return
		}
		if err != nil {
			dst.Close()
			src.Close()
			return
		}
	}
}
