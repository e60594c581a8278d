package agentcmd

import (
	"testing"
	"time"
)

// TestStatuses: one call reports every issued command as Status would,
// leaves out ids never issued, and times out a command past its deadline
// (reporting it through Notify) exactly as Status does.
func TestStatuses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AckTimeout = time.Minute })
	a := cmd("d-ST0000001", hostA, "ApplicationStop")
	b := cmd("d-ST0000001", hostB, "ApplicationStop")
	queued := cmd("d-ST0000001", hostA, "DownloadBundle")
	for _, c := range []Command{a, b, queued} {
		e.issue(c)
	}
	got := e.as(keyB).pollNow(hostB)
	e.as(keyB).ok("PutHostCommandAcknowledgement", ack(got.HostCommandIdentifier, false), nil)

	tests := []struct {
		name    string
		advance time.Duration
		want    map[string]Status
	}{
		{"before the deadline", 0, map[string]Status{a.ID: StatusPending, b.ID: StatusInProgress, queued.ID: StatusPending}},
		// a was next for its host and never taken; b was acknowledged and
		// has its hour; queued waits behind a and becomes next.
		{"past the acknowledgement deadline", time.Minute, map[string]Status{a.ID: StatusTimedOut, b.ID: StatusInProgress, queued.ID: StatusPending}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clk.Advance(tc.advance)
			ids := []string{a.ID, b.ID, queued.ID, "d-ST0000001/nobody/ApplicationStop"}
			states, err := e.svc.Statuses(e.ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != len(tc.want) {
				t.Fatalf("got %d states, want %d: %+v", len(states), len(tc.want), states)
			}
			for id, want := range tc.want {
				if states[id].Status != want {
					t.Errorf("%s: %s, want %s", id, states[id].Status, want)
				}
				if one := e.status(Command{ID: id}); one.Status != states[id].Status || one.HostCommandIdentifier != states[id].HostCommandIdentifier {
					t.Errorf("%s: Status says %+v, Statuses %+v", id, one, states[id])
				}
			}
		})
	}
	if n := e.noticed(); len(n) == 0 {
		t.Error("the timed-out command was not reported through Notify")
	}
	if st, err := e.svc.Statuses(e.ctx, nil); err != nil || len(st) != 0 {
		t.Errorf("Statuses(nil) = %v, %v", st, err)
	}
}
