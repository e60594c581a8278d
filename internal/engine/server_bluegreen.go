package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cutover/cutover/internal/agentcmd"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/codedeploy"
)

// A blue/green Server deployment keeps the group's instances (Blue)
// serving while the revision is installed on a replacement fleet (Green),
// the registered instances its targetInstances select (DISCOVER_EXISTING:
// cutover has no Auto Scaling to provision one). Then traffic moves: the
// Green instances are registered with the group's target groups, and the
// Blue ones deregistered. Steps:
//
//	Install   Green instances run the in-place lifecycle up to
//	          BeforeAllowTraffic, in batches by minimum healthy hosts
//	Ready     with deploymentReadyOption STOP_DEPLOYMENT, the deployment
//	          and its Green instances are Ready until ContinueDeployment
//	          (READY_WAIT), stopped after waitTimeInMinutes
//	Reroute   Green instances: BeforeAllowTraffic, AllowTraffic,
//	          AfterAllowTraffic, in batches by minimum healthy hosts
//	Block     Blue instances: BeforeBlockTraffic, BlockTraffic,
//	          AfterBlockTraffic, all at once; any failure fails the
//	          deployment
//	TermWait  with TERMINATE, terminationWaitTimeInMinutes (skipped by
//	          ContinueDeployment TERMINATION_WAIT)
//	Terminate cutover cannot terminate a host: a Blue instance is left
//	          deregistered and its application stopped (ApplicationStop
//	          of its last successful revision, run by its agent)
//
// Its rollback (a new deployment) sends traffic back: the Blue instances
// run the AllowTraffic events (step Allow), then the Green ones the
// BlockTraffic events (step Block).
const (
	bgStepInstall   = "Install"
	bgStepReady     = "Ready"
	bgStepReroute   = "Reroute"
	bgStepAllow     = "Allow"
	bgStepBlock     = "Block"
	bgStepTermWait  = "TerminationWait"
	bgStepTerminate = "Terminate"
)

// Stages an instance goes through (hostState.Stage): a Green instance is
// installed in stage 1 and takes traffic in stage 2; the traffic events of
// Blue instances, and all of a rollback's, are stage 1.
const (
	stageInstall = 1
	stageTraffic = 2
)

var (
	greenEvents = []string{evApplicationStop, evDownloadBundle, evBeforeInstall, evInstall, evAfterInstall, evApplicationStart, evValidateService,
		evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic}
	blockEvents = []string{evBeforeBlockTraffic, evBlockTraffic, evAfterBlockTraffic}
	allowEvents = []string{evBeforeAllowTraffic, evAllowTraffic, evAfterAllowTraffic}
)

func isBlueGreen(d *codedeploy.Deployment) bool {
	return d.DeploymentStyle != nil && deref(d.DeploymentStyle.DeploymentType) == "BLUE_GREEN"
}

func (e *Engine) blueGreenStep(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	st.BlueGreen = true
	switch st.Step {
	case serverStepStart:
		return e.bgStart(ctx, d, st, now, out)
	case bgStepReady:
		return e.bgReady(ctx, d, st, now, out)
	case bgStepTermWait:
		return e.bgTerminationWait(d, st, now, out)
	case bgStepInstall, bgStepReroute, bgStepAllow, bgStepBlock, bgStepTerminate:
		return e.bgStage(ctx, d, st, now, out)
	}
	return &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("unknown deployment step %q", st.Step), noRollback: true}
}

