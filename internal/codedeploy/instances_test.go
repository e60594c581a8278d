package codedeploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

const userArn = "arn:aws:iam::123456789012:user/AWS/CodeDeploy/onprem1"

func TestOnPremisesInstances(t *testing.T) {
	e := newEnv(t)
	regUser := func(name, arn string) error {
		_, err := e.client.RegisterOnPremisesInstance(bg, &cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String(name), IamUserArn: aws.String(arn)})
		return err
	}
	ok(t, regUser("onprem1", userArn))
	_, err := e.client.RegisterOnPremisesInstance(bg, &cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("sess1"),
		IamSessionArn: aws.String("arn:aws:sts::123456789012:assumed-role/CodeDeployRole/host-1")})
	ok(t, err)
	for i := range 3 {
		ok(t, regUser(fmt.Sprint("host-", i), fmt.Sprint("arn:aws:iam::123456789012:user/h", i)))
	}
	info := must[*cd.GetOnPremisesInstanceOutput](t)(e.client.GetOnPremisesInstance(bg, &cd.GetOnPremisesInstanceInput{InstanceName: aws.String("onprem1")})).InstanceInfo
	if aws.ToString(info.InstanceArn) != "arn:aws:codedeploy:us-east-1:123456789012:instance/onprem1" || aws.ToString(info.IamUserArn) != userArn || info.RegisterTime == nil || info.DeregisterTime != nil {
		t.Fatalf("instance %+v", info)
	}
	byArn, err := e.svc.OnPremisesInstanceByIAMArn(bg, userArn)
	ok(t, err)
	if byArn.InstanceName != "onprem1" {
		t.Fatalf("by ARN: %+v", byArn)
	}

	before := e.snapshot(t)
	for _, c := range []struct {
		in   *cd.RegisterOnPremisesInstanceInput
		code string
	}{
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("onprem1"), IamUserArn: aws.String("arn:aws:iam::123456789012:user/other")}, "InstanceNameAlreadyRegisteredException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new"), IamUserArn: aws.String(userArn)}, "IamUserArnAlreadyRegisteredException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new"), IamSessionArn: aws.String("arn:aws:sts::123456789012:assumed-role/CodeDeployRole/host-1")}, "IamSessionArnAlreadyRegisteredException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new")}, "IamArnRequiredException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new"), IamUserArn: aws.String(userArn), IamSessionArn: aws.String("x")}, "MultipleIamArnsProvidedException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new"), IamUserArn: aws.String("arn:aws:iam::123:role/x")}, "InvalidIamUserArnException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("new"), IamSessionArn: aws.String("arn:aws:iam::123456789012:user/x")}, "InvalidIamSessionArnException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("bad name"), IamUserArn: aws.String(userArn)}, "InvalidInstanceNameException"},
		{&cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String(strings.Repeat("n", 101)), IamUserArn: aws.String(userArn)}, "InvalidInstanceNameException"},
	} {
		_, err := e.client.RegisterOnPremisesInstance(bg, c.in)
		wantCode(t, err, c.code)
	}
	if _, typ, _ := e.raw(t, "RegisterOnPremisesInstance", `{"iamUserArn":"`+userArn+`"}`); typ != "InstanceNameRequiredException" {
		t.Fatalf("missing name: %s", typ)
	}

	// Tags: all-or-nothing, at most 10 per instance.
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1", "ghost"}, Tags: []types.Tag{tag("env", "dev")}})
	wantType[*types.InstanceNotRegisteredException](t, err)
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1"}, Tags: []types.Tag{{Value: aws.String("v")}}})
	wantType[*types.InvalidTagException](t, err)
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1"}, Tags: []types.Tag{}})
	wantType[*types.TagRequiredException](t, err)
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{}, Tags: []types.Tag{tag("a", "b")}})
	wantType[*types.InstanceNameRequiredException](t, err)
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, tag(fmt.Sprint("k", i), "v"))
	}
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1"}, Tags: eleven})
	wantType[*types.TagLimitExceededException](t, err)
	e.unchanged(t, before, "refused instance requests")

	must[*cd.AddTagsToOnPremisesInstancesOutput](t)(e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1", "host-1"}, Tags: []types.Tag{tag("env", "dev"), tag("role", "web")}}))
	must[*cd.AddTagsToOnPremisesInstancesOutput](t)(e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"host-2"}, Tags: []types.Tag{tag("env", "prod")}}))
	must[*cd.RemoveTagsFromOnPremisesInstancesOutput](t)(e.client.RemoveTagsFromOnPremisesInstances(bg, &cd.RemoveTagsFromOnPremisesInstancesInput{InstanceNames: []string{"host-1"}, Tags: []types.Tag{tag("role", "web")}}))
	h1 := must[*cd.GetOnPremisesInstanceOutput](t)(e.client.GetOnPremisesInstance(bg, &cd.GetOnPremisesInstanceInput{InstanceName: aws.String("host-1")})).InstanceInfo
	if len(h1.Tags) != 1 || aws.ToString(h1.Tags[0].Key) != "env" {
		t.Fatalf("host-1 tags %+v", h1.Tags)
	}

	listNames := func(in cd.ListOnPremisesInstancesInput) []string {
		// The Go SDK has no paginator for this operation; page by hand.
		var names []string
		for {
			page := must[*cd.ListOnPremisesInstancesOutput](t)(e.client.ListOnPremisesInstances(bg, &in))
			names = append(names, page.InstanceNames...)
			if page.NextToken == nil {
				return names
			}
			in.NextToken = page.NextToken
		}
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{}); !slices.Equal(got, []string{"host-0", "host-1", "host-2", "onprem1", "sess1"}) {
		t.Fatalf("all: %v", got)
	}
	kv := func(k, v string, typ types.TagFilterType) []types.TagFilter {
		return []types.TagFilter{{Key: aws.String(k), Value: aws.String(v), Type: typ}}
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{TagFilters: kv("env", "dev", types.TagFilterTypeKeyAndValue)}); !slices.Equal(got, []string{"host-1", "onprem1"}) {
		t.Fatalf("env=dev: %v", got)
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{TagFilters: kv("env", "", types.TagFilterTypeKeyOnly)}); len(got) != 3 {
		t.Fatalf("env: %v", got)
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{TagFilters: kv("", "prod", types.TagFilterTypeValueOnly)}); !slices.Equal(got, []string{"host-2"}) {
		t.Fatalf("=prod: %v", got)
	}

	// Deregistering keeps the record, lists it as Deregistered, frees the ARN.
	must[*cd.DeregisterOnPremisesInstanceOutput](t)(e.client.DeregisterOnPremisesInstance(bg, &cd.DeregisterOnPremisesInstanceInput{InstanceName: aws.String("onprem1")}))
	info = must[*cd.GetOnPremisesInstanceOutput](t)(e.client.GetOnPremisesInstance(bg, &cd.GetOnPremisesInstanceInput{InstanceName: aws.String("onprem1")})).InstanceInfo
	if info.DeregisterTime == nil {
		t.Fatal("no deregisterTime")
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{RegistrationStatus: types.RegistrationStatusDeregistered}); !slices.Equal(got, []string{"onprem1"}) {
		t.Fatalf("deregistered: %v", got)
	}
	if got := listNames(cd.ListOnPremisesInstancesInput{RegistrationStatus: types.RegistrationStatusRegistered}); len(got) != 4 {
		t.Fatalf("registered: %v", got)
	}
	_, err = e.svc.OnPremisesInstanceByIAMArn(bg, userArn)
	if ae := asAWS(err); ae == nil || ae.Code != "InstanceNotRegisteredException" {
		t.Fatalf("by ARN after deregister: %v", err)
	}
	_, err = e.client.AddTagsToOnPremisesInstances(bg, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"onprem1"}, Tags: []types.Tag{tag("a", "b")}})
	wantType[*types.InstanceNotRegisteredException](t, err)
	ok(t, regUser("other", userArn))
	ok(t, regUser("onprem1", "arn:aws:iam::123456789012:user/again"))
	must[*cd.DeregisterOnPremisesInstanceOutput](t)(e.client.DeregisterOnPremisesInstance(bg, &cd.DeregisterOnPremisesInstanceInput{InstanceName: aws.String("never-was")}))

	b := must[*cd.BatchGetOnPremisesInstancesOutput](t)(e.client.BatchGetOnPremisesInstances(bg, &cd.BatchGetOnPremisesInstancesInput{InstanceNames: []string{"host-0", "ghost", "sess1"}}))
	if len(b.InstanceInfos) != 2 {
		t.Fatalf("batch get %d", len(b.InstanceInfos))
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("n", i)
	}
	_, err = e.client.BatchGetOnPremisesInstances(bg, &cd.BatchGetOnPremisesInstancesInput{InstanceNames: many})
	wantType[*types.BatchLimitExceededException](t, err)
	_, err = e.client.GetOnPremisesInstance(bg, &cd.GetOnPremisesInstanceInput{InstanceName: aws.String("ghost")})
	wantType[*types.InstanceNotRegisteredException](t, err)
	_, err = e.client.ListOnPremisesInstances(bg, &cd.ListOnPremisesInstancesInput{RegistrationStatus: "Gone"})
	wantType[*types.InvalidRegistrationStatusException](t, err)
	_, err = e.client.ListOnPremisesInstances(bg, &cd.ListOnPremisesInstancesInput{TagFilters: kv("k", "v", "SOME")})
	wantType[*types.InvalidTagFilterException](t, err)
}

