package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
)

// The ECS blue/green plan, in AWS's order. Hook events run the AppSpec's
// hook if it has one; the others are the engine's own work. ReadyWait,
// TerminationWait and Terminate are not lifecycle events AWS reports but
// places the deployment waits or acts between them.
const (
	stepStart      = "Start"
	stepReadyWait  = "ReadyWait"
	stepTermWait   = "TerminationWait"
	stepTerminate  = "Terminate"
	stepDone       = "Done"
	stepReroute    = "Reroute"
	stepRemoveRepl = "RemoveReplacement"

	evBeforeInstall         = "BeforeInstall"
	evInstall               = "Install"
	evAfterInstall          = "AfterInstall"
	evAllowTestTraffic      = "AllowTestTraffic"
	evAfterAllowTestTraffic = "AfterAllowTestTraffic"
	evBeforeAllowTraffic    = "BeforeAllowTraffic"
	evAllowTraffic          = "AllowTraffic"
	evAfterAllowTraffic     = "AfterAllowTraffic"
)

var ecsEvents = []string{evBeforeInstall, evInstall, evAfterInstall, evAllowTestTraffic, evAfterAllowTestTraffic, evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic}

var ecsPlan = []string{stepStart, evBeforeInstall, evInstall, evAfterInstall, evAllowTestTraffic, evAfterAllowTestTraffic,
	stepReadyWait, evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic, stepTermWait, stepTerminate, stepDone}

// A rollback deployment reroutes traffic to the original task set and
// removes the replacement; AWS reports the traffic events for it.
var rollbackEvents = []string{evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic}

var rollbackPlan = []string{stepStart, evBeforeAllowTraffic, stepReroute, evAfterAllowTraffic, stepRemoveRepl, stepDone}

var hookEvents = []string{evBeforeInstall, evAfterInstall, evAfterAllowTestTraffic, evBeforeAllowTraffic, evAfterAllowTraffic}

// ecsState is the engine's progress in a deployment record (EngineState).
// Times are absolute, so a restart waits exactly as long as was left.
type ecsState struct {
	Step          string   `json:"step"`
	Cluster       string   `json:"cluster,omitempty"`
	Service       string   `json:"service,omitempty"`
	ServiceARN    string   `json:"serviceArn,omitempty"`
	ProdListeners []string `json:"prodListeners,omitempty"`
	TestListeners []string `json:"testListeners,omitempty"`
	OrigTG        string   `json:"origTg,omitempty"`
	ReplTG        string   `json:"replTg,omitempty"`
	OrigTGName    string   `json:"origTgName,omitempty"`
	ReplTGName    string   `json:"replTgName,omitempty"`
	OrigTaskSet   string   `json:"origTaskSet,omitempty"`
	ReplTaskSet   string   `json:"replTaskSet,omitempty"`
	// Weight is the replacement's share of production traffic now.
	Weight          int       `json:"weight"`
	InstallDeadline time.Time `json:"installDeadline,omitzero"`
	ShiftStart      time.Time `json:"shiftStart,omitzero"`
	ShiftIndex      int       `json:"shiftIndex,omitempty"`
	ReadyDeadline   time.Time `json:"readyDeadline,omitzero"`
	TerminateAt     time.Time `json:"terminateAt,omitzero"`
	HookRetryAt     time.Time `json:"hookRetryAt,omitzero"`
	// RollbackOf is set on a rollback deployment: the deployment it undoes.
	RollbackOf string `json:"rollbackOf,omitempty"`
}

func (st *ecsState) plan() []string {
	if st.RollbackOf != "" {
		return rollbackPlan
	}
	return ecsPlan
}

func (st *ecsState) stepName() string { return st.Step }

func (st *ecsState) step(ctx context.Context, e *Engine, d *codedeploy.Deployment, now time.Time, out *outcome) error {
	return e.ecsStep(ctx, d, st, now, out)
}

// event is the lifecycle event in progress; a rollback's reroute reports
// as AllowTraffic.
func (st *ecsState) event() string {
	if slices.Contains(ecsEvents, st.Step) {
		return st.Step
	}
	if st.Step == stepReroute {
		return evAllowTraffic
	}
	return ""
}

// changedWorld: only a replacement task set needs undoing.
func (st *ecsState) changedWorld() bool { return st.ReplTaskSet != "" }

