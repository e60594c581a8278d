package proxy

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Target health states and reasons, as DescribeTargetHealth reports them.
const (
	StateInitial     = "initial"
	StateHealthy     = "healthy"
	StateUnhealthy   = "unhealthy"
	StateUnused      = "unused"
	StateDraining    = "draining"
	StateUnavailable = "unavailable"

	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
	ReasonInvalidState             = "Target.InvalidState"
)

var reasonText = map[string]string{
	ReasonRegistrationInProgress:   "Target registration is in progress",
	ReasonInitialHealthChecking:    "Initial health checks in progress",
	ReasonTimeout:                  "Request timed out",
	ReasonFailedHealthChecks:       "Health checks failed",
	ReasonNotInUse:                 "Target group is not configured to receive traffic from the load balancer",
	ReasonDeregistrationInProgress: "Target deregistration is in progress",
	ReasonHealthCheckDisabled:      "Health checks are disabled",
	ReasonInvalidState:             "Target is in an invalid state",
}

// group is the live state of one target group. It outlives Apply calls
// that keep the group so that health state, connection pools and counters
// carry over.
type group struct {
	p   *Proxy
	arn string

	mu       sync.Mutex // guards everything below except set, rr and lor
	cfg      TargetGroup
	used     bool
	targets  map[string]*target // registered, keyed by "id:port"
	order    []*target          // registration order, for stable reports
	draining []*target

	// set is the routing snapshot the hot path reads without locking;
	// rebuild replaces it whenever membership or health changes.
	set atomic.Pointer[targetSet]
	rr  atomic.Uint64
	lor atomic.Bool // least outstanding requests instead of round robin
}

type targetSet struct {
	healthy  []*target // routable: healthy, or health checks disabled
	all      []*target // every registered target with an address (fail-open)
	byCookie map[string]*target
	sticky   time.Duration
}

// target is one registered endpoint. A re-registration after
// deregistration is a new target value; the old one drains on its own.
type target struct {
	g      *group
	key    string
	id     string
	port   int
	addr   string         // host:port; "" when the control plane knows no address
	ip     netip.AddrPort // addr when it is an IP address and port
	cookie string         // AWSALB value

	inflight atomic.Int64 // requests and flows in progress
	routable atomic.Bool
	draining atomic.Bool
	dropped  atomic.Bool
	pool     connPool

	// guarded by g.mu
	state, reason, desc  string
	okStreak, failStreak int
	checkGen             int
	stopCheck            context.CancelFunc
	drainTimer           *time.Timer

	flowMu sync.Mutex
	flows  map[net.Conn]struct{} // forced closed when draining times out
}

func newGroup(p *Proxy, arn string) *group {
	g := &group{p: p, arn: arn, targets: map[string]*target{}}
	g.set.Store(&targetSet{})
	return g
}

// update applies a target group's config and returns the targets that were
// deregistered; the caller drains them once routing no longer uses them.
func (g *group) update(tgc *TargetGroup, used bool) []*target {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cfg
	g.cfg = *tgc
	g.cfg.Targets = nil
	hcChanged := old.Health != tgc.Health || old.Port != tgc.Port
	becameUsed := used && !g.used
	usedChanged := used != g.used
	g.used = used
	g.lor.Store(tgc.LoadBalancingAlgorithm == "least_outstanding_requests")

	var removed []*target
	seen := make(map[string]bool, len(tgc.Targets))
	var order []*target
	for _, tc := range tgc.Targets {
		port := tc.Port
		if port == 0 {
			port = tgc.Port
		}
		key := tc.ID + ":" + strconv.Itoa(port)
		if seen[key] {
			continue
		}
		seen[key] = true
		addr := ""
		if tc.Host != "" {
			addr = net.JoinHostPort(tc.Host, strconv.Itoa(port))
		}
		t := g.targets[key]
		if t != nil && t.addr != addr {
			// The address moved: the old endpoint drains, the new one
			// starts over like a fresh registration.
			removed = append(removed, t)
			t = nil
		}
		if t == nil {
			t = &target{g: g, key: key, id: tc.ID, port: port, addr: addr,
				cookie: cookieValue(g.arn + "|" + key)}
			// A ring loop connects to addresses only; a name is left to
			// the dialer's resolver.
			t.ip, _ = netip.ParseAddrPort(addr)
			t.state, t.reason = StateInitial, ReasonRegistrationInProgress
			g.targets[key] = t
			g.restartCheckLocked(t, true)
		} else if hcChanged || usedChanged {
			g.restartCheckLocked(t, becameUsed)
		}
		order = append(order, t)
	}
	for key, t := range g.targets {
		if !seen[key] {
			delete(g.targets, key)
			removed = append(removed, t)
		}
	}
	g.order = order
	g.rebuildLocked()
	return removed
}

