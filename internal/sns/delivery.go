package sns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/store"
)

const (
	// attemptTimeout bounds one delivery attempt, on the service's clock.
	attemptTimeout = 15 * time.Second
	// claimTTL is how long a claimed delivery stays with its worker; a
	// worker that died leaves it due again after that. It is well above
	// attemptTimeout, so a live worker always finishes first.
	claimTTL = 2 * time.Minute
	// pollInterval bounds how late deliveries written by another replica
	// are noticed.
	pollInterval = 5 * time.Second
	sweepEvery   = 10 * time.Minute
	scanBatch    = 64
	userAgent    = "Amazon Simple Notification Service Agent"
)

type outcome int

const (
	delivered outcome = iota
	retrying
	dropped // a client-side error or the policy exhausted
	skipped // nobody to deliver to any more (unsubscribed, confirmed meanwhile)
)

func (o outcome) String() string {
	return [...]string{"delivered", "retrying", "dropped", "skipped"}[o]
}

// attemptEvent tells a test what became of an attempt.
type attemptEvent struct {
	DeliveryID string
	MessageID  string
	Endpoint   string
	Attempt    int
	Outcome    outcome
	Status     int
	Next       time.Time
}

// Run delivers accepted messages until ctx ends: a dispatcher claims due
// deliveries from the store and hands them to a bounded pool of workers.
func (s *Service) Run(ctx context.Context) error {
	jobs := make(chan *delivery)
	idle := make(chan struct{}, s.workers)
	for range s.workers {
		idle <- struct{}{}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[string]bool{}
	)
	for range s.workers {
		wg.Go(func() {
			for d := range jobs {
				s.attempt(ctx, d)
				mu.Lock()
				delete(inflight, d.ID)
				mu.Unlock()
				idle <- struct{}{}
				s.signal()
			}
		})
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	lastSweep := time.Time{}
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := s.now()
		if now.Sub(lastSweep) >= sweepEvery {
			if err := s.sweepSubscriptions(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sns: sweeping expired subscriptions", "err", err)
			}
			lastSweep = now
		}
		next, err := s.dispatch(ctx, now, jobs, idle, &mu, inflight)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sns: scanning deliveries", "err", err)
		}
		now = s.now()
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
		t := s.clk.NewTimer(max(wait, 0))
		// A clock that jumped past the deadline while the timer was being
		// set (a test's fake clock) would leave it waiting a whole wait
		// more: look again at once.
		if !s.now().Before(now.Add(wait)) {
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// dispatch claims due deliveries while workers are idle and returns when
// the next one not yet due is due (zero if none is known).
func (s *Service) dispatch(ctx context.Context, now time.Time, jobs chan<- *delivery, idle chan struct{}, mu *sync.Mutex, inflight map[string]bool) (time.Time, error) {
	var (
		recs []*store.Record
		ds   []*delivery
	)
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		ds, recs, err = store.ListJSON[delivery](tx, kindDelivery, store.ListOptions{Limit: scanBatch})
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	for i, d := range ds {
		if d.Due.After(now) {
			return d.Due, nil
		}
		mu.Lock()
		busy := inflight[d.ID]
		mu.Unlock()
		if busy {
			continue
		}
		select {
		case <-idle:
		default:
			return time.Time{}, nil // a finishing worker wakes the dispatcher
		}
		claimed, err := s.claim(ctx, recs[i], d, now)
		if err != nil || claimed == nil {
			idle <- struct{}{}
			if err != nil {
				return time.Time{}, err
			}
			continue // another replica took it
		}
		mu.Lock()
		inflight[d.ID] = true
		mu.Unlock()
		jobs <- claimed
	}
	return time.Time{}, nil
}

// claim takes a delivery for this process: it moves to the time its claim
// expires, marked with this owner. nil means someone else got it first.
func (s *Service) claim(ctx context.Context, rec *store.Record, d *delivery, now time.Time) (*delivery, error) {
	c := *d
	c.Owner = s.owner
	c.Attempts++
	c.Due = now.Add(claimTTL)
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(kindDelivery, rec.Key, rec.Version); err != nil {
			return err
		}
		return store.PutJSON(tx, &store.Record{Kind: kindDelivery, Key: deliveryKey(&c), Index: c.MessageID}, &c)
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claiming delivery %s: %w", d.ID, err)
	}
	return &c, nil
}

// finish ends a claimed delivery: retry at next, or (zero next) remove it
// and, with the last of its message's deliveries, the message. A claim
// that is no longer this worker's is left alone.
func (s *Service) finish(ctx context.Context, d *delivery, next time.Time) error {
	return s.settle(ctx, d, next, false)
}

// release gives back a claim whose attempt was cut short by shutdown, due
// at once and with the attempt uncounted, so that the next run need not
// wait for the claim to expire.
func (s *Service) release(d *delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.settle(ctx, d, s.now(), true); err != nil {
		s.log.Warn("sns: releasing delivery at shutdown; it is retried when its claim expires", "delivery", d.ID, "err", err)
	}
}

func (s *Service) settle(ctx context.Context, d *delivery, next time.Time, uncount bool) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		cur, rec, err := store.GetJSON[delivery](tx, kindDelivery, deliveryKey(d))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Owner != d.Owner || cur.Attempts != d.Attempts {
			return nil
		}
		if err := tx.Delete(kindDelivery, rec.Key, rec.Version); err != nil {
			return err
		}
		if !next.IsZero() {
			r := *cur
			r.Owner, r.Due = "", next
			if uncount {
				r.Attempts--
			}
			return store.PutJSON(tx, &store.Record{Kind: kindDelivery, Key: deliveryKey(&r), Index: r.MessageID}, &r)
		}
		left, err := tx.Count(kindDelivery, store.ListOptions{Index: d.MessageID})
		if err != nil {
			return err
		}
		if left == 0 {
			if err := tx.Delete(kindMessage, d.MessageID, -1); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// target is what an attempt needs besides the delivery.
type target struct {
	msg    *message
	sub    *subscription // nil for an UnsubscribeConfirmation
	topic  *topic        // nil once the topic is gone
	policy policy
}

// load reads the delivery's message, subscription and topic; nil means the
// delivery has nobody to go to any more.
func (s *Service) load(ctx context.Context, d *delivery) (*target, error) {
	var tg target
	err := s.db.View(ctx, func(tx store.Tx) error {
		m, _, err := store.GetJSON[message](tx, kindMessage, d.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sub, _, err := store.GetJSON[subscription](tx, kindSub, d.SubARN)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		switch m.Type {
		case typeNotification:
			if sub == nil || sub.State != stateConfirmed {
				return nil
			}
		case typeConfirmation:
			if sub == nil || sub.State != statePending {
				return nil
			}
		}
		t, _, err := store.GetJSON[topic](tx, kindTopic, m.TopicARN)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if t == nil && m.Type != typeUnsubscribed {
			return nil
		}
		tg.msg, tg.sub, tg.topic = m, sub, t
		return nil
	})
	if err != nil || tg.msg == nil {
		return nil, err
	}
	topicPolicy, subPolicy := "", ""
	if tg.topic != nil {
		topicPolicy = tg.topic.Attributes["DeliveryPolicy"]
	}
	if tg.sub != nil && tg.msg.Type == typeNotification {
		subPolicy = tg.sub.Attributes["DeliveryPolicy"]
	}
	p, err := effectivePolicy(topicPolicy, subPolicy)
	if err != nil {
		s.log.Warn("sns: stored delivery policy unreadable, using the default", "subscription", d.SubARN, "err", err)
	}
	tg.policy = p
	return &tg, nil
}

// wireMessage is the JSON body SNS posts, in SNS's field order; each
// message type leaves out the fields it does not carry.
type wireMessage struct {
	Type              string                   `json:"Type"`
	MessageID         string                   `json:"MessageId"`
	Token             string                   `json:"Token,omitempty"`
	TopicArn          string                   `json:"TopicArn"`
	Subject           string                   `json:"Subject,omitempty"`
	Message           string                   `json:"Message"`
	SubscribeURL      string                   `json:"SubscribeURL,omitempty"`
	Timestamp         string                   `json:"Timestamp"`
	SignatureVersion  string                   `json:"SignatureVersion"`
	Signature         string                   `json:"Signature"`
	SigningCertURL    string                   `json:"SigningCertURL"`
	UnsubscribeURL    string                   `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]wireAttribute `json:"MessageAttributes,omitempty"`
}

type wireAttribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

const timestampLayout = "2006-01-02T15:04:05.000Z"

// body builds what is posted for tg and the message type header.
func (s *Service) body(d *delivery, tg *target) ([]byte, error) {
	m := tg.msg
	text := m.Message
	if v, ok := m.PerProtocol[d.Protocol]; ok {
		text = v
	}
	if m.Type == typeNotification && tg.sub.Attributes["RawMessageDelivery"] == "true" {
		return []byte(text), nil
	}
	w := &wireMessage{Type: m.Type, MessageID: m.ID, TopicArn: m.TopicARN, Message: text,
		Timestamp: m.Timestamp.UTC().Format(timestampLayout), SigningCertURL: s.certURL()}
	if m.Type == typeNotification {
		w.Subject = m.Subject
		w.UnsubscribeURL = s.unsubscribeURL(d.SubARN)
		if len(m.Attributes) > 0 {
			w.MessageAttributes = map[string]wireAttribute{}
			for k, v := range m.Attributes {
				val := v.StringValue
				if val == nil {
					val = v.BinaryValue
				}
				if val != nil {
					w.MessageAttributes[k] = wireAttribute{Type: v.DataType, Value: *val}
				}
			}
		}
	} else {
		w.Token, w.SubscribeURL = m.Token, m.SubscribeURL
	}
	version := defaultSigVersion
	if tg.topic != nil && tg.topic.Attributes["SignatureVersion"] != "" {
		version = tg.topic.Attributes["SignatureVersion"]
	}
	if err := s.signer.sign(w, version); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encoding message %s: %w", m.ID, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// attempt makes one delivery attempt of a claimed delivery and records
// what follows from it.
func (s *Service) attempt(ctx context.Context, d *delivery) {
	ev := attemptEvent{DeliveryID: d.ID, MessageID: d.MessageID, Endpoint: d.Endpoint, Attempt: d.Attempts, Outcome: dropped}
	defer func() {
		if ctx.Err() == nil && s.attempted != nil {
			select {
			case s.attempted <- ev:
			case <-ctx.Done():
			}
		}
	}()
	tg, err := s.load(ctx, d)
	if ctx.Err() != nil {
		s.release(d)
		return
	}
	if err != nil {
		// Leave the claim: it expires and the delivery is tried again.
		s.log.Warn("sns: reading delivery", "delivery", d.ID, "err", err)
		return
	}
	if tg == nil {
		ev.Outcome = skipped
		if err := s.finish(ctx, d, time.Time{}); err != nil && ctx.Err() == nil {
			s.log.Warn("sns: ending delivery", "delivery", d.ID, "err", err)
		}
		return
	}
	status, err := s.post(ctx, d, tg)
	if ctx.Err() != nil {
		s.release(d)
		return
	}
	ev.Status = status
	var next time.Time
	switch {
	case err == nil && status >= 200 && status < 300:
		ev.Outcome = delivered
		s.log.Debug("sns: delivered", "message", d.MessageID, "type", tg.msg.Type, "endpoint", redactEndpoint(d.Endpoint), "attempt", d.Attempts)
	case err == nil && !retryable(status):
		s.log.Warn("sns: delivery refused by the endpoint; not retried", "message", d.MessageID,
			"endpoint", redactEndpoint(d.Endpoint), "status", status)
	default:
		delay, ok := tg.policy.Retry.delay(d.Attempts)
		if !ok {
			s.log.Warn("sns: delivery failed and its retry policy is exhausted", "message", d.MessageID,
				"endpoint", redactEndpoint(d.Endpoint), "attempts", d.Attempts, "status", status, "err", err)
			break
		}
		next = s.now().Add(delay)
		ev.Outcome, ev.Next = retrying, next
		s.log.Info("sns: delivery failed; will retry", "message", d.MessageID, "endpoint", redactEndpoint(d.Endpoint),
			"attempt", d.Attempts, "status", status, "err", err, "retry_in", delay)
	}
	if err := s.finish(ctx, d, next); err != nil && ctx.Err() == nil {
		s.log.Warn("sns: recording delivery attempt", "delivery", d.ID, "err", err)
	}
}

// retryable reports whether SNS retries a delivery answered with status:
// server errors and throttling are the endpoint's passing trouble; other
// client errors and redirects will not change by retrying.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// post sends one attempt and returns the answer's status.
func (s *Service) post(ctx context.Context, d *delivery, tg *target) (int, error) {
	body, err := s.body(d, tg)
	if err != nil {
		return 0, err
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := s.clk.NewTimer(attemptTimeout)
	defer t.Stop()
	go func() {
		select {
		case <-t.C():
			cancel()
		case <-actx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	m := tg.msg
	req.Header.Set("Content-Type", tg.policy.ContentType)
	if m.Type != typeNotification {
		req.Header.Set("Content-Type", defaultContentType)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("x-amz-sns-message-type", m.Type)
	req.Header.Set("x-amz-sns-message-id", m.ID)
	req.Header.Set("x-amz-sns-topic-arn", m.TopicARN)
	if m.Type != typeConfirmation {
		req.Header.Set("x-amz-sns-subscription-arn", d.SubARN)
	}
	if m.Type == typeNotification && tg.sub.Attributes["RawMessageDelivery"] == "true" {
		req.Header.Set("x-amz-sns-rawdelivery", "true")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
