package agentcmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// Command is one lifecycle event for one host, as the engine issues it.
type Command struct {
	// ID names the command for the engine; derive it from the deployment,
	// instance and event so that a retried step issues nothing new.
	ID             string
	DeploymentID   string
	HostIdentifier string
	// InstanceName is the instance as the public API names it (kept for
	// diagnostics only).
	InstanceName string
	// CommandName is the lifecycle event, one of CommandNames.
	CommandName string
	Spec        Spec
	// Timeout bounds the run from acknowledgement to completion
	// (DefaultCommandTimeout when zero).
	Timeout time.Duration
}

// Status is where a command stands.
type Status string

const (
	// StatusPending: queued or handed to the host, not acknowledged yet.
	StatusPending Status = "Pending"
	// StatusInProgress: the agent acknowledged it and runs it.
	StatusInProgress Status = "InProgress"
	StatusSucceeded  Status = "Succeeded"
	StatusFailed     Status = "Failed"
	// StatusTimedOut: not acknowledged within the AckTimeout of becoming
	// the host's next command, or not completed within its Timeout of
	// being acknowledged. The engine decides what that means.
	StatusTimedOut Status = "TimedOut"
	// StatusCancelled: dropped by Cancel before the host took it.
	StatusCancelled Status = "Cancelled"
)

// Ended reports whether the status is final.
func (st Status) Ended() bool {
	switch st {
	case StatusSucceeded, StatusFailed, StatusTimedOut, StatusCancelled:
		return true
	}
	return false
}

// Diagnostics is the agent's account of a command, with ErrorCode in
// CodeDeploy's LifecycleErrorCode names (Success, ScriptMissing, ...).
type Diagnostics struct {
	ErrorCode  string `json:"errorCode,omitempty"`
	ScriptName string `json:"scriptName,omitempty"`
	Message    string `json:"message,omitempty"`
	// LogTail is the end of the scripts' output as the agent sent it.
	LogTail string `json:"logTail,omitempty"`
}

// CommandState is what Status reports.
type CommandState struct {
	HostCommandIdentifier string
	Status                Status
	Diagnostics           Diagnostics
	// Started is when the host took the command (PollHostCommand returned it).
	Started time.Time
	// Acknowledged is when the agent said it runs it.
	Acknowledged time.Time
	Ended        time.Time
	// LastUpdate is the last PostHostCommandUpdate (a heartbeat), and
	// EstimatedCompletion what it said.
	LastUpdate          time.Time
	EstimatedCompletion time.Time
	// Noop is the agent's IsCommandNoop: the event has no scripts.
	Noop bool
}

// Record kinds. A command's index is "<phase>/<deployment id>", so that
// Cancel finds a deployment's undelivered commands and Sweep every open one
// without reading the finished ones.
const (
	kindCommand = "agentcmd.command" // key: host command identifier
	kindHost    = "agentcmd.host"    // key: host identifier
)

// Phases of a command, as its index records them.
const (
	phaseQueued = "queued" // behind another command of its host
	phaseReady  = "ready"  // next for its host, not taken yet
	phaseOut    = "out"    // taken by the host, not ended
	phaseDone   = "done"
)

// command is the stored form of a command.
type command struct {
	ID                  string        `json:"id"`
	HostCommandID       string        `json:"hostCommandId"`
	DeploymentID        string        `json:"deploymentId"`
	HostIdentifier      string        `json:"hostIdentifier"`
	InstanceName        string        `json:"instanceName,omitempty"`
	CommandName         string        `json:"commandName"`
	Spec                Spec          `json:"spec"`
	Timeout             time.Duration `json:"timeout"`
	Status              Status        `json:"status"`
	Nonce               int64         `json:"nonce,omitempty"`
	Noop                bool          `json:"noop,omitempty"`
	Diagnostics         Diagnostics   `json:"diagnostics,omitzero"`
	Issued              time.Time     `json:"issued"`
	Ready               time.Time     `json:"ready,omitzero"`
	Delivered           time.Time     `json:"delivered,omitzero"`
	Acknowledged        time.Time     `json:"acknowledged,omitzero"`
	LastUpdate          time.Time     `json:"lastUpdate,omitzero"`
	EstimatedCompletion time.Time     `json:"estimatedCompletion,omitzero"`
	Ended               time.Time     `json:"ended,omitzero"`
}

