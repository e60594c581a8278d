package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/elb"
	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/store"
)

// Labels the scheduler puts on runtime tasks, so that a task can be traced
// back to its set and an orphan recognised.
const (
	labelCluster = "cutover.ecs.cluster"
	labelService = "cutover.ecs.service"
	labelSet     = "cutover.ecs.task-set"
	labelTask    = "cutover.ecs.task"
)

const (
	schedulerLease = "ecs.scheduler"
	// failureThreshold is how many consecutive failures of a slot make the
	// set report a FailureReason: one crash can be bad luck, three is a
	// pattern the deployment engine should act on.
	failureThreshold = 3
	// ECS's stop codes and reasons for what the scheduler itself decides.
	stopCodeScheduler   = "ServiceSchedulerInitiated"
	reasonHealthCheck   = "Task failed container health checks"
	reasonRuntimeLost   = "Task is no longer known to the container runtime"
	reasonSetDeleted    = "Task set deleted"
	reasonServiceDelete = "Service deleted"
)

// Run reconciles every interval (and soon after each API change) until ctx
// ends, then waits for the stops it started. It holds the scheduler lease
// while it works, so only one replica schedules at a time.
func (s *Service) Run(ctx context.Context) error {
	if s.rt == nil {
		return errors.New("ecs: Run needs a runtime")
	}
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	defer func() {
		s.stopWG.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.st.ReleaseLease(rctx, schedulerLease, s.cfg.Owner)
	}()
	ttl := max(10*s.cfg.Interval, 15*time.Second)
	for {
		if _, err := s.st.AcquireLease(ctx, schedulerLease, s.cfg.Owner, ttl); err == nil {
			if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("reconcile", "err", err)
			}
		} else if !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
			s.log.Error("scheduler lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.kick:
		}
	}
}

// pass is the state of one reconcile pass. Services are reconciled
// concurrently, so the maps they all write are behind mu.
type pass struct {
	now      time.Time
	taskDefs map[string]*taskDefRec // read-only once the pass starts

	mu       sync.Mutex
	targets  map[string]map[string]elb.Target // target group → "host:port" → target
	versions map[string]int64                 // task id → record version
	// changed: a task set's counts or stability moved in this pass.
	changed bool
}

func (p *pass) setChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changed = true
}

func (p *pass) version(id string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.versions[id]
}

func (p *pass) setVersion(id string, v int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions[id] = v
}

// forgetTargets drops a target group's cached targets after a change.
func (p *pass) forgetTargets(tg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.targets, tg)
}

type serviceJob struct {
	sv      *serviceRec
	sets    []*setRec
	desired map[string]int
}

// serviceWorkers bounds how many services one pass reconciles at once:
// starting a container takes a runtime round trip, and fifty services
// deploying together should not wait for each other's.
const serviceWorkers = 8

