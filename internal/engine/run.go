package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
)

// run is a deployment's progress on its compute platform, kept as JSON in
// the record's EngineState. Reconcile, stops, alarms, failure and rollback
// are the same for every platform; a run does the platform's own steps.
type run interface {
	// stepName names the current step (logs, crash tests).
	stepName() string
	// step does the current step's side effects, changes the run and
	// queues record changes in out. A *failure error fails the
	// deployment; any other error is retried.
	step(ctx context.Context, e *Engine, d *codedeploy.Deployment, now time.Time, out *outcome) error
	// event is the lifecycle event in progress, "" between events.
	event() string
	// changedWorld says something was changed that a rollback undoes.
	changedWorld() bool
	// rollbackOf is the deployment this one rolls back, "" if none.
	rollbackOf() string
	// forRollback is the run a rollback deployment of this one starts with.
	forRollback(of string) run
	// target is the deployment's target as its lifecycle events are
	// recorded, or nil before the deployment started.
	target(d *codedeploy.Deployment) codedeploy.EventTarget
}

// decodeRun reads a deployment's run; nil for a platform the engine does
// not run.
func decodeRun(d *codedeploy.Deployment) (run, error) {
	switch d.ComputePlatform {
	case codedeploy.PlatformECS:
		st := &ecsState{}
		if err := unmarshalState(d, st); err != nil {
			return nil, err
		}
		if st.Step == "" {
			st.Step = stepStart
		}
		return st, nil
	case codedeploy.PlatformLambda:
		st := &lambdaState{}
		if err := unmarshalState(d, st); err != nil {
			return nil, err
		}
		if st.Step == "" {
			st.Step = stepStart
		}
		return st, nil
	case codedeploy.PlatformServer:
		return decodeServerRun(d)
	}
	return nil, nil
}

// ender is a run with work of its own when its deployment ends early (a
// Server run cancels its hosts' commands and settles its instances, which
// are records of their own). It returns the deployment's overview.
type ender interface {
	end(ctx context.Context, e *Engine, d *codedeploy.Deployment, f *failure, now time.Time) (*codedeploy.DeploymentOverview, error)
}

func unmarshalState(d *codedeploy.Deployment, v any) error {
	if len(d.EngineState) == 0 {
		return nil
	}
	if err := json.Unmarshal(d.EngineState, v); err != nil {
		return fmt.Errorf("decoding engine state of %s: %w", d.DeploymentID, err)
	}
	return nil
}

// failure ends a deployment as Failed (or Stopped).
type failure struct {
	code, message string
	event         string // the lifecycle event that failed, if any
	diag          *codedeploy.Diagnostics
	// noRollback: the failure cannot trigger a rollback (BeforeInstall's
	// results cannot, as AWS documents, and nothing was changed yet).
	noRollback bool
	stopped    bool // end as Stopped rather than Failed
	// rollbackEvent is the AutoRollbackEvent that decides whether this
	// failure rolls back; "" means DEPLOYMENT_FAILURE for a failure (a stop
	// decides in stopFailure).
	rollbackEvent string
}

func (f *failure) Error() string { return f.code + ": " + f.message }

// outcome is what a step did: changes to the record, or a failure.
type outcome struct {
	apply []func(d *codedeploy.Deployment)
	fail  *failure
	// progress: the world moved even if the record may not (a hook that
	// answered during its call), so the next step may be due at once.
	progress bool
}

func (o *outcome) do(fn func(d *codedeploy.Deployment)) { o.apply = append(o.apply, fn) }

