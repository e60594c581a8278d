package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
)

var errCrash = errors.New("crash")

// outcome of one whole deployment, free of ids and URLs, for comparing an
// interrupted run with an uninterrupted one.
type runResult struct {
	status, code   string
	events         string
	world, prod    string
	test           string
	ecsLog         []string
	traffic        []string
	creates        int
	complete       time.Duration
	hookExecutions int
}

// crashRun runs one deployment; when crashAt > 0 the engine "dies" at the
// crashAt-th pass through phase, and a fresh engine (another owner, so its
// state comes only from the store) finishes the deployment.
func crashRun(t *testing.T, phase string, crashAt int) (runResult, int) {
	e := newEnv(t)
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent5Minutes", termWait: 2,
		rollback: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}})
	h := e.hookServer(map[string]string{"AfterInstall": "Succeeded", "BeforeAllowTraffic": "Succeeded"})
	id := e.mustCreate("g", "web:2", h.hooks("AfterInstall", "BeforeAllowTraffic"))
	passes := 0
	first := e.newEngine("first", func(_, step, p string) error {
		if p != phase {
			return nil
		}
		passes++
		if passes == crashAt {
			return fmt.Errorf("%w at %s", errCrash, step)
		}
		return nil
	})
	err := e.drive(first, id, nil)
	if crashAt > 0 {
		if !errors.Is(err, errCrash) {
			return runResult{}, -1 // fewer passes than crashAt: nothing to test
		}
		if err := e.drive(e.newEngine("second", nil), id, nil); err != nil {
			t.Fatalf("after a crash at %d: %v", crashAt, err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	got := e.get(id)
	d, _ := e.cd.Deployment(e.ctx, id)
	r := runResult{status: string(got.Status), events: events(e.target(id)), world: e.ecs.world(),
		prod: e.traffic.get(prodListener), test: e.traffic.get(testListener), ecsLog: e.ecs.log, creates: e.ecs.creates,
		complete: got.CompleteTime.Sub(t0), hookExecutions: len(d.Hooks)}
	if got.ErrorInformation != nil {
		r.code = string(got.ErrorInformation.Code)
	}
	// Setting the same weight again is the same outcome: compare the
	// sequence of distinct listener states.
	for _, l := range e.traffic.log {
		// Times may differ by a poll interval after a restart; the
		// sequence of weights may not.
		l = l[strings.Index(l, " ")+1:]
		if n := len(r.traffic); n == 0 || r.traffic[n-1] != l {
			r.traffic = append(r.traffic, l)
		}
	}
	return r, passes
}

// TestCrashAtEveryStep kills the engine after every step's side effects
// (before their result is stored) and after every stored step, restarts a
// fresh engine on the same store and world, and checks that the end state,
// the ECS calls and the traffic changes are those of an uninterrupted run:
// no duplicate task set, no lost lifecycle event, no weight set twice to
// different values.
func TestCrashAtEveryStep(t *testing.T) {
	want, n := crashRun(t, "effect", 0)
	if want.status != "Succeeded" || want.creates != 1 || want.hookExecutions != 2 {
		t.Fatalf("reference run: %+v", want)
	}
	for _, phase := range []string{"effect", "stored"} {
		for k := 1; k <= n; k++ {
			if testing.Short() && k%4 != 1 {
				continue // -short: a sample of the crash points
			}
			t.Run(fmt.Sprintf("%s-%d", phase, k), func(t *testing.T) {
				got, passes := crashRun(t, phase, k)
				if passes < 0 {
					return
				}
				// A restart may cost a poll interval or two of clock time.
				if d := got.complete - want.complete; d > -3*time.Second && d < 3*time.Second {
					got.complete = want.complete
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("crash at %s %d:\n got %+v\nwant %+v", phase, k, got, want)
				}
			})
		}
	}
}

// TestLeaseHandover runs two engines on one store: one takes the
// deployment, dies mid-canary, and after its lease expires the other takes
// over and finishes with the same single replacement task set.
func TestLeaseHandover(t *testing.T) {
	e := newEnv(t)
	e.group("g", groupOpts{config: "CodeDeployDefault.ECSCanary10Percent5Minutes"})
	engines := map[string]*Engine{"a": e.newEngine("a", nil), "b": e.newEngine("b", nil)}
	cancels := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for name, en := range engines {
		ctx, cancel := context.WithCancel(e.ctx)
		cancels[name] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); en.Run(ctx) }()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	id := e.mustCreate("g", "web:2", nil)
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			e.clk.Advance(200 * time.Millisecond)
			time.Sleep(time.Millisecond) // let the engines' goroutines run (test only)
		}
	}
	owner := func() string {
		ls, err := e.st.Leases(e.ctx, "deployment/"+id)
		if err != nil || len(ls) != 1 || !ls[0].Expires.After(e.clk.Now()) {
			return ""
		}
		return ls[0].Owner
	}
	state := func() *codedeploy.Deployment { d, _ := e.cd.Deployment(e.ctx, id); return d }
	until("the canary", func() bool {
		d := state()
		return d.Target != nil && d.Target.Event(evAllowTraffic).Status == codedeploy.EventInProgress
	})
	first := owner()
	if first == "" {
		t.Fatal("nobody holds the lease")
	}
	cancels[first]()
	other := map[string]string{"a": "b", "b": "a"}[first]
	until("the other engine to take over", func() bool { return owner() == other })
	until("the end", func() bool { return codedeploy.Terminal(state().Status) })
	if got := e.get(id); got.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("status %s %+v", got.Status, got.ErrorInformation)
	}
	if e.ecs.creates != 1 || !strings.HasSuffix(e.ecs.world(), ":PRIMARY:web:2:green") {
		t.Errorf("world %s after %d creates", e.ecs.world(), e.ecs.creates)
	}
	if p := e.traffic.get(prodListener); p != "blue=0,green=100" {
		t.Errorf("prod %s", p)
	}
}
