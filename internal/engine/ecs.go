package engine

import (
	"context"
	"encoding/json"
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

// advance moves to the step after the current one.
func (st *ecsState) advance() {
	p := st.plan()
	i := slices.Index(p, st.Step)
	if i >= 0 && i+1 < len(p) {
		st.Step = p[i+1]
	}
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
	var st ecsState
	if len(d.EngineState) > 0 {
		if err := json.Unmarshal(d.EngineState, &st); err != nil {
			return false, false, fmt.Errorf("decoding engine state of %s: %w", id, err)
		}
	}
	if st.Step == "" {
		st.Step = stepStart
	}
	before, _ := json.Marshal(st)
	step := st.Step
	now := e.clk.Now()

	var out outcome
	changed := false
	alarm, err := e.checkAlarms(ctx, d)
	if err != nil {
		return false, false, fmt.Errorf("deployment %s: checking alarms: %w", id, err)
	}
	if d.Control.StopRequested {
		out.fail = e.stopFailure(d, &st)
	} else if alarm != nil {
		out.fail = alarm
	} else if d.ComputePlatform != codedeploy.PlatformECS {
		out.fail = &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("cutover cannot run %s deployments yet.", d.ComputePlatform), noRollback: true}
	} else if err := e.step(ctx, d, &st, now, &out); err != nil {
		var f *failure
		if !errors.As(err, &f) {
			return false, false, fmt.Errorf("deployment %s, step %s: %w", id, step, err)
		}
		out.fail = f
	}
	after, _ := json.Marshal(st)
	acted := out.fail != nil || len(out.apply) > 0 || string(after) != string(before)
	if h := e.cfg.stepHook; h != nil && acted {
		if err := h(id, step, "effect"); err != nil {
			return false, false, err
		}
	}
	if out.fail != nil {
		if err := e.finish(ctx, d, &st, out.fail, now); err != nil {
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
			if fresh.Target != nil {
				fresh.Target.LastUpdatedAt = awsproto.NewTime(now)
				fresh.DeploymentOverview = overview(fresh.Target.Status)
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

func startEvent(d *codedeploy.Deployment, name string, now time.Time) {
	if d.Target == nil {
		return
	}
	if ev := d.Target.Event(name); ev != nil && ev.Status == codedeploy.EventPending {
		ev.Status = codedeploy.EventInProgress
		ev.StartTime = tptr(now)
	}
}

func endEvent(d *codedeploy.Deployment, name, status string, now time.Time, diag *codedeploy.Diagnostics) {
	if d.Target == nil {
		return
	}
	ev := d.Target.Event(name)
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

// step runs the current step's side effects; it changes st and queues
// record changes in out. A *failure error fails the deployment; any other
// error is retried.
func (e *Engine) step(ctx context.Context, d *codedeploy.Deployment, st *ecsState, now time.Time, out *outcome) error {
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
	event := st.Step
	target := ""
	if st.RollbackOf == "" {
		spec, err := appspec.ParseECS([]byte(d.AppSpec))
		if err != nil {
			return &failure{code: "INVALID_REVISION", message: fmt.Sprintf("The AppSpec file is invalid: %v", err), noRollback: true}
		}
		if h, ok := spec.Hook(event); ok {
			target = h.Target
		}
	}
	if target == "" {
		// No hook for this event: it succeeds at once.
		st.advance()
		out.do(func(d *codedeploy.Deployment) { endEvent(d, event, codedeploy.EventSucceeded, now, nil) })
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
		st.HookRetryAt = time.Time{}
		out.do(func(d *codedeploy.Deployment) {
			if d.Hook(x.ID) == nil {
				d.Hooks = append(d.Hooks, x)
			}
			startEvent(d, event, now)
		})
		return nil
	}
	timedOut := !now.Before(exec.Deadline.Time)
	switch exec.Status {
	case codedeploy.HookSucceeded:
		st.advance()
		st.HookRetryAt = time.Time{}
		out.do(func(d *codedeploy.Deployment) { endEvent(d, event, codedeploy.EventSucceeded, now, nil) })
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
	if now.Before(st.HookRetryAt) {
		return nil
	}
	err := e.hooks.InvokeHook(ctx, HookRequest{DeploymentID: d.DeploymentID, ExecutionID: exec.ID, Event: event, Target: target})
	if errors.Is(err, ErrHookRetry) {
		e.log.InfoContext(ctx, "hook unreachable; will retry", "deployment", d.DeploymentID, "event", event, "err", err)
		st.HookRetryAt = now.Add(e.cfg.PollInterval)
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
			startEvent(d, evInstall, now)
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
		out.do(func(d *codedeploy.Deployment) { endEvent(d, evInstall, codedeploy.EventSucceeded, now, nil) })
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
		out.do(func(d *codedeploy.Deployment) { endEvent(d, evAllowTestTraffic, codedeploy.EventSkipped, now, nil) })
		return nil
	}
	if err := e.setWeights(ctx, st.TestListeners, map[string]int{st.OrigTG: 0, st.ReplTG: 100}, evAllowTestTraffic); err != nil {
		return err
	}
	st.advance()
	out.do(func(d *codedeploy.Deployment) { endEvent(d, evAllowTestTraffic, codedeploy.EventSucceeded, now, nil) })
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
		out.do(func(d *codedeploy.Deployment) { startEvent(d, evAllowTraffic, now) })
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
		out.do(func(d *codedeploy.Deployment) { endEvent(d, evAllowTraffic, codedeploy.EventSucceeded, now, nil) })
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
		endEvent(d, evAllowTraffic, codedeploy.EventSucceeded, now, nil)
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

// stopFailure is how a requested stop ends the deployment.
func (e *Engine) stopFailure(d *codedeploy.Deployment, st *ecsState) *failure {
	f := &failure{code: "MANUAL_STOP", message: "The deployment was stopped by a user request.", stopped: true, event: currentEvent(st)}
	rollback := rollbackConfigured(d, "DEPLOYMENT_STOP_ON_REQUEST")
	if d.Control.StopAutoRollback != nil {
		rollback = *d.Control.StopAutoRollback
	}
	f.noRollback = !rollback || st.RollbackOf != ""
	return f
}

func currentEvent(st *ecsState) string {
	if slices.Contains(ecsEvents, st.Step) {
		return st.Step
	}
	if st.Step == stepReroute {
		return evAllowTraffic
	}
	return ""
}

func rollbackConfigured(d *codedeploy.Deployment, event string) bool {
	c := d.AutoRollbackConfiguration
	return c != nil && c.Enabled && slices.Contains(c.Events, event)
}

// finish ends a deployment as Failed or Stopped, and when it rolls back,
// creates the rollback deployment in the same transaction. A rollback is
// only made when something was changed (the replacement task set exists).
func (e *Engine) finish(ctx context.Context, d *codedeploy.Deployment, st *ecsState, f *failure, now time.Time) error {
	if f.event == "" {
		f.event = currentEvent(st)
	}
	rollback := !f.noRollback && st.ReplTaskSet != "" && st.RollbackOf == ""
	switch {
	case f.rollbackEvent != "":
		rollback = rollback && rollbackConfigured(d, f.rollbackEvent)
	case !f.stopped && !rollbackConfigured(d, "DEPLOYMENT_FAILURE"):
		rollback = false
	}
	status := codedeploy.StatusFailed
	if f.stopped {
		status = codedeploy.StatusStopped
	}
	end := func(d *codedeploy.Deployment) {
		d.Status = status
		d.CompleteTime = tptr(now)
		d.ErrorInformation = &codedeploy.ErrorInformation{Code: f.code, Message: f.message}
		if d.Target != nil {
			if f.event != "" {
				diag := f.diag
				if diag == nil {
					diag = &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: f.message}
				}
				startEvent(d, f.event, now)
				endEvent(d, f.event, codedeploy.EventFailed, now, diag)
			}
			for i := range d.Target.LifecycleEvents {
				ev := &d.Target.LifecycleEvents[i]
				if ev.Status == codedeploy.EventPending || ev.Status == codedeploy.EventInProgress {
					ev.Status = codedeploy.EventSkipped
				}
			}
			d.Target.Status = codedeploy.EventFailed
			d.Target.LastUpdatedAt = awsproto.NewTime(now)
			d.DeploymentOverview = overview(d.Target.Status)
		} else {
			d.DeploymentOverview = &codedeploy.DeploymentOverview{}
		}
		enc, _ := json.Marshal(st)
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
		rst := *st
		rst.Step = stepStart
		rst.RollbackOf = fresh.DeploymentID
		rb.EngineState, _ = json.Marshal(rst)
		return rb, nil
	})
	if errors.Is(err, errStale) {
		return nil
	}
	return err
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
