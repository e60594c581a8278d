package codedeploy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func (e *env) apps(t *testing.T) {
	t.Helper()
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("web")}))
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("fn"), ComputePlatform: types.ComputePlatformLambda}))
	e.ecsApp(t, "svc")
}

func TestCreateServerGroupStoresEveryMember(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	in := &cd.CreateDeploymentGroupInput{
		ApplicationName:              aws.String("web"),
		DeploymentGroupName:          aws.String("prod"),
		ServiceRoleArn:               aws.String(testRole),
		DeploymentConfigName:         aws.String("CodeDeployDefault.HalfAtATime"),
		Ec2TagFilters:                []types.EC2TagFilter{{Key: aws.String("env"), Value: aws.String("prod"), Type: types.EC2TagFilterTypeKeyAndValue}},
		OnPremisesInstanceTagFilters: []types.TagFilter{{Key: aws.String("role"), Type: types.TagFilterTypeKeyOnly}},
		AutoScalingGroups:            []string{"asg-1"},
		TriggerConfigurations: []types.TriggerConfig{{TriggerName: aws.String("t1"), TriggerTargetArn: aws.String("arn:aws:sns:us-east-1:123456789012:topic"),
			TriggerEvents: []types.TriggerEventType{types.TriggerEventTypeDeploymentFailure}}},
		AlarmConfiguration:        &types.AlarmConfiguration{Enabled: true, Alarms: []types.Alarm{{Name: aws.String("cpu")}}},
		AutoRollbackConfiguration: &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentStopOnAlarm}},
		OutdatedInstancesStrategy: types.OutdatedInstancesStrategyIgnore,
		DeploymentStyle:           &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{Action: types.InstanceActionKeepAlive, TerminationWaitTimeInMinutes: 2880},
			DeploymentReadyOption:                     &types.DeploymentReadyOption{ActionOnTimeout: types.DeploymentReadyActionStopDeployment, WaitTimeInMinutes: 30},
			GreenFleetProvisioningOption:              &types.GreenFleetProvisioningOption{Action: types.GreenFleetProvisioningActionCopyAutoScalingGroup},
		},
		LoadBalancerInfo:       &types.LoadBalancerInfo{TargetGroupInfoList: []types.TargetGroupInfo{{Name: aws.String("tg")}}},
		Tags:                   []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		TerminationHookEnabled: aws.Bool(true),
	}
	id := must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, in)).DeploymentGroupId
	g := must[*cd.GetDeploymentGroupOutput](t)(e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("prod")})).DeploymentGroupInfo
	switch {
	case aws.ToString(g.DeploymentGroupId) != aws.ToString(id), g.ComputePlatform != types.ComputePlatformServer,
		aws.ToString(g.DeploymentConfigName) != "CodeDeployDefault.HalfAtATime", aws.ToString(g.ServiceRoleArn) != testRole,
		len(g.Ec2TagFilters) != 1 || g.Ec2TagFilters[0].Type != types.EC2TagFilterTypeKeyAndValue,
		len(g.OnPremisesInstanceTagFilters) != 1, len(g.AutoScalingGroups) != 1 || aws.ToString(g.AutoScalingGroups[0].Name) != "asg-1",
		len(g.TriggerConfigurations) != 1 || g.TriggerConfigurations[0].TriggerEvents[0] != types.TriggerEventTypeDeploymentFailure,
		g.AlarmConfiguration == nil || !g.AlarmConfiguration.Enabled || aws.ToString(g.AlarmConfiguration.Alarms[0].Name) != "cpu",
		g.AutoRollbackConfiguration == nil || g.AutoRollbackConfiguration.Events[0] != types.AutoRollbackEventDeploymentStopOnAlarm,
		g.OutdatedInstancesStrategy != types.OutdatedInstancesStrategyIgnore,
		g.DeploymentStyle.DeploymentType != types.DeploymentTypeBlueGreen,
		g.BlueGreenDeploymentConfiguration.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes != 2880,
		g.BlueGreenDeploymentConfiguration.DeploymentReadyOption.WaitTimeInMinutes != 30,
		g.BlueGreenDeploymentConfiguration.GreenFleetProvisioningOption.Action != types.GreenFleetProvisioningActionCopyAutoScalingGroup,
		aws.ToString(g.LoadBalancerInfo.TargetGroupInfoList[0].Name) != "tg",
		!g.TerminationHookEnabled:
		t.Fatalf("stored group differs from the request: %+v", g)
	}
	tags := must[*cd.ListTagsForResourceOutput](t)(e.client.ListTagsForResource(bg, &cd.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:web/prod")}))
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "k" {
		t.Fatalf("tags %+v", tags.Tags)
	}
}

func TestGroupDefaultsPerPlatform(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("fn"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "g", "c", "s")))
	for _, c := range []struct {
		app, config string
		platform    types.ComputePlatform
		style       types.DeploymentType
	}{
		{"web", "CodeDeployDefault.OneAtATime", types.ComputePlatformServer, types.DeploymentTypeInPlace},
		{"fn", "CodeDeployDefault.LambdaAllAtOnce", types.ComputePlatformLambda, types.DeploymentTypeBlueGreen},
		{"svc", "CodeDeployDefault.ECSAllAtOnce", types.ComputePlatformEcs, types.DeploymentTypeBlueGreen},
	} {
		g := must[*cd.GetDeploymentGroupOutput](t)(e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String(c.app), DeploymentGroupName: aws.String("g")})).DeploymentGroupInfo
		if aws.ToString(g.DeploymentConfigName) != c.config || g.ComputePlatform != c.platform || g.DeploymentStyle == nil || g.DeploymentStyle.DeploymentType != c.style ||
			g.OutdatedInstancesStrategy != types.OutdatedInstancesStrategyUpdate {
			t.Fatalf("%s: %+v", c.app, g)
		}
	}
	svc := must[*Service](t)(e.svc, nil)
	g, err := svc.GetDeploymentGroup(bg, "svc", "g")
	ok(t, err)
	if len(g.ECSServices) != 1 || str(g.ECSServices[0].ServiceName) != "s" {
		t.Fatalf("read API: %+v", g.ECSServices)
	}
}