// bgStart stores the deployment's instances, labelled, each with its
// events, and checks that the minimum healthy hosts leave room.
func (e *Engine) bgStart(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	g, err := e.serverGroup(ctx, d)
	if err != nil {
		return err
	}
	tgs, err := e.serverTargetGroups(ctx, d, "A blue/green deployment moves traffic between fleets, and the deployment group names no target group.")
	if err != nil {
		return err
	}
	var instances []*codedeploy.ServerInstance
	fleet := 0
	if st.RollbackOf != "" {
		if instances, err = e.bgRollbackInstances(ctx, d, st, now); err != nil {
			return err
		}
		st.Step = bgStepAllow
	} else {
		if d.FullRevision == nil || d.FullRevision.S3Location == nil {
			return &failure{code: "REVISION_MISSING", message: "The deployment has no S3 revision to install.", noRollback: true}
		}
		if instances, fleet, err = e.bgFreshInstances(ctx, d, &g.DeploymentGroupInfo, now); err != nil {
			return err
		}
		st.Step = bgStepInstall
	}
	if fleet == 0 && st.RollbackOf == "" {
		return &failure{code: "NO_INSTANCES", noRollback: true,
			message: "The deployment failed because no replacement instances were found: a blue/green deployment to servers needs targetInstances (tagFilters or ec2TagSet) that select registered on-premises instances outside the deployment group's original fleet."}
	}
	minHealthy, err := e.serverMinHealthy(ctx, d, fleet)
	if err != nil {
		return err
	}
	if err := e.cd.PutServerInstances(ctx, d, instances); err != nil {
		return err
	}
	if fleet > 0 && fleet-minHealthy < 1 {
		return &failure{code: "HEALTH_CONSTRAINTS_INVALID", noRollback: true,
			message: fmt.Sprintf("The deployment cannot start: %s requires %d healthy replacement instances, and installing on any of the %d would leave fewer.", d.DeploymentConfigName, minHealthy, fleet)}
	}
	st.Fleet, st.MinHealthy, st.GroupID, st.TargetGroups = fleet, minHealthy, g.DeploymentGroupID, tgs
	ov := fleetOverview(instances)
	out.progress = true
	out.do(func(d *codedeploy.Deployment) {
		d.Status = codedeploy.StatusInProgress
		d.StartTime = tptr(now)
		d.DeploymentOverview = ov
	})
	return nil
}

func newInstanceRecord(d *codedeploy.Deployment, name, host, arn, label string, hs hostState, events []string, now time.Time) *codedeploy.ServerInstance {
	enc, _ := json.Marshal(hs)
	in := &codedeploy.ServerInstance{
		InstanceName: name, HostIdentifier: host, EngineState: enc,
		Target: codedeploy.InstanceTarget{DeploymentID: d.DeploymentID, TargetID: name, TargetArn: arn, InstanceLabel: label,
			Status: codedeploy.EventPending, LastUpdatedAt: awsproto.NewTime(now.UTC().Truncate(time.Millisecond))},
	}
	for _, ev := range events {
		in.Target.LifecycleEvents = append(in.Target.LifecycleEvents, codedeploy.LifecycleEvent{LifecycleEventName: ev, Status: codedeploy.EventPending})
	}
	return in
}

// bgFreshInstances: the Green fleet is what targetInstances selects; the
// Blue fleet the group's instances that are not Green.
func (e *Engine) bgFreshInstances(ctx context.Context, d *codedeploy.Deployment, g *codedeploy.DeploymentGroupInfo, now time.Time) ([]*codedeploy.ServerInstance, int, error) {
	green, err := e.cd.ReplacementInstances(ctx, d.TargetInstances)
	if err != nil {
		return nil, 0, err
	}
	blue, err := e.cd.GroupInstances(ctx, g, nil)
	if err != nil {
		return nil, 0, err
	}
	isGreen := map[string]bool{}
	var out []*codedeploy.ServerInstance
	for i := range green {
		info := &green[i]
		isGreen[info.InstanceName] = true
		id, port := lbTarget(info)
		out = append(out, newInstanceRecord(d, info.InstanceName, info.IamArn(), info.InstanceArn, codedeploy.LabelGreen,
			hostState{Order: i, TargetID: id, Port: port}, greenEvents, now))
	}
	for i := range blue {
		info := &blue[i]
		if isGreen[info.InstanceName] {
			continue
		}
		id, port := lbTarget(info)
		out = append(out, newInstanceRecord(d, info.InstanceName, info.IamArn(), info.InstanceArn, codedeploy.LabelBlue,
			hostState{Order: len(green) + i, TargetID: id, Port: port}, blockEvents, now))
	}
	return out, len(green), nil
}

