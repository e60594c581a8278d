package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real HTTP server on 127.0.0.1 answering with its name.
func backend(t *testing.T, name string, h http.HandlerFunc) (host string, port int) {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := srv.Listener.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

func fastHealth() HealthCheck {
	return HealthCheck{Enabled: true, Protocol: "HTTP", Path: "/", Port: "traffic-port", Matcher: "200",
		Interval: 50 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
}

func group1(arn string, host string, port int) TargetGroup {
	return TargetGroup{ARN: arn, Name: "targetgroup/" + arn + "/1", Protocol: "HTTP", Port: port,
		Targets: []Target{{ID: host, Host: host, Port: port}}, Health: fastHealth(), DeregistrationDelay: 5 * time.Second}
}

func httpListener(arn string, groups ...WeightedGroup) Listener {
	return Listener{ARN: arn, LoadBalancer: "app/test/1", Port: 0, Protocol: "HTTP",
		Rules: []Rule{{ARN: arn + "/default", Action: Action{Forward: &Forward{Groups: groups}}}}}
}

// testNoIOUring makes newProxy turn the ring loops off.
var testNoIOUring bool

func newProxy(t *testing.T, opts Options) *Proxy {
	t.Helper()
	if opts.BindAddr == "" {
		opts.BindAddr = "127.0.0.1"
	}
	opts.NoIOUring = opts.NoIOUring || testNoIOUring
	p := New(opts)
	t.Cleanup(func() {
		if _, _, ok := p.ringCounts(); ok && opts.NoIOUring {
			t.Error("ring loops ran although NoIOUring was set")
		}
		p.Close()
	})
	return p
}

func mustApply(t *testing.T, p *Proxy, cfg *Config) {
	t.Helper()
	if err := p.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func waitState(t *testing.T, p *Proxy, tg, state string) []TargetHealth {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ths := p.TargetHealth(tg)
		ok := len(ths) > 0
		for _, th := range ths {
			ok = ok && th.State == state
		}
		if ok {
			return ths
		}
		if time.Now().After(deadline) {
			t.Fatalf("target group %s: want all %s, have %+v", tg, state, ths)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lbURL(p *Proxy, listener, path string) string {
	return "http://" + p.Addr(listener).String() + path
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestWeightShiftUnderLoad shifts weights between two groups while eight
// keep-alive clients send requests without pause, and checks that no
// request fails and each step's split matches its weights.
func TestWeightShiftUnderLoad(t *testing.T) {
	bh, bp := backend(t, "blue", nil)
	gh, gp := backend(t, "green", nil)
	p := newProxy(t, Options{})
	cfgFor := func(green int) *Config {
		return &Config{
			Listeners: []Listener{httpListener("l1",
				WeightedGroup{TargetGroupARN: "blue", Weight: 100 - green},
				WeightedGroup{TargetGroupARN: "green", Weight: green})},
			TargetGroups: []TargetGroup{group1("blue", bh, bp), group1("green", gh, gp)},
		}
	}
	mustApply(t, p, cfgFor(0))
	waitState(t, p, "blue", StateHealthy)
	waitState(t, p, "green", StateHealthy)
	u := lbURL(p, "l1", "/")

	// epoch is even while a config is settled and odd while Apply runs; a
	// response counts for a step only if its request started and ended in
	// the same even epoch, so it was certainly routed by that step's config.
	var epoch atomic.Int64
	type tally struct{ blue, green int }
	var mu sync.Mutex
	counts := map[int64]*tally{}
	var failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A lost request still fails (it never answers); the generous
			// timeout only keeps a slow one on a loaded -race run from
			// being counted as lost.
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e0 := epoch.Load()
				resp, err := c.Get(u)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("status %d body %q err %v", resp.StatusCode, b, err))
					continue
				}
				if e1 := epoch.Load(); e0 == e1 && e0%2 == 0 {
					mu.Lock()
					tl := counts[e0]
					if tl == nil {
						tl = &tally{}
						counts[e0] = tl
					}
					if string(b) == "green" {
						tl.green++
					} else {
						tl.blue++
					}
					mu.Unlock()
				}
			}
		}()
	}
	const perStep = 1500
	steps := []int{0, 10, 50, 100, 50, 10, 0}
	for i, green := range steps {
		if i > 0 {
			epoch.Add(1)
			mustApply(t, p, cfgFor(green))
			epoch.Add(1)
		}
		e := epoch.Load()
		// Bounded per step; under -race the rate is far lower, and the
		// deterministic scheduler keeps even a few hundred requests exact.
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			n := 0
			if tl := counts[e]; tl != nil {
				n = tl.blue + tl.green
			}
			mu.Unlock()
			if n >= perStep || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failed requests, first: %v", n, firstErr.Load())
	}
	for i, green := range steps {
		tl := counts[int64(2*i)]
		if tl == nil || tl.blue+tl.green < 500 {
			t.Fatalf("step %d (green %d%%): too few requests: %+v", i, green, tl)
		}
		got := 100 * float64(tl.green) / float64(tl.blue+tl.green)
		t.Logf("step %d: green weight %3d%%, observed %6.2f%% of %d", i, green, got, tl.blue+tl.green)
		if got < float64(green)-2 || got > float64(green)+2 {
			t.Errorf("step %d: green got %.2f%%, want %d%% ±2", i, got, green)
		}
	}
}

// TestDeregistrationDrains removes a target while a slow request is in
// flight on it; the request must complete, and the target is dropped after.
func TestDeregistrationDrains(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	// The release cleanup is registered after the backend's, so it runs
	// first (cleanups are last-in first-out) and a failing test does not
	// leave the server waiting for its blocked handler.
	started := make(chan struct{}, 1)
	sh, sp := backend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "slow")
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	fh, fp := backend(t, "fast", nil)
	p := newProxy(t, Options{})
	tg := group1("g", sh, sp)
	tg.Targets = append(tg.Targets, Target{ID: fh, Host: fh, Port: fp})
	tg.LoadBalancingAlgorithm = "least_outstanding_requests"
	cfg := &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tg}}
	mustApply(t, p, cfg)
	waitState(t, p, "g", StateHealthy)

	// Send /slow until it lands on the slow target (round robin puts it
	// there within two tries; the fast target answers /slow at once).
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		for {
			resp, err := http.Get(lbURL(p, "l", "/slow"))
			if err != nil {
				res <- result{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "fast" {
				res <- result{resp.StatusCode, string(b), nil}
				return
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never reached the slow target")
	}

	cfg.TargetGroups[0].Targets = tg.Targets[1:]
	mustApply(t, p, cfg)
	ths := p.TargetHealth("g")
	if len(ths) != 2 || ths[1].State != StateDraining || ths[1].Reason != ReasonDeregistrationInProgress {
		t.Fatalf("after deregistration: %+v", ths)
	}
	// New requests go to the remaining target only.
	for range 5 {
		if _, body, _ := get(t, http.DefaultClient, lbURL(p, "l", "/")); body != "fast" {
			t.Fatalf("request went to draining target: %q", body)
		}
	}
	releaseOnce.Do(func() { close(release) })
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "slow" {
		t.Fatalf("in-flight request: %+v", r)
	}
	// With nothing in flight the deregistration completes early, as in ELB.
	deadline := time.Now().Add(2 * time.Second)
	for len(p.TargetHealth("g")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("target not dropped after draining: %+v", p.TargetHealth("g"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestELBErrors(t *testing.T) {
	// A closed port: connect fails.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hang := make(chan struct{})
	defer close(hang)
	hh, hp := backend(t, "hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	noHC := HealthCheck{}
	tests := []struct {
		name string
		tg   TargetGroup
		want int
	}{
		{"no registered targets", TargetGroup{ARN: "g", Name: "targetgroup/g/1", Port: 80, Health: noHC}, 503},
		{"connect refused", TargetGroup{ARN: "g", Name: "targetgroup/g/1", Port: deadPort, Health: noHC,
			Targets: []Target{{ID: "dead", Host: "127.0.0.1"}}}, 502},
		{"target timeout", TargetGroup{ARN: "g", Name: "targetgroup/g/1", Port: hp, Health: noHC,
			Targets: []Target{{ID: "hang", Host: hh}}}, 504},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, Options{TargetTimeout: 200 * time.Millisecond})
			mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tc.tg}})
			code, _, _ := get(t, http.DefaultClient, lbURL(p, "l", "/"))
			if code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
			s := sampleValue(p.Metrics().Snapshot(), "HTTPCode_ELB_5XX_Count", "app/test/1", "")
			if s != 1 {
				t.Fatalf("HTTPCode_ELB_5XX_Count = %v, want 1", s)
			}
		})
	}
}

func sampleValue(ss []Sample, name, lb, tg string) float64 {
	for _, s := range ss {
		if s.MetricName == name && s.Dimensions["LoadBalancer"] == lb && s.Dimensions["TargetGroup"] == tg {
			return s.Value
		}
	}
	return -1
}

func TestRulesFixedRedirectAndHeaders(t *testing.T) {
	var seen atomic.Value
	ah, ap := backend(t, "api", func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Clone())
		io.WriteString(w, "api")
	})
	dh, dp := backend(t, "default", nil)
	p := newProxy(t, Options{})
	l := Listener{ARN: "l", LoadBalancer: "app/test/1", Protocol: "HTTP", Rules: []Rule{
		{ARN: "r1", Priority: 1, Conditions: []Condition{{Field: "path-pattern", Values: []string{"/api/*"}}},
			Action: Action{Forward: &Forward{Groups: []WeightedGroup{{"api", 1}}}}},
		{ARN: "r2", Priority: 2, Conditions: []Condition{{Field: "path-pattern", Values: []string{"/old/*"}}},
			Action: Action{Redirect: &Redirect{Path: "/new#{path}", StatusCode: 301}}},
		{ARN: "r3", Priority: 3, Conditions: []Condition{{Field: "host-header", Values: []string{"maint.*"}}},
			Action: Action{Fixed: &FixedResponse{StatusCode: 503, ContentType: "text/plain", Body: "down"}}},
		{ARN: "def", Action: Action{Forward: &Forward{Groups: []WeightedGroup{{"def", 1}}}}},
	}}
	mustApply(t, p, &Config{Listeners: []Listener{l}, TargetGroups: []TargetGroup{group1("api", ah, ap), group1("def", dh, dp)}})
	waitState(t, p, "api", StateHealthy)
	waitState(t, p, "def", StateHealthy)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", lbURL(p, "l", "/api/x"), nil)
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	req.Header.Set("Connection", "keep-alive, X-Hop")
	req.Header.Set("X-Hop", "drop me")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "api" {
		t.Fatalf("/api/x went to %q", b)
	}
	h := seen.Load().(http.Header)
	port := strconv.Itoa(p.Addr("l").(*net.TCPAddr).Port)
	if got := h.Get("X-Forwarded-For"); got != "1.2.3.4, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Port") != port {
		t.Errorf("X-Forwarded-Proto/Port = %q/%q", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Port"))
	}
	if h.Get("X-Hop") != "" {
		t.Errorf("hop-by-hop header named in Connection was forwarded")
	}

	code, _, hdr := get(t, noRedirect, lbURL(p, "l", "/old/page?q=1"))
	if code != 301 || hdr.Get("Location") != "http://127.0.0.1:"+port+"/new/old/page?q=1" {
		t.Errorf("redirect: %d %q", code, hdr.Get("Location"))
	}
	req, _ = http.NewRequest("GET", lbURL(p, "l", "/"), nil)
	req.Host = "maint.example.com"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(b) != "down" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("fixed response: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	if _, body, _ := get(t, http.DefaultClient, lbURL(p, "l", "/other")); body != "default" {
		t.Errorf("default rule went to %q", body)
	}
	// A POST body, with a length and chunked.
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader("payload")
		if chunked {
			body = io.MultiReader(strings.NewReader("pay"), strings.NewReader("load"))
		}
		resp, err := http.Post(lbURL(p, "l", "/api/post"), "text/plain", body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST chunked=%v: %v %v", chunked, resp, err)
		}
		resp.Body.Close()
	}
}

