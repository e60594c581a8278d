package codedeploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

// bgServerGroup adds group "bg" to serverFleet's application: blue/green
// with a target group and the given Green fleet provisioning action.
func bgServerGroup(t *testing.T, e *env, name string, provisioning types.GreenFleetProvisioningAction) {
	t.Helper()
	var asgs []string
	if provisioning == types.GreenFleetProvisioningActionCopyAutoScalingGroup {
		asgs = []string{"web-asg"}
	}
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{
		AutoScalingGroups: asgs,
		ApplicationName:   aws.String("srv"), DeploymentGroupName: aws.String(name), ServiceRoleArn: aws.String(testRole),
		OnPremisesInstanceTagFilters: []types.TagFilter{{Key: aws.String("fleet"), Value: aws.String("web"), Type: types.TagFilterTypeKeyAndValue}},
		DeploymentStyle:              &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		LoadBalancerInfo:             &types.LoadBalancerInfo{TargetGroupInfoList: []types.TargetGroupInfo{{Name: aws.String("tg")}}},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			GreenFleetProvisioningOption: &types.GreenFleetProvisioningOption{Action: provisioning}},
	}))
}

func zoneFilter(zones ...string) *types.TargetInstances {
	ti := &types.TargetInstances{}
	for _, z := range zones {
		ti.TagFilters = append(ti.TagFilters, types.EC2TagFilter{Key: aws.String("zone"), Value: aws.String(z), Type: types.EC2TagFilterTypeKeyAndValue})
	}
	return ti
}

// TestServerBlueGreenCreate: a blue/green Server group takes deployments
// (DISCOVER_EXISTING); one that would copy an Auto Scaling group is
// refused and changes nothing.
func TestServerBlueGreenCreate(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 2, nil)
	bgServerGroup(t, e, "bg", types.GreenFleetProvisioningActionDiscoverExisting)
	bgServerGroup(t, e, "asg", types.GreenFleetProvisioningActionCopyAutoScalingGroup)
	before := e.snapshot(t)
	_, err := e.client.CreateDeployment(bg, &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("asg"),
		Revision: tgzRev("app.tgz"), TargetInstances: zoneFilter("2")})
	wantCode(t, err, "InvalidAutoScalingGroupException")
	e.unchanged(t, before, "a refused blue/green deployment")
	out := must[*cd.CreateDeploymentOutput](t)(e.client.CreateDeployment(bg, &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"),
		DeploymentGroupName: aws.String("bg"), Revision: tgzRev("app.tgz"), TargetInstances: zoneFilter("2")}))
	d := must[*cd.GetDeploymentOutput](t)(e.client.GetDeployment(bg, &cd.GetDeploymentInput{DeploymentId: out.DeploymentId})).DeploymentInfo
	if d.DeploymentStyle.DeploymentType != types.DeploymentTypeBlueGreen || d.TargetInstances == nil || len(d.TargetInstances.TagFilters) != 1 {
		t.Fatalf("deployment %+v %+v", d.DeploymentStyle, d.TargetInstances)
	}
}

func TestReplacementInstances(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 3, nil)
	for _, c := range []struct {
		name string
		t    *TargetInstances
		want string
	}{
		{"no target instances", nil, ""},
		{"only Auto Scaling groups", &TargetInstances{AutoScalingGroups: []string{"asg"}}, ""},
		{"tag filters, any of them", &TargetInstances{TagFilters: []EC2TagFilter{
			{Key: ptr("zone"), Value: ptr("1"), Type: ptr("KEY_AND_VALUE")}, {Key: ptr("fleet"), Value: ptr("db"), Type: ptr("KEY_AND_VALUE")}}}, "db1 h1"},
		{"whatever the group selects", &TargetInstances{TagFilters: []EC2TagFilter{{Key: ptr("zone"), Type: ptr("KEY_ONLY")}}}, "db1 h1 h2 h3"},
		{"ec2 tag set, every group", &TargetInstances{EC2TagSet: &EC2TagSet{EC2TagSetList: [][]EC2TagFilter{
			{{Key: ptr("fleet"), Value: ptr("web"), Type: ptr("KEY_AND_VALUE")}}, {{Value: ptr("3"), Type: ptr("VALUE_ONLY")}}}}}, "h3"},
		{"deregistered instances are not taken", &TargetInstances{TagFilters: []EC2TagFilter{{Key: ptr("zone"), Value: ptr("e"), Type: ptr("KEY_AND_VALUE")}}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.svc.ReplacementInstances(bg, c.t)
			ok(t, err)
			var names []string
			for _, in := range got {
				names = append(names, in.InstanceName)
			}
			if s := strings.Join(names, " "); s != c.want {
				t.Fatalf("selected %q, want %q", s, c.want)
			}
		})
	}
}