// bgRollbackInstances: the failed deployment's Blue instances take
// traffic again; its Green instances that took part leave it.
func (e *Engine) bgRollbackInstances(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time) ([]*codedeploy.ServerInstance, error) {
	if d.FullRevision == nil || d.FullRevision.S3Location == nil {
		failed, err := e.cd.Deployment(ctx, st.RollbackOf)
		if err != nil {
			return nil, fmt.Errorf("reading the rolled-back deployment %s: %w", st.RollbackOf, err)
		}
		st.Revision = failed.FullRevision
	}
	prev, err := e.cd.ServerInstances(ctx, st.RollbackOf)
	if err != nil {
		return nil, err
	}
	var out []*codedeploy.ServerInstance
	for i, p := range prev {
		var old hostState
		_ = json.Unmarshal(p.EngineState, &old)
		hs := hostState{Order: i, TargetID: old.TargetID, Port: old.Port}
		switch p.Target.InstanceLabel {
		case codedeploy.LabelBlue:
			out = append(out, newInstanceRecord(d, p.InstanceName, p.HostIdentifier, p.Target.TargetArn, codedeploy.LabelBlue, hs, allowEvents, now))
		case codedeploy.LabelGreen:
			if p.Target.Status == codedeploy.EventSkipped || p.Target.Status == codedeploy.EventPending {
				continue
			}
			out = append(out, newInstanceRecord(d, p.InstanceName, p.HostIdentifier, p.Target.TargetArn, codedeploy.LabelGreen, hs, blockEvents, now))
		}
	}
	return out, nil
}

// stageCounts is where the hosts of one stage stand.
type stageCounts struct{ pending, busy, failed, done, succeeded int }

// runStage advances one stage of a set of hosts: the hosts under way go
// as far as they can, and pending ones start while the failed and busy
// ones stay under room. A host ends the stage before the hold event, or
// at its last event when hold is "".
func (e *Engine) runStage(ctx context.Context, d *codedeploy.Deployment, st *serverState, hosts []*host, stage int, hold string, room int, now time.Time) (stageCounts, error) {
	var c stageCounts
	classify := func() {
		c = stageCounts{}
		for _, h := range hosts {
			s := h.rec.Target.Status
			switch {
			case s == codedeploy.EventFailed:
				c.failed++
			case s == codedeploy.EventSucceeded || h.st.Held >= stage:
				c.done++
				if s == codedeploy.EventSucceeded {
					c.succeeded++
				}
			case h.st.Stage >= stage:
				c.busy++
			default:
				c.pending++
			}
		}
	}
	var busy []*host
	for _, h := range hosts {
		h.hold, h.stage = hold, stage
		if s := h.rec.Target.Status; h.st.Stage >= stage && h.st.Held < stage && s != codedeploy.EventFailed && s != codedeploy.EventSucceeded {
			busy = append(busy, h)
		}
	}
	if err := e.advanceHosts(ctx, d, st, busy, now); err != nil {
		return c, err
	}
	classify()
	if c.failed >= room || c.pending == 0 {
		return c, nil
	}
	var starting []*host
	for _, h := range hosts {
		if c.failed+c.busy >= room {
			break
		}
		if h.st.Stage >= stage || h.rec.Target.Status == codedeploy.EventFailed || h.rec.Target.Status == codedeploy.EventSucceeded {
			continue
		}
		h.st.Stage = stage
		h.rec.Target.Status = codedeploy.EventInProgress
		h.rec.Target.Touch(now)
		h.save()
		c.busy++
		starting = append(starting, h)
	}
	err := e.advanceHosts(ctx, d, st, starting, now)
	classify()
	return c, err
}