func TestApplyPortInUseKeepsRunningConfig(t *testing.T) {
	bh, bp := backend(t, "b", nil)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	p := newProxy(t, Options{})
	good := &Config{Listeners: []Listener{httpListener("l1", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{group1("g", bh, bp)}}
	mustApply(t, p, good)
	before := p.Addr("l1").String()

	bad := &Config{Listeners: []Listener{
		httpListener("l1", WeightedGroup{"g", 1}),
		httpListener("l2", WeightedGroup{"g", 1}),
		{ARN: "l3", LoadBalancer: "app/test/1", Port: takenPort, Protocol: "HTTP", Rules: good.Listeners[0].Rules},
	}, TargetGroups: good.TargetGroups}
	err = p.Apply(bad)
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), strconv.Itoa(takenPort)) {
		t.Fatalf("Apply err = %v, want ErrPortInUse naming port %d", err, takenPort)
	}
	if p.Addr("l2") != nil || p.Addr("l3") != nil || p.Addr("l1").String() != before {
		t.Fatalf("running config changed after failed Apply")
	}
	waitState(t, p, "g", StateHealthy)
	if code, body, _ := get(t, http.DefaultClient, lbURL(p, "l1", "/")); code != 200 || body != "b" {
		t.Fatalf("l1 after failed apply: %d %q", code, body)
	}
}

