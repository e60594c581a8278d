package agentcmd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store/sqlite"
)

// TestLongPollReleasedByIssue: a waiting poll answers as soon as a command
// for its host is issued, without the clock moving.
func TestLongPollReleasedByIssue(t *testing.T) {
	e := newEnv(t)
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	start := time.Now()
	c := cmd("d-LP0000001", hostA, "ApplicationStop")
	e.issue(c)
	got := recv(t, done, "the woken poll")
	if got == nil || got.HostCommandIdentifier != HostCommandID(c.ID) {
		t.Fatalf("poll got %+v", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("poll took %v after Issue", d)
	}
	if !e.clk.Now().Equal(t0) {
		t.Fatal("the clock moved")
	}
}

// TestLongPollTimesOut: with nothing to do, the poll holds for LongPoll
// and then answers {}; a command for another host does not release it.
func TestLongPollTimesOut(t *testing.T) {
	e := newEnv(t)
	a := e.as(keyA)
	r := make(chan reply, 1)
	go func() { r <- a.raw(e.ctx, "PollHostCommand", []byte(`{"HostIdentifier":"`+hostA+`"}`)) }()
	e.waitPolling(1)
	e.issue(cmd("d-LP0000002", hostB, "ApplicationStop"))
	e.clk.Advance(e.cfg.LongPoll - time.Second)
	select {
	case got := <-r:
		t.Fatalf("poll answered before LongPoll: %d %s", got.status, got.body)
	case <-time.After(50 * time.Millisecond):
	}
	e.clk.Advance(time.Second)
	got := recv(t, r, "the poll's answer")
	if got.status != http.StatusOK || string(got.body) != "{}" {
		t.Fatalf("poll answered %d %s, want {}", got.status, got.body)
	}
}

// TestDefaultLongPoll: the default holds a poll 60 s, under the agent's 80 s.
func TestDefaultLongPoll(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LongPoll = 0 })
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	e.clk.Advance(59 * time.Second)
	select {
	case <-done:
		t.Fatal("answered before 60 s")
	case <-time.After(50 * time.Millisecond):
	}
	e.clk.Advance(time.Second)
	if got := recv(t, done, "the poll"); got != nil {
		t.Fatalf("got %+v", got)
	}
}

// TestCloseReleasesPolls: Close answers waiting polls at once.
func TestCloseReleasesPolls(t *testing.T) {
	e := newEnv(t)
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	e.svc.Close()
	if got := recv(t, done, "the released poll"); got != nil {
		t.Fatalf("got %+v", got)
	}
}

// TestOneCommandAtATime: the host's second command is delivered only after
// the first ended, in the order issued, and a poll waiting for it is
// released by the completion.
func TestOneCommandAtATime(t *testing.T) {
	e := newEnv(t)
	a := e.as(keyA)
	events := []string{"ApplicationStop", "DownloadBundle", "BeforeInstall"}
	for _, ev := range events {
		e.issue(cmd("d-ORD000001", hostA, ev))
	}
	first := a.pollNow(hostA)
	if first.CommandName != "ApplicationStop" {
		t.Fatalf("first = %s", first.CommandName)
	}
	// The agent polls while the command runs: nothing more for it.
	waiting := a.pollAsync(hostA)
	e.waitPolling(1)
	a.ok("PutHostCommandAcknowledgement", ack(first.HostCommandIdentifier, false), nil)
	select {
	case got := <-waiting:
		t.Fatalf("second command %+v delivered before the first completed", got)
	case <-time.After(50 * time.Millisecond):
	}
	a.ok("PutHostCommandComplete", complete(first.HostCommandIdentifier, "Succeeded", 0, "", "Succeeded: ", ""), nil)
	second := recv(t, waiting, "the second command")
	if second == nil || second.CommandName != "DownloadBundle" {
		t.Fatalf("second = %+v", second)
	}
	a.ok("PutHostCommandAcknowledgement", ack(second.HostCommandIdentifier, false), nil)
	a.ok("PutHostCommandComplete", complete(second.HostCommandIdentifier, "Failed", 4, "s.sh", "boom", ""), nil)
	if third := a.pollNow(hostA); third.CommandName != "BeforeInstall" {
		t.Fatalf("third = %+v", third)
	}
}

