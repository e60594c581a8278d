package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

const (
	fn    = "echo"
	alias = "live"
	hook  = "hook"
	app   = "echo-app"
	group = "echo-live"
)

// TestLambdaDeployments: the echo function is created and published as
// versions 1 and 2 with the AWS CLI; a deployment whose hook function
// rejects it is rolled back (alias back on 1), a LambdaCanary deployment
// approved by the same hook function moves the alias in two steps that
// invocations follow, the hook function validates an ECS deployment, and
// bad input through the CLI answers AWS's errors.
func TestLambdaDeployments(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	e.setUp()
	t.Logf("functions, alias, application and group set up with the AWS CLI in %v", time.Since(start).Round(time.Millisecond))
	for _, st := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"RejectedByHookRollsBack", e.rejected},
		{"CanaryFollowsWeights", e.canary},
		{"HookValidatesECSDeployment", e.ecsHook},
		{"BadInput", e.badInput},
	} {
		if !t.Run(st.name, st.run) {
			return
		}
	}
}

// setUp creates the echo function (version 1 from the first zip, version
// 2 from the second), the alias on 1, the hook function, and the
// CodeDeploy application and deployment group, all with the AWS CLI.
func (e *env) setUp() {
	e.t.Helper()
	e.createFunction(fn, art.echoV1, nil)
	if v := e.aws("lambda", "publish-version", "--function-name", fn, "--query", "Version", "--output", "text"); v != "1" {
		e.t.Fatalf("publish-version: %q, want 1", v)
	}
	e.aws("lambda", "update-function-code", "--function-name", fn, "--zip-file", "fileb://"+art.echoV2)
	if v := e.aws("lambda", "publish-version", "--function-name", fn, "--query", "Version", "--output", "text"); v != "2" {
		e.t.Fatalf("publish-version: %q, want 2", v)
	}
	e.aws("lambda", "create-alias", "--function-name", fn, "--name", alias, "--function-version", "1")
	e.createFunction(hook, art.hook, map[string]string{"HOOK_RECORD": e.hookRecord})

	e.aws("deploy", "create-application", "--application-name", app, "--compute-platform", "Lambda")
	e.aws("deploy", "create-deployment-group", "--application-name", app, "--deployment-group-name", group,
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy",
		"--deployment-config-name", "CodeDeployDefault.LambdaCanary10Percent5Minutes",
		"--deployment-style", "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
		"--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE")

	if got := e.invokeVersions(fn, alias, 20); got["1"] != 20 {
		e.t.Fatalf("before any deployment the alias answers %v, want only version 1", got)
	}
}

func (e *env) createDeployment(spec any, extra ...string) string {
	e.t.Helper()
	args := append([]string{"deploy", "create-deployment", "--application-name", app, "--deployment-group-name", group,
		"--revision", appSpecRevision(spec), "--query", "deploymentId", "--output", "text"}, extra...)
	return e.aws(args...)
}

