package fidelity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "modernc.org/sqlite"

	"github.com/cutover/cutover/internal/server"
)

// codeDeployQuirks are values AWS returns outside the model's enums.
var codeDeployQuirks = Quirks{
	// CodeDeployDefault.OneAtATime reports minimumHealthyHosts type
	// MOST_CONCURRENCY (documented in the model's own doc string).
	"MinimumHealthyHostsType": {"MOST_CONCURRENCY"},
}

const (
	arnPrefix = "arn:aws:codedeploy:us-east-1:000000000000:"
	s3Rev     = `{"revisionType":"S3","s3Location":{"bucket":"fidelity-bucket","key":"app/bundle.zip","bundleType":"zip","eTag":"0123456789abcdef"}}`
)

// codeDeployScript exercises every CodeDeploy operation once with a
// request that should succeed, in an order that creates what later steps
// need and removes it at the end.
var codeDeployScript = []Step{
	{Op: "CreateApplication", Body: `{"applicationName":"fid-app","computePlatform":"Server","tags":[{"Key":"team","Value":"blue"}]}`},
	{Op: "GetApplication", Body: `{"applicationName":"fid-app"}`},
	{Op: "UpdateApplication", Body: `{"applicationName":"fid-app","newApplicationName":"fid-app-renamed"}`},
	{Op: "UpdateApplication", Body: `{"applicationName":"fid-app-renamed","newApplicationName":"fid-app"}`},
	{Op: "ListApplications", Body: `{}`},
	{Op: "BatchGetApplications", Body: `{"applicationNames":["fid-app"]}`},

	{Op: "CreateDeploymentConfig", Body: `{"deploymentConfigName":"fid-config","computePlatform":"Server","minimumHealthyHosts":{"type":"HOST_COUNT","value":1}}`},
	{Op: "GetDeploymentConfig", Body: `{"deploymentConfigName":"fid-config"}`},
	{Op: "GetDeploymentConfig", Body: `{"deploymentConfigName":"CodeDeployDefault.OneAtATime"}`},
	{Op: "GetDeploymentConfig", Body: `{"deploymentConfigName":"CodeDeployDefault.LambdaCanary10Percent5Minutes"}`},
	{Op: "ListDeploymentConfigs", Body: `{}`},

	{Op: "CreateDeploymentGroup", Body: `{"applicationName":"fid-app","deploymentGroupName":"fid-group",
		"serviceRoleArn":"arn:aws:iam::000000000000:role/CodeDeployRole","deploymentConfigName":"fid-config",
		"onPremisesInstanceTagFilters":[{"Key":"env","Value":"prod","Type":"KEY_AND_VALUE"}],
		"autoRollbackConfiguration":{"enabled":true,"events":["DEPLOYMENT_FAILURE"]},
		"alarmConfiguration":{"enabled":false,"ignorePollAlarmFailure":false,"alarms":[{"name":"fid-alarm"}]},
		"triggerConfigurations":[{"triggerName":"fid-trigger","triggerTargetArn":"arn:aws:sns:us-east-1:000000000000:fid","triggerEvents":["DeploymentFailure"]}],
		"tags":[{"Key":"team","Value":"blue"}]}`,
		Capture: map[string]string{"groupID": "deploymentGroupId"}},
	{Op: "GetDeploymentGroup", Body: `{"applicationName":"fid-app","deploymentGroupName":"fid-group"}`},
	{Op: "UpdateDeploymentGroup", Body: `{"applicationName":"fid-app","currentDeploymentGroupName":"fid-group","deploymentConfigName":"CodeDeployDefault.AllAtOnce"}`},
	{Op: "ListDeploymentGroups", Body: `{"applicationName":"fid-app"}`},
	{Op: "BatchGetDeploymentGroups", Body: `{"applicationName":"fid-app","deploymentGroupNames":["fid-group"]}`},

	{Op: "RegisterApplicationRevision", Body: `{"applicationName":"fid-app","description":"first","revision":` + s3Rev + `}`},
	{Op: "GetApplicationRevision", Body: `{"applicationName":"fid-app","revision":` + s3Rev + `}`},
	{Op: "ListApplicationRevisions", Body: `{"applicationName":"fid-app","sortBy":"registerTime","sortOrder":"descending"}`},
	{Op: "BatchGetApplicationRevisions", Body: `{"applicationName":"fid-app","revisions":[` + s3Rev + `]}`},

	{Op: "RegisterOnPremisesInstance", Body: `{"instanceName":"fid-host","iamUserArn":"arn:aws:iam::000000000000:user/fid-host"}`},
	{Op: "AddTagsToOnPremisesInstances", Body: `{"instanceNames":["fid-host"],"tags":[{"Key":"env","Value":"prod"}]}`},
	{Op: "GetOnPremisesInstance", Body: `{"instanceName":"fid-host"}`},
	{Op: "ListOnPremisesInstances", Body: `{"registrationStatus":"Registered","tagFilters":[{"Key":"env","Value":"prod","Type":"KEY_AND_VALUE"}]}`},
	{Op: "BatchGetOnPremisesInstances", Body: `{"instanceNames":["fid-host"]}`},

	{Op: "TagResource", Body: `{"ResourceArn":"` + arnPrefix + `application:fid-app","Tags":[{"Key":"cost","Value":"42"}]}`},
	{Op: "ListTagsForResource", Body: `{"ResourceArn":"` + arnPrefix + `application:fid-app"}`},
	{Op: "UntagResource", Body: `{"ResourceArn":"` + arnPrefix + `application:fid-app","TagKeys":["cost"]}`},

	// Server deployments run through agents; until they do, a refusal
	// with a modelled error is accepted.
	{Op: "CreateDeployment", Body: `{"applicationName":"fid-app","deploymentGroupName":"fid-group","revision":` + s3Rev + `,"description":"fidelity"}`, MayRefuse: true},

	// The deployment operations are driven through an ECS deployment.
	{Op: "CreateApplication", Body: `{"applicationName":"fid-ecs","computePlatform":"ECS"}`},
	{Op: "CreateDeploymentGroup", Body: `{"applicationName":"fid-ecs","deploymentGroupName":"fid-ecs-group",
		"serviceRoleArn":"arn:aws:iam::000000000000:role/CodeDeployRole","deploymentConfigName":"CodeDeployDefault.ECSAllAtOnce",
		"deploymentStyle":{"deploymentType":"BLUE_GREEN","deploymentOption":"WITH_TRAFFIC_CONTROL"},
		"ecsServices":[{"clusterName":"fid-cluster","serviceName":"fid-service"}],
		"loadBalancerInfo":{"targetGroupPairInfoList":[{"targetGroups":[{"name":"fid-blue"},{"name":"fid-green"}],
			"prodTrafficRoute":{"listenerArns":["arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/fid/1/1"]}}]},
		"blueGreenDeploymentConfiguration":{"deploymentReadyOption":{"actionOnTimeout":"CONTINUE_DEPLOYMENT"},
			"terminateBlueInstancesOnDeploymentSuccess":{"action":"TERMINATE","terminationWaitTimeInMinutes":5}}}`},
	{Op: "CreateDeployment", Body: `{"applicationName":"fid-ecs","deploymentGroupName":"fid-ecs-group","description":"fidelity",
		"revision":{"revisionType":"AppSpecContent","appSpecContent":{"content":` + jsonString(ecsAppSpec) + `}}}`,
		Capture: map[string]string{"deploymentID": "deploymentId"}, MayRefuse: true},
	{Op: "GetDeployment", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},
	{Op: "BatchGetDeployments", Body: `{"deploymentIds":["${deploymentID}"]}`, MayRefuse: true},
	{Op: "ListDeployments", Body: `{"applicationName":"fid-ecs","deploymentGroupName":"fid-ecs-group"}`, MayRefuse: true},
	{Op: "ListDeploymentTargets", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},
	{Op: "GetDeploymentTarget", Body: `{"deploymentId":"${deploymentID}","targetId":"fid-cluster:fid-service"}`, MayRefuse: true},
	{Op: "BatchGetDeploymentTargets", Body: `{"deploymentId":"${deploymentID}","targetIds":["fid-cluster:fid-service"]}`, MayRefuse: true},
	{Op: "ListDeploymentInstances", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},
	{Op: "GetDeploymentInstance", Body: `{"deploymentId":"${deploymentID}","instanceId":"fid-host"}`, MayRefuse: true},
	{Op: "BatchGetDeploymentInstances", Body: `{"deploymentId":"${deploymentID}","instanceIds":["fid-host"]}`, MayRefuse: true},
	{Op: "PutLifecycleEventHookExecutionStatus", Body: `{"deploymentId":"${deploymentID}","lifecycleEventHookExecutionId":"fid-hook","status":"Succeeded"}`, MayRefuse: true},
	{Op: "ContinueDeployment", Body: `{"deploymentId":"${deploymentID}","deploymentWaitType":"READY_WAIT"}`, MayRefuse: true},
	{Op: "SkipWaitTimeForInstanceTermination", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},
	{Op: "StopDeployment", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},
	{Op: "GetDeployment", Body: `{"deploymentId":"${deploymentID}"}`, MayRefuse: true},

	{Op: "ListGitHubAccountTokenNames", Body: `{}`},
	{Op: "DeleteGitHubAccountToken", Body: `{"tokenName":"fid-token"}`, MayRefuse: true},
	{Op: "DeleteResourcesByExternalId", Body: `{"externalId":"fid-external"}`},

	{Op: "RemoveTagsFromOnPremisesInstances", Body: `{"instanceNames":["fid-host"],"tags":[{"Key":"env","Value":"prod"}]}`},
	{Op: "DeregisterOnPremisesInstance", Body: `{"instanceName":"fid-host"}`},
	{Op: "DeleteDeploymentGroup", Body: `{"applicationName":"fid-app","deploymentGroupName":"fid-group"}`},
	{Op: "DeleteDeploymentConfig", Body: `{"deploymentConfigName":"fid-config"}`},
	{Op: "DeleteApplication", Body: `{"applicationName":"fid-app"}`},
	{Op: "DeleteApplication", Body: `{"applicationName":"fid-ecs"}`, MayRefuse: true},
}

