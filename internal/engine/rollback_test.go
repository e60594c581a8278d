package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
)

// hookServer is a real HTTP hook: it reads the payload and answers through
// PutLifecycleEventHookExecutionStatus with the SDK, per event.
type hookServer struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []string
	answers map[string]string // event → Succeeded | Failed | "" (never answers)
	busy    atomic.Int32      // answer 503 this many times first
}

func (e *env) hookServer(answers map[string]string) *hookServer {
	h := &hookServer{answers: answers}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.busy.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p struct{ DeploymentId, LifecycleEventHookExecutionId string }
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&p) != nil || p.DeploymentId == "" || p.LifecycleEventHookExecutionId == "" {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		event := strings.TrimPrefix(r.URL.Path, "/")
		h.mu.Lock()
		h.calls = append(h.calls, event)
		h.mu.Unlock()
		if st := h.answers[event]; st != "" {
			_, err := e.client.PutLifecycleEventHookExecutionStatus(context.Background(), &cd.PutLifecycleEventHookExecutionStatusInput{
				DeploymentId: aws.String(p.DeploymentId), LifecycleEventHookExecutionId: aws.String(p.LifecycleEventHookExecutionId), Status: types.LifecycleEventStatus(st)})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	e.t.Cleanup(h.Close)
	return h
}

func (h *hookServer) hooks(events ...string) map[string]string {
	m := map[string]string{}
	for _, ev := range events {
		m[ev] = h.URL + "/" + ev
	}
	return m
}

func TestHooks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  map[string]string
		busy     int32
		lambda   string // a function-name hook for this event
		status   types.DeploymentStatus
		code     types.ErrorCode
		failed   string // the event that failed
		diag     string
		rollback bool
	}{
		{name: "all succeed", answers: map[string]string{"BeforeInstall": "Succeeded", "AfterInstall": "Succeeded", "AfterAllowTestTraffic": "Succeeded", "BeforeAllowTraffic": "Succeeded", "AfterAllowTraffic": "Succeeded"},
			status: types.DeploymentStatusSucceeded},
		{name: "unreachable at first", busy: 3, answers: map[string]string{"AfterInstall": "Succeeded"}, status: types.DeploymentStatusSucceeded},
		{name: "AfterAllowTestTraffic fails and rolls back", answers: map[string]string{"AfterAllowTestTraffic": "Failed"},
			status: types.DeploymentStatusFailed, code: types.ErrorCodeHookExecutionFailure, failed: "AfterAllowTestTraffic", diag: "ScriptFailed", rollback: true},
		{name: "BeforeInstall failure cannot roll back", answers: map[string]string{"BeforeInstall": "Failed"},
			status: types.DeploymentStatusFailed, code: types.ErrorCodeHookExecutionFailure, failed: "BeforeInstall", diag: "ScriptFailed"},
		{name: "no answer times out", answers: map[string]string{"AfterAllowTraffic": ""},
			status: types.DeploymentStatusFailed, code: types.ErrorCodeHookExecutionFailure, failed: "AfterAllowTraffic", diag: "ScriptTimedOut", rollback: true},
		{name: "Lambda function hooks are not available yet", lambda: "BeforeAllowTraffic",
			status: types.DeploymentStatusFailed, code: types.ErrorCodeHookExecutionFailure, failed: "BeforeAllowTraffic", diag: "UnknownError", rollback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.group("g", groupOpts{rollback: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}})
			h := e.hookServer(tc.answers)
			h.busy.Store(tc.busy)
			hooks := h.hooks()
			for ev := range tc.answers {
				hooks[ev] = h.URL + "/" + ev
			}
			if tc.lambda != "" {
				hooks[tc.lambda] = "arn:aws:lambda:us-east-1:123456789012:function:check"
			}
			id := e.mustCreate("g", "web:2", hooks)
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			got := e.get(id)
			if got.Status != tc.status {
				t.Fatalf("status %s, want %s (%+v)", got.Status, tc.status, got.ErrorInformation)
			}
			tg := e.target(id)
			if tc.code != "" {
				if got.ErrorInformation == nil || got.ErrorInformation.Code != tc.code {
					t.Fatalf("error %+v, want %s", got.ErrorInformation, tc.code)
				}
				for _, ev := range tg.LifecycleEvents {
					if *ev.LifecycleEventName == tc.failed {
						if ev.Status != types.LifecycleEventStatusFailed || ev.Diagnostics == nil || string(ev.Diagnostics.ErrorCode) != tc.diag {
							t.Errorf("failed event %+v %+v", ev, ev.Diagnostics)
						}
					}
				}
				if tc.lambda != "" && !strings.Contains(*got.ErrorInformation.Message, "Lambda hook functions are not available yet") {
					t.Errorf("message %q", *got.ErrorInformation.Message)
				}
			}
			if tc.rollback != (got.RollbackInfo != nil) {
				t.Fatalf("rollback info %+v, want rollback %v", got.RollbackInfo, tc.rollback)
			}
			if tc.status == types.DeploymentStatusSucceeded {
				h.mu.Lock()
				defer h.mu.Unlock()
				if len(h.calls) != len(tc.answers) {
					t.Errorf("hook calls %v", h.calls)
				}
				// A late answer is refused.
				hk := mustHook(t, e, id)
				_, err := e.client.PutLifecycleEventHookExecutionStatus(e.ctx, &cd.PutLifecycleEventHookExecutionStatusInput{
					DeploymentId: aws.String(id), LifecycleEventHookExecutionId: aws.String(hk), Status: types.LifecycleEventStatusSucceeded})
				wantErr[*types.LifecycleEventAlreadyCompletedException](t, err)
			}
		})
	}
}