func (c *command) phase() string {
	switch {
	case c.Status.Ended():
		return phaseDone
	case !c.Delivered.IsZero():
		return phaseOut
	case !c.Ready.IsZero():
		return phaseReady
	}
	return phaseQueued
}

// deadline is when the command times out, and what it failed to do by
// then; zero for a command that is queued or ended.
func (c *command) deadline(ackTimeout time.Duration) (time.Time, string) {
	switch {
	case c.Status.Ended():
		return time.Time{}, ""
	case !c.Acknowledged.IsZero():
		return c.Acknowledged.Add(c.Timeout), fmt.Sprintf("the agent did not complete %s within %s", c.CommandName, c.Timeout)
	case !c.Ready.IsZero():
		return c.Ready.Add(ackTimeout), fmt.Sprintf("the agent did not acknowledge %s within %s", c.CommandName, ackTimeout)
	}
	return time.Time{}, ""
}

func (c *command) state() CommandState {
	return CommandState{
		HostCommandIdentifier: c.HostCommandID,
		Status:                c.Status,
		Diagnostics:           c.Diagnostics,
		Started:               c.Delivered,
		Acknowledged:          c.Acknowledged,
		Ended:                 c.Ended,
		LastUpdate:            c.LastUpdate,
		EstimatedCompletion:   c.EstimatedCompletion,
		Noop:                  c.Noop,
	}
}

// host is the stored form of a host: its open commands in order (the head
// is the one it has or gets next) and when it last polled.
type host struct {
	Queue    []string  `json:"queue,omitempty"`
	LastPoll time.Time `json:"lastPoll,omitzero"`
}

// HostCommandID is the HostCommandIdentifier the agent sees for the
// command the engine calls id: a digest, so that it is safe in the agent's
// file names whatever the engine's ids contain.
func HostCommandID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "hc-" + hex.EncodeToString(sum[:16])
}

// executionID is the DeploymentExecutionId handed out with a command. The
// agent's SDK checks it against ^[^/]+/[^/]+/[^/]+/.+$ (at most 129
// characters) and only passes it back, so it names the command.
func executionID(c *command) string {
	dep := url.PathEscape(c.DeploymentID)
	id := "cutover/" + dep + "/" + c.HostCommandID + "/spec"
	if len(id) > 129 {
		id = "cutover/-/" + c.HostCommandID + "/spec"
	}
	return id
}

// commandFromExecutionID returns the host command identifier inside an
// execution id, or "" when it is not one of ours.
func commandFromExecutionID(id string) string {
	parts := strings.Split(id, "/")
	if len(parts) != 4 || parts[0] != "cutover" || !strings.HasPrefix(parts[2], "hc-") {
		return ""
	}
	return parts[2]
}

func getCommand(tx store.Tx, hcID string) (*command, *store.Record, error) {
	return store.GetJSON[command](tx, kindCommand, hcID)
}

func putCommand(tx store.Tx, rec *store.Record, c *command) error {
	rec.Index = c.phase() + "/" + c.DeploymentID
	return store.PutJSON(tx, rec, c)
}

// getHost reads a host's record, or a new one to be created.
func getHost(tx store.Tx, name string) (*host, *store.Record, error) {
	h, rec, err := store.GetJSON[host](tx, kindHost, name)
	if errors.Is(err, store.ErrNotFound) {
		return &host{}, &store.Record{Kind: kindHost, Key: name}, nil
	}
	return h, rec, err
}

