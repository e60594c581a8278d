// Package watch_test is the registry watcher end to end: the real cutover
// server on the docker runtime, a registry on 127.0.0.1, a CodeDeploy
// blue/green ECS service set up with the AWS CLI, and watch rules created
// through the watch API. Pushing a new `latest` deploys it; a semver rule
// skips a pre-release; a notification makes the watcher react at once; a
// dead registry is reported without disturbing the other rules.
package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cutover/cutover/internal/watch"
	"github.com/cutover/cutover/internal/watch/client"
	"github.com/cutover/cutover/test/ecs/ecstest"
)

var (
	bins     ecstest.Bins
	buildErr error
)

func TestMain(m *testing.M) {
	ecstest.Main(m, "test/watch", func(dir string) { bins, buildErr = ecstest.Build(dir) })
}

type env struct {
	t       *testing.T
	srv     *ecstest.Server
	reg     *ecstest.Registry
	wc      *client.Client
	cd      *codedeploy.Client
	prodURL string
}

func (e *env) aws(args ...string) string {
	e.t.Helper()
	out, err := e.srv.CLI(context.Background(), args...)
	if err != nil {
		e.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, e.srv.LogTail(30))
	}
	return strings.TrimSpace(out)
}

func newEnv(t *testing.T) *env {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH")
	}
	if !ecstest.DockerAnswers() {
		t.Skip("no Docker daemon answers: run test/dockerd.sh (test/run.sh does)")
	}
	reg, err := ecstest.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ecstest.RemoveContainers(reg.Host)
		ecstest.RemoveImages(reg.Host)
		reg.Close()
	})
	work := t.TempDir()
	srv, err := ecstest.StartServer(context.Background(), ecstest.ServerOptions{Bin: bins.Cutover, DataDir: filepath.Join(work, "data"),
		Runtime: "docker", TimeScale: 20, LogPath: filepath.Join(work, "server.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(10 * time.Second) })
	cfg := srv.AWSConfig()
	e := &env{t: t, srv: srv, reg: reg,
		wc: &client.Client{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: cfg.Credentials},
		cd: codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })}
	var ae *client.APIError
	if err := e.wc.Call(context.Background(), "ListWatchRules", struct{}{}, nil); errors.As(err, &ae) && ae.Code == "UnknownOperationException" || err != nil && ae == nil {
		t.Skipf("this server does not serve the watch API yet (internal/watch is not wired into internal/server): %v", err)
	}
	return e
}

