package engine

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
)

func TestBlueGreenCanary(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent5Minutes", termWait: 2})
	id := e.mustCreate("g", "web:2", nil)
	if got := e.get(id); got.Status != types.DeploymentStatusCreated || got.Creator != types.DeploymentCreatorUser {
		t.Fatalf("created: %s by %s", got.Status, got.Creator)
	}
	// While traffic is split, the target shows both task sets with weights.
	if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
		return d.Target != nil && d.Target.Event(evAllowTraffic).Status == codedeploy.EventInProgress
	}); err != nil {
		t.Fatal(err)
	}
	tg := e.target(id)
	if len(tg.TaskSetsInfo) != 2 || tg.TaskSetsInfo[0].TaskSetLabel != "Blue" || tg.TaskSetsInfo[0].TrafficWeight != 90 ||
		tg.TaskSetsInfo[1].TrafficWeight != 10 || *tg.TaskSetsInfo[1].TargetGroup.Name != "green" || tg.TaskSetsInfo[1].RunningCount != 2 {
		t.Errorf("task sets during canary: %+v", tg.TaskSetsInfo)
	}
	if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool { return d.InstanceTerminationWaitTimeStarted }); err != nil {
		t.Fatal(err)
	}
	if got := e.get(id); got.Status != types.DeploymentStatusInProgress || !got.InstanceTerminationWaitTimeStarted {
		t.Errorf("termination wait: %s %v", got.Status, got.InstanceTerminationWaitTimeStarted)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	got := e.get(id)
	if got.Status != types.DeploymentStatusSucceeded || got.CompleteTime == nil || got.StartTime == nil || got.ErrorInformation != nil {
		t.Fatalf("end: %+v", got)
	}
	if o := got.DeploymentOverview; o.Succeeded != 1 || o.InProgress != 0 {
		t.Errorf("overview %+v", o)
	}
	if got.ComputePlatform != types.ComputePlatformEcs || got.DeploymentStyle.DeploymentType != types.DeploymentTypeBlueGreen ||
		got.LoadBalancerInfo == nil || got.BlueGreenDeploymentConfiguration == nil || got.Revision.AppSpecContent.Content != nil || got.Revision.AppSpecContent.Sha256 == nil {
		t.Errorf("copied from the group / hidden content: %+v", got)
	}
	wantTraffic := []string{
		"0s test blue=0,green=100",
		"0s prod blue=90,green=10",
		"5m0s prod blue=0,green=100",
	}
	if !reflect.DeepEqual(e.traffic.log, wantTraffic) {
		t.Errorf("traffic log\n%s\nwant\n%s", strings.Join(e.traffic.log, "\n"), strings.Join(wantTraffic, "\n"))
	}
	wantECS := []string{"create ecs-svc/1 web:2 on green", "primary ecs-svc/1", "delete ecs-svc/0"}
	if !reflect.DeepEqual(e.ecs.log, wantECS) {
		t.Errorf("ECS log %v, want %v", e.ecs.log, wantECS)
	}
	// Terminated two minutes after the last shift.
	if d := got.CompleteTime.Sub(t0); d < 7*time.Minute || d > 7*time.Minute+5*time.Second {
		t.Errorf("completed %v after start, want 7m", d)
	}
	tg = e.target(id)
	if ev := events(tg); ev != "BeforeInstall=Succeeded Install=Succeeded AfterInstall=Succeeded AllowTestTraffic=Succeeded AfterAllowTestTraffic=Succeeded BeforeAllowTraffic=Succeeded AllowTraffic=Succeeded AfterAllowTraffic=Succeeded" {
		t.Errorf("events %s", ev)
	}
	if tg.Status != types.TargetStatusSucceeded || *tg.TargetArn != "arn:aws:ecs:us-east-1:123456789012:service/c/web" || *tg.TargetId != "c:web" {
		t.Errorf("target %+v", tg)
	}
	g, _ := e.client.GetDeploymentGroup(e.ctx, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g")})
	if g.DeploymentGroupInfo.LastSuccessfulDeployment == nil || *g.DeploymentGroupInfo.LastSuccessfulDeployment.DeploymentId != id ||
		g.DeploymentGroupInfo.LastSuccessfulDeployment.Status != types.DeploymentStatusSucceeded || g.DeploymentGroupInfo.TargetRevision == nil {
		t.Errorf("group state %+v", g.DeploymentGroupInfo)
	}
	// The waiter (what `aws deploy wait deployment-successful` runs) ends at once.
	w := cd.NewDeploymentSuccessfulWaiter(e.client, func(o *cd.DeploymentSuccessfulWaiterOptions) {
		o.MinDelay = time.Millisecond
		o.MaxDelay = time.Millisecond
	})
	if err := w.Wait(e.ctx, &cd.GetDeploymentInput{DeploymentId: aws.String(id)}, time.Minute); err != nil {
		t.Errorf("waiter: %v", err)
	}

	// A second deployment goes to the group not serving production: blue.
	id2 := e.mustCreate("g", "web:3", nil)
	if err := e.drive(e.engine, id2, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.get(id2); got.Status != types.DeploymentStatusSucceeded || got.PreviousRevision == nil {
		t.Fatalf("second: %+v", got)
	}
	if w := e.ecs.world(); w != "ecs-svc/2:PRIMARY:web:3:blue" {
		t.Errorf("world after the second deployment: %s", w)
	}
	if w := e.traffic.get(prodListener); w != "blue=100,green=0" {
		t.Errorf("prod after the second deployment: %s", w)
	}
}

func TestLinearWeightsAndTimes(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", noTestRoute: true})
	id := e.mustCreate("g", "web:2", nil)
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 1; i <= 10; i++ {
		want = append(want, (time.Duration(i-1)*time.Minute).String()+" prod "+"blue="+strconv.Itoa(100-10*i)+",green="+strconv.Itoa(10*i))
	}
	if !reflect.DeepEqual(e.traffic.log, want) {
		t.Errorf("traffic\n%s\nwant\n%s", strings.Join(e.traffic.log, "\n"), strings.Join(want, "\n"))
	}
	if ev := events(e.target(id)); !strings.Contains(ev, "AllowTestTraffic=Skipped") {
		t.Errorf("without a test route AllowTestTraffic is skipped: %s", ev)
	}
}

func TestReadyWait(t *testing.T) {
	for _, tc := range []struct {
		name      string
		continue_ bool
		want      types.DeploymentStatus
	}{
		{"continued", true, types.DeploymentStatusSucceeded},
		{"timed out", false, types.DeploymentStatusStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.group("g", groupOpts{ready: &types.DeploymentReadyOption{ActionOnTimeout: types.DeploymentReadyActionStopDeployment, WaitTimeInMinutes: 30}})
			id := e.mustCreate("g", "web:2", nil)
			// READY_WAIT before Ready is refused.
			_, err := e.client.ContinueDeployment(e.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeReadyWait})
			wantErr[*types.DeploymentIsNotInReadyStateException](t, err)
			if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool { return d.Status == codedeploy.StatusReady }); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(10 * time.Minute)
			e.engine.Reconcile(e.ctx, id)
			got := e.get(id)
			if got.Status != types.DeploymentStatusReady || got.DeploymentOverview.Ready != 1 || e.traffic.get(prodListener) != "blue=100" {
				t.Fatalf("ready: %s %+v prod %s", got.Status, got.DeploymentOverview, e.traffic.get(prodListener))
			}
			if tc.continue_ {
				if _, err := e.client.ContinueDeployment(e.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeReadyWait}); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			got = e.get(id)
			if got.Status != tc.want {
				t.Fatalf("status %s, want %s (%+v)", got.Status, tc.want, got.ErrorInformation)
			}
			if !tc.continue_ {
				if got.ErrorInformation.Code != types.ErrorCodeTimeout || got.CompleteTime.Sub(t0) < 30*time.Minute {
					t.Errorf("timeout: %+v at %v", got.ErrorInformation, got.CompleteTime.Sub(t0))
				}
				if e.traffic.get(prodListener) != "blue=100" {
					t.Errorf("prod moved: %s", e.traffic.get(prodListener))
				}
			}
			_, err = e.client.ContinueDeployment(e.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeReadyWait})
			wantErr[*types.DeploymentAlreadyCompletedException](t, err)
		})
	}
}

