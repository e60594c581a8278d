package server_test

import (
	"fmt"
	"testing"
	"time"

	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// TestServerBlueGreen swaps fleets behind the built-in load balancer: h1
// and h2 serve v1; a blue/green deployment installs v2 on h3 and h4 (its
// targetInstances), registers them, deregisters h1 and h2 and, with
// TERMINATE, stops the application there. No request fails on the way.
func TestServerBlueGreen(t *testing.T) {
	e := start(t, 4)
	blue, green := e.hosts[:2], e.hosts[2:]
	e.aws("deploy", "add-tags-to-on-premises-instances", "--instance-names", green[0].name, green[1].name, "--tags", "Key=fleet,Value=new")
	e.aws("s3", "mb", "s3://bundles")
	e.aws("deploy", "create-application", "--application-name", "web", "--compute-platform", "Server")
	e.aws("deploy", "create-deployment-group", "--application-name", "web", "--deployment-group-name", "site",
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy",
		"--on-premises-instance-tag-filters", "Key=fleet,Value=web,Type=KEY_AND_VALUE")
	id := e.deploy("site", e.push("v1"), "CodeDeployDefault.AllAtOnce")
	if d := e.wait(id, 90*time.Second); d.Status != cdtypes.DeploymentStatusSucceeded {
		t.Fatalf("v1: %s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
	}

	port := ecstest.FreePorts(t, 1)[0]
	tg := e.aws("elbv2", "create-target-group", "--name", "site", "--protocol", "HTTP", "--port", "80",
		"--target-type", "ip", "--vpc-id", "vpc-local", "--health-check-path", "/health",
		"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
		"--query", "TargetGroups[0].TargetGroupArn", "--output", "text")
	e.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", tg, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=2")
	lb := e.aws("elbv2", "create-load-balancer", "--name", "site", "--subnets", "subnet-a", "subnet-b",
		"--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
	e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(port),
		"--default-actions", "Type=forward,TargetGroupArn="+tg)
	e.aws("elbv2", "register-targets", "--target-group-arn", tg, "--targets",
		fmt.Sprintf("Id=127.0.0.1,Port=%d", blue[0].port), fmt.Sprintf("Id=127.0.0.1,Port=%d", blue[1].port))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	e.servesOnly(url, "v1", 60*time.Second)

	e.aws("deploy", "update-deployment-group", "--application-name", "web", "--current-deployment-group-name", "site",
		"--deployment-style", "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
		"--load-balancer-info", "targetGroupInfoList=[{name=site}]",
		"--blue-green-deployment-configuration", `{"terminateBlueInstancesOnDeploymentSuccess":{"action":"TERMINATE","terminationWaitTimeInMinutes":0},`+
			`"deploymentReadyOption":{"actionOnTimeout":"CONTINUE_DEPLOYMENT"},"greenFleetProvisioningOption":{"action":"DISCOVER_EXISTING"}}`)
	key := e.push("v2")
	load := ecstest.StartLoad(url, 4, 20*time.Millisecond, 3*time.Minute, 1_000_000)
	id = e.aws("deploy", "create-deployment", "--application-name", "web", "--deployment-group-name", "site",
		"--s3-location", "bucket=bundles,key="+key+",bundleType=tgz", "--deployment-config-name", "CodeDeployDefault.OneAtATime",
		"--target-instances", `{"tagFilters":[{"Key":"fleet","Value":"new","Type":"KEY_AND_VALUE"}]}`,
		"--query", "deploymentId", "--output", "text")
	d := e.wait(id, 150*time.Second)
	e.servesOnly(url, "v2", 20*time.Second)
	results := load.Stop()
	if d.Status != cdtypes.DeploymentStatusSucceeded {
		t.Fatalf("%s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
	}
	failed, examples, versions := ecstest.Summarize(results)
	t.Logf("%d requests during the deployment: %v", len(results), versions)
	if failed > 0 {
		t.Fatalf("%d of %d requests failed: %v", failed, len(results), examples)
	}
	if versions["v1"] == 0 || versions["v2"] == 0 {
		t.Fatalf("versions served %v", versions)
	}

	// The instances and their labels, through the CLI.
	if got := e.aws("deploy", "list-deployment-targets", "--deployment-id", id, "--target-filters", "ServerInstanceLabel=Green", "--query", "targetIds", "--output", "text"); got != "h3\th4" {
		t.Errorf("Green targets %q", got)
	}
	if got := e.aws("deploy", "get-deployment-target", "--deployment-id", id, "--target-id", "h1",
		"--query", "deploymentTarget.instanceTarget.[instanceLabel,status,join(',',lifecycleEvents[].lifecycleEventName)]", "--output", "text"); got != "Blue\tSucceeded\tBeforeBlockTraffic,BlockTraffic,AfterBlockTraffic" {
		t.Errorf("h1 %q", got)
	}
	if got := e.aws("deploy", "get-deployment", "--deployment-id", id, "--query", "deploymentInfo.instanceTerminationWaitTimeStarted", "--output", "text"); got != "True" {
		t.Errorf("instanceTerminationWaitTimeStarted %q", got)
	}
	// Only Green is registered; Blue's application was stopped
	// (termination, as far as cutover can go).
	health := e.aws("elbv2", "describe-target-health", "--target-group-arn", tg, "--query", "TargetHealthDescriptions[].Target.Port", "--output", "text")
	if want := fmt.Sprintf("%d\t%d", green[0].port, green[1].port); health != want && health != fmt.Sprintf("%d\t%d", green[1].port, green[0].port) {
		t.Errorf("registered ports %q, want %s", health, want)
	}
	for _, h := range blue {
		if v := e.serving(h); v != "" {
			t.Errorf("%s still serves %q after termination", h.name, v)
		}
	}
	for _, h := range green {
		if v := e.serving(h); v != "v2" {
			t.Errorf("%s serves %q", h.name, v)
		}
	}
}

// servesOnly waits until the balancer answers version v to every request
// of a round.
func (e *env) servesOnly(url, v string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, _ := ecstest.Versions(url, 10)
		if got[v] == 10 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the load balancer does not serve only %s: %v", v, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
