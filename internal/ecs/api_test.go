package ecs

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// apiEnv has a cluster "apps", task definition "web:1" and three services
// (CODE_DEPLOY "cd" behind a target group, EXTERNAL "ext", ECS "plain"),
// with the scheduler not running: these tests are about the API.
func apiEnv(t *testing.T) (*env, string, string) {
	e := newEnv(t, envOpts{noRun: true})
	e.cluster("apps")
	tg := e.targetGroup("api-tg")
	e.listener(tg) // AWS refuses a target group no load balancer uses
	td := e.taskDef("web", map[string]string{"VERSION": "v1"})
	lb := []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}
	for name, ctrl := range map[string]ecstypes.DeploymentControllerType{"cd": "CODE_DEPLOY", "ext": "EXTERNAL", "plain": "ECS"} {
		in := &awsecs.CreateServiceInput{Cluster: aws.String("apps"), ServiceName: aws.String(name), DesiredCount: aws.Int32(1),
			DeploymentController: &ecstypes.DeploymentController{Type: ctrl}}
		if ctrl != "EXTERNAL" {
			in.TaskDefinition, in.LoadBalancers = aws.String(td), lb
		}
		must[*awsecs.CreateServiceOutput](t)(e.ecs.CreateService(bg, in))
	}
	return e, tg, td
}

