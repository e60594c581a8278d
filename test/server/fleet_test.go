// Package server_test runs in-place deployments to servers end to end: the
// real `cutover server`, three `cutover agent` processes with root
// directories and on-premises identities of their own, a bundle pushed
// with the AWS CLI, and the built-in load balancer in front of the hosts.
package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

var (
	bins     ecstest.Bins
	buildErr error
)

func TestMain(m *testing.M) {
	ecstest.Main(m, "test/server", func(dir string) { bins, buildErr = ecstest.Build(dir) })
}

// host is one agent process and the application port it serves on.
type host struct {
	name, arn, key, secret string
	dir                    string // root of the agent's files and of the app's pid file
	port                   int
	cmd                    *exec.Cmd
}

type env struct {
	t     *testing.T
	srv   *ecstest.Server
	cd    *codedeploy.Client
	hosts []*host
}

func (e *env) aws(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := e.srv.CLI(ctx, args...)
	if err != nil {
		e.t.Fatalf("%v\nserver log:\n%s", err, e.srv.LogTail(30))
	}
	return out
}

// start starts the server with an access key per host in its credentials
// file (the keys agents sign with, bound to their IAM user ARNs).
func start(t *testing.T, n int) *env {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t}
	var creds strings.Builder
	ports := ecstest.FreePorts(t, n)
	for i := range n {
		h := &host{name: fmt.Sprintf("h%d", i+1), key: "AKIAHOST" + strings.ToUpper(ecstest.RandomHex(6)), secret: ecstest.RandomHex(20),
			dir: filepath.Join(tmp, fmt.Sprintf("h%d", i+1)), port: ports[i]}
		if err := os.MkdirAll(h.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&creds, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\niam_user_arn = arn:aws:iam::%s:user/%s\n\n", h.name, h.key, h.secret, "ACCOUNT", h.name)
		e.hosts = append(e.hosts, h)
	}
	account := ecstest.RandomAccountID()
	for _, h := range e.hosts {
		h.arn = "arn:aws:iam::" + account + ":user/" + h.name
	}
	if err := os.WriteFile(filepath.Join(dataDir, "credentials"), []byte(strings.ReplaceAll(creds.String(), "ACCOUNT", account)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := ecstest.StartServer(ctx, ecstest.ServerOptions{Bin: bins.Cutover, DataDir: dataDir, Runtime: "none", TimeScale: 10, AccountID: account})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() {
		for _, h := range e.hosts {
			h.stop()
		}
		srv.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("server log:\n%s", srv.LogTail(60))
		}
	})
	e.cd = codedeploy.NewFromConfig(srv.AWSConfig(), func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	for _, h := range e.hosts {
		e.aws("deploy", "register-on-premises-instance", "--instance-name", h.name, "--iam-user-arn", h.arn)
		e.aws("deploy", "add-tags-to-on-premises-instances", "--instance-names", h.name,
			"--tags", "Key=fleet,Value=web", fmt.Sprintf("Key=cutover:target,Value=127.0.0.1:%d", h.port))
		onprem := fmt.Sprintf("aws_access_key_id: %s\naws_secret_access_key: %s\niam_user_arn: %s\nregion: us-east-1\n", h.key, h.secret, h.arn)
		if err := os.WriteFile(filepath.Join(h.dir, "codedeploy.onpremises.yml"), []byte(onprem), 0o600); err != nil {
			t.Fatal(err)
		}
		e.startAgent(h)
	}
	return e
}

// startAgent runs `cutover agent` for h; its scripts find the host's port,
// directory and the application binary in their environment.
func (e *env) startAgent(h *host) {
	e.t.Helper()
	cmd := exec.Command(bins.Cutover, "agent", "--endpoint", e.srv.Endpoint, "--s3-endpoint", e.srv.Endpoint,
		"--root-dir", filepath.Join(h.dir, "root"), "--log-dir", filepath.Join(h.dir, "log"),
		"--on-premises-config", filepath.Join(h.dir, "codedeploy.onpremises.yml"), "--wait-between-runs", "100ms", "--shutdown-grace", "5s")
	cmd.Env = append(os.Environ(), "HOST_DIR="+h.dir, fmt.Sprintf("HOST_PORT=%d", h.port), "APP_BIN="+bins.VersionServer)
	logf, err := os.OpenFile(filepath.Join(h.dir, "agent.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	logf.Close()
	h.cmd = cmd
}

func (h *host) stop() {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
	h.cmd = nil
}

func (h *host) kill() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
	h.cmd = nil
}

// bundle is a tgz revision whose ApplicationStart runs the versionserver
// (version v) on the host's port, ApplicationStop stops it, and
// ValidateService fails on a host holding a file named fail-validate.
func bundle(t *testing.T, version string) []byte {
	files := map[string]string{
		"appspec.yml": `version: 0.0
os: linux
hooks:
  ApplicationStop:
    - location: scripts/stop.sh
      timeout: 30
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 30
  ValidateService:
    - location: scripts/validate.sh
      timeout: 30
`,
		"VERSION": version,
		"scripts/stop.sh": `#!/bin/bash
pidfile="$HOST_DIR/app.pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
kill "$pid" 2>/dev/null
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
rm -f "$pidfile"
echo "stopped $pid"
`,
		"scripts/start.sh": `#!/bin/bash
dir=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(cat "$dir/VERSION") PORT=$HOST_PORT setsid "$APP_BIN" >/dev/null 2>&1 </dev/null &
echo $! > "$HOST_DIR/app.pid"
for i in $(seq 100); do
  (echo > /dev/tcp/127.0.0.1/$HOST_PORT) 2>/dev/null && { echo "serving on $HOST_PORT"; exit 0; }
  sleep 0.05
done
echo "the application did not start" >&2
exit 1
`,
		"scripts/validate.sh": `#!/bin/bash
if [ -f "$HOST_DIR/fail-validate" ]; then
  echo "validation fails on purpose on $HOST_PORT" >&2
  exit 3
fi
echo "valid"
`,
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		mode := int64(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// push uploads a bundle with the AWS CLI.
func (e *env) push(version string) string {
	e.t.Helper()
	key := "app-" + version + ".tgz"
	path := filepath.Join(e.t.TempDir(), key)
	if err := os.WriteFile(path, bundle(e.t, version), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.aws("s3", "cp", path, "s3://bundles/"+key)
	return key
}

func (e *env) deploy(group, key, config string) string {
	e.t.Helper()
	args := []string{"deploy", "create-deployment", "--application-name", "web", "--deployment-group-name", group,
		"--s3-location", "bucket=bundles,key=" + key + ",bundleType=tgz", "--query", "deploymentId", "--output", "text"}
	if config != "" {
		args = append(args, "--deployment-config-name", config)
	}
	return e.aws(args...)
}

// wait polls the deployment until it ends.
func (e *env) wait(id string, timeout time.Duration) *cdtypes.DeploymentInfo {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := e.cd.GetDeployment(context.Background(), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err != nil {
			e.t.Fatal(err)
		}
		switch out.DeploymentInfo.Status {
		case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
			return out.DeploymentInfo
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("deployment %s did not end within %v\n%s", id, timeout, e.targets(id))
	return nil
}

// targets describes a deployment's instances: "h1=Succeeded ...".
func (e *env) targets(id string) string {
	ctx := context.Background()
	lt, err := e.cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil || len(lt.TargetIds) == 0 {
		return fmt.Sprintf("no targets (%v)", err)
	}
	bt, err := e.cd.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id), TargetIds: lt.TargetIds})
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, t := range bt.DeploymentTargets {
		parts = append(parts, *t.InstanceTarget.TargetId+"="+string(t.InstanceTarget.Status))
	}
	return strings.Join(parts, " ")
}

func (e *env) serving(h *host) string {
	got, _ := ecstest.Versions(fmt.Sprintf("http://127.0.0.1:%d/", h.port), 1)
	for v := range got {
		return v
	}
	return ""
}

func TestServerFleet(t *testing.T) {
	e := start(t, 3)
	e.aws("s3", "mb", "s3://bundles")
	e.aws("deploy", "create-application", "--application-name", "web", "--compute-platform", "Server")
	e.aws("deploy", "create-deployment-group", "--application-name", "web", "--deployment-group-name", "fleet",
		"--service-role-arn", "arn:aws:iam::"+e.srv.AccountID+":role/CodeDeploy",
		"--on-premises-instance-tag-filters", "Key=fleet,Value=web,Type=KEY_AND_VALUE")

	t.Run("one at a time", func(t *testing.T) {
		id := e.deploy("fleet", e.push("v1"), "CodeDeployDefault.OneAtATime")
		d := e.wait(id, 90*time.Second)
		if d.Status != cdtypes.DeploymentStatusSucceeded || d.DeploymentOverview.Succeeded != 3 {
			t.Fatalf("%s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
		}
		for _, h := range e.hosts {
			if v := e.serving(h); v != "v1" {
				t.Fatalf("%s serves %q", h.name, v)
			}
		}
	})
	t.Run("half at a time", func(t *testing.T) {
		id := e.deploy("fleet", e.push("v2"), "CodeDeployDefault.HalfAtATime")
		d := e.wait(id, 90*time.Second)
		if d.Status != cdtypes.DeploymentStatusSucceeded || d.DeploymentOverview.Succeeded != 3 {
			t.Fatalf("%s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
		}
		for _, h := range e.hosts {
			if v := e.serving(h); v != "v2" {
				t.Fatalf("%s serves %q", h.name, v)
			}
		}
	})
	t.Run("failing validation", func(t *testing.T) {
		fail := filepath.Join(e.hosts[1].dir, "fail-validate")
		os.WriteFile(fail, nil, 0o644)
		defer os.Remove(fail)
		id := e.deploy("fleet", e.push("v2b"), "CodeDeployDefault.OneAtATime")
		d := e.wait(id, 90*time.Second)
		if d.Status != cdtypes.DeploymentStatusFailed || d.ErrorInformation.Code != cdtypes.ErrorCodeHealthConstraints {
			t.Fatalf("%s %+v", d.Status, d.ErrorInformation)
		}
		if got := e.targets(id); got != "h1=Succeeded h2=Failed h3=Skipped" {
			t.Fatalf("targets %s", got)
		}
		out := e.aws("deploy", "get-deployment-target", "--deployment-id", id, "--target-id", "h2",
			"--query", "deploymentTarget.instanceTarget.lifecycleEvents[?lifecycleEventName=='ValidateService'].diagnostics | [0]", "--output", "json")
		if !strings.Contains(out, "ScriptFailed") || !strings.Contains(out, "scripts/validate.sh") || !strings.Contains(out, "validation fails on purpose") {
			t.Fatalf("diagnostics %s", out)
		}
		legacy := e.aws("deploy", "list-deployment-instances", "--deployment-id", id, "--instance-status-filter", "Failed", "--output", "text")
		if !strings.Contains(legacy, ":instance/h2") {
			t.Fatalf("list-deployment-instances %s", legacy)
		}
	})
	t.Run("agent restarted mid-deployment", func(t *testing.T) {
		// h3's agent is down when the deployment starts; its commands wait
		// for it, and it takes them once it is back.
		e.hosts[2].kill()
		id := e.deploy("fleet", e.push("v3"), "CodeDeployDefault.OneAtATime")
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && !strings.Contains(e.targets(id), "h2=Succeeded") {
			time.Sleep(100 * time.Millisecond)
		}
		e.startAgent(e.hosts[2])
		d := e.wait(id, 90*time.Second)
		if d.Status != cdtypes.DeploymentStatusSucceeded {
			t.Fatalf("%s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
		}
		if v := e.serving(e.hosts[2]); v != "v3" {
			t.Fatalf("h3 serves %q", v)
		}
	})
	t.Run("behind the load balancer without failed requests", func(t *testing.T) {
		port := ecstest.FreePorts(t, 1)[0]
		tg := e.aws("elbv2", "create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80",
			"--target-type", "ip", "--vpc-id", "vpc-local", "--health-check-path", "/health",
			"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
			"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
			"--query", "TargetGroups[0].TargetGroupArn", "--output", "text")
		e.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", tg, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=2")
		lb := e.aws("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-a", "subnet-b",
			"--query", "LoadBalancers[0].LoadBalancerArn", "--output", "text")
		e.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", fmt.Sprint(port),
			"--default-actions", "Type=forward,TargetGroupArn="+tg)
		var targets []string
		for _, h := range e.hosts {
			targets = append(targets, fmt.Sprintf("Id=127.0.0.1,Port=%d", h.port))
		}
		e.aws(append([]string{"elbv2", "register-targets", "--target-group-arn", tg, "--targets"}, targets...)...)
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if got, _ := ecstest.Versions(url, 10); got["v3"] == 10 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the load balancer does not serve v3")
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The same group (its id is the agents' bookkeeping key, so
		// ApplicationStop runs the last revision's stop script), now with
		// traffic control.
		e.aws("deploy", "update-deployment-group", "--application-name", "web", "--current-deployment-group-name", "fleet",
			"--deployment-style", "deploymentType=IN_PLACE,deploymentOption=WITH_TRAFFIC_CONTROL",
			"--load-balancer-info", "targetGroupInfoList=[{name=web}]")
		key := e.push("v4")
		load := ecstest.StartLoad(url, 4, 20*time.Millisecond, 3*time.Minute, 1_000_000)
		id := e.deploy("fleet", key, "CodeDeployDefault.OneAtATime")
		d := e.wait(id, 120*time.Second)
		// Keep the load on until every host serves v4 through the balancer.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got, _ := ecstest.Versions(url, 9); got["v4"] == 9 {
				break
			}
		}
		results := load.Stop()
		if d.Status != cdtypes.DeploymentStatusSucceeded {
			t.Fatalf("%s %+v %s", d.Status, d.ErrorInformation, e.targets(id))
		}
		failed, examples, versions := ecstest.Summarize(results)
		t.Logf("%d requests during the deployment: %v", len(results), versions)
		if failed > 0 {
			t.Fatalf("%d of %d requests failed: %v", failed, len(results), examples)
		}
		if versions["v4"] == 0 || versions["v3"] == 0 {
			t.Fatalf("versions served %v", versions)
		}
		out := e.aws("deploy", "batch-get-deployment-targets", "--deployment-id", id, "--target-ids", "h1",
			"--query", "deploymentTargets[0].instanceTarget.lifecycleEvents[].lifecycleEventName", "--output", "text")
		if !strings.HasPrefix(out, "BeforeBlockTraffic\tBlockTraffic\tAfterBlockTraffic\tApplicationStop") || !strings.HasSuffix(out, "AfterAllowTraffic") {
			t.Fatalf("events %s", out)
		}
	})
}
