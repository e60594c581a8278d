package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/agentcmd"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/elb"
)

// A Server (EC2/on-premises) in-place deployment runs each instance through
// its lifecycle events: script events are commands for the host's agent
// (agentcmd), BlockTraffic and AllowTraffic are the engine's own work on
// the group's target groups. Instances are taken in batches the deployment
// config's minimum healthy hosts allow. Every instance is a record of its
// own (codedeploy.ServerInstance); the deployment's EngineState keeps only
// what is the same for all of them.

const (
	serverStepStart  = "Start"
	serverStepDeploy = "Deploy"

	evApplicationStop    = "ApplicationStop"
	evDownloadBundle     = "DownloadBundle"
	evApplicationStart   = "ApplicationStart"
	evValidateService    = "ValidateService"
	evBeforeBlockTraffic = "BeforeBlockTraffic"
	evBlockTraffic       = "BlockTraffic"
	evAfterBlockTraffic  = "AfterBlockTraffic"
)

// TargetTag is the on-premises instance tag that names the instance's load
// balancer target: "<target id>[:<port>]", the id as the target group takes
// it (an IP address for an ip target group; for an instance target group
// an id the load balancer resolves, such as "i-10.0.0.7"). Without it the
// instance name is the target id, on the target group's port.
const TargetTag = "cutover:target"

// Waits of the engine's own lifecycle events (clock time).
const (
	// drainTimeout bounds BlockTraffic's wait for connections to drain; a
	// target still draining then is left to finish on its own.
	drainTimeout = 10 * time.Minute
	// healthyTimeout bounds AllowTraffic's wait for the target to pass its
	// health checks; past it the instance fails.
	healthyTimeout = 10 * time.Minute
)

// The AppSpec file name the agent looks for in the bundle.
const defaultAppSpecFilename = "appspec.yml"

// serverEvents is an instance's lifecycle in AWS's order; the traffic
// events only with a load balancer.
func serverEvents(traffic bool) []string {
	core := []string{evApplicationStop, evDownloadBundle, evBeforeInstall, evInstall, evAfterInstall, evApplicationStart, evValidateService}
	if !traffic {
		return core
	}
	out := []string{evBeforeBlockTraffic, evBlockTraffic, evAfterBlockTraffic}
	out = append(out, core...)
	return append(out, evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic)
}

// ignorable are the events whose failure ignoreApplicationStopFailures
// lets the instance go on from.
var ignorable = []string{evApplicationStop, evBeforeBlockTraffic, evAfterBlockTraffic}

// serverState is a Server deployment's EngineState.
type serverState struct {
	Step       string `json:"step"`
	RollbackOf string `json:"rollbackOf,omitempty"`
	// Fleet is the number of instances deployed to (not those skipped as
	// up to date); MinHealthy the instances that must stay healthy.
	Fleet      int `json:"fleet,omitempty"`
	MinHealthy int `json:"minHealthy,omitempty"`
	// GroupID is the group's id: the agent's directory and bookkeeping key.
	GroupID      string   `json:"groupId,omitempty"`
	Events       []string `json:"events,omitempty"`
	TargetGroups []string `json:"targetGroups,omitempty"`
	// Touched: a command went to a host or a target moved, so a rollback
	// has something to undo; HadPrevious: there is a revision to go back to.
	Touched     bool `json:"touched,omitempty"`
	HadPrevious bool `json:"hadPrevious,omitempty"`

	// BlueGreen: the deployment moves traffic from the group's instances
	// (Blue) to a replacement fleet (Green); see server_bluegreen.go.
	BlueGreen bool `json:"blueGreen,omitempty"`
	// Revision is what a blue/green rollback's commands name when the group
	// had no earlier revision (it installs nothing).
	Revision *codedeploy.RevisionLocation `json:"revision,omitempty"`
	// RerouteRoom is how many Green instances take traffic at once,
	// fixed when rerouting starts.
	RerouteRoom   int       `json:"rerouteRoom,omitempty"`
	Rerouted      bool      `json:"rerouted,omitempty"`
	ReadyDeadline time.Time `json:"readyDeadline,omitzero"`
	TerminateAt   time.Time `json:"terminateAt,omitzero"`
}

// hostState is the engine's part of one instance record.
type hostState struct {
	Order    int    `json:"order"`
	TargetID string `json:"targetId,omitempty"`
	Port     int    `json:"port,omitempty"`
	// Off: BlockTraffic deregistered the target; On: AllowTraffic
	// registered it. WaitUntil bounds the current traffic event's wait.
	Off       bool      `json:"off,omitempty"`
	On        bool      `json:"on,omitempty"`
	WaitUntil time.Time `json:"waitUntil,omitzero"`
	// AgentIssue: the instance failed because its agent never took a
	// command.
	AgentIssue bool `json:"agentIssue,omitempty"`
	// Stage is the last stage of a blue/green deployment the instance was
	// started in; Held the stage it finished (it waits before the next
	// one's first event).
	Stage int `json:"stage,omitempty"`
	Held  int `json:"held,omitempty"`
	// Stopped: a terminated Blue instance's ApplicationStop was issued.
	Stopped bool `json:"stopped,omitempty"`
}

