package ecs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// codeDeployService creates a cluster, a task definition and a CODE_DEPLOY
// service of n tasks behind a new target group and listener.
func (e *env) codeDeployService(name string, n int32) (tg string, port int32, td string, setID string) {
	t := e.t
	t.Helper()
	e.cluster("apps")
	tg = e.targetGroup(name + "-blue")
	port, _ = e.listener(tg)
	td = e.taskDef(name, map[string]string{"VERSION": "v1"})
	out := must[*awsecs.CreateServiceOutput](t)(e.ecs.CreateService(bg, &awsecs.CreateServiceInput{
		Cluster: aws.String("apps"), ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(n),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
		LaunchType:           ecstypes.LaunchTypeFargate,
		LoadBalancers:        []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
	}))
	if len(out.Service.TaskSets) != 1 {
		t.Fatalf("a CODE_DEPLOY service starts with one task set, got %+v", out.Service.TaskSets)
	}
	ts := out.Service.TaskSets[0]
	if aws.ToString(ts.Status) != "PRIMARY" || ts.Scale == nil || ts.Scale.Value != 100 || !strings.HasPrefix(aws.ToString(ts.Id), "ecs-svc/") || len(aws.ToString(ts.Id)) != len("ecs-svc/")+19 {
		t.Fatalf("initial task set: %+v", ts)
	}
	wantARN := fmt.Sprintf("arn:aws:ecs:%s:%s:task-set/apps/%s/%s", testRegion, testAccount, name, aws.ToString(ts.Id))
	if aws.ToString(ts.TaskSetArn) != wantARN {
		t.Fatalf("task set ARN %s, want %s", aws.ToString(ts.TaskSetArn), wantARN)
	}
	return tg, port, td, aws.ToString(ts.Id)
}