// TestDoubleComplete: AWS's agent reports a failure twice; the second,
// generic report is answered 200 and does not overwrite the first.
func TestDoubleComplete(t *testing.T) {
	e := newEnv(t)
	a := e.as(keyA)
	c := cmd("d-DBL000001", hostA, "AfterInstall")
	e.issue(c)
	hc := a.pollNow(hostA)
	a.ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), nil)
	const log = "LifecycleEvent - AfterInstall\nScript - scripts/fail.sh\n[stderr]some stderr\n[stdout]about to fail in AfterInstall\n"
	msg := "Script at specified location: scripts/fail.sh failed with exit code 3"
	a.ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Failed", 4, "scripts/fail.sh", msg, log), nil)
	first := e.status(c)
	e.clk.Advance(time.Second)
	r := a.call("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Failed", 5, "", msg, ""))
	if r.status != http.StatusOK || string(r.body) != "{}" {
		t.Fatalf("second complete: %d %s", r.status, r.body)
	}
	// Even a contradicting one is ignored.
	a.ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "", ""), nil)
	got := e.status(c)
	want := Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/fail.sh", Message: msg, LogTail: log}
	if got != first || got.Status != StatusFailed || got.Diagnostics != want {
		t.Fatalf("after repeats: %+v, want %+v", got, want)
	}
	// Ack after the end tells the agent not to run it.
	var st struct{ CommandStatus string }
	a.ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), &st)
	if st.CommandStatus != "Failed" {
		t.Fatalf("late ack answered %q", st.CommandStatus)
	}
	if n := e.noticed(); len(n) != 2 { // ack and the first complete
		t.Fatalf("notices %v", n)
	}
}

// TestAckTimeout: a command the agent does not acknowledge within
// AckTimeout of becoming next is timed out by Sweep, reported, and the
// host's next command becomes ready.
func TestAckTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AckTimeout = time.Minute })
	c1, c2 := cmd("d-TMO000001", hostA, "ApplicationStop"), cmd("d-TMO000001", hostA, "DownloadBundle")
	e.issue(c1)
	e.issue(c2)
	e.clk.Advance(59 * time.Second)
	if err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.status(c1); st.Status != StatusPending {
		t.Fatalf("timed out early: %+v", st)
	}
	e.clk.Advance(time.Second)
	if err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	st := e.status(c1)
	if st.Status != StatusTimedOut || st.Diagnostics.ErrorCode != "UnknownError" || !st.Ended.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after deadline: %+v", st)
	}
	if n := e.noticed(); !slices.Equal(n, []string{"d-TMO000001"}) {
		t.Fatalf("notices %v", n)
	}
	// The second is ready now and gets its own minute.
	hc := e.as(keyA).pollNow(hostA)
	if hc.CommandName != "DownloadBundle" {
		t.Fatalf("next = %+v", hc)
	}
	if st := e.status(c2); st.Status != StatusPending {
		t.Fatalf("second: %+v", st)
	}
}

// TestCompletionTimeout: an acknowledged command running past its Timeout
// reads as TimedOut (Status checks the deadline itself, Run or not); the
// agent's late report changes nothing, and a late ack is told Failed.
func TestCompletionTimeout(t *testing.T) {
	e := newEnv(t)
	a := e.as(keyA)
	c := cmd("d-TMO000002", hostA, "AfterInstall")
	c.Timeout = 10 * time.Minute
	e.issue(c)
	hc := a.pollNow(hostA)
	a.ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), nil)
	e.clk.Advance(10*time.Minute - time.Second)
	if st := e.status(c); st.Status != StatusInProgress {
		t.Fatalf("early: %+v", st)
	}
	e.clk.Advance(time.Second)
	st := e.status(c)
	if st.Status != StatusTimedOut || st.Diagnostics.Message == "" {
		t.Fatalf("after deadline: %+v", st)
	}
	a.ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "", ""), nil)
	if again := e.status(c); again != st {
		t.Fatalf("late complete changed %+v to %+v", st, again)
	}
	var out struct{ CommandStatus string }
	a.ok("PostHostCommandUpdate", map[string]any{"HostCommandIdentifier": hc.HostCommandIdentifier}, &out)
	if out.CommandStatus != "Failed" {
		t.Fatalf("update after timeout answered %q", out.CommandStatus)
	}
}