func (st *serverState) stepName() string { return st.Step }

// event: a fleet has no single event in progress.
func (st *serverState) event() string { return "" }

// changedWorld: an in-place deployment changed hosts that can go back to
// an earlier revision; a blue/green one moved traffic that can go back to
// Blue.
func (st *serverState) changedWorld() bool {
	if st.BlueGreen {
		return st.Rerouted
	}
	return st.Touched && st.HadPrevious
}

func (st *serverState) rollbackOf() string { return st.RollbackOf }

// forRollback: an in-place rollback is a new deployment of the group's
// last successful revision to the instances the failed one reached.
func (st *serverState) forRollback(of string) run {
	return &serverState{Step: serverStepStart, RollbackOf: of, BlueGreen: st.BlueGreen}
}

// target: a Server deployment's targets are records of their own.
func (st *serverState) target(*codedeploy.Deployment) codedeploy.EventTarget { return nil }

func (st *serverState) step(ctx context.Context, e *Engine, d *codedeploy.Deployment, now time.Time, out *outcome) error {
	if st.BlueGreen || (st.Step == serverStepStart && isBlueGreen(d)) {
		return e.blueGreenStep(ctx, d, st, now, out)
	}
	switch st.Step {
	case serverStepStart:
		return e.serverStart(ctx, d, st, now, out)
	case serverStepDeploy:
		return e.serverDeploy(ctx, d, st, now, out)
	}
	return &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("unknown deployment step %q", st.Step), noRollback: true}
}

func decodeServerRun(d *codedeploy.Deployment) (run, error) {
	st := &serverState{}
	if err := unmarshalState(d, st); err != nil {
		return nil, err
	}
	if st.Step == "" {
		st.Step = serverStepStart
	}
	return st, nil
}

// minimumHealthy is the number of instances of a fleet of n that must stay
// healthy. OneAtATime (MOST_CONCURRENCY) always allows one instance at a
// time; FLEET_PERCENT rounds up, as AWS does.
func minimumHealthy(m *codedeploy.MinimumHealthyHosts, n int) int {
	if m == nil || m.Type == nil || *m.Type == "MOST_CONCURRENCY" {
		return max(n-1, 0)
	}
	v := 0
	if m.Value != nil {
		v = int(*m.Value)
	}
	if *m.Type == "FLEET_PERCENT" {
		return (n*v + 99) / 100
	}
	return v
}

// lbTarget reads an instance's load balancer target from its tags.
func lbTarget(info *codedeploy.InstanceInfo) (string, int) {
	for _, t := range info.Tags {
		if t.Key == nil || *t.Key != TargetTag || t.Value == nil || *t.Value == "" {
			continue
		}
		v := *t.Value
		if i := strings.LastIndex(v, ":"); i > 0 && !strings.HasSuffix(v[:i], ":") {
			if p, err := strconv.Atoi(v[i+1:]); err == nil && p > 0 && p < 65536 {
				return v[:i], p
			}
		}
		return v, 0
	}
	return info.InstanceName, 0
}