// TestApplyKeepsClientConnections checks that a keep-alive client
// connection survives an Apply that changes its listener's routing.
func TestApplyKeepsClientConnections(t *testing.T) {
	ah, ap := backend(t, "a", nil)
	bh, bp := backend(t, "b", nil)
	p := newProxy(t, Options{})
	tgs := []TargetGroup{group1("a", ah, ap), group1("b", bh, bp)}
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"a", 1})}, TargetGroups: tgs})
	waitState(t, p, "a", StateHealthy)

	c, err := net.Dial("tcp", p.Addr("l").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func() string {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("on the same connection: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if got := ask(); got != "a" {
		t.Fatalf("first answer %q", got)
	}
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"b", 1})}, TargetGroups: tgs})
	waitState(t, p, "b", StateHealthy)
	if got := ask(); got != "b" {
		t.Fatalf("after Apply: %q", got)
	}
}

func TestStickiness(t *testing.T) {
	h1, p1 := backend(t, "one", nil)
	h2, p2 := backend(t, "two", nil)
	p := newProxy(t, Options{})
	tg := group1("g", h1, p1)
	tg.Targets = append(tg.Targets, Target{ID: "two", Host: h2, Port: p2})
	tg.StickinessDuration = time.Hour
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tg}})
	waitState(t, p, "g", StateHealthy)

	_, first, hdr := get(t, http.DefaultClient, lbURL(p, "l", "/"))
	var cookie string
	for _, sc := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "AWSALB=") {
			cookie = strings.SplitN(sc, ";", 2)[0]
		}
	}
	if cookie == "" {
		t.Fatalf("no AWSALB cookie in %v", hdr)
	}
	for range 6 {
		req, _ := http.NewRequest("GET", lbURL(p, "l", "/"), nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != first {
			t.Fatalf("sticky request went to %q, first went to %q", b, first)
		}
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	wh, wp := backend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, "ok")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		// Echo lines until the client half-closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	})
	p := newProxy(t, Options{})
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{group1("g", wh, wp)}})
	waitState(t, p, "g", StateHealthy)
	c, err := net.Dial("tcp", p.Addr("l").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
	c.(*net.TCPConn).CloseWrite()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("unexpected bytes after close: %q", rest)
	}
}