// TestServerBlueGreenTargetLabels: a blue/green deployment's instances carry
// their label in every target and instance operation, and the label
// filters select by it; a label that is neither Blue nor Green is refused.
func TestServerBlueGreenTargetLabels(t *testing.T) {
	e := newEnv(t)
	serverFleet(t, e, 4, nil)
	bgServerGroup(t, e, "bg", types.GreenFleetProvisioningActionDiscoverExisting)
	out := must[*cd.CreateDeploymentOutput](t)(e.client.CreateDeployment(bg, &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"),
		DeploymentGroupName: aws.String("bg"), Revision: tgzRev("app.tgz"), TargetInstances: zoneFilter("3", "4")}))
	id := *out.DeploymentId
	ok(t, e.svc.UpdateDeployment(bg, id, func(d *Deployment) error {
		d.Status = StatusInProgress
		tm := e.svc.nowTime()
		d.StartTime = &tm
		return nil
	}))
	d, err := e.svc.Deployment(bg, id)
	ok(t, err)
	// Stored as the engine stores them: h1, h2 Blue; h3, h4 Green.
	var ins []*ServerInstance
	for i, name := range []string{"h1", "h2", "h3", "h4"} {
		label, status := LabelBlue, EventPending
		if i >= 2 {
			label, status = LabelGreen, EventSucceeded
		}
		ins = append(ins, &ServerInstance{InstanceName: name, HostIdentifier: "arn:aws:iam::123456789012:user/" + name,
			Target: InstanceTarget{DeploymentID: id, TargetID: name, TargetArn: e.svc.instanceArn(name), Status: status, LastUpdatedAt: e.svc.nowTime(), InstanceLabel: label,
				LifecycleEvents: []LifecycleEvent{{LifecycleEventName: "BeforeBlockTraffic", Status: EventPending}}}})
	}
	ok(t, e.svc.PutServerInstances(bg, d, ins))

	for _, c := range []struct {
		filter map[string][]string
		want   string
	}{
		{map[string][]string{"ServerInstanceLabel": {"Blue"}}, "h1 h2"},
		{map[string][]string{"ServerInstanceLabel": {"Green"}}, "h3 h4"},
		{map[string][]string{"ServerInstanceLabel": {"Green", "Blue"}}, "h1 h2 h3 h4"},
		{map[string][]string{"ServerInstanceLabel": {"Blue"}, "TargetStatus": {"Succeeded"}}, ""},
		{nil, "h1 h2 h3 h4"},
	} {
		var ids []string
		for next := (*string)(nil); ; {
			page := must[*cd.ListDeploymentTargetsOutput](t)(e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id, TargetFilters: c.filter, NextToken: next}))
			ids = append(ids, page.TargetIds...)
			if next = page.NextToken; next == nil {
				break
			}
		}
		if got := strings.Join(ids, " "); got != c.want {
			t.Errorf("ListDeploymentTargets %v: %q, want %q", c.filter, got, c.want)
		}
	}
	var arns []string
	lp := cd.NewListDeploymentInstancesPaginator(e.client, &cd.ListDeploymentInstancesInput{DeploymentId: &id, InstanceTypeFilter: []types.InstanceType{types.InstanceTypeGreen}})
	for lp.HasMorePages() {
		arns = append(arns, must[*cd.ListDeploymentInstancesOutput](t)(lp.NextPage(bg)).InstancesList...)
	}
	if !slices.Equal(arns, []string{e.svc.instanceArn("h3"), e.svc.instanceArn("h4")}) {
		t.Errorf("Green instances %v", arns)
	}

	bt := must[*cd.BatchGetDeploymentTargetsOutput](t)(e.client.BatchGetDeploymentTargets(bg, &cd.BatchGetDeploymentTargetsInput{DeploymentId: &id, TargetIds: []string{"h1", "h4"}}))
	if l := bt.DeploymentTargets[0].InstanceTarget.InstanceLabel; l != types.TargetLabelBlue {
		t.Errorf("h1 label %q", l)
	}
	if l := bt.DeploymentTargets[1].InstanceTarget.InstanceLabel; l != types.TargetLabelGreen {
		t.Errorf("h4 label %q", l)
	}
	gt := must[*cd.GetDeploymentTargetOutput](t)(e.client.GetDeploymentTarget(bg, &cd.GetDeploymentTargetInput{DeploymentId: &id, TargetId: aws.String("h3")}))
	if gt.DeploymentTarget.InstanceTarget.InstanceLabel != types.TargetLabelGreen {
		t.Errorf("h3 %+v", gt.DeploymentTarget.InstanceTarget)
	}
	gi := must[*cd.GetDeploymentInstanceOutput](t)(e.client.GetDeploymentInstance(bg, &cd.GetDeploymentInstanceInput{DeploymentId: &id, InstanceId: aws.String("h2")}))
	if gi.InstanceSummary.InstanceType != types.InstanceTypeBlue {
		t.Errorf("h2 summary %+v", gi.InstanceSummary)
	}

	before := e.snapshot(t)
	_, err = e.client.ListDeploymentTargets(bg, &cd.ListDeploymentTargetsInput{DeploymentId: &id, TargetFilters: map[string][]string{"ServerInstanceLabel": {"Purple"}}})
	wantCode(t, err, "InvalidInstanceTypeException")
	_, err = e.client.ListDeploymentInstances(bg, &cd.ListDeploymentInstancesInput{DeploymentId: &id, InstanceTypeFilter: []types.InstanceType{"blue"}})
	wantCode(t, err, "InvalidInstanceTypeException")
	e.unchanged(t, before, "refused label filters")
}