// Reconcile does one pass over every service: it brings each task set to
// its desired count, registers and deregisters targets, and records what
// it sees. Tests call it directly; Run calls it on every tick.
func (s *Service) Reconcile(ctx context.Context) error {
	if s.rt == nil {
		return nil
	}
	s.passMu.Lock()
	defer s.passMu.Unlock()
	p := &pass{now: s.now(), taskDefs: map[string]*taskDefRec{}, targets: map[string]map[string]elb.Target{}, versions: map[string]int64{}}
	var (
		services []*serviceRec
		sets     []*setRec
		tasks    []*taskRec
	)
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if services, _, err = list[serviceRec](tx, kindService, store.ListOptions{}); err != nil {
			return err
		}
		if sets, _, err = list[setRec](tx, kindSet, store.ListOptions{}); err != nil {
			return err
		}
		var recs []*store.Record
		if tasks, recs, err = list[taskRec](tx, kindTask, store.ListOptions{}); err != nil {
			return err
		}
		for i, t := range tasks {
			p.versions[t.ID] = recs[i].Version
		}
		tds, _, err := list[taskDefRec](tx, kindTaskDef, store.ListOptions{})
		for _, td := range tds {
			p.taskDefs[td.TaskDefinitionArn] = td
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ecs: reading state: %w", err)
	}
	s.sweepOrphans(ctx, tasks)

	setsBySvc := map[string][]*setRec{}
	for _, set := range sets {
		k := serviceKey(set.Cluster, set.Service)
		setsBySvc[k] = append(setsBySvc[k], set)
	}
	tasksBySet := map[string][]*taskRec{}
	for _, t := range tasks {
		if t.SetID != "" {
			k := setKey(t.Cluster, t.Service, t.SetID)
			tasksBySet[k] = append(tasksBySet[k], t)
		}
	}
	var (
		errMu sync.Mutex
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, serviceWorkers)
		jobs  []serviceJob
	)
	for _, sv := range services {
		if sv.Status == statusInactive {
			continue
		}
		svSets := setsBySvc[serviceKey(sv.Cluster, sv.Name)]
		// Tasks whose set record is gone (a crash between steps) are
		// drained and stopped under a stand-in set that is never stored.
		known := map[string]bool{}
		for _, set := range svSets {
			known[set.ID] = true
		}
		for k, ts := range tasksBySet {
			t := ts[0]
			if t.Cluster == sv.Cluster && t.Service == sv.Name && !known[t.SetID] && k == setKey(t.Cluster, t.Service, t.SetID) {
				live := false
				for _, t := range ts {
					live = live || !t.final()
				}
				if live {
					svSets = append(svSets, &setRec{ID: t.SetID, Cluster: t.Cluster, Service: t.Service, Status: setDraining, standIn: true})
					known[t.SetID] = true
				}
			}
		}
		jobs = append(jobs, serviceJob{sv, svSets, s.desiredCounts(sv, svSets, tasksBySet, p)})
	}
	// Every service's sets are known before any is changed.
	for _, job := range jobs {
		sv, svSets, desired := job.sv, job.sets, job.desired
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var svErrs []error
			liveLeft := 0
			for _, set := range svSets {
				n, err := s.reconcileSet(ctx, p, sv, set, desired[set.ID], tasksBySet[set.key()])
				if err != nil {
					svErrs = append(svErrs, fmt.Errorf("task set %s: %w", set.key(), err))
				}
				liveLeft += n
			}
			if sv.Status == statusDraining && liveLeft == 0 {
				if err := s.retireService(ctx, sv); err != nil {
					svErrs = append(svErrs, err)
				}
			}
			errMu.Lock()
			errs = append(errs, svErrs...)
			errMu.Unlock()
		}()
	}
	wg.Wait()
	if p.changed && s.cfg.OnTaskSetChange != nil {
		s.cfg.OnTaskSetChange()
	}
	if err := s.pruneStopped(ctx, tasks); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// desiredCounts decides how many tasks each set of a service should run.
// A task set runs ceil(desiredCount × scale%). ECS-controller deployments
// roll: the primary grows within maximumPercent while older deployments
// shrink as far as minimumHealthyPercent allows.
func (s *Service) desiredCounts(sv *serviceRec, sets []*setRec, tasksBySet map[string][]*taskRec, p *pass) map[string]int {
	out := map[string]int{}
	d := sv.DesiredCount
	if sv.Status != statusActive {
		return out
	}
	var primary *setRec
	var old []*setRec
	for _, set := range sets {
		switch {
		case set.Status == setDraining:
		case !set.Deployment:
			out[set.ID] = int(math.Ceil(float64(d)*set.ScaleValue/100 - 1e-9))
		case set.Status == setPrimary:
			primary = set
		default:
			old = append(old, set)
		}
	}
	if primary == nil {
		return out
	}
	count := func(set *setRec) (live, ready int) {
		for _, t := range tasksBySet[set.key()] {
			if t.DesiredStatus == runtime.StatusRunning && !t.final() {
				live++
				if s.ready(t, set) {
					ready++
				}
			}
		}
		return
	}
	pLive, pReady := count(primary)
	maxTotal := d * int(deref(sv.DeploymentConfiguration.MaximumPercent)) / 100
	minHealthy := int(math.Ceil(float64(d*int(deref(sv.DeploymentConfiguration.MinimumHealthyPercent)))/100 - 1e-9))
	oldLive := map[string]int{}
	oTotal := 0
	for _, set := range old {
		n, _ := count(set)
		oldLive[set.ID] = n
		oTotal += n
	}
	out[primary.ID] = min(d, max(pLive, maxTotal-oTotal))
	keep := max(minHealthy-pReady, 0)
	if oTotal > 0 && keep >= oTotal && out[primary.ID] <= pLive && pLive < d {
		// Neither side could move (maximumPercent 100 with
		// minimumHealthyPercent 100): give up one old task to make room.
		keep = oTotal - 1
	}
	sort.Slice(old, func(i, j int) bool { return old[i].CreatedAt.After(old[j].CreatedAt.Time) })
	for _, set := range old {
		n := min(keep, oldLive[set.ID])
		out[set.ID] = n
		keep -= n
	}
	_ = p
	return out
}

