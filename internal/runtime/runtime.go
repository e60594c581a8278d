// Package runtime defines how cutover runs ECS tasks: one small interface,
// Runtime, with one package per backend (process for host processes, docker
// for the Docker Engine), in the manner of Nomad's task drivers.
//
// The interface is shaped for its one user, the ECS task scheduler: it starts
// a task under an id the scheduler chose, looks at it, stops it, removes it,
// and after a server restart lists every task it owns so the scheduler can
// adopt them instead of starting duplicates. Status, health and reasons use
// ECS's own words so the scheduler can hand them to the ECS API unchanged.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Task statuses: ECS lastStatus values. A runtime reports only these three;
// ECS's intermediate statuses (PROVISIONING, ACTIVATING, ...) have no
// counterpart on a single host.
const (
	StatusPending = "PENDING"
	StatusRunning = "RUNNING"
	StatusStopped = "STOPPED"
)

// Health statuses: ECS healthStatus values for tasks and containers.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthUnknown   = "UNKNOWN"
)

// Stop codes: ECS stopCode values a runtime can observe by itself.
const (
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	StopCodeUserInitiated            = "UserInitiated"
)

// Stopped reasons in ECS's wording.
const (
	ReasonEssentialContainerExited = "Essential container in task exited"
	ReasonUserInitiated            = "Task stopped by user"
)

// Labels every runtime sets on what it creates, so that a restarted server
// recognises its own tasks.
const (
	LabelTaskID    = "cutover.task-id"
	LabelContainer = "cutover.container"
)

var (
	// ErrNotFound: no task with that id (or no container with that name).
	ErrNotFound = errors.New("task not found")
	// ErrInvalidSpec: the TaskSpec breaks a rule ECS would also enforce.
	ErrInvalidSpec = errors.New("invalid task spec")
	// ErrCannotPullContainer: an image could not be pulled; the wrapped
	// message names the image and the registry's answer, and is fit to be an
	// ECS stoppedReason ("CannotPullContainerError: ...").
	ErrCannotPullContainer = errors.New("CannotPullContainerError")
)

// Runtime runs tasks. Implementations are safe for concurrent use.
type Runtime interface {
	// Name is the runtime's flag value: "docker" or "process".
	Name() string

	// Start starts the task and returns it as it stands once every container
	// was started (usually RUNNING, or already STOPPED if a container could
	// not start: StopCode TaskFailedToStart, the container's Reason says why).
	// Start is idempotent on spec.ID: if a task with that id exists, running
	// or stopped, it is returned as it is and nothing new is created; the
	// caller must Remove a stopped task before reusing its id.
	// An error means no task was created (invalid spec, an image that cannot
	// be pulled, the backend unreachable).
	Start(ctx context.Context, spec TaskSpec) (*Task, error)

	// Inspect returns the task's current state, or an error wrapping
	// ErrNotFound.
	Inspect(ctx context.Context, taskID string) (*Task, error)

	// Stop asks every container to stop (SIGTERM), kills those still running
	// after grace (SIGKILL) and returns when the task is STOPPED. Stopping a
	// stopped task does nothing; an unknown id wraps ErrNotFound.
	Stop(ctx context.Context, taskID string, grace time.Duration) error

	// Remove kills the task if it still runs and deletes everything the
	// runtime kept for it (containers, logs, state). Removing an unknown id
	// is not an error, so the scheduler can retry it freely.
	Remove(ctx context.Context, taskID string) error

	// List returns every task this runtime owns, including tasks started by
	// an earlier instance before a server restart, so they can be adopted.
	List(ctx context.Context) ([]*Task, error)

	// Logs returns the container's combined stdout and stderr, the last
	// tailLines lines of it (all of it when tailLines <= 0).
	Logs(ctx context.Context, taskID, container string, tailLines int) ([]byte, error)

	// Close releases the runtime's own resources (monitors, clients). Tasks
	// keep running: a later instance adopts them.
	Close() error
}

// TaskSpec is what to run: the parts of an ECS task definition (plus
// overrides) that a runtime needs.
type TaskSpec struct {
	// ID is chosen by the caller and deterministic (e.g. task-set id and
	// index), so that a retried Start finds the task instead of duplicating it.
	ID         string
	Labels     map[string]string
	Containers []ContainerSpec
}

// ContainerSpec mirrors ECS's ContainerDefinition.
type ContainerSpec struct {
	Name  string
	Image string
	// EntryPoint and Command replace the image's entrypoint and command when
	// set, as in ECS.
	EntryPoint        []string
	Command           []string
	Environment       map[string]string
	PortMappings      []PortMapping
	Essential         bool
	HealthCheck       *HealthCheck
	CPU               int // ECS CPU units: 1024 is one vCPU
	Memory            int // hard limit, MiB
	MemoryReservation int // soft limit, MiB
	WorkingDirectory  string
}

