package watch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const repo = "127.0.0.1:5000/app"

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func bgRule(name string) RuleInput {
	return RuleInput{Name: name, Image: repo, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetCodeDeployECS, Application: "app", DeploymentGroup: "bg"}}
}

func TestNewDigestDeploysOnceAndQueuesOnlyTheNewest(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))

	e.check("web")
	if n := e.cd.count(); n != 1 {
		t.Fatalf("deployments = %d, want 1", n)
	}
	d := e.cd.deployments[0]
	if !strings.Contains(d.description, "web") || !strings.Contains(d.description, repo+":latest") || !strings.Contains(d.description, digest('a')) {
		t.Errorf("description %q does not name the rule and the image", d.description)
	}
	want := `"TaskDefinition":"arn:td/web:2"`
	if !strings.Contains(d.appSpec, want) || !strings.Contains(d.appSpec, `"ContainerName":"web","ContainerPort":8080`) {
		t.Errorf("AppSpec %s lacks %s and the load balancer info", d.appSpec, want)
	}
	if got := e.ecs.taskDefs["arn:td/web:2"]; got[0].Image != repo+"@"+digest('a') || got[1].Image != "busybox" {
		t.Errorf("cloned task definition = %+v, want web pinned by digest and the sidecar unchanged", got)
	}

	// The same digest again: nothing.
	e.check("web")
	// Two newer images while the deployment runs: only the newest waits.
	e.reg.push(repo, "latest", digest('b'))
	e.check("web")
	e.reg.push(repo, "latest", digest('c'))
	st := e.check("web")
	if st.Pending == nil || st.Pending.Digest != digest('c') {
		t.Fatalf("pending = %+v, want %s", st.Pending, digest('c'))
	}
	if n := e.cd.count(); n != 1 {
		t.Fatalf("deployments while one runs = %d, want 1", n)
	}

	e.cd.finish(0, "Succeeded")
	st = e.check("web")
	if n := e.cd.count(); n != 2 {
		t.Fatalf("deployments after the first ended = %d, want 2", n)
	}
	if !strings.Contains(e.cd.deployments[1].description, digest('c')) {
		t.Errorf("second deployment %q is not of the newest image", e.cd.deployments[1].description)
	}
	if st.Active == nil || st.Active.Digest != digest('c') || st.Pending != nil {
		t.Errorf("state = %+v, want c active and nothing pending", st)
	}
	if got := decisions(e.events("web")); got != "Deployed,Queued,Queued,Completed,Deployed" {
		t.Errorf("history = %s", got)
	}
}

func TestRollbackDoesNotRetrigger(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	e.check("web")
	e.cd.finish(0, "Succeeded")
	e.reg.push(repo, "latest", digest('b'))
	e.check("web")
	if n := e.cd.count(); n != 2 {
		t.Fatalf("deployments = %d, want 2", n)
	}
	// b fails and CodeDeploy rolls back to a: the service runs a again
	// while the registry still holds b.
	e.cd.finish(1, "Failed")
	for range 3 {
		e.check("web")
	}
	if n := e.cd.count(); n != 2 {
		t.Fatalf("deployments after the rollback = %d, want 2 (b must not be deployed again)", n)
	}
	if got := e.ecs.image("web", "web"); got != repo+"@"+digest('a') {
		t.Errorf("service image = %s, want a", got)
	}
	evs := e.events("web")
	last := evs[len(evs)-1]
	if last.Decision != DecisionSkipped || last.Reason != "already deployed by this rule" || last.Digest != digest('b') {
		t.Errorf("last event = %+v, want b skipped as already deployed", last)
	}
	if got := decisions(evs); got != "Deployed,Completed,Deployed,Completed,Skipped" {
		t.Errorf("history = %s", got)
	}
}

func TestImageAlreadyRunningIsNotDeployed(t *testing.T) {
	e := newEnv(t)
	e.ecs.taskDefs["arn:td/web:1"][0].Image = repo + "@" + digest('a')
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	e.check("web")
	if n := e.cd.count(); n != 0 {
		t.Fatalf("deployments = %d, want 0", n)
	}
	if evs := e.events("web"); len(evs) != 1 || evs[0].Decision != DecisionSkipped || !strings.Contains(evs[0].Reason, "already runs") {
		t.Fatalf("history = %+v", evs)
	}
}