func (st *ecsState) rollbackOf() string { return st.RollbackOf }

func (st *ecsState) forRollback(of string) run {
	rst := *st
	rst.Step = stepStart
	rst.RollbackOf = of
	return &rst
}

func (st *ecsState) target(d *codedeploy.Deployment) codedeploy.EventTarget {
	if d.Target == nil {
		return nil
	}
	return d.Target
}

// ecsTarget is d's ECS target for the event helpers (nil before start).
func ecsTarget(d *codedeploy.Deployment) codedeploy.EventTarget {
	if d.Target == nil {
		return nil
	}
	return d.Target
}

// advance moves to the step after the current one.
func (st *ecsState) advance() {
	p := st.plan()
	i := slices.Index(p, st.Step)
	if i >= 0 && i+1 < len(p) {
		st.Step = p[i+1]
	}
}

// step runs the current step's side effects; it changes st and queues
// record changes in out. A *failure error fails the deployment; any other
// error is retried.
func (e *Engine) ecsStep(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	switch st.Step {
	case stepStart:
		if st.RollbackOf != "" {
			return e.startRollback(d, st, now, out)
		}
		return e.start(ctx, d, st, now, out)
	case evBeforeInstall, evAfterInstall, evAfterAllowTestTraffic, evBeforeAllowTraffic, evAfterAllowTraffic:
		return e.hookStep(ctx, d, st, now, out)
	case evInstall:
		return e.install(ctx, d, st, now, out)
	case evAllowTestTraffic:
		return e.allowTestTraffic(ctx, st, now, out)
	case stepReadyWait:
		return e.readyWait(d, st, now, out)
	case evAllowTraffic:
		return e.allowTraffic(ctx, d, st, now, out)
	case stepTermWait:
		return e.terminationWait(d, st, now, out)
	case stepTerminate:
		return e.terminate(ctx, st, now, out)
	case stepReroute:
		return e.reroute(ctx, st, now, out)
	case stepRemoveRepl:
		return e.removeReplacement(ctx, st, now, out)
	case stepDone:
		out.do(func(d *codedeploy.Deployment) {
			d.Status = codedeploy.StatusSucceeded
			d.CompleteTime = tptr(now)
			d.Target.Status = codedeploy.EventSucceeded
		})
		return nil
	}
	return &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("unknown deployment step %q", st.Step), noRollback: true}
}

// start resolves the group's service, listeners and target groups, finds
// which target group serves production now (the replacement goes to the
// other one), and makes the deployment InProgress.
func (e *Engine) start(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	g, err := e.cd.GetDeploymentGroup(ctx, d.ApplicationName, d.DeploymentGroupName)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return &failure{code: "DEPLOYMENT_GROUP_MISSING", message: fmt.Sprintf("The deployment group %s was not found: it may have been deleted after the deployment was created.", d.DeploymentGroupName), noRollback: true}
		}
		return err
	}
	if len(g.ECSServices) == 0 || d.LoadBalancerInfo == nil || len(d.LoadBalancerInfo.TargetGroupPairInfoList) == 0 {
		return &failure{code: "MISSING_ELB_INFORMATION", message: "The deployment group has no ECS service or no target group pair.", noRollback: true}
	}
	svcRef := g.ECSServices[0]
	pair := d.LoadBalancerInfo.TargetGroupPairInfoList[0]
	if len(pair.TargetGroups) != 2 || pair.ProdTrafficRoute == nil || len(pair.ProdTrafficRoute.ListenerArns) == 0 {
		return &failure{code: "MISSING_ELB_INFORMATION", message: "The deployment group's target group pair needs two target groups and a production listener.", noRollback: true}
	}
	st.Cluster, st.Service = deref(svcRef.ClusterName), deref(svcRef.ServiceName)
	st.ProdListeners = pair.ProdTrafficRoute.ListenerArns
	if pair.TestTrafficRoute != nil {
		st.TestListeners = pair.TestTrafficRoute.ListenerArns
	}
	var names, arns [2]string
	for i, tg := range pair.TargetGroups {
		names[i] = deref(tg.Name)
		arn, err := e.cfg.Traffic.TargetGroupARNByName(ctx, names[i])
		if err != nil {
			if awsproto.AsError(err) != nil {
				return &failure{code: "ELASTIC_LOAD_BALANCING_INVALID", message: fmt.Sprintf("The target group %s could not be found: %v", names[i], err), noRollback: true}
			}
			return err
		}
		arns[i] = arn
	}
	svc, err := e.cfg.ECS.DescribeServiceState(ctx, st.Cluster, st.Service)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return &failure{code: "INVALID_ECS_SERVICE", message: fmt.Sprintf("The ECS service %s of cluster %s could not be used: %v", st.Service, st.Cluster, err), noRollback: true}
		}
		return err
	}
	primary := svc.Primary()
	if primary == nil {
		return &failure{code: "INVALID_ECS_SERVICE", message: fmt.Sprintf("The ECS service %s has no primary task set to replace.", st.Service), noRollback: true}
	}
	weights, err := e.cfg.Traffic.ForwardWeights(ctx, st.ProdListeners[0])
	if err != nil {
		if awsproto.AsError(err) != nil {
			return &failure{code: "ELASTIC_LOAD_BALANCING_INVALID", message: fmt.Sprintf("The production listener could not be read: %v", err), noRollback: true}
		}
		return err
	}
	// Production is the pair's group with the larger weight; with neither
	// forwarded to, the one the primary task set is registered with; failing
	// that the first. The replacement always goes to the other.
	prod := 0
	switch {
	case weights[arns[0]] > 0 || weights[arns[1]] > 0:
		if weights[arns[1]] > weights[arns[0]] {
			prod = 1
		}
	case primary.TargetGroupARN == arns[1]:
		prod = 1
	}
	st.OrigTG, st.OrigTGName = arns[prod], names[prod]
	st.ReplTG, st.ReplTGName = arns[1-prod], names[1-prod]
	st.OrigTaskSet = primary.ID
	st.ServiceARN = svc.ServiceARN
	st.Weight = 0
	st.advance()
	out.do(func(d *codedeploy.Deployment) {
		d.Status = codedeploy.StatusInProgress
		d.StartTime = tptr(now)
		d.Target = newTarget(d.DeploymentID, st, ecsEvents, now)
		refreshTaskSets(d, st, svc)
	})
	return nil
}

