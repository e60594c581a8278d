package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
)

// FunctionAliases is what Lambda deployments need of Lambda: an alias's
// routing (its version and the extra versions' weights, 0..1), changed
// step by step, and version lookups. *lambda.Service satisfies it.
type FunctionAliases interface {
	AliasRouting(ctx context.Context, function, alias string) (version string, extra map[string]float64, err error)
	SetAliasRouting(ctx context.Context, function, alias, version string, extra map[string]float64) error
	ResolveVersion(ctx context.Context, function, qualifier string) (string, error)
}

// The Lambda plan, in AWS's order: the hooks around AllowTraffic, which
// moves the alias's weight from the current to the target version.
var lambdaEvents = []string{evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic}

var lambdaPlan = []string{stepStart, evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic, stepDone}

// A Lambda rollback points the alias back at the current version.
var lambdaRollbackPlan = []string{stepStart, evBeforeAllowTraffic, stepReroute, evAfterAllowTraffic, stepDone}

// lambdaState is a Lambda deployment's progress (EngineState).
type lambdaState struct {
	Step     string `json:"step"`
	Function string `json:"function,omitempty"`
	Alias    string `json:"alias,omitempty"`
	Current  string `json:"current,omitempty"`
	Target   string `json:"target,omitempty"`
	// Weight is the target version's share of the alias's traffic now, in
	// percent.
	Weight      float64   `json:"weight"`
	Shifted     bool      `json:"shifted,omitempty"`
	ShiftStart  time.Time `json:"shiftStart,omitzero"`
	ShiftIndex  int       `json:"shiftIndex,omitempty"`
	HookRetryAt time.Time `json:"hookRetryAt,omitzero"`
	RollbackOf  string    `json:"rollbackOf,omitempty"`
}

func (st *lambdaState) stepName() string { return st.Step }

func (st *lambdaState) plan() []string {
	if st.RollbackOf != "" {
		return lambdaRollbackPlan
	}
	return lambdaPlan
}

func (st *lambdaState) advance() {
	p := st.plan()
	if i := slices.Index(p, st.Step); i >= 0 && i+1 < len(p) {
		st.Step = p[i+1]
	}
}

func (st *lambdaState) event() string {
	if slices.Contains(lambdaEvents, st.Step) {
		return st.Step
	}
	if st.Step == stepReroute {
		return evAllowTraffic
	}
	return ""
}

// changedWorld: the alias was touched.
func (st *lambdaState) changedWorld() bool { return st.Shifted }

func (st *lambdaState) rollbackOf() string { return st.RollbackOf }

func (st *lambdaState) forRollback(of string) run {
	r := *st
	r.Step, r.RollbackOf, r.HookRetryAt = stepStart, of, time.Time{}
	r.ShiftStart, r.ShiftIndex = time.Time{}, 0
	return &r
}

func (st *lambdaState) target(d *codedeploy.Deployment) codedeploy.EventTarget {
	return lambdaTarget(d)
}

func lambdaTarget(d *codedeploy.Deployment) codedeploy.EventTarget {
	if d.Lambda == nil {
		return nil
	}
	return d.Lambda
}