func TestCreateDeploymentGroupErrors(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "taken", "c", "s")))
	server := func(mut func(*cd.CreateDeploymentGroupInput)) *cd.CreateDeploymentGroupInput {
		in := &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}
		mut(in)
		return in
	}
	ecs := func(mut func(*cd.CreateDeploymentGroupInput)) *cd.CreateDeploymentGroupInput {
		in := ecsGroupInput("svc", "g", "c", "other")
		mut(in)
		return in
	}
	tf := func(k, v string, typ types.EC2TagFilterType) types.EC2TagFilter {
		return types.EC2TagFilter{Key: aws.String(k), Value: aws.String(v), Type: typ}
	}
	trigger := func(n, arn string, ev ...types.TriggerEventType) types.TriggerConfig {
		return types.TriggerConfig{TriggerName: aws.String(n), TriggerTargetArn: aws.String(arn), TriggerEvents: ev}
	}
	topic := "arn:aws:sns:us-east-1:123456789012:t"
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("x", i)
		}
		return out
	}
	cases := []struct {
		name string
		in   *cd.CreateDeploymentGroupInput
		code string
	}{
		{"bad app name", server(func(i *cd.CreateDeploymentGroupInput) { i.ApplicationName = aws.String("a b") }), "InvalidApplicationNameException"},
		{"no app", server(func(i *cd.CreateDeploymentGroupInput) { i.ApplicationName = aws.String("nope") }), "ApplicationDoesNotExistException"},
		{"bad group name", server(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentGroupName = aws.String("a/b") }), "InvalidDeploymentGroupNameException"},
		{"exists", ecs(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentGroupName = aws.String("taken") }), "DeploymentGroupAlreadyExistsException"},
		{"bad role", server(func(i *cd.CreateDeploymentGroupInput) { i.ServiceRoleArn = aws.String("arn:aws:iam::123:user/x") }), "InvalidRoleException"},
		{"config missing", server(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentConfigName = aws.String("nope") }), "DeploymentConfigDoesNotExistException"},
		{"config bad name", server(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentConfigName = aws.String("no pe") }), "InvalidDeploymentConfigNameException"},
		{"config other platform", server(func(i *cd.CreateDeploymentGroupInput) {
			i.DeploymentConfigName = aws.String("CodeDeployDefault.LambdaAllAtOnce")
		}), "InvalidDeploymentConfigNameException"},
		{"ec2 tag type", server(func(i *cd.CreateDeploymentGroupInput) { i.Ec2TagFilters = []types.EC2TagFilter{tf("k", "v", "SOME")} }), "InvalidEC2TagException"},
		{"ec2 key only without key", server(func(i *cd.CreateDeploymentGroupInput) {
			i.Ec2TagFilters = []types.EC2TagFilter{tf("", "v", "KEY_ONLY")}
		}), "InvalidEC2TagException"},
		{"ec2 combination", server(func(i *cd.CreateDeploymentGroupInput) {
			i.Ec2TagFilters = []types.EC2TagFilter{tf("k", "v", "KEY_AND_VALUE")}
			i.Ec2TagSet = &types.EC2TagSet{Ec2TagSetList: [][]types.EC2TagFilter{{tf("k", "v", "KEY_AND_VALUE")}}}
		}), "InvalidEC2TagCombinationException"},
		{"ec2 four groups", server(func(i *cd.CreateDeploymentGroupInput) {
			f := []types.EC2TagFilter{tf("k", "v", "KEY_AND_VALUE")}
			i.Ec2TagSet = &types.EC2TagSet{Ec2TagSetList: [][]types.EC2TagFilter{f, f, f, f}}
		}), "TagSetListLimitExceededException"},
		{"on-prem tag", server(func(i *cd.CreateDeploymentGroupInput) {
			i.OnPremisesInstanceTagFilters = []types.TagFilter{{Value: aws.String("v"), Type: "KEY_ONLY"}}
		}), "InvalidTagException"},
		{"on-prem combination", server(func(i *cd.CreateDeploymentGroupInput) {
			f := types.TagFilter{Key: aws.String("k"), Type: "KEY_ONLY"}
			i.OnPremisesInstanceTagFilters = []types.TagFilter{f}
			i.OnPremisesTagSet = &types.OnPremisesTagSet{OnPremisesTagSetList: [][]types.TagFilter{{f}}}
		}), "InvalidOnPremisesTagCombinationException"},
		{"eleven ASGs", server(func(i *cd.CreateDeploymentGroupInput) { i.AutoScalingGroups = many(11) }), "InvalidAutoScalingGroupException"},
		{"eleven triggers", server(func(i *cd.CreateDeploymentGroupInput) {
			for j := range 11 {
				i.TriggerConfigurations = append(i.TriggerConfigurations, trigger(fmt.Sprint("t", j), topic, "DeploymentStart"))
			}
		}), "TriggerTargetsLimitExceededException"},
		{"trigger target", server(func(i *cd.CreateDeploymentGroupInput) {
			i.TriggerConfigurations = []types.TriggerConfig{trigger("t", "arn:aws:sqs:us-east-1:123456789012:q", "DeploymentStart")}
		}), "InvalidTriggerConfigException"},
		{"trigger event", server(func(i *cd.CreateDeploymentGroupInput) {
			i.TriggerConfigurations = []types.TriggerConfig{trigger("t", topic, "Whenever")}
		}), "InvalidTriggerConfigException"},
		{"eleven alarms", server(func(i *cd.CreateDeploymentGroupInput) {
			i.AlarmConfiguration = &types.AlarmConfiguration{Enabled: true}
			for _, n := range many(11) {
				i.AlarmConfiguration.Alarms = append(i.AlarmConfiguration.Alarms, types.Alarm{Name: aws.String(n)})
			}
		}), "AlarmsLimitExceededException"},
		{"alarms enabled empty", server(func(i *cd.CreateDeploymentGroupInput) {
			i.AlarmConfiguration = &types.AlarmConfiguration{Enabled: true}
		}), "InvalidAlarmConfigException"},
		{"rollback event", server(func(i *cd.CreateDeploymentGroupInput) {
			i.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{"SOMETIMES"}}
		}), "InvalidAutoRollbackConfigException"},
		{"rollback enabled empty", server(func(i *cd.CreateDeploymentGroupInput) {
			i.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true}
		}), "InvalidAutoRollbackConfigException"},
		{"outdated strategy", server(func(i *cd.CreateDeploymentGroupInput) { i.OutdatedInstancesStrategy = "SOMETIMES" }), "InvalidInputException"},
		{"style enum", server(func(i *cd.CreateDeploymentGroupInput) {
			i.DeploymentStyle = &types.DeploymentStyle{DeploymentType: "SIDEWAYS"}
		}), "InvalidDeploymentStyleException"},
		{"server traffic control without LB", server(func(i *cd.CreateDeploymentGroupInput) {
			i.DeploymentStyle = &types.DeploymentStyle{DeploymentType: "IN_PLACE", DeploymentOption: "WITH_TRAFFIC_CONTROL"}
		}), "InvalidLoadBalancerInfoException"},
		{"server blue/green without traffic control", server(func(i *cd.CreateDeploymentGroupInput) {
			i.DeploymentStyle = &types.DeploymentStyle{DeploymentType: "BLUE_GREEN", DeploymentOption: "WITHOUT_TRAFFIC_CONTROL"}
		}), "InvalidDeploymentStyleException"},
		{"termination wait", server(func(i *cd.CreateDeploymentGroupInput) {
			i.BlueGreenDeploymentConfiguration = &types.BlueGreenDeploymentConfiguration{TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{TerminationWaitTimeInMinutes: 2881}}
		}), "InvalidBlueGreenDeploymentConfigurationException"},
		{"ready action", server(func(i *cd.CreateDeploymentGroupInput) {
			i.BlueGreenDeploymentConfiguration = &types.BlueGreenDeploymentConfiguration{DeploymentReadyOption: &types.DeploymentReadyOption{ActionOnTimeout: "WAIT"}}
		}), "InvalidBlueGreenDeploymentConfigurationException"},
		{"ecs services on server", server(func(i *cd.CreateDeploymentGroupInput) {
			i.EcsServices = []types.ECSService{{ClusterName: aws.String("c"), ServiceName: aws.String("s")}}
		}), "InvalidECSServiceException"},
		{"server target group pair", server(func(i *cd.CreateDeploymentGroupInput) {
			i.LoadBalancerInfo = ecsGroupInput("", "", "", "").LoadBalancerInfo
		}), "InvalidTargetGroupPairException"},
		{"tags", server(func(i *cd.CreateDeploymentGroupInput) { i.Tags = []types.Tag{{Value: aws.String("v")}} }), "InvalidTagsToAddException"},

		{"ecs in place", ecs(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentStyle.DeploymentType = "IN_PLACE" }), "InvalidDeploymentStyleException"},
		{"ecs no style", ecs(func(i *cd.CreateDeploymentGroupInput) { i.DeploymentStyle = nil }), "InvalidDeploymentStyleException"},
		{"ecs no service", ecs(func(i *cd.CreateDeploymentGroupInput) { i.EcsServices = nil }), "InvalidECSServiceException"},
		{"ecs two services", ecs(func(i *cd.CreateDeploymentGroupInput) { i.EcsServices = append(i.EcsServices, i.EcsServices[0]) }), "InvalidECSServiceException"},
		{"ecs service without cluster", ecs(func(i *cd.CreateDeploymentGroupInput) { i.EcsServices[0].ClusterName = nil }), "InvalidECSServiceException"},
		{"ecs no load balancer", ecs(func(i *cd.CreateDeploymentGroupInput) { i.LoadBalancerInfo = nil }), "InvalidLoadBalancerInfoException"},
		{"ecs one target group", ecs(func(i *cd.CreateDeploymentGroupInput) {
			p := &i.LoadBalancerInfo.TargetGroupPairInfoList[0]
			p.TargetGroups = p.TargetGroups[:1]
		}), "InvalidTargetGroupPairException"},
		{"ecs two pairs", ecs(func(i *cd.CreateDeploymentGroupInput) {
			l := i.LoadBalancerInfo
			l.TargetGroupPairInfoList = append(l.TargetGroupPairInfoList, l.TargetGroupPairInfoList[0])
		}), "InvalidTargetGroupPairException"},
		{"ecs no prod route", ecs(func(i *cd.CreateDeploymentGroupInput) {
			i.LoadBalancerInfo.TargetGroupPairInfoList[0].ProdTrafficRoute = nil
		}), "InvalidTargetGroupPairException"},
		{"ecs two prod listeners", ecs(func(i *cd.CreateDeploymentGroupInput) {
			r := i.LoadBalancerInfo.TargetGroupPairInfoList[0].ProdTrafficRoute
			r.ListenerArns = append(r.ListenerArns, "arn:x")
		}), "InvalidTargetGroupPairException"},
		{"ecs no blue/green config", ecs(func(i *cd.CreateDeploymentGroupInput) { i.BlueGreenDeploymentConfiguration = nil }), "InvalidBlueGreenDeploymentConfigurationException"},
		{"ecs service mapped twice", ecs(func(i *cd.CreateDeploymentGroupInput) { i.EcsServices[0].ServiceName = aws.String("s") }), "ECSServiceMappingLimitExceededException"},
		{"ecs server config", ecs(func(i *cd.CreateDeploymentGroupInput) {
			i.DeploymentConfigName = aws.String("CodeDeployDefault.AllAtOnce")
		}), "InvalidDeploymentConfigNameException"},

		{"lambda in place", &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("fn"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole),
			DeploymentStyle: &types.DeploymentStyle{DeploymentType: "IN_PLACE", DeploymentOption: "WITHOUT_TRAFFIC_CONTROL"}}, "InvalidDeploymentStyleException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			_, err := e.client.CreateDeploymentGroup(bg, c.in)
			wantCode(t, err, c.code)
			e.unchanged(t, before, c.name)
		})
	}
	for body, want := range map[string]string{
		`{"deploymentGroupName":"g","serviceRoleArn":"` + testRole + `"}`:         "ApplicationNameRequiredException",
		`{"applicationName":"web","serviceRoleArn":"` + testRole + `"}`:           "DeploymentGroupNameRequiredException",
		`{"applicationName":"web","deploymentGroupName":"g"}`:                     "RoleRequiredException",
		`{"applicationName":"web","deploymentGroupName":"g","ec2TagFilters":"x"}`: "SerializationException",
	} {
		if _, typ, _ := e.raw(t, "CreateDeploymentGroup", body); typ != want {
			t.Fatalf("%s: got %s, want %s", body, typ, want)
		}
	}
}

