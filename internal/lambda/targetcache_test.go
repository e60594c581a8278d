package lambda

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/cutover/cutover/internal/awsproto"
)

// TestTargetCacheFollowsWrites: invocations resolve their target from a
// cache, and every way an alias or $LATEST changes through the service is
// seen by the very next invocation; a change by another Service on the
// same store (a replica) is seen once the cache's bound has passed.
func TestTargetCacheFollowsWrites(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo", withEnv("ECHO_V", "1"))
	publish := func() {
		t.Helper()
		if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("echo")}); err != nil {
			t.Fatal(err)
		}
	}
	setEnv := func(v string) {
		t.Helper()
		if _, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("echo"),
			Environment: &types.Environment{Variables: map[string]string{"ECHO_V": v}}}); err != nil {
			t.Fatal(err)
		}
	}
	publish()
	setEnv("2")
	publish()
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	ran := func(qualifier string) (version, v string) {
		t.Helper()
		r := reply(t, e.invoke("echo", qualifier, `{}`))
		return r.Version, r.Env["ECHO_V"]
	}
	steps := []struct {
		name        string
		change      func()
		qualifier   string
		wantVersion string
		wantEnv     string
	}{
		{"alias as created", func() {}, "live", "1", "1"},
		{"UpdateAlias", func() {
			if _, err := e.client.UpdateAlias(e.ctx, &lsdk.UpdateAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
				t.Fatal(err)
			}
		}, "live", "2", "2"},
		{"SetAliasRouting (the engine)", func() {
			if err := e.svc.SetAliasRouting(e.ctx, "echo", "live", "1", nil); err != nil {
				t.Fatal(err)
			}
		}, "live", "1", "1"},
		{"$LATEST before a change", func() {}, "", "$LATEST", "2"},
		{"UpdateFunctionConfiguration", func() { setEnv("3") }, "", "$LATEST", "3"},
	}
	for _, st := range steps {
		st.change()
		if v, env := ran(st.qualifier); v != st.wantVersion || env != st.wantEnv {
			t.Fatalf("%s: ran version %s with ECHO_V=%s, want %s with %s", st.name, v, env, st.wantVersion, st.wantEnv)
		}
	}
	if _, err := e.client.DeleteAlias(e.ctx, &lsdk.DeleteAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Invoke(e.ctx, "echo", "live", []byte(`{}`)); awsproto.AsError(err) == nil || awsproto.AsError(err).Code != "ResourceNotFoundException" {
		t.Fatalf("invoking a deleted alias: %v, want ResourceNotFoundException", err)
	}

	// A replica: another Service on the same store changes an alias.
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ran("live"); v != "1" {
		t.Fatalf("recreated alias ran version %s, want 1", v)
	}
	replica, err := New(Config{Region: testRegion, AccountID: testAccount, Store: e.svc.store, Clock: e.clk, Log: quietLog(),
		DataDir: filepath.Join(t.TempDir(), "replica")})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	if err := replica.SetAliasRouting(e.ctx, "echo", "live", "2", nil); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(targetTTL)
	if v, _ := ran("live"); v != "2" {
		t.Fatalf("after the replica moved the alias and %v passed, it ran version %s, want 2", targetTTL, v)
	}
}
