// Package lambda_test runs CodeDeploy Lambda deployments end to end with
// real parts: a `cutover server` process built from ./cmd/cutover, the AWS
// CLI for the control plane, functions written with aws-lambda-go built for
// provided.al2023 and zipped as one would for AWS, and a hook function that
// answers CodeDeploy with the Go SDK from inside the function.
//
// -short skips everything; so does a missing AWS CLI.
package lambda_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// artifacts are built once by TestMain.
type artifacts struct {
	bins ecstest.Bins
	// Zips of the echo function: v1 and v2 differ by a file, so that
	// update-function-code changes the code's SHA-256.
	echoV1, echoV2 string
	hook           string
	noBootstrap    string
	// escaping is a readable zip (the CLI checks that much before
	// sending) whose entry would land outside the task root.
	escaping string
}

var (
	art      artifacts
	buildErr error
)

func TestMain(m *testing.M) {
	ecstest.Main(m, "test/lambda", func(dir string) { art, buildErr = build(dir) })
}

// build makes the server, the versionserver (for the ECS service) and
// the function zips, each bootstrap built as AWS's provided.al2023
// runtime wants it.
func build(dir string) (artifacts, error) {
	bins, err := ecstest.Build(dir)
	if err != nil {
		return artifacts{}, err
	}
	root, err := ecstest.ModuleRoot()
	if err != nil {
		return artifacts{}, err
	}
	a := artifacts{bins: bins}
	bootstrap := func(pkg string) ([]byte, error) {
		out := filepath.Join(dir, filepath.Base(pkg), "bootstrap")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./"+pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return os.ReadFile(out)
	}
	echo, err := bootstrap("test/testdata/lambda/echo")
	if err != nil {
		return artifacts{}, err
	}
	hook, err := bootstrap("test/testdata/lambda/hook")
	if err != nil {
		return artifacts{}, err
	}
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, b, 0o644)
	}
	if a.echoV1, err = write("echo-v1.zip", zipOf(map[string][]byte{"bootstrap": echo, "release.txt": []byte("1\n")})); err != nil {
		return artifacts{}, err
	}
	if a.echoV2, err = write("echo-v2.zip", zipOf(map[string][]byte{"bootstrap": echo, "release.txt": []byte("2\n")})); err != nil {
		return artifacts{}, err
	}
	if a.hook, err = write("hook.zip", zipOf(map[string][]byte{"bootstrap": hook})); err != nil {
		return artifacts{}, err
	}
	if a.noBootstrap, err = write("no-bootstrap.zip", zipOf(map[string][]byte{"handler.py": []byte("def handler(e, c): return e\n")})); err != nil {
		return artifacts{}, err
	}
	if a.escaping, err = write("escaping.zip", zipOf(map[string][]byte{"../bootstrap": echo})); err != nil {
		return artifacts{}, err
	}
	return a, nil
}

