package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/demo"
	"github.com/cutover/cutover/internal/server"
)

// TestMain lets the test binary be the demo app, which the deployments in
// these tests run as their tasks (os.Executable() is this binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == demo.AppCommand {
		if err := demo.RunApp(context.Background()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCreateDeploymentInput(t *testing.T) {
	content := "version: 0.0\nResources: []\n"
	sum := sha256.Sum256([]byte(content))
	tests := []struct {
		name, config, description string
	}{
		{"group's config", "", ""},
		{"explicit config and description", "CodeDeployDefault.ECSAllAtOnce", "ship it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := createDeploymentInput("app", "grp", tt.config, tt.description, content)
			rev := in.Revision
			if rev.RevisionType != types.RevisionLocationTypeAppSpecContent || aws.ToString(rev.AppSpecContent.Content) != content ||
				aws.ToString(rev.AppSpecContent.Sha256) != hex.EncodeToString(sum[:]) {
				t.Errorf("revision %+v / %+v", rev, rev.AppSpecContent)
			}
			if aws.ToString(in.DeploymentConfigName) != tt.config || aws.ToString(in.Description) != tt.description {
				t.Errorf("config %q description %q", aws.ToString(in.DeploymentConfigName), aws.ToString(in.Description))
			}
			if (tt.config == "") != (in.DeploymentConfigName == nil) {
				t.Errorf("an empty --deployment-config must be left out, not sent empty")
			}
		})
	}
}

