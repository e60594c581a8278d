package agentcmd

import "sync"

// hub wakes the long polls of a host in this process. A poll takes the
// host's channel before it looks at the store, so a command issued between
// the look and the wait still wakes it.
type hub struct {
	mu    sync.Mutex
	hosts map[string]*hubEntry
}

type hubEntry struct {
	ch      chan struct{} // closed by wake
	waiters int
}

func newHub() *hub { return &hub{hosts: map[string]*hubEntry{}} }

// watch returns a channel closed by the next wake of host, and a release
// the caller must call once it stops waiting on it.
func (h *hub) watch(host string) (<-chan struct{}, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.hosts[host]
	if e == nil {
		e = &hubEntry{ch: make(chan struct{})}
		h.hosts[host] = e
	}
	e.waiters++
	return e.ch, func() { h.release(host, e) }
}

func (h *hub) release(host string, e *hubEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.waiters--
	if e.waiters == 0 && h.hosts[host] == e {
		delete(h.hosts, host)
	}
}

// wake releases every poll of host waiting now; later watches get a new
// channel.
func (h *hub) wake(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.hosts[host]; e != nil {
		close(e.ch)
		delete(h.hosts, host)
	}
}