// Reconcile does the next step of a deployment and stores its result. again
// says the next step can run at once; done that the deployment is over.
func (e *Engine) Reconcile(ctx context.Context, id string) (again, done bool, err error) {
	d, err := e.cd.Deployment(ctx, id)
	if err != nil {
		return false, false, err
	}
	if codedeploy.Terminal(d.Status) {
		return false, true, nil
	}
	r, err := decodeRun(d)
	if err != nil {
		return false, false, err
	}
	before, _ := json.Marshal(r)
	step := r.stepName()
	now := e.clk.Now()

	var out outcome
	changed := false
	alarm, err := e.checkAlarms(ctx, d)
	if err != nil {
		return false, false, fmt.Errorf("deployment %s: checking alarms: %w", id, err)
	}
	if r == nil {
		out.fail = &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("cutover cannot run %s deployments yet.", d.ComputePlatform), noRollback: true}
		r = &ecsState{Step: stepStart}
	} else if d.Control.StopRequested {
		out.fail = e.stopFailure(d, r)
	} else if alarm != nil {
		out.fail = alarm
	} else if err := r.step(ctx, e, d, now, &out); err != nil {
		var f *failure
		if !errors.As(err, &f) {
			return false, false, fmt.Errorf("deployment %s, step %s: %w", id, step, err)
		}
		out.fail = f
	}
	after, _ := json.Marshal(r)
	acted := out.fail != nil || len(out.apply) > 0 || string(after) != string(before)
	if h := e.cfg.stepHook; h != nil && acted {
		if err := h(id, step, "effect"); err != nil {
			return false, false, err
		}
	}
	if out.fail != nil {
		if err := e.finish(ctx, d, r, out.fail, now); err != nil {
			return false, false, err
		}
		e.log.InfoContext(ctx, "deployment ended", "deployment", id, "step", step, "code", out.fail.code, "message", out.fail.message)
	} else if acted {
		err := e.cd.UpdateDeployment(ctx, id, func(fresh *codedeploy.Deployment) error {
			if codedeploy.Terminal(fresh.Status) {
				return errStale
			}
			old, _ := json.Marshal(fresh)
			for _, fn := range out.apply {
				fn(fresh)
			}
			fresh.EngineState = after
			if cur, _ := json.Marshal(fresh); string(cur) == string(old) {
				// Nothing new (a wait that re-read the world): no write.
				return codedeploy.ErrUnchanged
			}
			changed = true
			if t := r.target(fresh); t != nil {
				t.Touch(now)
				fresh.DeploymentOverview = overview(t.TargetStatus())
			}
			return nil
		})
		if errors.Is(err, errStale) {
			return false, true, nil
		}
		if err != nil {
			return false, false, fmt.Errorf("storing step %s of %s: %w", step, id, err)
		}
	}
	if h := e.cfg.stepHook; h != nil && (changed || out.fail != nil) {
		if err := h(id, step, "stored"); err != nil {
			return false, false, err
		}
	}
	if out.fail != nil {
		return false, true, nil
	}
	// Progress means the next step may be due at once; a step that only
	// waited changed nothing.
	return changed || out.progress, false, nil
}

var errStale = errors.New("engine: deployment already ended")

func overview(targetStatus string) *codedeploy.DeploymentOverview {
	o := &codedeploy.DeploymentOverview{}
	switch targetStatus {
	case codedeploy.EventPending:
		o.Pending = 1
	case codedeploy.EventInProgress:
		o.InProgress = 1
	case codedeploy.EventSucceeded:
		o.Succeeded = 1
	case codedeploy.EventFailed:
		o.Failed = 1
	case codedeploy.EventSkipped:
		o.Skipped = 1
	case codedeploy.TargetReady:
		o.Ready = 1
	}
	return o
}

func tptr(t time.Time) *awsproto.Time {
	v := awsproto.NewTime(t.UTC().Truncate(time.Millisecond))
	return &v
}

func startEvent(t codedeploy.EventTarget, name string, now time.Time) {
	if t == nil {
		return
	}
	if ev := t.Event(name); ev != nil && ev.Status == codedeploy.EventPending {
		ev.Status = codedeploy.EventInProgress
		ev.StartTime = tptr(now)
	}
}

func endEvent(t codedeploy.EventTarget, name, status string, now time.Time, diag *codedeploy.Diagnostics) {
	if t == nil {
		return
	}
	ev := t.Event(name)
	if ev == nil || ev.Status == codedeploy.EventSucceeded || ev.Status == codedeploy.EventFailed || ev.Status == codedeploy.EventSkipped {
		return
	}
	if ev.StartTime == nil {
		ev.StartTime = tptr(now)
	}
	ev.EndTime = tptr(now)
	ev.Status = status
	ev.Diagnostics = diag
}

// stopFailure is how a requested stop ends the deployment.
func (e *Engine) stopFailure(d *codedeploy.Deployment, r run) *failure {
	f := &failure{code: "MANUAL_STOP", message: "The deployment was stopped by a user request.", stopped: true, event: r.event()}
	rollback := rollbackConfigured(d, "DEPLOYMENT_STOP_ON_REQUEST")
	if d.Control.StopAutoRollback != nil {
		rollback = *d.Control.StopAutoRollback
	}
	f.noRollback = !rollback || r.rollbackOf() != ""
	return f
}

func rollbackConfigured(d *codedeploy.Deployment, event string) bool {
	c := d.AutoRollbackConfiguration
	return c != nil && c.Enabled && slices.Contains(c.Events, event)
}