func (e *Engine) serverStart(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	g, err := e.serverGroup(ctx, d)
	if err != nil {
		return err
	}
	if d.FullRevision == nil || d.FullRevision.S3Location == nil {
		return &failure{code: "REVISION_MISSING", message: "The deployment has no S3 revision to install.", noRollback: true}
	}
	traffic := d.DeploymentStyle != nil && deref(d.DeploymentStyle.DeploymentOption) == "WITH_TRAFFIC_CONTROL"
	var tgs []string
	if traffic {
		if tgs, err = e.serverTargetGroups(ctx, d, "The deployment group uses traffic control but names no target group."); err != nil {
			return err
		}
	}
	var instances []*codedeploy.ServerInstance
	if st.RollbackOf != "" {
		instances, err = e.rollbackInstances(ctx, d, st.RollbackOf, now)
	} else {
		instances, err = e.freshInstances(ctx, d, &g.DeploymentGroupInfo, now)
	}
	if err != nil {
		return err
	}
	if len(instances) == 0 {
		return &failure{code: "NO_INSTANCES", message: "The deployment failed because no instances were found for your deployment group. Check your deployment group settings to make sure the tags for your on-premises instances are correct.", noRollback: true}
	}
	fleet := 0
	for _, in := range instances {
		if in.Target.Status == codedeploy.EventPending {
			fleet++
		}
	}
	minHealthy, err := e.serverMinHealthy(ctx, d, fleet)
	if err != nil {
		return err
	}
	events := serverEvents(traffic)
	for _, in := range instances {
		for _, ev := range events {
			status := codedeploy.EventPending
			if in.Target.Status == codedeploy.EventSkipped {
				status = codedeploy.EventSkipped
			}
			in.Target.LifecycleEvents = append(in.Target.LifecycleEvents, codedeploy.LifecycleEvent{LifecycleEventName: ev, Status: status})
		}
	}
	if err := e.cd.PutServerInstances(ctx, d, instances); err != nil {
		return err
	}
	// The instances are stored first, so that the failure reports them
	// (Skipped).
	if fleet > 0 && fleet-minHealthy < 1 {
		return &failure{code: "HEALTH_CONSTRAINTS_INVALID", noRollback: true,
			message: fmt.Sprintf("The deployment cannot start: %s requires %d healthy instances, and taking any of the %d instances offline would leave fewer.", d.DeploymentConfigName, minHealthy, fleet)}
	}
	st.Fleet, st.MinHealthy, st.GroupID, st.Events, st.TargetGroups = fleet, minHealthy, g.DeploymentGroupID, events, tgs
	st.HadPrevious = d.PreviousRevision != nil && st.RollbackOf == ""
	st.Step = serverStepDeploy
	ov := fleetOverview(instances)
	out.progress = true
	out.do(func(d *codedeploy.Deployment) {
		d.Status = codedeploy.StatusInProgress
		d.StartTime = tptr(now)
		d.DeploymentOverview = ov
	})
	return nil
}

// freshInstances are the group's instances for a new deployment, each
// Pending, or Skipped when updateOutdatedInstancesOnly finds the revision
// installed already.
func (e *Engine) freshInstances(ctx context.Context, d *codedeploy.Deployment, g *codedeploy.DeploymentGroupInfo, now time.Time) ([]*codedeploy.ServerInstance, error) {
	infos, err := e.cd.GroupInstances(ctx, g, d.TargetInstances)
	if err != nil {
		return nil, err
	}
	var out []*codedeploy.ServerInstance
	for i := range infos {
		info := &infos[i]
		status := codedeploy.EventPending
		if d.UpdateOutdatedInstancesOnly {
			has, err := e.cd.InstanceHasRevision(ctx, d.ApplicationName, d.DeploymentGroupName, info.InstanceName, d.FullRevision)
			if err != nil {
				return nil, err
			}
			if has {
				status = codedeploy.EventSkipped
			}
		}
		id, port := lbTarget(info)
		hs, _ := json.Marshal(hostState{Order: i, TargetID: id, Port: port})
		out = append(out, &codedeploy.ServerInstance{
			InstanceName: info.InstanceName, HostIdentifier: info.IamArn(), EngineState: hs,
			Target: codedeploy.InstanceTarget{DeploymentID: d.DeploymentID, TargetID: info.InstanceName, TargetArn: info.InstanceArn,
				Status: status, LastUpdatedAt: awsproto.NewTime(now.UTC().Truncate(time.Millisecond))},
		})
	}
	return out, nil
}

// rollbackInstances are the instances the rolled-back deployment reached
// (every one not Skipped), with the targets it used.
func (e *Engine) rollbackInstances(ctx context.Context, d *codedeploy.Deployment, of string, now time.Time) ([]*codedeploy.ServerInstance, error) {
	prev, err := e.cd.ServerInstances(ctx, of)
	if err != nil {
		return nil, err
	}
	var out []*codedeploy.ServerInstance
	for i, p := range prev {
		if p.Target.Status == codedeploy.EventSkipped || p.Target.Status == codedeploy.EventPending {
			continue
		}
		var old hostState
		_ = json.Unmarshal(p.EngineState, &old)
		hs, _ := json.Marshal(hostState{Order: i, TargetID: old.TargetID, Port: old.Port})
		out = append(out, &codedeploy.ServerInstance{
			InstanceName: p.InstanceName, HostIdentifier: p.HostIdentifier, EngineState: hs,
			Target: codedeploy.InstanceTarget{DeploymentID: d.DeploymentID, TargetID: p.Target.TargetID, TargetArn: p.Target.TargetArn,
				Status: codedeploy.EventPending, LastUpdatedAt: awsproto.NewTime(now.UTC().Truncate(time.Millisecond))},
		})
	}
	return out, nil
}

func fleetOverview(all []*codedeploy.ServerInstance) *codedeploy.DeploymentOverview {
	o := &codedeploy.DeploymentOverview{}
	for _, in := range all {
		switch in.Target.Status {
		case codedeploy.EventPending:
			o.Pending++
		case codedeploy.EventInProgress:
			o.InProgress++
		case codedeploy.EventSucceeded:
			o.Succeeded++
		case codedeploy.EventFailed:
			o.Failed++
		case codedeploy.EventSkipped:
			o.Skipped++
		case codedeploy.TargetReady:
			o.Ready++
		}
	}
	return o
}

