package codedeploy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func TestCreateAndGetApplication(t *testing.T) {
	e := newEnv(t)
	out := must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{
		ApplicationName: aws.String("web"),
		Tags:            []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	}))
	if len(aws.ToString(out.ApplicationId)) != 36 {
		t.Fatalf("applicationId %q is not a UUID", aws.ToString(out.ApplicationId))
	}
	got := must[*cd.GetApplicationOutput](t)(e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("web")}))
	a := got.Application
	if aws.ToString(a.ApplicationName) != "web" || a.ComputePlatform != types.ComputePlatformServer ||
		aws.ToString(a.ApplicationId) != aws.ToString(out.ApplicationId) || a.CreateTime == nil || a.LinkedToGitHub {
		t.Fatalf("unexpected application %+v", a)
	}
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{
		ApplicationName: aws.String("svc"), ComputePlatform: types.ComputePlatformEcs,
	}))
	got = must[*cd.GetApplicationOutput](t)(e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("svc")}))
	if got.Application.ComputePlatform != types.ComputePlatformEcs {
		t.Fatalf("platform %s", got.Application.ComputePlatform)
	}
}

func TestApplicationErrors(t *testing.T) {
	e := newEnv(t)
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("web")}))
	long := strings.Repeat("a", 101)
	tags51 := make([]types.Tag, 51)
	for i := range tags51 {
		tags51[i] = types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")}
	}
	cases := []struct {
		name string
		in   *cd.CreateApplicationInput
		code string
	}{
		{"duplicate", &cd.CreateApplicationInput{ApplicationName: aws.String("web")}, "ApplicationAlreadyExistsException"},
		{"too long", &cd.CreateApplicationInput{ApplicationName: aws.String(long)}, "InvalidApplicationNameException"},
		{"bad character", &cd.CreateApplicationInput{ApplicationName: aws.String("a/b")}, "InvalidApplicationNameException"},
		{"space", &cd.CreateApplicationInput{ApplicationName: aws.String("a b")}, "InvalidApplicationNameException"},
		{"platform", &cd.CreateApplicationInput{ApplicationName: aws.String("x"), ComputePlatform: "Windows"}, "InvalidComputePlatformException"},
		{"tag without key", &cd.CreateApplicationInput{ApplicationName: aws.String("x"), Tags: []types.Tag{{Value: aws.String("v")}}}, "InvalidTagsToAddException"},
		{"too many tags", &cd.CreateApplicationInput{ApplicationName: aws.String("x"), Tags: tags51}, "InvalidTagsToAddException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			_, err := e.client.CreateApplication(bg, c.in)
			wantCode(t, err, c.code)
			e.unchanged(t, before, c.name)
		})
	}
	_, err := e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("nope")})
	ex := wantType[*types.ApplicationDoesNotExistException](t, err)
	if !strings.Contains(ex.ErrorMessage(), "nope") {
		t.Fatalf("message %q does not name the application", ex.ErrorMessage())
	}
	// Required members, which the SDK checks itself, are checked by the
	// server too.
	for _, op := range []string{"CreateApplication", "GetApplication", "DeleteApplication", "UpdateApplication"} {
		status, typ, _ := e.raw(t, op, `{}`)
		if status != http.StatusBadRequest || typ != "ApplicationNameRequiredException" {
			t.Fatalf("%s without a name: %d %s", op, status, typ)
		}
	}
	status, typ, _ := e.raw(t, "CreateApplication", `{"applicationName": 5}`)
	if status != http.StatusBadRequest || typ != "SerializationException" {
		t.Fatalf("wrong type: %d %s", status, typ)
	}
}

func TestListAndBatchGetApplications(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 5 {
		n := fmt.Sprintf("app-%d", i)
		want = append(want, n)
		must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String(n)}))
	}
	var got []string
	pages := 0
	p := cd.NewListApplicationsPaginator(e.client, &cd.ListApplicationsInput{})
	for p.HasMorePages() {
		page := must[*cd.ListApplicationsOutput](t)(p.NextPage(bg))
		pages++
		got = append(got, page.Applications...)
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("listed %v in %d pages", got, pages)
	}
	_, err := e.client.ListApplications(bg, &cd.ListApplicationsInput{NextToken: aws.String("garbage")})
	wantType[*types.InvalidNextTokenException](t, err)

	b := must[*cd.BatchGetApplicationsOutput](t)(e.client.BatchGetApplications(bg, &cd.BatchGetApplicationsInput{ApplicationNames: []string{"app-3", "app-1"}}))
	if len(b.ApplicationsInfo) != 2 || aws.ToString(b.ApplicationsInfo[0].ApplicationName) != "app-3" {
		t.Fatalf("batch get %+v", b.ApplicationsInfo)
	}
	_, err = e.client.BatchGetApplications(bg, &cd.BatchGetApplicationsInput{ApplicationNames: []string{"app-1", "missing"}})
	wantType[*types.ApplicationDoesNotExistException](t, err)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("a", i)
	}
	_, err = e.client.BatchGetApplications(bg, &cd.BatchGetApplicationsInput{ApplicationNames: many})
	wantType[*types.BatchLimitExceededException](t, err)
	_, err = e.client.BatchGetApplications(bg, &cd.BatchGetApplicationsInput{ApplicationNames: []string{}})
	wantType[*types.ApplicationNameRequiredException](t, err)
}

