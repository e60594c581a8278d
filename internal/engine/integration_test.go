package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/ecs"
	"github.com/cutover/cutover/internal/elb"
	"github.com/cutover/cutover/internal/elb/proxy"
)

// TestWithRealECSAndELB runs the engine against the real ECS control plane
// (through ECSAdapter, without a container runtime, so tasks never start)
// and the real ELB with its proxy: the replacement task set is made on the
// green target group with the deployment id as external id, never becomes
// healthy, the Install times out with ECS_UPDATE_ERROR, and the rollback
// reroutes the real listeners and deletes the replacement.
func TestWithRealECSAndELB(t *testing.T) {
	e := newEnv(t)
	log := slog.New(slog.DiscardHandler)
	p := proxy.New(proxy.Options{BindAddr: "127.0.0.1", Log: log})
	t.Cleanup(func() { p.Close() })
	lbs, err := elb.New(elb.Config{Region: "us-east-1", AccountID: "123456789012", Store: e.st, DataPlane: p, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ecsSvc, err := ecs.New(ecs.Config{Region: "us-east-1", AccountID: "123456789012", Store: e.st, Log: log, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	elbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lbs.Query().ServeHTTP(w, r.WithContext(awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDTEST", Root: true})))
	}))
	t.Cleanup(elbSrv.Close)
	elbc := elbv2.New(elbv2.Options{BaseEndpoint: aws.String(elbSrv.URL), Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
	ecsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ecsSvc.JSON().ServeHTTP(w, r.WithContext(awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDTEST", Root: true})))
	}))
	t.Cleanup(ecsSrv.Close)
	ecsCall := func(op string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", ecsSrv.URL, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", op, resp.StatusCode, out)
		}
		return out
	}

	tgs := map[string]string{}
	for _, n := range []string{"blue", "green"} {
		out, err := elbc.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(n), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080), TargetType: elbtypes.TargetTypeEnumIp})
		if err != nil {
			t.Fatal(err)
		}
		tgs[n] = *out.TargetGroups[0].TargetGroupArn
	}
	lb, err := elbc.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	listeners := map[string]string{}
	for _, n := range []string{"prod", "test"} {
		out, err := elbc.CreateListener(e.ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(freePort(t)),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgs["blue"])}}})
		if err != nil {
			t.Fatal(err)
		}
		listeners[n] = *out.Listeners[0].ListenerArn
	}
	ecsCall("CreateCluster", map[string]any{"clusterName": "c"})
	for _, fam := range []string{"web", "web"} {
		ecsCall("RegisterTaskDefinition", map[string]any{"family": fam, "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"}, "cpu": "256", "memory": "512",
			"containerDefinitions": []any{map[string]any{"name": "app", "image": "example/web:1", "memory": 64, "portMappings": []any{map[string]any{"containerPort": 8080}}}}})
	}
	ecsCall("CreateService", map[string]any{"cluster": "c", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1, "launchType": "FARGATE",
		"deploymentController": map[string]any{"type": "CODE_DEPLOY"},
		"loadBalancers":        []any{map[string]any{"targetGroupArn": tgs["blue"], "containerName": "app", "containerPort": 8080}},
		"networkConfiguration": map[string]any{"awsvpcConfiguration": map[string]any{"subnets": []string{"subnet-1"}}}})

	en, err := New(Config{Store: e.st, CodeDeploy: e.cd, ECS: ECSAdapter{ecsSvc}, Traffic: lbs, Clock: e.clk, Owner: "it",
		PollInterval: time.Second, LeaseTTL: 10 * time.Second, InstallTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateApplication(e.ctx, &cd.CreateApplicationInput{ApplicationName: aws.String("app"), ComputePlatform: types.ComputePlatformEcs}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.CreateDeploymentGroup(e.ctx, &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole),
		DeploymentConfigName: aws.String("CodeDeployDefault.ECSAllAtOnce"),
		DeploymentStyle:      &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		EcsServices:          []types.ECSService{{ClusterName: aws.String("c"), ServiceName: aws.String("web")}},
		LoadBalancerInfo: &types.LoadBalancerInfo{TargetGroupPairInfoList: []types.TargetGroupPairInfo{{
			TargetGroups:     []types.TargetGroupInfo{{Name: aws.String("blue")}, {Name: aws.String("green")}},
			ProdTrafficRoute: &types.TrafficRoute{ListenerArns: []string{listeners["prod"]}},
			TestTrafficRoute: &types.TrafficRoute{ListenerArns: []string{listeners["test"]}},
		}}},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			DeploymentReadyOption:                     &types.DeploymentReadyOption{ActionOnTimeout: types.DeploymentReadyActionContinueDeployment},
			TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{Action: types.InstanceActionTerminate},
		},
		AutoRollbackConfiguration: &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An AppSpec ECS cannot run is refused at CreateDeployment, and no
	// deployment is recorded.
	for _, spec := range []string{
		appSpec("web:9", nil), // no such revision
		strings.Replace(appSpec("web:2", nil), "ContainerPort: 8080", "ContainerPort: 9090", 1),
		strings.Replace(appSpec("web:2", nil), `ContainerName: "app"`, `ContainerName: "nope"`, 1),
	} {
		_, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{
			ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("g"),
			Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(spec)}},
		})
		var ire *types.InvalidRevisionException
		if !errors.As(err, &ire) {
			t.Fatalf("CreateDeployment with an AppSpec ECS cannot run: %v, want InvalidRevisionException", err)
		}
	}
	if out, err := e.client.ListDeployments(e.ctx, &cd.ListDeploymentsInput{}); err != nil || len(out.Deployments) != 0 {
		t.Fatalf("refused deployments were recorded: %v %v", err, out)
	}

	id := e.mustCreate("g", "web:2", nil)
	if err := e.drive(en, id, func(d *codedeploy.Deployment) bool { return d.Target != nil && len(d.Target.TaskSetsInfo) == 2 }); err != nil {
		t.Fatal(err)
	}
	st, err := ecsSvc.DescribeServiceState(e.ctx, "c", "web")
	if err != nil || len(st.TaskSets) != 2 {
		t.Fatalf("task sets %v %+v", err, st)
	}
	repl := st.TaskSets[1]
	if repl.ExternalID != id || repl.TargetGroupARN != tgs["green"] || !strings.HasSuffix(repl.TaskDefinition, "web:2") || repl.Status != "ACTIVE" {
		if st.TaskSets[0].ExternalID == id {
			repl = st.TaskSets[0]
		}
		if repl.ExternalID != id || repl.TargetGroupARN != tgs["green"] {
			t.Fatalf("replacement %+v", repl)
		}
	}
	if err := e.drive(en, id, nil); err != nil {
		t.Fatal(err)
	}
	got := e.get(id)
	if got.Status != types.DeploymentStatusFailed || got.ErrorInformation.Code != types.ErrorCodeEcsUpdateError || got.RollbackInfo == nil {
		t.Fatalf("end %s %+v %+v", got.Status, got.ErrorInformation, got.RollbackInfo)
	}
	rid := *got.RollbackInfo.RollbackDeploymentId
	if err := e.drive(en, rid, nil); err != nil {
		t.Fatal(err)
	}
	if rb := e.get(rid); rb.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("rollback %s %+v", rb.Status, rb.ErrorInformation)
	}
	st, _ = ecsSvc.DescribeServiceState(e.ctx, "c", "web")
	for _, ts := range st.TaskSets {
		if ts.ID == repl.ID && ts.Status != "DRAINING" {
			t.Errorf("replacement after rollback: %+v", ts)
		}
		if ts.ID != repl.ID && ts.Status != "PRIMARY" {
			t.Errorf("original after rollback: %+v", ts)
		}
	}
	for n, l := range listeners {
		w, err := lbs.ForwardWeights(e.ctx, l)
		if err != nil || w[tgs["blue"]] != 100 || w[tgs["green"]] != 0 {
			t.Errorf("%s listener after rollback: %v %v", n, w, err)
		}
	}
}

func freePort(t *testing.T) int32 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}