// ready says whether a task serves: running, not failing its container
// health check, and healthy in the load balancer when the set has one.
func (s *Service) ready(t *taskRec, set *setRec) bool {
	if t.LastStatus != runtime.StatusRunning || t.Health == runtime.HealthUnhealthy {
		return false
	}
	if _, ok := set.targetGroup(); ok && s.lb != nil {
		return t.LBHealthy && t.Registered
	}
	return true
}

// lbTargets returns the target group's targets, fetched once per pass.
func (s *Service) lbTargets(ctx context.Context, p *pass, tg string) (map[string]elb.Target, bool) {
	p.mu.Lock()
	m, ok := p.targets[tg]
	p.mu.Unlock()
	if ok {
		return m, m != nil
	}
	// Two services sharing a target group may both fetch it; the second
	// fetch is as fresh as the first.
	ts, err := s.lb.TargetGroupTargets(ctx, tg)
	if err != nil {
		s.log.Warn("reading target health", "target_group", tg, "err", err)
		m = nil
	} else {
		m = map[string]elb.Target{}
		for _, t := range ts {
			m[t.ID+":"+strconv.Itoa(t.Port)] = t
		}
	}
	p.mu.Lock()
	p.targets[tg] = m
	p.mu.Unlock()
	return m, m != nil
}