// TestCodeDeployServiceServesThroughListener: the initial task set runs
// desiredCount versionservers, they are registered and become healthy in
// the target group, and traffic through the listener reaches them. Then
// the engine's path: a second set, made primary, and the first deleted,
// draining and stopping its tasks.
func TestCodeDeployServiceServesThroughListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tg, port, _, setID := e.codeDeployService("web", 2)
	set := e.waitSteady("apps", "web", setID, 2, 30*time.Second)
	if set.TargetGroupARN != tg || set.ScalePercent != 100 || set.Status != "PRIMARY" {
		t.Errorf("set state %+v", set)
	}
	body, err := fetch(port)
	if err != nil || !strings.Contains(body, `"v1"`) || !strings.HasPrefix(body, "200") {
		t.Fatalf("through the listener: %q %v", body, err)
	}
	targets, err := e.elb.TargetGroupTargets(bg, tg)
	if err != nil || len(targets) != 2 {
		t.Fatalf("targets %+v %v", targets, err)
	}
	for _, tt := range targets {
		if tt.ID != "127.0.0.1" || tt.State != "healthy" {
			t.Errorf("target %+v", tt)
		}
	}

	// The tasks as DescribeTasks shows them.
	arns := e.listTasks(&awsecs.ListTasksInput{Cluster: aws.String("apps"), ServiceName: aws.String("web")})
	if len(arns) != 2 {
		t.Fatalf("ListTasks: %v", arns)
	}
	tasks := must[*awsecs.DescribeTasksOutput](t)(e.ecs.DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: aws.String("apps"), Tasks: arns})).Tasks
	ports := map[int32]bool{}
	for _, task := range tasks {
		if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.DesiredStatus) != "RUNNING" ||
			aws.ToString(task.StartedBy) != setID || aws.ToString(task.Group) != "service:web" || task.StartedAt == nil {
			t.Errorf("task %+v", task)
		}
		if !strings.HasPrefix(aws.ToString(task.TaskArn), "arn:aws:ecs:us-east-1:123456789012:task/apps/") || len(aws.ToString(task.TaskArn)) != len("arn:aws:ecs:us-east-1:123456789012:task/apps/")+32 {
			t.Errorf("task ARN %s", aws.ToString(task.TaskArn))
		}
		if len(task.Containers) != 1 || len(task.Containers[0].NetworkBindings) != 1 {
			t.Fatalf("containers %+v", task.Containers)
		}
		b := task.Containers[0].NetworkBindings[0]
		if aws.ToInt32(b.ContainerPort) != 8080 || aws.ToInt32(b.HostPort) == 0 || aws.ToString(b.BindIP) != "127.0.0.1" {
			t.Errorf("binding %+v", b)
		}
		ports[aws.ToInt32(b.HostPort)] = true
	}
	if len(ports) != 2 {
		t.Errorf("the two tasks share a host port: %v", ports)
	}
	desc := must[*awsecs.DescribeServicesOutput](t)(e.ecs.DescribeServices(bg, &awsecs.DescribeServicesInput{Cluster: aws.String("apps"), Services: []string{"web"}}))
	sv := desc.Services[0]
	if sv.RunningCount != 2 || len(sv.TaskSets) != 1 || sv.TaskSets[0].RunningCount != 2 || sv.TaskSets[0].ComputedDesiredCount != 2 ||
		sv.TaskSets[0].StabilityStatus != ecstypes.StabilityStatusSteadyState || len(sv.Deployments) != 0 {
		t.Errorf("DescribeServices: %+v", sv)
	}

	// The engine's blue/green path: a green set, idempotent on its
	// external id, made primary; the blue one deleted.
	green := e.targetGroup("web-green")
	// A target group serves (and is health checked) only behind a
	// listener: this is CodeDeploy's test listener.
	testPort, _ := e.listener(green)
	tdGreen := e.taskDef("web", map[string]string{"VERSION": "v2"})
	spec := TaskSetSpec{Cluster: "apps", Service: "arn:aws:ecs:us-east-1:123456789012:service/apps/web", ExternalID: "d-ABCDEFGHI",
		TaskDefinition: tdGreen, ScalePercent: 100, LoadBalancer: LoadBalancer{TargetGroupArn: green, ContainerName: "web", ContainerPort: 8080}}
	g1, err := e.svc.EnsureTaskSet(bg, spec)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := e.svc.EnsureTaskSet(bg, spec)
	if err != nil || g2.ID != g1.ID {
		t.Fatalf("EnsureTaskSet is not idempotent: %v %+v %+v", err, g1, g2)
	}
	if n := len(e.state("apps", "web").TaskSets); n != 2 {
		t.Fatalf("%d task sets after two EnsureTaskSet calls", n)
	}
	e.waitSteady("apps", "web", g1.ID, 2, 30*time.Second)
	if body, err := fetch(testPort); err != nil || !strings.Contains(body, `"v2"`) {
		t.Fatalf("through the test listener: %q %v", body, err)
	}
	if err := e.svc.SetPrimaryTaskSet(bg, "apps", "web", g1.ID); err != nil {
		t.Fatal(err)
	}
	st := e.state("apps", "web")
	if findSet(st, g1.ID).Status != "PRIMARY" || findSet(st, setID).Status != "ACTIVE" {
		t.Fatalf("after SetPrimaryTaskSet: %+v", st.TaskSets)
	}
	sv = must[*awsecs.DescribeServicesOutput](t)(e.ecs.DescribeServices(bg, &awsecs.DescribeServicesInput{Cluster: aws.String("apps"), Services: []string{"web"}})).Services[0]
	if aws.ToString(sv.TaskDefinition) != tdGreen {
		t.Errorf("service task definition %s, want %s", aws.ToString(sv.TaskDefinition), tdGreen)
	}
	blueTasks, err := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	if err != nil || len(blueTasks) != 2 {
		t.Fatalf("TaskSetTasks: %+v %v", blueTasks, err)
	}
	if err := e.svc.DeleteTaskSet(bg, "apps", "web", setID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the blue set to drain and disappear", func() (bool, string) {
		st := e.state("apps", "web")
		return findSet(st, setID) == nil, fmt.Sprintf("%+v", st.TaskSets)
	})
	if err := e.svc.DeleteTaskSet(bg, "apps", "web", setID); err != nil {
		t.Errorf("deleting a deleted set: %v", err)
	}
	targets, _ = e.elb.TargetGroupTargets(bg, tg)
	if len(targets) != 0 {
		t.Errorf("blue targets left: %+v", targets)
	}
	stopped, _ := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	for _, task := range stopped {
		if task.LastStatus != "STOPPED" || task.StoppedReason != reasonSetDeleted {
			t.Errorf("blue task after delete: %+v", task)
		}
		if _, err := e.rt.Inspect(bg, task.ID); err == nil {
			t.Errorf("blue task %s still known to the runtime", task.ID)
		}
	}
	for _, bt := range blueTasks {
		c := httpClient()
		if resp, err := c.Get("http://" + bt.Endpoint + "/"); err == nil {
			resp.Body.Close()
			t.Errorf("stopped blue task still answers on %s", bt.Endpoint)
		}
	}
	// ListTasks with desiredStatus STOPPED shows them.
	stoppedARNs := e.listTasks(&awsecs.ListTasksInput{Cluster: aws.String("apps"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if len(stoppedARNs) != 2 {
		t.Errorf("stopped tasks listed: %v", stoppedARNs)
	}
}

// TestCrashingTaskIsReplaced: a task whose container exits is recorded as
// stopped with its reason, replaced under a new id with backoff, and the
// set reports the failure once it repeats.
func TestCrashingTaskIsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.cluster("apps")
	td := e.taskDef("crash", map[string]string{"VERSION": "v1", "EXIT_AFTER": "200ms", "EXIT_CODE": "3"})
	must[*awsecs.CreateServiceOutput](t)(e.ecs.CreateService(bg, &awsecs.CreateServiceInput{
		Cluster: aws.String("apps"), ServiceName: aws.String("crash"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
	}))
	setID := e.state("apps", "crash").TaskSets[0].ID
	eventually(t, 30*time.Second, "a failure reason after repeated crashes", func() (bool, string) {
		set := findSet(e.state("apps", "crash"), setID)
		return set.FailureReason != "", fmt.Sprintf("%+v", *set)
	})
	set := findSet(e.state("apps", "crash"), setID)
	if !strings.Contains(set.FailureReason, "Essential container in task exited") || !strings.Contains(set.FailureReason, "3") {
		t.Errorf("failure reason %q", set.FailureReason)
	}
	arns := e.listTasks(&awsecs.ListTasksInput{Cluster: aws.String("apps"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if len(arns) < failureThreshold {
		t.Fatalf("%d stopped tasks, want at least %d", len(arns), failureThreshold)
	}
	tasks := must[*awsecs.DescribeTasksOutput](t)(e.ecs.DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: aws.String("apps"), Tasks: arns})).Tasks
	ids := map[string]bool{}
	for _, task := range tasks {
		ids[aws.ToString(task.TaskArn)] = true
		if aws.ToString(task.LastStatus) != "STOPPED" || aws.ToString(task.StoppedReason) != "Essential container in task exited" ||
			task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || task.StoppedAt == nil {
			t.Errorf("stopped task %+v", task)
		}
		if c := task.Containers[0]; c.ExitCode == nil || *c.ExitCode != 3 || !strings.Contains(aws.ToString(c.Reason), "3") {
			t.Errorf("container %+v", c)
		}
	}
	if len(ids) != len(tasks) {
		t.Errorf("replacements reuse task ids")
	}
	// Backoff: failures are spaced out, not a tight loop.
	if len(arns) > 12 {
		t.Errorf("%d crashed tasks in a few seconds: no backoff", len(arns))
	}
}

// TestFailedStartReported: a task that cannot start at all (no such
// executable) is a TaskFailedToStart with the runtime's reason.
func TestFailedStartReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.cluster("apps")
	td := must[*awsecs.RegisterTaskDefinitionOutput](t)(e.ecs.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{
		Family: aws.String("missing"), ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("process:/nonexistent/binary"), Memory: aws.Int32(64),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	})).TaskDefinition
	must[*awsecs.CreateServiceOutput](t)(e.ecs.CreateService(bg, &awsecs.CreateServiceInput{
		Cluster: aws.String("apps"), ServiceName: aws.String("missing"), TaskDefinition: td.TaskDefinitionArn, DesiredCount: aws.Int32(1),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
	}))
	setID := e.state("apps", "missing").TaskSets[0].ID
	eventually(t, 30*time.Second, "a failure reason", func() (bool, string) {
		set := findSet(e.state("apps", "missing"), setID)
		return set.FailureReason != "", fmt.Sprintf("%+v", *set)
	})
	tasks, err := e.svc.TaskSetTasks(bg, "apps", "missing", setID)
	if err != nil || len(tasks) == 0 {
		t.Fatal(tasks, err)
	}
	for _, task := range tasks {
		if task.LastStatus == "STOPPED" && (task.StopCode != "TaskFailedToStart" && task.StopCode != "EssentialContainerExited") {
			t.Errorf("task %+v", task)
		}
	}
}

// TestRestartAdoptsRunningTasks: a new Service and runtime on the same
// store and state directory find the running tasks instead of starting
// more.
func TestRestartAdoptsRunningTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tg, port, _, setID := e.codeDeployService("web", 2)
	e.waitSteady("apps", "web", setID, 2, 30*time.Second)
	before, err := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	if err != nil {
		t.Fatal(err)
	}

	// Restart: the scheduler stops, the runtime instance goes away (the
	// processes keep running), and new ones come up on the same state.
	e.stopRun()
	e.rt.Close()
	e.rt = newProcessRuntime(t, e.stateDir)
	e.svc = e.newService(t)
	for i := 0; i < 5; i++ {
		if err := e.svc.Reconcile(bg); err != nil {
			t.Fatalf("Reconcile after restart: %v", err)
		}
	}
	e.run()
	set := e.waitSteady("apps", "web", setID, 2, 30*time.Second)
	after, err := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("tasks before restart %+v, after %+v", before, after)
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Endpoint != before[i].Endpoint || after[i].LastStatus != "RUNNING" {
			t.Errorf("task %d before %+v after %+v", i, before[i], after[i])
		}
	}
	list, err := e.rt.List(bg)
	if err != nil || len(list) != 2 {
		t.Errorf("runtime lists %d tasks after restart (%v), want 2", len(list), err)
	}
	targets, _ := e.elb.TargetGroupTargets(bg, tg)
	if len(targets) != 2 {
		t.Errorf("targets after restart: %+v", targets)
	}
	if body, err := fetch(port); err != nil || !strings.Contains(body, "v1") {
		t.Errorf("through the listener after restart: %q %v", body, err)
	}
	_ = set
}