func TestTCPListener(t *testing.T) {
	// A backend that reads the whole request until the client half-closes,
	// then answers with its name and the length, exercising half-close.
	serve := func(name string) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					n, _ := io.Copy(io.Discard, c)
					fmt.Fprintf(c, "%s %d", name, n)
				}()
			}
		}()
		return ln.Addr().(*net.TCPAddr).Port
	}
	pa, pb := serve("a"), serve("b")
	tcpHealth := HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port", Interval: 50 * time.Millisecond,
		Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	tgs := []TargetGroup{
		{ARN: "a", Name: "targetgroup/a/1", Protocol: "TCP", Port: pa, Targets: []Target{{ID: "a", Host: "127.0.0.1"}}, Health: tcpHealth},
		{ARN: "b", Name: "targetgroup/b/1", Protocol: "TCP", Port: pb, Targets: []Target{{ID: "b", Host: "127.0.0.1"}}, Health: tcpHealth},
	}
	p := newProxy(t, Options{})
	mustApply(t, p, &Config{Listeners: []Listener{{ARN: "l", LoadBalancer: "net/test/1", Protocol: "TCP",
		Rules: []Rule{{Action: Action{Forward: &Forward{Groups: []WeightedGroup{{"a", 3}, {"b", 1}}}}}}}}, TargetGroups: tgs})
	waitState(t, p, "a", StateHealthy)
	waitState(t, p, "b", StateHealthy)
	got := map[string]int{}
	payload := strings.Repeat("x", 100000)
	for range 8 {
		c, err := net.Dial("tcp", p.Addr("l").String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, payload)
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var n int
		if _, err := fmt.Sscanf(string(b), "%s %d", &name, &n); err != nil || n != len(payload) {
			t.Fatalf("answer %q", b)
		}
		got[name]++
	}
	if got["a"] != 6 || got["b"] != 2 {
		t.Fatalf("split %v, want a:6 b:2", got)
	}
	ss := p.Metrics().Snapshot()
	if v := sampleValue(ss, "NewFlowCount", "net/test/1", ""); v != 8 {
		t.Errorf("NewFlowCount = %v", v)
	}
	if v := sampleValue(ss, "ProcessedBytes", "net/test/1", ""); v < 8*100000 {
		t.Errorf("ProcessedBytes = %v", v)
	}
	if v := sampleValue(ss, "HealthyHostCount", "net/test/1", "targetgroup/a/1"); v != 1 {
		t.Errorf("HealthyHostCount = %v", v)
	}
}