// reconcileSet brings one set to want tasks and stores what it saw. It
// returns how many of the set's tasks are not yet stopped.
func (s *Service) reconcileSet(ctx context.Context, p *pass, sv *serviceRec, set *setRec, want int, tasks []*taskRec) (int, error) {
	if set.Slots == nil {
		set.Slots = map[int]*slotState{}
	}
	slot := func(i int) *slotState {
		st := set.Slots[i]
		if st == nil {
			st = &slotState{}
			set.Slots[i] = st
		}
		return st
	}
	setARN := s.taskSetARN(set.Cluster, set.Service, set.ID)
	lb, hasLB := set.targetGroup()
	hasLB = hasLB && s.lb != nil
	td := p.taskDefs[set.TaskDefinition]
	changed := map[string]*taskRec{}

	fail := func(t *taskRec, reason string) {
		st := slot(t.Slot)
		st.Failures++
		st.LastFailure = reason
		delay := s.cfg.RestartDelay << min(st.Failures-1, 20)
		st.NextStart = p.now.Add(min(delay, s.cfg.MaxRestartDelay))
		set.FailedTasks++
		s.log.Warn("task failed", "task", t.ID, "task_set", set.ID, "reason", reason, "failures", st.Failures, "next_start", st.NextStart)
	}
	giveUp := func(t *taskRec) {
		if st := slot(t.Slot); st.Gen == t.Gen {
			st.Gen++
		}
	}
	stopWith := func(t *taskRec, code, reason string) {
		t.DesiredStatus = runtime.StatusStopped
		t.StopCode, t.StoppedReason = code, reason
		t.StoppingAt = ptr(awsproto.NewTime(p.now.UTC().Truncate(time.Millisecond)))
		giveUp(t)
		changed[t.ID] = t
	}

	var live []*taskRec
	for _, t := range tasks {
		if !t.final() {
			live = append(live, t)
		}
	}
	// Observe and act on every task that is not yet stopped.
	for _, t := range live {
		before := mustJSON(t)
		rt, err := s.rt.Inspect(ctx, t.ID)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			if t.LastStatus == runtime.StatusPending && t.StartedAt == nil && t.DesiredStatus == runtime.StatusRunning {
				// Recorded but never started (a crash in between): start it
				// now under the same id.
				rt, err = s.rt.Start(ctx, s.taskSpec(set, t, td))
				if err != nil {
					s.failedToStart(t, err, p)
					fail(t, t.StoppedReason)
					giveUp(t)
					changed[t.ID] = t
					continue
				}
				s.observe(t, rt, td, p)
			} else {
				t.LastStatus = runtime.StatusStopped
				if t.DesiredStatus == runtime.StatusRunning {
					t.StopCode, t.StoppedReason = runtime.StopCodeEssentialContainerExited, reasonRuntimeLost
				}
			}
		case err != nil:
			s.log.Warn("inspecting task", "task", t.ID, "err", err)
			continue
		default:
			s.observe(t, rt, td, p)
		}

		switch {
		case t.LastStatus == runtime.StatusStopped:
			// Stopped: take it out of the load balancer (it serves nothing
			// now) and forget it in the runtime; replace it if unwanted.
			if t.Registered {
				s.deregister(ctx, t)
				t.Registered = false
			}
			if err := s.rt.Remove(ctx, t.ID); err != nil {
				s.log.Warn("removing stopped task", "task", t.ID, "err", err)
			}
			if t.StoppedAt == nil {
				t.StoppedAt = ptr(awsproto.NewTime(p.now.UTC().Truncate(time.Millisecond)))
			}
			if t.DesiredStatus == runtime.StatusRunning {
				t.DesiredStatus = runtime.StatusStopped
				stable := t.LBHealthy || (!hasLB && t.StartedAt != nil && t.StoppedAt.Sub(t.StartedAt.Time) >= s.cfg.StableAfter)
				if stable {
					slot(t.Slot).Failures = 0
				}
				fail(t, failureText(t))
			}
			giveUp(t)
		case t.DesiredStatus == runtime.StatusStopped:
			giveUp(t)
			s.drainThenStop(ctx, p, t, td)
		case t.Health == runtime.HealthUnhealthy:
			fail(t, reasonHealthCheck)
			stopWith(t, stopCodeScheduler, reasonHealthCheck)
			s.drainThenStop(ctx, p, t, td)
		case t.Slot >= want || t.Gen != slot(t.Slot).Gen:
			reason := fmt.Sprintf("Scaling activity initiated by (deployment %s)", set.ID)
			switch {
			case set.standIn || set.Status == setDraining && sv.Status == statusActive:
				reason = reasonSetDeleted
			case sv.Status != statusActive:
				reason = reasonServiceDelete
			}
			stopWith(t, stopCodeScheduler, reason)
			s.drainThenStop(ctx, p, t, td)
		default:
			s.keepServing(ctx, p, set, lb, hasLB, t)
			if t.LBHealthy || (!hasLB && t.StartedAt != nil && p.now.Sub(t.StartedAt.Time) >= s.cfg.StableAfter) {
				if st := slot(t.Slot); st.Failures > 0 {
					st.Failures, st.LastFailure, st.NextStart = 0, "", time.Time{}
				}
			}
		}
		if mustJSON(t) != before {
			changed[t.ID] = t
		}
	}

	// Start a task in every wanted slot that has none.
	started := false
	serving := map[int]bool{}
	for _, t := range live {
		if t.DesiredStatus == runtime.StatusRunning && !t.final() {
			serving[t.Slot] = true
		}
	}
	for i := 0; i < want && set.Status != setDraining && td != nil; i++ {
		if serving[i] || p.now.Before(slot(i).NextStart) {
			continue
		}
		t := s.newTask(sv, set, td, i, slot(i).Gen, setARN, p)
		if err := s.st.Update(ctx, func(tx store.Tx) error {
			return put(tx, kindTask, t.ID, t.Cluster, 0, t)
		}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				// Its id was used before; move the slot on.
				slot(i).Gen++
				continue
			}
			return 0, fmt.Errorf("recording task %s: %w", t.ID, err)
		}
		p.setVersion(t.ID, 1)
		live = append(live, t)
		tasks = append(tasks, t)
		rt, err := s.rt.Start(ctx, s.taskSpec(set, t, td))
		started = true
		if err != nil {
			s.failedToStart(t, err, p)
			fail(t, t.StoppedReason)
			giveUp(t)
		} else {
			s.observe(t, rt, td, p)
			s.log.Info("task started", "task", t.ID, "task_set", set.ID, "slot", i, "service", sv.Name)
		}
		changed[t.ID] = t
	}

	// Count, judge stability and store it all.
	pending, running, healthy, stopping, left := 0, 0, 0, 0, 0
	for _, t := range live {
		if t.final() {
			continue
		}
		left++
		if t.LastStatus == runtime.StatusRunning {
			running++
		}
		if t.DesiredStatus == runtime.StatusStopped {
			stopping++
			continue
		}
		if t.LastStatus == runtime.StatusPending {
			pending++
		}
		if s.ready(t, set) {
			healthy++
		}
	}
	stability := "STABILIZING"
	if running == want && pending == 0 && stopping == 0 && healthy == running {
		stability = "STEADY_STATE"
	}
	failure := ""
	for _, st := range set.Slots {
		if st.Failures >= failureThreshold {
			failure = st.LastFailure
		}
	}
	rollout := set.RolloutState
	if set.Deployment && set.Status == setPrimary && stability == "STEADY_STATE" && running == sv.DesiredCount {
		rollout = "COMPLETED"
	}
	if started {
		// The new tasks are registered with the load balancer on the next
		// pass: make it now rather than at the next tick.
		s.wake()
	}
	return left, s.storeSet(ctx, p, set, changed, func(cur *setRec) {
		if cur.Desired != want || cur.Pending != pending || cur.Running != running || cur.Healthy != healthy || cur.StabilityStatus != stability {
			p.setChanged()
		}
		cur.Desired, cur.Pending, cur.Running, cur.Healthy = want, pending, running, healthy
		if cur.StabilityStatus != stability {
			cur.StabilityStatus = stability
			cur.StabilityStatusAt = awsproto.NewTime(p.now.UTC().Truncate(time.Millisecond))
		}
		cur.FailureReason = failure
		cur.FailedTasks = set.FailedTasks
		cur.Slots = set.Slots
		if cur.Status == setPrimary {
			cur.RolloutState = rollout
		}
	}, left == 0 && (set.Status == setDraining || (set.Deployment && set.Status == setActive && want == 0)))
}