func TestGroupLimitPerApplication(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1000 groups")
	}
	e := newEnv(t)
	e.apps(t)
	for i := range maxGroupsPerApp {
		must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
			ApplicationName: aws.String("web"), DeploymentGroupName: aws.String(fmt.Sprint("g", i)), ServiceRoleArn: aws.String(testRole)}))
	}
	_, err := e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("last"), ServiceRoleArn: aws.String(testRole)})
	wantType[*types.DeploymentGroupLimitExceededException](t, err)
}

func TestUpdateDeploymentGroup(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole),
		AutoScalingGroups: []string{"a", "b"}, Ec2TagFilters: []types.EC2TagFilter{{Key: aws.String("k"), Type: "KEY_ONLY"}},
	}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("other"), ServiceRoleArn: aws.String(testRole)}))
	get := func(name string) *types.DeploymentGroupInfo {
		return must[*cd.GetDeploymentGroupOutput](t)(e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String(name)})).DeploymentGroupInfo
	}
	id := get("g").DeploymentGroupId

	// Absent members stay; present ones replace; [] clears.
	out := must[*cd.UpdateDeploymentGroupOutput](t)(e.client.UpdateDeploymentGroup(bg, &cd.UpdateDeploymentGroupInput{
		ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"),
		AutoScalingGroups: []string{}, TerminationHookEnabled: aws.Bool(true),
	}))
	if out.HooksNotCleanedUp == nil || len(out.HooksNotCleanedUp) != 0 {
		t.Fatalf("hooksNotCleanedUp %+v", out.HooksNotCleanedUp)
	}
	g := get("g")
	if len(g.AutoScalingGroups) != 0 || len(g.Ec2TagFilters) != 1 || !g.TerminationHookEnabled {
		t.Fatalf("after update: %+v", g)
	}

	before := e.snapshot(t)
	for _, c := range []struct {
		in   *cd.UpdateDeploymentGroupInput
		code string
	}{
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"), NewDeploymentGroupName: aws.String("other")}, "DeploymentGroupAlreadyExistsException"},
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("nope")}, "DeploymentGroupDoesNotExistException"},
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("nope"), CurrentDeploymentGroupName: aws.String("g")}, "ApplicationDoesNotExistException"},
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String("role")}, "InvalidRoleException"},
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"),
			Ec2TagSet: &types.EC2TagSet{Ec2TagSetList: [][]types.EC2TagFilter{{{Key: aws.String("x"), Type: "KEY_ONLY"}}}}}, "InvalidEC2TagCombinationException"},
		{&cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"), DeploymentConfigName: aws.String("CodeDeployDefault.ECSAllAtOnce")}, "InvalidDeploymentConfigNameException"},
	} {
		_, err := e.client.UpdateDeploymentGroup(bg, c.in)
		wantCode(t, err, c.code)
	}
	e.unchanged(t, before, "refused updates")

	// Rename keeps the id and frees the old name.
	must[*cd.UpdateDeploymentGroupOutput](t)(e.client.UpdateDeploymentGroup(bg, &cd.UpdateDeploymentGroupInput{
		ApplicationName: aws.String("web"), CurrentDeploymentGroupName: aws.String("g"), NewDeploymentGroupName: aws.String("renamed"),
		Ec2TagFilters: []types.EC2TagFilter{}, Ec2TagSet: &types.EC2TagSet{Ec2TagSetList: [][]types.EC2TagFilter{{{Key: aws.String("x"), Type: "KEY_ONLY"}}}},
	}))
	if r := get("renamed"); aws.ToString(r.DeploymentGroupId) != aws.ToString(id) || len(r.Ec2TagSet.Ec2TagSetList) != 1 {
		t.Fatalf("renamed group %+v", r)
	}
	_, err := e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g")})
	wantType[*types.DeploymentGroupDoesNotExistException](t, err)

	// ECS: moving a group to another service frees the first one.
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "a", "c", "s1")))
	must[*cd.UpdateDeploymentGroupOutput](t)(e.client.UpdateDeploymentGroup(bg, &cd.UpdateDeploymentGroupInput{
		ApplicationName: aws.String("svc"), CurrentDeploymentGroupName: aws.String("a"),
		EcsServices: []types.ECSService{{ClusterName: aws.String("c"), ServiceName: aws.String("s2")}},
	}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "b", "c", "s1")))
	_, err = e.client.CreateDeploymentGroup(bg, ecsGroupInput("svc", "x", "c", "s2"))
	wantType[*types.ECSServiceMappingLimitExceededException](t, err)
}

