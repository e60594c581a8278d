package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/awsproto"
)

// fakeLambda is a function "fn" with versions 1..3 and an alias "live",
// and hook functions that answer through PutLifecycleEventHookExecutionStatus
// as a real hook function would.
type fakeLambda struct {
	mu      sync.Mutex
	version string
	extra   map[string]float64
	history []string // every routing set, "v" or "v+x:w"
	answer  map[string]types.LifecycleEventStatus
	calls   []string
	client  *cd.Client
}

func (f *fakeLambda) AliasRouting(ctx context.Context, function, alias string) (string, map[string]float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if function != "fn" || alias != "live" {
		return "", nil, awsproto.Errorf("ResourceNotFoundException", "Alias not found: %s:%s", function, alias)
	}
	return f.version, f.extra, nil
}

func (f *fakeLambda) SetAliasRouting(ctx context.Context, function, alias, version string, extra map[string]float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version, f.extra = version, extra
	h := version
	var ks []string
	for k, w := range extra {
		ks = append(ks, fmt.Sprintf("%s:%g", k, w))
	}
	sort.Strings(ks)
	if len(ks) > 0 {
		h += "+" + strings.Join(ks, ",")
	}
	if n := len(f.history); n == 0 || f.history[n-1] != h {
		f.history = append(f.history, h)
	}
	return nil
}

func (f *fakeLambda) ResolveVersion(ctx context.Context, function, qualifier string) (string, error) {
	if function == "fn" && (qualifier == "1" || qualifier == "2" || qualifier == "3") {
		return qualifier, nil
	}
	return "", awsproto.Errorf("ResourceNotFoundException", "Function not found: %s:%s", function, qualifier)
}

func (f *fakeLambda) InvokeAsync(ctx context.Context, function, qualifier string, payload []byte) error {
	var p struct{ DeploymentId, LifecycleEventHookExecutionId string }
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	f.mu.Lock()
	status, ok := f.answer[function]
	f.calls = append(f.calls, function)
	f.mu.Unlock()
	if !ok {
		return awsproto.Errorf("ResourceNotFoundException", "Function not found: %s", function)
	}
	_, err := f.client.PutLifecycleEventHookExecutionStatus(ctx, &cd.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId: aws.String(p.DeploymentId), LifecycleEventHookExecutionId: aws.String(p.LifecycleEventHookExecutionId), Status: status})
	return err
}

func newLambdaEnv(t *testing.T) (*env, *fakeLambda) {
	e := newEnv(t)
	fl := &fakeLambda{version: "1", client: e.client, answer: map[string]types.LifecycleEventStatus{
		"approve": types.LifecycleEventStatusSucceeded, "reject": types.LifecycleEventStatusFailed}}
	e.hooks = &Hooks{Lambda: &FunctionHooks{Functions: fl}}
	en, err := New(Config{Store: e.st, CodeDeploy: e.cd, ECS: e.ecs, Traffic: e.traffic, Hooks: e.hooks, Functions: fl, Clock: e.clk, Owner: "engine-1",
		PollInterval: e.engine.cfg.PollInterval, LeaseTTL: e.engine.cfg.LeaseTTL, HookTimeout: e.engine.cfg.HookTimeout})
	if err != nil {
		t.Fatal(err)
	}
	e.engine = en
	if _, err := e.client.CreateApplication(e.ctx, &cd.CreateApplicationInput{ApplicationName: aws.String("fnapp"), ComputePlatform: types.ComputePlatformLambda}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateDeploymentGroup(e.ctx, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("fnapp"), DeploymentGroupName: aws.String("fg"), ServiceRoleArn: aws.String(testRole),
		DeploymentConfigName:      aws.String("CodeDeployDefault.LambdaCanary10Percent5Minutes"),
		DeploymentStyle:           &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		AutoRollbackConfiguration: &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{"DEPLOYMENT_FAILURE"}},
	}); err != nil {
		t.Fatal(err)
	}
	return e, fl
}

func lambdaSpec(current, target string, hooks map[string]string) string {
	s := fmt.Sprintf(`version: 0.0
Resources:
  - fn:
      Type: AWS::Lambda::Function
      Properties:
        Name: fn
        Alias: live
        CurrentVersion: "%s"
        TargetVersion: "%s"
`, current, target)
	if len(hooks) > 0 {
		s += "Hooks:\n"
		for _, ev := range []string{"BeforeAllowTraffic", "AfterAllowTraffic"} {
			if h, ok := hooks[ev]; ok {
				s += fmt.Sprintf("  - %s: %s\n", ev, h)
			}
		}
	}
	return s
}

func (e *env) createLambda(spec string) (string, error) {
	out, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{
		ApplicationName: aws.String("fnapp"), DeploymentGroupName: aws.String("fg"),
		Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(spec)}},
	})
	if err != nil {
		return "", err
	}
	return *out.DeploymentId, nil
}