func TestTerminationWaitSkip(t *testing.T) {
	for _, op := range []string{"ContinueDeployment", "SkipWaitTimeForInstanceTermination"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t)
			e.group("g", groupOpts{termWait: 60})
			id := e.mustCreate("g", "web:2", nil)
			_, err := e.client.ContinueDeployment(e.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeTerminationWait})
			wantErr[*types.InvalidDeploymentStatusException](t, err)
			_, err = e.client.SkipWaitTimeForInstanceTermination(e.ctx, &cd.SkipWaitTimeForInstanceTerminationInput{DeploymentId: aws.String(id)})
			wantErr[*types.DeploymentNotStartedException](t, err)
			if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool { return d.InstanceTerminationWaitTimeStarted }); err != nil {
				t.Fatal(err)
			}
			e.engine.Reconcile(e.ctx, id)
			if op == "ContinueDeployment" {
				_, err = e.client.ContinueDeployment(e.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeTerminationWait})
			} else {
				_, err = e.client.SkipWaitTimeForInstanceTermination(e.ctx, &cd.SkipWaitTimeForInstanceTerminationInput{DeploymentId: aws.String(id)})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := e.drive(e.engine, id, nil); err != nil {
				t.Fatal(err)
			}
			got := e.get(id)
			if got.Status != types.DeploymentStatusSucceeded || got.CompleteTime.Sub(t0) > 10*time.Second {
				t.Errorf("skipped wait: %s after %v", got.Status, got.CompleteTime.Sub(t0))
			}
		})
	}
}

func wantErr[T error](t *testing.T, err error) {
	t.Helper()
	var target T
	if err == nil || !errorsAs(err, &target) {
		t.Fatalf("error %v, want %T", err, target)
	}
}
