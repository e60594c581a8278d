package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/elb"
)

// bgFleet is a blue/green Server application: b1 and b2 (fleet=web, the
// group's instances) serve in target group blue; g1..g3 (fleet=new) are
// the replacement fleet the deployments' targetInstances select.
func bgFleet(t *testing.T, o bgOpts) *fleet {
	f := newFleet(t, 0)
	for i := 1; i <= 2; i++ {
		f.addHost(fmt.Sprintf("b%d", i), fmt.Sprintf("10.0.0.%d:8080", i))
		f.targets.tgs[blueTG] = append(f.targets.tgs[blueTG], elb.Target{ID: fmt.Sprintf("10.0.0.%d", i), Port: 8080, State: "healthy"})
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("g%d", i)
		f.addHost(name, fmt.Sprintf("10.0.1.%d:8080", i))
		if _, err := f.client.AddTagsToOnPremisesInstances(f.ctx, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{name},
			Tags: []types.Tag{{Key: aws.String("fleet"), Value: aws.String("new")}}}); err != nil {
			t.Fatal(err)
		}
	}
	in := &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("bg"), ServiceRoleArn: aws.String(testRole),
		DeploymentConfigName:         aws.String(o.config),
		OnPremisesInstanceTagFilters: []types.TagFilter{{Key: aws.String("fleet"), Value: aws.String("web"), Type: types.TagFilterTypeKeyAndValue}},
		DeploymentStyle:              &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		LoadBalancerInfo:             &types.LoadBalancerInfo{TargetGroupInfoList: []types.TargetGroupInfo{{Name: aws.String("blue")}}},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{Action: o.termination, TerminationWaitTimeInMinutes: 5},
			DeploymentReadyOption:                     &types.DeploymentReadyOption{ActionOnTimeout: o.ready, WaitTimeInMinutes: 30},
			GreenFleetProvisioningOption:              &types.GreenFleetProvisioningOption{Action: types.GreenFleetProvisioningActionDiscoverExisting},
		},
	}
	if o.rollback {
		in.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true, Events: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}}
	}
	if _, err := f.client.CreateDeploymentGroup(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	return f
}

type bgOpts struct {
	config      string
	termination types.InstanceAction
	ready       types.DeploymentReadyAction
	rollback    bool
}

func (f *fleet) deployGreen() string {
	return f.deploy("bg", "v2.tgz", func(in *cd.CreateDeploymentInput) {
		in.TargetInstances = &types.TargetInstances{TagFilters: []types.EC2TagFilter{{Key: aws.String("fleet"), Value: aws.String("new"), Type: types.EC2TagFilterTypeKeyAndValue}}}
	})
}