// Issue puts c on its host's queue. Issuing an id again does nothing, so a
// retried engine step is safe; reusing an id for a different command is
// ErrIDReused.
func (s *Service) Issue(ctx context.Context, c Command) error {
	if err := validateCommand(&c); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultCommandTimeout
	}
	hcID := HostCommandID(c.ID)
	err := s.update(ctx, func(tx store.Tx) error {
		if old, _, err := getCommand(tx, hcID); err == nil {
			if old.ID != c.ID || old.DeploymentID != c.DeploymentID || old.HostIdentifier != c.HostIdentifier || old.CommandName != c.CommandName {
				return fmt.Errorf("%w: %q", ErrIDReused, c.ID)
			}
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		h, hrec, err := getHost(tx, c.HostIdentifier)
		if err != nil {
			return err
		}
		now := s.now()
		cmd := &command{
			ID: c.ID, HostCommandID: hcID, DeploymentID: c.DeploymentID, HostIdentifier: c.HostIdentifier,
			InstanceName: c.InstanceName, CommandName: c.CommandName, Spec: c.Spec, Timeout: c.Timeout,
			Status: StatusPending, Issued: now,
		}
		if len(h.Queue) == 0 {
			cmd.Ready = now
		}
		h.Queue = append(h.Queue, hcID)
		if err := putCommand(tx, &store.Record{Kind: kindCommand, Key: hcID}, cmd); err != nil {
			return err
		}
		return store.PutJSON(tx, hrec, h)
	})
	if err != nil {
		return wrapStore("issuing command "+c.ID, err)
	}
	s.hub.wake(c.HostIdentifier)
	return nil
}

func validateCommand(c *Command) error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: an id is required", ErrInvalidCommand)
	case c.DeploymentID == "":
		return fmt.Errorf("%w: a deployment id is required", ErrInvalidCommand)
	case c.HostIdentifier == "" || len(c.HostIdentifier) > maxHostIdentifier:
		return fmt.Errorf("%w: a host identifier of 1 to %d characters is required", ErrInvalidCommand, maxHostIdentifier)
	case !slices.Contains(CommandNames, c.CommandName):
		return fmt.Errorf("%w: the agent does not run a command named %q", ErrInvalidCommand, c.CommandName)
	}
	return c.Spec.validate()
}