func mustHook(t *testing.T, e *env, id string) string {
	d, err := e.cd.Deployment(e.ctx, id)
	if err != nil || len(d.Hooks) == 0 {
		t.Fatalf("no hook executions: %v", err)
	}
	return d.Hooks[0].ID
}

func TestPutLifecycleEventHookExecutionStatusErrors(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{})
	h := e.hookServer(map[string]string{"AfterInstall": ""})
	id := e.mustCreate("g", "web:2", h.hooks("AfterInstall"))
	if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
		return len(d.Hooks) == 1 && d.Hooks[0].Status == codedeploy.HookInvoked
	}); err != nil {
		t.Fatal(err)
	}
	put := func(exec, status string) error {
		_, err := e.client.PutLifecycleEventHookExecutionStatus(e.ctx, &cd.PutLifecycleEventHookExecutionStatusInput{
			DeploymentId: aws.String(id), LifecycleEventHookExecutionId: aws.String(exec), Status: types.LifecycleEventStatus(status)})
		return err
	}
	wantErr[*types.InvalidLifecycleEventHookExecutionIdException](t, put("nope", "Succeeded"))
	wantErr[*types.InvalidLifecycleEventHookExecutionStatusException](t, put(mustHook(t, e, id), "InProgress"))
	out, err := e.client.PutLifecycleEventHookExecutionStatus(e.ctx, &cd.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId: aws.String(id), LifecycleEventHookExecutionId: aws.String(mustHook(t, e, id)), Status: types.LifecycleEventStatusSucceeded})
	if err != nil || *out.LifecycleEventHookExecutionId != mustHook(t, e, id) {
		t.Fatalf("%v %+v", err, out)
	}
	wantErr[*types.LifecycleEventAlreadyCompletedException](t, put(mustHook(t, e, id), "Failed"))
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.get(id); got.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("%s", got.Status)
	}
}