// labels is "name=label:status" of every instance of a deployment.
func (f *fleet) labels(id string) string {
	f.t.Helper()
	ins, err := f.cd.ServerInstances(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var parts []string
	for _, in := range ins {
		parts = append(parts, in.InstanceName+"="+in.Target.InstanceLabel+":"+in.Target.Status)
	}
	return strings.Join(parts, " ")
}

func (f *fleet) continueReady(t *testing.T, id string) {
	if _, err := f.client.ContinueDeployment(f.ctx, &cd.ContinueDeploymentInput{DeploymentId: aws.String(id), DeploymentWaitType: types.DeploymentWaitTypeReadyWait}); err != nil {
		t.Fatal(err)
	}
}

func TestServerBlueGreen(t *testing.T) {
	const allGreen = "10.0.1.1:8080,10.0.1.2:8080,10.0.1.3:8080"
	for _, c := range []struct {
		name string
		opts bgOpts
		// fail makes a Green host fail an event; hold holds a host's
		// commands until the test stops the deployment.
		fail, hold map[string]string
		// beforeEnd runs when the deployment is Ready (STOP_DEPLOYMENT),
		// after the hold took hold, or not at all.
		ready func(t *testing.T, f *fleet, id string)
		// until says when ready runs (default: the deployment is Ready, or
		// the held host got a command).
		until      func(d *codedeploy.Deployment) bool
		quick      bool // TERMINATE ends before its wait
		status     types.DeploymentStatus
		code       string
		instances  string
		tg         string
		blueStops  bool // the Blue hosts ran ApplicationStop (TERMINATE)
		rolledBack bool
	}{
		{name: "KEEP_ALIVE", opts: bgOpts{config: "CodeDeployDefault.OneAtATime", termination: types.InstanceActionKeepAlive},
			status: types.DeploymentStatusSucceeded, tg: allGreen,
			instances: "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Succeeded g3=Green:Succeeded"},
		{name: "TERMINATE after the wait", opts: bgOpts{config: "CodeDeployDefault.HalfAtATime", termination: types.InstanceActionTerminate},
			status: types.DeploymentStatusSucceeded, tg: allGreen, blueStops: true,
			instances: "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Succeeded g3=Green:Succeeded"},
		{name: "TERMINATE wait skipped", opts: bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionTerminate},
			until: func(d *codedeploy.Deployment) bool { return d.InstanceTerminationWaitTimeStarted },
			ready: func(t *testing.T, f *fleet, id string) {
				if _, err := f.client.SkipWaitTimeForInstanceTermination(f.ctx, &cd.SkipWaitTimeForInstanceTerminationInput{DeploymentId: aws.String(id)}); err != nil {
					t.Fatal(err)
				}
			},
			status: types.DeploymentStatusSucceeded, tg: allGreen, blueStops: true, quick: true,
			instances: "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Succeeded g3=Green:Succeeded"},
		{name: "STOP_DEPLOYMENT continued", opts: bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionKeepAlive, ready: types.DeploymentReadyActionStopDeployment},
			ready: func(t *testing.T, f *fleet, id string) {
				if got := f.labels(id); got != "b1=Blue:Pending b2=Blue:Pending g1=Green:Ready g2=Green:Ready g3=Green:Ready" {
					t.Errorf("while ready: %s", got)
				}
				if got := f.targets.state(blueTG); got != "10.0.0.1:8080,10.0.0.2:8080" {
					t.Errorf("traffic moved before ContinueDeployment: %s", got)
				}
				if d := f.get(id); d.DeploymentOverview.Ready != 3 {
					t.Errorf("overview %+v", d.DeploymentOverview)
				}
				f.continueReady(t, id)
			},
			status: types.DeploymentStatusSucceeded, tg: allGreen,
			instances: "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Succeeded g3=Green:Succeeded"},
		{name: "STOP_DEPLOYMENT timed out", opts: bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionKeepAlive, ready: types.DeploymentReadyActionStopDeployment},
			status: types.DeploymentStatusStopped, code: "TIMEOUT", tg: "10.0.0.1:8080,10.0.0.2:8080",
			instances: "b1=Blue:Skipped b2=Blue:Skipped g1=Green:Failed g2=Green:Failed g3=Green:Failed"},
		{name: "a Green host fails, AllAtOnce goes on", opts: bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionKeepAlive},
			fail:   map[string]string{"g2": "ValidateService"},
			status: types.DeploymentStatusSucceeded, tg: "10.0.1.1:8080,10.0.1.3:8080",
			instances: "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Failed g3=Green:Succeeded"},
		{name: "a Green host fails, OneAtATime stops", opts: bgOpts{config: "CodeDeployDefault.OneAtATime", termination: types.InstanceActionKeepAlive, rollback: true},
			fail:   map[string]string{"g1": "Install"},
			status: types.DeploymentStatusFailed, code: "HEALTH_CONSTRAINTS", tg: "10.0.0.1:8080,10.0.0.2:8080",
			instances: "b1=Blue:Skipped b2=Blue:Skipped g1=Green:Failed g2=Green:Skipped g3=Green:Skipped"},
		{name: "a failed reroute rolls back to Blue", opts: bgOpts{config: "CodeDeployDefault.OneAtATime", termination: types.InstanceActionTerminate, rollback: true},
			fail:   map[string]string{"g1": "AfterAllowTraffic"},
			status: types.DeploymentStatusFailed, code: "HEALTH_CONSTRAINTS", tg: "10.0.0.1:8080,10.0.0.2:8080", rolledBack: true,
			instances: "b1=Blue:Skipped b2=Blue:Skipped g1=Green:Failed g2=Green:Failed g3=Green:Failed"},
		{name: "stop", opts: bgOpts{config: "CodeDeployDefault.OneAtATime", termination: types.InstanceActionKeepAlive},
			hold: map[string]string{"g2": ""},
			ready: func(t *testing.T, f *fleet, id string) {
				if _, err := f.client.StopDeployment(f.ctx, &cd.StopDeploymentInput{DeploymentId: aws.String(id)}); err != nil {
					t.Fatal(err)
				}
			},
			status: types.DeploymentStatusStopped, code: "MANUAL_STOP", tg: "10.0.0.1:8080,10.0.0.2:8080",
			instances: "b1=Blue:Skipped b2=Blue:Skipped g1=Green:Failed g2=Green:Failed g3=Green:Skipped"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := bgFleet(t, c.opts)
			for h, ev := range c.fail {
				f.agents.fail[h] = ev
			}
			for h := range c.hold {
				f.agents.held[h] = true
			}
			id := f.deployGreen()
			start := f.clk.Now()
			if c.ready != nil {
				err := f.drive(f.engine, id, func(d *codedeploy.Deployment) bool {
					if c.until != nil {
						return c.until(d)
					}
					if c.hold != nil {
						return slices.ContainsFunc(f.agents.order, func(x string) bool { return strings.Contains(x, "/g2/") })
					}
					return d.Status == codedeploy.StatusReady
				})
				if err != nil {
					t.Fatal(err)
				}
				c.ready(t, f, id)
			}
			d := f.run(id)
			if d.Status != c.status || code(d) != c.code {
				t.Fatalf("status %s %+v, want %s %s", d.Status, d.ErrorInformation, c.status, c.code)
			}
			if got := f.labels(id); got != c.instances {
				t.Errorf("instances %s\nwant      %s", got, c.instances)
			}
			if c.rolledBack {
				if d.RollbackInfo == nil || d.RollbackInfo.RollbackDeploymentId == nil {
					t.Fatalf("no rollback: %+v", d.RollbackInfo)
				}
				clear(f.agents.fail)
				rb := *d.RollbackInfo.RollbackDeploymentId
				r := f.run(rb)
				if r.Status != types.DeploymentStatusSucceeded {
					t.Fatalf("rollback %s %+v", r.Status, r.ErrorInformation)
				}
				if got, want := f.labels(rb), "b1=Blue:Succeeded b2=Blue:Succeeded g1=Green:Succeeded g2=Green:Succeeded g3=Green:Succeeded"; got != want {
					t.Errorf("rollback instances %s", got)
				}
				if got := f.agents.commands(rb); !slices.Contains(got, "b1 BeforeAllowTraffic") || !slices.Contains(got, "g1 AfterBlockTraffic") || slices.Contains(got, "b1 Install") {
					t.Errorf("rollback commands %v", got)
				}
			} else if d.RollbackInfo != nil {
				t.Errorf("rolled back: %+v", d.RollbackInfo)
			}
			if got := f.targets.state(blueTG); got != c.tg {
				t.Errorf("target group %s, want %s", got, c.tg)
			}
			cmds := f.agents.commands(id)
			stops := slices.Contains(cmds, "b1 ApplicationStop") && slices.Contains(cmds, "b2 ApplicationStop")
			if stops != c.blueStops {
				t.Errorf("blue ApplicationStop %v, want %v: %v", stops, c.blueStops, cmds)
			}
			if c.blueStops {
				if took := d.CompleteTime.Sub(start); !d.InstanceTerminationWaitTimeStarted || (took < 5*time.Minute) != c.quick {
					t.Errorf("termination wait started %v, deployment took %v (wait skipped: %v)", d.InstanceTerminationWaitTimeStarted, took, c.quick)
				}
			}
			if c.status == types.DeploymentStatusSucceeded {
				// Every Green instance took traffic before any Blue one
				// left.
				firstBlock := slices.IndexFunc(f.targets.log, func(l string) bool { return strings.HasPrefix(l, "deregister") })
				lastAllow := -1
				for i, l := range f.targets.log {
					if strings.HasPrefix(l, "register") {
						lastAllow = i
					}
				}
				if firstBlock < lastAllow {
					t.Errorf("Blue left before Green took traffic: %v", f.targets.log)
				}
				if got := f.agents.commands(id); !slices.Contains(got, "b1 BeforeBlockTraffic") || slices.Contains(got, "b1 Install") || slices.Contains(got, "g1 BeforeBlockTraffic") {
					t.Errorf("commands %v", got)
				}
			}
		})
	}
}