func TestRenameApplicationMovesChildren(t *testing.T) {
	e := newEnv(t)
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("old")}))
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("other")}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("old"), DeploymentGroupName: aws.String("g1"), ServiceRoleArn: aws.String(testRole),
	}))
	rev := s3Rev("b", "k.zip")
	must[*cd.RegisterApplicationRevisionOutput](t)(e.client.RegisterApplicationRevision(bg, &cd.RegisterApplicationRevisionInput{
		ApplicationName: aws.String("old"), Revision: rev, Description: aws.String("first"),
	}))

	before := e.snapshot(t)
	_, err := e.client.UpdateApplication(bg, &cd.UpdateApplicationInput{ApplicationName: aws.String("old"), NewApplicationName: aws.String("other")})
	wantType[*types.ApplicationAlreadyExistsException](t, err)
	_, err = e.client.UpdateApplication(bg, &cd.UpdateApplicationInput{ApplicationName: aws.String("nope"), NewApplicationName: aws.String("x")})
	wantType[*types.ApplicationDoesNotExistException](t, err)
	_, err = e.client.UpdateApplication(bg, &cd.UpdateApplicationInput{ApplicationName: aws.String("old"), NewApplicationName: aws.String("bad name")})
	wantType[*types.InvalidApplicationNameException](t, err)
	e.unchanged(t, before, "refused renames")

	id := must[*cd.GetApplicationOutput](t)(e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("old")})).Application.ApplicationId
	must[*cd.UpdateApplicationOutput](t)(e.client.UpdateApplication(bg, &cd.UpdateApplicationInput{ApplicationName: aws.String("old"), NewApplicationName: aws.String("new")}))
	_, err = e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("old")})
	wantType[*types.ApplicationDoesNotExistException](t, err)
	a := must[*cd.GetApplicationOutput](t)(e.client.GetApplication(bg, &cd.GetApplicationInput{ApplicationName: aws.String("new")}))
	if aws.ToString(a.Application.ApplicationId) != aws.ToString(id) {
		t.Fatal("rename changed the application id")
	}
	g := must[*cd.GetDeploymentGroupOutput](t)(e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("new"), DeploymentGroupName: aws.String("g1")}))
	if aws.ToString(g.DeploymentGroupInfo.ApplicationName) != "new" {
		t.Fatalf("group still names %q", aws.ToString(g.DeploymentGroupInfo.ApplicationName))
	}
	r := must[*cd.GetApplicationRevisionOutput](t)(e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("new"), Revision: rev}))
	if aws.ToString(r.RevisionInfo.Description) != "first" {
		t.Fatalf("revision not moved: %+v", r.RevisionInfo)
	}
	_, err = e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("old"), Revision: rev})
	wantType[*types.ApplicationDoesNotExistException](t, err)
}

func TestDeleteApplicationDeletesChildren(t *testing.T) {
	e := newEnv(t)
	e.ecsApp(t, "svc")
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "g", "cluster", "api")))
	must[*cd.RegisterApplicationRevisionOutput](t)(e.client.RegisterApplicationRevision(bg, &cd.RegisterApplicationRevisionInput{
		ApplicationName: aws.String("svc"), Revision: appSpecRev("version: 0.0\n"),
	}))
	must[*cd.DeleteApplicationOutput](t)(e.client.DeleteApplication(bg, &cd.DeleteApplicationInput{ApplicationName: aws.String("svc")}))
	snap := e.snapshot(t)
	for k := range snap {
		if !strings.HasPrefix(k, kindConfig+"\x00") {
			t.Fatalf("record %q left behind", k)
		}
	}
	// The ECS service is free again for a new application's group.
	e.ecsApp(t, "svc2")
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc2", "g", "cluster", "api")))
	// Deleting an application that does not exist succeeds, as on AWS.
	must[*cd.DeleteApplicationOutput](t)(e.client.DeleteApplication(bg, &cd.DeleteApplicationInput{ApplicationName: aws.String("never")}))
	_, err := e.client.DeleteApplication(bg, &cd.DeleteApplicationInput{ApplicationName: aws.String("bad/name")})
	wantType[*types.InvalidApplicationNameException](t, err)
}

func (e *env) ecsApp(t *testing.T, name string) {
	t.Helper()
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String(name), ComputePlatform: types.ComputePlatformEcs}))
}

func s3Rev(bucket, key string) *types.RevisionLocation {
	return &types.RevisionLocation{RevisionType: types.RevisionLocationTypeS3, S3Location: &types.S3Location{
		Bucket: aws.String(bucket), Key: aws.String(key), BundleType: types.BundleTypeZip,
	}}
}

func appSpecRev(content string) *types.RevisionLocation {
	return &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(content)}}
}

func ecsGroupInput(app, group, cluster, service string) *cd.CreateDeploymentGroupInput {
	return &cd.CreateDeploymentGroupInput{
		ApplicationName:     aws.String(app),
		DeploymentGroupName: aws.String(group),
		ServiceRoleArn:      aws.String(testRole),
		DeploymentStyle:     &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		EcsServices:         []types.ECSService{{ClusterName: aws.String(cluster), ServiceName: aws.String(service)}},
		LoadBalancerInfo: &types.LoadBalancerInfo{TargetGroupPairInfoList: []types.TargetGroupPairInfo{{
			TargetGroups:     []types.TargetGroupInfo{{Name: aws.String("blue")}, {Name: aws.String("green")}},
			ProdTrafficRoute: &types.TrafficRoute{ListenerArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/1"}},
			TestTrafficRoute: &types.TrafficRoute{ListenerArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/2"}},
		}}},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			DeploymentReadyOption:                     &types.DeploymentReadyOption{ActionOnTimeout: types.DeploymentReadyActionContinueDeployment},
			TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{Action: types.InstanceActionTerminate, TerminationWaitTimeInMinutes: 5},
		},
	}
}
