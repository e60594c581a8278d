package proxy

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
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
	srv     *http.Server // HTTP listeners
	stop    sync.Once
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
	contentType []string
	length      []string
	body        []byte
}

func newListener(p *Proxy, lc Listener, ln net.Listener) *listener {
	l := &listener{p: p, proto: lc.Protocol, reqPort: lc.Port, ln: ln}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.portStr = strconv.Itoa(a.Port)
	}
	if lc.Protocol == "HTTP" {
		l.srv = &http.Server{
			Handler:           l,
			ReadHeaderTimeout: p.idleTimeout,
			IdleTimeout:       p.idleTimeout,
			ConnState:         l.connState,
			ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		}
	}
	return l
}

func (l *listener) start() {
	l.p.wg.Add(1)
	go func() {
		defer l.p.wg.Done()
		if l.srv != nil {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				l.p.log.Error("listener stopped", "addr", l.ln.Addr().String(), "err", err)
			}
			return
		}
		l.serveTCP()
	}()
}

// shutdown stops accepting and lets in-flight requests finish (bounded by
// listenerDrainLimit or the proxy closing). TCP flows end on their own.
func (l *listener) shutdown() {
	l.stop.Do(func() {
		if l.srv == nil {
			l.ln.Close()
			return
		}
		l.p.wg.Add(1)
		go func() {
			defer l.p.wg.Done()
			ctx, cancel := context.WithTimeout(l.p.ctx, listenerDrainLimit)
			defer cancel()
			if err := l.srv.Shutdown(ctx); err != nil {
				l.srv.Close()
			}
		}()
	})
}

// close stops the listener at once, with its client connections.
func (l *listener) close() {
	l.stop.Do(func() {})
	if l.srv != nil {
		l.srv.Close()
	}
	l.ln.Close()
}

func (l *listener) connState(_ net.Conn, s http.ConnState) {
	c := l.cfg.Load()
	if c == nil {
		return
	}
	switch s {
	case http.StateNew:
		c.stats.newConns.Add(1)
		c.stats.active.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.stats.active.Add(-1)
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
			if a.Fixed.ContentType != "" {
				fx.contentType = []string{a.Fixed.ContentType}
			}
			fx.length = []string{strconv.Itoa(len(fx.body))}
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

// ServeHTTP routes one request by the listener's current rules.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := l.cfg.Load()
	c.stats.requests.Add(1)
	for _, ru := range c.rules {
		if !ru.matches(r) {
			continue
		}
		switch {
		case ru.fwd != nil:
			l.forward(w, r, c, ru.fwd)
		case ru.fixed != nil:
			c.stats.direct.Add(1)
			h := w.Header()
			if ru.fixed.contentType != nil {
				h["Content-Type"] = ru.fixed.contentType
			}
			h["Content-Length"] = ru.fixed.length
			c.stats.countELB(ru.fixed.code)
			w.WriteHeader(ru.fixed.code)
			w.Write(ru.fixed.body)
		default:
			c.stats.direct.Add(1)
			code := ru.redirect.StatusCode
			if code == 0 {
				code = http.StatusFound
			}
			c.stats.countELB(code)
			w.Header().Set("Location", redirectURL(ru.redirect, r, l.portStr))
			w.WriteHeader(code)
		}
		return
	}
	// The control plane always ends with a default rule; without one ELB
	// has nothing to do but refuse.
	c.stats.direct.Add(1)
	l.elbError(w, c, http.StatusServiceUnavailable)
}

func (ru *rule) matches(r *http.Request) bool {
	for i := range ru.conds {
		if !ru.conds[i].match(r) {
			return false
		}
	}
	return true
}

// redirectURL fills ELB's redirect template: each component defaults to the
// request's, and may use #{protocol}, #{host}, #{port}, #{path}, #{query}.
func redirectURL(rd *Redirect, r *http.Request, port string) string {
	orig := map[string]string{
		"protocol": "http",
		"host":     stripPort(r.Host),
		"port":     port,
		"path":     r.URL.Path,
		"query":    r.URL.RawQuery,
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
	path := sub(rd.Path, "#{path}")
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
	return b.String()
}

var elbErrorBodies = func() map[int][]byte {
	m := map[int][]byte{}
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		t := strconv.Itoa(code) + " " + http.StatusText(code)
		m[code] = []byte("<html>\r\n<head><title>" + t + "</title></head>\r\n<body>\r\n<center><h1>" + t + "</h1></center>\r\n</body>\r\n</html>\r\n")
	}
	return m
}()

// elbError answers with an error page of the load balancer's own.
func (l *listener) elbError(w http.ResponseWriter, c *listenerConfig, code int) {
	c.stats.countELB(code)
	body := elbErrorBodies[code]
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body)
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
func (f *forwardAction) pick(cookie string) (*fwdGroup, bool) {
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
	if cookie != "" {
		for i := range f.groups {
			fg := &f.groups[i]
			if fg.cookie == cookie && fg.weight > 0 && len(fg.g.set.Load().healthy) > 0 {
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