func TestAPIErrors(t *testing.T) {
	e, tg, td := apiEnv(t)
	c := e.ecs
	apps := aws.String("apps")
	web := func(mut func(*ecstypes.ContainerDefinition)) []ecstypes.ContainerDefinition {
		d := ecstypes.ContainerDefinition{Name: aws.String("web"), Image: aws.String("img"), Memory: aws.Int32(64),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}}
		if mut != nil {
			mut(&d)
		}
		return []ecstypes.ContainerDefinition{d}
	}
	lb := func(container string, port int32, tg string) []ecstypes.LoadBalancer {
		return []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String(container), ContainerPort: aws.Int32(port)}}
	}
	cd := &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy}
	lonely := e.targetGroup("lonely-tg") // used by no listener
	for _, tc := range []struct {
		name, code string
		call       func() error
	}{
		{"CreateCluster bad name", "InvalidParameterException", func() error {
			_, err := c.CreateCluster(bg, &awsecs.CreateClusterInput{ClusterName: aws.String("a b")})
			return err
		}},
		{"DeleteCluster missing", "ClusterNotFoundException", func() error {
			_, err := c.DeleteCluster(bg, &awsecs.DeleteClusterInput{Cluster: aws.String("nope")})
			return err
		}},
		{"DeleteCluster with services", "ClusterContainsServicesException", func() error {
			_, err := c.DeleteCluster(bg, &awsecs.DeleteClusterInput{Cluster: apps})
			return err
		}},
		{"RegisterTaskDefinition no containers", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: []ecstypes.ContainerDefinition{}})
			return err
		}},
		{"RegisterTaskDefinition bad family", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("a:b"), ContainerDefinitions: web(nil)})
			return err
		}},
		{"RegisterTaskDefinition no name", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: web(func(d *ecstypes.ContainerDefinition) { d.Name = nil })})
			return err
		}},
		{"RegisterTaskDefinition no image", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: web(func(d *ecstypes.ContainerDefinition) { d.Image = nil })})
			return err
		}},
		{"RegisterTaskDefinition no essential container", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: web(func(d *ecstypes.ContainerDefinition) { d.Essential = aws.Bool(false) })})
			return err
		}},
		{"RegisterTaskDefinition awsvpc host port", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), NetworkMode: ecstypes.NetworkModeAwsvpc,
				ContainerDefinitions: web(func(d *ecstypes.ContainerDefinition) { d.PortMappings[0].HostPort = aws.Int32(80) })})
			return err
		}},
		{"RegisterTaskDefinition Fargate without cpu", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), NetworkMode: ecstypes.NetworkModeAwsvpc,
				RequiresCompatibilities: []ecstypes.Compatibility{"FARGATE"}, Memory: aws.String("512"), ContainerDefinitions: web(nil)})
			return err
		}},
		{"RegisterTaskDefinition bad health check", "ClientException", func() error {
			_, err := c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: web(func(d *ecstypes.ContainerDefinition) {
				d.HealthCheck = &ecstypes.HealthCheck{Command: []string{"CMD", "true"}, Interval: aws.Int32(1)}
			})})
			return err
		}},
		{"DescribeTaskDefinition missing", "ClientException", func() error {
			_, err := c.DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope:1")})
			return err
		}},
		{"DeregisterTaskDefinition missing", "ClientException", func() error {
			_, err := c.DeregisterTaskDefinition(bg, &awsecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:9")})
			return err
		}},
		{"ListTaskDefinitions bad token", "InvalidParameterException", func() error {
			_, err := c.ListTaskDefinitions(bg, &awsecs.ListTaskDefinitionsInput{NextToken: aws.String("forged")})
			return err
		}},
		{"ListClusters maxResults 0", "InvalidParameterException", func() error {
			_, err := c.ListClusters(bg, &awsecs.ListClustersInput{MaxResults: aws.Int32(0)})
			return err
		}},
		{"CreateService missing cluster", "ClusterNotFoundException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: aws.String("nope"), ServiceName: aws.String("s"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"CreateService default cluster missing", "ClusterNotFoundException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{ServiceName: aws.String("s"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"CreateService missing task definition", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String("nope")})
			return err
		}},
		{"CreateService target group without a load balancer", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td), LoadBalancers: lb("web", 8080, lonely), DeploymentController: cd})
			if err != nil && !strings.Contains(err.Error(), "does not have an associated load balancer") {
				t.Errorf("unassociated target group refused with the wrong message: %v", err)
			}
			return err
		}},
		{"CreateService container not in task definition", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td), LoadBalancers: lb("api", 8080, tg), DeploymentController: cd})
			return err
		}},
		{"CreateService port not in task definition", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td), LoadBalancers: lb("web", 9090, tg), DeploymentController: cd})
			return err
		}},
		{"CreateService unknown target group", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td),
				LoadBalancers: lb("web", 8080, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef"), DeploymentController: cd})
			return err
		}},
		{"CreateService duplicate", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("cd"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"CreateService launch type and capacity providers", "InvalidParameterException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td), LaunchType: "FARGATE",
				CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}})
			return err
		}},
		{"CreateService DAEMON", "UnsupportedFeatureException", func() error {
			_, err := c.CreateService(bg, &awsecs.CreateServiceInput{Cluster: apps, ServiceName: aws.String("s"), TaskDefinition: aws.String(td), SchedulingStrategy: "DAEMON"})
			return err
		}},
		{"UpdateService task definition on CODE_DEPLOY", "InvalidParameterException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: apps, Service: aws.String("cd"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"UpdateService task definition on EXTERNAL", "InvalidParameterException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: apps, Service: aws.String("ext"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"UpdateService missing service", "ServiceNotFoundException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: apps, Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
			return err
		}},
		{"UpdateService missing cluster", "ClusterNotFoundException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: aws.String("nope"), Service: aws.String("cd"), DesiredCount: aws.Int32(1)})
			return err
		}},
		{"UpdateService negative desired count", "InvalidParameterException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: apps, Service: aws.String("cd"), DesiredCount: aws.Int32(-1)})
			return err
		}},
		{"DescribeServices missing cluster", "ClusterNotFoundException", func() error {
			_, err := c.DescribeServices(bg, &awsecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"cd"}})
			return err
		}},
		{"ListServices missing cluster", "ClusterNotFoundException", func() error {
			_, err := c.ListServices(bg, &awsecs.ListServicesInput{Cluster: aws.String("nope")})
			return err
		}},
		{"DeleteService scaled above 0", "InvalidParameterException", func() error {
			_, err := c.DeleteService(bg, &awsecs.DeleteServiceInput{Cluster: apps, Service: aws.String("cd")})
			return err
		}},
		{"DeleteService missing", "ServiceNotFoundException", func() error {
			_, err := c.DeleteService(bg, &awsecs.DeleteServiceInput{Cluster: apps, Service: aws.String("nope")})
			return err
		}},
		{"CreateTaskSet on CODE_DEPLOY through the API", "InvalidParameterException", func() error {
			_, err := c.CreateTaskSet(bg, &awsecs.CreateTaskSetInput{Cluster: apps, Service: aws.String("cd"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"CreateTaskSet missing service", "ServiceNotFoundException", func() error {
			_, err := c.CreateTaskSet(bg, &awsecs.CreateTaskSetInput{Cluster: apps, Service: aws.String("nope"), TaskDefinition: aws.String(td)})
			return err
		}},
		{"CreateTaskSet scale over 100", "InvalidParameterException", func() error {
			_, err := c.CreateTaskSet(bg, &awsecs.CreateTaskSetInput{Cluster: apps, Service: aws.String("ext"), TaskDefinition: aws.String(td),
				Scale: &ecstypes.Scale{Value: 150, Unit: ecstypes.ScaleUnitPercent}})
			return err
		}},
		{"CreateTaskSet port not in task definition", "InvalidParameterException", func() error {
			_, err := c.CreateTaskSet(bg, &awsecs.CreateTaskSetInput{Cluster: apps, Service: aws.String("ext"), TaskDefinition: aws.String(td), LoadBalancers: lb("web", 1, tg)})
			return err
		}},
		{"UpdateTaskSet missing", "TaskSetNotFoundException", func() error {
			_, err := c.UpdateTaskSet(bg, &awsecs.UpdateTaskSetInput{Cluster: apps, Service: aws.String("ext"), TaskSet: aws.String("ecs-svc/1234567890123456789"),
				Scale: &ecstypes.Scale{Value: 50, Unit: ecstypes.ScaleUnitPercent}})
			return err
		}},
		{"UpdateServicePrimaryTaskSet missing", "TaskSetNotFoundException", func() error {
			_, err := c.UpdateServicePrimaryTaskSet(bg, &awsecs.UpdateServicePrimaryTaskSetInput{Cluster: apps, Service: aws.String("ext"), PrimaryTaskSet: aws.String("ecs-svc/1234567890123456789")})
			return err
		}},
		{"DeleteTaskSet missing", "TaskSetNotFoundException", func() error {
			_, err := c.DeleteTaskSet(bg, &awsecs.DeleteTaskSetInput{Cluster: apps, Service: aws.String("ext"), TaskSet: aws.String("ecs-svc/1234567890123456789")})
			return err
		}},
		{"DescribeTaskSets missing service", "ServiceNotFoundException", func() error {
			_, err := c.DescribeTaskSets(bg, &awsecs.DescribeTaskSetsInput{Cluster: apps, Service: aws.String("nope")})
			return err
		}},
		{"ListTasks missing service", "ServiceNotFoundException", func() error {
			_, err := c.ListTasks(bg, &awsecs.ListTasksInput{Cluster: apps, ServiceName: aws.String("nope")})
			return err
		}},
		{"DescribeTasks missing cluster", "ClusterNotFoundException", func() error {
			_, err := c.DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{"0123456789abcdef0123456789abcdef"}})
			return err
		}},
		{"StopTask unknown task", "InvalidParameterException", func() error {
			_, err := c.StopTask(bg, &awsecs.StopTaskInput{Cluster: apps, Task: aws.String("0123456789abcdef0123456789abcdef")})
			return err
		}},
		{"service ARN of another cluster", "InvalidParameterException", func() error {
			_, err := c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: apps, Service: aws.String("arn:aws:ecs:us-east-1:123456789012:service/other/cd"), DesiredCount: aws.Int32(1)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantCode(t, tc.call(), tc.code)
			e.unchanged(before, tc.name)
		})
	}
}

