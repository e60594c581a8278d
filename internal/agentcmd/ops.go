package agentcmd

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

// Limits of the model.
const (
	maxFormat         = 64
	maxPayload        = 8192
	maxExecutionID    = 129
	maxHostIdentifier = 1024
	maxCommandID      = 1024
)

var executionIDPattern = regexp.MustCompile(`^[^/]+/[^/]+/[^/]+/.+$`)

// Envelope is the model's Envelope: a format name and a payload in it.
type Envelope struct {
	Format  string `json:"Format,omitempty"`
	Payload string `json:"Payload,omitempty"`
}

func (e *Envelope) validate(member string) error {
	if e == nil {
		return nil
	}
	if len(e.Format) > maxFormat {
		return clientError("%s.Format must be at most %d characters.", member, maxFormat)
	}
	if len(e.Payload) > maxPayload {
		return clientError("%s.Payload must be at most %d characters.", member, maxPayload)
	}
	return nil
}

type pollInput struct {
	HostIdentifier string `json:"HostIdentifier"`
}

type hostCommandInstance struct {
	HostCommandIdentifier string `json:"HostCommandIdentifier"`
	HostIdentifier        string `json:"HostIdentifier"`
	DeploymentExecutionID string `json:"DeploymentExecutionId"`
	CommandName           string `json:"CommandName"`
	Nonce                 int64  `json:"Nonce"`
}

type pollOutput struct {
	HostCommand *hostCommandInstance `json:"HostCommand,omitempty"`
}

type specInput struct {
	DeploymentExecutionID string `json:"DeploymentExecutionId"`
	HostIdentifier        string `json:"HostIdentifier"`
}

type deploymentSpecification struct {
	GenericEnvelope *Envelope `json:"GenericEnvelope,omitempty"`
}

type specOutput struct {
	DeploymentSystem        string                   `json:"DeploymentSystem"`
	DeploymentSpecification *deploymentSpecification `json:"DeploymentSpecification"`
}

type ackInput struct {
	HostCommandIdentifier string    `json:"HostCommandIdentifier"`
	Diagnostics           *Envelope `json:"Diagnostics"`
}

type statusOutput struct {
	CommandStatus string `json:"CommandStatus,omitempty"`
}

type updateInput struct {
	HostCommandIdentifier   string         `json:"HostCommandIdentifier"`
	EstimatedCompletionTime *awsproto.Time `json:"EstimatedCompletionTime"`
	Diagnostics             *Envelope      `json:"Diagnostics"`
}

type completeInput struct {
	HostCommandIdentifier string    `json:"HostCommandIdentifier"`
	CommandStatus         string    `json:"CommandStatus"`
	Diagnostics           *Envelope `json:"Diagnostics"`
}

func validateHost(h string) error {
	if h == "" {
		return clientError("HostIdentifier is required.")
	}
	if len(h) > maxHostIdentifier {
		return clientError("HostIdentifier must be at most %d characters.", maxHostIdentifier)
	}
	return nil
}

func validateCommandID(id string) error {
	if id == "" {
		return clientError("HostCommandIdentifier is required.")
	}
	if len(id) > maxCommandID {
		return clientError("HostCommandIdentifier must be at most %d characters.", maxCommandID)
	}
	return nil
}

// pollHostCommand hands the host its next command, waiting up to LongPoll
// for one.
func (s *Service) pollHostCommand(ctx context.Context, in *pollInput) (*pollOutput, error) {
	if err := validateHost(in.HostIdentifier); err != nil {
		return nil, err
	}
	if err := authorize(ctx, in.HostIdentifier); err != nil {
		return nil, err
	}
	host := in.HostIdentifier
	pollAt := s.markPoll(host)
	// The timer starts after the first look at the store, so a test that
	// waits for it knows the poll has been recorded.
	var timer clock.Timer
	for {
		woken, release := s.hub.watch(host)
		c, err := s.deliver(ctx, host, pollAt)
		if err != nil || c != nil {
			release()
			if err != nil {
				return nil, err
			}
			return &pollOutput{HostCommand: &hostCommandInstance{
				HostCommandIdentifier: c.HostCommandID,
				HostIdentifier:        c.HostIdentifier,
				DeploymentExecutionID: executionID(c),
				CommandName:           c.CommandName,
				Nonce:                 c.Nonce,
			}}, nil
		}
		pollAt = time.Time{}
		if timer == nil {
			timer = s.clk.NewTimer(s.longPoll)
			defer timer.Stop()
		}
		select {
		case <-woken:
			release()
		case <-timer.C():
			release()
			return nil, nil
		case <-ctx.Done():
			release()
			return nil, nil
		case <-s.stop:
			release()
			return nil, nil
		}
	}
}