func (st *lambdaState) step(ctx context.Context, e *Engine, d *codedeploy.Deployment, now time.Time, out *outcome) error {
	switch st.Step {
	case stepStart:
		return e.lambdaStart(ctx, d, st, now, out)
	case evBeforeAllowTraffic, evAfterAllowTraffic:
		target := ""
		if st.RollbackOf == "" {
			spec, err := appspec.ParseLambda([]byte(d.AppSpec))
			if err != nil {
				return &failure{code: "INVALID_REVISION", message: fmt.Sprintf("The AppSpec file is invalid: %v", err), noRollback: true}
			}
			if h, ok := spec.Hook(st.Step); ok {
				target = h.Target
			}
		}
		return e.runHook(ctx, d, hookCall{event: st.Step, target: target, retryAt: &st.HookRetryAt, advance: st.advance, events: lambdaTarget}, now, out)
	case evAllowTraffic:
		return e.lambdaShift(ctx, d, st, now, out)
	case stepReroute:
		if err := e.setAlias(ctx, st, 0, evAllowTraffic); err != nil {
			return err
		}
		st.advance()
		out.do(func(d *codedeploy.Deployment) {
			endEvent(lambdaTarget(d), evAllowTraffic, codedeploy.EventSucceeded, now, nil)
			d.Lambda.LambdaFunctionInfo.TargetVersionWeight = 0
		})
		return nil
	case stepDone:
		out.do(func(d *codedeploy.Deployment) {
			d.Status = codedeploy.StatusSucceeded
			d.CompleteTime = tptr(now)
			d.Lambda.Status = codedeploy.EventSucceeded
		})
		return nil
	}
	return &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("unknown deployment step %q", st.Step), noRollback: true}
}

// lambdaStart reads the AppSpec and the alias, and makes the deployment
// InProgress. An alias that no longer points at the AppSpec's current
// version fails the deployment before anything changes.
func (e *Engine) lambdaStart(ctx context.Context, d *codedeploy.Deployment, st *lambdaState, now time.Time, out *outcome) error {
	if st.RollbackOf == "" {
		spec, err := appspec.ParseLambda([]byte(d.AppSpec))
		if err != nil {
			return &failure{code: "INVALID_REVISION", message: fmt.Sprintf("The AppSpec file is invalid: %v", err), noRollback: true}
		}
		f := spec.Function
		st.Function, st.Alias, st.Current, st.Target = f.Name, f.Alias, f.CurrentVersion, f.TargetVersion
		sched, err := e.schedule(ctx, d)
		if err != nil {
			return err
		}
		if err := spec.CheckVersions(len(sched) == 1); err != nil {
			return &failure{code: "INVALID_LAMBDA_CONFIGURATION", message: fmt.Sprintf("The AppSpec file has an invalid configuration: %v", err), noRollback: true}
		}
	}
	if e.cfg.Functions == nil {
		return &failure{code: "INVALID_LAMBDA_FUNCTION", message: "No Lambda service is connected to the engine.", noRollback: true}
	}
	version, _, err := e.cfg.Functions.AliasRouting(ctx, st.Function, st.Alias)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return &failure{code: "INVALID_LAMBDA_FUNCTION", message: fmt.Sprintf("The alias %s of function %s could not be read: %v", st.Alias, st.Function, err), noRollback: true}
		}
		return err
	}
	if st.RollbackOf == "" && version != st.Current {
		return &failure{code: "INVALID_LAMBDA_CONFIGURATION", noRollback: true,
			message: fmt.Sprintf("The alias %s of function %s points to version %s, but the AppSpec's CurrentVersion is %s.", st.Alias, st.Function, version, st.Current)}
	}
	if st.RollbackOf == "" {
		st.Weight = 0
	}
	st.advance()
	targetID := functionName(st.Function)
	out.do(func(d *codedeploy.Deployment) {
		d.Status = codedeploy.StatusInProgress
		d.StartTime = tptr(now)
		t := &codedeploy.LambdaTarget{
			DeploymentID: d.DeploymentID, TargetID: targetID, TargetArn: e.functionARN(st.Function, st.Alias),
			Status: codedeploy.EventInProgress, LastUpdatedAt: awsproto.NewTime(now),
			LambdaFunctionInfo: &codedeploy.LambdaFunctionInfo{FunctionName: targetID, FunctionAlias: st.Alias,
				CurrentVersion: st.Current, TargetVersion: st.Target, TargetVersionWeight: st.Weight / 100},
		}
		for _, ev := range lambdaEvents {
			t.LifecycleEvents = append(t.LifecycleEvents, codedeploy.LifecycleEvent{LifecycleEventName: ev, Status: codedeploy.EventPending})
		}
		d.Lambda = t
	})
	return nil
}

