package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/agentcmd"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/elb"
)

// fakeAgents plays the agent command service and the hosts behind it. A
// command is taken and ends the first time the engine reads it after
// issuing it, as its host's behaviour says: hosts listed in fail fail that
// event, silent hosts never poll (their commands time out after ackTimeout
// of clock time), and held hosts take nothing until released.
type fakeAgents struct {
	mu      sync.Mutex
	now     func() time.Time
	cmds    map[string]*fakeCmd
	order   []string // command ids in issue order
	log     []string // "issue host event" and "end host event status", in order
	issues  int      // Issue calls, repeats included
	fail    map[string]string
	silent  map[string]bool
	held    map[string]bool
	cancels int
	// batches counts Statuses calls, singles Status calls.
	batches, singles int
}

type fakeCmd struct {
	c     agentcmd.Command
	state agentcmd.CommandState
	at    time.Time
}

const fakeAckTimeout = 5 * time.Minute

func newFakeAgents(now func() time.Time) *fakeAgents {
	return &fakeAgents{now: now, cmds: map[string]*fakeCmd{}, fail: map[string]string{}, silent: map[string]bool{}, held: map[string]bool{}}
}

func hostName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func (f *fakeAgents) Issue(ctx context.Context, c agentcmd.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues++
	if old, ok := f.cmds[c.ID]; ok {
		if old.c.CommandName != c.CommandName || old.c.HostIdentifier != c.HostIdentifier {
			return agentcmd.ErrIDReused
		}
		return nil
	}
	if !slices.Contains(agentcmd.CommandNames, c.CommandName) {
		return fmt.Errorf("%w: %s", agentcmd.ErrInvalidCommand, c.CommandName)
	}
	// A host runs one command at a time: the engine must not give it a
	// second while one is open.
	for _, o := range f.cmds {
		if o.c.HostIdentifier == c.HostIdentifier && !o.state.Status.Ended() {
			return fmt.Errorf("host %s got %s while %s is open", c.HostIdentifier, c.CommandName, o.c.CommandName)
		}
	}
	f.cmds[c.ID] = &fakeCmd{c: c, state: agentcmd.CommandState{Status: agentcmd.StatusPending}, at: f.now()}
	f.order = append(f.order, c.ID)
	f.log = append(f.log, "issue "+hostName(c.HostIdentifier)+" "+c.CommandName)
	return nil
}

func (f *fakeAgents) Status(ctx context.Context, id string) (agentcmd.CommandState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singles++
	return f.status(id)
}

func (f *fakeAgents) status(id string) (agentcmd.CommandState, error) {
	x, ok := f.cmds[id]
	if !ok {
		return agentcmd.CommandState{}, agentcmd.ErrNotFound
	}
	host := hostName(x.c.HostIdentifier)
	if !x.state.Status.Ended() {
		switch {
		case f.silent[host]:
			if !f.now().Before(x.at.Add(fakeAckTimeout)) {
				f.end(x, agentcmd.StatusTimedOut, agentcmd.Diagnostics{})
			}
		case f.held[host]:
		case f.fail[host] == x.c.CommandName:
			x.state.Acknowledged = f.now()
			f.end(x, agentcmd.StatusFailed, agentcmd.Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/check.sh",
				Message: "Script at specified location: scripts/check.sh failed with exit code 3", LogTail: "[stdout]checking\n"})
		default:
			x.state.Acknowledged = f.now()
			f.end(x, agentcmd.StatusSucceeded, agentcmd.Diagnostics{ErrorCode: "Success"})
		}
	}
	return x.state, nil
}