// restartCheckLocked (re)starts a target's health checker for the group's
// current settings, or puts the target in the state that replaces checks.
// reset starts the target over at initial, as for a new registration.
func (g *group) restartCheckLocked(t *target, reset bool) {
	if t.stopCheck != nil {
		t.stopCheck()
		t.stopCheck = nil
	}
	t.checkGen++
	hc := g.cfg.Health
	switch {
	case t.addr == "":
		t.setState(StateUnhealthy, ReasonInvalidState, "")
		return
	case !g.used:
		t.setState(StateUnused, ReasonNotInUse, "")
		t.okStreak, t.failStreak = 0, 0
		return
	case !hc.Enabled:
		t.setState(StateUnavailable, ReasonHealthCheckDisabled, "")
		return
	}
	if reset || t.state == StateUnused || t.state == StateUnavailable {
		t.setState(StateInitial, ReasonRegistrationInProgress, "")
		t.okStreak, t.failStreak = 0, 0
	}
	ctx, cancel := context.WithCancel(g.p.ctx)
	t.stopCheck = cancel
	gen := t.checkGen
	g.p.wg.Add(1)
	go func() {
		defer g.p.wg.Done()
		g.p.checkLoop(ctx, g, t, normalizeHealth(hc), gen)
	}()
}

func (t *target) setState(state, reason, desc string) {
	t.state, t.reason, t.desc = state, reason, desc
}

// record applies one health check result to the target's state machine.
func (g *group) record(t *target, gen int, ok bool, reason, desc string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen != t.checkGen || t.draining.Load() {
		return // a stopped checker's last result
	}
	hc := normalizeHealth(g.cfg.Health)
	before := t.state
	if ok {
		t.failStreak = 0
		t.okStreak++
		switch t.state {
		case StateInitial:
			// ELB's documented rule: a newly registered target is in
			// service once it passes one health check; HealthyThreshold
			// governs only the way back from unhealthy.
			t.setState(StateHealthy, "", "")
		case StateUnhealthy:
			if t.okStreak >= hc.HealthyThreshold {
				t.setState(StateHealthy, "", "")
			}
		}
	} else {
		t.okStreak = 0
		t.failStreak++
		switch t.state {
		case StateHealthy, StateInitial:
			if t.failStreak >= hc.UnhealthyThreshold {
				t.setState(StateUnhealthy, reason, desc)
			} else if t.state == StateInitial {
				t.setState(StateInitial, ReasonInitialHealthChecking, "")
			}
		case StateUnhealthy:
			t.setState(StateUnhealthy, reason, desc)
		}
	}
	if t.routable.Load() != isRoutable(t.state) {
		g.rebuildLocked()
	}
	if t.state != before && g.p.onHealth != nil {
		go g.p.onHealth(g.arn)
	}
}

func isRoutable(state string) bool { return state == StateHealthy || state == StateUnavailable }

// rebuildLocked publishes a new routing snapshot.
func (g *group) rebuildLocked() {
	s := &targetSet{byCookie: make(map[string]*target, len(g.order)), sticky: g.cfg.StickinessDuration}
	for _, t := range g.order {
		r := isRoutable(t.state)
		t.routable.Store(r)
		if t.addr == "" {
			continue
		}
		s.all = append(s.all, t)
		s.byCookie[t.cookie] = t
		if r {
			s.healthy = append(s.healthy, t)
		}
	}
	g.set.Store(s)
}