// markPoll notes a poll and returns its time if it is time to write it to
// the store, else zero.
func (s *Service) markPoll(host string) time.Time {
	now := s.now()
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	m := s.polls[host]
	m.last = now
	write := now.Sub(m.stored) >= pollRecordEvery
	if write {
		m.stored = now
	}
	s.polls[host] = m
	if !write {
		return time.Time{}
	}
	return now
}

// deliver hands out the host's next command if it has one ready, and
// records a poll at pollAt unless that is zero. It only writes when there
// is something to write, so an idle re-check is a read.
func (s *Service) deliver(ctx context.Context, hostID string, pollAt time.Time) (*command, error) {
	if err := ctx.Err(); err != nil {
		// The client is gone: a command handed out now would be lost.
		return nil, nil
	}
	if pollAt.IsZero() {
		var ready bool
		err := s.st.View(ctx, func(tx store.Tx) error {
			h, _, err := getHost(tx, hostID)
			if err != nil || len(h.Queue) == 0 {
				return err
			}
			c, _, err := getCommand(tx, h.Queue[0])
			if err != nil {
				return err
			}
			ready = c.phase() == phaseReady
			return nil
		})
		if err != nil {
			return nil, wrapStore("reading host "+hostID, err)
		}
		if !ready {
			return nil, nil
		}
	}
	var out *command
	var expired []*command
	err := s.update(ctx, func(tx store.Tx) error {
		out, expired = nil, expired[:0]
		now := s.now()
		record := !pollAt.IsZero()
		for {
			h, hrec, err := getHost(tx, hostID)
			if err != nil {
				return err
			}
			if record {
				h.LastPoll = pollAt
				if err := store.PutJSON(tx, hrec, h); err != nil {
					return err
				}
			}
			if len(h.Queue) == 0 {
				return nil
			}
			c, rec, err := getCommand(tx, h.Queue[0])
			if err != nil {
				return err
			}
			// A command whose time ran out before any sweep saw it is
			// not handed out late; the next one may be.
			gone, err := s.expireLocked(tx, c, rec, now)
			if err != nil {
				return err
			}
			if gone {
				expired = append(expired, c)
				record = false
				continue
			}
			if c.phase() != phaseReady {
				return nil
			}
			c.Delivered = now
			c.Nonce++
			if err := putCommand(tx, rec, c); err != nil {
				return err
			}
			if !record {
				// A delivery writes anyway; keep the stored poll time fresh.
				h.LastPoll = now
				if err := store.PutJSON(tx, hrec, h); err != nil {
					return err
				}
			}
			out = c
			return nil
		}
	})
	if err != nil {
		return nil, wrapStore("handing out a command to "+hostID, err)
	}
	for _, c := range expired {
		s.notify(c.DeploymentID)
	}
	return out, nil
}