// TestStopTaskIsReplaced: StopTask drains and stops the task with the
// user's reason, and the scheduler starts a replacement.
func TestStopTaskIsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tg, _, _, setID := e.codeDeployService("web", 1)
	e.waitSteady("apps", "web", setID, 1, 30*time.Second)
	tasks, _ := e.svc.TaskSetTasks(bg, "apps", "web", setID)
	out := must[*awsecs.StopTaskOutput](t)(e.ecs.StopTask(bg, &awsecs.StopTaskInput{Cluster: aws.String("apps"), Task: aws.String(tasks[0].ARN), Reason: aws.String("testing")}))
	if aws.ToString(out.Task.DesiredStatus) != "STOPPED" {
		t.Errorf("StopTask answered %+v", out.Task)
	}
	eventually(t, 30*time.Second, "the stopped task to be replaced", func() (bool, string) {
		ts, _ := e.svc.TaskSetTasks(bg, "apps", "web", setID)
		var old, fresh *TaskSummary
		for i := range ts {
			if ts[i].ID == tasks[0].ID {
				old = &ts[i]
			} else if ts[i].LBHealthy && ts[i].LastStatus == "RUNNING" {
				fresh = &ts[i]
			}
		}
		return old != nil && old.LastStatus == "STOPPED" && old.StoppedReason == "testing" && fresh != nil, fmt.Sprintf("%+v", ts)
	})
	targets, _ := e.elb.TargetGroupTargets(bg, tg)
	if len(targets) != 1 || targets[0].Port == mustPort(t, tasks[0].Endpoint) {
		t.Errorf("targets after the replacement: %+v (stopped task was %s)", targets, tasks[0].Endpoint)
	}
}

