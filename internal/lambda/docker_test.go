package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

// dockerLauncher connects to the daemon of test/dockerd.sh, or skips.
func dockerLauncher(t *testing.T) (*DockerLauncher, *client.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: runs containers")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Skipf("no Docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		t.Skip("no Docker daemon answers: run test/dockerd.sh (as root)")
	}
	t.Cleanup(func() { cli.Close() })
	owner := "lambda-test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + time.Now().Format("150405.000000")
	d, err := NewDockerLauncher(context.Background(), DockerOptions{Client: cli, Owner: owner, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, cli, owner
}

// pushEchoImage serves a registry on 127.0.0.1 (Docker pulls from
// loopback registries over plain HTTP) and pushes a FROM-scratch image
// whose only file is the static echo bootstrap, with entrypoint as its
// ENTRYPOINT (none: an image that says nothing to run), as tag.
func pushEchoImage(t *testing.T, cli *client.Client, tag string, entrypoint ...string) string {
	t.Helper()
	reg, err := ecstest.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	if len(entrypoint) == 0 {
		entrypoint = nil
	}
	ref, err := reg.PushBinary(echoBootstrap(t), "bootstrap", "echo", tag, entrypoint, map[string]string{"ECHO_FROM_IMAGE": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	})
	return ref
}

// ownedContainers counts the containers labelled with owner.
func ownedContainers(t *testing.T, cli *client.Client, owner string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelDockerOwner+"="+owner)})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// TestDockerImageFunction runs a PackageType Image function in Docker
// through the API: the image's entry point reaches the environment's
// Runtime API from its container, gets the environment a zip function
// gets (with the image's own variables and LAMBDA_TASK_ROOT=/var/task),
// is reused warm, and a crash is Runtime.ExitError with its exit status.
// Closing the service leaves no container.
func TestDockerImageFunction(t *testing.T) {
	d, cli, owner := dockerLauncher(t)
	ref := pushEchoImage(t, cli, "v1", "/bootstrap")
	e := newEnv(t, envOpts{images: d})
	if _, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{
		FunctionName: aws.String("img"), Role: aws.String(testRole), PackageType: types.PackageTypeImage,
		Code: &types.FunctionCode{ImageUri: aws.String(ref)}, Environment: &types.Environment{Variables: map[string]string{"ECHO_FROM": "docker"}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("img"), Payload: []byte(`{"message":"hi","log":"from-container"}`), LogType: types.LogTypeTail})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("Invoke: %v %s", err, out.Payload)
	}
	var r echoReply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("%s: %v", out.Payload, err)
	}
	for k, want := range map[string]string{
		"ECHO_FROM": "docker", "ECHO_FROM_IMAGE": "yes", "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "img",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_ENDPOINT_URL": "http://cutover.test:8080", "AWS_REGION": testRegion,
	} {
		if r.Env[k] != want {
			t.Errorf("%s=%q in the container, want %q", k, r.Env[k], want)
		}
	}
	if r.Event.Message != "hi" || r.Version != "$LATEST" {
		t.Errorf("reply: %s", out.Payload)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil || !strings.HasPrefix(string(logs), "START RequestId: ") || !strings.Contains(string(logs), "REPORT RequestId: ") {
		t.Errorf("log tail: %q %v", logs, err)
	}
	if n := ownedContainers(t, cli, owner); n != 1 {
		t.Errorf("%d containers after one invocation, want 1", n)
	}
	second := e.invoke("img", "", `{}`)
	warm := reply(t, second)
	// The daemon delivers a container's output asynchronously: a line may
	// be framed with a later invocation's log rather than its own (on a
	// loaded machine, more than one later), so keep invoking for a while.
	seen := string(logs) + string(second.Log)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) &&
		!(strings.Contains(seen, "\nfrom-container\n") && strings.Contains(seen, "\nstderr:from-container\n")); {
		time.Sleep(100 * time.Millisecond)
		seen += string(e.invoke("img", "", `{}`).Log)
	}
	for _, line := range []string{"\nfrom-container\n", "\nstderr:from-container\n"} {
		if !strings.Contains(seen, line) {
			t.Errorf("the container's output %q is in no invocation's log: %q", line, seen)
		}
	}
	if warm.PID != r.PID {
		t.Errorf("the second invocation ran in pid %d, the first in %d: want the warm container", warm.PID, r.PID)
	}
	crash := failure(t, e.invoke("img", "", `{"mode":"exit"}`))
	if crash.ErrorType != "Runtime.ExitError" || !strings.Contains(crash.ErrorMessage, "exit status 3") {
		t.Errorf("a crash in the container: %+v, want Runtime.ExitError with exit status 3", crash)
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if n := ownedContainers(t, cli, owner); n != 0 {
		t.Errorf("%d containers after Close, want 0", n)
	}
}

// TestDockerLauncherRemovesLeftovers: a new launcher of the same owner
// removes containers a previous run left behind.
func TestDockerLauncherRemovesLeftovers(t *testing.T) {
	d, cli, owner := dockerLauncher(t)
	ref := pushEchoImage(t, cli, "v1", "/bootstrap")
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, err := d.Launch(context.Background(), LaunchSpec{FunctionName: "left", Version: "1", Image: ref, Env: []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:1"}, MemoryMB: 128, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if n := ownedContainers(t, cli, owner); n != 1 {
		t.Fatalf("%d containers after a launch, want 1", n)
	}
	again, err := NewDockerLauncher(context.Background(), DockerOptions{Client: cli, Owner: owner, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := ownedContainers(t, cli, owner); n != 0 {
		t.Errorf("%d containers after a new launcher started, want 0", n)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return for a removed container")
	}
	if err := p.Kill(); err != nil {
		t.Errorf("Kill of a removed container: %v", err)
	}
}

// TestDockerImageWithoutEntrypoint: an image that names nothing to run is
// the function's Runtime.InvalidEntrypoint, and leaves no container.
func TestDockerImageWithoutEntrypoint(t *testing.T) {
	d, cli, owner := dockerLauncher(t)
	ref := pushEchoImage(t, cli, "noentry")
	e := newEnv(t, envOpts{images: d})
	if _, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{
		FunctionName: aws.String("noentry"), Role: aws.String(testRole), PackageType: types.PackageTypeImage,
		Code: &types.FunctionCode{ImageUri: aws.String(ref)},
	}); err != nil {
		t.Fatal(err)
	}
	if f := failure(t, e.invoke("noentry", "", `{}`)); f.ErrorType != "Runtime.InvalidEntrypoint" {
		t.Errorf("invoking an image without entry point: %+v, want Runtime.InvalidEntrypoint", f)
	}
	if n := ownedContainers(t, cli, owner); n != 0 {
		t.Errorf("%d containers left, want 0", n)
	}
}