// host is one instance while a step works on it.
type host struct {
	rec   *codedeploy.ServerInstance
	st    hostState
	dirty bool
	// touched: a command went to the host or its target moved.
	touched bool
	// batched: the pass read the host's commands in one batch (see
	// prefetch); known is the state of the command current then, found
	// whether it was issued at all.
	batched bool
	knownID string
	known   agentcmd.CommandState
	found   bool
	// hold is the event a blue/green stage ends before ("" for the last
	// event), stage the stage's number.
	hold  string
	stage int
}

func (h *host) save() {
	h.rec.EngineState, _ = json.Marshal(h.st)
	h.dirty = true
}

// serverDeploy moves every instance in progress as far as it can go now,
// starts as many pending instances as the minimum healthy hosts allow,
// and ends the deployment when the fleet is done or cannot succeed.
func (e *Engine) serverDeploy(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	recs, err := e.cd.ServerInstances(ctx, d.DeploymentID)
	if err != nil {
		return err
	}
	hosts := make([]*host, len(recs))
	for i, r := range recs {
		hosts[i] = &host{rec: r}
		if err := json.Unmarshal(r.EngineState, &hosts[i].st); err != nil && len(r.EngineState) > 0 {
			return fmt.Errorf("decoding instance %s of %s: %w", r.InstanceName, d.DeploymentID, err)
		}
	}
	slices.SortStableFunc(hosts, func(a, b *host) int { return a.st.Order - b.st.Order })

	var busy []*host
	for _, h := range hosts {
		if h.rec.Target.Status == codedeploy.EventInProgress {
			busy = append(busy, h)
		}
	}
	stepErr := e.advanceHosts(ctx, d, st, busy, now)
	// Take pending instances while the unhealthy ones (failed or being
	// updated) leave room above the minimum.
	var pending, inProgress, failed, succeeded int
	count := func() {
		pending, inProgress, failed, succeeded = 0, 0, 0, 0
		for _, h := range hosts {
			switch h.rec.Target.Status {
			case codedeploy.EventPending:
				pending++
			case codedeploy.EventInProgress:
				inProgress++
			case codedeploy.EventFailed:
				failed++
			case codedeploy.EventSucceeded:
				succeeded++
			}
		}
	}
	count()
	room := st.Fleet - st.MinHealthy
	if stepErr == nil && failed < room {
		var starting []*host
		for _, h := range hosts {
			if failed+inProgress >= room {
				break
			}
			if h.rec.Target.Status != codedeploy.EventPending {
				continue
			}
			h.rec.Target.Status = codedeploy.EventInProgress
			h.rec.Target.Touch(now)
			h.dirty = true
			inProgress++
			starting = append(starting, h)
		}
		stepErr = e.advanceHosts(ctx, d, st, starting, now)
		count()
	}
	if err := e.storeHosts(ctx, d, st, hosts, stepErr, out); err != nil {
		return err
	}
	switch {
	case pending > 0 && failed >= room, pending == 0 && inProgress == 0 && succeeded < max(st.MinHealthy, 1) && st.Fleet > 0:
		return e.healthFailure(hosts)
	case pending == 0 && inProgress == 0:
		out.do(func(d *codedeploy.Deployment) {
			d.Status = codedeploy.StatusSucceeded
			d.CompleteTime = tptr(now)
		})
	}
	return nil
}

// healthFailure is the deployment's failure when too many instances
// failed: AGENT_ISSUE when every one failed because its agent never took
// its command, HEALTH_CONSTRAINTS otherwise.
// storeHosts writes the instances a step changed (in one transaction),
// then returns the step's error if it had one, and queues the deployment's
// overview counted from every instance.
func (e *Engine) storeHosts(ctx context.Context, d *codedeploy.Deployment, st *serverState, hosts []*host, stepErr error, out *outcome) error {
	var changed []*codedeploy.ServerInstance
	for _, h := range hosts {
		st.Touched = st.Touched || h.touched
		if h.dirty {
			changed = append(changed, h.rec)
		}
	}
	if err := e.cd.PutServerInstances(ctx, d, changed); err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	if len(changed) > 0 {
		out.progress = true
	}
	recs := make([]*codedeploy.ServerInstance, len(hosts))
	for i, h := range hosts {
		recs[i] = h.rec
	}
	ov := fleetOverview(recs)
	if d.DeploymentOverview == nil || *d.DeploymentOverview != *ov {
		out.do(func(d *codedeploy.Deployment) { d.DeploymentOverview = ov })
	}
	return nil
}