func (e *env) push(v, tag string) string {
	e.t.Helper()
	ref, err := e.reg.PushVersionServer(bins.VersionServer, "versionserver", tag, map[string]string{"VERSION": v})
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// setUp makes a CODE_DEPLOY service running image (two target groups,
// production and test listeners, an all-at-once deployment group).
func (e *env) setUp(image string) {
	tg := func(name string) string {
		arn := e.aws("elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "8080", "--target-type", "ip",
			"--vpc-id", "vpc-local", "--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
			"--healthy-threshold-count", "2", "--query", "TargetGroups[0].TargetGroupArn", "--output", "text")
		e.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", arn, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=1")
		return arn
	}
	blue, green := tg("blue"), tg("green")
	lb := e.aws("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-a", "--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
	ports := ecstest.FreePorts(e.t, 2)
	prodPort, testPort := ports[0], ports[1]
	prod := e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(prodPort),
		"--default-actions", "Type=forward,TargetGroupArn="+blue, "--query", "Listeners[0].ListenerArn", "--output", "text")
	test := e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(testPort),
		"--default-actions", "Type=forward,TargetGroupArn="+green, "--query", "Listeners[0].ListenerArn", "--output", "text")
	e.prodURL = fmt.Sprintf("http://127.0.0.1:%d/", prodPort)

	e.aws("ecs", "create-cluster", "--cluster-name", "e2e")
	td := e.aws("ecs", "register-task-definition", "--family", "web", "--network-mode", "awsvpc", "--requires-compatibilities", "FARGATE",
		"--cpu", "256", "--memory", "512", "--container-definitions",
		`[{"name":"web","image":"`+image+`","essential":true,"memory":64,"stopTimeout":2,"portMappings":[{"containerPort":8080}]}]`,
		"--query", "taskDefinition.taskDefinitionArn", "--output", "text")
	e.aws("ecs", "create-service", "--cluster", "e2e", "--service-name", "web", "--task-definition", td, "--desired-count", "1",
		"--launch-type", "FARGATE", "--deployment-controller", "type=CODE_DEPLOY",
		"--load-balancers", "targetGroupArn="+blue+",containerName=web,containerPort=8080",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-a]}")
	e.aws("deploy", "create-application", "--application-name", "web", "--compute-platform", "ECS")
	e.aws("deploy", "create-deployment-group", "--application-name", "web", "--deployment-group-name", "web-bg",
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy", "--deployment-config-name", "CodeDeployDefault.ECSAllAtOnce",
		"--deployment-style", "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
		"--ecs-services", "clusterName=e2e,serviceName=web",
		"--load-balancer-info", "targetGroupPairInfoList=[{targetGroups=[{name=blue},{name=green}],prodTrafficRoute={listenerArns=["+prod+"]},testTrafficRoute={listenerArns=["+test+"]}}]",
		"--blue-green-deployment-configuration", "deploymentReadyOption={actionOnTimeout=CONTINUE_DEPLOYMENT},terminateBlueInstancesOnDeploymentSuccess={action=TERMINATE,terminationWaitTimeInMinutes=0}")
	e.waitServing("v1", 90*time.Second)
}