func newTarget(id string, st *ecsState, events []string, now time.Time) *codedeploy.ECSTarget {
	t := &codedeploy.ECSTarget{
		DeploymentID: id, TargetID: st.Cluster + ":" + st.Service, TargetArn: st.ServiceARN,
		LastUpdatedAt: awsproto.NewTime(now), Status: codedeploy.EventInProgress,
		TaskSetsInfo: []codedeploy.ECSTaskSet{},
	}
	for _, ev := range events {
		t.LifecycleEvents = append(t.LifecycleEvents, codedeploy.LifecycleEvent{LifecycleEventName: ev, Status: codedeploy.EventPending})
	}
	return t
}

// refreshTaskSets records the original (Blue) and replacement (Green) task
// sets as ECS last reported them, with the weights the engine set.
func refreshTaskSets(d *codedeploy.Deployment, st *ecsState, svc *ServiceState) {
	if d.Target == nil {
		return
	}
	var out []codedeploy.ECSTaskSet
	add := func(id, label, tgName string, weight int) {
		if id == "" {
			return
		}
		ts := codedeploy.ECSTaskSet{Identifer: id, TaskSetLabel: label, TrafficWeight: float64(weight), TargetGroup: &codedeploy.TargetGroupInfo{Name: &tgName}}
		if svc != nil {
			if s := svc.TaskSet(id); s != nil {
				ts.DesiredCount, ts.PendingCount, ts.RunningCount = int64(s.DesiredCount), int64(s.PendingCount), int64(s.RunningCount)
				ts.Status = s.Status
			} else {
				ts.Status = "DELETED"
			}
		} else {
			// Keep the counts ECS last reported.
			for _, old := range d.Target.TaskSetsInfo {
				if old.Identifer == id {
					ts.DesiredCount, ts.PendingCount, ts.RunningCount, ts.Status = old.DesiredCount, old.PendingCount, old.RunningCount, old.Status
				}
			}
		}
		out = append(out, ts)
	}
	add(st.OrigTaskSet, "Blue", st.OrigTGName, 100-st.Weight)
	add(st.ReplTaskSet, "Green", st.ReplTGName, st.Weight)
	d.Target.TaskSetsInfo = out
}