// Statuses is the batch read (statusBatcher): Status for each issued id.
// batches counts its calls.
func (f *fakeAgents) Statuses(ctx context.Context, ids []string) (map[string]agentcmd.CommandState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	out := map[string]agentcmd.CommandState{}
	for _, id := range ids {
		st, err := f.status(id)
		if errors.Is(err, agentcmd.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, nil
}

func (f *fakeAgents) end(x *fakeCmd, st agentcmd.Status, d agentcmd.Diagnostics) {
	x.state.Status, x.state.Diagnostics, x.state.Ended = st, d, f.now()
	f.log = append(f.log, fmt.Sprintf("end %s %s %s", hostName(x.c.HostIdentifier), x.c.CommandName, st))
}

func (f *fakeAgents) Cancel(ctx context.Context, deploymentID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels++
	for _, id := range f.order {
		x := f.cmds[id]
		if x.c.DeploymentID == deploymentID && x.state.Status == agentcmd.StatusPending && x.state.Acknowledged.IsZero() {
			f.end(x, agentcmd.StatusCancelled, agentcmd.Diagnostics{})
		}
	}
	return nil
}

func (f *fakeAgents) LastPoll(ctx context.Context, host string) (time.Time, error) {
	return time.Time{}, nil
}

// commands lists "host event" for the deployment's commands in issue order.
func (f *fakeAgents) commands(deploymentID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, id := range f.order {
		if x := f.cmds[id]; x.c.DeploymentID == deploymentID {
			out = append(out, hostName(x.c.HostIdentifier)+" "+x.c.CommandName)
		}
	}
	return out
}

// concurrency is the most hosts that had a deployment's commands under way
// at once: a host counts from its first command's issue to its last one's end.
func (f *fakeAgents) concurrency() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	first, last := map[string]int{}, map[string]int{}
	for i, l := range f.log {
		p := strings.Fields(l)
		if _, ok := first[p[1]]; !ok {
			first[p[1]] = i
		}
		last[p[1]] = i
	}
	best := 0
	for i := range f.log {
		n := 0
		for h := range first {
			if first[h] <= i && i <= last[h] {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// fakeTargets is a load balancer's target groups: a registered target is
// healthy at the next look, a deregistered one drains for one look.
type fakeTargets struct {
	mu  sync.Mutex
	tgs map[string][]elb.Target
	log []string
}

func (f *fakeTargets) RegisterTargets(ctx context.Context, tg string, ts ...elb.TargetRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		f.log = append(f.log, fmt.Sprintf("register %s %s:%d", tgName(tg), t.ID, t.Port))
		f.tgs[tg] = slices.DeleteFunc(f.tgs[tg], func(x elb.Target) bool { return x.ID == t.ID })
		f.tgs[tg] = append(f.tgs[tg], elb.Target{ID: t.ID, Port: t.Port, State: "initial"})
	}
	return nil
}

func (f *fakeTargets) DeregisterTargets(ctx context.Context, tg string, ts ...elb.TargetRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		i := slices.IndexFunc(f.tgs[tg], func(x elb.Target) bool { return x.ID == t.ID })
		if i < 0 {
			return awsproto.Errorf("InvalidTarget", "The target %s is not registered", t.ID)
		}
		f.log = append(f.log, fmt.Sprintf("deregister %s %s:%d", tgName(tg), t.ID, t.Port))
		f.tgs[tg][i].State = "draining"
	}
	return nil
}

func (f *fakeTargets) TargetGroupTargets(ctx context.Context, tg string) ([]elb.Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.tgs[tg])
	var keep []elb.Target
	for i := range f.tgs[tg] {
		switch f.tgs[tg][i].State {
		case "draining":
			continue
		case "initial":
			f.tgs[tg][i].State = "healthy"
		}
		keep = append(keep, f.tgs[tg][i])
	}
	f.tgs[tg] = keep
	return out, nil
}

func (f *fakeTargets) state(tg string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, t := range f.tgs[tg] {
		parts = append(parts, fmt.Sprintf("%s:%d", t.ID, t.Port))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// fleet is a Server application on the engine env: on-premises instances
// tagged fleet=web, a group selecting them, fake agents and target groups.
type fleet struct {
	*env
	agents  *fakeAgents
	targets *fakeTargets
}

func newFleet(t *testing.T, hosts int) *fleet {
	e := newEnv(t)
	f := &fleet{env: e, agents: newFakeAgents(e.clk.Now), targets: &fakeTargets{tgs: map[string][]elb.Target{}}}
	f.engine = f.newServerEngine("engine-1", nil)
	if _, err := e.client.CreateApplication(e.ctx, &cd.CreateApplicationInput{ApplicationName: aws.String("srv"), ComputePlatform: types.ComputePlatformServer}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= hosts; i++ {
		f.addHost(fmt.Sprintf("h%d", i), fmt.Sprintf("10.0.0.%d:8080", i))
	}
	return f
}

func (f *fleet) newServerEngine(owner string, hook func(id, step, phase string) error) *Engine {
	en, err := New(Config{Store: f.st, CodeDeploy: f.cd, ECS: f.ecs, Traffic: f.traffic, Agents: f.agents, HostTargets: f.targets,
		Clock: f.clk, Owner: owner, PollInterval: time.Second, LeaseTTL: 10 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	en.cfg.stepHook = hook
	return en
}

func (f *fleet) addHost(name, target string) {
	f.t.Helper()
	if _, err := f.client.RegisterOnPremisesInstance(f.ctx, &cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String(name),
		IamUserArn: aws.String("arn:aws:iam::123456789012:user/" + name)}); err != nil {
		f.t.Fatal(err)
	}
	tags := []types.Tag{{Key: aws.String("fleet"), Value: aws.String("web")}, {Key: aws.String(TargetTag), Value: aws.String(target)}}
	if _, err := f.client.AddTagsToOnPremisesInstances(f.ctx, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{name}, Tags: tags}); err != nil {
		f.t.Fatal(err)
	}
}

type serverGroupOpts struct {
	config   string
	traffic  bool
	rollback []types.AutoRollbackEvent
	filter   string // tag value selected; default "web"
	triggers []types.TriggerConfig
}

func (f *fleet) group(name string, o serverGroupOpts) {
	f.t.Helper()
	if o.filter == "" {
		o.filter = "web"
	}
	in := &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String(name), ServiceRoleArn: aws.String(testRole),
		OnPremisesInstanceTagFilters: []types.TagFilter{{Key: aws.String("fleet"), Value: aws.String(o.filter), Type: types.TagFilterTypeKeyAndValue}},
		TriggerConfigurations:        o.triggers}
	if o.config != "" {
		in.DeploymentConfigName = aws.String(o.config)
	}
	if o.traffic {
		in.DeploymentStyle = &types.DeploymentStyle{DeploymentType: types.DeploymentTypeInPlace, DeploymentOption: types.DeploymentOptionWithTrafficControl}
		in.LoadBalancerInfo = &types.LoadBalancerInfo{TargetGroupInfoList: []types.TargetGroupInfo{{Name: aws.String("blue")}}}
	}
	if len(o.rollback) > 0 {
		in.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true, Events: o.rollback}
	}
	if _, err := f.client.CreateDeploymentGroup(f.ctx, in); err != nil {
		f.t.Fatal(err)
	}
}

func bundle(key string) *types.RevisionLocation {
	return &types.RevisionLocation{RevisionType: types.RevisionLocationTypeS3, S3Location: &types.S3Location{
		Bucket: aws.String("bundles"), Key: aws.String(key), BundleType: types.BundleTypeTarGZip}}
}

func (f *fleet) deploy(group, key string, mut func(*cd.CreateDeploymentInput)) string {
	f.t.Helper()
	in := &cd.CreateDeploymentInput{ApplicationName: aws.String("srv"), DeploymentGroupName: aws.String(group), Revision: bundle(key)}
	if mut != nil {
		mut(in)
	}
	out, err := f.client.CreateDeployment(f.ctx, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return *out.DeploymentId
}

func (f *fleet) run(id string) *types.DeploymentInfo {
	f.t.Helper()
	if err := f.drive(f.engine, id, nil); err != nil {
		f.t.Fatal(err)
	}
	return f.get(id)
}

// statuses is "name=status" of every instance target of a deployment.
func (f *fleet) statuses(id string) string {
	f.t.Helper()
	ins, err := f.cd.ServerInstances(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var parts []string
	for _, in := range ins {
		parts = append(parts, in.InstanceName+"="+in.Target.Status)
	}
	return strings.Join(parts, " ")
}

func code(d *types.DeploymentInfo) string {
	if d.ErrorInformation == nil {
		return ""
	}
	return string(d.ErrorInformation.Code)
}

func overviewOf(d *types.DeploymentInfo) string {
	o := d.DeploymentOverview
	if o == nil {
		return "none"
	}
	return fmt.Sprintf("P%d I%d S%d F%d K%d", o.Pending, o.InProgress, o.Succeeded, o.Failed, o.Skipped)
}

var inPlaceEvents = "ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService"

func TestServerFleetRules(t *testing.T) {
	for _, c := range []struct {
		name        string
		hosts       int
		config      string
		custom      *types.MinimumHealthyHosts
		fail        map[string]string
		silent      []string
		ignoreStop  bool
		status      string
		code        string
		instances   string
		overview    string
		concurrency int
	}{
		{name: "one at a time", hosts: 3, config: "CodeDeployDefault.OneAtATime", status: "Succeeded",
			instances: "h1=Succeeded h2=Succeeded h3=Succeeded", overview: "P0 I0 S3 F0 K0", concurrency: 1},
		{name: "half at a time", hosts: 4, config: "CodeDeployDefault.HalfAtATime", status: "Succeeded",
			instances: "h1=Succeeded h2=Succeeded h3=Succeeded h4=Succeeded", overview: "P0 I0 S4 F0 K0", concurrency: 2},
		{name: "half of nine is four at a time", hosts: 9, config: "CodeDeployDefault.HalfAtATime", status: "Succeeded", overview: "P0 I0 S9 F0 K0", concurrency: 4},
		{name: "all at once", hosts: 3, config: "CodeDeployDefault.AllAtOnce", status: "Succeeded", overview: "P0 I0 S3 F0 K0", concurrency: 3},
		{name: "all at once with one failing host", hosts: 3, config: "CodeDeployDefault.AllAtOnce", fail: map[string]string{"h2": "ValidateService"},
			status: "Succeeded", instances: "h1=Succeeded h2=Failed h3=Succeeded", overview: "P0 I0 S2 F1 K0", concurrency: 3},
		{name: "all at once, all failing", hosts: 2, config: "CodeDeployDefault.AllAtOnce", fail: map[string]string{"h1": "Install", "h2": "Install"},
			status: "Failed", code: "HEALTH_CONSTRAINTS", overview: "P0 I0 S0 F2 K0"},
		{name: "one at a time fails at the first failure", hosts: 3, config: "CodeDeployDefault.OneAtATime", fail: map[string]string{"h1": "AfterInstall"},
			status: "Failed", code: "HEALTH_CONSTRAINTS", instances: "h1=Failed h2=Skipped h3=Skipped", overview: "P0 I0 S0 F1 K2"},
		{name: "one at a time tolerates the last instance", hosts: 3, config: "CodeDeployDefault.OneAtATime", fail: map[string]string{"h3": "ValidateService"},
			status: "Succeeded", instances: "h1=Succeeded h2=Succeeded h3=Failed"},
		{name: "one instance must succeed", hosts: 1, config: "CodeDeployDefault.OneAtATime", fail: map[string]string{"h1": "ValidateService"},
			status: "Failed", code: "HEALTH_CONSTRAINTS"},
		{name: "half at a time, too many failures", hosts: 4, config: "CodeDeployDefault.HalfAtATime", fail: map[string]string{"h1": "Install", "h2": "Install"},
			status: "Failed", code: "HEALTH_CONSTRAINTS", instances: "h1=Failed h2=Failed h3=Skipped h4=Skipped"},
		{name: "host count leaves no room", hosts: 3, custom: &types.MinimumHealthyHosts{Type: types.MinimumHealthyHostsTypeHostCount, Value: 3},
			status: "Failed", code: "HEALTH_CONSTRAINTS_INVALID", overview: "P0 I0 S0 F0 K3"},
		{name: "fleet percent rounds up", hosts: 3, custom: &types.MinimumHealthyHosts{Type: types.MinimumHealthyHostsTypeFleetPercent, Value: 95},
			status: "Failed", code: "HEALTH_CONSTRAINTS_INVALID"},
		{name: "custom host count", hosts: 5, custom: &types.MinimumHealthyHosts{Type: types.MinimumHealthyHostsTypeHostCount, Value: 2},
			status: "Succeeded", concurrency: 3},
		{name: "silent agents", hosts: 2, config: "CodeDeployDefault.AllAtOnce", silent: []string{"h1", "h2"},
			status: "Failed", code: "AGENT_ISSUE", instances: "h1=Failed h2=Failed"},
		{name: "application stop failure stops the instance", hosts: 1, config: "CodeDeployDefault.OneAtATime", fail: map[string]string{"h1": "ApplicationStop"},
			status: "Failed", code: "HEALTH_CONSTRAINTS"},
		{name: "application stop failure ignored", hosts: 1, config: "CodeDeployDefault.OneAtATime", fail: map[string]string{"h1": "ApplicationStop"}, ignoreStop: true,
			status: "Succeeded", instances: "h1=Succeeded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFleet(t, c.hosts)
			cfg := c.config
			if c.custom != nil {
				cfg = "custom"
				if _, err := f.client.CreateDeploymentConfig(f.ctx, &cd.CreateDeploymentConfigInput{DeploymentConfigName: aws.String(cfg),
					ComputePlatform: types.ComputePlatformServer, MinimumHealthyHosts: c.custom}); err != nil {
					t.Fatal(err)
				}
			}
			f.group("g", serverGroupOpts{config: cfg})
			for h, ev := range c.fail {
				f.agents.fail[h] = ev
			}
			for _, h := range c.silent {
				f.agents.silent[h] = true
			}
			id := f.deploy("g", "app.tgz", func(in *cd.CreateDeploymentInput) { in.IgnoreApplicationStopFailures = c.ignoreStop })
			d := f.run(id)
			if string(d.Status) != c.status || code(d) != c.code {
				t.Fatalf("status %s %s (%+v), want %s %s", d.Status, code(d), d.ErrorInformation, c.status, c.code)
			}
			if c.instances != "" {
				if got := f.statuses(id); got != c.instances {
					t.Errorf("instances %s, want %s", got, c.instances)
				}
			}
			if c.overview != "" {
				if got := overviewOf(d); got != c.overview {
					t.Errorf("overview %s, want %s", got, c.overview)
				}
			}
			if c.concurrency > 0 {
				if got := f.agents.concurrency(); got != c.concurrency {
					t.Errorf("%d hosts at once, want %d", got, c.concurrency)
				}
			}
			if f.agents.issues < len(f.agents.order) {
				t.Fatal("impossible issue count")
			}
		})
	}
}

// TestServerLifecycle checks one instance's events and commands in AWS's
// order, the spec the host gets, and the targets as the API reports them.
func TestServerLifecycle(t *testing.T) {
	f := newFleet(t, 2)
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.OneAtATime"})
	f.agents.fail["h2"] = "ValidateService"
	id := f.deploy("g", "app.tgz", func(in *cd.CreateDeploymentInput) { in.FileExistsBehavior = types.FileExistsBehaviorOverwrite })
	d := f.run(id)
	if d.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("status %s %+v", d.Status, d.ErrorInformation)
	}
	var want []string
	for _, h := range []string{"h1", "h2"} {
		for _, ev := range strings.Fields(inPlaceEvents) {
			want = append(want, h+" "+ev)
		}
	}
	if got := f.agents.commands(id); !slices.Equal(got, want) {
		t.Fatalf("commands\n%v\nwant\n%v", got, want)
	}
	g, _ := f.cd.GetDeploymentGroup(f.ctx, "srv", "g")
	for _, x := range f.agents.cmds {
		sp := x.c.Spec
		if sp.DeploymentGroupID != g.DeploymentGroupID || sp.Revision.S3Revision.Key != "app.tgz" || sp.Revision.S3Revision.BundleType != "tgz" ||
			sp.AppSpecFilename != "appspec.yml" || sp.AgentActionOverrides == nil || sp.AgentActionOverrides.AgentOverrides.FileExistsBehavior != "OVERWRITE" ||
			x.c.ID != id+"/"+x.c.InstanceName+"/"+x.c.CommandName {
			t.Fatalf("command %+v spec %+v", x.c, sp)
		}
	}
	// The API's view.
	lt, err := f.client.ListDeploymentTargets(f.ctx, &cd.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil || !slices.Equal(lt.TargetIds, []string{"h1", "h2"}) {
		t.Fatalf("targets %v %v", lt, err)
	}
	lt, err = f.client.ListDeploymentTargets(f.ctx, &cd.ListDeploymentTargetsInput{DeploymentId: aws.String(id), TargetFilters: map[string][]string{"TargetStatus": {"Failed"}}})
	if err != nil || !slices.Equal(lt.TargetIds, []string{"h2"}) {
		t.Fatalf("failed targets %v %v", lt, err)
	}
	bt, err := f.client.BatchGetDeploymentTargets(f.ctx, &cd.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id), TargetIds: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	it := bt.DeploymentTargets[0].InstanceTarget
	if bt.DeploymentTargets[0].DeploymentTargetType != types.DeploymentTargetTypeInstanceTarget || it.Status != types.TargetStatusFailed ||
		*it.TargetArn != "arn:aws:codedeploy:us-east-1:123456789012:instance/h2" {
		t.Fatalf("target %+v", it)
	}
	var evs []string
	for _, ev := range it.LifecycleEvents {
		evs = append(evs, *ev.LifecycleEventName+"="+string(ev.Status))
		if *ev.LifecycleEventName == "ValidateService" {
			dg := ev.Diagnostics
			if dg == nil || dg.ErrorCode != types.LifecycleErrorCodeScriptFailed || *dg.ScriptName != "scripts/check.sh" || *dg.LogTail != "[stdout]checking\n" {
				t.Fatalf("diagnostics %+v", dg)
			}
		}
	}
	if got := strings.Join(evs, " "); got != "ApplicationStop=Succeeded DownloadBundle=Succeeded BeforeInstall=Succeeded Install=Succeeded AfterInstall=Succeeded ApplicationStart=Succeeded ValidateService=Failed" {
		t.Fatalf("events %s", got)
	}
	gi, err := f.client.GetDeploymentInstance(f.ctx, &cd.GetDeploymentInstanceInput{DeploymentId: aws.String(id), InstanceId: aws.String("h1")})
	if err != nil || gi.InstanceSummary.Status != types.InstanceStatusSucceeded || len(gi.InstanceSummary.LifecycleEvents) != 7 {
		t.Fatalf("instance %+v %v", gi, err)
	}
}

// TestServerTraffic: with a load balancer, each instance leaves its target
// group before its scripts run and comes back, healthy, after.
func TestServerTraffic(t *testing.T) {
	f := newFleet(t, 2)
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.OneAtATime", traffic: true})
	// Both hosts serve before the deployment.
	for i, h := range []string{"10.0.0.1", "10.0.0.2"} {
		_ = i
		f.targets.tgs[blueTG] = append(f.targets.tgs[blueTG], elb.Target{ID: h, Port: 8080, State: "healthy"})
	}
	id := f.deploy("g", "app.tgz", nil)
	d := f.run(id)
	if d.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("status %s %+v", d.Status, d.ErrorInformation)
	}
	want := []string{"deregister blue 10.0.0.1:8080", "register blue 10.0.0.1:8080", "deregister blue 10.0.0.2:8080", "register blue 10.0.0.2:8080"}
	if !slices.Equal(f.targets.log, want) {
		t.Fatalf("load balancer %v", f.targets.log)
	}
	if got := f.targets.state(blueTG); got != "10.0.0.1:8080,10.0.0.2:8080" {
		t.Fatalf("target group %s", got)
	}
	cmds := f.agents.commands(id)
	if cmds[0] != "h1 BeforeBlockTraffic" || cmds[1] != "h1 AfterBlockTraffic" || cmds[len(cmds)-1] != "h2 AfterAllowTraffic" || len(cmds) != 2*11 {
		t.Fatalf("commands %v", cmds)
	}
	bt, err := f.client.BatchGetDeploymentTargets(f.ctx, &cd.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id), TargetIds: []string{"h1"}})
	if err != nil || len(bt.DeploymentTargets[0].InstanceTarget.LifecycleEvents) != 13 {
		t.Fatalf("targets %+v %v", bt, err)
	}
}

// TestServerStop: a stop cancels the commands no host took and ends the
// instances: the one under way Failed, the rest Skipped.
func TestServerStop(t *testing.T) {
	f := newFleet(t, 3)
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.OneAtATime"})
	f.agents.held["h1"] = true
	id := f.deploy("g", "app.tgz", nil)
	if err := f.drive(f.engine, id, func(*codedeploy.Deployment) bool { return len(f.agents.order) > 0 }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.StopDeployment(f.ctx, &cd.StopDeploymentInput{DeploymentId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	d := f.run(id)
	if d.Status != types.DeploymentStatusStopped || code(d) != "MANUAL_STOP" {
		t.Fatalf("status %s %+v", d.Status, d.ErrorInformation)
	}
	if f.agents.cancels != 1 || f.agents.cmds[id+"/h1/ApplicationStop"].state.Status != agentcmd.StatusCancelled {
		t.Fatalf("cancels %d, log %v", f.agents.cancels, f.agents.log)
	}
	if got := f.statuses(id); got != "h1=Failed h2=Skipped h3=Skipped" {
		t.Fatalf("instances %s", got)
	}
	if got := overviewOf(d); got != "P0 I0 S0 F1 K2" {
		t.Fatalf("overview %s", got)
	}
}

// TestServerRollback: a failed deployment rolls back by deploying the
// group's last successful revision to the instances it reached.
func TestServerRollback(t *testing.T) {
	f := newFleet(t, 3)
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.OneAtATime", rollback: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}})
	first := f.deploy("g", "v1.tgz", nil)
	if d := f.run(first); d.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("v1: %s %+v", d.Status, d.ErrorInformation)
	}
	f.agents.fail["h2"] = "ValidateService"
	second := f.deploy("g", "v2.tgz", nil)
	d := f.run(second)
	if d.Status != types.DeploymentStatusFailed || d.RollbackInfo == nil || d.RollbackInfo.RollbackDeploymentId == nil {
		t.Fatalf("v2: %s %+v %+v", d.Status, d.ErrorInformation, d.RollbackInfo)
	}
	rb := *d.RollbackInfo.RollbackDeploymentId
	delete(f.agents.fail, "h2")
	r := f.run(rb)
	if r.Status != types.DeploymentStatusSucceeded || r.Creator != types.DeploymentCreatorCodeDeployRollback {
		t.Fatalf("rollback: %s %s %+v", r.Status, r.Creator, r.ErrorInformation)
	}
	if got := f.statuses(rb); got != "h1=Succeeded h2=Succeeded" {
		t.Fatalf("rollback instances %s", got)
	}
	for _, x := range f.agents.cmds {
		if x.c.DeploymentID == rb && (x.c.Spec.Revision.S3Revision.Key != "v1.tgz" || x.c.Spec.DeploymentCreator != "codeDeployRollback") {
			t.Fatalf("rollback command %+v", x.c.Spec)
		}
	}
	g, _ := f.cd.GetDeploymentGroup(f.ctx, "srv", "g")
	if *g.TargetRevision.S3Location.Key != "v1.tgz" {
		t.Fatalf("target revision %s", *g.TargetRevision.S3Location.Key)
	}
	// Without a revision to go back to, a failure does not roll back.
	f.group("fresh", serverGroupOpts{rollback: []types.AutoRollbackEvent{types.AutoRollbackEventDeploymentFailure}})
	f.agents.fail["h1"] = "Install"
	d = f.run(f.deploy("fresh", "v1.tgz", nil))
	if d.Status != types.DeploymentStatusFailed || d.RollbackInfo != nil {
		t.Fatalf("fresh: %s %+v", d.Status, d.RollbackInfo)
	}
}

// TestServerSelection: the group's filters, deregistered instances, no
// instances, targetInstances and updateOutdatedInstancesOnly.
func TestServerSelection(t *testing.T) {
	f := newFleet(t, 3)
	f.addHost("other", "10.0.1.1:80")
	if _, err := f.client.AddTagsToOnPremisesInstances(f.ctx, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"other"},
		Tags: []types.Tag{{Key: aws.String("fleet"), Value: aws.String("db")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeregisterOnPremisesInstance(f.ctx, &cd.DeregisterOnPremisesInstanceInput{InstanceName: aws.String("h3")}); err != nil {
		t.Fatal(err)
	}
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.AllAtOnce"})
	id := f.deploy("g", "v1.tgz", nil)
	if d := f.run(id); d.Status != types.DeploymentStatusSucceeded || f.statuses(id) != "h1=Succeeded h2=Succeeded" {
		t.Fatalf("%s %s", d.Status, f.statuses(id))
	}
	// Up to date instances are skipped.
	if _, err := f.client.RegisterOnPremisesInstance(f.ctx, &cd.RegisterOnPremisesInstanceInput{InstanceName: aws.String("h4"),
		IamUserArn: aws.String("arn:aws:iam::123456789012:user/h4")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AddTagsToOnPremisesInstances(f.ctx, &cd.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"h4"},
		Tags: []types.Tag{{Key: aws.String("fleet"), Value: aws.String("web")}}}); err != nil {
		t.Fatal(err)
	}
	id = f.deploy("g", "v1.tgz", func(in *cd.CreateDeploymentInput) { in.UpdateOutdatedInstancesOnly = true })
	d := f.run(id)
	if d.Status != types.DeploymentStatusSucceeded || f.statuses(id) != "h1=Skipped h2=Skipped h4=Succeeded" || overviewOf(d) != "P0 I0 S1 F0 K2" {
		t.Fatalf("outdated only: %s %s %s", d.Status, f.statuses(id), overviewOf(d))
	}
	// targetInstances narrows the fleet.
	id = f.deploy("g", "v2.tgz", func(in *cd.CreateDeploymentInput) {
		in.TargetInstances = &types.TargetInstances{TagFilters: []types.EC2TagFilter{{Key: aws.String(TargetTag), Value: aws.String("10.0.0.2:8080"), Type: types.EC2TagFilterTypeKeyAndValue}}}
	})
	if d := f.run(id); d.Status != types.DeploymentStatusSucceeded || f.statuses(id) != "h2=Succeeded" {
		t.Fatalf("target instances: %s %s", d.Status, f.statuses(id))
	}
	// A group selecting nothing fails its deployment.
	f.group("empty", serverGroupOpts{filter: "nothing"})
	d = f.run(f.deploy("empty", "v1.tgz", nil))
	if d.Status != types.DeploymentStatusFailed || code(d) != "NO_INSTANCES" {
		t.Fatalf("empty: %s %s", d.Status, code(d))
	}
	if got := f.agents.commands(*d.DeploymentId); len(got) != 0 {
		t.Fatalf("commands %v", got)
	}
}

// TestServerCrashMidFleet kills the engine at every step of a HalfAtATime
// deployment (after its side effects, and after it was stored) and checks
// that a fresh engine ends it exactly as an uninterrupted run does, never
// issuing a command twice or one the run would not have.
func TestServerCrashMidFleet(t *testing.T) {
	type result struct {
		status, instances, overview string
		commands                    []string
		lb                          []string
	}
	runOnce := func(phase string, crashAt int) (result, int) {
		f := newFleet(t, 4)
		f.group("g", serverGroupOpts{config: "CodeDeployDefault.HalfAtATime", traffic: true})
		for _, h := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"} {
			f.targets.tgs[blueTG] = append(f.targets.tgs[blueTG], elb.Target{ID: h, Port: 8080, State: "healthy"})
		}
		f.agents.fail["h3"] = "ValidateService"
		id := f.deploy("g", "app.tgz", nil)
		passes := 0
		first := f.newServerEngine("first", func(_, _, p string) error {
			if p != phase {
				return nil
			}
			passes++
			if passes == crashAt {
				return errCrash
			}
			return nil
		})
		err := f.drive(first, id, nil)
		if crashAt > 0 {
			if !errors.Is(err, errCrash) {
				return result{}, -1
			}
			if err := f.drive(f.newServerEngine("second", nil), id, nil); err != nil {
				t.Fatalf("after a crash at %s %d: %v", phase, crashAt, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		d := f.get(id)
		return result{status: string(d.Status) + " " + code(d), instances: f.statuses(id), overview: overviewOf(d),
			commands: f.agents.commands(id), lb: slices.Clone(f.targets.log)}, passes
	}
	want, _ := runOnce("", 0)
	if want.status != "Succeeded " || want.instances != "h1=Succeeded h2=Succeeded h3=Failed h4=Succeeded" {
		t.Fatalf("uninterrupted run: %+v", want)
	}
	for _, phase := range []string{"effect", "stored"} {
		// Every third step keeps the test quick; the steps are alike.
		for at := 1; ; at += 3 {
			got, _ := runOnce(phase, at)
			if got.status == "" {
				break
			}
			slices.Sort(got.commands)
			w := slices.Clone(want.commands)
			slices.Sort(w)
			if got.status != want.status || got.instances != want.instances || got.overview != want.overview || !slices.Equal(got.commands, w) {
				t.Fatalf("crash %s at %d:\n got %+v\nwant %+v", phase, at, got, want)
			}
			if len(got.lb) != len(want.lb) {
				t.Fatalf("crash %s at %d: load balancer %v, want %v", phase, at, got.lb, want.lb)
			}
		}
	}
}

// TestServerStatusBatch: a pass reads the commands of the hosts it
// advances in one Statuses call, never one Status per host, and issues a
// host's next command without reading it first; every command is issued
// once.
func TestServerStatusBatch(t *testing.T) {
	f := newFleet(t, 4)
	f.group("g", serverGroupOpts{config: "CodeDeployDefault.AllAtOnce"})
	id := f.deploy("g", "app.tgz", nil)
	if d := f.run(id); d.Status != types.DeploymentStatusSucceeded {
		t.Fatalf("%s %+v", d.Status, d.ErrorInformation)
	}
	if f.agents.singles != 0 || f.agents.batches == 0 {
		t.Fatalf("%d Status calls, %d Statuses calls", f.agents.singles, f.agents.batches)
	}
	if n := len(f.agents.commands(id)); n != 4*7 || f.agents.issues != n {
		t.Fatalf("%d commands, %d Issue calls", n, f.agents.issues)
	}
}