// TestServerBlueGreenBatches: the Green fleet is installed and rerouted in
// batches the minimum healthy hosts allow; OneAtATime has one Green host
// under way at a time.
func TestServerBlueGreenBatches(t *testing.T) {
	for _, c := range []struct {
		config string
		most   int
	}{
		{"CodeDeployDefault.OneAtATime", 1},
		{"CodeDeployDefault.AllAtOnce", 3},
	} {
		t.Run(c.config, func(t *testing.T) {
			f := bgFleet(t, bgOpts{config: c.config, termination: types.InstanceActionKeepAlive})
			id := f.deployGreen()
			if d := f.run(id); d.Status != types.DeploymentStatusSucceeded {
				t.Fatalf("%s %+v", d.Status, d.ErrorInformation)
			}
			most := 0
			open := map[string]bool{}
			for _, l := range f.agents.log {
				p := strings.Fields(l)
				if !strings.HasPrefix(p[1], "g") {
					continue
				}
				if p[0] == "issue" {
					open[p[1]] = true
				} else {
					delete(open, p[1])
				}
				most = max(most, len(open))
			}
			if most != c.most {
				t.Errorf("%d Green hosts ran commands at once, want %d", most, c.most)
			}
		})
	}
}

// TestServerBlueGreenNoReplacement: without targetInstances there is no
// Green fleet to name, and CreateDeployment refuses the deployment;
// targetInstances that match no instance fail it with NO_INSTANCES.
func TestServerBlueGreenNoReplacement(t *testing.T) {
	f := bgFleet(t, bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionKeepAlive})
	_, err := f.client.CreateDeployment(f.ctx, &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String("bg"), Revision: bundle("v2.tgz")})
	wantErr[*types.InvalidTargetInstancesException](t, err)
	d := f.run(f.deploy("bg", "v2.tgz", func(in *cd.CreateDeploymentInput) {
		in.TargetInstances = &types.TargetInstances{TagFilters: []types.EC2TagFilter{{Key: aws.String("fleet"), Value: aws.String("none"), Type: types.EC2TagFilterTypeKeyAndValue}}}
	}))
	if d.Status != types.DeploymentStatusFailed || code(d) != "NO_INSTANCES" {
		t.Fatalf("%s %+v", d.Status, d.ErrorInformation)
	}
}

