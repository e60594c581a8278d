package lambda

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awscli"
)

// TestAWSCLI drives the service with the AWS CLI v1 (botocore) over real
// HTTP: upload a zip with fileb://, publish, alias, invoke.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the AWS CLI")
	}
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newEnv(t)
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "function.zip")
	if err := os.WriteFile(zipPath, echoZip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := awscli.CLI{Bin: bin, Endpoint: e.srv.URL, Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		out, err := cli.Run(ctx, append([]string{"lambda"}, args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	var cfg struct {
		FunctionArn, Version, CodeSha256, State string
	}
	out := run("create-function", "--function-name", "cli", "--runtime", "provided.al2023", "--handler", "bootstrap",
		"--role", testRole, "--zip-file", "fileb://"+zipPath, "--environment", "Variables={ECHO_FROM=cli}")
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || cfg.FunctionArn != e.arn("cli") || cfg.State != "Active" {
		t.Fatalf("create-function: %s %v", out, err)
	}
	out = run("publish-version", "--function-name", "cli", "--code-sha256", cfg.CodeSha256)
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || cfg.Version != "1" {
		t.Fatalf("publish-version: %s %v", out, err)
	}
	out = run("create-alias", "--function-name", "cli", "--name", "live", "--function-version", "1")
	if !strings.Contains(out, e.arn("cli")+":live") {
		t.Fatalf("create-alias: %s", out)
	}
	resultPath := filepath.Join(dir, "out.json")
	out = run("invoke", "--function-name", "cli", "--qualifier", "live", "--payload", `{"message":"from-cli"}`,
		"--log-type", "Tail", resultPath)
	var meta struct {
		StatusCode      int
		ExecutedVersion string
		LogResult       string
		FunctionError   string
	}
	if err := json.Unmarshal([]byte(out), &meta); err != nil || meta.StatusCode != 200 || meta.ExecutedVersion != "1" || meta.LogResult == "" || meta.FunctionError != "" {
		t.Fatalf("invoke: %s %v", out, err)
	}
	b, err := os.ReadFile(resultPath)
	if err != nil {
		t.Fatal(err)
	}
	var r echoReply
	if err := json.Unmarshal(b, &r); err != nil || r.Event.Message != "from-cli" || r.Env["ECHO_FROM"] != "cli" || r.Version != "1" {
		t.Fatalf("invoke payload: %s %v", b, err)
	}
}