// TestOverdueNotDelivered: a poll does not hand out a command whose ack
// deadline passed before any sweep saw it.
func TestOverdueNotDelivered(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AckTimeout = time.Minute })
	c1, c2 := cmd("d-TMO000003", hostA, "ApplicationStop"), cmd("d-TMO000003", hostA, "DownloadBundle")
	e.issue(c1)
	e.issue(c2)
	e.clk.Advance(time.Minute)
	if hc := e.as(keyA).pollNow(hostA); hc.CommandName != "DownloadBundle" {
		t.Fatalf("got %+v", hc)
	}
	if st := e.status(c1); st.Status != StatusTimedOut {
		t.Fatalf("first: %+v", st)
	}
}

// TestCancel drops a stopped deployment's undelivered commands and leaves
// the one a host has taken running.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	a := e.as(keyA)
	taken, queued := cmd("d-STOP00001", hostA, "BeforeInstall"), cmd("d-STOP00001", hostA, "Install")
	readyB := cmd("d-STOP00001", hostB, "BeforeInstall")
	other := cmd("d-OTHER0001", hostB, "ApplicationStop")
	for _, c := range []Command{taken, queued, readyB, other} {
		e.issue(c)
	}
	hc := a.pollNow(hostA)
	if err := e.svc.Cancel(e.ctx, "d-STOP00001"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Command
		want Status
	}{{taken, StatusPending}, {queued, StatusCancelled}, {readyB, StatusCancelled}, {other, StatusPending}} {
		if st := e.status(tc.c); st.Status != tc.want {
			t.Errorf("%s: %s, want %s", tc.c.ID, st.Status, tc.want)
		}
	}
	// B's next is the other deployment's command.
	if got := e.as(keyB).pollNow(hostB); got.HostCommandIdentifier != HostCommandID(other.ID) {
		t.Fatalf("B got %+v", got)
	}
	// The taken command still runs to its end, and nothing follows it.
	a.ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), nil)
	a.ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "", ""), nil)
	if st := e.status(taken); st.Status != StatusSucceeded {
		t.Fatalf("taken: %+v", st)
	}
	done := a.pollAsync(hostA)
	e.waitPolling(1)
	e.clk.Advance(e.cfg.LongPoll)
	if got := recv(t, done, "A's poll"); got != nil {
		t.Fatalf("A got %+v after cancel", got)
	}
	// Issuing a cancelled id again does not revive it.
	e.issue(queued)
	if st := e.status(queued); st.Status != StatusCancelled {
		t.Fatalf("re-issued: %+v", st)
	}
}

// TestIssue: ids are idempotent, reusing one for something else is an
// error, and commands the agent could not run are refused.
func TestIssue(t *testing.T) {
	e := newEnv(t)
	c := cmd("d-ISS000001", hostA, "Install")
	e.issue(c)
	e.issue(c)
	hc := e.as(keyA).pollNow(hostA)
	if hc.Nonce != 1 {
		t.Fatalf("nonce %d", hc.Nonce)
	}
	e.as(keyA).ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), nil)
	e.as(keyA).ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "", ""), nil)
	e.issue(c) // a retried step after the end: still nothing new
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	e.clk.Advance(e.cfg.LongPoll)
	if got := recv(t, done, "poll"); got != nil {
		t.Fatalf("the retried Issue delivered %+v", got)
	}

	reused := c
	reused.HostIdentifier = hostB
	if err := e.svc.Issue(e.ctx, reused); !errors.Is(err, ErrIDReused) {
		t.Fatalf("reused id: %v", err)
	}

	for _, tc := range []struct {
		name string
		edit func(*Command)
	}{
		{"no id", func(c *Command) { c.ID = "" }},
		{"no deployment", func(c *Command) { c.DeploymentID = "" }},
		{"no host", func(c *Command) { c.HostIdentifier = "" }},
		{"service-side event", func(c *Command) { c.CommandName = "AllowTraffic" }},
		{"no application", func(c *Command) { c.Spec.ApplicationName = "" }},
		{"no group id", func(c *Command) { c.Spec.DeploymentGroupID = "" }},
		{"GitHub revision", func(c *Command) { c.Spec.Revision = Revision{RevisionType: "GitHub"} }},
		{"S3 without key", func(c *Command) { c.Spec.Revision.S3Revision.Key = "" }},
		{"S3 directory bundle", func(c *Command) { c.Spec.Revision.S3Revision.BundleType = "directory" }},
		{"local without location", func(c *Command) {
			c.Spec.Revision = Revision{RevisionType: RevisionLocalDirectory, LocalRevision: &LocalRevision{BundleType: "directory"}}
		}},
		{"bad deployment type", func(c *Command) { c.Spec.DeploymentType = "CANARY" }},
		{"bad file exists behavior", func(c *Command) { c.Spec.AgentActionOverrides.AgentOverrides.FileExistsBehavior = "MERGE" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cmd("d-ISS000002", hostA, "BeforeInstall")
			bad.ID = "bad/" + tc.name
			tc.edit(&bad)
			if err := e.svc.Issue(e.ctx, bad); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("Issue = %v, want ErrInvalidCommand", err)
			}
			if bad.ID != "" {
				if _, err := e.svc.Status(e.ctx, bad.ID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("refused command was stored: %v", err)
				}
			}
		})
	}
	local := cmd("d-ISS000003", hostB, "DownloadBundle")
	local.Spec.Revision = Revision{RevisionType: RevisionLocalFile, LocalRevision: &LocalRevision{Location: "/srv/b.tgz", BundleType: "tgz"}}
	e.issue(local)
}

