// Package ecs_test runs whole CodeDeploy blue/green deployments of an ECS
// service end to end with real parts: a `cutover server` process built from
// ./cmd/cutover, the AWS CLI for every control-plane call, tasks on the
// process runtime and on Docker (FROM-scratch images pushed to a registry on
// 127.0.0.1), and traffic checked through the server's own listeners.
//
// The Docker variants skip when no daemon answers; test/run.sh starts one
// (test/dockerd.sh) before `go test ./...`. -short skips everything.
package ecs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

var runtimes = []string{"process", "docker"}

// TestBlueGreen: a canary deployment (20 % for one minute) that succeeds,
// checked through the real listeners, then a deployment whose
// BeforeAllowTraffic hook fails and is rolled back, under continuous load
// with no failed request; then the bad-input checks on the same service.
func TestBlueGreen(t *testing.T) {
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) {
			// The runtimes run side by side: most of each run is waiting
			// (health checks, canary, restart back-off).
			t.Parallel()
			e := newEnv(t, rt)
			start := time.Now()
			e.setUp()
			t.Logf("set up with the AWS CLI; production serves v1 after %v", time.Since(start).Round(time.Millisecond))
			t.Run("CanaryDeployment", e.canary)
			if t.Failed() {
				return
			}
			t.Run("FailingHookRollsBack", e.failingHook)
			if t.Failed() {
				return
			}
			t.Run("BadInput", e.badInput)
		})
	}
}

// canary deploys v2 with the custom TimeBasedCanary config while four
// keep-alive clients load the production listener.
func (e *env) canary(t *testing.T) {
	defer e.use(t)()
	// At AfterAllowTestTraffic the test listener must serve only v2 and
	// production only v1; the hook reports Succeeded only then.
	url := e.hooks.handle("/after-allow-test-traffic", func(string) (string, string) {
		test, f1 := ecstest.Versions(e.testURL, 30)
		prod, f2 := ecstest.Versions(e.prodURL, 30)
		if test["v2"] == 30 && prod["v1"] == 30 {
			return "Succeeded", ""
		}
		return "Failed", fmt.Sprintf("test listener %v %s; production %v %s", test, f1, prod, f2)
	})
	td2 := e.registerTaskDef("v2", nil, "")

	load := ecstest.StartLoad(e.prodURL, 4, 2*time.Millisecond, 3*time.Minute, 400_000)
	stopPoll := make(chan struct{})
	samples := e.pollWeights(e.greenTG, stopPoll)
	start := time.Now()
	id, err := e.createDeployment(appSpec(td2, map[string]string{"AfterAllowTestTraffic": url}))
	if err != nil {
		close(stopPoll)
		load.Stop()
		t.Fatal(err)
	}
	d := e.waitEnded(id, 2*time.Minute)
	elapsed := time.Since(start)
	close(stopPoll)
	ws := <-samples
	results := load.Stop()

	if d.Status != cdtypes.DeploymentStatusSucceeded {
		t.Fatalf("deployment %s: %s %+v; lifecycle: %s", id, d.Status, errInfo(d), e.lifecycle(id))
	}
	t.Logf("deployment %s succeeded in %v", id, elapsed.Round(time.Millisecond))
	// The CLI's waiter agrees (its first poll sees Succeeded).
	e.aws("deploy", "wait", "deployment-successful", "--deployment-id", id)

	select {
	case c := <-e.hooks.calls:
		if c.ReportErr != nil {
			t.Errorf("reporting the hook status: %v", c.ReportErr)
		}
		if c.Status != "Succeeded" || c.DeploymentID != id {
			t.Errorf("at AfterAllowTestTraffic: %s (%s) for %s", c.Status, c.Note, c.DeploymentID)
		} else {
			t.Logf("at AfterAllowTestTraffic the test listener served only v2 and production only v1")
		}
	default:
		t.Error("the AfterAllowTestTraffic hook was never called")
	}

	// Production split during the canary step: the requests that started
	// after the listener was seen at 20 and ended before it was last seen
	// at 20.
	var from, to time.Time
	for i, s := range ws {
		if s.Weight == 20 && from.IsZero() {
			from = s.Received
		}
		if s.Weight == 20 && i > 0 && ws[i-1].Weight == 20 {
			to = s.Sent
		}
	}
	seen := map[int32]bool{}
	var order []int32
	for _, s := range ws {
		if s.Weight >= 0 && !seen[s.Weight] {
			seen[s.Weight] = true
			order = append(order, s.Weight)
		}
	}
	t.Logf("replacement weights seen on the production listener, in order: %v", order)
	if fmt.Sprint(order) != "[0 20 100]" {
		t.Errorf("production weights went %v, want [0 20 100]", order)
	}
	var inWindow, v2 int
	for _, r := range results {
		if r.OK() && !r.Start.Before(from) && !r.End.After(to) {
			inWindow++
			if r.Version == "v2" {
				v2++
			}
		}
	}
	if inWindow < 200 {
		t.Errorf("only %d requests fell inside the canary step (%v long); want at least 200", inWindow, to.Sub(from))
	} else {
		share := 100 * float64(v2) / float64(inWindow)
		t.Logf("canary step (%v): %d of %d production requests answered v2 (%.2f%%)", to.Sub(from).Round(time.Millisecond), v2, inWindow, share)
		if share < 18 || share > 22 {
			t.Errorf("v2 answered %.2f%% of production traffic during the 20%% canary, want 20 ± 2", share)
		}
	}
	failed, examples, versions := ecstest.Summarize(results)
	t.Logf("load during the deployment: %d requests, versions %v, %d failed", len(results), versions, failed)
	if failed > 0 {
		t.Errorf("%d requests failed during the canary deployment, e.g. %s", failed, strings.Join(examples, "; "))
	}
	// Before the canary step production was only v1; nothing else ever answered.
	for v := range versions {
		if v != "v1" && v != "v2" {
			t.Errorf("production answered version %q", v)
		}
	}

	// After success: only v2, and the original task set is gone.
	if got, f := ecstest.Versions(e.prodURL, 100); got["v2"] != 100 {
		t.Errorf("after the deployment production answered %v %s, want only v2", got, f)
	}
	sets := e.aws("ecs", "describe-services", "--cluster", e.cluster, "--services", e.service,
		"--query", "services[0].taskSets[].[externalId,status,taskDefinition]", "--output", "text")
	if lines := strings.Split(sets, "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], id+"\t") || !strings.Contains(lines[0], "PRIMARY") {
		t.Errorf("task sets after the deployment:\n%s\nwant only the replacement (external id %s) as PRIMARY", sets, id)
	}
	e.waitRunningTasks(2, 30*time.Second)
}