// rejected: all at once to version 2, then the AfterAllowTraffic hook
// function reads the deployment's description and fails the hook; the
// deployment fails and is rolled back to version 1.
func (e *env) rejected(t *testing.T) {
	defer e.use(t)()
	id := e.createDeployment(lambdaAppSpec(fn, alias, "1", "2", map[string]string{"AfterAllowTraffic": hook}),
		"--deployment-config-name", "CodeDeployDefault.LambdaAllAtOnce", "--description", "release 2, hook:reject")
	d := e.waitEnded(id, time.Minute)
	events := e.lifecycle(id)
	if d.Status != cdtypes.DeploymentStatusFailed || d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeHookExecutionFailure {
		t.Fatalf("deployment %s: %s %+v, want Failed with HOOK_EXECUTION_FAILURE; lifecycle: %s", id, d.Status, d.ErrorInformation, events)
	}
	// The traffic had moved before the hook said no.
	if !strings.Contains(events, "AllowTraffic=Succeeded") || !strings.Contains(events, "AfterAllowTraffic=Failed") {
		t.Errorf("lifecycle of %s: %s, want AllowTraffic Succeeded then AfterAllowTraffic Failed", id, events)
	}
	if v := e.verdicts()[id]; len(v) != 1 || v[0] != "Failed" {
		t.Errorf("the hook function reported %v for %s, want [Failed]", v, id)
	}
	if d.RollbackInfo == nil || aws.ToString(d.RollbackInfo.RollbackDeploymentId) == "" {
		t.Fatalf("deployment %s has no rollback: %+v", id, d.RollbackInfo)
	}
	rb := aws.ToString(d.RollbackInfo.RollbackDeploymentId)
	r := e.waitEnded(rb, time.Minute)
	if r.Status != cdtypes.DeploymentStatusSucceeded || r.Creator != cdtypes.DeploymentCreatorCodeDeployRollback {
		t.Fatalf("rollback %s: %s by %s, want Succeeded by codeDeployRollback; lifecycle: %s", rb, r.Status, r.Creator, e.lifecycle(rb))
	}
	if v, extra := e.alias(fn, alias); v != "1" || len(extra) != 0 {
		t.Fatalf("after the rollback the alias is on %s %v, want 1 alone", v, extra)
	}
	if got := e.invokeVersions(fn, alias, 20); got["1"] != 20 {
		t.Fatalf("after the rollback the alias answers %v, want only version 1", got)
	}
}

