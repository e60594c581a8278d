package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// TestMain builds cutover and the versionserver once for every test, and
// on the way out kills any task process the servers left behind.
var (
	bins     ecstest.Bins
	buildErr error
)

func TestMain(m *testing.M) {
	ecstest.Main(m, "test/ecs", func(dir string) { bins, buildErr = ecstest.Build(dir) })
}

func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH")
	}
}

// env is one cutover server with a load-balanced CODE_DEPLOY service,
// set up with the AWS CLI.
type env struct {
	t       *testing.T
	rt      string // process or docker
	work    string
	srv     *ecstest.Server
	cd      *codedeploy.Client
	elb     *elbv2.Client
	reg     *ecstest.Registry
	images  map[string]string // version → image reference (docker)
	hooks   *hookServer
	cluster string
	service string
	app     string
	group   string

	blueTG, greenTG         string // ARNs
	prodListener, testListn string
	prodURL, testURL        string
}

const timeScale = 20 // a minute in 3 s: the 1-minute canary lasts 3 s

func newEnv(t *testing.T, rt string) *env {
	needBinaries(t)
	e := &env{t: t, rt: rt, work: t.TempDir(), images: map[string]string{}, cluster: "e2e", service: "web", app: "web", group: "web-bg"}
	if rt == "docker" {
		if !ecstest.DockerAnswers() {
			t.Skip("no Docker daemon answers: run test/dockerd.sh (test/run.sh does)")
		}
		reg, err := ecstest.StartRegistry()
		if err != nil {
			t.Fatal(err)
		}
		e.reg = reg
		t.Cleanup(func() {
			if n := ecstest.RemoveContainers(reg.Host); n > 0 {
				t.Logf("removed %d leftover containers", n)
			}
			ecstest.RemoveImages(reg.Host)
			reg.Close()
		})
		for _, v := range []string{"v1", "v2", "v3", "v4"} {
			ref, err := reg.PushVersionServer(bins.VersionServer, "versionserver", v, map[string]string{"VERSION": v})
			if err != nil {
				t.Fatal(err)
			}
			e.images[v] = ref
		}
	}
	srv, err := ecstest.StartServer(context.Background(), ecstest.ServerOptions{
		Bin: bins.Cutover, DataDir: filepath.Join(e.work, "data"), Runtime: rt, TimeScale: timeScale,
		LogPath: filepath.Join(e.work, "server.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { e.t = t; e.cleanup() })
	cfg := srv.AWSConfig()
	e.cd = codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	e.elb = elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	e.hooks = newHookServer(t, srv)
	return e
}

// cleanup scales the service away, stops the server, and kills what is
// left; on failure it shows the end of the server's log.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.srv.CLI(ctx, "ecs", "delete-service", "--cluster", e.cluster, "--service", e.service, "--force"); err == nil {
		for i := 0; i < 60; i++ {
			out, err := e.srv.CLI(ctx, "ecs", "list-tasks", "--cluster", e.cluster, "--desired-status", "RUNNING", "--query", "length(taskArns)", "--output", "text")
			if err != nil || out == "0" {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if err := e.srv.Stop(10 * time.Second); err != nil {
		e.t.Errorf("stopping the server: %v", err)
	}
	if e.t.Failed() {
		e.t.Logf("server log (last 60 lines):\n%s", e.srv.LogTail(60))
	}
}

// use makes t the env's test until the returned function restores the
// previous one (for subtests).
func (e *env) use(t *testing.T) func() {
	prev := e.t
	e.t = t
	return func() { e.t = prev }
}

// aws runs the AWS CLI and fails the test on error.
func (e *env) aws(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := e.srv.CLI(ctx, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// awsErr runs the AWS CLI and returns its error.
func (e *env) awsErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return e.srv.CLI(ctx, args...)
}

// taskDef is a task definition of the versionserver at version v. On the
// process runtime the "image" names the binary; on docker the image is the
// one pushed for v, which carries VERSION in its config.
func (e *env) taskDef(v string, extraEnv map[string]string, imageOverride string) string {
	envs := []map[string]string{}
	image := "process:" + bins.VersionServer
	if e.rt == "docker" {
		image = e.images[v]
	} else {
		envs = append(envs, map[string]string{"name": "VERSION", "value": v})
	}
	if imageOverride != "" {
		image = imageOverride
	}
	for k, val := range extraEnv {
		envs = append(envs, map[string]string{"name": k, "value": val})
	}
	td := map[string]any{
		"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"}, "cpu": "256", "memory": "512",
		"containerDefinitions": []map[string]any{{
			"name": "web", "image": image, "essential": true, "memory": 64, "stopTimeout": 5,
			"portMappings": []map[string]any{{"containerPort": 8080, "protocol": "tcp"}},
			"environment":  envs,
		}},
	}
	b, _ := json.Marshal(td)
	return string(b)
}

func (e *env) registerTaskDef(v string, extraEnv map[string]string, imageOverride string) string {
	e.t.Helper()
	return e.aws("ecs", "register-task-definition", "--cli-input-json", e.taskDef(v, extraEnv, imageOverride),
		"--query", "taskDefinition.taskDefinitionArn", "--output", "text")
}

// setUp makes the load balancer, target groups, listeners, cluster,
// service (v1), application, canary deployment config and deployment group
// with the AWS CLI, and waits until production serves v1.
func (e *env) setUp() {
	e.t.Helper()
	ports := ecstest.FreePorts(e.t, 2)
	tg := func(name string) string {
		arn := e.aws("elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "8080",
			"--target-type", "ip", "--vpc-id", "vpc-local", "--health-check-path", "/health",
			"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
			"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
			"--query", "TargetGroups[0].TargetGroupArn", "--output", "text")
		// Drain deregistered tasks for 2 s rather than ELB's 300.
		e.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
			"--attributes", "Key=deregistration_delay.timeout_seconds,Value=2")
		return arn
	}
	e.blueTG, e.greenTG = tg("blue"), tg("green")
	lb := e.aws("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-a", "subnet-b",
		"--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
	e.prodListener = e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(ports[0]),
		"--default-actions", "Type=forward,TargetGroupArn="+e.blueTG, "--query", "Listeners[0].ListenerArn", "--output", "text")
	e.testListn = e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(ports[1]),
		"--default-actions", "Type=forward,TargetGroupArn="+e.greenTG, "--query", "Listeners[0].ListenerArn", "--output", "text")
	e.prodURL = fmt.Sprintf("http://127.0.0.1:%d/", ports[0])
	e.testURL = fmt.Sprintf("http://127.0.0.1:%d/", ports[1])

	e.aws("ecs", "create-cluster", "--cluster-name", e.cluster)
	td1 := e.registerTaskDef("v1", nil, "")
	e.aws("ecs", "create-service", "--cluster", e.cluster, "--service-name", e.service, "--task-definition", td1,
		"--desired-count", "2", "--launch-type", "FARGATE", "--deployment-controller", "type=CODE_DEPLOY",
		"--load-balancers", "targetGroupArn="+e.blueTG+",containerName=web,containerPort=8080",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-a]}")

	e.aws("deploy", "create-application", "--application-name", e.app, "--compute-platform", "ECS")
	e.aws("deploy", "create-deployment-config", "--deployment-config-name", "Canary20Percent1Minute", "--compute-platform", "ECS",
		"--traffic-routing-config", "type=TimeBasedCanary,timeBasedCanary={canaryPercentage=20,canaryInterval=1}")
	e.aws("deploy", "create-deployment-group", "--application-name", e.app, "--deployment-group-name", e.group,
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy",
		"--deployment-config-name", "Canary20Percent1Minute",
		"--deployment-style", "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
		"--ecs-services", "clusterName="+e.cluster+",serviceName="+e.service,
		"--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE",
		"--load-balancer-info", "targetGroupPairInfoList=[{targetGroups=[{name=blue},{name=green}],prodTrafficRoute={listenerArns=["+e.prodListener+"]},testTrafficRoute={listenerArns=["+e.testListn+"]}}]",
		"--blue-green-deployment-configuration", "deploymentReadyOption={actionOnTimeout=CONTINUE_DEPLOYMENT},terminateBlueInstancesOnDeploymentSuccess={action=TERMINATE,terminationWaitTimeInMinutes=0}")

	e.waitServing(e.prodURL, "v1", 90*time.Second)
}

// waitServing waits until 20 requests in a row answer version v.
func (e *env) waitServing(url, v string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var got map[string]int
	var first string
	for time.Now().Before(deadline) {
		got, first = ecstest.Versions(url, 20)
		if got[v] == 20 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("%s does not serve only %s within %v: last 20 answers %v %s", url, v, timeout, got, first)
}

// appSpec is an ECS AppSpec (JSON) for task definition td with hooks
// (event → URL).
func appSpec(td string, hooks map[string]string) string {
	spec := map[string]any{
		"version": 0.0,
		"Resources": []any{map[string]any{"TargetService": map[string]any{
			"Type": "AWS::ECS::Service",
			"Properties": map[string]any{
				"TaskDefinition":   td,
				"LoadBalancerInfo": map[string]any{"ContainerName": "web", "ContainerPort": 8080},
			},
		}}},
	}
	if len(hooks) > 0 {
		var hs []any
		for ev, url := range hooks {
			hs = append(hs, map[string]string{ev: url})
		}
		spec["Hooks"] = hs
	}
	b, _ := json.Marshal(spec)
	return string(b)
}

func revision(content string) string {
	b, _ := json.Marshal(map[string]any{"revisionType": "AppSpecContent", "appSpecContent": map[string]string{"content": content}})
	return string(b)
}

// createDeployment creates a deployment of the group with the AWS CLI.
func (e *env) createDeployment(content string) (string, error) {
	return e.awsErr("deploy", "create-deployment", "--application-name", e.app, "--deployment-group-name", e.group,
		"--revision", revision(content), "--query", "deploymentId", "--output", "text")
}

// deployment reads a deployment with the SDK (fast enough to poll).
func (e *env) deployment(id string) *cdtypes.DeploymentInfo {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		e.t.Fatalf("GetDeployment %s: %v", id, err)
	}
	return out.DeploymentInfo
}

// waitEnded polls a deployment until it is Succeeded, Failed or Stopped.
func (e *env) waitEnded(id string, timeout time.Duration) *cdtypes.DeploymentInfo {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := e.deployment(id)
		switch d.Status {
		case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deployment %s still %s after %v; lifecycle: %s", id, d.Status, timeout, e.lifecycle(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lifecycle summarizes a deployment's lifecycle events for messages.
func (e *env) lifecycle(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.cd.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String(e.cluster + ":" + e.service)})
	if err != nil || out.DeploymentTarget == nil || out.DeploymentTarget.EcsTarget == nil {
		return fmt.Sprintf("(no target: %v)", err)
	}
	var b strings.Builder
	for _, ev := range out.DeploymentTarget.EcsTarget.LifecycleEvents {
		fmt.Fprintf(&b, "%s=%s ", aws.ToString(ev.LifecycleEventName), ev.Status)
		if ev.Diagnostics != nil {
			fmt.Fprintf(&b, "(%s) ", aws.ToString(ev.Diagnostics.Message))
		}
	}
	for _, ts := range out.DeploymentTarget.EcsTarget.TaskSetsInfo {
		fmt.Fprintf(&b, "[%s %s %s running %d/%d weight %v] ", ts.TaskSetLabel, aws.ToString(ts.Identifer), aws.ToString(ts.Status), ts.RunningCount, ts.DesiredCount, ts.TrafficWeight)
	}
	return b.String()
}

// weights reads a listener's forward weights by target group ARN.
func (e *env) weights(listener string) (map[string]int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := e.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listener}})
	if err != nil {
		return nil, err
	}
	if len(out.Listeners) != 1 || len(out.Listeners[0].DefaultActions) == 0 {
		return nil, errors.New("no listener or no default action")
	}
	a := out.Listeners[0].DefaultActions[0]
	w := map[string]int32{}
	if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
		for _, tg := range a.ForwardConfig.TargetGroups {
			w[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
		}
	} else if a.TargetGroupArn != nil {
		w[*a.TargetGroupArn] = 1
	}
	return w, nil
}

