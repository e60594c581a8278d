package watch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/watch/client"
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

// serve puts the service behind the real router and SigV4 verifier, with
// the notification handler beside it as the server mounts it.
func (e *env) serve() *client.Client {
	keys := testKeys{"AKIDWATCH": {AccessKeyID: "AKIDWATCH", SecretAccessKey: "watch-secret", Root: true}}
	rt := awsproto.NewRouter(sigv4.New(keys, "us-east-1", nil), quietLog())
	e.svc.Register(rt)
	mux := http.NewServeMux()
	mux.Handle("/watch/", e.svc.NotificationHandler())
	mux.Handle("/", rt)
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	e.url = srv.URL
	return &client.Client{Endpoint: srv.URL, Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDWATCH", "watch-secret", "")}
}

func TestAPIWithSignedClient(t *testing.T) {
	e := newEnv(t)
	c := e.serve()
	ctx := context.Background()
	e.reg.push(repo, "latest", digest('a'))

	var created struct{ Rule RuleView }
	in := map[string]any{"name": "web", "image": repo, "policyExpression": "digest:latest",
		"target":      map[string]any{"kind": TargetCodeDeployECS, "applicationName": "app", "deploymentGroupName": "bg"},
		"credentials": map[string]any{"username": "ci", "password": "hunter2"}}
	if err := c.Call(ctx, "CreateWatchRule", in, &created); err != nil {
		t.Fatal(err)
	}
	if created.Rule.IntervalSeconds != 60 || created.Rule.Username != "ci" || created.Rule.PolicyExpression != "digest:latest" {
		t.Errorf("created = %+v", created.Rule)
	}

	// Bad input gets AWS's error codes and changes nothing.
	bad := []struct {
		op   string
		in   any
		code string
	}{
		{"CreateWatchRule", in, "ResourceAlreadyExistsException"},
		{"CreateWatchRule", map[string]any{"name": "x", "image": repo, "policyExpression": "semver:??", "target": in["target"]}, "ValidationException"},
		{"CreateWatchRule", map[string]any{"name": "x", "image": repo + ":latest", "policyExpression": "digest:latest", "target": in["target"]}, "ValidationException"},
		{"CreateWatchRule", map[string]any{"name": "x", "image": repo, "policyExpression": "digest:latest", "target": map[string]any{"kind": "Nomad"}}, "ValidationException"},
		{"CreateWatchRule", map[string]any{"name": "x", "image": repo, "policyExpression": "digest:latest", "target": in["target"], "intervalSeconds": 0}, "ValidationException"},
		{"CreateWatchRule", map[string]any{"name": "bad name", "image": repo, "policyExpression": "digest:latest", "target": in["target"]}, "ValidationException"},
		{"CreateWatchRule", map[string]any{"name": 5}, "SerializationException"},
		{"GetWatchRule", map[string]any{"name": "nope"}, "ResourceNotFoundException"},
		{"GetWatchRule", map[string]any{}, "ValidationException"},
		{"DeleteWatchRule", map[string]any{"name": "nope"}, "ResourceNotFoundException"},
		{"ListWatchRules", map[string]any{"nextToken": "forged"}, "InvalidNextTokenException"},
		{"ListWatchRules", map[string]any{"maxResults": 0}, "ValidationException"},
		{"ListWatchEvents", map[string]any{"name": "nope"}, "ResourceNotFoundException"},
		{"NoSuchOperation", map[string]any{}, "UnknownOperationException"},
	}
	for _, b := range bad {
		err := c.Call(ctx, b.op, b.in, nil)
		if !hasCode(err, b.code) {
			t.Errorf("%s %v: err = %v, want %s", b.op, b.in, err, b.code)
		}
	}
	var list struct {
		Rules     []RuleView
		NextToken string
	}
	if err := c.Call(ctx, "ListWatchRules", map[string]any{}, &list); err != nil || len(list.Rules) != 1 {
		t.Fatalf("ListWatchRules = %+v, %v; want only the one good rule", list, err)
	}

	// An unsigned or wrongly signed call is refused.
	wrong := *c
	wrong.Credentials = credentials.NewStaticCredentialsProvider("AKIDWATCH", "not-the-secret", "")
	if err := wrong.Call(ctx, "ListWatchRules", map[string]any{}, nil); !hasCode(err, "InvalidSignatureException") {
		t.Errorf("badly signed call: %v", err)
	}

	// CheckWatchRule checks now and shows the result; history shows it too.
	var checked struct{ Rule RuleView }
	if err := c.Call(ctx, "CheckWatchRule", map[string]any{"name": "web"}, &checked); err != nil {
		t.Fatal(err)
	}
	st := checked.Rule.State
	if st.LastDigest != digest('a') || st.Active == nil || st.Active.DeploymentID != "d-000000001" || st.LastCheck == nil {
		t.Errorf("state after check = %+v", st)
	}
	var evs struct{ Events []EventView }
	if err := c.Call(ctx, "ListWatchEvents", map[string]any{"name": "web"}, &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs.Events) != 1 || evs.Events[0].Decision != DecisionDeployed || evs.Events[0].DeploymentID != "d-000000001" {
		t.Errorf("events = %+v", evs.Events)
	}

	// Pause, check refused, resume, delete.
	var paused struct{ Rule RuleView }
	if err := c.Call(ctx, "PauseWatchRule", map[string]any{"name": "web"}, &paused); err != nil || !paused.Rule.Paused {
		t.Fatalf("pause: %+v %v", paused, err)
	}
	if err := c.Call(ctx, "CheckWatchRule", map[string]any{"name": "web"}, nil); !hasCode(err, "ResourceConflictException") {
		t.Errorf("check of a paused rule: %v", err)
	}
	if err := c.Call(ctx, "ResumeWatchRule", map[string]any{"name": "web"}, &paused); err != nil || paused.Rule.Paused {
		t.Fatalf("resume: %+v %v", paused, err)
	}
	if err := c.Call(ctx, "DeleteWatchRule", map[string]any{"name": "web"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "GetWatchRule", map[string]any{"name": "web"}, nil); !hasCode(err, "ResourceNotFoundException") {
		t.Errorf("get after delete: %v", err)
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	c := e.serve()
	ctx := context.Background()
	for i := range 5 {
		in := bgRule(fmt.Sprintf("r%d", i))
		e.create(in)
	}
	var names []string
	tok := ""
	for pages := 0; ; pages++ {
		var out struct {
			Rules     []RuleView
			NextToken string
		}
		if err := c.Call(ctx, "ListWatchRules", map[string]any{"maxResults": 2, "nextToken": tok}, &out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Rules {
			names = append(names, r.Name)
		}
		if tok = out.NextToken; tok == "" || pages > 5 {
			break
		}
	}
	if got := strings.Join(names, ","); got != "r0,r1,r2,r3,r4" {
		t.Fatalf("paged names = %s", got)
	}
}

func TestNotificationEndpoint(t *testing.T) {
	e := newEnv(t)
	e.serve()
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	e.check("web") // deploys a; next poll is a minute away
	e.cd.finish(0, "Succeeded")
	e.reg.push(repo, "latest", digest('b'))

	post := func(path, auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	envelope := `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest('b') +
		`","repository":"app","url":"http://127.0.0.1:5000/v2/app/manifests/` + digest('b') + `","tag":"latest"},"request":{"host":"127.0.0.1:5000"}}]}`

	if code, _ := post(PathDistribution, "", envelope); code != http.StatusUnauthorized {
		t.Errorf("without token: %d", code)
	}
	if code, _ := post(PathDistribution+"?token=wrong", "", envelope); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := post(PathDistribution+"?token=secret-token", "", "{not json"); code != http.StatusBadRequest {
		t.Errorf("bad body: %d", code)
	}
	if code, _ := post("/watch/elsewhere?token=secret-token", "", envelope); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	code, body := post(PathDistribution, "secret-token", envelope)
	if code != http.StatusOK || !strings.Contains(body, `"rules":["web"]`) {
		t.Fatalf("notification: %d %s", code, body)
	}
	// Without the poller running, the rule is now due: the next pass takes it
	// at once rather than a minute later.
	if _, err := e.svc.CheckDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.cd.count(); n != 2 {
		t.Fatalf("deployments after the notification = %d, want 2", n)
	}
}

func TestNotificationWakesRunningPoller(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return e.cd.count() == 1 })
	e.cd.finish(0, "Succeeded")
	e.reg.push(repo, "latest", digest('b'))
	if _, err := e.svc.Notify(e.ctx, []Push{{Host: "127.0.0.1:5000", Repository: "app", Tag: "latest", Digest: digest('b')}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.cd.count() == 2 }) // the fake clock never moved
}

func TestParseNotifications(t *testing.T) {
	dist := []byte(`{"events":[
	  {"action":"push","target":{"mediaType":"application/octet-stream","digest":"sha256:1","repository":"app"}},
	  {"action":"pull","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"app","tag":"latest"}},
	  {"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:2","repository":"team/app","url":"https://reg.example.com/v2/team/app/manifests/sha256:2","tag":"v1"},"request":{"host":"ignored:1"}}]}`)
	got, err := ParseDistribution(dist)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (Push{Host: "reg.example.com", Repository: "team/app", Tag: "v1", Digest: "sha256:2"}) {
		t.Errorf("ParseDistribution = %+v", got)
	}
	for _, b := range []string{`[]`, `{}`, `nope`} {
		if _, err := ParseDistribution([]byte(b)); err == nil {
			t.Errorf("ParseDistribution(%s) accepted", b)
		}
	}

	ecr := func(action, result string) []byte {
		return []byte(`{"version":"0","id":"x","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","time":"2026-11-25T10:00:00Z","region":"eu-west-1","resources":[],
		  "detail":{"result":"` + result + `","repository-name":"web","image-digest":"sha256:3","action-type":"` + action + `","image-tag":"latest"}}`)
	}
	got, err = ParseECR(ecr("PUSH", "SUCCESS"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (Push{Host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", Repository: "web", Tag: "latest", Digest: "sha256:3"}) {
		t.Errorf("ParseECR = %+v", got)
	}
	for _, b := range [][]byte{ecr("DELETE", "SUCCESS"), ecr("PUSH", "FAILURE")} {
		if got, err := ParseECR(b); err != nil || len(got) != 0 {
			t.Errorf("ParseECR(%s) = %+v %v, want nothing", b, got, err)
		}
	}
	if _, err := ParseECR([]byte(`{"source":"aws.s3","detail-type":"Object Created"}`)); err == nil {
		t.Error("ParseECR accepted an S3 event")
	}

	// Matching: repository path and host.
	r := &Rule{Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web"}
	if p := (Push{Host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", Repository: "web"}); !p.matches(r) {
		t.Error("ECR push does not match its rule")
	}
	if p := (Push{Host: "999999999999.dkr.ecr.eu-west-1.amazonaws.com", Repository: "web"}); p.matches(r) {
		t.Error("push to another account matches")
	}
	if p := (Push{Repository: "web"}); !p.matches(r) {
		t.Error("push without host does not match on repository")
	}
}