// Status reports how the command the engine calls id stands, timing it out
// first if its deadline has passed. ErrNotFound if it was never issued.
func (s *Service) Status(ctx context.Context, id string) (CommandState, error) {
	hcID := HostCommandID(id)
	var c *command
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		c, _, err = getCommand(tx, hcID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return CommandState{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return CommandState{}, wrapStore("reading command "+id, err)
	}
	if due, _ := c.deadline(s.ackTimeout); !due.IsZero() && !s.now().Before(due) {
		if c, err = s.expire(ctx, hcID); err != nil {
			return CommandState{}, err
		}
	}
	return c.state(), nil
}

// Cancel drops the commands of a stopped deployment that no host has taken
// yet. A command a host has taken runs to its end, as in AWS.
func (s *Service) Cancel(ctx context.Context, deploymentID string) error {
	var hosts []string
	err := s.update(ctx, func(tx store.Tx) error {
		hosts = hosts[:0]
		now := s.now()
		for _, ph := range []string{phaseReady, phaseQueued} {
			recs, err := tx.List(kindCommand, store.ListOptions{Index: ph + "/" + deploymentID, KeysOnly: true})
			if err != nil {
				return err
			}
			for _, r := range recs {
				// Read again: cancelling an earlier command may have made
				// this one ready.
				c, rec, err := getCommand(tx, r.Key)
				if err != nil {
					return err
				}
				if c.phase() != phaseQueued && c.phase() != phaseReady {
					continue
				}
				c.Status, c.Ended = StatusCancelled, now
				c.Diagnostics = Diagnostics{Message: "the deployment was stopped before the host took the command"}
				if err := putCommand(tx, rec, c); err != nil {
					return err
				}
				if err := s.dequeue(tx, c.HostIdentifier, c.HostCommandID, now); err != nil {
					return err
				}
				hosts = append(hosts, c.HostIdentifier)
			}
		}
		return nil
	})
	if err != nil {
		return wrapStore("cancelling commands of "+deploymentID, err)
	}
	for _, h := range hosts {
		s.hub.wake(h)
	}
	if len(hosts) > 0 {
		s.notify(deploymentID)
	}
	return nil
}

// LastPoll is when the host last polled, zero if never. Polls seen by
// another replica show up within pollRecordEvery.
func (s *Service) LastPoll(ctx context.Context, hostID string) (time.Time, error) {
	s.pollMu.Lock()
	seen := s.polls[hostID].last
	s.pollMu.Unlock()
	var stored time.Time
	err := s.st.View(ctx, func(tx store.Tx) error {
		h, _, err := getHost(tx, hostID)
		if err != nil {
			return err
		}
		stored = h.LastPoll
		return nil
	})
	if err != nil {
		return time.Time{}, wrapStore("reading host "+hostID, err)
	}
	if seen.After(stored) {
		return seen, nil
	}
	return stored, nil
}

// dequeue takes a command that ended off its host's queue and makes the
// next one ready.
func (s *Service) dequeue(tx store.Tx, hostID, hcID string, now time.Time) error {
	h, hrec, err := getHost(tx, hostID)
	if err != nil {
		return err
	}
	i := slices.Index(h.Queue, hcID)
	if i < 0 {
		return nil
	}
	h.Queue = slices.Delete(h.Queue, i, i+1)
	if i == 0 && len(h.Queue) > 0 {
		next, nrec, err := getCommand(tx, h.Queue[0])
		if err != nil {
			return err
		}
		if next.Ready.IsZero() {
			next.Ready = now
			if err := putCommand(tx, nrec, next); err != nil {
				return err
			}
		}
	}
	return store.PutJSON(tx, hrec, h)
}

// expireLocked times c out if its deadline has passed; it reports whether
// it did.
func (s *Service) expireLocked(tx store.Tx, c *command, rec *store.Record, now time.Time) (bool, error) {
	due, why := c.deadline(s.ackTimeout)
	if due.IsZero() || now.Before(due) {
		return false, nil
	}
	c.Status, c.Ended = StatusTimedOut, now
	c.Diagnostics = Diagnostics{ErrorCode: "UnknownError", Message: why}
	if err := putCommand(tx, rec, c); err != nil {
		return false, err
	}
	return true, s.dequeue(tx, c.HostIdentifier, c.HostCommandID, now)
}

// expire times out one command if it is due, and reports it.
func (s *Service) expire(ctx context.Context, hcID string) (*command, error) {
	var c *command
	var expired bool
	err := s.update(ctx, func(tx store.Tx) error {
		var rec *store.Record
		var err error
		if c, rec, err = getCommand(tx, hcID); err != nil {
			return err
		}
		expired, err = s.expireLocked(tx, c, rec, s.now())
		return err
	})
	if err != nil {
		return nil, wrapStore("timing out command "+hcID, err)
	}
	if expired {
		s.log.Info("agent command timed out", "deployment", c.DeploymentID, "host", c.HostIdentifier, "command", c.CommandName, "reason", c.Diagnostics.Message)
		s.hub.wake(c.HostIdentifier)
		s.notify(c.DeploymentID)
	}
	return c, nil
}

// Sweep is one pass of Run: it times out the open commands past their
// deadline and wakes the waiting polls of hosts with a command ready.
func (s *Service) Sweep(ctx context.Context) error {
	var due []string
	var ready []string
	now := s.now()
	err := s.st.View(ctx, func(tx store.Tx) error {
		for _, ph := range []string{phaseReady, phaseOut} {
			cmds, _, err := store.ListJSON[command](tx, kindCommand, store.ListOptions{IndexPrefix: ph + "/"})
			if err != nil {
				return err
			}
			for _, c := range cmds {
				if d, _ := c.deadline(s.ackTimeout); !d.IsZero() && !now.Before(d) {
					due = append(due, c.HostCommandID)
				} else if ph == phaseReady {
					ready = append(ready, c.HostIdentifier)
				}
			}
		}
		return nil
	})
	if err != nil {
		return wrapStore("listing open commands", err)
	}
	for _, hcID := range due {
		if _, err := s.expire(ctx, hcID); err != nil {
			return err
		}
	}
	for _, h := range ready {
		s.hub.wake(h)
	}
	return nil
}