// getDeploymentSpecification returns the signed spec of a command the host
// was handed.
func (s *Service) getDeploymentSpecification(ctx context.Context, in *specInput) (*specOutput, error) {
	if n := len(in.DeploymentExecutionID); n == 0 || n > maxExecutionID || !executionIDPattern.MatchString(in.DeploymentExecutionID) {
		return nil, clientError("DeploymentExecutionId must be 1 to %d characters matching %s.", maxExecutionID, executionIDPattern)
	}
	if err := validateHost(in.HostIdentifier); err != nil {
		return nil, err
	}
	if err := authorize(ctx, in.HostIdentifier); err != nil {
		return nil, err
	}
	hcID := commandFromExecutionID(in.DeploymentExecutionID)
	var c *command
	err := s.st.View(ctx, func(tx store.Tx) error {
		if hcID == "" {
			return store.ErrNotFound
		}
		var err error
		c, _, err = getCommand(tx, hcID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.HostIdentifier != in.HostIdentifier) {
		return nil, clientError("No deployment execution %s for host %s.", in.DeploymentExecutionID, in.HostIdentifier)
	}
	if err != nil {
		return nil, wrapStore("reading command "+hcID, err)
	}
	body, err := json.Marshal(c.Spec)
	if err != nil {
		return nil, err
	}
	payload, err := s.sign.sign(body)
	if err != nil {
		return nil, err
	}
	return &specOutput{
		DeploymentSystem:        "CodeDeploy",
		DeploymentSpecification: &deploymentSpecification{GenericEnvelope: &Envelope{Format: "PKCS7/JSON", Payload: payload}},
	}, nil
}

// wireStatus is how a command's status reads in the model's
// DeploymentCommandStatus; an ended command the agent must not run is
// Failed.
func wireStatus(st Status) string {
	switch st {
	case StatusPending, StatusInProgress, StatusSucceeded:
		return string(st)
	}
	return string(StatusFailed)
}

// change reads a command the caller's host was handed, checks the caller
// may act as its host, and lets fn change it. fn reports whether it changed
// anything; changes are written and announced.
func (s *Service) change(ctx context.Context, hcID string, fn func(c *command) (bool, error)) (*command, error) {
	var c *command
	var changed bool
	err := s.update(ctx, func(tx store.Tx) error {
		changed = false
		var rec *store.Record
		var err error
		c, rec, err = getCommand(tx, hcID)
		if errors.Is(err, store.ErrNotFound) {
			return clientError("No host command %s.", hcID)
		}
		if err != nil {
			return err
		}
		if err := authorize(ctx, c.HostIdentifier); err != nil {
			return err
		}
		if c.Delivered.IsZero() && !c.Status.Ended() {
			return clientError("Host command %s has not been handed to its host.", hcID)
		}
		if changed, err = fn(c); err != nil || !changed {
			return err
		}
		if err := putCommand(tx, rec, c); err != nil {
			return err
		}
		if c.Status.Ended() {
			return s.dequeue(tx, c.HostIdentifier, c.HostCommandID, c.Ended)
		}
		return nil
	})
	if err != nil {
		return nil, wrapStore("updating command "+hcID, err)
	}
	if changed {
		if c.Status.Ended() {
			s.hub.wake(c.HostIdentifier)
		}
		s.notify(c.DeploymentID)
	}
	return c, nil
}

func (s *Service) putHostCommandAcknowledgement(ctx context.Context, in *ackInput) (*statusOutput, error) {
	if err := validateCommandID(in.HostCommandIdentifier); err != nil {
		return nil, err
	}
	if err := in.Diagnostics.validate("Diagnostics"); err != nil {
		return nil, err
	}
	c, err := s.change(ctx, in.HostCommandIdentifier, func(c *command) (bool, error) {
		if c.Status != StatusPending {
			return false, nil
		}
		c.Status, c.Acknowledged = StatusInProgress, s.now()
		c.Noop = parseNoop(in.Diagnostics)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &statusOutput{CommandStatus: wireStatus(c.Status)}, nil
}

func (s *Service) postHostCommandUpdate(ctx context.Context, in *updateInput) (*statusOutput, error) {
	if err := validateCommandID(in.HostCommandIdentifier); err != nil {
		return nil, err
	}
	if err := in.Diagnostics.validate("Diagnostics"); err != nil {
		return nil, err
	}
	c, err := s.change(ctx, in.HostCommandIdentifier, func(c *command) (bool, error) {
		if c.Status.Ended() {
			return false, nil
		}
		c.LastUpdate = s.now()
		if in.EstimatedCompletionTime != nil {
			c.EstimatedCompletion = in.EstimatedCompletionTime.UTC()
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &statusOutput{CommandStatus: wireStatus(c.Status)}, nil
}

func (s *Service) putHostCommandComplete(ctx context.Context, in *completeInput) (*struct{}, error) {
	if err := validateCommandID(in.HostCommandIdentifier); err != nil {
		return nil, err
	}
	st := Status(in.CommandStatus)
	if st != StatusSucceeded && st != StatusFailed {
		return nil, clientError("CommandStatus must be Succeeded or Failed, not %q.", in.CommandStatus)
	}
	if err := in.Diagnostics.validate("Diagnostics"); err != nil {
		return nil, err
	}
	_, err := s.change(ctx, in.HostCommandIdentifier, func(c *command) (bool, error) {
		// The agent reports a failure twice, the second time generically:
		// the first result stands.
		if c.Status.Ended() {
			return false, nil
		}
		c.Status, c.Ended = st, s.now()
		c.Diagnostics = parseDiagnostics(in.Diagnostics, st)
		return true, nil
	})
	return nil, err
}