func (e *Engine) healthFailure(hosts []*host) error {
	agent, failed := 0, 0
	for _, h := range hosts {
		if h.rec.Target.Status == codedeploy.EventFailed {
			failed++
			if h.st.AgentIssue {
				agent++
			}
		}
	}
	if failed > 0 && agent == failed {
		return &failure{code: "AGENT_ISSUE", message: "The deployment failed because a required number of instances did not take their lifecycle events: their CodeDeploy agent is not running or cannot reach cutover."}
	}
	return &failure{code: "HEALTH_CONSTRAINTS", message: "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems."}
}

// hostWorkers bounds the instances advanced at once: their commands are
// store writes, which the store commits together when they come at once.
const hostWorkers = 64

// advanceHosts advances hosts concurrently; the first error is returned
// (the others' work stands: every step is idempotent).
func (e *Engine) advanceHosts(ctx context.Context, d *codedeploy.Deployment, st *serverState, hosts []*host, now time.Time) error {
	if len(hosts) == 0 {
		return nil
	}
	if err := e.prefetch(ctx, d, hosts); err != nil {
		return err
	}
	// The hosts whose command ended first get their next one first: their
	// Issue calls queue for the store's writer, and first come, first
	// served keeps the longest wait for a next command short.
	hosts = slices.Clone(hosts)
	slices.SortStableFunc(hosts, func(a, b *host) int { return a.endedAt().Compare(b.endedAt()) })
	work := make(chan *host)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(hostWorkers, len(hosts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				if err := e.advanceHost(ctx, d, st, h, now); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, h := range hosts {
		work <- h
	}
	close(work)
	wg.Wait()
	return first
}

// statusBatcher is the agent command service's batch read. With it, a pass
// over a fleet reads the commands of every host it advances in one store
// transaction instead of two reads per host (the command that ended and
// the next one), so that with thousands of hosts a pass is mostly the
// writes of the next commands. *agentcmd.Service satisfies it.
type statusBatcher interface {
	Statuses(ctx context.Context, ids []string) (map[string]agentcmd.CommandState, error)
}

// prefetch reads the current command of every host in one batch when the
// command service can; hostCommand then takes the state from the host.
func (e *Engine) prefetch(ctx context.Context, d *codedeploy.Deployment, hosts []*host) error {
	b, ok := e.cfg.Agents.(statusBatcher)
	if !ok {
		return nil
	}
	var ids []string
	for _, h := range hosts {
		ev := currentEvent(&h.rec.Target)
		if ev == nil || ev.LifecycleEventName == evBlockTraffic || ev.LifecycleEventName == evAllowTraffic {
			continue
		}
		h.knownID = commandID(d.DeploymentID, h.rec.InstanceName, ev.LifecycleEventName)
		ids = append(ids, h.knownID)
	}
	if len(ids) == 0 {
		return nil
	}
	states, err := b.Statuses(ctx, ids)
	if err != nil {
		return fmt.Errorf("reading the commands of %d instances of %s: %w", len(ids), d.DeploymentID, err)
	}
	for _, h := range hosts {
		h.batched = true
		if h.knownID != "" {
			h.known, h.found = states[h.knownID]
		}
	}
	return nil
}

// endedAt is when the host's current command ended, as the pass's batch
// read it; far in the future when it has not (or was not read).
func (h *host) endedAt() time.Time {
	if h.found && h.known.Status.Ended() && !h.known.Ended.IsZero() {
		return h.known.Ended
	}
	return time.Unix(1<<40, 0)
}

// commandStatus is how the command id stands: from the pass's batch when
// it read it; a later command of the same pass was not issued yet as far
// as the batch knew, and issuing it again is harmless (Issue ignores a
// repeated id), so it is not read at all.
func (e *Engine) commandStatus(ctx context.Context, h *host, id string) (agentcmd.CommandState, error) {
	switch {
	case h.batched && h.knownID == id && h.found:
		return h.known, nil
	case h.batched:
		return agentcmd.CommandState{}, agentcmd.ErrNotFound
	}
	return e.cfg.Agents.Status(ctx, id)
}

// commandID names an instance's lifecycle command: the same for a retried
// step, so it is never issued twice.
func commandID(deploymentID, instance, event string) string {
	return deploymentID + "/" + instance + "/" + event
}

// advanceHost runs one instance's events until one has to wait.
func (e *Engine) advanceHost(ctx context.Context, d *codedeploy.Deployment, st *serverState, h *host, now time.Time) error {
	t := &h.rec.Target
	for {
		ev := currentEvent(t)
		if ev == nil {
			t.Status = codedeploy.EventSucceeded
			t.Touch(now)
			h.dirty = true
			return nil
		}
		name := ev.LifecycleEventName
		if h.hold != "" && name == h.hold && ev.Status == codedeploy.EventPending {
			h.st.Held = h.stage
			h.save()
			return nil
		}
		if ev.Status == codedeploy.EventPending {
			startEvent(t, name, now)
			t.Touch(now)
			h.dirty = true
		}
		var (
			done bool
			diag *codedeploy.Diagnostics
			err  error
		)
		switch name {
		case evBlockTraffic:
			done, diag, err = e.hostBlockTraffic(ctx, st, h, now)
		case evAllowTraffic:
			done, diag, err = e.hostAllowTraffic(ctx, st, h, now)
		default:
			done, diag, err = e.hostCommand(ctx, d, st, h, name)
		}
		if err != nil {
			return err
		}
		if !done {
			return nil
		}
		h.dirty = true
		t.Touch(now)
		if diag == nil {
			endEvent(t, name, codedeploy.EventSucceeded, now, nil)
			continue
		}
		endEvent(t, name, codedeploy.EventFailed, now, diag)
		if d.IgnoreApplicationStopFailures && slices.Contains(ignorable, name) {
			continue
		}
		skipRest(t)
		t.Status = codedeploy.EventFailed
		return nil
	}
}

func currentEvent(t *codedeploy.InstanceTarget) *codedeploy.LifecycleEvent {
	for i := range t.LifecycleEvents {
		if s := t.LifecycleEvents[i].Status; s == codedeploy.EventPending || s == codedeploy.EventInProgress {
			return &t.LifecycleEvents[i]
		}
	}
	return nil
}

func skipRest(t *codedeploy.InstanceTarget) {
	for i := range t.LifecycleEvents {
		if s := t.LifecycleEvents[i].Status; s == codedeploy.EventPending || s == codedeploy.EventInProgress {
			t.LifecycleEvents[i].Status = codedeploy.EventSkipped
		}
	}
}

// hostCommand issues the event's command to the host's agent (again after
// a crash: the id makes that a no-op) and reads how it stands. A failed
// command's diagnostics are the agent's.
func (e *Engine) hostCommand(ctx context.Context, d *codedeploy.Deployment, st *serverState, h *host, event string) (bool, *codedeploy.Diagnostics, error) {
	id := commandID(d.DeploymentID, h.rec.InstanceName, event)
	cs, err := e.commandStatus(ctx, h, id)
	if errors.Is(err, agentcmd.ErrNotFound) {
		if err := e.cfg.Agents.Issue(ctx, e.command(d, st, h, event, id)); err != nil {
			if errors.Is(err, agentcmd.ErrInvalidCommand) {
				return true, &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: err.Error()}, nil
			}
			return false, nil, fmt.Errorf("issuing %s to %s: %w", event, h.rec.InstanceName, err)
		}
		h.touched = true
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("reading command %s: %w", id, err)
	}
	h.touched = true
	switch cs.Status {
	case agentcmd.StatusSucceeded:
		return true, nil, nil
	case agentcmd.StatusFailed:
		dg := cs.Diagnostics
		code := dg.ErrorCode
		if code == "" || code == "Success" {
			code = "UnknownError"
		}
		return true, &codedeploy.Diagnostics{ErrorCode: code, ScriptName: dg.ScriptName, Message: dg.Message, LogTail: dg.LogTail}, nil
	case agentcmd.StatusTimedOut:
		return true, e.timeoutDiagnostics(ctx, h, event, cs), nil
	case agentcmd.StatusCancelled:
		return true, &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: "The command was cancelled before the host took it."}, nil
	}
	return false, nil, nil
}