func TestHealthStates(t *testing.T) {
	var status atomic.Int64
	status.Store(200)
	hh, hp := backend(t, "h", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	p := newProxy(t, Options{})
	tg := group1("g", hh, hp)
	tg.Targets = append(tg.Targets, Target{ID: "nohost"})
	unused := group1("u", hh, hp)
	cfg := &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tg, unused}}
	mustApply(t, p, cfg)

	ths := p.TargetHealth("g")
	if ths[1].State != StateUnhealthy || ths[1].Reason != ReasonInvalidState {
		t.Errorf("target without host: %+v", ths[1])
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.TargetHealth("g")[0].State != StateHealthy {
		st := p.TargetHealth("g")[0]
		if st.State != StateInitial || (st.Reason != ReasonRegistrationInProgress && st.Reason != ReasonInitialHealthChecking) {
			t.Fatalf("before healthy: %+v", st)
		}
		if time.Now().After(deadline) {
			t.Fatal("never healthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if u := p.TargetHealth("u"); u[0].State != StateUnused || u[0].Reason != ReasonNotInUse {
		t.Errorf("unused group: %+v", u)
	}
	status.Store(500)
	deadline = time.Now().Add(5 * time.Second)
	for {
		st := p.TargetHealth("g")[0]
		if st.State == StateUnhealthy {
			if st.Reason != ReasonResponseCodeMismatch || !strings.Contains(st.Description, "500") {
				t.Fatalf("unhealthy: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never unhealthy: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// All unhealthy: ELB fails open and still forwards.
	if code, _, _ := get(t, http.DefaultClient, lbURL(p, "l", "/")); code != 500 {
		t.Errorf("fail-open request answered %d, want the target's 500", code)
	}
	ss := p.Metrics().Snapshot()
	if v := sampleValue(ss, "UnHealthyHostCount", "app/test/1", "targetgroup/g/1"); v != 2 {
		t.Errorf("UnHealthyHostCount = %v, want 2", v)
	}

	cfg.TargetGroups[0].Health.Enabled = false
	mustApply(t, p, cfg)
	if st := p.TargetHealth("g")[0]; st.State != StateUnavailable || st.Reason != ReasonHealthCheckDisabled {
		t.Errorf("disabled: %+v", st)
	}
}

// TestNoGoroutineLeak removes groups and targets and closes the proxy,
// then checks that the goroutine count returns to where it started.
func TestNoGoroutineLeak(t *testing.T) {
	hh, hp := backend(t, "h", nil)
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	p := New(Options{BindAddr: "127.0.0.1"})
	var tgs []TargetGroup
	var fwd []WeightedGroup
	for i := range 5 {
		arn := "g" + strconv.Itoa(i)
		tg := group1(arn, hh, hp)
		tg.Health.Interval = 10 * time.Millisecond
		tg.DeregistrationDelay = 50 * time.Millisecond
		tgs = append(tgs, tg)
		fwd = append(fwd, WeightedGroup{arn, 1})
	}
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", fwd...)}, TargetGroups: tgs})
	waitState(t, p, "g0", StateHealthy)
	get(t, http.DefaultClient, lbURL(p, "l", "/"))
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", fwd[0])}, TargetGroups: tgs[:1]})
	mustApply(t, p, &Config{})
	p.Close()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHealthThresholds checks ELB's two rules for leaving a bad state: a new
// target is in service after its first passing check, while an unhealthy one
// needs HealthyThreshold passes in a row.
func TestHealthThresholds(t *testing.T) {
	t.Run("new target: one check", func(t *testing.T) {
		hh, hp := backend(t, "h", nil)
		p := newProxy(t, Options{})
		tg := group1("g", hh, hp)
		// With an hour between checks only the immediate first one can run
		// before the deadline, so healthy means one pass sufficed.
		tg.Health.Interval, tg.Health.HealthyThreshold = time.Hour, 10
		mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tg}})
		waitState(t, p, "g", StateHealthy)
	})
	t.Run("unhealthy target: threshold", func(t *testing.T) {
		var status, checks atomic.Int64
		status.Store(500)
		hh, hp := backend(t, "h", func(w http.ResponseWriter, r *http.Request) {
			checks.Add(1)
			w.WriteHeader(int(status.Load()))
		})
		p := newProxy(t, Options{})
		tg := group1("g", hh, hp)
		tg.Health.Interval, tg.Health.HealthyThreshold = 20*time.Millisecond, 4
		mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{tg}})
		waitState(t, p, "g", StateUnhealthy)
		before := checks.Load()
		status.Store(200)
		waitState(t, p, "g", StateHealthy)
		// The check that saw 500 may still have been in flight at the switch.
		if n := checks.Load() - before; n < 4 {
			t.Errorf("healthy again after %d checks since the fix, want at least HealthyThreshold (4)", n)
		}
	})
}
