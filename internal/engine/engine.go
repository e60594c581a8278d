// Package engine runs deployments. A deployment is data: its status, the
// lifecycle event it is in, the task sets it made, the weights it set and
// the absolute times it waits for are all in its record in the store. The
// engine reads the record and the world, does the next step (each step is
// idempotent: task sets are made with a deterministic external id, weights
// are set, not added), writes the result, and only then takes the next
// step. Killed at any point, an engine (this one restarted, or another
// after the lease expires) continues where the record says, and every step
// has the same outcome as if it had run once.
//
// Ownership is by lease: an engine works on a deployment only while it
// holds the store lease "deployment/<id>", renewed at every step.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/store"
)

// Config configures an Engine.
type Config struct {
	Store      store.Store
	CodeDeploy *codedeploy.Service
	ECS        ECSCluster
	Traffic    TrafficRouter
	// Hooks calls lifecycle hooks; nil means &Hooks{} (URL hooks over HTTP,
	// function hooks fail as not available).
	Hooks HookInvoker
	// Alarms reads the CloudWatch alarms deployment groups list; nil makes
	// every listed alarm unreadable (see AlarmConfiguration's
	// ignorePollAlarmFailure).
	Alarms AlarmStates
	// Agents hands server deployments' lifecycle commands to hosts' agents;
	// HostTargets moves those hosts in and out of target groups. Both are
	// needed only for the Server compute platform.
	Agents      HostCommands
	HostTargets HostTargets
	// Functions moves Lambda aliases' traffic (Lambda deployments).
	Functions FunctionAliases
	// Clock is the engine's time; nil is the real clock. The server passes
	// clock.Scaled(N) for --time-scale N.
	Clock clock.Clock
	// Owner names this engine in leases; it must differ between replicas
	// and stay the same across restarts of one (so a restarted server
	// takes its deployments back at once).
	Owner string
	Log   *slog.Logger

	// PollInterval is how often (clock time) the engine looks for new
	// deployments and re-checks waiting ones; default 1s. Notify makes
	// reactions immediate regardless.
	PollInterval time.Duration
	// LeaseTTL is how long a lease lasts without renewal (store time);
	// default 15s. A dead engine's deployments move after this.
	LeaseTTL time.Duration
	// HookTimeout is how long a hook has to report its status (AWS: one
	// hour); clock time, so --time-scale compresses it.
	HookTimeout time.Duration
	// InstallTimeout is how long the replacement task set has to become
	// stable and healthy (clock time); default one hour.
	InstallTimeout time.Duration

	// stepHook, for crash tests, runs after a step's side effects and
	// before its result is stored (phase "effect"), and after it is stored
	// (phase "stored"). An error aborts the reconcile as a crash would.
	stepHook func(id, step, phase string) error
}

// Engine advances deployments.
type Engine struct {
	cfg   Config
	cd    *codedeploy.Service
	clk   clock.Clock
	log   *slog.Logger
	hooks HookInvoker

	wake chan struct{}

	mu      sync.Mutex
	workers map[string]chan struct{} // deployment id → its worker's wake channel
}