// weightSample is the replacement's weight on the production listener,
// read between Sent and Received.
type weightSample struct {
	Sent, Received time.Time
	Weight         int32 // -1: the read failed
}

// pollWeights reads the production listener's weight for target group tg
// every 30 ms until stop is closed.
func (e *env) pollWeights(tg string, stop <-chan struct{}) <-chan []weightSample {
	res := make(chan []weightSample, 1)
	go func() {
		var out []weightSample
		for {
			s := weightSample{Sent: time.Now(), Weight: -1}
			if w, err := e.weights(e.prodListener); err == nil {
				s.Weight = w[tg]
			}
			s.Received = time.Now()
			out = append(out, s)
			select {
			case <-stop:
				res <- out
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}()
	return res
}

// hookServer is a lifecycle hook at an http:// URL (a cutover extension):
// it answers 200 at once, runs the handler for the path, and reports the
// handler's status with the AWS CLI's put-lifecycle-event-hook-execution-status.
type hookServer struct {
	URL      string
	srv      *httptest.Server
	mu       sync.Mutex
	handlers map[string]func(deploymentID string) (status string, note string)
	calls    chan hookCall
}

type hookCall struct {
	Path, DeploymentID, ExecutionID, Status, Note string
	ReportErr                                     error
}

func newHookServer(t *testing.T, srv *ecstest.Server) *hookServer {
	h := &hookServer{handlers: map[string]func(string) (string, string){}, calls: make(chan hookCall, 16)}
	var wg sync.WaitGroup
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DeploymentId, LifecycleEventHookExecutionId string
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || json.Unmarshal(b, &body) != nil || body.LifecycleEventHookExecutionId == "" {
			http.Error(w, "want a POST with DeploymentId and LifecycleEventHookExecutionId", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		fn := h.handlers[r.URL.Path]
		h.mu.Unlock()
		if fn == nil {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, note := fn(body.DeploymentId)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := srv.CLI(ctx, "deploy", "put-lifecycle-event-hook-execution-status", "--deployment-id", body.DeploymentId,
				"--lifecycle-event-hook-execution-id", body.LifecycleEventHookExecutionId, "--status", status)
			h.calls <- hookCall{Path: r.URL.Path, DeploymentID: body.DeploymentId, ExecutionID: body.LifecycleEventHookExecutionId, Status: status, Note: note, ReportErr: err}
		}()
	}))
	h.URL = h.srv.URL
	t.Cleanup(func() { h.srv.Close(); wg.Wait() })
	return h
}

// handle sets the handler for path; it returns the hook URL.
func (h *hookServer) handle(path string, fn func(deploymentID string) (status, note string)) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[path] = fn
	return h.URL + path
}