// TestServerBlueGreenCrash: an engine that crashes at any step of a
// blue/green deployment, before or after storing it, leaves the next one
// to finish it exactly as an uninterrupted run does: the same instances,
// each command issued once, the same target group.
func TestServerBlueGreenCrash(t *testing.T) {
	type result struct {
		status, instances, tg string
		commands              []string
	}
	runOnce := func(phase string, crashAt int) result {
		f := bgFleet(t, bgOpts{config: "CodeDeployDefault.AllAtOnce", termination: types.InstanceActionTerminate})
		f.agents.fail["g2"] = "ValidateService"
		id := f.deployGreen()
		passes := 0
		first := f.newServerEngine("first", func(_, _, p string) error {
			if p != phase {
				return nil
			}
			if passes++; passes == crashAt {
				return errCrash
			}
			return nil
		})
		err := f.drive(first, id, nil)
		if crashAt > 0 {
			if !errors.Is(err, errCrash) {
				return result{}
			}
			if err := f.drive(f.newServerEngine("second", nil), id, nil); err != nil {
				t.Fatalf("after a crash at %s %d: %v", phase, crashAt, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		d := f.get(id)
		cmds := f.agents.commands(id)
		slices.Sort(cmds)
		return result{status: string(d.Status) + " " + code(d), instances: f.labels(id), tg: f.targets.state(blueTG), commands: cmds}
	}
	want := runOnce("", 0)
	if want.status != "Succeeded " || want.tg != "10.0.1.1:8080,10.0.1.3:8080" {
		t.Fatalf("uninterrupted run: %+v", want)
	}
	for _, phase := range []string{"effect", "stored"} {
		// Every fifth stored step keeps the test quick.
		for at := 1; ; at += 5 {
			got := runOnce(phase, at)
			if got.status == "" {
				break
			}
			if got.status != want.status || got.instances != want.instances || got.tg != want.tg || !slices.Equal(got.commands, want.commands) {
				t.Fatalf("crash %s at %d:\n got %+v\nwant %+v", phase, at, got, want)
			}
		}
	}
}