func TestFailureAndRollback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rollback []types.AutoRollbackEvent
		taskDef  string
		stop     *bool // StopDeployment(autoRollbackEnabled) during the canary
		status   types.DeploymentStatus
		code     types.ErrorCode
		rolled   bool
		world    string
		prod     string
	}{
		{name: "install fails, rollback", rollback: []types.AutoRollbackEvent{"DEPLOYMENT_FAILURE"}, taskDef: "bad:1",
			status: types.DeploymentStatusFailed, code: types.ErrorCodeEcsUpdateError, rolled: true, world: "ecs-svc/0:PRIMARY:web:1:blue", prod: "blue=100,green=0"},
		{name: "install fails, no rollback", taskDef: "bad:1",
			status: types.DeploymentStatusFailed, code: types.ErrorCodeEcsUpdateError, world: "ecs-svc/0:PRIMARY:web:1:blue ecs-svc/1:ACTIVE:bad:1:green", prod: "blue=100"},
		{name: "install never healthy", rollback: []types.AutoRollbackEvent{"DEPLOYMENT_FAILURE"}, taskDef: "stuck:1",
			status: types.DeploymentStatusFailed, code: types.ErrorCodeEcsUpdateError, rolled: true, world: "ecs-svc/0:PRIMARY:web:1:blue", prod: "blue=100,green=0"},
		{name: "stop with rollback", stop: aws.Bool(true), taskDef: "web:2",
			status: types.DeploymentStatusStopped, code: types.ErrorCodeManualStop, rolled: true, world: "ecs-svc/0:PRIMARY:web:1:blue", prod: "blue=100,green=0"},
		{name: "stop without rollback", stop: aws.Bool(false), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_REQUEST"}, taskDef: "web:2",
			status: types.DeploymentStatusStopped, code: types.ErrorCodeManualStop, world: "ecs-svc/0:PRIMARY:web:1:blue ecs-svc/1:ACTIVE:web:2:green", prod: "blue=90,green=10"},
		{name: "stop, group rolls back on request", stop: new(bool), rollback: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_REQUEST"}, taskDef: "web:2",
			status: types.DeploymentStatusStopped, code: types.ErrorCodeManualStop, rolled: true, world: "ecs-svc/0:PRIMARY:web:1:blue", prod: "blue=100,green=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.ecs.failing["bad:1"] = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
			e.ecs.stuck["stuck:1"] = true
			e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent15Minutes", rollback: tc.rollback})
			id := e.mustCreate("g", tc.taskDef, nil)
			if tc.stop != nil {
				if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
					return d.Target != nil && d.Target.TaskSetsInfo[0].TrafficWeight == 90
				}); err != nil {
					t.Fatal(err)
				}
				in := &cd.StopDeploymentInput{DeploymentId: aws.String(id)}
				if tc.name != "stop, group rolls back on request" {
					in.AutoRollbackEnabled = tc.stop
				}
				out, err := e.client.StopDeployment(e.ctx, in)
				if err != nil || out.Status != types.StopStatusPending || *out.StatusMessage != "Deployment stop operation is pending." {
					t.Fatalf("stop: %v %+v", err, out)
				}
			}
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			got := e.get(id)
			if got.Status != tc.status || got.ErrorInformation == nil || got.ErrorInformation.Code != tc.code {
				t.Fatalf("end %s %+v", got.Status, got.ErrorInformation)
			}
			if tc.taskDef == "bad:1" && !strings.Contains(*got.ErrorInformation.Message, "CannotPullContainerError") {
				t.Errorf("message %q", *got.ErrorInformation.Message)
			}
			_, err := e.client.StopDeployment(e.ctx, &cd.StopDeploymentInput{DeploymentId: aws.String(id)})
			wantErr[*types.DeploymentAlreadyCompletedException](t, err)
			if tc.rolled {
				if got.RollbackInfo == nil || got.RollbackInfo.RollbackDeploymentId == nil {
					t.Fatalf("no rollback: %+v", got.RollbackInfo)
				}
				rid := *got.RollbackInfo.RollbackDeploymentId
				rb := e.get(rid)
				if rb.Creator != types.DeploymentCreatorCodeDeployRollback || *rb.RollbackInfo.RollbackTriggeringDeploymentId != id || rb.Status != types.DeploymentStatusCreated {
					t.Fatalf("rollback deployment %+v %+v", rb, rb.RollbackInfo)
				}
				// The group's active deployment is now the rollback.
				_, err := e.create("g", "web:9", nil)
				wantErr[*types.DeploymentLimitExceededException](t, err)
				if err := e.drive(e.engine, rid, nil); err != nil {
					t.Fatal(err)
				}
				if rb := e.get(rid); rb.Status != types.DeploymentStatusSucceeded {
					t.Fatalf("rollback ended %s %+v", rb.Status, rb.ErrorInformation)
				}
				if ev := events(e.target(rid)); ev != "BeforeAllowTraffic=Succeeded AllowTraffic=Succeeded AfterAllowTraffic=Succeeded" {
					t.Errorf("rollback events %s", ev)
				}
				if w := e.traffic.get(testListener); w != "blue=100,green=0" && w != "blue=100" {
					t.Errorf("test listener %s", w)
				}
			} else if got.RollbackInfo != nil {
				t.Errorf("unexpected rollback %+v", got.RollbackInfo)
			}
			if w := e.ecs.world(); w != tc.world {
				t.Errorf("world %s, want %s", w, tc.world)
			}
			if w := e.traffic.get(prodListener); w != tc.prod {
				t.Errorf("prod %s, want %s", w, tc.prod)
			}
			// The group is free again.
			if _, err := e.create("g", "web:3", nil); err != nil {
				t.Errorf("next deployment: %v", err)
			}
		})
	}
}

var _ = time.Second