// timeoutDiagnostics says why a command timed out: never taken (the agent
// is not polling: AGENT_ISSUE) or taken and not finished in time.
func (e *Engine) timeoutDiagnostics(ctx context.Context, h *host, event string, cs agentcmd.CommandState) *codedeploy.Diagnostics {
	if !cs.Acknowledged.IsZero() {
		return &codedeploy.Diagnostics{ErrorCode: "ScriptTimedOut", Message: fmt.Sprintf("The %s event did not finish in time on the host.", event)}
	}
	h.st.AgentIssue = true
	h.save()
	msg := fmt.Sprintf("The CodeDeploy agent was not able to receive the lifecycle event %s: the agent of %s never polled for commands.", event, h.rec.HostIdentifier)
	if last, err := e.cfg.Agents.LastPoll(ctx, h.rec.HostIdentifier); err == nil && !last.IsZero() {
		msg = fmt.Sprintf("The CodeDeploy agent was not able to receive the lifecycle event %s: the agent of %s last polled at %s.", event, h.rec.HostIdentifier, last.UTC().Format(time.RFC3339))
	}
	return &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: msg}
}

func (e *Engine) command(d *codedeploy.Deployment, st *serverState, h *host, event, id string) agentcmd.Command {
	rev := d.FullRevision
	if rev == nil || rev.S3Location == nil {
		rev = st.Revision
	}
	l := rev.S3Location
	deploymentType := "IN_PLACE"
	if st.BlueGreen {
		deploymentType = "BLUE_GREEN"
	}
	spec := agentcmd.Spec{
		ApplicationName: d.ApplicationName, DeploymentID: d.DeploymentID, DeploymentGroupName: d.DeploymentGroupName,
		DeploymentGroupID: st.GroupID,
		Revision: agentcmd.Revision{RevisionType: agentcmd.RevisionS3, S3Revision: &agentcmd.S3Revision{
			Bucket: deref(l.Bucket), Key: deref(l.Key), BundleType: deref(l.BundleType), Version: deref(l.Version), ETag: strings.Trim(deref(l.ETag), `"`)}},
		DeploymentCreator: d.Creator,
		DeploymentType:    deploymentType,
		AppSpecFilename:   defaultAppSpecFilename,
	}
	if d.FileExistsBehavior != "" {
		spec.AgentActionOverrides = &agentcmd.AgentActionOverrides{AgentOverrides: agentcmd.AgentOverrides{FileExistsBehavior: d.FileExistsBehavior}}
	}
	return agentcmd.Command{ID: id, DeploymentID: d.DeploymentID, HostIdentifier: h.rec.HostIdentifier, InstanceName: h.rec.InstanceName,
		CommandName: event, Spec: spec}
}