func (e *env) waitServing(v string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var got map[string]int
	for time.Now().Before(deadline) {
		if got, _ = ecstest.Versions(e.prodURL, 10); got[v] == 10 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("production does not serve only %s within %v: %v\n%s", v, timeout, got, e.srv.LogTail(40))
}

func (e *env) rule(name string) watch.RuleView {
	e.t.Helper()
	var out struct{ Rule watch.RuleView }
	if err := e.wc.Call(context.Background(), "GetWatchRule", map[string]any{"name": name}, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Rule
}

// waitDeployed waits for the rule's Deployed event for digest and says
// how long it took to appear.
func (e *env) waitDeployed(name, digest string, timeout time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		var out struct{ Events []watch.EventView }
		if err := e.wc.Call(context.Background(), "ListWatchEvents", map[string]any{"name": name}, &out); err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range out.Events {
			if ev.Decision == watch.DecisionDeployed && ev.Digest == digest {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("rule %s did not deploy %s within %v: %+v", name, digest, timeout, e.rule(name))
	return 0
}

// waitDeployment waits for the rule's deployment of digest and for it to
// succeed.
func (e *env) waitDeployment(name, digest string, timeout time.Duration) string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var id string
	for time.Now().Before(deadline) && id == "" {
		var out struct{ Events []watch.EventView }
		if err := e.wc.Call(context.Background(), "ListWatchEvents", map[string]any{"name": name}, &out); err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range out.Events {
			if ev.Decision == watch.DecisionDeployed && ev.Digest == digest {
				id = ev.DeploymentID
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if id == "" {
		e.t.Fatalf("rule %s did not deploy %s within %v: %+v\n%s", name, digest, timeout, e.rule(name), e.srv.LogTail(40))
	}
	for time.Now().Before(deadline) {
		d, err := e.cd.GetDeployment(context.Background(), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err != nil {
			e.t.Fatal(err)
		}
		switch st := string(d.DeploymentInfo.Status); st {
		case "Succeeded":
			if desc := aws.ToString(d.DeploymentInfo.Description); !strings.Contains(desc, name) || !strings.Contains(desc, digest) {
				e.t.Errorf("description %q does not name rule and image", desc)
			}
			return id
		case "Failed", "Stopped":
			e.t.Fatalf("deployment %s %s: %+v\n%s", id, st, d.DeploymentInfo.ErrorInformation, e.srv.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("deployment %s did not succeed within %v", id, timeout)
	return ""
}

// digestOf is the manifest digest a tag reference points at now.
func digestOf(ref string) string {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		panic(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		panic(fmt.Sprintf("HEAD %s: %v", ref, err))
	}
	return d.Digest.String()
}

func TestPushDeploysNewLatest(t *testing.T) {
	e := newEnv(t)
	v1 := e.push("v1", "latest")
	e.setUp(e.reg.Host + "/versionserver@" + digestOf(v1))
	ctx := context.Background()
	repo := e.reg.Host + "/versionserver"
	target := map[string]any{"kind": watch.TargetCodeDeployECS, "applicationName": "web", "deploymentGroupName": "web-bg"}
	// A long interval: only a notification (or the first check) acts soon.
	if err := e.wc.Call(ctx, "CreateWatchRule", map[string]any{"name": "web", "image": repo, "policyExpression": "digest:latest",
		"intervalSeconds": 3600, "target": target}, nil); err != nil {
		t.Fatal(err)
	}
	// A rule on a registry that is down: reported, harmless to the other.
	if err := e.wc.Call(ctx, "CreateWatchRule", map[string]any{"name": "down", "image": "127.0.0.1:1/nothing", "policyExpression": "digest:latest",
		"intervalSeconds": 5, "target": target}, nil); err != nil {
		t.Fatal(err)
	}
	// The service runs v1 by digest: the first check sees it and deploys nothing.
	deadline := time.Now().Add(30 * time.Second)
	for e.rule("web").State.LastCheck == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := e.rule("web").State; len(st.DeployedDigests) != 1 || st.Active != nil {
		t.Fatalf("first check: %+v, want v1 recorded as running and no deployment", st)
	}

	v2 := e.push("v2", "latest")
	var settings struct{ Token string }
	if err := e.wc.Call(ctx, "GetNotificationSettings", struct{}{}, &settings); err != nil {
		t.Fatal(err)
	}
	envelope := fmt.Sprintf(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":"versionserver","tag":"latest"},"request":{"host":%q}}]}`,
		digestOf(v2), e.reg.Host)
	resp, err := http.Post(e.srv.Endpoint+watch.PathDistribution+"?token="+settings.Token, "application/json", strings.NewReader(envelope))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("notification: %s", resp.Status)
	}
	notified := time.Now()
	// The next poll is an hour of server time (3 min real) away: a
	// deployment within seconds is the notification's doing.
	if took := e.waitDeployed("web", digestOf(v2), 10*time.Second); took > 5*time.Second {
		t.Errorf("the deployment came %v after the notification", took)
	}
	t.Logf("push notification → deployment created: %v", time.Since(notified))
	e.waitDeployment("web", digestOf(v2), 120*time.Second)
	e.waitServing("v2", 60*time.Second)

	if down := e.rule("down"); down.State.LastError == "" {
		t.Errorf("the dead registry's rule shows no error: %+v", down.State)
	}
}

func TestSemverSkipsPrerelease(t *testing.T) {
	e := newEnv(t)
	v1 := e.push("v1", "1.4.0")
	e.setUp(e.reg.Host + "/versionserver@" + digestOf(v1))
	e.push("rc", "2.0.0-rc1")
	v15 := e.push("v1.5", "1.5.0")
	if err := e.wc.Call(context.Background(), "CreateWatchRule", map[string]any{"name": "sv", "image": e.reg.Host + "/versionserver",
		"policyExpression": "semver:>=1.4", "intervalSeconds": 2,
		"target": map[string]any{"kind": watch.TargetCodeDeployECS, "applicationName": "web", "deploymentGroupName": "web-bg"}}, nil); err != nil {
		t.Fatal(err)
	}
	e.waitDeployment("sv", digestOf(v15), 120*time.Second)
	e.waitServing("v1.5", 60*time.Second)
}