func (g *group) health() []TargetHealth {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]TargetHealth, 0, len(g.order)+len(g.draining))
	add := func(t *target) {
		th := TargetHealth{ID: t.id, Port: t.port, State: t.state, Reason: t.reason, Description: t.desc}
		if th.Description == "" {
			th.Description = reasonText[t.reason]
		}
		out = append(out, th)
	}
	for _, t := range g.order {
		add(t)
	}
	for _, t := range g.draining {
		add(t)
	}
	return out
}

// startDrain takes a deregistered target out of routing. It finishes when
// its last request or flow ends, as ELB completes deregistration early for
// a target with nothing in flight, or when the deregistration delay passes,
// whichever is first; at that point remaining flows are closed.
func (t *target) startDrain() {
	g := t.g
	g.mu.Lock()
	if t.draining.Load() {
		g.mu.Unlock()
		return
	}
	if t.stopCheck != nil {
		t.stopCheck()
		t.stopCheck = nil
	}
	t.checkGen++
	t.setState(StateDraining, ReasonDeregistrationInProgress, "")
	t.routable.Store(false)
	t.draining.Store(true)
	g.draining = append(g.draining, t)
	delay := g.p.scaled(g.cfg.DeregistrationDelay)
	g.mu.Unlock()

	t.drainTimerSet(delay)
	if t.inflight.Load() == 0 {
		t.finishDrain(false)
	}
}

func (t *target) drainTimerSet(delay time.Duration) {
	timer := time.AfterFunc(delay, func() { t.finishDrain(true) })
	t.g.mu.Lock()
	t.drainTimer = timer
	t.g.mu.Unlock()
}

// done is called when a request or flow on t ends.
func (t *target) done() {
	if t.inflight.Add(-1) == 0 && t.draining.Load() {
		t.finishDrain(false)
	}
}

func (t *target) finishDrain(timedOut bool) {
	if !t.dropped.CompareAndSwap(false, true) {
		return
	}
	g := t.g
	g.mu.Lock()
	for i, d := range g.draining {
		if d == t {
			g.draining = append(g.draining[:i:i], g.draining[i+1:]...)
			break
		}
	}
	if t.drainTimer != nil {
		t.drainTimer.Stop()
	}
	g.mu.Unlock()
	t.pool.closeAll()
	if timedOut {
		t.flowMu.Lock()
		for c := range t.flows {
			c.Close()
		}
		t.flowMu.Unlock()
	}
}

// remove drains every target of a group that left the configuration.
func (g *group) remove() {
	g.mu.Lock()
	ts := g.order
	g.order = nil
	g.targets = map[string]*target{}
	g.rebuildLocked()
	g.mu.Unlock()
	for _, t := range ts {
		t.startDrain()
	}
}

func (g *group) closeIdle() {
	g.mu.Lock()
	ts := append(append([]*target(nil), g.order...), g.draining...)
	g.mu.Unlock()
	for _, t := range ts {
		t.pool.closeAll()
	}
}

func (t *target) addFlow(c net.Conn) {
	t.flowMu.Lock()
	if t.flows == nil {
		t.flows = map[net.Conn]struct{}{}
	}
	t.flows[c] = struct{}{}
	t.flowMu.Unlock()
}

func (t *target) removeFlow(c net.Conn) {
	t.flowMu.Lock()
	delete(t.flows, c)
	t.flowMu.Unlock()
}

// pick chooses a target of the group: the sticky one when the cookie names
// a usable target, else round robin or least outstanding requests over the
// healthy targets (over all of them when failOpen).
func (s *targetSet) pick(g *group, failOpen bool, cookie []byte) *target {
	list := s.healthy
	if failOpen {
		list = s.all
	}
	if len(cookie) > 0 {
		if t := s.byCookie[string(cookie)]; t != nil && (failOpen || t.routable.Load()) {
			return t
		}
	}
	n := len(list)
	switch {
	case n == 0:
		return nil
	case n == 1:
		return list[0]
	}
	start := int(g.rr.Add(1) % uint64(n))
	if !g.lor.Load() {
		return list[start]
	}
	best := list[start]
	bestN := best.inflight.Load()
	for i := 1; i < n && bestN > 0; i++ {
		t := list[(start+i)%n]
		if v := t.inflight.Load(); v < bestN {
			best, bestN = t, v
		}
	}
	return best
}
