package triggers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

// topics is an SNS stand-in: a topic named in down fails its next
// publishes (count), one in missing does not exist.
type topics struct {
	mu      sync.Mutex
	got     []string
	down    map[string]int
	missing map[string]bool
}

func (p *topics) Publish(ctx context.Context, topic, subject, message string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.missing[topic] {
		return "", awsproto.Errorf("NotFound", "Topic does not exist")
	}
	if p.down[topic] > 0 {
		p.down[topic]--
		return "", errors.New("unavailable")
	}
	p.got = append(p.got, topic+":"+message)
	return "id", nil
}

func setup(t *testing.T, pub Publisher) (store.Store, *clock.Fake, *Dispatcher) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), slog.New(slog.DiscardHandler), sqlite.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d, err := NewDispatcher(Config{Store: db, Publisher: pub, Clock: clk, Owner: "test", MaxAttempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	return db, clk, d
}

func enqueue(t *testing.T, db store.Store, target string, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := db.Update(context.Background(), func(tx store.Tx) error {
			return Enqueue(tx, Notification{Target: target, Trigger: "t", Ref: "d-1", Event: "DeploymentStart", Message: m})
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDispatcherRetriesInOrderPerTarget(t *testing.T) {
	ctx := context.Background()
	pub := &topics{down: map[string]int{"a": 2}, missing: map[string]bool{"gone": true}}
	db, clk, d := setup(t, pub)
	enqueue(t, db, "a", "a1", "a2")
	enqueue(t, db, "b", "b1")
	enqueue(t, db, "gone", "g1")
	enqueue(t, db, "b", "b2")

	steps := []struct {
		advance time.Duration
		want    string
	}{
		// a fails: a2 waits behind a1; b flows; the missing topic is dropped.
		{0, "b:b1 b:b2"},
		{500 * time.Millisecond, "b:b1 b:b2"},
		// First retry after 1 s fails again; the next waits 2 s more.
		{500 * time.Millisecond, "b:b1 b:b2"},
		{time.Second, "b:b1 b:b2"},
		{time.Second, "b:b1 b:b2 a:a1 a:a2"},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(pub.got, " "); got != s.want {
			t.Fatalf("step %d: delivered %q, want %q", i, got, s.want)
		}
	}
	if n := d.Sent(); n != 4 {
		t.Errorf("sent %d", n)
	}
}

func TestDispatcherGivesUp(t *testing.T) {
	ctx := context.Background()
	pub := &topics{down: map[string]int{"a": 100}}
	db, clk, d := setup(t, pub)
	enqueue(t, db, "a", "a1", "a2")
	for range 20 {
		if err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	// Four attempts each, then dropped: the outbox is empty.
	if pub.down["a"] != 100-8 {
		t.Errorf("attempts %d, want 8", 100-pub.down["a"])
	}
	var n int
	db.View(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.Count(kindOutbox, store.ListOptions{Prefix: "n-"})
		return err
	})
	if n != 0 {
		t.Errorf("%d notifications left", n)
	}
}

func TestWebhook(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	fail := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got = append(got, r.Method+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("X-Cutover-Event"))
	}))
	defer srv.Close()
	db, clk, d := setup(t, nil)
	enqueue(t, db, srv.URL+"/hook", `{"a":1}`)
	enqueue(t, db, "http://127.0.0.1:1/unreachable", `{}`)
	if err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "POST application/json DeploymentStart" {
		t.Errorf("webhook got %q", got)
	}
}

func TestIsWebhook(t *testing.T) {
	for target, want := range map[string]bool{
		"https://example.com/x": true, "http://127.0.0.1:9/": true,
		"arn:aws:sns:us-east-1:123456789012:t": false, "ftp://x": false,
	} {
		if IsWebhook(target) != want {
			t.Errorf("IsWebhook(%q) = %v", target, !want)
		}
	}
}
