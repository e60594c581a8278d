package codedeploy

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func TestDeploymentOperationsBeforeTheEngine(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("fn"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	before := e.snapshot(t)
	create := func(mut func(*cd.CreateDeploymentInput)) error {
		in := &cd.CreateDeploymentInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), Revision: s3Rev("b", "k.zip")}
		mut(in)
		_, err := e.client.CreateDeployment(bg, in)
		return err
	}
	for _, c := range []struct {
		name string
		err  error
		code string
	}{
		{"github on server", create(func(i *cd.CreateDeploymentInput) {
			i.Revision = &types.RevisionLocation{RevisionType: types.RevisionLocationTypeGitHub, GitHubLocation: &types.GitHubLocation{Repository: aws.String("o/r"), CommitId: aws.String("abc")}}
		}), "InvalidRevisionException"},
		{"no app", create(func(i *cd.CreateDeploymentInput) { i.ApplicationName = aws.String("nope") }), "ApplicationDoesNotExistException"},
		{"no group", create(func(i *cd.CreateDeploymentInput) { i.DeploymentGroupName = aws.String("nope") }), "DeploymentGroupDoesNotExistException"},
		{"group required", create(func(i *cd.CreateDeploymentInput) { i.DeploymentGroupName = nil }), "DeploymentGroupNameRequiredException"},
		{"no revision", create(func(i *cd.CreateDeploymentInput) { i.Revision = nil }), "RevisionRequiredException"},
		{"bad revision", create(func(i *cd.CreateDeploymentInput) { i.Revision = &types.RevisionLocation{RevisionType: "S3"} }), "InvalidRevisionException"},
		{"config missing", create(func(i *cd.CreateDeploymentInput) { i.DeploymentConfigName = aws.String("nope") }), "DeploymentConfigDoesNotExistException"},
		{"config platform", create(func(i *cd.CreateDeploymentInput) {
			i.DeploymentConfigName = aws.String("CodeDeployDefault.ECSAllAtOnce")
		}), "InvalidDeploymentConfigNameException"},
		{"description", create(func(i *cd.CreateDeploymentInput) { i.Description = aws.String(strings.Repeat("x", 257)) }), "DescriptionTooLongException"},
		{"file exists", create(func(i *cd.CreateDeploymentInput) { i.FileExistsBehavior = "MERGE" }), "InvalidFileExistsBehaviorException"},
		{"file exists on lambda", create(func(i *cd.CreateDeploymentInput) {
			i.ApplicationName = aws.String("fn")
			i.FileExistsBehavior = "OVERWRITE"
		}), "InvalidFileExistsBehaviorException"},
		{"rollback event", create(func(i *cd.CreateDeploymentInput) {
			i.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{"X"}}
		}), "InvalidAutoRollbackConfigException"},
	} {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.err, c.code) })
	}
	_, err := e.client.GetDeployment(bg, &cd.GetDeploymentInput{DeploymentId: aws.String("d-ABCDEFGHI")})
	wantType[*types.DeploymentDoesNotExistException](t, err)
	_, err = e.client.GetDeployment(bg, &cd.GetDeploymentInput{DeploymentId: aws.String("d-abc")})
	wantType[*types.InvalidDeploymentIdException](t, err)
	if _, typ, _ := e.raw(t, "GetDeployment", `{}`); typ != "DeploymentIdRequiredException" {
		t.Fatalf("missing id: %s", typ)
	}
	bgd := must[*cd.BatchGetDeploymentsOutput](t)(e.client.BatchGetDeployments(bg, &cd.BatchGetDeploymentsInput{DeploymentIds: []string{"d-ABCDEFGHI"}}))
	if len(bgd.DeploymentsInfo) != 0 {
		t.Fatal("a deployment exists")
	}
	ld := must[*cd.ListDeploymentsOutput](t)(e.client.ListDeployments(bg, &cd.ListDeploymentsInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g")}))
	if ld.Deployments == nil || len(ld.Deployments) != 0 {
		t.Fatalf("deployments %v", ld.Deployments)
	}
	_, err = e.client.ListDeployments(bg, &cd.ListDeploymentsInput{ApplicationName: aws.String("web")})
	wantType[*types.DeploymentGroupNameRequiredException](t, err)
	_, err = e.client.ListDeployments(bg, &cd.ListDeploymentsInput{IncludeOnlyStatuses: []types.DeploymentStatus{"Sleeping"}})
	wantType[*types.InvalidDeploymentStatusException](t, err)
	id := aws.String("d-ABCDEFGHI")
	for name, err := range map[string]error{
		"StopDeployment":        second(e.client.StopDeployment(bg, &cd.StopDeploymentInput{DeploymentId: id})),
		"ContinueDeployment":    second(e.client.ContinueDeployment(bg, &cd.ContinueDeploymentInput{DeploymentId: id, DeploymentWaitType: types.DeploymentWaitTypeReadyWait})),
		"SkipWait":              second(e.client.SkipWaitTimeForInstanceTermination(bg, &cd.SkipWaitTimeForInstanceTerminationInput{DeploymentId: id})),
		"ListDeploymentTargets": second(e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: id})),
		"BatchGetTargets":       second(e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: id, TargetIds: []string{"i-1"}})),
		"GetDeploymentTarget":   second(e.client.GetDeploymentTarget(bg, &cd.GetDeploymentTargetInput{DeploymentId: id, TargetId: aws.String("i-1")})),
		"ListInstances":         second(e.client.ListDeploymentInstances(bg, &cd.ListDeploymentInstancesInput{DeploymentId: id})),
		"GetInstance":           second(e.client.GetDeploymentInstance(bg, &cd.GetDeploymentInstanceInput{DeploymentId: id, InstanceId: aws.String("i-1")})),
		"BatchGetInstances":     second(e.client.BatchGetDeploymentInstances(bg, &cd.BatchGetDeploymentInstancesInput{DeploymentId: id, InstanceIds: []string{"i-1"}})),
		"PutHookStatus": second(e.client.PutLifecycleEventHookExecutionStatus(bg, &cd.PutLifecycleEventHookExecutionStatusInput{DeploymentId: id,
			LifecycleEventHookExecutionId: aws.String("h"), Status: types.LifecycleEventStatusSucceeded})),
	} {
		t.Run(name, func(t *testing.T) { wantType[*types.DeploymentDoesNotExistException](t, err) })
	}
	_, err = e.client.ContinueDeployment(bg, &cd.ContinueDeploymentInput{DeploymentId: id, DeploymentWaitType: "SOON"})
	wantType[*types.InvalidDeploymentWaitTypeException](t, err)
	_, err = e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: id, TargetFilters: map[string][]string{"Color": {"x"}}})
	wantType[*types.InvalidTargetFilterNameException](t, err)
	_, err = e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: id, TargetIds: make([]string, 26)})
	wantType[*types.DeploymentTargetListSizeExceededException](t, err)
	_, err = e.client.PutLifecycleEventHookExecutionStatus(bg, &cd.PutLifecycleEventHookExecutionStatusInput{DeploymentId: id, LifecycleEventHookExecutionId: aws.String("h"), Status: types.LifecycleEventStatusPending})
	wantType[*types.InvalidLifecycleEventHookExecutionStatusException](t, err)
	_, err = e.client.StopDeployment(bg, &cd.StopDeploymentInput{DeploymentId: aws.String("x")})
	wantType[*types.InvalidDeploymentIdException](t, err)
	e.unchanged(t, before, "deployment operations")
}

func second[T any](_ T, err error) error { return err }

// TestAllOperationsRegistered checks the service answers all 47 operations
// of the model.
func TestAllOperationsRegistered(t *testing.T) {
	e := newEnv(t)
	ops := e.svc.JSON().Operations()
	if len(ops) != 47 {
		t.Fatalf("%d operations registered: %v", len(ops), ops)
	}
	if status, typ, _ := e.raw(t, "MakeCoffee", `{}`); status != 400 || typ != "UnknownOperationException" {
		t.Fatalf("unknown op: %d %s", status, typ)
	}
}