// hookExecutionID is deterministic, so a hook step repeated after a crash
// makes the same execution, and a hook called twice sees the same id.
func hookExecutionID(deploymentID, event string) string {
	return uuid.NewSHA1(hookNamespace, []byte(deploymentID+"/"+event)).String()
}

var hookNamespace = uuid.MustParse("0d6c3c7e-3c1b-4f0e-9a57-2f5c1a0e7b11")

func (e *Engine) hookStep(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	target := ""
	if st.RollbackOf == "" {
		spec, err := appspec.ParseECS([]byte(d.AppSpec))
		if err != nil {
			return &failure{code: "INVALID_REVISION", message: fmt.Sprintf("The AppSpec file is invalid: %v", err), noRollback: true}
		}
		if h, ok := spec.Hook(st.Step); ok {
			target = h.Target
		}
	}
	return e.runHook(ctx, d, hookCall{event: st.Step, target: target, retryAt: &st.HookRetryAt, advance: st.advance, events: ecsTarget}, now, out)
}

// hookCall is one lifecycle event that runs an AppSpec hook, on any
// platform.
type hookCall struct {
	event  string
	target string // "" when the AppSpec has no hook for the event
	// retryAt is where the run keeps when an unreachable hook is called
	// again; advance moves the run past the event.
	retryAt *time.Time
	advance func()
	// events finds the deployment's lifecycle events in a record.
	events func(d *codedeploy.Deployment) codedeploy.EventTarget
}

// runHook calls the event's hook and waits for its answer (given through
// PutLifecycleEventHookExecutionStatus) or its timeout. An event without a
// hook succeeds at once.
func (e *Engine) runHook(ctx context.Context, d *codedeploy.Deployment, h hookCall, now time.Time, out *outcome) error {
	event, target := h.event, h.target
	if target == "" {
		h.advance()
		out.do(func(d *codedeploy.Deployment) { endEvent(h.events(d), event, codedeploy.EventSucceeded, now, nil) })
		return nil
	}
	var exec *codedeploy.HookExecution
	for i := range d.Hooks {
		if d.Hooks[i].Event == event {
			exec = &d.Hooks[i]
		}
	}
	fail := func(msg, errCode string) error {
		return &failure{code: "HOOK_EXECUTION_FAILURE", message: msg, event: event, noRollback: event == evBeforeInstall,
			diag: &codedeploy.Diagnostics{ErrorCode: errCode, ScriptName: target, Message: msg}}
	}
	if exec == nil {
		x := codedeploy.HookExecution{ID: hookExecutionID(d.DeploymentID, event), Event: event, Target: target, Status: codedeploy.HookPending,
			Started: awsproto.NewTime(now), Deadline: awsproto.NewTime(now.Add(e.cfg.HookTimeout))}
		*h.retryAt = time.Time{}
		out.do(func(d *codedeploy.Deployment) {
			if d.Hook(x.ID) == nil {
				d.Hooks = append(d.Hooks, x)
			}
			startEvent(h.events(d), event, now)
		})
		return nil
	}
	timedOut := !now.Before(exec.Deadline.Time)
	switch exec.Status {
	case codedeploy.HookSucceeded:
		h.advance()
		*h.retryAt = time.Time{}
		out.do(func(d *codedeploy.Deployment) { endEvent(h.events(d), event, codedeploy.EventSucceeded, now, nil) })
		return nil
	case codedeploy.HookFailed:
		return fail(fmt.Sprintf("The %s hook %s reported that it failed.", event, target), "ScriptFailed")
	case codedeploy.HookInvoked:
		if timedOut {
			return fail(fmt.Sprintf("The %s hook %s did not report a status within %v.", event, target, e.cfg.HookTimeout), "ScriptTimedOut")
		}
		return nil
	}
	// Pending: call the hook (again, after a crash: same execution id).
	if timedOut {
		return fail(fmt.Sprintf("The %s hook %s could not be reached within %v.", event, target, e.cfg.HookTimeout), "ScriptTimedOut")
	}
	if now.Before(*h.retryAt) {
		return nil
	}
	err := e.hooks.InvokeHook(ctx, HookRequest{DeploymentID: d.DeploymentID, ExecutionID: exec.ID, Event: event, Target: target})
	if errors.Is(err, ErrHookRetry) {
		e.log.InfoContext(ctx, "hook unreachable; will retry", "deployment", d.DeploymentID, "event", event, "err", err)
		*h.retryAt = now.Add(e.cfg.PollInterval)
		return nil
	}
	if err != nil {
		return fail(err.Error(), "UnknownError")
	}
	id := exec.ID
	out.progress = true
	out.do(func(d *codedeploy.Deployment) {
		// The hook may have answered already; never overwrite its answer.
		if h := d.Hook(id); h != nil && h.Status == codedeploy.HookPending {
			h.Status = codedeploy.HookInvoked
		}
	})
	return nil
}

