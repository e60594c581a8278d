package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrPortInUse is wrapped by Apply's error when a listener's port is taken.
var ErrPortInUse = errors.New("port already in use")

// Defaults that ELBv2 documents; Options can override the timeouts so that
// tests do not wait a minute for a 504.
const (
	// DefaultTargetTimeout is ALB's default idle timeout: a target that sends
	// nothing for this long gets the client a 504.
	DefaultTargetTimeout = 60 * time.Second
	// DefaultConnectTimeout is how long ELB waits for a target's TCP
	// handshake before answering 504.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultClientIdleTimeout closes idle client keep-alive connections,
	// as ALB does after its idle timeout.
	DefaultClientIdleTimeout = 60 * time.Second
	// listenerDrainLimit bounds how long a removed listener waits for its
	// in-flight requests before its connections are closed.
	listenerDrainLimit = 5 * time.Minute
)

// Options configure a Proxy. Only BindAddr is usually set.
type Options struct {
	// BindAddr is the address listeners bind on ("" means all interfaces).
	BindAddr string
	Log      *slog.Logger
	// Now is the clock for timestamps (metrics samples, cookie expiry);
	// time.Now when nil.
	Now func() time.Time
	// TargetTimeout, ConnectTimeout and ClientIdleTimeout default to the
	// ELB values above when zero.
	TargetTimeout     time.Duration
	ConnectTimeout    time.Duration
	ClientIdleTimeout time.Duration
	// TimeScale divides the target groups' configured waits — health
	// check intervals and deregistration delays — as `cutover server
	// --time-scale` does every wait; 0 or 1 is real time. Network timeouts
	// stay real: they bound what a peer may take, not what cutover waits.
	TimeScale float64
	// NoIOUring serves every HTTP client connection with a goroutine even
	// where io_uring is available (see ring.go).
	NoIOUring bool
	// OnHealthChange, when set, is called (on its own goroutine) after a
	// target of the group changed health state, so that whoever waits for
	// targets to become healthy need not poll.
	OnHealthChange func(targetGroupARN string)
}

// scaled is a configured wait on the proxy's time scale.
func (p *Proxy) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / p.timeScale)
}

// Proxy is the load balancer's data plane. Its methods are safe for
// concurrent use.
type Proxy struct {
	log            *slog.Logger
	now            func() time.Time
	bindAddr       string
	targetTimeout  time.Duration
	connectTimeout time.Duration
	idleTimeout    time.Duration
	timeScale      float64
	onHealth       func(targetGroupARN string)
	dialer         net.Dialer
	hcClient       *http.Client
	metrics        *Metrics

	// ctx ends when the proxy closes: health checkers and listener drains
	// watch it, and wg waits for them so Close leaves no goroutine behind.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // serialises Apply and Close
	closed    bool
	listeners map[string]*listener // by listener ARN
	groups    map[string]*group    // by target group ARN

	flowMu sync.Mutex
	flows  map[net.Conn]struct{} // proxied TCP flows and upgraded HTTP connections, closed by Close

	noRing   bool
	ringOnce sync.Once
	rings    *ringSet // nil when HTTP connections are all served by goroutines
}

