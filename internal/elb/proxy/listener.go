package proxy

import (
	"hash/fnv"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listener is one bound port. Its routing table is swapped atomically by
// Apply; the socket and the client connections stay.
type listener struct {
	p       *Proxy
	proto   string
	reqPort int // the configured port (0 = ephemeral)
	ln      net.Listener
	portStr string // the bound port, for X-Forwarded-Port
	cfg     atomic.Pointer[listenerConfig]
	stop    sync.Once

	// HTTP listeners' client connections; conns is nil once closing.
	connMu   sync.Mutex
	conns    map[*httpConn]struct{}
	connWG   sync.WaitGroup
	draining atomic.Bool
}

// listenerConfig is the compiled, immutable routing of a listener.
type listenerConfig struct {
	stats *lbStats
	rules []*rule
}

type rule struct {
	conds    []cond
	fwd      *forwardAction
	fixed    *fixedAction
	redirect *Redirect
}

type fixedAction struct {
	code        int
	contentType string
	body        []byte
}

func newListener(p *Proxy, lc Listener, ln net.Listener) *listener {
	l := &listener{p: p, proto: lc.Protocol, reqPort: lc.Port, ln: ln, conns: map[*httpConn]struct{}{}}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.portStr = strconv.Itoa(a.Port)
	}
	return l
}

func (l *listener) start() {
	if l.proto == "HTTP" {
		l.p.startRings()
	}
	l.p.wg.Add(1)
	go func() {
		defer l.p.wg.Done()
		if l.proto == "HTTP" {
			l.serveHTTP()
			return
		}
		l.serveTCP()
	}()
}

// shutdown stops accepting and lets in-flight requests finish (bounded by
// listenerDrainLimit or the proxy closing); idle keep-alive connections
// close at once, busy ones after their current response. TCP flows end on
// their own.
func (l *listener) shutdown() {
	l.stop.Do(func() {
		l.ln.Close()
		if l.proto != "HTTP" {
			return
		}
		l.draining.Store(true)
		l.forEachConn((*httpConn).wakeIdle)
		l.p.wg.Add(1)
		go func() {
			defer l.p.wg.Done()
			done := make(chan struct{})
			go func() {
				l.connWG.Wait()
				close(done)
			}()
			t := time.NewTimer(listenerDrainLimit)
			defer t.Stop()
			select {
			case <-done:
				return
			case <-t.C:
			case <-l.p.ctx.Done():
			}
			l.closeConns()
			<-done
		}()
	})
}

// close stops the listener at once, with its client connections.
func (l *listener) close() {
	l.stop.Do(func() {})
	l.ln.Close()
	l.draining.Store(true)
	l.closeConns()
}

func (l *listener) closeConns() {
	l.connMu.Lock()
	cs := l.conns
	l.conns = nil
	l.connMu.Unlock()
	for c := range cs {
		c.kill()
	}
}

func (p *Proxy) compile(lc *Listener, groups map[string]*group, names map[string]string) *listenerConfig {
	network := lc.Protocol == "TCP"
	c := &listenerConfig{stats: p.metrics.lb(lc.LoadBalancer, network)}
	for _, r := range lc.Rules {
		cr := &rule{}
		for _, cd := range r.Conditions {
			cr.conds = append(cr.conds, compileCond(cd))
		}
		a := r.Action
		switch {
		case a.Forward != nil:
			f := &forwardAction{sticky: a.Forward.StickinessDuration, cur: make([]int, len(a.Forward.Groups))}
			for _, wg := range a.Forward.Groups {
				f.groups = append(f.groups, fwdGroup{
					g:      groups[wg.TargetGroupARN],
					weight: wg.Weight,
					stats:  p.metrics.tg(lc.LoadBalancer, names[wg.TargetGroupARN], network),
					cookie: cookieValue(wg.TargetGroupARN),
				})
			}
			cr.fwd = f
		case a.Fixed != nil:
			fx := &fixedAction{code: a.Fixed.StatusCode, body: []byte(a.Fixed.Body)}
			if fx.code == 0 {
				fx.code = http.StatusOK
			}
			fx.contentType = a.Fixed.ContentType
			cr.fixed = fx
		case a.Redirect != nil:
			rd := *a.Redirect
			cr.redirect = &rd
		}
		c.rules = append(c.rules, cr)
	}
	return c
}

// cookieValue is the opaque value of a stickiness cookie naming key.
func cookieValue(key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return strconv.FormatUint(h.Sum64(), 36)
}

// handle routes one request by the listener's current rules and answers
// it. It returns whether the client connection stays open.
func (l *listener) handle(c *httpConn) bool {
	cfg, ru := l.route(c)
	if ru != nil && ru.fwd != nil {
		return l.forward(c, cfg, ru.fwd)
	}
	return l.answer(c, cfg, ru)
}

// route counts the request and finds the first rule it matches; nil when
// none does.
func (l *listener) route(c *httpConn) (*listenerConfig, *rule) {
	cfg := l.cfg.Load()
	cfg.stats.requests.Add(1)
	for _, ru := range cfg.rules {
		if ru.matches(&c.req, c.remote) {
			return cfg, ru
		}
	}
	return cfg, nil
}