func taskSetSpec(d *codedeploy.Deployment, st *ecsState) (TaskSetSpec, error) {
	spec, err := appspec.ParseECS([]byte(d.AppSpec))
	if err != nil {
		return TaskSetSpec{}, err
	}
	s := spec.Service
	ts := TaskSetSpec{
		Cluster: st.Cluster, Service: st.Service,
		// The deployment id is the external id: EnsureTaskSet called again
		// for the same deployment finds the task set it made.
		ExternalID:      d.DeploymentID,
		TaskDefinition:  s.TaskDefinition,
		LoadBalancer:    LoadBalancer{TargetGroupArn: st.ReplTG, ContainerName: s.ContainerName, ContainerPort: s.ContainerPort},
		ScalePercent:    100,
		PlatformVersion: s.PlatformVersion,
	}
	if nc := s.NetworkConfiguration; nc != nil {
		ts.NetworkConfiguration = &NetworkConfiguration{Subnets: nc.Subnets, SecurityGroups: nc.SecurityGroups, AssignPublicIP: nc.AssignPublicIp}
	}
	for _, c := range s.CapacityProviderStrategy {
		ts.CapacityProviderStrategy = append(ts.CapacityProviderStrategy, CapacityProviderStrategyItem{CapacityProvider: c.CapacityProvider, Weight: c.Weight, Base: c.Base})
	}
	return ts, nil
}

// install creates the replacement task set on the target group not serving
// production, then waits until all its tasks run and are healthy.
func (e *Engine) install(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	ecsFail := func(msg string) error {
		return &failure{code: "ECS_UPDATE_ERROR", message: msg, event: evInstall, noRollback: st.ReplTaskSet == "",
			diag: &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: msg}}
	}
	if st.ReplTaskSet == "" {
		spec, err := taskSetSpec(d, st)
		if err != nil {
			return &failure{code: "INVALID_REVISION", message: fmt.Sprintf("The AppSpec file is invalid: %v", err), event: evInstall, noRollback: true}
		}
		ts, err := e.cfg.ECS.EnsureTaskSet(ctx, spec)
		if err != nil {
			if awsproto.AsError(err) != nil {
				return ecsFail(fmt.Sprintf("The replacement task set could not be created: %v", err))
			}
			return err
		}
		st.ReplTaskSet = ts.ID
		st.InstallDeadline = now.Add(e.cfg.InstallTimeout)
		out.do(func(d *codedeploy.Deployment) {
			startEvent(ecsTarget(d), evInstall, now)
			refreshTaskSets(d, st, &ServiceState{TaskSets: []TaskSetState{*ts}})
		})
		return nil
	}
	svc, err := e.cfg.ECS.DescribeServiceState(ctx, st.Cluster, st.Service)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return ecsFail(fmt.Sprintf("The ECS service could not be read: %v", err))
		}
		return err
	}
	ts := svc.TaskSet(st.ReplTaskSet)
	if ts == nil {
		return ecsFail(fmt.Sprintf("The replacement task set %s is gone.", st.ReplTaskSet))
	}
	out.do(func(d *codedeploy.Deployment) { refreshTaskSets(d, st, svc) })
	switch {
	case ts.FailureReason != "":
		return ecsFail(fmt.Sprintf("The replacement task set %s could not start its tasks: %s", ts.ID, ts.FailureReason))
	case ts.Stable():
		st.advance()
		out.do(func(d *codedeploy.Deployment) { endEvent(ecsTarget(d), evInstall, codedeploy.EventSucceeded, now, nil) })
	case !now.Before(st.InstallDeadline):
		return ecsFail(fmt.Sprintf("The replacement task set %s did not become stable and healthy within %v (%d of %d tasks running, %d healthy).",
			ts.ID, e.cfg.InstallTimeout, ts.RunningCount, ts.DesiredCount, ts.HealthyCount))
	}
	return nil
}