// storeSet writes the changed tasks at the versions they were read and the
// scheduler's part of the set, on the set as it is now; forget removes a
// set that has nothing left to run. A task changed meanwhile by the API
// (StopTask) makes the write conflict: the next pass does it again.
func (s *Service) storeSet(ctx context.Context, p *pass, set *setRec, changed map[string]*taskRec, apply func(*setRec), forget bool) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		for id, t := range changed {
			if err := put(tx, kindTask, id, t.Cluster, p.version(id), t); err != nil {
				return fmt.Errorf("storing task %s: %w", id, err)
			}
		}
		if set.standIn {
			return nil
		}
		cur, rec, err := get[setRec](tx, kindSet, set.key())
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if forget && cur.Status == set.Status {
			s.log.Info("task set removed", "task_set", set.ID, "service", set.Service)
			return tx.Delete(kindSet, rec.Key, rec.Version)
		}
		before := mustJSON(cur)
		apply(cur)
		if mustJSON(cur) == before {
			return nil
		}
		return put(tx, kindSet, rec.Key, rec.Index, rec.Version, cur)
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	for id := range changed {
		p.versions[id]++
	}
	p.mu.Unlock()
	return nil
}

func mustJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

// failureText is what a set reports when its tasks keep failing: ECS's
// stoppedReason plus the container's own reason, which says why.
func failureText(t *taskRec) string {
	reason := t.StoppedReason
	for _, c := range t.Containers {
		if c.Reason != "" && !strings.Contains(reason, c.Reason) {
			reason += ": " + c.Name + ": " + c.Reason
			break
		}
	}
	return reason
}

// failedToStart records a task the runtime refused or could not start.
func (s *Service) failedToStart(t *taskRec, err error, p *pass) {
	now := ptr(awsproto.NewTime(p.now.UTC().Truncate(time.Millisecond)))
	t.LastStatus, t.DesiredStatus = runtime.StatusStopped, runtime.StatusStopped
	t.StopCode = runtime.StopCodeTaskFailedToStart
	t.StoppedReason = err.Error()
	t.StoppingAt, t.StoppedAt = now, now
	for i := range t.Containers {
		t.Containers[i].LastStatus = runtime.StatusStopped
	}
}

// keepServing registers a running, healthy task with its set's target
// group and notes when the load balancer finds it healthy.
func (s *Service) keepServing(ctx context.Context, p *pass, set *setRec, lb LoadBalancer, hasLB bool, t *taskRec) {
	if !hasLB || t.LastStatus != runtime.StatusRunning {
		return
	}
	if !t.Registered {
		if t.Health != runtime.HealthHealthy && t.hasHealthCheck() {
			return // a container health check must pass first
		}
		host, port, ok := t.binding(lb.ContainerName, lb.ContainerPort)
		if !ok {
			s.log.Warn("task has no endpoint for the load balancer", "task", t.ID, "container", lb.ContainerName, "port", lb.ContainerPort)
			return
		}
		// A target registered before its port listens fails its first
		// health check and then needs HealthyThreshold more, a whole
		// interval later. So a task is registered once its port accepts
		// connections (or listenGrace after it started, whatever it does:
		// the load balancer's checks then judge it).
		if t.StartedAt != nil && p.now.Sub(t.StartedAt.Time) < listenGrace && !accepting(host, port) {
			time.AfterFunc(listenPoll, s.wake)
			return
		}
		if err := s.lb.RegisterTargets(ctx, lb.TargetGroupArn, elb.TargetRef{ID: host, Port: port}); err != nil {
			s.log.Warn("registering target", "task", t.ID, "target_group", lb.TargetGroupArn, "err", err)
			return
		}
		t.Registered, t.TargetGroupArn, t.TargetHost, t.TargetPort = true, lb.TargetGroupArn, host, port
		t.DeregisteredAt = time.Time{}
		p.forgetTargets(lb.TargetGroupArn)
		s.log.Info("task registered", "task", t.ID, "target_group", lb.TargetGroupArn, "target", fmt.Sprintf("%s:%d", host, port))
		return
	}
	if targets, ok := s.lbTargets(ctx, p, t.TargetGroupArn); ok {
		if tg, ok := targets[fmt.Sprintf("%s:%d", t.TargetHost, t.TargetPort)]; ok && tg.State == "healthy" {
			t.LBHealthy = true
		}
	}
}

