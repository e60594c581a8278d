package lambda

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// asyncEvent is one Event invocation, queued until a worker runs it.
type asyncEvent struct {
	function, qualifier string
	payload             []byte
	requestID           string
	attempt             int // 1 for the first try
}

// asyncOutcome is reported to the test hook after each attempt.
type asyncOutcome struct {
	RequestID string
	Attempt   int
	Result    *InvokeResult
	Err       error
}

// retryDelays are the waits before the second and third attempts of an
// Event invocation whose function failed (AWS retries twice, about a
// minute and then two minutes later).
var retryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// InvokeAsync queues an Event invocation, as a CodeDeploy hook invocation
// is made, after checking that the function and qualifier exist and that
// the payload is acceptable. The function runs in the background; a
// function error is retried twice.
func (s *Service) InvokeAsync(ctx context.Context, function, qualifier string, payload []byte) error {
	_, err := s.queueEvent(ctx, function, qualifier, payload)
	return err
}

func (s *Service) queueEvent(ctx context.Context, function, qualifier string, payload []byte) (string, error) {
	payload, err := checkPayload(payload, maxAsyncPayload, "Invoke")
	if err != nil {
		return "", err
	}
	if _, err := s.target(ctx, function, qualifier); err != nil {
		return "", err
	}
	ev := asyncEvent{function: function, qualifier: qualifier, payload: payload, requestID: uuid.NewString(), attempt: 1}
	if !s.enqueue(ev) {
		return "", errf(http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded: the queue of asynchronous invocations is full.")
	}
	return ev.requestID, nil
}

func (s *Service) enqueue(ev asyncEvent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.async <- ev:
		return true
	default:
		return false
	}
}

func (s *Service) asyncWorker() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.quit
		cancel()
	}()
	for {
		select {
		case <-s.quit:
			return
		case ev := <-s.async:
			s.runEvent(ctx, ev)
		}
	}
}

func (s *Service) runEvent(ctx context.Context, ev asyncEvent) {
	res, err := s.invoke(ctx, ev.function, ev.qualifier, ev.payload, "")
	if s.onAsync != nil {
		s.onAsync(asyncOutcome{RequestID: ev.requestID, Attempt: ev.attempt, Result: res, Err: err})
	}
	failed := err != nil || res.FunctionError != ""
	switch {
	case !failed:
		return
	case err != nil && ctx.Err() != nil:
		return // shutting down
	case ev.attempt > len(retryDelays):
		s.log.Warn("lambda: Event invocation failed after retries; dropping it",
			"function", ev.function, "qualifier", ev.qualifier, "request_id", ev.requestID, "err", err)
		return
	}
	s.retryLater(ev, retryDelays[ev.attempt-1])
}

// retryLater queues ev again after d of the service's clock.
func (s *Service) retryLater(ev asyncEvent, d time.Duration) {
	ev.attempt++
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	t := s.clock.NewTimer(d)
	go func() {
		defer s.wg.Done()
		defer t.Stop()
		select {
		case <-t.C():
			if !s.enqueue(ev) {
				s.log.Warn("lambda: dropping Event retry; queue full or closed", "function", ev.function, "request_id", ev.requestID)
			}
		case <-s.quit:
		}
	}()
}