func TestReadAppSpec(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "appspec.yaml")
	os.WriteFile(full, []byte("version: 0.0\n"), 0o644)
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		name, file, stdin, want string
		wantErr                 bool
	}{
		{"file", full, "", "version: 0.0\n", false},
		{"stdin", "-", `{"version":0.0}`, `{"version":0.0}`, false},
		{"missing", filepath.Join(dir, "nope"), "", "", true},
		{"empty", empty, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAppSpec(tt.file, strings.NewReader(tt.stdin))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("readAppSpec = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCanonicalStatus(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Failed", "Failed", true},
		{"failed", "Failed", true},
		{"INPROGRESS", "InProgress", true},
		{"done", "", false},
	}
	for _, tt := range tests {
		got, ok := canonicalStatus(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("canonicalStatus(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDeployFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"deploy"}, `required flag(s) "application", "appspec", "deployment-group" not set`},
		{[]string{"deploy", "watch"}, "accepts 1 arg(s)"},
		{[]string{"deployments", "--deployment-group", "g"}, "--deployment-group needs --application"},
		{[]string{"deployments", "--status", "done"}, `--status "done"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := newRootCommand()
			root.SetOut(io.Discard)
			root.SetArgs(tt.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// run executes the cutover command line in-process and returns its output.
func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestDeployWait runs real ECS deployments on an in-process server with the
// process runtime (the tasks are this test binary as the demo app) and
// checks `deploy --wait`, `deploy watch` and `deployments` against them.
func TestDeployWait(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real deployments")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Version: "test", Log: log,
		Runtime: "process", TimeScale: 60})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	id, secret, _ := srv.RootCredentials()
	dcfg := demo.Config{Endpoint: srv.Endpoint(), Region: srv.Region(), AccessKeyID: id, SecretAccessKey: secret}
	env, err := demo.Setup(ctx, dcfg)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if env != nil {
			if err := env.Cleanup(cctx); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		srv.Shutdown(cctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}

	// The command reads the endpoint and credentials as a user's shell
	// would give them.
	t.Setenv("CUTOVER_ENDPOINT", srv.Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", srv.Region())
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_PROFILE", "")

	dir := t.TempDir()
	appspec := func(version string, hooks []demo.Hook) string {
		td, err := env.RegisterVersion(ctx, version)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, version+".yaml")
		if err := os.WriteFile(f, []byte(demo.AppSpec(td, hooks)), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	deploy := func(file, description string) (string, error) {
		return run(t, ctx, "deploy", "--application", demo.Name, "--deployment-group", demo.Name, "--appspec", file,
			"--deployment-config", "CodeDeployDefault.ECSAllAtOnce", "--description", description, "--wait", "--poll-interval", "200ms")
	}

	out, err := deploy(appspec("v2", nil), "to v2")
	if err != nil {
		t.Fatalf("deploy --wait of v2: %v\n%s", err, out)
	}
	for _, want := range []string{"created deployment d-", "Install                Succeeded", "traffic  Blue 0% | Green 100%", "status Succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy --wait output lacks %q:\n%s", want, out)
		}
	}
	if v := env.Serving(ctx); v != "v2" {
		t.Errorf("after the deployment the listener answers %q, want v2", v)
	}
	firstID := deploymentID(t, out)

	// A hook that takes the call and then reports Failed, as a Lambda hook
	// would through PutLifecycleEventHookExecutionStatus: the deployment
	// fails after Install and the group rolls it back.
	cd := codedeploy.New(codedeploy.Options{Region: srv.Region(), BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ DeploymentId, LifecycleEventHookExecutionId string }
		json.NewDecoder(r.Body).Decode(&body)
		go cd.PutLifecycleEventHookExecutionStatus(context.Background(), &codedeploy.PutLifecycleEventHookExecutionStatusInput{
			DeploymentId: aws.String(body.DeploymentId), LifecycleEventHookExecutionId: aws.String(body.LifecycleEventHookExecutionId),
			Status: types.LifecycleEventStatusFailed,
		})
	}))
	defer hook.Close()
	out, err = deploy(appspec("v3", []demo.Hook{{Event: "AfterInstall", Target: hook.URL}}), "to v3, failing")
	if !errors.Is(err, errDeploymentFailed) {
		t.Fatalf("deploy --wait of a failing deployment: error %v, want errDeploymentFailed\n%s", err, out)
	}
	for _, want := range []string{"AfterInstall           Failed", "status Failed", "rolled back by deployment d-", "following rollback deployment", "rollback status Succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("failing deploy --wait output lacks %q:\n%s", want, out)
		}
	}
	if v := env.Serving(ctx); v != "v2" {
		t.Errorf("after the rollback the listener answers %q, want v2", v)
	}

	// Watching a finished deployment prints its end state and exits by it.
	out, err = run(t, ctx, "deploy", "watch", firstID)
	if err != nil || !strings.Contains(out, "status Succeeded") {
		t.Errorf("deploy watch %s: %v\n%s", firstID, err, out)
	}

	tests := []struct {
		args       []string
		wantStatus []string // newest first
	}{
		{[]string{"deployments", "--json"}, []string{"Succeeded", "Failed", "Succeeded"}},
		{[]string{"deployments", "--json", "--status", "failed"}, []string{"Failed"}},
		{[]string{"deployments", "--json", "--limit", "1"}, []string{"Succeeded"}},
		{[]string{"deployments", "--json", "--application", demo.Name}, []string{"Succeeded", "Failed", "Succeeded"}},
		{[]string{"deployments", "--json", "--application", demo.Name, "--deployment-group", demo.Name, "--status", "Succeeded"}, []string{"Succeeded", "Succeeded"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := run(t, ctx, tt.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var rows []deploymentRow
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var got []string
			for i, r := range rows {
				got = append(got, r.Status)
				if i > 0 && r.Created.After(rows[i-1].Created) {
					t.Errorf("not newest first: %v", rows)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantStatus, ",") {
				t.Errorf("statuses %v, want %v\n%s", got, tt.wantStatus, out)
			}
		})
	}
	out, err = run(t, ctx, "deployments")
	if err != nil || !strings.Contains(out, "to v3, failing") || !strings.Contains(out, "Failed (HOOK_EXECUTION_FAILURE)") || !strings.Contains(out, "(rollback)") {
		t.Errorf("deployments table: %v\n%s", err, out)
	}
}

// deploymentID finds the id in "created deployment d-XXXXXXXXX".
func deploymentID(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "created deployment ")
	if !ok || len(rest) < 11 {
		t.Fatalf("no deployment id in:\n%s", out)
	}
	return rest[:11]
}