// ecsAppSpec is a minimal ECS AppSpec, given inline as AppSpecContent.
const ecsAppSpec = `{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service","Properties":{
"TaskDefinition":"arn:aws:ecs:us-east-1:000000000000:task-definition/fid:1",
"LoadBalancerInfo":{"ContainerName":"web","ContainerPort":80}}}}]}`

// jsonString quotes s as a JSON string, for documents embedded in requests.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCodeDeployFidelity(t *testing.T) {
	runFidelity(t, "codedeploy", codeDeployScript, codeDeployQuirks)
}

// runFidelity is the whole check for one JSON service; ECS and Lambda
// plug in with their own script and quirks.
func runFidelity(t *testing.T, service string, script []Step, quirks Quirks) {
	model, err := LoadBotocore(service)
	if errors.Is(err, ErrNoBotocore) {
		t.Skipf("skipping the %s fidelity test: %v (it reads botocore's service model)", service, err)
	}
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	srv, err := server.New(t.Context(), server.Config{
		Addr:    "127.0.0.1:0",
		DataDir: dir,
		Region:  "us-east-1",
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		// No engine or scheduler: the missing-member checks compare the
		// whole store before and after each request.
		APIOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	svc := srv.JSONService(model.SigningName())
	if svc == nil {
		t.Skipf("the server does not serve %s yet", service)
	}
	implemented := svc.Operations()
	var missing []string
	for _, op := range model.OperationNames() {
		if !contains(implemented, op) {
			missing = append(missing, op)
		}
	}
	t.Logf("%s: %d of %d model operations implemented", service, len(implemented), len(model.Operations))
	if len(missing) > 0 {
		t.Logf("not implemented yet (not a failure): %s", strings.Join(missing, ", "))
	}
	for _, op := range implemented {
		if model.Operations[op] == nil {
			t.Logf("%s is served but not in botocore's model (an extension)", op)
		}
	}

	id, secret, _ := srv.RootCredentials()
	client := &Client{Model: model, Endpoint: srv.Endpoint(), Region: "us-east-1",
		Creds: aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, server.DBFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	bases := map[string][]byte{}
	t.Run("happy path", func(t *testing.T) {
		bases = runScript(t, client, script, implemented, quirks)
	})
	t.Run("missing required members", func(t *testing.T) {
		for _, op := range implemented {
			o := model.Operations[op]
			if o == nil || o.Input == nil {
				continue
			}
			base, ok := bases[op]
			if !ok {
				base, _ = json.Marshal(model.Synthesize(o.Input.Shape))
			}
			allowed := model.AllowedMissingMemberErrors(op)
			for _, member := range model.RequiredInputs(op) {
				body, err := WithoutMember(base, member)
				if err != nil {
					t.Fatalf("%s: base request is not an object: %v", op, err)
				}
				before, err := Snapshot(t.Context(), db)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Call(t.Context(), op, body)
				if err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				after, err := Snapshot(t.Context(), db)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case resp.Status == 200:
					t.Errorf("%s without %s succeeded: %s", op, member, resp.Body)
				case !contains(allowed, resp.ErrorType):
					t.Errorf("%s without %s: error %q is not one the model lists %v (body %s)", op, member, resp.ErrorType, allowed, resp.Body)
				}
				if before != after {
					t.Errorf("%s without %s changed the store", op, member)
				}
			}
		}
	})
}

// runScript runs a happy path, checks every answer against the model and
// returns each operation's first request body, to be reused as the base of
// the missing-member checks.
func runScript(t *testing.T, c *Client, script []Step, implemented []string, quirks Quirks) map[string][]byte {
	vars := map[string]string{}
	bases := map[string][]byte{}
	covered := map[string]bool{}
	for i, st := range script {
		if !contains(implemented, st.Op) {
			continue
		}
		body, missing := st.Expand(vars)
		if missing != "" {
			t.Logf("step %d %s skipped: ${%s} was not captured", i, st.Op, missing)
			continue
		}
		// Compact the script's readable JSON to what a client would send.
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("step %d %s: script body is not JSON: %v", i, st.Op, err)
		}
		raw, _ := json.Marshal(v)
		if _, seen := bases[st.Op]; !seen {
			bases[st.Op] = raw
		}
		resp, err := c.Call(t.Context(), st.Op, raw)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, st.Op, err)
		}
		if resp.Status != 200 {
			modelled := contains(c.Model.ErrorNames(st.Op), resp.ErrorType)
			switch {
			case st.MayRefuse && modelled:
				t.Logf("step %d %s: refused with %s (allowed for now): %s", i, st.Op, resp.ErrorType, resp.Body)
			case st.MayRefuse:
				t.Errorf("step %d %s: refused with %q, which the model does not list: %s", i, st.Op, resp.ErrorType, resp.Body)
			default:
				t.Errorf("step %d %s failed: %d %s", i, st.Op, resp.Status, resp.Body)
			}
			continue
		}
		covered[st.Op] = true
		for _, p := range c.Model.CheckOutput(st.Op, resp.Body, quirks) {
			t.Errorf("step %d %s: %s", i, st.Op, p)
		}
		if len(st.Capture) > 0 {
			var out any
			json.Unmarshal(resp.Body, &out)
			for name, member := range st.Capture {
				if s, ok := lookup(out, member); ok {
					vars[name] = s
				}
			}
		}
	}
	var uncovered []string
	for _, op := range implemented {
		if !covered[op] {
			uncovered = append(uncovered, op)
		}
	}
	if len(uncovered) > 0 {
		t.Logf("responses not checked (no successful happy-path call): %s", strings.Join(uncovered, ", "))
	}
	return bases
}
