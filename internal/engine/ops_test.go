package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/smithy-go"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestCreateDeploymentChecks(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{})
	e.group("h", groupOpts{service: "api"})
	rev := func(content string) *types.RevisionLocation {
		return &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(content)}}
	}
	lambdaSpec := "version: 0.0\nResources:\n  - f:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: f\n        Alias: live\n        CurrentVersion: 1\n        TargetVersion: 2\n"
	for _, tc := range []struct {
		name string
		in   *cd.CreateDeploymentInput
		code string
		msg  string
	}{
		{"S3 revision", &cd.CreateDeploymentInput{Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeS3, S3Location: &types.S3Location{Bucket: aws.String("b"), Key: aws.String("k.yaml"), BundleType: types.BundleTypeYaml}}},
			"InvalidRevisionException", "S3 revisions of ECS deployments are not supported yet"},
		{"Lambda AppSpec", &cd.CreateDeploymentInput{Revision: rev(lambdaSpec)}, "InvalidRevisionException", "compute platform"},
		{"invalid AppSpec", &cd.CreateDeploymentInput{Revision: rev("version: 0.0\nResources: []\n")}, "InvalidRevisionException", "The AppSpec file is invalid"},
		{"task definition missing", &cd.CreateDeploymentInput{Revision: rev(appSpec("missing:1", nil))}, "InvalidRevisionException", "does not exist"},
		{"fileExistsBehavior on ECS", &cd.CreateDeploymentInput{Revision: rev(appSpec("web:2", nil)), FileExistsBehavior: types.FileExistsBehaviorOverwrite}, "InvalidFileExistsBehaviorException", ""},
		{"Server config", &cd.CreateDeploymentInput{Revision: rev(appSpec("web:2", nil)), DeploymentConfigName: aws.String("CodeDeployDefault.AllAtOnce")}, "InvalidDeploymentConfigNameException", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.ApplicationName, tc.in.DeploymentGroupName = aws.String("app"), aws.String("g")
			_, err := e.client.CreateDeployment(e.ctx, tc.in)
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %s %q", err, tc.code, tc.msg)
			}
		})
	}
	id := e.mustCreate("g", "web:2", nil)
	_, err := e.create("g", "web:3", nil)
	if apiCode(err) != "DeploymentLimitExceededException" || !strings.Contains(err.Error(), "The Deployment Group 'g' already has an active Deployment '"+id+"'") {
		t.Errorf("second active deployment: %v", err)
	}
	// Another group is independent; a revision from the group is reused.
	if _, err := e.create("h", "web:3", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g"),
		Description: aws.String("again"), AutoRollbackConfiguration: &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{"DEPLOYMENT_STOP_ON_REQUEST"}},
		OverrideAlarmConfiguration: &types.AlarmConfiguration{Enabled: true, IgnorePollAlarmFailure: true, Alarms: []types.Alarm{{Name: aws.String("high-5xx")}}}})
	if err != nil {
		t.Fatalf("redeploy of the group's target revision: %v", err)
	}
	got := e.get(*out.DeploymentId)
	if *got.Description != "again" || !got.AutoRollbackConfiguration.Enabled || got.OverrideAlarmConfiguration == nil || *got.OverrideAlarmConfiguration.Alarms[0].Name != "high-5xx" ||
		got.PreviousRevision == nil || *got.PreviousRevision.AppSpecContent.Sha256 != *got.Revision.AppSpecContent.Sha256 || !strings.HasPrefix(*got.DeploymentId, "d-") || len(*got.DeploymentId) != 11 {
		t.Errorf("stored request: %+v", got)
	}
	rev2, err := e.client.GetApplicationRevision(e.ctx, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("app"), Revision: got.Revision})
	if err != nil || rev2.RevisionInfo.DeploymentGroups[0] != "g" || rev2.RevisionInfo.LastUsedTime == nil {
		t.Errorf("revision bookkeeping: %v %+v", err, rev2)
	}
}