func TestBusyGroupQueuesTheImage(t *testing.T) {
	e := newEnv(t)
	e.cd.deployments = append(e.cd.deployments, &fakeDeployment{status: "InProgress"}) // someone else's
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	st := e.check("web")
	if st.Pending == nil || st.Pending.Digest != digest('a') || len(st.Deployed) != 0 {
		t.Fatalf("state = %+v, want a pending and nothing deployed", st)
	}
	e.cd.deployments[0].status = "Succeeded"
	e.check("web")
	if n := e.cd.count(); n != 2 {
		t.Fatalf("deployments = %d, want the queued image deployed once the group is free", n)
	}
}

func TestECSServiceTargetUpdatesInPlace(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(RuleInput{Name: "plain", Image: repo, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetECSService, Cluster: "default", Service: "plain", Container: "web"}})
	st := e.check("plain")
	if got := e.ecs.image("plain", "web"); got != repo+"@"+digest('a') {
		t.Fatalf("service image = %s", got)
	}
	if st.Active != nil || e.cd.count() != 0 {
		t.Fatalf("an in-place update needs no CodeDeploy deployment: %+v", st)
	}
	// An EXTERNAL service gets a new primary task set.
	e.create(RuleInput{Name: "ext", Image: repo, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetECSService, Cluster: "default", Service: "ext", Container: "web"}})
	e.check("ext")
	if got := e.ecs.image("ext", "web"); got != repo+"@"+digest('a') || e.ecs.updates[len(e.ecs.updates)-1] != "taskset:"+e.ecs.services["ext"].TaskDefinition {
		t.Fatalf("external service image = %s, updates %v", got, e.ecs.updates)
	}
	// A CODE_DEPLOY service is refused with a reason.
	e.create(RuleInput{Name: "wrong", Image: repo, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetECSService, Cluster: "default", Service: "web"}})
	e.check("wrong")
	if evs := e.events("wrong"); len(evs) != 1 || evs[0].Decision != DecisionFailed || !strings.Contains(evs[0].Reason, "CODE_DEPLOY") {
		t.Fatalf("history = %+v", evs)
	}
}

func TestSemverRuleIgnoresPrerelease(t *testing.T) {
	e := newEnv(t)
	for tag, c := range map[string]byte{"1.4.0": 'a', "1.5.0": 'b', "2.0.0-rc1": 'c'} {
		e.reg.push(repo, tag, digest(c))
	}
	e.create(RuleInput{Name: "sv", Image: repo, PolicyExpression: "semver:>=1.4",
		Target: Target{Kind: TargetCodeDeployECS, Application: "app", DeploymentGroup: "bg"}})
	st := e.check("sv")
	if st.LastTag != "1.5.0" || st.Active == nil || st.Active.Digest != digest('b') {
		t.Fatalf("state = %+v, want 1.5.0 deployed", st)
	}
}

func TestRegistryFailureOnlyAffectsItsRule(t *testing.T) {
	e := newEnv(t)
	bad := "127.0.0.1:5001/down"
	e.reg.fail[bad] = errors.New("dial tcp 127.0.0.1:5001: connection refused")
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	e.create(RuleInput{Name: "down", Image: bad, PolicyExpression: "digest:latest",
		Target: Target{Kind: TargetCodeDeployECS, Application: "app", DeploymentGroup: "bg"}})
	if _, err := e.svc.CheckDue(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.cd.count(); n != 1 {
		t.Fatalf("deployments = %d, want 1 from the healthy rule", n)
	}
	rec, err := e.svc.get(e.ctx, "down")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.State.LastError, "connection refused") {
		t.Errorf("lastError = %q", rec.State.LastError)
	}
	// Repeated failures are one history entry, not one per poll.
	e.clk.Advance(2 * time.Minute)
	e.svc.CheckDue(e.ctx)
	if got := decisions(e.events("down")); got != "CheckFailed" {
		t.Errorf("history = %s", got)
	}

	// A rate limit postpones the next check to Retry-After.
	e.reg.fail[bad] = &RateLimitError{RetryAfter: 10 * time.Minute, Err: errors.New("429")}
	st := e.check("down")
	if want := e.clk.Now().Add(10 * time.Minute); !st.NextCheck.Equal(want) {
		t.Errorf("next check = %v, want %v", st.NextCheck, want)
	}
}

