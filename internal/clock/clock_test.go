package clock

import (
	"context"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeTimersFireInOrder(t *testing.T) {
	f := NewFake(t0)
	for _, tc := range []struct {
		name    string
		timers  []time.Duration
		advance time.Duration
		fired   []bool
	}{
		{"none due", []time.Duration{time.Minute}, 59 * time.Second, []bool{false}},
		{"exactly due", []time.Duration{time.Minute}, time.Minute, []bool{true}},
		{"some due", []time.Duration{time.Second, time.Hour}, time.Minute, []bool{true, false}},
		{"zero fires at once", []time.Duration{0}, 0, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := f.Now()
			var ts []Timer
			for _, d := range tc.timers {
				ts = append(ts, f.NewTimer(d))
			}
			f.Advance(tc.advance)
			for i, tm := range ts {
				select {
				case at := <-tm.C():
					if !tc.fired[i] {
						t.Errorf("timer %d fired", i)
					} else if want := start.Add(tc.timers[i]); !at.Equal(want) {
						t.Errorf("timer %d fired at %v, want %v", i, at, want)
					}
				default:
					if tc.fired[i] {
						t.Errorf("timer %d did not fire", i)
					}
				}
				tm.Stop()
			}
			if f.Waiters() != 0 {
				t.Errorf("%d waiters left", f.Waiters())
			}
		})
	}
}

func TestFakeTickerAndBlockUntil(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan time.Time, 10)
	go func() {
		tk := f.NewTicker(10 * time.Second)
		defer tk.Stop()
		for i := 0; i < 3; i++ {
			got <- <-tk.C()
		}
	}()
	for i := 1; i <= 3; i++ {
		if err := f.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		f.Advance(10 * time.Second)
		select {
		case at := <-got:
			if want := t0.Add(time.Duration(i) * 10 * time.Second); !at.Equal(want) {
				t.Errorf("tick %d at %v, want %v", i, at, want)
			}
		case <-ctx.Done():
			t.Fatal("no tick")
		}
	}
}

func TestScaled(t *testing.T) {
	c := Scaled(600) // a minute in 100ms
	start := c.Now()
	begin := time.Now()
	<-c.NewTimer(time.Minute).C()
	realElapsed := time.Since(begin)
	if realElapsed < 90*time.Millisecond || realElapsed > 2*time.Second {
		t.Errorf("a scaled minute took %v of real time", realElapsed)
	}
	if got := c.Now().Sub(start); got < time.Minute {
		t.Errorf("scaled clock advanced %v, want at least a minute", got)
	}
	a, b := c.Now(), c.Now()
	if b.Before(a) {
		t.Error("scaled clock went backwards")
	}
	tk := c.NewTicker(30 * time.Second)
	<-tk.C()
	<-tk.C()
	tk.Stop()
	if _, ok := Scaled(1).(Real); !ok {
		t.Error("Scaled(1) is not the real clock")
	}
}

// A scaled timer stopped before it fires leaves no goroutine behind.
func TestScaledTimerStopReleasesGoroutine(t *testing.T) {
	c := Scaled(10)
	before := runtime.NumGoroutine()
	for range 100 {
		tm := c.NewTimer(time.Hour)
		_ = tm.C()
		tm.Stop()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("%d goroutines left after stopping 100 timers (%d before)", n, before)
	}
}