func TestResourceTags(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	must[*cd.CreateDeploymentConfigOutput](t)(e.client.CreateDeploymentConfig(bg, &cd.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("c"), MinimumHealthyHosts: &types.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1}}))
	prefix := "arn:aws:codedeploy:us-east-1:123456789012:"
	for _, arn := range []string{prefix + "application:web", prefix + "deploymentgroup:web/g", prefix + "deploymentconfig:c"} {
		must[*cd.TagResourceOutput](t)(e.client.TagResource(bg, &cd.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}))
		must[*cd.TagResourceOutput](t)(e.client.TagResource(bg, &cd.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("3")}}}))
		must[*cd.UntagResourceOutput](t)(e.client.UntagResource(bg, &cd.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"b", "absent"}}))
		got := must[*cd.ListTagsForResourceOutput](t)(e.client.ListTagsForResource(bg, &cd.ListTagsForResourceInput{ResourceArn: aws.String(arn)})).Tags
		if len(got) != 1 || aws.ToString(got[0].Key) != "a" || aws.ToString(got[0].Value) != "3" {
			t.Fatalf("%s: %+v", arn, got)
		}
	}
	var fifty []types.Tag
	for i := range 50 {
		fifty = append(fifty, types.Tag{Key: aws.String(fmt.Sprint("t", i)), Value: aws.String("v")})
	}
	before := e.snapshot(t)
	for _, c := range []struct {
		arn  string
		tags []types.Tag
		code string
	}{
		{"not-an-arn", nil, "InvalidArnException"},
		{"arn:aws:s3:::bucket", nil, "ArnNotSupportedException"},
		{prefix + "instance/onprem1", nil, "ArnNotSupportedException"},
		{"arn:aws:codedeploy:eu-west-1:123456789012:application:web", nil, "InvalidArnException"},
		{prefix + "application:nope", nil, "ApplicationDoesNotExistException"},
		{prefix + "deploymentgroup:web/nope", nil, "DeploymentGroupDoesNotExistException"},
		{prefix + "deploymentgroup:nope/g", nil, "ApplicationDoesNotExistException"},
		{prefix + "deploymentconfig:nope", nil, "DeploymentConfigDoesNotExistException"},
		{prefix + "application:web", []types.Tag{}, "TagRequiredException"},
		{prefix + "application:web", []types.Tag{{Value: aws.String("v")}}, "InvalidTagsToAddException"},
		{prefix + "application:web", fifty, "InvalidTagsToAddException"}, // 50 new + 1 existing
	} {
		tags := c.tags
		if tags == nil {
			tags = []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
		}
		_, err := e.client.TagResource(bg, &cd.TagResourceInput{ResourceArn: aws.String(c.arn), Tags: tags})
		wantCode(t, err, c.code)
	}
	_, err := e.client.UntagResource(bg, &cd.UntagResourceInput{ResourceArn: aws.String(prefix + "application:web"), TagKeys: []string{}})
	wantType[*types.TagRequiredException](t, err)
	_, err = e.client.ListTagsForResource(bg, &cd.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f")})
	wantType[*types.ArnNotSupportedException](t, err)
	if _, typ, _ := e.raw(t, "ListTagsForResource", `{}`); typ != "ResourceArnRequiredException" {
		t.Fatalf("missing ARN: %s", typ)
	}
	e.unchanged(t, before, "refused tag requests")
}