const (
	listenGrace = 30 * time.Second
	listenPoll  = 100 * time.Millisecond
)

// accepting reports whether something listens on host:port. A port
// published by Docker accepts connections through docker-proxy before the
// container listens, then closes them at once; so a connection counts only
// if it stays open (an HTTP server waits for the request) or sends data.
func accepting(host string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 250*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	return n > 0 || (errors.As(err, &ne) && ne.Timeout())
}

// drainThenStop deregisters a task that is to stop, waits while the load
// balancer drains it, then stops it.
func (s *Service) drainThenStop(ctx context.Context, p *pass, t *taskRec, td *taskDefRec) {
	if t.Registered && s.lb != nil {
		if t.DeregisteredAt.IsZero() {
			s.deregister(ctx, t)
			t.DeregisteredAt = p.now
			p.forgetTargets(t.TargetGroupArn)
			return
		}
		if targets, ok := s.lbTargets(ctx, p, t.TargetGroupArn); ok {
			if _, still := targets[fmt.Sprintf("%s:%d", t.TargetHost, t.TargetPort)]; still && p.now.Sub(t.DeregisteredAt) < s.cfg.MaxDrain {
				return
			}
		} else if p.now.Sub(t.DeregisteredAt) < s.cfg.MaxDrain {
			return
		}
		t.Registered = false
	}
	s.stopAsync(t.ID, s.grace(td))
}

func (s *Service) deregister(ctx context.Context, t *taskRec) {
	if s.lb == nil || t.TargetGroupArn == "" {
		return
	}
	err := s.lb.DeregisterTargets(ctx, t.TargetGroupArn, elb.TargetRef{ID: t.TargetHost, Port: t.TargetPort})
	if e := awsproto.AsError(err); e != nil && (e.Code == "InvalidTarget" || e.Code == "TargetGroupNotFound") {
		err = nil // already gone: what we wanted
	}
	if err != nil {
		s.log.Warn("deregistering target", "task", t.ID, "target_group", t.TargetGroupArn, "err", err)
		return
	}
	s.log.Info("task deregistered", "task", t.ID, "target_group", t.TargetGroupArn)
}

func (s *Service) grace(td *taskDefRec) time.Duration {
	g := time.Duration(0)
	if td != nil {
		for _, c := range td.ContainerDefinitions {
			if c.StopTimeout != nil {
				g = max(g, time.Duration(*c.StopTimeout)*time.Second)
			}
		}
	}
	if g == 0 {
		g = s.cfg.StopGrace
	}
	return g
}

// stopAsync stops a task without holding up the pass; a stop already in
// flight is not asked for again.
func (s *Service) stopAsync(id string, grace time.Duration) {
	if _, busy := s.stopping.LoadOrStore(id, true); busy {
		return
	}
	s.stopWG.Add(1)
	go func() {
		defer s.stopWG.Done()
		defer s.stopping.Delete(id)
		ctx, cancel := context.WithTimeout(context.Background(), grace+30*time.Second)
		defer cancel()
		if err := s.rt.Stop(ctx, id, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			s.log.Warn("stopping task", "task", id, "err", err)
		}
		s.wake()
	}()
}