func mustPort(t *testing.T, endpoint string) int {
	var p int
	_, port, _ := strings.Cut(endpoint, ":")
	fmt.Sscan(port, &p)
	return p
}

// TestECSControllerRollingUpdate: UpdateService with a new task
// definition starts a new PRIMARY deployment and replaces the old tasks.
func TestECSControllerRollingUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.cluster("apps")
	tg := e.targetGroup("rolling")
	port, _ := e.listener(tg)
	v1 := e.taskDef("roll", map[string]string{"VERSION": "v1"})
	v2 := e.taskDef("roll", map[string]string{"VERSION": "v2"})
	lbs := []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}
	created := must[*awsecs.CreateServiceOutput](t)(e.ecs.CreateService(bg, &awsecs.CreateServiceInput{
		Cluster: aws.String("apps"), ServiceName: aws.String("roll"), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(2), LoadBalancers: lbs,
	})).Service
	if len(created.Deployments) != 1 || aws.ToString(created.Deployments[0].Status) != "PRIMARY" || len(created.TaskSets) != 0 {
		t.Fatalf("ECS service shows %+v / %+v", created.Deployments, created.TaskSets)
	}
	first := aws.ToString(created.Deployments[0].Id)
	e.waitSteady("apps", "roll", first, 2, 30*time.Second)
	up := must[*awsecs.UpdateServiceOutput](t)(e.ecs.UpdateService(bg, &awsecs.UpdateServiceInput{Cluster: aws.String("apps"), Service: aws.String("roll"), TaskDefinition: aws.String(v2)})).Service
	if len(up.Deployments) != 2 || aws.ToString(up.Deployments[0].TaskDefinition) != v2 {
		t.Fatalf("after UpdateService: %+v", up.Deployments)
	}
	second := aws.ToString(up.Deployments[0].Id)
	e.waitSteady("apps", "roll", second, 2, 60*time.Second)
	eventually(t, 30*time.Second, "the old deployment to go", func() (bool, string) {
		sv := must[*awsecs.DescribeServicesOutput](t)(e.ecs.DescribeServices(bg, &awsecs.DescribeServicesInput{Cluster: aws.String("apps"), Services: []string{"roll"}})).Services[0]
		return len(sv.Deployments) == 1 && sv.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted,
			fmt.Sprintf("%+v", sv.Deployments)
	})
	for i := 0; i < 5; i++ {
		if body, err := fetch(port); err != nil || !strings.Contains(body, "v2") {
			t.Errorf("after the rollout: %q %v", body, err)
		}
	}
}

var _ = errors.New

// listTasks pages through ListTasks with the SDK's paginator.
func (e *env) listTasks(in *awsecs.ListTasksInput) []string {
	e.t.Helper()
	var out []string
	p := awsecs.NewListTasksPaginator(e.ecs, in)
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			e.t.Fatalf("ListTasks: %v", err)
		}
		out = append(out, page.TaskArns...)
	}
	return out
}