func TestGitHubAndExternalID(t *testing.T) {
	e := newEnv(t)
	l := must[*cd.ListGitHubAccountTokenNamesOutput](t)(e.client.ListGitHubAccountTokenNames(bg, &cd.ListGitHubAccountTokenNamesInput{}))
	if l.TokenNameList == nil || len(l.TokenNameList) != 0 || l.NextToken != nil {
		t.Fatalf("token names %+v", l)
	}
	_, err := e.client.DeleteGitHubAccountToken(bg, &cd.DeleteGitHubAccountTokenInput{TokenName: aws.String("mine")})
	wantType[*types.GitHubAccountTokenDoesNotExistException](t, err)
	_, err = e.client.DeleteGitHubAccountToken(bg, &cd.DeleteGitHubAccountTokenInput{})
	wantType[*types.GitHubAccountTokenNameRequiredException](t, err)
	_, err = e.client.DeleteGitHubAccountToken(bg, &cd.DeleteGitHubAccountTokenInput{TokenName: aws.String("no way")})
	wantType[*types.InvalidGitHubAccountTokenNameException](t, err)
	must[*cd.DeleteResourcesByExternalIdOutput](t)(e.client.DeleteResourcesByExternalId(bg, &cd.DeleteResourcesByExternalIdInput{ExternalId: aws.String("x")}))
}