// zipOf zips files at the archive's root, executable as a bootstrap must
// be. Writing to memory cannot fail but for a programming error.
func zipOf(files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// timeScale makes a minute last one second: the five minutes of
// CodeDeployDefault.LambdaCanary10Percent5Minutes last five.
const timeScale = 60

// env is one cutover server on the process runtime with the clients the
// tests use; the control plane goes through the AWS CLI, the polling and
// the many invocations through the Go SDK.
type env struct {
	t      *testing.T
	work   string
	srv    *ecstest.Server
	cd     *codedeploy.Client
	lambda *lsdk.Client
	role   string
	// hookRecord is where the hook function writes its verdicts.
	hookRecord string
}

func newEnv(t *testing.T) *env {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	e := &env{t: t, work: t.TempDir()}
	e.hookRecord = filepath.Join(e.work, "hook-verdicts.txt")
	srv, err := ecstest.StartServer(context.Background(), ecstest.ServerOptions{
		Bin: art.bins.Cutover, DataDir: filepath.Join(e.work, "data"), Runtime: "process", TimeScale: timeScale,
		LogPath: filepath.Join(e.work, "server.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.role = "arn:aws:iam::" + srv.AccountID + ":role/lambda-exec"
	t.Cleanup(func() {
		if err := srv.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log (last 80 lines):\n%s", srv.LogTail(80))
		}
	})
	cfg := srv.AWSConfig()
	e.cd = codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	e.lambda = lsdk.NewFromConfig(cfg, func(o *lsdk.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	return e
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
	out, err := e.awsErr(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) awsErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return e.srv.CLI(ctx, args...)
}

// awsFails runs the AWS CLI, which must fail with the error code code.
func (e *env) awsFails(code string, args ...string) string {
	e.t.Helper()
	out, err := e.awsErr(args...)
	var ce *ecstest.CLIError
	if !errors.As(err, &ce) {
		e.t.Fatalf("aws %s: want %s, got success: %s", strings.Join(args, " "), code, out)
	}
	if !strings.Contains(ce.Stderr, "("+code+")") {
		e.t.Fatalf("aws %s: want (%s), got: %s", strings.Join(args, " "), code, ce.Stderr)
	}
	return ce.Stderr
}

// createFunction creates a provided.al2023 function from a zip with the
// AWS CLI. The timeout is Lambda's longest: the server's clock runs
// timeScale times faster, and a function's timeout is on that clock.
func (e *env) createFunction(name, zipPath string, vars map[string]string) {
	e.t.Helper()
	args := []string{"lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", e.role, "--zip-file", "fileb://" + zipPath, "--timeout", "900"}
	if len(vars) > 0 {
		b, _ := json.Marshal(map[string]any{"Variables": vars})
		args = append(args, "--environment", string(b))
	}
	e.aws(args...)
}

// echoReply is what the echo function answers (the fields used here).
type echoReply struct {
	Version string `json:"version"`
	ARN     string `json:"arn"`
}

// invokeVersions invokes function:qualifier n times with the Go SDK and
// counts the versions that answered, by the function's own word and by
// X-Amz-Executed-Version, which must agree.
func (e *env) invokeVersions(function, qualifier string, n int) map[string]int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		out, err := e.lambda.Invoke(ctx, &lsdk.InvokeInput{FunctionName: aws.String(function), Qualifier: aws.String(qualifier), Payload: []byte(`{}`)})
		if err != nil {
			e.t.Fatalf("invoke %s:%s: %v", function, qualifier, err)
		}
		var r echoReply
		if out.FunctionError != nil || json.Unmarshal(out.Payload, &r) != nil {
			e.t.Fatalf("invoke %s:%s: function error %v: %s", function, qualifier, aws.ToString(out.FunctionError), out.Payload)
		}
		if r.Version != aws.ToString(out.ExecutedVersion) {
			e.t.Fatalf("invoke %s:%s: the function ran as version %s, X-Amz-Executed-Version says %s", function, qualifier, r.Version, aws.ToString(out.ExecutedVersion))
		}
		got[r.Version]++
	}
	return got
}

// alias reads an alias's version and the weight of its additional version.
func (e *env) alias(function, name string) (version string, extra map[string]float64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.lambda.GetAlias(ctx, &lsdk.GetAliasInput{FunctionName: aws.String(function), Name: aws.String(name)})
	if err != nil {
		e.t.Fatalf("GetAlias %s:%s: %v", function, name, err)
	}
	if out.RoutingConfig != nil {
		extra = out.RoutingConfig.AdditionalVersionWeights
	}
	return aws.ToString(out.FunctionVersion), extra
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

func ended(d *cdtypes.DeploymentInfo) bool {
	switch d.Status {
	case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
		return true
	}
	return false
}

// waitEnded polls a deployment until it is Succeeded, Failed or Stopped.
func (e *env) waitEnded(id string, timeout time.Duration) *cdtypes.DeploymentInfo {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := e.deployment(id)
		if ended(d) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deployment %s still %s after %v; lifecycle: %s", id, d.Status, timeout, e.lifecycle(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lifecycle lists the lifecycle events of a deployment's one target as
// "name=status" (with diagnostics), Lambda or ECS alike.
func (e *env) lifecycle(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := e.cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil || len(ids.TargetIds) != 1 {
		return fmt.Sprintf("(targets: %v %v)", ids, err)
	}
	out, err := e.cd.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String(ids.TargetIds[0])})
	if err != nil || out.DeploymentTarget == nil {
		return fmt.Sprintf("(no target: %v)", err)
	}
	var events []cdtypes.LifecycleEvent
	switch t := out.DeploymentTarget; {
	case t.LambdaTarget != nil:
		events = t.LambdaTarget.LifecycleEvents
	case t.EcsTarget != nil:
		events = t.EcsTarget.LifecycleEvents
	}
	var parts []string
	for _, ev := range events {
		s := fmt.Sprintf("%s=%s", aws.ToString(ev.LifecycleEventName), ev.Status)
		if ev.Diagnostics != nil && aws.ToString(ev.Diagnostics.Message) != "" {
			s += fmt.Sprintf("(%s)", aws.ToString(ev.Diagnostics.Message))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// verdicts reads what the hook function recorded: deployment id → the
// statuses it reported, in order.
func (e *env) verdicts() map[string][]string {
	b, err := os.ReadFile(e.hookRecord)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	v := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			v[f[0]] = append(v[f[0]], f[2])
		}
	}
	return v
}

// appSpecRevision is a revision argument for create-deployment with the
// AppSpec inline.
func appSpecRevision(spec any) string {
	content, _ := json.Marshal(spec)
	b, _ := json.Marshal(map[string]any{"revisionType": "AppSpecContent", "appSpecContent": map[string]string{"content": string(content)}})
	return string(b)
}

// lambdaAppSpec is a Lambda AppSpec moving function's alias from current
// to target, with hooks (event → function).
func lambdaAppSpec(function, alias, current, target string, hooks map[string]string) any {
	spec := map[string]any{
		"version": 0.0,
		"Resources": []any{map[string]any{"fn": map[string]any{
			"Type": "AWS::Lambda::Function",
			"Properties": map[string]string{
				"Name": function, "Alias": alias, "CurrentVersion": current, "TargetVersion": target,
			},
		}}},
	}
	var hs []any
	for ev, fn := range hooks {
		hs = append(hs, map[string]string{ev: fn})
	}
	if len(hs) > 0 {
		spec["Hooks"] = hs
	}
	return spec
}