func TestPausedRuleIsNotChecked(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	n := "web"
	if _, err := e.svc.pauseRule(e.ctx, &nameInput{Name: &n}); err != nil {
		t.Fatal(err)
	}
	e.svc.CheckDue(e.ctx)
	if e.reg.heads != 0 || e.cd.count() != 0 {
		t.Fatalf("a paused rule read the registry (%d) or deployed (%d)", e.reg.heads, e.cd.count())
	}
	if _, err := e.svc.resumeRule(e.ctx, &nameInput{Name: &n}); err != nil {
		t.Fatal(err)
	}
	e.svc.CheckDue(e.ctx)
	if e.cd.count() != 1 {
		t.Fatalf("resumed rule did not deploy")
	}
}

// The poller runs on the injected clock: a push is deployed one interval
// (plus jitter) later, not before.
func TestPollerFollowsTheClock(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	iv := int64(30)
	e.create(RuleInput{Name: "plain", Image: repo, PolicyExpression: "digest:latest", IntervalSeconds: &iv,
		Target: Target{Kind: TargetECSService, Cluster: "default", Service: "plain", Container: "web"}})
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	image := func() string { return e.ecs.image("plain", "web") }
	waitFor(t, func() bool { return image() == repo+"@"+digest('a') })
	e.reg.push(repo, "latest", digest('b'))
	for image() != repo+"@"+digest('b') {
		if err := e.clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if e.clk.Now().Sub(t0) > 34*time.Second {
			t.Fatalf("b not deployed within an interval and its jitter")
		}
		e.clk.Advance(time.Second)
		waitFor(t, func() bool { return e.clk.Waiters() > 0 || image() == repo+"@"+digest('b') })
	}
	if e.clk.Now().Sub(t0) < 30*time.Second {
		t.Fatalf("b deployed after %s, before the interval", e.clk.Now().Sub(t0))
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Two replicas on one store: only the lease holder polls.
func TestOneReplicaPolls(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	a, err := New(Config{Store: e.db, Clock: e.clk, Log: quietLog(), Registry: e.reg, ECS: e.ecs, CodeDeploy: e.cd, Owner: "a", NotificationToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Store: e.db, Clock: e.clk, Log: quietLog(), Registry: e.reg, ECS: e.ecs, CodeDeploy: e.cd, Owner: "b", NotificationToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.holdLease(e.ctx) {
		t.Fatal("a did not get the free lease")
	}
	if b.holdLease(e.ctx) {
		t.Fatal("b got the lease a holds")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done; <-done }()
	waitFor(t, func() bool { return e.cd.count() == 1 })
	if err := e.clk.BlockUntil(ctx, 2); err != nil { // both wait on the clock
		t.Fatal(err)
	}
	if n := e.cd.count(); n != 1 {
		t.Fatalf("deployments = %d, want 1", n)
	}
}

// The same failure seen again is one history entry, even when each SDK
// error carries its own request id.
func TestRepeatedFailureRecordedOnce(t *testing.T) {
	o := &outcome{}
	for _, id := range []string{"209b199b-67f8", "15451349-53d0"} {
		o.record(t0, "web", DecisionFailed, "reading deployment group: StatusCode: 400, RequestID: "+id+", api error Nope", Image{Digest: digest('a')}, "")
	}
	o.record(t0, "web", DecisionFailed, "another reason", Image{Digest: digest('a')}, "")
	if len(o.events) != 2 {
		t.Fatalf("events = %+v, want 2", o.events)
	}
}

// What a rule has deployed survives a restart: a new service on the same
// store deploys nothing again and keeps following the deployment in flight.
func TestRestartRemembers(t *testing.T) {
	e := newEnv(t)
	e.reg.push(repo, "latest", digest('a'))
	e.create(bgRule("web"))
	e.check("web")
	svc, err := New(Config{Store: e.db, Clock: e.clk, Log: quietLog(), Registry: e.reg, ECS: e.ecs, CodeDeploy: e.cd})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	st := e.check("web")
	if e.cd.count() != 1 || st.Active == nil || st.Active.DeploymentID != "d-000000001" {
		t.Fatalf("after restart: %d deployments, state %+v", e.cd.count(), st)
	}
	e.cd.finish(0, "Succeeded")
	e.check("web")
	if e.cd.count() != 1 {
		t.Fatalf("the image was deployed again after a restart")
	}
}

func TestGeneratedTokenIsKept(t *testing.T) {
	e := newEnv(t)
	a, err := New(Config{Store: e.db, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Store: e.db, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if a.NotificationToken() == "" || a.NotificationToken() != b.NotificationToken() {
		t.Fatalf("tokens %q and %q", a.NotificationToken(), b.NotificationToken())
	}
}