func TestListAndBatchGet(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{})
	e.group("h", groupOpts{service: "api"})
	var ids []string
	for i := 0; i < 3; i++ {
		id := e.mustCreate("g", "web:2", nil)
		if err := e.drive(e.engine, id, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		e.clk.Advance(time.Minute)
	}
	stopped := e.mustCreate("h", "web:2", nil)
	if _, err := e.client.StopDeployment(e.ctx, &cd.StopDeploymentInput{DeploymentId: aws.String(stopped)}); err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, stopped, nil); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Second)
	running := e.mustCreate("h", "web:3", nil)

	list := func(in *cd.ListDeploymentsInput) []string {
		t.Helper()
		var all []string
		p := cd.NewListDeploymentsPaginator(e.client, in)
		for p.HasMorePages() {
			out, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.Deployments...)
		}
		return all
	}
	eq := func(name string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	eq("group g, newest first", list(&cd.ListDeploymentsInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g")}), ids[2], ids[1], ids[0])
	eq("all", list(&cd.ListDeploymentsInput{}), running, stopped, ids[2], ids[1], ids[0])
	eq("status", list(&cd.ListDeploymentsInput{IncludeOnlyStatuses: []types.DeploymentStatus{"Stopped", "Created"}}), running, stopped)
	eq("time range", list(&cd.ListDeploymentsInput{CreateTimeRange: &types.TimeRange{Start: aws.Time(t0.Add(30 * time.Second)), End: aws.Time(t0.Add(90 * time.Second))}}), ids[1])
	eq("external id", list(&cd.ListDeploymentsInput{ExternalId: aws.String("x")}))
	_, err := e.client.ListDeployments(e.ctx, &cd.ListDeploymentsInput{NextToken: aws.String("bogus")})
	wantErr[*types.InvalidNextTokenException](t, err)
	_, err = e.client.ListDeployments(e.ctx, &cd.ListDeploymentsInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("nope")})
	wantErr[*types.DeploymentGroupDoesNotExistException](t, err)

	bg, err := e.client.BatchGetDeployments(e.ctx, &cd.BatchGetDeploymentsInput{DeploymentIds: []string{ids[0], "d-AAAAAAAAA", stopped}})
	if err != nil || len(bg.DeploymentsInfo) != 2 || bg.DeploymentsInfo[1].Status != types.DeploymentStatusStopped ||
		bg.DeploymentsInfo[1].ErrorInformation.Code != types.ErrorCodeManualStop {
		t.Fatalf("batch get: %v %+v", err, bg)
	}
	_, err = e.client.BatchGetDeployments(e.ctx, &cd.BatchGetDeploymentsInput{DeploymentIds: make([]string, 26)})
	if apiCode(err) != "BatchLimitExceededException" {
		t.Errorf("26 ids: %v", err)
	}

	// Targets.
	_, err = e.client.ListDeploymentTargets(e.ctx, &cd.ListDeploymentTargetsInput{DeploymentId: aws.String(running)})
	wantErr[*types.DeploymentNotStartedException](t, err)
	lt, err := e.client.ListDeploymentTargets(e.ctx, &cd.ListDeploymentTargetsInput{DeploymentId: aws.String(ids[0])})
	if err != nil || len(lt.TargetIds) != 1 || lt.TargetIds[0] != "c:web" {
		t.Fatalf("targets %v %+v", err, lt)
	}
	lt, _ = e.client.ListDeploymentTargets(e.ctx, &cd.ListDeploymentTargetsInput{DeploymentId: aws.String(ids[0]), TargetFilters: map[string][]string{"TargetStatus": {"Failed"}}})
	if len(lt.TargetIds) != 0 {
		t.Errorf("filtered targets %v", lt.TargetIds)
	}
	bt, err := e.client.BatchGetDeploymentTargets(e.ctx, &cd.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(ids[0]), TargetIds: []string{"c:web"}})
	if err != nil || bt.DeploymentTargets[0].DeploymentTargetType != types.DeploymentTargetTypeEcsTarget || len(bt.DeploymentTargets[0].EcsTarget.LifecycleEvents) != 8 {
		t.Fatalf("batch targets %v %+v", err, bt)
	}
	ev := bt.DeploymentTargets[0].EcsTarget.LifecycleEvents[1]
	if *ev.LifecycleEventName != "Install" || ev.StartTime == nil || ev.EndTime == nil || ev.Status != types.LifecycleEventStatusSucceeded {
		t.Errorf("install event %+v", ev)
	}
	_, err = e.client.BatchGetDeploymentTargets(e.ctx, &cd.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(ids[0]), TargetIds: []string{"c:web", "c:other"}})
	wantErr[*types.DeploymentTargetListSizeExceededException](t, err)
	_, err = e.client.GetDeploymentTarget(e.ctx, &cd.GetDeploymentTargetInput{DeploymentId: aws.String(ids[0]), TargetId: aws.String("c:other")})
	wantErr[*types.DeploymentTargetDoesNotExistException](t, err)

	// The instance operations do not serve ECS.
	_, err = e.client.ListDeploymentInstances(e.ctx, &cd.ListDeploymentInstancesInput{DeploymentId: aws.String(ids[0])})
	wantErr[*types.InvalidComputePlatformException](t, err)
	_, err = e.client.GetDeploymentInstance(e.ctx, &cd.GetDeploymentInstanceInput{DeploymentId: aws.String(ids[0]), InstanceId: aws.String("i-1")})
	wantErr[*types.InvalidComputePlatformException](t, err)
	_, err = e.client.BatchGetDeploymentInstances(e.ctx, &cd.BatchGetDeploymentInstancesInput{DeploymentId: aws.String(ids[0]), InstanceIds: []string{"i-1"}})
	wantErr[*types.InvalidComputePlatformException](t, err)
	_, err = e.client.GetDeployment(e.ctx, &cd.GetDeploymentInput{DeploymentId: aws.String("d-ZZZZZZZZZ")})
	wantErr[*types.DeploymentDoesNotExistException](t, err)

	// Group bookkeeping: the stopped deployment is h's last attempt.
	g, _ := e.client.GetDeploymentGroup(e.ctx, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("h")})
	if la := g.DeploymentGroupInfo.LastAttemptedDeployment; la == nil || *la.DeploymentId != running || la.Status != types.DeploymentStatusCreated {
		t.Errorf("last attempted %+v", la)
	}
}

func TestGroupDeletedAndStopBeforeStart(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{})
	id := e.mustCreate("g", "web:2", nil)
	if _, err := e.client.DeleteDeploymentGroup(e.ctx, &cd.DeleteDeploymentGroupInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g")}); err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.get(id); got.Status != types.DeploymentStatusFailed || got.ErrorInformation.Code != types.ErrorCodeDeploymentGroupMissing {
		t.Fatalf("%s %+v", got.Status, got.ErrorInformation)
	}
	if ids, err := e.cd.ActiveDeployments(e.ctx); err != nil || len(ids) != 0 {
		t.Fatalf("active %v %v", ids, err)
	}

	e.group("g", groupOpts{})
	id = e.mustCreate("g", "web:2", nil)
	if _, err := e.client.StopDeployment(e.ctx, &cd.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	got := e.get(id)
	if got.Status != types.DeploymentStatusStopped || got.ErrorInformation.Code != types.ErrorCodeManualStop || got.RollbackInfo != nil || e.ecs.creates != 0 {
		t.Fatalf("stopped before start: %s %+v %+v", got.Status, got.ErrorInformation, got.RollbackInfo)
	}
}