// bgStage runs the step's stage over its hosts and moves on when they are
// done.
func (e *Engine) bgStage(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	recs, err := e.cd.ServerInstances(ctx, d.DeploymentID)
	if err != nil {
		return err
	}
	var all, green, blue []*host
	for _, r := range recs {
		h := &host{rec: r}
		if err := json.Unmarshal(r.EngineState, &h.st); err != nil && len(r.EngineState) > 0 {
			return fmt.Errorf("decoding instance %s of %s: %w", r.InstanceName, d.DeploymentID, err)
		}
		all = append(all, h)
	}
	slices.SortStableFunc(all, func(a, b *host) int { return a.st.Order - b.st.Order })
	for _, h := range all {
		if h.rec.Target.InstanceLabel == codedeploy.LabelGreen {
			green = append(green, h)
		} else {
			blue = append(blue, h)
		}
	}
	var (
		stepErr error
		c       stageCounts
		next    string
		fail    error
	)
	switch st.Step {
	case bgStepInstall:
		room := st.Fleet - st.MinHealthy
		c, stepErr = e.runStage(ctx, d, st, green, stageInstall, evBeforeAllowTraffic, room, now)
		switch {
		case c.pending > 0 && c.failed >= room, c.pending == 0 && c.busy == 0 && c.done < max(st.MinHealthy, 1):
			fail = e.healthFailure(green)
		case c.pending == 0 && c.busy == 0:
			next = bgStepReady
		}
	case bgStepReroute:
		var ready []*host
		for _, h := range green {
			if h.st.Held >= stageInstall {
				ready = append(ready, h)
			}
		}
		if st.RerouteRoom == 0 {
			cfg, err := e.cd.GetDeploymentConfig(ctx, d.DeploymentConfigName)
			if err != nil {
				if awsproto.AsError(err) != nil {
					return &failure{code: "INTERNAL_ERROR", message: fmt.Sprintf("The deployment config %s could not be read: %v", d.DeploymentConfigName, err)}
				}
				return err
			}
			st.RerouteRoom = max(len(ready)-minimumHealthy(cfg.MinimumHealthyHosts, len(ready)), 1)
		}
		st.Rerouted = true
		c, stepErr = e.runStage(ctx, d, st, ready, stageTraffic, "", st.RerouteRoom, now)
		switch {
		case c.pending > 0 && c.failed >= st.RerouteRoom, c.pending == 0 && c.busy == 0 && c.succeeded < max(st.MinHealthy, 1):
			fail = e.healthFailure(ready)
		case c.pending == 0 && c.busy == 0:
			next = bgStepBlock
		}
	case bgStepAllow, bgStepBlock:
		// A rollback first allows Blue back, then blocks Green; a
		// deployment blocks Blue.
		hosts := blue
		if st.RollbackOf != "" && st.Step == bgStepBlock {
			hosts = green
		}
		c, stepErr = e.runStage(ctx, d, st, hosts, stageInstall, "", len(hosts), now)
		switch {
		case c.failed > 0 && c.busy == 0:
			fail = &failure{code: "HEALTH_CONSTRAINTS", message: fmt.Sprintf("%d instances could not be moved in or out of the target groups (step %s): a blue/green deployment needs every one.", c.failed, st.Step)}
		case c.pending == 0 && c.busy == 0 && st.Step == bgStepAllow:
			next = bgStepBlock
		case c.pending == 0 && c.busy == 0 && st.RollbackOf == "" && terminateBlue(d):
			next = bgStepTermWait
		case c.pending == 0 && c.busy == 0:
			next = "done"
		}
	case bgStepTerminate:
		done, err := e.bgTerminate(ctx, d, st, blue)
		if err != nil {
			stepErr = err
		} else if done {
			next = "done"
		}
	}
	if err := e.storeHosts(ctx, d, st, all, stepErr, out); err != nil {
		return err
	}
	if fail != nil {
		return fail
	}
	switch next {
	case "":
	case "done":
		out.do(func(d *codedeploy.Deployment) {
			d.Status = codedeploy.StatusSucceeded
			d.CompleteTime = tptr(now)
		})
	default:
		st.Step = next
		out.progress = true
	}
	return nil
}

func terminateBlue(d *codedeploy.Deployment) bool {
	bg := d.BlueGreenDeploymentConfiguration
	return bg != nil && bg.TerminateBlueInstancesOnDeploymentSuccess != nil &&
		deref(bg.TerminateBlueInstancesOnDeploymentSuccess.Action) == "TERMINATE"
}