// PortMapping mirrors ECS's PortMapping. HostPort 0 asks the runtime for an
// ephemeral host port, reported in the task's Endpoints.
type PortMapping struct {
	ContainerPort int
	HostPort      int
	Protocol      string // "tcp" (default) or "udp"
}

// HealthCheck mirrors ECS's HealthCheck. Zero durations and retries take
// ECS's defaults (see WithDefaults).
type HealthCheck struct {
	// Command in ECS form: ["CMD-SHELL", "curl -f http://localhost/"] or
	// ["CMD", "/bin/check", "arg"].
	Command     []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// ECS's health check defaults.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultHealthRetries  = 3
)

// WithDefaults returns the check with ECS's defaults filled in.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Retries <= 0 {
		h.Retries = DefaultHealthRetries
	}
	if h.StartPeriod < 0 {
		h.StartPeriod = 0
	}
	return h
}

// Task is a task as the runtime sees it now.
type Task struct {
	ID     string
	Labels map[string]string
	// Status is PENDING, RUNNING or STOPPED (ECS lastStatus).
	Status string
	// Health is the ECS task health: UNHEALTHY if any essential container
	// with a health check is unhealthy, HEALTHY if all of them are healthy,
	// UNKNOWN otherwise (and always when no essential container has a check).
	Health        string
	StopCode      string
	StoppedReason string
	StartedAt     time.Time
	StoppedAt     time.Time
	Containers    []ContainerState
	// Endpoints say where traffic for each port mapping goes.
	Endpoints []Endpoint
}

// ContainerState mirrors the parts of ECS's Container a scheduler reports.
type ContainerState struct {
	Name      string
	Essential bool
	Status    string // PENDING, RUNNING or STOPPED
	ExitCode  *int   // nil while running, or when the exit code is unknowable
	Reason    string
	Health    string // HEALTHY, UNHEALTHY or UNKNOWN
}

// Endpoint is where the load balancer sends traffic for one port mapping.
type Endpoint struct {
	ContainerName string
	ContainerPort int
	Protocol      string
	Host          string
	HostPort      int
}

// Addr returns "host:port".
func (e Endpoint) Addr() string { return fmt.Sprintf("%s:%d", e.Host, e.HostPort) }

// Validate checks the rules ECS enforces on a task definition that a runtime
// depends on. Errors wrap ErrInvalidSpec.
func (s TaskSpec) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if s.ID == "" {
		return bad("task id is empty")
	}
	if len(s.Containers) == 0 {
		return bad("task %s has no containers", s.ID)
	}
	names := map[string]bool{}
	essential := false
	for i, c := range s.Containers {
		if c.Name == "" {
			return bad("container %d has no name", i)
		}
		if names[c.Name] {
			return bad("container name %q is used twice", c.Name)
		}
		names[c.Name] = true
		essential = essential || c.Essential
		for _, p := range c.PortMappings {
			if p.ContainerPort <= 0 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
				return bad("container %q: port mapping %d:%d out of range", c.Name, p.HostPort, p.ContainerPort)
			}
			switch p.Protocol {
			case "", "tcp", "udp":
			default:
				return bad("container %q: protocol %q is not tcp or udp", c.Name, p.Protocol)
			}
		}
		if hc := c.HealthCheck; hc != nil {
			if len(hc.Command) < 2 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL") {
				return bad("container %q: health check command must be [\"CMD\", ...] or [\"CMD-SHELL\", \"...\"]", c.Name)
			}
		}
	}
	// ECS: "A task definition must have at least one essential container."
	if !essential {
		return bad("task %s has no essential container", s.ID)
	}
	return nil
}

// TaskHealth aggregates container health into ECS task health. hasCheck
// tells which containers define a health check; only essential containers
// with one count.
func TaskHealth(containers []ContainerState, hasCheck func(name string) bool) string {
	counted, healthy := 0, 0
	for _, c := range containers {
		if !c.Essential || !hasCheck(c.Name) {
			continue
		}
		counted++
		switch c.Health {
		case HealthUnhealthy:
			return HealthUnhealthy
		case HealthHealthy:
			healthy++
		}
	}
	if counted > 0 && healthy == counted {
		return HealthHealthy
	}
	return HealthUnknown
}

// ProtocolOrTCP returns the mapping's protocol, "tcp" when unset.
func (p PortMapping) ProtocolOrTCP() string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}