// New checks cfg and connects the engine to the CodeDeploy service (its
// handlers then wake the engine and validate ECS revisions through it).
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.CodeDeploy == nil {
		return nil, errors.New("engine: a store and the CodeDeploy service are required")
	}
	if cfg.ECS == nil || cfg.Traffic == nil {
		return nil, errors.New("engine: an ECS cluster and a traffic router are required")
	}
	if cfg.Owner == "" {
		return nil, errors.New("engine: an owner name is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Hooks == nil {
		cfg.Hooks = &Hooks{}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.HookTimeout <= 0 {
		cfg.HookTimeout = time.Hour
	}
	if cfg.InstallTimeout <= 0 {
		cfg.InstallTimeout = time.Hour
	}
	e := &Engine{
		cfg: cfg, cd: cfg.CodeDeploy, clk: cfg.Clock, log: cfg.Log, hooks: cfg.Hooks,
		wake:    make(chan struct{}, 1),
		workers: map[string]chan struct{}{},
	}
	cfg.CodeDeploy.SetEngineHooks(codedeploy.EngineHooks{Notify: e.Notify, ValidateECS: e.validateECS, ValidateLambda: e.validateLambda})
	return e, nil
}

// Notify wakes the engine for a deployment: its worker if one runs here,
// else the scan that starts workers.
func (e *Engine) Notify(id string) {
	e.mu.Lock()
	w := e.workers[id]
	e.mu.Unlock()
	if w != nil {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// NotifyAll wakes every deployment this engine works on (an alarm changed
// state: each checks its alarms now rather than at its next poll).
func (e *Engine) NotifyAll() {
	e.mu.Lock()
	for _, w := range e.workers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	e.mu.Unlock()
}

// Run works until ctx ends: it scans for unfinished deployments, takes the
// lease of each that no live engine holds, and runs a worker for it.
// Leases are not released on return, as they would not be after a crash:
// the same owner takes them back at once, another after they expire.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := e.clk.NewTicker(e.cfg.PollInterval)
	defer tick.Stop()
	for {
		ids, err := e.cd.ActiveDeployments(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "listing deployments", "err", err)
		}
		for _, id := range ids {
			e.mu.Lock()
			_, running := e.workers[id]
			e.mu.Unlock()
			if running {
				continue
			}
			lease, err := e.cfg.Store.AcquireLease(ctx, leaseName(id), e.cfg.Owner, e.cfg.LeaseTTL)
			if errors.Is(err, store.ErrLeaseHeld) {
				continue
			} else if err != nil {
				if ctx.Err() == nil {
					e.log.ErrorContext(ctx, "taking deployment lease", "deployment", id, "err", err)
				}
				continue
			}
			w := make(chan struct{}, 1)
			e.mu.Lock()
			e.workers[id] = w
			e.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.work(ctx, id, lease, w)
				e.mu.Lock()
				delete(e.workers, id)
				e.mu.Unlock()
				// The deployment may have handed over to its rollback.
				e.Notify("")
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		case <-e.wake:
		}
	}
}

func leaseName(id string) string { return "deployment/" + id }

// work advances one deployment while this engine holds its lease.
func (e *Engine) work(ctx context.Context, id string, lease store.Lease, wake <-chan struct{}) {
	log := e.log.With("deployment", id)
	renewedAt, renewedAtClock := time.Now(), e.clk.Now()
	for {
		if ctx.Err() != nil {
			return
		}
		// The lease is renewed once a third of its time has passed, not at
		// every step: a renewal is a durable write, and a deployment that
		// waits steps many times a second under --time-scale. The store
		// keeps leases in real time, tests on a fake clock: whichever of
		// the two clocks says so first.
		if time.Since(renewedAt) >= e.cfg.LeaseTTL/3 || e.clk.Now().Sub(renewedAtClock) >= e.cfg.LeaseTTL/3 {
			renewed, err := e.cfg.Store.AcquireLease(ctx, leaseName(id), e.cfg.Owner, e.cfg.LeaseTTL)
			if err != nil || renewed.Epoch != lease.Epoch {
				if ctx.Err() == nil {
					log.WarnContext(ctx, "lost the deployment lease", "err", err)
				}
				return
			}
			renewedAt, renewedAtClock = time.Now(), e.clk.Now()
		}
		next, done, err := e.Reconcile(ctx, id)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "deployment step failed; retrying", "err", err)
		}
		if done {
			if err := e.cfg.Store.ReleaseLease(context.WithoutCancel(ctx), leaseName(id), e.cfg.Owner); err != nil {
				log.WarnContext(ctx, "releasing the deployment lease", "err", err)
			}
			return
		}
		if next {
			continue
		}
		// Wait for a notification or the poll interval; the step itself
		// compares the stored absolute deadlines with the clock.
		t := e.clk.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// validateECS is CreateDeployment's check of an ECS AppSpec against ECS.
func (e *Engine) validateECS(ctx context.Context, g *codedeploy.DeploymentGroupInfo, spec *appspec.ECS) error {
	c, ok := e.cfg.ECS.(TaskDefinitionChecker)
	if !ok {
		return nil
	}
	err := c.CheckTaskDefinition(ctx, spec.Service.TaskDefinition, spec.Service.ContainerName, spec.Service.ContainerPort)
	if err == nil {
		return nil
	}
	if awsproto.AsError(err) != nil {
		return err
	}
	return fmt.Errorf("checking the task definition: %w", err)
}