// New returns a proxy with no listeners; Apply gives it a configuration.
func New(opts Options) *Proxy {
	p := &Proxy{
		log:            opts.Log,
		now:            opts.Now,
		bindAddr:       opts.BindAddr,
		targetTimeout:  opts.TargetTimeout,
		connectTimeout: opts.ConnectTimeout,
		idleTimeout:    opts.ClientIdleTimeout,
		timeScale:      opts.TimeScale,
		onHealth:       opts.OnHealthChange,
		noRing:         opts.NoIOUring,
		listeners:      map[string]*listener{},
		groups:         map[string]*group{},
		flows:          map[net.Conn]struct{}{},
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.timeScale <= 1 {
		p.timeScale = 1
	}
	if p.targetTimeout <= 0 {
		p.targetTimeout = DefaultTargetTimeout
	}
	if p.connectTimeout <= 0 {
		p.connectTimeout = DefaultConnectTimeout
	}
	if p.idleTimeout <= 0 {
		p.idleTimeout = DefaultClientIdleTimeout
	}
	p.dialer = net.Dialer{Timeout: p.connectTimeout, KeepAlive: 30 * time.Second}
	p.hcClient = &http.Client{
		Transport: &http.Transport{
			// A health check opens its own connection each time, like ELB's,
			// so a target that stops accepting connections is noticed.
			DisableKeepAlives:  true,
			DisableCompression: true,
			DialContext:        p.dialer.DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.metrics = newMetrics(p)
	return p
}

// startRings starts the ring loops for the first HTTP listener, unless
// they are turned off or io_uring cannot be used here.
func (p *Proxy) startRings() {
	p.ringOnce.Do(func() {
		if p.noRing {
			return
		}
		// One P is left to the rest of the process. When every P's thread
		// waits in a system call, the runtime takes a P from one of them
		// at each wait and its monitor thread polls every 20 µs; with a P
		// idle it does neither. And on two cores one loop, which gathers
		// every connection's events into one wait, served more requests
		// than two (docs/benchmarks.md).
		rs, err := startRings(p, max(1, runtime.GOMAXPROCS(0)-1))
		if err != nil {
			p.log.Info("HTTP listeners serve each connection with a goroutine", "reason", err)
			return
		}
		p.rings = rs
	})
}

// Metrics returns the proxy's metrics; the same value for the proxy's life.
func (p *Proxy) Metrics() *Metrics { return p.metrics }

// Addr returns the bound address of a listener, or nil if it is not bound.
func (p *Proxy) Addr(listenerARN string) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.listeners[listenerARN]; l != nil {
		return l.ln.Addr()
	}
	return nil
}

// TargetHealth reports each registered and draining target of a group, in
// registration order, draining ones last. It returns nil for an unknown group.
func (p *Proxy) TargetHealth(targetGroupARN string) []TargetHealth {
	p.mu.Lock()
	g := p.groups[targetGroupARN]
	p.mu.Unlock()
	if g == nil {
		return nil
	}
	return g.health()
}

// Apply converges the data plane on cfg. See the package documentation of
// the contract in config.go; the order below is what keeps it atomic:
//  1. bind every new listener port; on failure close what was just opened;
//  2. create or update target groups (new targets, health settings);
//  3. swap each listener's routing table;
//  4. close removed listeners gracefully;
//  5. drain removed targets and groups.
func (p *Proxy) Apply(cfg *Config) error {
	if cfg == nil {
		cfg = &Config{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: apply on closed proxy")
	}
	if err := validate(cfg); err != nil {
		return err
	}

	// 1. Bind. A listener keeps its socket when its ARN, port and protocol
	// are unchanged; a port that a removed listener frees in this same
	// config is handed over rather than rebound, since binding it anew
	// while the old socket is open would fail.
	next := make(map[string]*listener, len(cfg.Listeners))
	free := map[int]*listener{}
	for arn, l := range p.listeners {
		if !wantsListener(cfg, arn, l) && l.reqPort != 0 {
			free[l.reqPort] = l
		}
	}
	var opened []*listener
	for _, lc := range cfg.Listeners {
		if l := p.listeners[lc.ARN]; l != nil && sameSocket(l, lc) {
			next[lc.ARN] = l
			continue
		}
		if l := free[lc.Port]; l != nil && lc.Port != 0 && l.proto == lc.Protocol {
			delete(free, lc.Port)
			next[lc.ARN] = l
			continue
		}
		l, err := p.bind(lc)
		if err != nil {
			for _, o := range opened {
				o.ln.Close()
			}
			return err
		}
		opened = append(opened, l)
		next[lc.ARN] = l
	}

	// 2. Target groups.
	used := map[string]bool{}
	for _, lc := range cfg.Listeners {
		for _, r := range lc.Rules {
			if f := r.Action.Forward; f != nil {
				for _, wg := range f.Groups {
					used[wg.TargetGroupARN] = true
				}
			}
		}
	}
	groups := make(map[string]*group, len(cfg.TargetGroups))
	var removedTargets []*target
	for i := range cfg.TargetGroups {
		tgc := &cfg.TargetGroups[i]
		g := p.groups[tgc.ARN]
		if g == nil {
			g = newGroup(p, tgc.ARN)
		}
		removedTargets = append(removedTargets, g.update(tgc, used[tgc.ARN])...)
		groups[tgc.ARN] = g
	}
	var removedGroups []*group
	for arn, g := range p.groups {
		if groups[arn] == nil {
			removedGroups = append(removedGroups, g)
		}
	}

	// 3. Routing.
	names := make(map[string]string, len(cfg.TargetGroups))
	for _, tg := range cfg.TargetGroups {
		names[tg.ARN] = tg.Name
	}
	compiled := make(map[*listener]*listenerConfig, len(next))
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		compiled[next[lc.ARN]] = p.compile(lc, groups, names)
	}
	for l, c := range compiled {
		l.cfg.Store(c)
	}
	for _, l := range opened {
		l.start()
	}
	p.metrics.setPairs(cfg, groups)

	// 4. Removed listeners: any listener object not carried into next.
	kept := make(map[*listener]bool, len(next))
	for _, l := range next {
		kept[l] = true
	}
	for _, l := range p.listeners {
		if !kept[l] {
			l.shutdown()
		}
	}
	p.listeners = next
	p.groups = groups

	// 5. Draining.
	for _, t := range removedTargets {
		t.startDrain()
	}
	for _, g := range removedGroups {
		g.remove()
	}
	return nil
}

func wantsListener(cfg *Config, arn string, l *listener) bool {
	for _, lc := range cfg.Listeners {
		if lc.ARN == arn && sameSocket(l, lc) {
			return true
		}
	}
	return false
}

func sameSocket(l *listener, lc Listener) bool {
	return l.proto == lc.Protocol && l.reqPort == lc.Port
}

func (p *Proxy) bind(lc Listener) (*listener, error) {
	addr := net.JoinHostPort(p.bindAddr, strconv.Itoa(lc.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listener %s: port %d: %w", lc.ARN, lc.Port, ErrPortInUse)
		}
		return nil, fmt.Errorf("listener %s: port %d: %w", lc.ARN, lc.Port, err)
	}
	return newListener(p, lc, ln), nil
}

func validate(cfg *Config) error {
	tgs := make(map[string]bool, len(cfg.TargetGroups))
	for _, tg := range cfg.TargetGroups {
		if tg.ARN == "" {
			return errors.New("proxy: target group without ARN")
		}
		if tgs[tg.ARN] {
			return fmt.Errorf("proxy: duplicate target group %s", tg.ARN)
		}
		tgs[tg.ARN] = true
	}
	arns := map[string]bool{}
	ports := map[int]string{}
	for _, l := range cfg.Listeners {
		if arns[l.ARN] {
			return fmt.Errorf("proxy: duplicate listener %s", l.ARN)
		}
		arns[l.ARN] = true
		if l.Protocol != "HTTP" && l.Protocol != "TCP" {
			return fmt.Errorf("proxy: listener %s: unsupported protocol %q", l.ARN, l.Protocol)
		}
		if l.Port < 0 || l.Port > 65535 {
			return fmt.Errorf("proxy: listener %s: invalid port %d", l.ARN, l.Port)
		}
		if l.Port != 0 {
			if other, ok := ports[l.Port]; ok {
				return fmt.Errorf("proxy: listeners %s and %s: port %d: %w", other, l.ARN, l.Port, ErrPortInUse)
			}
			ports[l.Port] = l.ARN
		}
		if l.Protocol == "TCP" && (len(l.Rules) != 1 || l.Rules[0].Action.Forward == nil) {
			return fmt.Errorf("proxy: TCP listener %s needs exactly one forward rule", l.ARN)
		}
		for _, r := range l.Rules {
			a := r.Action
			n := 0
			for _, set := range []bool{a.Forward != nil, a.Fixed != nil, a.Redirect != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("proxy: listener %s rule %s: exactly one action required", l.ARN, r.ARN)
			}
			if a.Forward != nil {
				for _, wg := range a.Forward.Groups {
					if !tgs[wg.TargetGroupARN] {
						return fmt.Errorf("proxy: listener %s rule %s: unknown target group %s", l.ARN, r.ARN, wg.TargetGroupARN)
					}
					if wg.Weight < 0 || wg.Weight > 999 {
						return fmt.Errorf("proxy: listener %s rule %s: weight %d out of 0..999", l.ARN, r.ARN, wg.Weight)
					}
				}
			}
			for _, c := range r.Conditions {
				if c.Field == "source-ip" {
					for _, v := range c.Values {
						if _, err := parsePrefix(v); err != nil {
							return fmt.Errorf("proxy: listener %s rule %s: %w", l.ARN, r.ARN, err)
						}
					}
				}
			}
		}
	}
	return nil
}

// Close stops every listener, health check and proxied connection, and
// waits for the proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := p.listeners
	gs := p.groups
	p.listeners = map[string]*listener{}
	p.groups = map[string]*group{}
	p.mu.Unlock()

	p.cancel()
	for _, l := range ls {
		l.close()
	}
	p.flowMu.Lock()
	for c := range p.flows {
		c.Close()
	}
	p.flows = nil // later flows are refused by trackFlow
	p.flowMu.Unlock()
	for _, g := range gs {
		g.remove()
	}
	p.wg.Wait()
	p.rings.stop()
	for _, g := range gs {
		g.closeIdle()
	}
	return nil
}

func (p *Proxy) trackFlow(c net.Conn) bool {
	p.flowMu.Lock()
	defer p.flowMu.Unlock()
	if p.flows == nil {
		return false
	}
	p.flows[c] = struct{}{}
	return true
}

func (p *Proxy) untrackFlow(c net.Conn) {
	p.flowMu.Lock()
	delete(p.flows, c)
	p.flowMu.Unlock()
}
