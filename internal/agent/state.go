package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/clock"
)

// State is what the agent tells `cutover agent status` through its state
// file: whether it runs, when it last polled, and the running and last
// commands.
type State struct {
	PID            int            `json:"pid,omitempty"`
	Version        string         `json:"version,omitempty"`
	Endpoint       string         `json:"endpoint"`
	HostIdentifier string         `json:"host_identifier"`
	StartedAt      time.Time      `json:"started_at,omitzero"`
	StoppedAt      time.Time      `json:"stopped_at,omitzero"`
	LastPollAt     time.Time      `json:"last_poll_at,omitzero"`
	LastPollOKAt   time.Time      `json:"last_poll_ok_at,omitzero"`
	LastPollError  string         `json:"last_poll_error,omitempty"`
	Running        []CommandState `json:"running,omitempty"`
	LastCommand    *CommandState  `json:"last_command,omitempty"`
}

// CommandState is one command as the state file shows it.
type CommandState struct {
	HostCommandIdentifier string    `json:"host_command_identifier"`
	CommandName           string    `json:"command_name"`
	DeploymentID          string    `json:"deployment_id,omitempty"`
	StartedAt             time.Time `json:"started_at"`
	FinishedAt            time.Time `json:"finished_at,omitzero"`
	Status                string    `json:"status,omitempty"`
	ErrorCode             int       `json:"error_code"`
	Message               string    `json:"message,omitempty"`
}

// ReadState reads a state file.
func ReadState(name string) (*State, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s: %w", name, err)
	}
	return &s, nil
}

type stateWriter struct {
	mu    sync.Mutex
	name  string
	clock clock.Clock
	s     State
}

func newStateWriter(name string, c clock.Clock, version, endpoint, hostID string) *stateWriter {
	return &stateWriter{name: name, clock: c, s: State{Version: version, Endpoint: endpoint, HostIdentifier: hostID}}
}

// update changes the state and rewrites the file. A state file that cannot
// be written costs only the status output, so the error is dropped.
func (w *stateWriter) update(f func(*State)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.s)
	b, err := json.MarshalIndent(&w.s, "", "  ")
	if err == nil {
		_ = writeFileAtomic(w.name, b)
	}
}

func (w *stateWriter) start(c CommandState) {
	w.update(func(s *State) { s.Running = append(s.Running, c) })
}

func (w *stateWriter) finish(c CommandState) {
	w.update(func(s *State) {
		s.Running = slices.DeleteFunc(s.Running, func(r CommandState) bool {
			return r.HostCommandIdentifier == c.HostCommandIdentifier
		})
		s.LastCommand = &c
	})
}