func TestLambdaDeployments(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hooks   map[string]string
		status  types.DeploymentStatus
		history string // alias routings, in order
		rolled  bool
		events  string
	}{
		{name: "canary with hooks", hooks: map[string]string{"BeforeAllowTraffic": "approve", "AfterAllowTraffic": "approve"},
			status: types.DeploymentStatusSucceeded, history: "1+2:0.1 2",
			events: "BeforeAllowTraffic=Succeeded AllowTraffic=Succeeded AfterAllowTraffic=Succeeded"},
		{name: "after hook rejects, rollback", hooks: map[string]string{"AfterAllowTraffic": "reject"},
			status: types.DeploymentStatusFailed, history: "1+2:0.1 2 1", rolled: true,
			events: "BeforeAllowTraffic=Succeeded AllowTraffic=Succeeded AfterAllowTraffic=Failed"},
		{name: "before hook rejects, nothing to undo", hooks: map[string]string{"BeforeAllowTraffic": "reject"},
			status: types.DeploymentStatusFailed, history: "",
			events: "BeforeAllowTraffic=Failed AllowTraffic=Skipped AfterAllowTraffic=Skipped"},
		{name: "hook function missing", hooks: map[string]string{"BeforeAllowTraffic": "nosuch"},
			status: types.DeploymentStatusFailed, history: "",
			events: "BeforeAllowTraffic=Failed AllowTraffic=Skipped AfterAllowTraffic=Skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, fl := newLambdaEnv(t)
			id, err := e.createLambda(lambdaSpec("1", "2", tc.hooks))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			d := e.get(id)
			if d.Status != tc.status {
				t.Fatalf("status %s %+v", d.Status, d.ErrorInformation)
			}
			out, err := e.client.GetDeploymentTarget(e.ctx, &cd.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String("fn")})
			if err != nil {
				t.Fatal(err)
			}
			lt := out.DeploymentTarget.LambdaTarget
			if out.DeploymentTarget.DeploymentTargetType != types.DeploymentTargetTypeLambdaTarget || lt == nil {
				t.Fatalf("target %+v", out.DeploymentTarget)
			}
			var evs []string
			for _, ev := range lt.LifecycleEvents {
				evs = append(evs, *ev.LifecycleEventName+"="+string(ev.Status))
			}
			if got := strings.Join(evs, " "); got != tc.events {
				t.Errorf("events %s, want %s", got, tc.events)
			}
			fi := lt.LambdaFunctionInfo
			if *fi.FunctionName != "fn" || *fi.FunctionAlias != "live" || *fi.CurrentVersion != "1" || *fi.TargetVersion != "2" {
				t.Errorf("function info %+v", fi)
			}
			if tc.status == types.DeploymentStatusSucceeded && fi.TargetVersionWeight != 1 {
				t.Errorf("target weight %v", fi.TargetVersionWeight)
			}
			if tc.rolled {
				if d.RollbackInfo == nil {
					t.Fatal("no rollback")
				}
				rid := *d.RollbackInfo.RollbackDeploymentId
				if err := e.drive(e.engine, rid, nil); err != nil {
					t.Fatal(err)
				}
				if rb := e.get(rid); rb.Status != types.DeploymentStatusSucceeded {
					t.Fatalf("rollback %s %+v", rb.Status, rb.ErrorInformation)
				}
			} else if d.RollbackInfo != nil {
				t.Errorf("unexpected rollback %+v", d.RollbackInfo)
			}
			if got := strings.Join(fl.history, " "); got != tc.history {
				t.Errorf("alias routings %q, want %q", got, tc.history)
			}
		})
	}
}

func TestLambdaBadRevisions(t *testing.T) {
	e, fl := newLambdaEnv(t)
	for _, spec := range []string{
		lambdaSpec("1", "9", nil),                                     // no such version
		strings.Replace(lambdaSpec("1", "2", nil), "live", "gone", 1), // no such alias
		appSpec("web:2", nil),                                         // an ECS AppSpec
	} {
		_, err := e.createLambda(spec)
		wantErr[*types.InvalidRevisionException](t, err)
	}
	// The alias moved since the AppSpec was written: nothing changes.
	fl.version = "3"
	id, err := e.createLambda(lambdaSpec("1", "2", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	d := e.get(id)
	if d.Status != types.DeploymentStatusFailed || d.ErrorInformation.Code != types.ErrorCodeInvalidLambdaConfiguration {
		t.Fatalf("%s %+v", d.Status, d.ErrorInformation)
	}
	if len(fl.history) != 0 {
		t.Errorf("alias changed: %v", fl.history)
	}
	// A canary from a version to itself is refused at start.
	fl.version = "1"
	id, _ = e.createLambda(lambdaSpec("1", "1", nil))
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	if d := e.get(id); d.ErrorInformation == nil || d.ErrorInformation.Code != types.ErrorCodeInvalidLambdaConfiguration {
		t.Fatalf("same version: %+v", d.ErrorInformation)
	}
}
