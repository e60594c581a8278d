package engine

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
)

// Renaming an application or a group while a deployment runs keeps the
// deployment running on the renamed group, and keeps the history.
func TestRenameDuringDeployment(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent5Minutes"})
	id := e.mustCreate("g", "web:2", nil)
	if err := e.drive(e.engine, id, func(d *codedeploy.Deployment) bool {
		return d.Target != nil && len(d.Target.TaskSetsInfo) == 2 && d.Target.TaskSetsInfo[1].TrafficWeight == 10
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateApplication(e.ctx, &cd.UpdateApplicationInput{ApplicationName: aws.String("app"), NewApplicationName: aws.String("app2")}); err != nil {
		t.Fatal(err)
	}
	// The group still has its active deployment under its new name.
	_, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{ApplicationName: aws.String("app2"), DeploymentGroupName: aws.String("g"),
		Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(appSpec("web:3", nil))}}})
	wantErr[*types.DeploymentLimitExceededException](t, err)
	if _, err := e.client.UpdateDeploymentGroup(e.ctx, &cd.UpdateDeploymentGroupInput{ApplicationName: aws.String("app2"),
		CurrentDeploymentGroupName: aws.String("g"), NewDeploymentGroupName: aws.String("g2")}); err != nil {
		t.Fatal(err)
	}
	if err := e.drive(e.engine, id, nil); err != nil {
		t.Fatal(err)
	}
	d := e.get(id)
	if d.Status != types.DeploymentStatusSucceeded || *d.ApplicationName != "app2" || *d.DeploymentGroupName != "g2" {
		t.Fatalf("deployment %s %s/%s %+v", d.Status, *d.ApplicationName, *d.DeploymentGroupName, d.ErrorInformation)
	}
	list, err := e.client.ListDeployments(e.ctx, &cd.ListDeploymentsInput{ApplicationName: aws.String("app2"), DeploymentGroupName: aws.String("g2")})
	if err != nil || !slices.Contains(list.Deployments, id) {
		t.Fatalf("ListDeployments app2/g2: %v %v", list, err)
	}
	g, err := e.client.GetDeploymentGroup(e.ctx, &cd.GetDeploymentGroupInput{ApplicationName: aws.String("app2"), DeploymentGroupName: aws.String("g2")})
	if err != nil || g.DeploymentGroupInfo.LastSuccessfulDeployment == nil || *g.DeploymentGroupInfo.LastSuccessfulDeployment.DeploymentId != id {
		t.Fatalf("group after the rename: %+v %v", g, err)
	}
}