func (h *host) ref() elb.TargetRef { return elb.TargetRef{ID: h.st.TargetID, Port: h.st.Port} }

// present reports whether the target group lists the host's target, and
// its health state.
func (e *Engine) present(ctx context.Context, tg string, h *host) (bool, string, error) {
	ts, err := e.cfg.HostTargets.TargetGroupTargets(ctx, tg)
	if err != nil {
		return false, "", err
	}
	for _, t := range ts {
		if t.ID == h.st.TargetID && (h.st.Port == 0 || t.Port == h.st.Port) {
			return true, t.State, nil
		}
	}
	return false, "", nil
}

// hostBlockTraffic takes the host's target out of the group's target groups
// and waits until it has drained (it leaves the target group), at most
// drainTimeout.
func (e *Engine) hostBlockTraffic(ctx context.Context, st *serverState, h *host, now time.Time) (bool, *codedeploy.Diagnostics, error) {
	if !h.st.Off {
		for _, tg := range st.TargetGroups {
			in, state, err := e.present(ctx, tg, h)
			if err != nil {
				return e.lbFailure(err, "reading the target group")
			}
			if in && state != "draining" {
				if err := e.cfg.HostTargets.DeregisterTargets(ctx, tg, h.ref()); err != nil {
					return e.lbFailure(err, "deregistering the instance")
				}
			}
		}
		h.touched = true
		h.st.Off, h.st.On, h.st.WaitUntil = true, false, now.Add(drainTimeout)
		h.save()
	}
	if !now.Before(h.st.WaitUntil) {
		return true, nil, nil
	}
	for _, tg := range st.TargetGroups {
		in, _, err := e.present(ctx, tg, h)
		if err != nil {
			return e.lbFailure(err, "reading the target group")
		}
		if in {
			return false, nil, nil
		}
	}
	return true, nil, nil
}

// hostAllowTraffic puts the host's target back into the group's target groups
// and waits until it is healthy in every one, at most healthyTimeout.
func (e *Engine) hostAllowTraffic(ctx context.Context, st *serverState, h *host, now time.Time) (bool, *codedeploy.Diagnostics, error) {
	if !h.st.On {
		for _, tg := range st.TargetGroups {
			if err := e.cfg.HostTargets.RegisterTargets(ctx, tg, h.ref()); err != nil {
				return e.lbFailure(err, "registering the instance")
			}
		}
		h.touched = true
		h.st.On, h.st.Off, h.st.WaitUntil = true, false, now.Add(healthyTimeout)
		h.save()
	}
	for _, tg := range st.TargetGroups {
		in, state, err := e.present(ctx, tg, h)
		if err != nil {
			return e.lbFailure(err, "reading the target group")
		}
		if in && (state == "healthy" || state == "unused") {
			continue
		}
		if !now.Before(h.st.WaitUntil) {
			return true, &codedeploy.Diagnostics{ErrorCode: "UnknownError", ScriptName: "",
				Message: fmt.Sprintf("The instance's target %s did not become healthy in its target group within %v (state %q).", h.st.TargetID, healthyTimeout, state)}, nil
		}
		return false, nil, nil
	}
	return true, nil, nil
}

// lbFailure: the load balancer refusing (an AWS error) fails the event;
// anything else is retried.
func (e *Engine) lbFailure(err error, what string) (bool, *codedeploy.Diagnostics, error) {
	if ae := awsproto.AsError(err); ae != nil {
		return true, &codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: fmt.Sprintf("The load balancer refused %s: %s: %s", what, ae.Code, ae.Message)}, nil
	}
	return false, nil, fmt.Errorf("%s: %w", what, err)
}