func TestTaskDefinitions(t *testing.T) {
	e := newEnv(t, envOpts{noRun: true})
	c := e.ecs
	reg := func(family, version string, tags ...ecstypes.Tag) *ecstypes.TaskDefinition {
		return must[*awsecs.RegisterTaskDefinitionOutput](t)(c.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{
			Family: aws.String(family), Tags: tags, ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/exec"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{
				Name: aws.String("web"), Image: aws.String("example/web:" + version), Cpu: 128, MemoryReservation: aws.Int32(64),
				Command: []string{"serve"}, WorkingDirectory: aws.String("/srv"),
				Environment:  []ecstypes.KeyValuePair{{Name: aws.String("VERSION"), Value: aws.String(version)}},
				PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080), Name: aws.String("http")}},
				HealthCheck:  &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "true"}},
			}},
		})).TaskDefinition
	}
	a1 := reg("alpha", "1", ecstypes.Tag{Key: aws.String("team"), Value: aws.String("web")})
	a2 := reg("alpha", "2")
	reg("beta", "1")
	if a1.Revision != 1 || a2.Revision != 2 || aws.ToString(a2.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:123456789012:task-definition/alpha:2" {
		t.Fatalf("revisions: %d %d %s", a1.Revision, a2.Revision, aws.ToString(a2.TaskDefinitionArn))
	}
	cd := a1.ContainerDefinitions[0]
	if !aws.ToBool(cd.Essential) || cd.PortMappings[0].Protocol != "tcp" || aws.ToInt32(cd.PortMappings[0].HostPort) != 0 ||
		aws.ToString(cd.PortMappings[0].Name) != "http" || a1.NetworkMode != "bridge" || aws.ToInt32(cd.HealthCheck.Interval) != 30 ||
		aws.ToString(cd.WorkingDirectory) != "/srv" || cd.Command[0] != "serve" || aws.ToString(a1.ExecutionRoleArn) == "" || a1.Status != "ACTIVE" {
		t.Errorf("defaults and fields: %+v %+v", a1, cd)
	}
	// By family (latest ACTIVE), family:rev and ARN; tags on request.
	for ref, want := range map[string]int32{"alpha": 2, "alpha:1": 1, aws.ToString(a1.TaskDefinitionArn): 1} {
		out := must[*awsecs.DescribeTaskDefinitionOutput](t)(c.DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref), Include: []ecstypes.TaskDefinitionField{"TAGS"}}))
		if out.TaskDefinition.Revision != want {
			t.Errorf("%s: revision %d, want %d", ref, out.TaskDefinition.Revision, want)
		}
		if want == 1 && (len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team") {
			t.Errorf("%s: tags %+v", ref, out.Tags)
		}
	}
	must[*awsecs.DeregisterTaskDefinitionOutput](t)(c.DeregisterTaskDefinition(bg, &awsecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("alpha:2")}))
	if out := must[*awsecs.DescribeTaskDefinitionOutput](t)(c.DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("alpha")})); out.TaskDefinition.Revision != 1 {
		t.Errorf("after deregistering alpha:2, alpha is revision %d", out.TaskDefinition.Revision)
	}
	listAll := func(in *awsecs.ListTaskDefinitionsInput) []string {
		var out []string
		p := awsecs.NewListTaskDefinitionsPaginator(c, in)
		for p.HasMorePages() {
			out = append(out, must[*awsecs.ListTaskDefinitionsOutput](t)(p.NextPage(bg)).TaskDefinitionArns...)
		}
		return out
	}
	short := func(arns []string) string {
		var s []string
		for _, a := range arns {
			s = append(s, a[strings.LastIndex(a, "/")+1:])
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		in   awsecs.ListTaskDefinitionsInput
		want string
	}{
		{awsecs.ListTaskDefinitionsInput{}, "alpha:1,beta:1"},
		{awsecs.ListTaskDefinitionsInput{Sort: "DESC"}, "beta:1,alpha:1"},
		{awsecs.ListTaskDefinitionsInput{Status: "INACTIVE"}, "alpha:2"},
		{awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("alpha")}, "alpha:1"},
	} {
		if got := short(listAll(&tc.in)); got != tc.want {
			t.Errorf("ListTaskDefinitions(%+v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	reg("gamma", "1")
	must[*awsecs.DeregisterTaskDefinitionOutput](t)(c.DeregisterTaskDefinition(bg, &awsecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("gamma:1")}))
	for status, want := range map[ecstypes.TaskDefinitionFamilyStatus]string{"ACTIVE": "alpha,beta", "INACTIVE": "gamma", "ALL": "alpha,beta,gamma"} {
		var got []string
		p := awsecs.NewListTaskDefinitionFamiliesPaginator(c, &awsecs.ListTaskDefinitionFamiliesInput{Status: status})
		for p.HasMorePages() {
			got = append(got, must[*awsecs.ListTaskDefinitionFamiliesOutput](t)(p.NextPage(bg)).Families...)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("families %s: %v, want %s", status, got, want)
		}
	}
}

func TestClustersAndServices(t *testing.T) {
	e, _, td := apiEnv(t)
	c := e.ecs
	again := must[*awsecs.CreateClusterOutput](t)(c.CreateCluster(bg, &awsecs.CreateClusterInput{ClusterName: aws.String("apps")})).Cluster
	if aws.ToString(again.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/apps" || aws.ToString(again.Status) != "ACTIVE" || again.ActiveServicesCount != 3 {
		t.Errorf("CreateCluster again: %+v", again)
	}
	d := must[*awsecs.DescribeClustersOutput](t)(c.DescribeClusters(bg, &awsecs.DescribeClustersInput{Clusters: []string{"apps", "nope"}}))
	if len(d.Clusters) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Errorf("DescribeClusters: %+v", d)
	}
	var svcs []string
	p := awsecs.NewListServicesPaginator(c, &awsecs.ListServicesInput{Cluster: aws.String("apps")})
	for p.HasMorePages() {
		svcs = append(svcs, must[*awsecs.ListServicesOutput](t)(p.NextPage(bg)).ServiceArns...)
	}
	if len(svcs) != 3 || svcs[0] != "arn:aws:ecs:us-east-1:123456789012:service/apps/cd" {
		t.Errorf("ListServices: %v", svcs)
	}
	ds := must[*awsecs.DescribeServicesOutput](t)(c.DescribeServices(bg, &awsecs.DescribeServicesInput{Cluster: aws.String("apps"), Services: []string{"cd", "ext", "plain", "nope"}}))
	if len(ds.Services) != 3 || len(ds.Failures) != 1 {
		t.Fatalf("DescribeServices: %+v", ds)
	}
	for _, sv := range ds.Services {
		switch aws.ToString(sv.ServiceName) {
		case "cd":
			if len(sv.TaskSets) != 1 || len(sv.Deployments) != 0 || aws.ToString(sv.TaskDefinition) != td || sv.DeploymentController.Type != "CODE_DEPLOY" {
				t.Errorf("cd: %+v", sv)
			}
		case "ext":
			if len(sv.TaskSets) != 0 || len(sv.Deployments) != 0 {
				t.Errorf("ext: %+v", sv)
			}
		case "plain":
			if len(sv.TaskSets) != 0 || len(sv.Deployments) != 1 || aws.ToInt32(sv.DeploymentConfiguration.MaximumPercent) != 200 {
				t.Errorf("plain: %+v", sv)
			}
		}
	}
	// Desired count changes on every controller.
	up := must[*awsecs.UpdateServiceOutput](t)(c.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: aws.String("apps"), Service: aws.String("cd"), DesiredCount: aws.Int32(3)})).Service
	if up.DesiredCount != 3 {
		t.Errorf("desired count %d", up.DesiredCount)
	}

	// EXTERNAL task sets through the API.
	ts := must[*awsecs.CreateTaskSetOutput](t)(c.CreateTaskSet(bg, &awsecs.CreateTaskSetInput{Cluster: aws.String("apps"), Service: aws.String("ext"),
		TaskDefinition: aws.String(td), ExternalId: aws.String("ext-1"), Scale: &ecstypes.Scale{Value: 50, Unit: ecstypes.ScaleUnitPercent},
		LaunchType: ecstypes.LaunchTypeFargate})).TaskSet
	if aws.ToString(ts.Status) != "ACTIVE" || ts.Scale.Value != 50 || aws.ToString(ts.ExternalId) != "ext-1" || ts.LaunchType != "FARGATE" {
		t.Errorf("CreateTaskSet: %+v", ts)
	}
	upd := must[*awsecs.UpdateTaskSetOutput](t)(c.UpdateTaskSet(bg, &awsecs.UpdateTaskSetInput{Cluster: aws.String("apps"), Service: aws.String("ext"), TaskSet: ts.TaskSetArn,
		Scale: &ecstypes.Scale{Value: 100, Unit: ecstypes.ScaleUnitPercent}})).TaskSet
	if upd.Scale.Value != 100 {
		t.Errorf("UpdateTaskSet: %+v", upd.Scale)
	}
	prim := must[*awsecs.UpdateServicePrimaryTaskSetOutput](t)(c.UpdateServicePrimaryTaskSet(bg, &awsecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("apps"), Service: aws.String("ext"), PrimaryTaskSet: ts.Id})).TaskSet
	if aws.ToString(prim.Status) != "PRIMARY" {
		t.Errorf("UpdateServicePrimaryTaskSet: %+v", prim)
	}
	dts := must[*awsecs.DescribeTaskSetsOutput](t)(c.DescribeTaskSets(bg, &awsecs.DescribeTaskSetsInput{Cluster: aws.String("apps"), Service: aws.String("ext"), TaskSets: []string{aws.ToString(ts.Id), "ecs-svc/1111111111111111111"}}))
	if len(dts.TaskSets) != 1 || len(dts.Failures) != 1 {
		t.Errorf("DescribeTaskSets: %+v", dts)
	}
	before := e.snapshot()
	_, err := c.DeleteTaskSet(bg, &awsecs.DeleteTaskSetInput{Cluster: aws.String("apps"), Service: aws.String("ext"), TaskSet: ts.Id})
	wantCode(t, err, "InvalidParameterException")
	e.unchanged(before, "DeleteTaskSet without force")
	del := must[*awsecs.DeleteTaskSetOutput](t)(c.DeleteTaskSet(bg, &awsecs.DeleteTaskSetInput{Cluster: aws.String("apps"), Service: aws.String("ext"), TaskSet: ts.Id, Force: aws.Bool(true)})).TaskSet
	if aws.ToString(del.Status) != "DRAINING" {
		t.Errorf("DeleteTaskSet: %+v", del)
	}

	// DeleteService with force drains the service.
	out := must[*awsecs.DeleteServiceOutput](t)(c.DeleteService(bg, &awsecs.DeleteServiceInput{Cluster: aws.String("apps"), Service: aws.String("plain"), Force: aws.Bool(true)})).Service
	if aws.ToString(out.Status) != "DRAINING" || out.DesiredCount != 0 {
		t.Errorf("DeleteService: %+v", out)
	}
}

