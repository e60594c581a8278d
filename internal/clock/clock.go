// Package clock is the one source of time for cutover's logic. Waits go
// through a Clock so that the server can run with a compressed time scale
// (--time-scale N: a minute passes in 60/N seconds) and tests can run on a
// fake clock that only moves when told to.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer fires once after d of this clock's time.
	NewTimer(d time.Duration) Timer
	// NewTicker fires every d of this clock's time.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was
	// still pending.
	Stop() bool
}

// Ticker fires repeatedly until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// After is a convenience for a timer's channel when it need not be stopped.
func After(c Clock, d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// Scaled is a clock that runs factor times faster than the wall clock. It is
// anchored at creation: Now() is anchor + factor × (wall time elapsed since),
// so it is monotonic and starts at the real time, and durations of this
// clock's time map to durations of real time divided by factor. Scaled(60)
// makes a minute pass in one second.
func Scaled(factor float64) Clock {
	if factor <= 0 || factor == 1 {
		return Real{}
	}
	now := time.Now()
	return &scaled{factor: factor, anchor: now, start: now}
}

type scaled struct {
	factor float64
	anchor time.Time // the clock's time at start
	start  time.Time // the wall time at start (carries the monotonic reading)
}

func (s *scaled) Now() time.Time {
	elapsed := time.Since(s.start)
	return s.anchor.Add(time.Duration(float64(elapsed) * s.factor))
}

func (s *scaled) real(d time.Duration) time.Duration {
	r := time.Duration(float64(d) / s.factor)
	if d > 0 && r <= 0 {
		r = 1
	}
	return r
}

func (s *scaled) NewTimer(d time.Duration) Timer {
	return &scaledTimer{t: time.NewTimer(s.real(d)), s: s, stop: make(chan struct{})}
}

func (s *scaled) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return &scaledTicker{t: time.NewTicker(s.real(d)), s: s, c: make(chan time.Time, 1)}
}

// scaledTimer forwards the real timer's firing as this clock's time, so a
// receiver sees the same time Now would tell.
type scaledTimer struct {
	t    *time.Timer
	s    *scaled
	once sync.Once
	c    chan time.Time
	// stop ends the forwarding goroutine of a timer stopped before it
	// fired (its real channel then never sends).
	stop     chan struct{}
	stopOnce sync.Once
}

func (t *scaledTimer) C() <-chan time.Time {
	t.once.Do(func() {
		t.c = make(chan time.Time, 1)
		go func(rc <-chan time.Time) {
			select {
			case <-rc:
				t.c <- t.s.Now()
			case <-t.stop:
			}
		}(t.t.C)
	})
	return t.c
}

func (t *scaledTimer) Stop() bool {
	stopped := t.t.Stop()
	t.stopOnce.Do(func() { close(t.stop) })
	return stopped
}

type scaledTicker struct {
	t       *time.Ticker
	s       *scaled
	c       chan time.Time
	once    sync.Once
	stopped chan struct{}
	mu      sync.Mutex
}

func (t *scaledTicker) C() <-chan time.Time {
	t.once.Do(func() {
		t.mu.Lock()
		if t.stopped == nil {
			t.stopped = make(chan struct{})
		}
		stop := t.stopped
		t.mu.Unlock()
		go func() {
			for {
				select {
				case <-t.t.C:
					select {
					case t.c <- t.s.Now():
					default: // like time.Ticker, drop ticks for slow receivers
					}
				case <-stop:
					return
				}
			}
		}()
	})
	return t.c
}

func (t *scaledTicker) Stop() {
	t.t.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped == nil {
		t.stopped = make(chan struct{})
	}
	select {
	case <-t.stopped:
	default:
		close(t.stopped)
	}
}