// lambdaShift moves the alias's weight as the deployment config's schedule
// says, anchored at the stored ShiftStart (so a restart sets the weight
// due now).
func (e *Engine) lambdaShift(ctx context.Context, d *codedeploy.Deployment, st *lambdaState, now time.Time, out *outcome) error {
	sched, err := e.schedule(ctx, d)
	if err != nil {
		return err
	}
	if st.ShiftStart.IsZero() {
		st.ShiftStart = now
		out.do(func(d *codedeploy.Deployment) { startEvent(lambdaTarget(d), evAllowTraffic, now) })
	}
	due := -1
	for i, s := range sched {
		if !st.ShiftStart.Add(s.At).After(now) {
			due = i
		}
	}
	if due >= st.ShiftIndex {
		w := float64(sched[due].Weight)
		if err := e.setAlias(ctx, st, w, evAllowTraffic); err != nil {
			return err
		}
		st.ShiftIndex, st.Weight, st.Shifted = due+1, w, true
		out.do(func(d *codedeploy.Deployment) { d.Lambda.LambdaFunctionInfo.TargetVersionWeight = w / 100 })
	}
	if st.ShiftIndex >= len(sched) {
		st.advance()
		out.do(func(d *codedeploy.Deployment) {
			endEvent(lambdaTarget(d), evAllowTraffic, codedeploy.EventSucceeded, now, nil)
		})
	}
	return nil
}

// setAlias gives the target version weight percent of the alias: all of
// it at 100 (the alias then points at the target), none at 0.
func (e *Engine) setAlias(ctx context.Context, st *lambdaState, weight float64, event string) error {
	version, extra := st.Current, map[string]float64{}
	switch {
	case weight >= 100:
		version = st.Target
	case weight > 0 && st.Target != st.Current:
		extra[st.Target] = weight / 100
	}
	if err := e.cfg.Functions.SetAliasRouting(ctx, st.Function, st.Alias, version, extra); err != nil {
		if awsproto.AsError(err) != nil {
			msg := fmt.Sprintf("The alias %s of function %s could not be updated: %v", st.Alias, st.Function, err)
			return &failure{code: "INVALID_LAMBDA_CONFIGURATION", message: msg, event: event, diag: &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: msg}}
		}
		return err
	}
	return nil
}

// validateLambda is CreateDeployment's check of a Lambda AppSpec against
// Lambda: the function, its alias and both versions exist.
func (e *Engine) validateLambda(ctx context.Context, g *codedeploy.DeploymentGroupInfo, spec *appspec.Lambda) error {
	if e.cfg.Functions == nil {
		return nil
	}
	f := spec.Function
	if _, _, err := e.cfg.Functions.AliasRouting(ctx, f.Name, f.Alias); err != nil {
		return revisionErr(err, "The alias %s of function %s", f.Alias, f.Name)
	}
	for _, v := range []string{f.CurrentVersion, f.TargetVersion} {
		if _, err := e.cfg.Functions.ResolveVersion(ctx, f.Name, v); err != nil {
			return revisionErr(err, "Version %s of function %s", v, f.Name)
		}
	}
	return nil
}

func revisionErr(err error, format string, args ...any) error {
	if ae := awsproto.AsError(err); ae != nil {
		return awsproto.Errorf("InvalidRevisionException", "%s cannot be used: %s", fmt.Sprintf(format, args...), ae.Message)
	}
	return fmt.Errorf("checking the Lambda revision: %w", err)
}

// functionName is the name in a function name, partial ARN or ARN.
func functionName(ref string) string {
	if i := strings.Index(ref, ":function:"); i >= 0 {
		ref = ref[i+len(":function:"):]
	} else if parts := strings.Split(ref, ":"); len(parts) == 3 {
		ref = parts[2] // account:function:name
	}
	if i := strings.Index(ref, ":"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

func (e *Engine) functionARN(function, alias string) string {
	region, account := e.cd.Identity()
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s:%s", region, account, functionName(function), alias)
}