func TestEngineErrors(t *testing.T) {
	e, tg, td := apiEnv(t)
	if _, err := e.svc.DescribeServiceState(bg, "nope", "cd"); !errors.Is(err, ErrClusterNotFound) {
		t.Errorf("missing cluster: %v", err)
	}
	if _, err := e.svc.DescribeServiceState(bg, "arn:aws:ecs:us-east-1:123456789012:cluster/apps", "nope"); !errors.Is(err, ErrServiceNotFound) {
		t.Errorf("missing service: %v", err)
	}
	before := e.snapshot()
	for _, tc := range []struct {
		name string
		spec TaskSetSpec
		want error
	}{
		{"container", TaskSetSpec{Cluster: "apps", Service: "cd", ExternalID: "d-1", TaskDefinition: td, ScalePercent: 100,
			LoadBalancer: LoadBalancer{TargetGroupArn: tg, ContainerName: "api", ContainerPort: 8080}}, ErrInvalidTaskSet},
		{"port", TaskSetSpec{Cluster: "apps", Service: "cd", ExternalID: "d-1", TaskDefinition: td, ScalePercent: 100,
			LoadBalancer: LoadBalancer{TargetGroupArn: tg, ContainerName: "web", ContainerPort: 1}}, ErrInvalidTaskSet},
		{"task definition", TaskSetSpec{Cluster: "apps", Service: "cd", ExternalID: "d-1", TaskDefinition: "nope:3", ScalePercent: 100}, ErrInvalidTaskSet},
		{"ECS controller", TaskSetSpec{Cluster: "apps", Service: "plain", ExternalID: "d-1", TaskDefinition: td, ScalePercent: 100}, ErrInvalidTaskSet},
		{"service", TaskSetSpec{Cluster: "apps", Service: "nope", TaskDefinition: td}, ErrServiceNotFound},
	} {
		if _, err := e.svc.EnsureTaskSet(bg, tc.spec); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		} else if tc.name == "container" && !strings.Contains(err.Error(), "The container api does not exist in the task definition.") {
			t.Errorf("message: %v", err)
		}
	}
	e.unchanged(before, "refused EnsureTaskSet calls")
	if err := e.svc.SetPrimaryTaskSet(bg, "apps", "cd", "ecs-svc/1234567890123456789"); !errors.Is(err, ErrTaskSetNotFound) {
		t.Errorf("SetPrimaryTaskSet of a missing set: %v", err)
	}
	if err := e.svc.DeleteTaskSet(bg, "apps", "cd", "ecs-svc/1234567890123456789"); err != nil {
		t.Errorf("DeleteTaskSet of a missing set: %v", err)
	}
}