// answer answers a request the load balancer does not forward: by a fixed
// response or redirect rule, or with 503 when no rule matched.
func (l *listener) answer(c *httpConn, cfg *listenerConfig, ru *rule) bool {
	cfg.stats.direct.Add(1)
	switch {
	case ru == nil:
		// The control plane always ends with a default rule; without one ELB
		// has nothing to do but refuse.
		return c.writeELBError(cfg, http.StatusServiceUnavailable, false)
	case ru.fixed != nil:
		cfg.stats.countELB(ru.fixed.code)
		return c.writeDirect(ru.fixed.code, ru.fixed.contentType, ru.fixed.body, "", false)
	}
	code := ru.redirect.StatusCode
	if code == 0 {
		code = http.StatusFound
	}
	cfg.stats.countELB(code)
	loc, err := redirectURL(ru.redirect, &c.req, l.portStr)
	if err != nil {
		return c.writeELBError(cfg, http.StatusBadRequest, true)
	}
	return c.writeDirect(code, "", nil, loc, false)
}

func (ru *rule) matches(r *request, remote netip.AddrPort) bool {
	for i := range ru.conds {
		if !ru.conds[i].match(r, remote) {
			return false
		}
	}
	return true
}

// redirectURL fills ELB's redirect template: each component defaults to the
// request's, and may use #{protocol}, #{host}, #{port}, #{path}, #{query}.
func redirectURL(rd *Redirect, r *request, port string) (string, error) {
	path, err := r.decodedPath()
	if err != nil {
		return "", err
	}
	orig := map[string]string{
		"protocol": "http",
		"host":     string(stripPort(r.host)),
		"port":     port,
		"path":     path,
		"query":    string(r.query),
	}
	sub := func(tmpl, def string) string {
		if tmpl == "" {
			tmpl = def
		}
		for k, v := range orig {
			tmpl = strings.ReplaceAll(tmpl, "#{"+k+"}", v)
		}
		return tmpl
	}
	proto := strings.ToLower(sub(rd.Protocol, "#{protocol}"))
	host := sub(rd.Host, "#{host}")
	p := sub(rd.Port, "#{port}")
	path = sub(rd.Path, "#{path}")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	q := sub(rd.Query, "#{query}")
	var b strings.Builder
	b.WriteString(proto)
	b.WriteString("://")
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	b.WriteString(host)
	if !(proto == "http" && p == "80") && !(proto == "https" && p == "443") && p != "" {
		b.WriteString(":")
		b.WriteString(p)
	}
	b.WriteString(path)
	if q != "" {
		b.WriteString("?")
		b.WriteString(q)
	}
	return b.String(), nil
}

var elbErrorBodies = func() map[int][]byte {
	m := map[int][]byte{}
	for _, code := range []int{400, 417, 500, 501, 502, 503, 504} {
		t := strconv.Itoa(code) + " " + http.StatusText(code)
		m[code] = []byte("<html>\r\n<head><title>" + t + "</title></head>\r\n<body>\r\n<center><h1>" + t + "</h1></center>\r\n</body>\r\n</html>\r\n")
	}
	return m
}()

func elbErrorBody(code int) []byte {
	if b, ok := elbErrorBodies[code]; ok {
		return b
	}
	return elbErrorBodies[500]
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status " + strconv.Itoa(code)
}

// forwardAction is a compiled forward: a weighted choice of groups made by
// smooth weighted round robin, which is deterministic (the split over any
// window of N requests is within one request per group of the weights),
// so weight changes show up exactly and tests need no statistics.
type forwardAction struct {
	groups []fwdGroup
	sticky time.Duration

	mu  sync.Mutex
	cur []int
}

type fwdGroup struct {
	g      *group
	weight int
	stats  *tgStats
	cookie string // AWSALBTG value
}

// pick chooses a group. Groups with weight 0 get nothing; groups without a
// healthy target are skipped while another group has one; when none has,
// the choice is among all weighted groups with registered targets and
// failOpen tells the caller to use unhealthy targets too (ELB fails open).
// A forward to a single group uses it whatever its weight, as a plain
// forward action has no weight.
func (f *forwardAction) pick(cookie []byte) (*fwdGroup, bool) {
	if len(f.groups) == 1 {
		fg := &f.groups[0]
		s := fg.g.set.Load()
		if len(s.healthy) > 0 {
			return fg, false
		}
		if len(s.all) > 0 {
			return fg, true
		}
		return nil, false
	}
	if len(cookie) > 0 {
		for i := range f.groups {
			fg := &f.groups[i]
			if fg.cookie == string(cookie) && fg.weight > 0 && len(fg.g.set.Load().healthy) > 0 {
				return fg, false
			}
		}
	}
	var buf [8]bool
	eligible := buf[:0]
	if len(f.groups) > len(buf) {
		eligible = make([]bool, 0, len(f.groups))
	}
	any := false
	for i := range f.groups {
		ok := f.groups[i].weight > 0 && len(f.groups[i].g.set.Load().healthy) > 0
		any = any || ok
		eligible = append(eligible, ok)
	}
	failOpen := false
	if !any {
		failOpen = true
		for i := range f.groups {
			ok := f.groups[i].weight > 0 && len(f.groups[i].g.set.Load().all) > 0
			any = any || ok
			eligible[i] = ok
		}
		if !any {
			return nil, false
		}
	}
	f.mu.Lock()
	best, total := -1, 0
	for i := range f.groups {
		if !eligible[i] {
			continue
		}
		w := f.groups[i].weight
		f.cur[i] += w
		total += w
		if best < 0 || f.cur[i] > f.cur[best] {
			best = i
		}
	}
	f.cur[best] -= total
	f.mu.Unlock()
	return &f.groups[best], failOpen
}