func (e *Engine) setWeights(ctx context.Context, listeners []string, weights map[string]int, event string) error {
	for _, l := range listeners {
		if err := e.cfg.Traffic.SetForwardWeights(ctx, l, weights); err != nil {
			if awsproto.AsError(err) != nil {
				msg := fmt.Sprintf("Traffic could not be routed on listener %s: %v", l, err)
				return &failure{code: "ELASTIC_LOAD_BALANCING_INVALID", message: msg, event: event, diag: &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: msg}}
			}
			return err
		}
	}
	return nil
}

func (e *Engine) allowTestTraffic(ctx context.Context, st *ecsState, now time.Time, out *outcome) error {
	if len(st.TestListeners) == 0 {
		st.advance()
		out.do(func(d *codedeploy.Deployment) {
			endEvent(ecsTarget(d), evAllowTestTraffic, codedeploy.EventSkipped, now, nil)
		})
		return nil
	}
	if err := e.setWeights(ctx, st.TestListeners, map[string]int{st.OrigTG: 0, st.ReplTG: 100}, evAllowTestTraffic); err != nil {
		return err
	}
	st.advance()
	out.do(func(d *codedeploy.Deployment) {
		endEvent(ecsTarget(d), evAllowTestTraffic, codedeploy.EventSucceeded, now, nil)
	})
	return nil
}

// readyWait holds the deployment in status Ready before rerouting when the
// group says STOP_DEPLOYMENT: ContinueDeployment(READY_WAIT) goes on, and
// with no call within waitTimeInMinutes the deployment is stopped.
// CONTINUE_DEPLOYMENT (or no option) reroutes at once.
func (e *Engine) readyWait(d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	var opt *codedeploy.DeploymentReadyOption
	if bg := d.BlueGreenDeploymentConfiguration; bg != nil {
		opt = bg.DeploymentReadyOption
	}
	if opt == nil || deref(opt.ActionOnTimeout) != "STOP_DEPLOYMENT" {
		st.advance()
		return nil
	}
	if st.ReadyDeadline.IsZero() {
		wait := time.Duration(derefInt(opt.WaitTimeInMinutes)) * time.Minute
		st.ReadyDeadline = now.Add(wait)
		out.do(func(d *codedeploy.Deployment) {
			if !d.Control.ReadyContinued {
				d.Status = codedeploy.StatusReady
				d.Target.Status = codedeploy.TargetReady
			}
		})
		return nil
	}
	if d.Control.ReadyContinued {
		st.advance()
		out.do(func(d *codedeploy.Deployment) {
			d.Status = codedeploy.StatusInProgress
			d.Target.Status = codedeploy.EventInProgress
		})
		return nil
	}
	if !now.Before(st.ReadyDeadline) {
		return &failure{code: "TIMEOUT", message: "The deployment was stopped because traffic rerouting was not continued (ContinueDeployment) within the deployment group's wait time.",
			stopped: true, noRollback: true}
	}
	return nil
}

func (e *Engine) schedule(ctx context.Context, d *codedeploy.Deployment) ([]Shift, error) {
	cfg, err := e.cd.GetDeploymentConfig(ctx, d.DeploymentConfigName)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return nil, &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("The deployment config %s is gone.", d.DeploymentConfigName), event: evAllowTraffic}
		}
		return nil, err
	}
	s, err := Schedule(cfg.TrafficRoutingConfig)
	if err != nil {
		return nil, &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("The deployment config %s: %v", d.DeploymentConfigName, err), event: evAllowTraffic}
	}
	return s, nil
}

// allowTraffic moves production weights step by step. Each step's weight
// is set from the schedule anchored at the stored ShiftStart, so after a
// restart the listener gets the weight that is due now, never a sum.
func (e *Engine) allowTraffic(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	sched, err := e.schedule(ctx, d)
	if err != nil {
		return err
	}
	if st.ShiftStart.IsZero() {
		st.ShiftStart = now
		out.do(func(d *codedeploy.Deployment) { startEvent(ecsTarget(d), evAllowTraffic, now) })
	}
	due := -1
	for i, s := range sched {
		if !st.ShiftStart.Add(s.At).After(now) {
			due = i
		}
	}
	if due >= st.ShiftIndex {
		w := sched[due].Weight
		if err := e.setWeights(ctx, st.ProdListeners, map[string]int{st.OrigTG: 100 - w, st.ReplTG: w}, evAllowTraffic); err != nil {
			return err
		}
		st.ShiftIndex = due + 1
		st.Weight = w
		out.do(func(d *codedeploy.Deployment) { refreshTaskSets(d, st, nil) })
	}
	if st.ShiftIndex >= len(sched) {
		st.advance()
		out.do(func(d *codedeploy.Deployment) {
			endEvent(ecsTarget(d), evAllowTraffic, codedeploy.EventSucceeded, now, nil)
		})
	}
	return nil
}

