package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// ecsHook: a minimal ECS service (one versionserver task on the process
// runtime behind the built-in load balancer) is deployed blue/green with
// the hook function as its AfterAllowTestTraffic hook, as AWS runs ECS
// validation hooks: a Lambda function answering through CodeDeploy.
func (e *env) ecsHook(t *testing.T) {
	defer e.use(t)()
	ports := ecstest.FreePorts(t, 2)
	tg := func(name string) string {
		arn := e.aws("elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "8080",
			"--target-type", "ip", "--vpc-id", "vpc-local", "--health-check-path", "/health",
			"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
			"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
			"--query", "TargetGroups[0].TargetGroupArn", "--output", "text")
		e.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
			"--attributes", "Key=deregistration_delay.timeout_seconds,Value=2")
		return arn
	}
	blue, green := tg("ecs-blue"), tg("ecs-green")
	lb := e.aws("elbv2", "create-load-balancer", "--name", "ecs-web", "--subnets", "subnet-a", "subnet-b",
		"--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
	prodURL := fmt.Sprintf("http://127.0.0.1:%d/", ports[0])
	prod := e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(ports[0]),
		"--default-actions", "Type=forward,TargetGroupArn="+blue, "--query", "Listeners[0].ListenerArn", "--output", "text")
	test := e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(ports[1]),
		"--default-actions", "Type=forward,TargetGroupArn="+green, "--query", "Listeners[0].ListenerArn", "--output", "text")

	const cluster, service = "e2e", "web"
	e.aws("ecs", "create-cluster", "--cluster-name", cluster)
	td1 := e.taskDef("v1")
	e.aws("ecs", "create-service", "--cluster", cluster, "--service-name", service, "--task-definition", td1,
		"--desired-count", "1", "--launch-type", "FARGATE", "--deployment-controller", "type=CODE_DEPLOY",
		"--load-balancers", "targetGroupArn="+blue+",containerName=web,containerPort=8080",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-a]}")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.srv.CLI(ctx, "ecs", "delete-service", "--cluster", cluster, "--service", service, "--force")
	})
	e.aws("deploy", "create-application", "--application-name", "web", "--compute-platform", "ECS")
	e.aws("deploy", "create-deployment-group", "--application-name", "web", "--deployment-group-name", "web-bg",
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy",
		"--deployment-config-name", "CodeDeployDefault.ECSAllAtOnce",
		"--deployment-style", "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
		"--ecs-services", "clusterName="+cluster+",serviceName="+service,
		"--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE",
		"--load-balancer-info", "targetGroupPairInfoList=[{targetGroups=[{name=ecs-blue},{name=ecs-green}],prodTrafficRoute={listenerArns=["+prod+"]},testTrafficRoute={listenerArns=["+test+"]}}]",
		"--blue-green-deployment-configuration", "deploymentReadyOption={actionOnTimeout=CONTINUE_DEPLOYMENT},terminateBlueInstancesOnDeploymentSuccess={action=TERMINATE,terminationWaitTimeInMinutes=0}")
	e.waitServing(prodURL, "v1", 90*time.Second)

	td2 := e.taskDef("v2")
	spec := map[string]any{
		"version": 0.0,
		"Resources": []any{map[string]any{"TargetService": map[string]any{
			"Type": "AWS::ECS::Service",
			"Properties": map[string]any{
				"TaskDefinition":   td2,
				"LoadBalancerInfo": map[string]any{"ContainerName": "web", "ContainerPort": 8080},
			},
		}}},
		"Hooks": []any{map[string]string{"AfterAllowTestTraffic": hook}},
	}
	id := e.aws("deploy", "create-deployment", "--application-name", "web", "--deployment-group-name", "web-bg",
		"--revision", appSpecRevision(spec), "--description", "web v2", "--query", "deploymentId", "--output", "text")
	d := e.waitEnded(id, 2*time.Minute)
	if d.Status != cdtypes.DeploymentStatusSucceeded {
		t.Fatalf("ECS deployment %s: %s %+v; lifecycle: %s", id, d.Status, d.ErrorInformation, e.lifecycle(id))
	}
	if v := e.verdicts()[id]; len(v) != 1 || v[0] != "Succeeded" {
		t.Errorf("the hook function reported %v for ECS deployment %s, want [Succeeded]", v, id)
	}
	e.waitServing(prodURL, "v2", 30*time.Second)
}

// taskDef registers a task definition of the versionserver at version v
// on the process runtime (the "image" names the binary).
func (e *env) taskDef(v string) string {
	e.t.Helper()
	td := map[string]any{
		"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"}, "cpu": "256", "memory": "512",
		"containerDefinitions": []map[string]any{{
			"name": "web", "image": "process:" + art.bins.VersionServer, "essential": true, "memory": 64, "stopTimeout": 5,
			"portMappings": []map[string]any{{"containerPort": 8080, "protocol": "tcp"}},
			"environment":  []map[string]string{{"name": "VERSION", "value": v}},
		}},
	}
	b, _ := json.Marshal(td)
	return e.aws("ecs", "register-task-definition", "--cli-input-json", string(b),
		"--query", "taskDefinition.taskDefinitionArn", "--output", "text")
}

// waitServing waits until 10 requests in a row answer version v.
func (e *env) waitServing(url, v string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, first := ecstest.Versions(url, 10)
		if got[v] == 10 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s does not serve only %s within %v: last 10 answers %v %s", url, v, timeout, got, first)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
