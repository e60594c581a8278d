// Package triggers delivers deployment-group trigger notifications.
//
// A notification is written to an outbox in the store in the same
// transaction as the deployment change that caused it (Enqueue), so a
// notification is never lost to a crash and never sent for a change that
// did not commit. A Dispatcher then hands each one to its target: an SNS
// topic (through an in-process Publisher, which stores it durably in turn)
// or, as a cutover extension, a plain http(s) webhook URL. Notifications
// to one target leave in the order they were written; a target that fails
// is retried with backoff and holds back only its own later notifications.
package triggers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

const kindOutbox = "trigger-outbox"

// Notification is one trigger message waiting to be delivered.
type Notification struct {
	// Target is an SNS topic ARN or an http(s) URL.
	Target  string `json:"target"`
	Trigger string `json:"trigger"`
	// Ref is the deployment (or instance) the notification is about.
	Ref     string `json:"ref"`
	Event   string `json:"event"`
	Subject string `json:"subject"`
	// Message is the JSON body CodeDeploy sends for the event.
	Message string `json:"message"`

	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
}

// IsWebhook reports whether target is a webhook URL rather than an SNS
// topic ARN.
func IsWebhook(target string) bool {
	return strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://")
}

// Enqueue writes n to the outbox inside tx. A counter kept in the store
// numbers the notifications, so the outbox is in commit order whatever the
// clocks of the replicas that wrote it say.
func Enqueue(tx store.Tx, n Notification) error {
	var next int64
	rec, err := tx.Get(kindOutbox, counterKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = &store.Record{Kind: kindOutbox, Key: counterKey}
	case err != nil:
		return fmt.Errorf("reading the trigger counter: %w", err)
	default:
		if next, err = strconv.ParseInt(string(rec.Data), 10, 64); err != nil {
			return fmt.Errorf("decoding the trigger counter: %w", err)
		}
	}
	next++
	rec.Data = []byte(strconv.FormatInt(next, 10))
	if err := tx.Put(rec); err != nil {
		return fmt.Errorf("advancing the trigger counter: %w", err)
	}
	key := fmt.Sprintf("n-%020d", next)
	if err := store.PutJSON(tx, &store.Record{Kind: kindOutbox, Key: key}, n); err != nil {
		return fmt.Errorf("queueing trigger %s (%s): %w", n.Trigger, n.Event, err)
	}
	return nil
}

// counterKey sorts after every notification key ("n-..."), so a listing
// of the outbox meets it last.
const counterKey = "seq"

// Publisher publishes to an SNS topic. *sns.Service satisfies it.
type Publisher interface {
	Publish(ctx context.Context, topicARN, subject, message string) (messageID string, err error)
}

// Config configures a Dispatcher.
type Config struct {
	Store store.Store
	// Publisher receives notifications for SNS topics; nil fails them as
	// unreachable (and they are retried, then dropped).
	Publisher Publisher
	Client    *http.Client
	Clock     clock.Clock
	Log       *slog.Logger
	// Owner names this replica in the dispatcher's lease: one replica
	// delivers at a time, so a notification is not sent twice at once.
	Owner string
	// MaxAttempts bounds retries of one notification (default 10, which
	// with the backoff below spans about 17 minutes).
	MaxAttempts int
	// Poll is how often the outbox is read when nothing wakes the
	// dispatcher (default 1 s).
	Poll time.Duration
}

// Dispatcher delivers the outbox.
type Dispatcher struct {
	cfg  Config
	wake chan struct{}
	sent atomic.Int64
}

// NewDispatcher checks cfg.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Owner == "" {
		return nil, errors.New("triggers: a store and an owner are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Wake makes the dispatcher read the outbox now (the writer calls it after
// its transaction commits).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Sent is the number of notifications delivered since start.
func (d *Dispatcher) Sent() int64 { return d.sent.Load() }

const leaseName = "triggers/dispatcher"

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := d.cfg.Clock.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := d.cfg.Store.AcquireLease(ctx, leaseName, d.cfg.Owner, 15*time.Second); err == nil {
			if err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				d.cfg.Log.Error("delivering trigger notifications", "err", err)
			}
		} else if !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
			d.cfg.Log.Error("taking the trigger dispatcher lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-d.wake:
		}
	}
}