// bgReady holds the installed Green fleet before traffic moves when the
// group says STOP_DEPLOYMENT: the deployment and its Green instances are
// Ready (InstanceReady triggers) until ContinueDeployment(READY_WAIT), and
// the deployment is stopped when waitTimeInMinutes passes without one.
func (e *Engine) bgReady(ctx context.Context, d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	var opt *codedeploy.DeploymentReadyOption
	if bg := d.BlueGreenDeploymentConfiguration; bg != nil {
		opt = bg.DeploymentReadyOption
	}
	if opt == nil || deref(opt.ActionOnTimeout) != "STOP_DEPLOYMENT" {
		st.Step = bgStepReroute
		out.progress = true
		return nil
	}
	recs, err := e.cd.ServerInstances(ctx, d.DeploymentID)
	if err != nil {
		return err
	}
	// The held Green instances are Ready while the deployment waits, and
	// InProgress again once it goes on.
	setStatus := func(from, to string) error {
		var changed []*codedeploy.ServerInstance
		for _, r := range recs {
			if r.Target.InstanceLabel == codedeploy.LabelGreen && r.Target.Status == from {
				r.Target.Status = to
				r.Target.Touch(now)
				changed = append(changed, r)
			}
		}
		if err := e.cd.PutServerInstances(ctx, d, changed); err != nil {
			return err
		}
		ov := fleetOverview(recs)
		out.do(func(d *codedeploy.Deployment) { d.DeploymentOverview = ov })
		return nil
	}
	switch {
	case d.Control.ReadyContinued:
		if err := setStatus(codedeploy.TargetReady, codedeploy.EventInProgress); err != nil {
			return err
		}
		st.Step = bgStepReroute
		out.progress = true
		out.do(func(d *codedeploy.Deployment) { d.Status = codedeploy.StatusInProgress })
	case st.ReadyDeadline.IsZero():
		st.ReadyDeadline = now.Add(time.Duration(derefInt(opt.WaitTimeInMinutes)) * time.Minute)
		if err := setStatus(codedeploy.EventInProgress, codedeploy.TargetReady); err != nil {
			return err
		}
		out.do(func(d *codedeploy.Deployment) {
			if !d.Control.ReadyContinued {
				d.Status = codedeploy.StatusReady
			}
		})
	case !now.Before(st.ReadyDeadline):
		return &failure{code: "TIMEOUT", stopped: true, noRollback: true,
			message: "The deployment was stopped because traffic rerouting was not continued (ContinueDeployment) within the deployment group's wait time."}
	}
	return nil
}

func (e *Engine) bgTerminationWait(d *codedeploy.Deployment, st *serverState, now time.Time, out *outcome) error {
	if st.TerminateAt.IsZero() {
		wait := time.Duration(derefInt(d.BlueGreenDeploymentConfiguration.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes)) * time.Minute
		st.TerminateAt = now.Add(wait)
		out.do(func(d *codedeploy.Deployment) { d.InstanceTerminationWaitTimeStarted = true })
		return nil
	}
	if d.Control.TerminationWaitSkipped || !now.Before(st.TerminateAt) {
		st.Step = bgStepTerminate
		out.progress = true
	}
	return nil
}

// bgTerminate stands in for terminating the Blue instances, which cutover
// cannot do to a host: their targets left the target groups at
// BlockTraffic, and here their agents stop the application
// (ApplicationStop, which the agent runs from the host's last successful
// revision). It waits for every command to end; how it ended does not
// change the deployment's outcome, as a termination would not.
func (e *Engine) bgTerminate(ctx context.Context, d *codedeploy.Deployment, st *serverState, blue []*host) (bool, error) {
	done := true
	for _, h := range blue {
		if h.rec.Target.Status != codedeploy.EventSucceeded {
			continue
		}
		id := commandID(d.DeploymentID, h.rec.InstanceName, evApplicationStop)
		if !h.st.Stopped {
			if err := e.cfg.Agents.Issue(ctx, e.command(d, st, h, evApplicationStop, id)); err != nil && !errors.Is(err, agentcmd.ErrInvalidCommand) {
				return false, fmt.Errorf("stopping the application on %s: %w", h.rec.InstanceName, err)
			}
			h.st.Stopped = true
			h.save()
			done = false
			continue
		}
		cs, err := e.cfg.Agents.Status(ctx, id)
		if errors.Is(err, agentcmd.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("reading command %s: %w", id, err)
		}
		if !cs.Status.Ended() {
			done = false
		} else if cs.Status != agentcmd.StatusSucceeded {
			e.log.WarnContext(ctx, "the application of a terminated original instance did not stop",
				"deployment", d.DeploymentID, "instance", h.rec.InstanceName, "status", cs.Status, "message", cs.Diagnostics.Message)
		}
	}
	return done, nil
}