func TestListBatchDeleteDeploymentGroups(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	var want []string
	for i := range 5 {
		n := fmt.Sprint("g", i)
		want = append(want, n)
		must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String(n), ServiceRoleArn: aws.String(testRole)}))
	}
	// A group in an application whose name starts like "web" must not leak in.
	must[*cd.CreateApplicationOutput](t)(e.client.CreateApplication(bg, &cd.CreateApplicationInput{ApplicationName: aws.String("web.2")}))
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web.2"), DeploymentGroupName: aws.String("zz"), ServiceRoleArn: aws.String(testRole)}))
	var got []string
	p := cd.NewListDeploymentGroupsPaginator(e.client, &cd.ListDeploymentGroupsInput{ApplicationName: aws.String("web")})
	for p.HasMorePages() {
		page := must[*cd.ListDeploymentGroupsOutput](t)(p.NextPage(bg))
		if aws.ToString(page.ApplicationName) != "web" {
			t.Fatalf("applicationName %q", aws.ToString(page.ApplicationName))
		}
		got = append(got, page.DeploymentGroups...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v", got)
	}
	_, err := e.client.ListDeploymentGroups(bg, &cd.ListDeploymentGroupsInput{ApplicationName: aws.String("nope")})
	wantType[*types.ApplicationDoesNotExistException](t, err)

	b := must[*cd.BatchGetDeploymentGroupsOutput](t)(e.client.BatchGetDeploymentGroups(bg, &cd.BatchGetDeploymentGroupsInput{ApplicationName: aws.String("web"), DeploymentGroupNames: []string{"g1", "missing", "g3"}}))
	if len(b.DeploymentGroupsInfo) != 2 || aws.ToString(b.ErrorMessage) == "" {
		t.Fatalf("batch get %d, %q", len(b.DeploymentGroupsInfo), aws.ToString(b.ErrorMessage))
	}
	_, err = e.client.BatchGetDeploymentGroups(bg, &cd.BatchGetDeploymentGroupsInput{ApplicationName: aws.String("web"), DeploymentGroupNames: make([]string, 101)})
	wantType[*types.BatchLimitExceededException](t, err)
	_, err = e.client.BatchGetDeploymentGroups(bg, &cd.BatchGetDeploymentGroupsInput{ApplicationName: aws.String("web"), DeploymentGroupNames: []string{}})
	wantType[*types.DeploymentGroupNameRequiredException](t, err)

	d := must[*cd.DeleteDeploymentGroupOutput](t)(e.client.DeleteDeploymentGroup(bg, &cd.DeleteDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g0")}))
	if d.HooksNotCleanedUp == nil {
		t.Fatal("hooksNotCleanedUp missing")
	}
	_, err = e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g0")})
	wantType[*types.DeploymentGroupDoesNotExistException](t, err)
	must[*cd.DeleteDeploymentGroupOutput](t)(e.client.DeleteDeploymentGroup(bg, &cd.DeleteDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g0")}))
	_, err = e.client.DeleteDeploymentGroup(bg, &cd.DeleteDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("a/b")})
	wantType[*types.InvalidDeploymentGroupNameException](t, err)
}

func TestEngineStateUpdate(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	err := e.svc.UpdateDeploymentGroupState(bg, "web", "g", func(g *DeploymentGroupInfo) error {
		g.LastAttemptedDeployment = &LastDeploymentInfo{DeploymentID: "d-ABCDEFGHI", Status: "Succeeded"}
		g.TargetRevision = &RevisionLocation{RevisionType: ptr("S3"), S3Location: &S3Location{Bucket: ptr("b"), Key: ptr("k")}}
		g.ServiceRoleArn = "ignored"
		return nil
	})
	ok(t, err)
	g := must[*cd.GetDeploymentGroupOutput](t)(e.client.GetDeploymentGroup(bg, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g")})).DeploymentGroupInfo
	if aws.ToString(g.LastAttemptedDeployment.DeploymentId) != "d-ABCDEFGHI" || aws.ToString(g.TargetRevision.S3Location.Bucket) != "b" || aws.ToString(g.ServiceRoleArn) != testRole {
		t.Fatalf("engine state %+v", g)
	}
}