// finish ends a deployment as Failed or Stopped, and when it rolls back,
// creates the rollback deployment in the same transaction. A rollback is
// only made when something was changed (the replacement task set exists).
func (e *Engine) finish(ctx context.Context, d *codedeploy.Deployment, r run, f *failure, now time.Time) error {
	if f.event == "" {
		f.event = r.event()
	}
	rollback := !f.noRollback && r.changedWorld() && r.rollbackOf() == ""
	switch {
	case f.rollbackEvent != "":
		rollback = rollback && rollbackConfigured(d, f.rollbackEvent)
	case !f.stopped && !rollbackConfigured(d, "DEPLOYMENT_FAILURE"):
		rollback = false
	}
	var endOverview *codedeploy.DeploymentOverview
	if en, ok := r.(ender); ok {
		var err error
		if endOverview, err = en.end(ctx, e, d, f, now); err != nil {
			return err
		}
	}
	status := codedeploy.StatusFailed
	if f.stopped {
		status = codedeploy.StatusStopped
	}
	end := func(d *codedeploy.Deployment) {
		d.Status = status
		d.CompleteTime = tptr(now)
		d.ErrorInformation = &codedeploy.ErrorInformation{Code: f.code, Message: f.message}
		if t := r.target(d); t != nil {
			if f.event != "" {
				diag := f.diag
				if diag == nil {
					diag = &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: f.message}
				}
				startEvent(t, f.event, now)
				endEvent(t, f.event, codedeploy.EventFailed, now, diag)
			}
			evs := t.Events()
			for i := range evs {
				if evs[i].Status == codedeploy.EventPending || evs[i].Status == codedeploy.EventInProgress {
					evs[i].Status = codedeploy.EventSkipped
				}
			}
			t.SetTargetStatus(codedeploy.EventFailed)
			t.Touch(now)
			d.DeploymentOverview = overview(t.TargetStatus())
		} else if endOverview != nil {
			d.DeploymentOverview = endOverview
		} else {
			d.DeploymentOverview = &codedeploy.DeploymentOverview{}
		}
		enc, _ := json.Marshal(r)
		d.EngineState = enc
	}
	if !rollback {
		err := e.cd.UpdateDeployment(ctx, d.DeploymentID, func(fresh *codedeploy.Deployment) error {
			if codedeploy.Terminal(fresh.Status) {
				return codedeploy.ErrUnchanged
			}
			end(fresh)
			return nil
		})
		return err
	}
	g, err := e.cd.GetDeploymentGroup(ctx, d.ApplicationName, d.DeploymentGroupName)
	var previous *codedeploy.RevisionLocation
	if err == nil {
		previous = g.TargetRevision
	}
	_, err = e.cd.RollBack(ctx, d.DeploymentID, func(fresh *codedeploy.Deployment, rid string) (*codedeploy.Deployment, error) {
		if codedeploy.Terminal(fresh.Status) {
			return nil, errStale
		}
		end(fresh)
		fresh.RollbackInfo = &codedeploy.RollbackInfo{RollbackDeploymentID: rid,
			RollbackMessage: fmt.Sprintf("Deployment %s was rolled back by deployment %s.", fresh.DeploymentID, rid)}
		rb := &codedeploy.Deployment{DeploymentInfo: fresh.DeploymentInfo, FullRevision: previous}
		rb.DeploymentID = rid
		rb.Status = codedeploy.StatusCreated
		rb.CreateTime = awsproto.NewTime(now.UTC().Truncate(time.Millisecond))
		rb.StartTime, rb.CompleteTime, rb.ErrorInformation = nil, nil, nil
		rb.Creator = codedeploy.CreatorRollback
		rb.Description = ""
		rb.Revision, rb.PreviousRevision = fresh.PreviousRevision, fresh.Revision
		rb.InstanceTerminationWaitTimeStarted = false
		rb.DeploymentOverview = &codedeploy.DeploymentOverview{}
		rb.DeploymentStatusMessages = []string{}
		rb.RollbackInfo = &codedeploy.RollbackInfo{RollbackTriggeringDeploymentID: fresh.DeploymentID,
			RollbackMessage: fmt.Sprintf("Automatic rollback of deployment %s (%s).", fresh.DeploymentID, f.code)}
		rb.EngineState, _ = json.Marshal(r.forRollback(fresh.DeploymentID))
		return rb, nil
	})
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}