// canary: CodeDeployDefault.LambdaCanary10Percent5Minutes (five seconds
// at the test's time scale) with both hooks approving. During the canary
// about a tenth of the invocations through the alias reach version 2,
// then all of them do.
func (e *env) canary(t *testing.T) {
	defer e.use(t)()
	id := e.createDeployment(lambdaAppSpec(fn, alias, "1", "2", map[string]string{"BeforeAllowTraffic": hook, "AfterAllowTraffic": hook}),
		"--description", "release 2")

	// Wait for the canary step, then sample it.
	deadline := time.Now().Add(time.Minute)
	for {
		v, extra := e.alias(fn, alias)
		if v == "1" && extra["2"] == 0.1 {
			break
		}
		if v != "1" || len(extra) > 0 || time.Now().After(deadline) {
			t.Fatalf("waiting for the canary: alias on %s %v; deployment %s; lifecycle: %s", v, extra, e.deployment(id).Status, e.lifecycle(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	const n = 300
	sampleStart := time.Now()
	got := e.invokeVersions(fn, alias, n)
	took := time.Since(sampleStart)
	if v, extra := e.alias(fn, alias); v != "1" || extra["2"] != 0.1 {
		t.Fatalf("the canary ended while %d invocations were sampled (%v); alias now on %s %v", n, took, v, extra)
	}
	// 10 % of 300 is 30 with a standard deviation of about 5.2: [10, 55]
	// fails a correct router once in many millions of runs.
	if got["2"] < 10 || got["2"] > 55 || got["1"]+got["2"] != n {
		t.Fatalf("during the canary %d invocations through the alias reached %v, want about 10 %% version 2", n, got)
	}
	t.Logf("canary: %d invocations in %v through the alias: %v", n, took.Round(time.Millisecond), got)

	d := e.waitEnded(id, time.Minute)
	if d.Status != cdtypes.DeploymentStatusSucceeded {
		t.Fatalf("deployment %s: %s %+v; lifecycle: %s", id, d.Status, d.ErrorInformation, e.lifecycle(id))
	}
	if v, extra := e.alias(fn, alias); v != "2" || len(extra) != 0 {
		t.Fatalf("after the deployment the alias is on %s %v, want 2 alone", v, extra)
	}
	if got := e.invokeVersions(fn, alias, 50); got["2"] != 50 {
		t.Fatalf("after the deployment the alias answers %v, want only version 2", got)
	}
	if v := e.verdicts()[id]; len(v) != 2 || v[0] != "Succeeded" || v[1] != "Succeeded" {
		t.Errorf("the hook function reported %v for %s, want Succeeded for both hooks", v, id)
	}
	var lt struct {
		DeploymentTarget struct {
			LambdaTarget struct {
				Status             string `json:"status"`
				LambdaFunctionInfo struct {
					FunctionAlias       string  `json:"functionAlias"`
					CurrentVersion      string  `json:"currentVersion"`
					TargetVersion       string  `json:"targetVersion"`
					TargetVersionWeight float64 `json:"targetVersionWeight"`
				} `json:"lambdaFunctionInfo"`
			} `json:"lambdaTarget"`
		} `json:"deploymentTarget"`
	}
	target := e.aws("deploy", "list-deployment-targets", "--deployment-id", id, "--query", "targetIds[0]", "--output", "text")
	out := e.aws("deploy", "get-deployment-target", "--deployment-id", id, "--target-id", target)
	if err := json.Unmarshal([]byte(out), &lt); err != nil {
		t.Fatal(err)
	}
	l := lt.DeploymentTarget.LambdaTarget
	if f := l.LambdaFunctionInfo; l.Status != "Succeeded" || f.TargetVersionWeight != 1 || f.FunctionAlias != alias || f.CurrentVersion != "1" || f.TargetVersion != "2" {
		t.Errorf("get-deployment-target: %s", out)
	}
}

// badInput: what AWS refuses through the CLI, and that nothing changed.
func (e *env) badInput(t *testing.T) {
	defer e.use(t)()
	e.awsFails("InvalidParameterValueException", "lambda", "create-function", "--function-name", "broken", "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", e.role, "--zip-file", "fileb://"+art.escaping)
	// The CLI refuses to send what is no zip at all; the SDK sends it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.lambda.CreateFunction(ctx, &lsdk.CreateFunctionInput{FunctionName: aws.String("broken"), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Role: aws.String(e.role), Code: &ltypes.FunctionCode{ZipFile: []byte("this is not a zip archive")}})
	var re *awshttp.ResponseError
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValueException" || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("CreateFunction with bytes that are no zip: %v, want InvalidParameterValueException (400)", err)
	}
	e.awsFails("ResourceNotFoundException", "lambda", "get-function", "--function-name", "broken")

	// A zip without bootstrap is accepted; invoking it is the function's
	// error, as in AWS.
	e.createFunction("nobootstrap", art.noBootstrap, nil)
	outFile := filepath.Join(e.work, "nobootstrap.json")
	meta := e.aws("lambda", "invoke", "--function-name", "nobootstrap", "--payload", "{}", outFile)
	payload, _ := os.ReadFile(outFile)
	if !strings.Contains(meta, `"FunctionError": "Unhandled"`) || !strings.Contains(string(payload), "Runtime.InvalidEntrypoint") {
		t.Errorf("invoking a function without bootstrap: %s %s", meta, payload)
	}

	e.awsFails("ResourceNotFoundException", "lambda", "invoke", "--function-name", fn, "--qualifier", "7", "--payload", "{}", outFile)
	e.awsFails("ResourceNotFoundException", "lambda", "invoke", "--function-name", fn, "--qualifier", "nosuchalias", "--payload", "{}", outFile)
	e.awsFails("ResourceNotFoundException", "lambda", "get-alias", "--function-name", fn, "--name", "nosuchalias")
	e.awsFails("ValidationException", "lambda", "update-alias", "--function-name", fn, "--name", alias,
		"--routing-config", `{"AdditionalVersionWeights":{"1":1.5}}`)
	e.awsFails("ResourceConflictException", "lambda", "create-alias", "--function-name", fn, "--name", alias, "--function-version", "1")
	e.awsFails("InvalidParameterValueException", "lambda", "update-alias", "--function-name", fn, "--name", alias,
		"--routing-config", `{"AdditionalVersionWeights":{"2":0.5}}`)
	if v, extra := e.alias(fn, alias); v != "2" || len(extra) != 0 {
		t.Errorf("bad input changed the alias: on %s %v, want 2 alone", v, extra)
	}

	// A deployment naming a version that does not exist is refused.
	e.awsFails("InvalidRevisionException", "deploy", "create-deployment", "--application-name", app, "--deployment-group-name", group,
		"--revision", appSpecRevision(lambdaAppSpec(fn, alias, "2", "9", nil)))
}
