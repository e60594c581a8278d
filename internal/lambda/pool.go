package lambda

import (
	"context"
	"errors"
	"sync"
	"time"
)

// poolKey names the environments of one function version. $LATEST's
// revision is part of it, so that a changed $LATEST never reuses an
// environment started for the old code or configuration.
type poolKey struct {
	name, version, revision string
}

// pool holds the environments of one function version: idle ones are
// reused most recently used first (the warmest), new ones start up to
// the per-function limit, and further invocations wait their turn.
type pool struct {
	s   *Service
	key poolKey
	cfg funcConfig

	mu      sync.Mutex
	idle    []*environment
	count   int // idle, busy and starting
	waiters []chan struct{}
	closed  bool
	// live counts environments from the decision to start one until it
	// has been stopped, so that waiting on it outlasts busy ones too.
	live sync.WaitGroup
}

var errPoolClosed = errors.New("lambda: function version was changed or deleted")

// acquire returns an environment for one invocation.
func (p *pool) acquire(ctx context.Context) (*environment, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		if n := len(p.idle); n > 0 {
			e := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return e, nil
		}
		if p.count < p.s.maxEnv {
			p.count++
			p.live.Add(1)
			p.mu.Unlock()
			e, err := p.s.startEnvironment(ctx, &p.cfg)
			if err != nil {
				p.live.Done()
				p.mu.Lock()
				p.count--
				p.wakeLocked()
				p.mu.Unlock()
				return nil, err
			}
			return e, nil
		}
		ch := make(chan struct{}, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		select {
		case <-ch:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			p.dropWaiterLocked(ch)
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

func (p *pool) wakeLocked() {
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- struct{}{}
	}
}

// dropWaiterLocked removes a waiter that gave up; if it had been woken
// already, the wake-up passes on to the next waiter.
func (p *pool) dropWaiterLocked(ch chan struct{}) {
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
	p.wakeLocked()
}

// release takes an environment back after an invocation; one that must
// not serve again (timed out, crashed) is stopped.
func (p *pool) release(e *environment, reuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reuse && !p.closed {
		e.lastUsed = p.s.clock.Now()
		p.idle = append(p.idle, e)
	} else {
		p.count--
		p.stopLocked(e)
	}
	p.wakeLocked()
}

func (p *pool) stopLocked(e *environment) {
	go func() {
		defer p.live.Done()
		e.stop()
	}()
}

// close stops idle environments now and busy ones when they are released;
// waiting invocations are told the version is gone.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, e := range p.idle {
		p.count--
		p.stopLocked(e)
	}
	p.idle = nil
	for _, ch := range p.waiters {
		ch <- struct{}{}
	}
	p.waiters = nil
}

// wait blocks until every environment of the pool is gone.
func (p *pool) wait() { p.live.Wait() }

// reap stops environments idle since before cutoff.
func (p *pool) reap(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.idle[:0]
	for _, e := range p.idle {
		if e.lastUsed.After(cutoff) {
			keep = append(keep, e)
			continue
		}
		p.count--
		p.stopLocked(e)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
}

// size is the number of environments (idle, busy and starting).
func (p *pool) size() (total, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count, len(p.idle)
}

// poolFor returns the pool of a version's configuration, retiring pools
// of an older revision of the same version.
func (s *Service) poolFor(cfg *funcConfig) (*pool, error) {
	key := poolKey{cfg.Name, cfg.Version, cfg.RevisionID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if p := s.pools[key]; p != nil {
		return p, nil
	}
	for k, old := range s.pools {
		if k.name == key.name && k.version == key.version {
			delete(s.pools, k)
			s.retireLocked(old)
		}
	}
	p := &pool{s: s, key: key, cfg: *cfg}
	s.pools[key] = p
	return p, nil
}

var errClosed = errors.New("lambda: service closed")

// retireLocked closes a pool and lets Close wait for its environments
// (busy ones stop when their invocation ends).
func (s *Service) retireLocked(p *pool) {
	p.close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.wait()
	}()
}

// closePools retires the pools of a function (qualifier "") or of one of
// its versions.
func (s *Service) closePools(name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pools {
		if k.name == name && (version == "" || k.version == version) {
			delete(s.pools, k)
			s.retireLocked(p)
		}
	}
}

// reapLoop stops environments idle for longer than the idle timeout.
func (s *Service) reapLoop() {
	defer s.wg.Done()
	every := s.idle / 4
	if every < time.Second {
		every = time.Second
	}
	t := s.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C():
			s.mu.Lock()
			pools := make([]*pool, 0, len(s.pools))
			for _, p := range s.pools {
				pools = append(pools, p)
			}
			s.mu.Unlock()
			// A tick may stand for several (a receiver behind drops
			// ticks); the clock's own time is the one that counts.
			for _, p := range pools {
				p.reap(s.clock.Now().Add(-s.idle))
			}
		}
	}
}