// TestLastPoll: LastPoll tells when a host last polled, from this process
// at once and from the store after a restart.
func TestLastPoll(t *testing.T) {
	e := newEnv(t)
	if got, err := e.svc.LastPoll(e.ctx, hostA); err != nil || !got.IsZero() {
		t.Fatalf("never polled: %v %v", got, err)
	}
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	if got, _ := e.svc.LastPoll(e.ctx, hostA); !got.Equal(t0) {
		t.Fatalf("LastPoll = %v, want %v", got, t0)
	}
	e.clk.Advance(e.cfg.LongPoll)
	recv(t, done, "poll")
	// A poll within pollRecordEvery is seen here but not written.
	done = e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	if got, _ := e.svc.LastPoll(e.ctx, hostA); !got.Equal(t0.Add(e.cfg.LongPoll)) {
		t.Fatalf("LastPoll = %v", got)
	}
	e.clk.Advance(e.cfg.LongPoll)
	recv(t, done, "poll")
	e.restart()
	if got, _ := e.svc.LastPoll(e.ctx, hostA); !got.Equal(t0) {
		t.Fatalf("after restart LastPoll = %v, want the stored %v", got, t0)
	}
	if got, _ := e.svc.LastPoll(e.ctx, hostB); !got.IsZero() {
		t.Fatalf("B never polled: %v", got)
	}
}

// TestDurability: an issued command survives closing and reopening the
// SQLite file and the service, and so does the signing key.
func TestDurability(t *testing.T) {
	e := newEnv(t)
	c1, c2 := cmd("d-DUR000001", hostA, "ApplicationStop"), cmd("d-DUR000001", hostA, "DownloadBundle")
	e.issue(c1)
	e.issue(c2)
	hc := e.as(keyA).pollNow(hostA)
	e.as(keyA).ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, false), nil)
	cert := e.svc.Certificate().Raw
	e.restart()
	if !reflect.DeepEqual(e.svc.Certificate().Raw, cert) {
		t.Fatal("the signing certificate changed across a restart")
	}
	if st := e.status(c1); st.Status != StatusInProgress {
		t.Fatalf("after restart: %+v", st)
	}
	e.as(keyA).ok("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "", ""), nil)
	if next := e.as(keyA).pollNow(hostA); next.HostCommandIdentifier != HostCommandID(c2.ID) {
		t.Fatalf("after restart got %+v", next)
	}
}

// TestReplicas: two services on one store; a poll waiting on one replica
// gets a command issued through the other once the store re-check runs.
func TestReplicas(t *testing.T) {
	e := newEnv(t)
	db2, err := sqlite.Open(e.ctx, filepath.Join(e.dir, "cutover.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	other, err := New(Config{Store: db2, Clock: e.clk, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := e.as(keyA).pollAsync(hostA)
	e.waitPolling(1)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go e.svc.Run(ctx)
	e.waitPolling(2) // the poll's timer and Run's ticker
	c := cmd("d-REP000001", hostA, "ApplicationStop")
	if err := other.Issue(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		t.Fatalf("woken before the re-check: %+v", got)
	case <-time.After(50 * time.Millisecond):
	}
	e.clk.Advance(DefaultRecheck)
	got := recv(t, done, "the re-checked poll")
	if got == nil || got.HostCommandIdentifier != HostCommandID(c.ID) {
		t.Fatalf("got %+v", got)
	}
	if st, err := other.Status(e.ctx, c.ID); err != nil || st.Status != StatusPending || st.Started.IsZero() {
		t.Fatalf("status through the other replica: %+v %v", st, err)
	}
}