func (e *Engine) terminationWait(d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	if st.TerminateAt.IsZero() {
		var wait time.Duration
		if bg := d.BlueGreenDeploymentConfiguration; bg != nil && bg.TerminateBlueInstancesOnDeploymentSuccess != nil {
			wait = time.Duration(derefInt(bg.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes)) * time.Minute
		}
		st.TerminateAt = now.Add(wait)
		out.do(func(d *codedeploy.Deployment) { d.InstanceTerminationWaitTimeStarted = true })
		return nil
	}
	if d.Control.TerminationWaitSkipped || !now.Before(st.TerminateAt) {
		st.advance()
	}
	return nil
}

// terminate makes the replacement the primary task set and removes the
// original, as AWS does after a successful deployment.
func (e *Engine) terminate(ctx context.Context, st *ecsState, now time.Time, out *outcome) error {
	if err := e.cfg.ECS.SetPrimaryTaskSet(ctx, st.Cluster, st.Service, st.ReplTaskSet); err != nil {
		return e.ecsErr(err, "The replacement task set could not be made primary")
	}
	if err := e.cfg.ECS.DeleteTaskSet(ctx, st.Cluster, st.Service, st.OrigTaskSet); err != nil {
		return e.ecsErr(err, "The original task set could not be deleted")
	}
	svc, err := e.cfg.ECS.DescribeServiceState(ctx, st.Cluster, st.Service)
	if err != nil {
		svc = nil // the counts are informative; the work is done
	}
	st.advance()
	out.do(func(d *codedeploy.Deployment) { refreshTaskSets(d, st, svc) })
	return nil
}

func (e *Engine) ecsErr(err error, what string) error {
	if awsproto.AsError(err) != nil {
		return &failure{code: "ECS_UPDATE_ERROR", message: fmt.Sprintf("%s: %v", what, err)}
	}
	return err
}

// startRollback begins a rollback deployment (made by finish).
func (e *Engine) startRollback(d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
	st.advance()
	out.do(func(d *codedeploy.Deployment) {
		d.Status = codedeploy.StatusInProgress
		d.StartTime = tptr(now)
		d.Target = newTarget(d.DeploymentID, st, rollbackEvents, now)
		refreshTaskSets(d, st, nil)
	})
	return nil
}

// reroute sends all production and test traffic back to the original task
// set.
func (e *Engine) reroute(ctx context.Context, st *ecsState, now time.Time, out *outcome) error {
	back := map[string]int{st.OrigTG: 100, st.ReplTG: 0}
	if err := e.setWeights(ctx, st.ProdListeners, back, evAllowTraffic); err != nil {
		return err
	}
	if err := e.setWeights(ctx, st.TestListeners, back, evAllowTraffic); err != nil {
		return err
	}
	st.Weight = 0
	st.advance()
	out.do(func(d *codedeploy.Deployment) {
		endEvent(ecsTarget(d), evAllowTraffic, codedeploy.EventSucceeded, now, nil)
		refreshTaskSets(d, st, nil)
	})
	return nil
}

func (e *Engine) removeReplacement(ctx context.Context, st *ecsState, now time.Time, out *outcome) error {
	if err := e.cfg.ECS.SetPrimaryTaskSet(ctx, st.Cluster, st.Service, st.OrigTaskSet); err != nil {
		return e.ecsErr(err, "The original task set could not be made primary again")
	}
	if st.ReplTaskSet != "" {
		if err := e.cfg.ECS.DeleteTaskSet(ctx, st.Cluster, st.Service, st.ReplTaskSet); err != nil {
			return e.ecsErr(err, "The replacement task set could not be deleted")
		}
	}
	svc, err := e.cfg.ECS.DescribeServiceState(ctx, st.Cluster, st.Service)
	if err != nil {
		svc = nil
	}
	st.advance()
	out.do(func(d *codedeploy.Deployment) { refreshTaskSets(d, st, svc) })
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefInt(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}