func (s *Service) newTask(sv *serviceRec, set *setRec, td *taskDefRec, slot, gen int, setARN string, p *pass) *taskRec {
	now := awsproto.NewTime(p.now.UTC().Truncate(time.Millisecond))
	t := &taskRec{
		ID: taskID(setARN, slot, gen), Cluster: set.Cluster, Service: set.Service, SetID: set.ID, Slot: slot, Gen: gen,
		TaskDefinitionArn: td.TaskDefinitionArn, Family: td.Family, StartedBy: set.ID, Group: "service:" + sv.Name,
		LaunchType: set.LaunchType, PlatformVersion: set.PlatformVersion, Cpu: deref(td.Cpu), Memory: deref(td.Memory),
		LastStatus: runtime.StatusPending, DesiredStatus: runtime.StatusRunning, Health: runtime.HealthUnknown, CreatedAt: now,
	}
	if sv.PropagateTags == "SERVICE" {
		t.Tags = sv.Tags
	} else if sv.PropagateTags == "TASK_DEFINITION" {
		t.Tags = td.Tags
	}
	for _, c := range td.ContainerDefinitions {
		if hc := c.HealthCheck; hc != nil && deref(c.Essential) && len(hc.Command) > 0 && hc.Command[0] != "NONE" {
			t.HasHealthCheck = true
		}
		t.Containers = append(t.Containers, ContainerWire{
			ContainerArn: s.arn("container/" + set.Cluster + "/" + t.ID + "/" + uuidFrom(t.ID, deref(c.Name))),
			Name:         deref(c.Name), Image: deref(c.Image), LastStatus: runtime.StatusPending,
			NetworkBindings: []NetworkBinding{}, HealthStatus: healthOf(c), Cpu: strconv.Itoa(int(deref(c.Cpu))),
			Memory: optInt(c.Memory), MemoryReservation: optInt(c.MemoryReservation),
		})
	}
	return t
}

func healthOf(ContainerDefinition) string { return runtime.HealthUnknown }

func optInt(v *int32) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(int(*v))
}

// taskSpec turns a task definition into what the runtime runs. Under
// awsvpc every task has its own address in AWS; on one host that becomes
// an ephemeral host port per task, so host ports are only kept in host
// and bridge mode where the definition asks for them.
func (s *Service) taskSpec(set *setRec, t *taskRec, td *taskDefRec) runtime.TaskSpec {
	spec := runtime.TaskSpec{ID: t.ID, Labels: map[string]string{
		labelCluster: t.Cluster, labelService: t.Service, labelSet: set.ID, labelTask: s.taskARN(t.Cluster, t.ID),
	}}
	if td == nil {
		return spec
	}
	mode := deref(td.NetworkMode)
	for _, c := range td.ContainerDefinitions {
		cs := runtime.ContainerSpec{
			Name: deref(c.Name), Image: deref(c.Image), EntryPoint: c.EntryPoint, Command: c.Command,
			Environment: map[string]string{}, Essential: deref(c.Essential), CPU: int(deref(c.Cpu)),
			Memory: int(deref(c.Memory)), MemoryReservation: int(deref(c.MemoryReservation)), WorkingDirectory: deref(c.WorkingDirectory),
		}
		for _, e := range c.Environment {
			cs.Environment[deref(e.Name)] = deref(e.Value)
		}
		for _, pm := range c.PortMappings {
			hp := int(deref(pm.HostPort))
			if mode == "awsvpc" {
				hp = 0
			}
			cs.PortMappings = append(cs.PortMappings, runtime.PortMapping{ContainerPort: int(deref(pm.ContainerPort)), HostPort: hp, Protocol: deref(pm.Protocol)})
		}
		if hc := c.HealthCheck; hc != nil && len(hc.Command) > 0 && hc.Command[0] != "NONE" {
			cs.HealthCheck = &runtime.HealthCheck{
				Command: hc.Command, Interval: secs(hc.Interval), Timeout: secs(hc.Timeout),
				StartPeriod: secs(hc.StartPeriod), Retries: int(deref(hc.Retries)),
			}
		}
		spec.Containers = append(spec.Containers, cs)
	}
	return spec
}

func secs(v *int32) time.Duration { return time.Duration(deref(v)) * time.Second }