// end settles a Server deployment that ends before its instances did: the
// commands no host took yet are cancelled, pending instances are Skipped
// and those in progress Failed (as AWS counts stopped instances). It is
// idempotent, so a retried finish repeats it harmlessly.
func (st *serverState) end(ctx context.Context, e *Engine, d *codedeploy.Deployment, f *failure, now time.Time) (*codedeploy.DeploymentOverview, error) {
	if e.cfg.Agents != nil && st.Step != serverStepStart {
		if err := e.cfg.Agents.Cancel(ctx, d.DeploymentID); err != nil {
			return nil, fmt.Errorf("cancelling the commands of %s: %w", d.DeploymentID, err)
		}
	}
	recs, err := e.cd.ServerInstances(ctx, d.DeploymentID)
	if err != nil {
		return nil, err
	}
	var changed []*codedeploy.ServerInstance
	for _, r := range recs {
		t := &r.Target
		switch t.Status {
		case codedeploy.EventPending:
			skipRest(t)
			t.Status = codedeploy.EventSkipped
		case codedeploy.EventInProgress, codedeploy.TargetReady:
			var hs hostState
			_ = json.Unmarshal(r.EngineState, &hs)
			// A Green instance waiting between stages has no event under
			// way: its remaining events are only Skipped.
			if ev := currentEvent(t); ev != nil && (hs.Held == 0 || ev.Status == codedeploy.EventInProgress) {
				endEvent(t, ev.LifecycleEventName, codedeploy.EventFailed, now,
					&codedeploy.Diagnostics{ErrorCode: "UnknownError", Message: fmt.Sprintf("The deployment ended (%s) while this event was in progress.", f.code)})
			}
			skipRest(t)
			t.Status = codedeploy.EventFailed
		default:
			continue
		}
		t.Touch(now)
		changed = append(changed, r)
	}
	if err := e.cd.PutServerInstances(ctx, d, changed); err != nil {
		return nil, err
	}
	return fleetOverview(recs), nil
}

// serverGroup reads the deployment's group, which every Server deployment
// needs at its start, and checks that the engine can reach agents at all.
func (e *Engine) serverGroup(ctx context.Context, d *codedeploy.Deployment) (*codedeploy.DeploymentGroup, error) {
	if e.cfg.Agents == nil {
		return nil, &failure{code: "INTERNAL_ERROR", message: "cutover runs Server deployments through its agent command service, which this engine was not given.", noRollback: true}
	}
	g, err := e.cd.GetDeploymentGroup(ctx, d.ApplicationName, d.DeploymentGroupName)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return nil, &failure{code: "DEPLOYMENT_GROUP_MISSING", message: fmt.Sprintf("The deployment group %s was not found: it may have been deleted after the deployment was created.", d.DeploymentGroupName), noRollback: true}
		}
		return nil, err
	}
	return g, nil
}

// serverTargetGroups resolves the target groups the deployment's
// loadBalancerInfo names; missing is the failure's message when it names
// none.
func (e *Engine) serverTargetGroups(ctx context.Context, d *codedeploy.Deployment, missing string) ([]string, error) {
	lb := d.LoadBalancerInfo
	switch {
	case lb != nil && len(lb.ElbInfoList) > 0:
		return nil, &failure{code: "ELASTIC_LOAD_BALANCING_INVALID", message: "Classic Load Balancers are not supported by cutover: name target groups in targetGroupInfoList.", noRollback: true}
	case lb == nil || len(lb.TargetGroupInfoList) == 0:
		return nil, &failure{code: "MISSING_ELB_INFORMATION", message: missing, noRollback: true}
	case e.cfg.HostTargets == nil || e.cfg.Traffic == nil:
		return nil, &failure{code: "INTERNAL_ERROR", message: "This engine was not given the load balancer to move instances in and out of target groups.", noRollback: true}
	}
	var tgs []string
	for _, tg := range lb.TargetGroupInfoList {
		arn, err := e.cfg.Traffic.TargetGroupARNByName(ctx, deref(tg.Name))
		if err != nil {
			if awsproto.AsError(err) != nil {
				return nil, &failure{code: "ELASTIC_LOAD_BALANCING_INVALID", message: fmt.Sprintf("The target group %s could not be found: %v", deref(tg.Name), err), noRollback: true}
			}
			return nil, err
		}
		tgs = append(tgs, arn)
	}
	return tgs, nil
}

// serverMinHealthy is the deployment config's minimum healthy hosts for a
// fleet of this size.
func (e *Engine) serverMinHealthy(ctx context.Context, d *codedeploy.Deployment, fleet int) (int, error) {
	cfg, err := e.cd.GetDeploymentConfig(ctx, d.DeploymentConfigName)
	if err != nil {
		if awsproto.AsError(err) != nil {
			return 0, &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("The deployment config %s could not be read: %v", d.DeploymentConfigName, err), noRollback: true}
		}
		return 0, err
	}
	return minimumHealthy(cfg.MinimumHealthyHosts, fleet), nil
}