// batch bounds one pass over the outbox.
const batch = 200

// DeliverDue sends every notification that is due, in outbox order, one
// target at a time: once a target's notification fails or waits for its
// retry, that target's later notifications wait too.
func (d *Dispatcher) DeliverDue(ctx context.Context) error {
	var (
		items []*Notification
		recs  []*store.Record
	)
	err := d.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		items, recs, err = store.ListJSON[Notification](tx, kindOutbox, store.ListOptions{Prefix: "n-", Limit: batch})
		return err
	})
	if err != nil {
		return fmt.Errorf("triggers: reading the outbox: %w", err)
	}
	held := map[string]bool{}
	now := d.cfg.Clock.Now()
	for i, n := range items {
		if ctx.Err() != nil {
			return nil
		}
		if held[n.Target] {
			continue
		}
		if now.Before(n.NextAttempt) {
			held[n.Target] = true
			continue
		}
		err := d.deliver(ctx, n)
		if err == nil {
			d.sent.Add(1)
			if err := d.remove(ctx, recs[i]); err != nil {
				return err
			}
			continue
		}
		n.Attempts++
		n.LastError = err.Error()
		var perm permanent
		if errors.As(err, &perm) || n.Attempts >= d.cfg.MaxAttempts {
			d.cfg.Log.Warn("dropping trigger notification", "trigger", n.Trigger, "event", n.Event, "target", n.Target, "attempts", n.Attempts, "err", err)
			if err := d.remove(ctx, recs[i]); err != nil {
				return err
			}
			continue
		}
		held[n.Target] = true
		n.NextAttempt = now.Add(backoff(n.Attempts))
		d.cfg.Log.Info("trigger notification failed; will retry", "trigger", n.Trigger, "event", n.Event, "target", n.Target, "attempt", n.Attempts, "retry_at", n.NextAttempt, "err", err)
		if err := d.cfg.Store.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, recs[i], n) }); err != nil {
			return fmt.Errorf("triggers: scheduling a retry of %s: %w", recs[i].Key, err)
		}
	}
	return nil
}

// backoff doubles from one second up to five minutes.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts-1, 9)
	return min(d, 5*time.Minute)
}

func (d *Dispatcher) remove(ctx context.Context, rec *store.Record) error {
	err := d.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.Delete(kindOutbox, rec.Key, -1) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("triggers: removing %s from the outbox: %w", rec.Key, err)
	}
	return nil
}

// permanent marks a failure that retrying cannot fix (a topic that does
// not exist).
type permanent struct{ error }

func (d *Dispatcher) deliver(ctx context.Context, n *Notification) error {
	if IsWebhook(n.Target) {
		return d.post(ctx, n)
	}
	if d.cfg.Publisher == nil {
		return errors.New("no SNS service to publish to")
	}
	_, err := d.cfg.Publisher.Publish(ctx, n.Target, n.Subject, n.Message)
	if ae := awsproto.AsError(err); ae != nil && (ae.Code == "NotFound" || ae.Code == "InvalidParameter") {
		return permanent{err}
	}
	return err
}

// post sends a webhook: the same JSON message SNS subscribers get in
// their Message field, with the event and subject in headers.
func (d *Dispatcher) post(ctx context.Context, n *Notification) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.Target, bytes.NewReader([]byte(n.Message)))
	if err != nil {
		return permanent{fmt.Errorf("webhook URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cutover-triggers")
	req.Header.Set("X-Cutover-Event", n.Event)
	req.Header.Set("X-Cutover-Trigger", n.Trigger)
	req.Header.Set("X-Cutover-Subject", n.Subject)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to the webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}