// waitRunningTasks waits until the service has exactly n running tasks
// (the original set's tasks drain and stop).
func (e *env) waitRunningTasks(n int, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		out = e.aws("ecs", "list-tasks", "--cluster", e.cluster, "--desired-status", "RUNNING", "--query", "length(taskArns)", "--output", "text")
		if out == fmt.Sprint(n) {
			if e.rt == "process" {
				if p := ecstest.ProcessesOf(bins.VersionServer); p != n {
					e.t.Logf("%d versionserver processes for %d running tasks (may include other tests)", p, n)
				}
			}
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	e.t.Errorf("the service has %s running tasks after %v, want %d", out, timeout, n)
}

// failingHook deploys v3 with a BeforeAllowTraffic hook that reports
// Failed: the deployment fails, a rollback deployment (creator
// codeDeployRollback) puts everything back, and production never fails a
// request nor answers anything but v2.
func (e *env) failingHook(t *testing.T) {
	defer e.use(t)()
	url := e.hooks.handle("/before-allow-traffic-fails", func(string) (string, string) {
		// The replacement is installed and on the test listener.
		test, _ := ecstest.Versions(e.testURL, 10)
		return "Failed", fmt.Sprintf("test listener answered %v", test)
	})
	td3 := e.registerTaskDef("v3", nil, "")
	load := ecstest.StartLoad(e.prodURL, 4, 2*time.Millisecond, 3*time.Minute, 400_000)
	id, err := e.createDeployment(appSpec(td3, map[string]string{"BeforeAllowTraffic": url}))
	if err != nil {
		load.Stop()
		t.Fatal(err)
	}
	d := e.waitEnded(id, 2*time.Minute)
	if d.Status != cdtypes.DeploymentStatusFailed {
		load.Stop()
		t.Fatalf("deployment %s: %s, want Failed; lifecycle: %s", id, d.Status, e.lifecycle(id))
	}
	ei := errInfo(d)
	t.Logf("deployment %s failed: %s", id, ei)
	if d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeHookExecutionFailure ||
		!strings.Contains(aws.ToString(d.ErrorInformation.Message), "BeforeAllowTraffic") {
		t.Errorf("errorInformation %s, want HOOK_EXECUTION_FAILURE naming BeforeAllowTraffic", ei)
	}
	if d.RollbackInfo == nil || aws.ToString(d.RollbackInfo.RollbackDeploymentId) == "" {
		load.Stop()
		t.Fatalf("no rollback deployment: rollbackInfo %+v", d.RollbackInfo)
	}
	rbID := aws.ToString(d.RollbackInfo.RollbackDeploymentId)
	rb := e.waitEnded(rbID, 2*time.Minute)
	// Keep the load on a moment after the rollback: the replacement's
	// tasks drain and stop.
	time.Sleep(3 * time.Second)
	results := load.Stop()
	if rb.Status != cdtypes.DeploymentStatusSucceeded {
		t.Errorf("rollback deployment %s: %s %s; lifecycle: %s", rbID, rb.Status, errInfo(rb), e.lifecycle(rbID))
	}
	if rb.Creator != cdtypes.DeploymentCreatorCodeDeployRollback {
		t.Errorf("rollback deployment creator %q, want codeDeployRollback", rb.Creator)
	}
	if rb.RollbackInfo == nil || aws.ToString(rb.RollbackInfo.RollbackTriggeringDeploymentId) != id {
		t.Errorf("rollback deployment's rollbackInfo %+v, want triggering deployment %s", rb.RollbackInfo, id)
	}
	// The rollback is listed with the group's deployments.
	list := e.aws("deploy", "list-deployments", "--application-name", e.app, "--deployment-group-name", e.group, "--query", "deployments", "--output", "text")
	if !strings.Contains(list, rbID) {
		t.Errorf("list-deployments %q lacks the rollback %s", list, rbID)
	}
	select {
	case c := <-e.hooks.calls:
		if c.ReportErr != nil || c.Status != "Failed" {
			t.Errorf("hook call %+v", c)
		}
		t.Logf("BeforeAllowTraffic hook: %s", c.Note)
	default:
		t.Error("the BeforeAllowTraffic hook was never called")
	}

	failed, examples, versions := ecstest.Summarize(results)
	t.Logf("load during the failed deployment and its rollback: %d requests, versions %v, %d failed", len(results), versions, failed)
	if failed > 0 {
		t.Errorf("%d requests failed, e.g. %s", failed, strings.Join(examples, "; "))
	}
	if len(versions) != 1 || versions["v2"] == 0 {
		t.Errorf("production answered %v, want only v2 throughout", versions)
	}
	if len(results) < 200 {
		t.Errorf("only %d requests under load", len(results))
	}
	sets := e.aws("ecs", "describe-services", "--cluster", e.cluster, "--services", e.service,
		"--query", "services[0].taskSets[].[status,taskDefinition]", "--output", "text")
	if lines := strings.Split(sets, "\n"); len(lines) != 1 || !strings.Contains(sets, "PRIMARY") || !strings.Contains(sets, "web:2") {
		t.Errorf("task sets after the rollback:\n%s\nwant only the v2 set (web:2) as PRIMARY", sets)
	}
	e.waitRunningTasks(2, 30*time.Second)
}

func errInfo(d *cdtypes.DeploymentInfo) string {
	if d.ErrorInformation == nil {
		return "(no errorInformation)"
	}
	return fmt.Sprintf("%s: %s", d.ErrorInformation.Code, aws.ToString(d.ErrorInformation.Message))
}