// observe copies the runtime's view of a task into its record.
func (s *Service) observe(t *taskRec, rt *runtime.Task, td *taskDefRec, p *pass) {
	t.LastStatus = rt.Status
	t.Health = rt.Health
	if !rt.StartedAt.IsZero() && rt.Status != runtime.StatusPending {
		t.StartedAt = ptr(awsproto.NewTime(rt.StartedAt.UTC().Truncate(time.Millisecond)))
	}
	if rt.Status == runtime.StatusStopped {
		if !rt.StoppedAt.IsZero() {
			t.StoppedAt = ptr(awsproto.NewTime(rt.StoppedAt.UTC().Truncate(time.Millisecond)))
		}
		// Our own reason (StopTask, scaling, health) wins over the
		// runtime's account of having been stopped.
		if t.StoppedReason == "" {
			t.StopCode, t.StoppedReason = rt.StopCode, rt.StoppedReason
		}
	}
	for i := range t.Containers {
		c := &t.Containers[i]
		for _, rc := range rt.Containers {
			if rc.Name != c.Name {
				continue
			}
			c.LastStatus = rc.Status
			c.HealthStatus = rc.Health
			c.Reason = rc.Reason
			c.RuntimeID = t.ID + "-" + rc.Name
			if rc.ExitCode != nil {
				c.ExitCode = ptr(int32(*rc.ExitCode))
			}
		}
		c.NetworkBindings = []NetworkBinding{}
		for _, e := range rt.Endpoints {
			if e.ContainerName == c.Name {
				c.NetworkBindings = append(c.NetworkBindings, NetworkBinding{BindIP: e.Host, ContainerPort: int32(e.ContainerPort), HostPort: int32(e.HostPort), Protocol: e.Protocol})
			}
		}
	}
	_ = td
	_ = p
}

func (t *taskRec) binding(container string, port int) (string, int, bool) {
	for _, c := range t.Containers {
		if c.Name != container {
			continue
		}
		for _, b := range c.NetworkBindings {
			if int(b.ContainerPort) == port && b.HostPort > 0 {
				host := b.BindIP
				if host == "" || host == "0.0.0.0" {
					host = "127.0.0.1"
				}
				return host, int(b.HostPort), true
			}
		}
	}
	return "", 0, false
}

func (t *taskRec) hasHealthCheck() bool { return t.HasHealthCheck }

// uuidFrom derives a stable UUID-shaped id (for container ARNs) from parts.
func uuidFrom(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// sweepOrphans removes runtime tasks of ours that no stored task accounts
// for (a set deleted while the server was down, a record lost to a crash).
func (s *Service) sweepOrphans(ctx context.Context, tasks []*taskRec) {
	all, err := s.rt.List(ctx)
	if err != nil {
		s.log.Warn("listing runtime tasks", "err", err)
		return
	}
	known := map[string]bool{}
	for _, t := range tasks {
		if !t.final() {
			known[t.ID] = true
		}
	}
	for _, rt := range all {
		if rt.Labels[labelTask] == "" || known[rt.ID] {
			continue
		}
		if !strings.HasPrefix(rt.Labels[labelTask], s.arn("task/")) {
			continue // another account's or region's scheduler shares the runtime
		}
		s.log.Info("removing orphaned task", "task", rt.ID)
		if err := s.rt.Remove(ctx, rt.ID); err != nil {
			s.log.Warn("removing orphaned task", "task", rt.ID, "err", err)
		}
	}
}

// retireService makes a drained DRAINING service INACTIVE and forgets its
// sets.
func (s *Service) retireService(ctx context.Context, sv *serviceRec) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		cur, rec, err := get[serviceRec](tx, kindService, serviceKey(sv.Cluster, sv.Name))
		if err != nil || cur.Status != statusDraining {
			return err
		}
		_, recs, err := loadSets(tx, sv.Cluster, sv.Name)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := tx.Delete(kindSet, r.Key, r.Version); err != nil {
				return err
			}
		}
		cur.Status = statusInactive
		s.log.Info("service inactive", "cluster", sv.Cluster, "service", sv.Name)
		return put(tx, kindService, rec.Key, rec.Index, rec.Version, cur)
	})
}

// pruneStopped keeps the newest maxStopped stopped tasks of each set.
func (s *Service) pruneStopped(ctx context.Context, tasks []*taskRec) error {
	bySet := map[string][]*taskRec{}
	for _, t := range tasks {
		if t.final() {
			k := setKey(t.Cluster, t.Service, t.SetID)
			bySet[k] = append(bySet[k], t)
		}
	}
	var drop []string
	for _, ts := range bySet {
		if len(ts) <= maxStopped {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return stoppedAt(ts[i]).After(stoppedAt(ts[j])) })
		for _, t := range ts[maxStopped:] {
			drop = append(drop, t.ID)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range drop {
			if err := tx.Delete(kindTask, id, -1); err != nil && !isNotFound(err) {
				return err
			}
		}
		return nil
	})
}

func stoppedAt(t *taskRec) time.Time {
	if t.StoppedAt == nil {
		return time.Time{}
	}
	return t.StoppedAt.Time
}
