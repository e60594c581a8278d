package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestRingLoops checks which requests the ring loops answer themselves and
// which they hand to a goroutine, and that a connection keeps working
// after it was handed over.
func TestRingLoops(t *testing.T) {
	p, addr, _ := frontEnd(t, Options{})
	if _, _, ok := p.ringCounts(); !ok {
		t.Skip("io_uring is not available here: goroutines serve every connection (TestWithoutIOUring covers them)")
	}
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	cases := []struct {
		name    string
		send    string
		methods []string // one per response
		bodies  []string
		handoff bool
	}{
		{"keep-alive GETs", get + get, []string{"GET", "GET"}, []string{"b", "b"}, false},
		{"pipelined in one write", get + get + get, []string{"GET", "GET", "GET"}, []string{"b", "b", "b"}, false},
		{"large body relayed", "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}, []string{strings.Repeat("x", bigBody)}, false},
		{"HEAD", "HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n", []string{"HEAD"}, []string{""}, false},
		{"no content", "GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}, []string{""}, false},
		{"request body", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", []string{"POST"}, []string{"hello"}, false},
		{"request body beyond the buffer", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("y", 10000), []string{"POST"}, []string{strings.Repeat("y", 10000)}, true},
		{"chunked request body", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []string{"POST"}, []string{"abc"}, true},
		{"pipelined after a body", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi" + get, []string{"POST", "GET"}, []string{"hi", "b"}, false},
		{"chunked response", "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}, []string{"part0;part1;part2;"}, false},
		{"chunked response with trailers", "GET /trailer HTTP/1.1\r\nHost: a\r\n\r\n" + get, []string{"GET", "GET"}, []string{"abc", "b"}, false},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}, []string{"b"}, true},
		{"head split over writes", "GET / HT", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, h0, _ := p.ringCounts()
			c, br := dial(t, addr)
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			for i, m := range tc.methods {
				resp, body := readResp(t, br, m)
				if resp.StatusCode != 200 && resp.StatusCode != 204 {
					t.Fatalf("response %d: status %d", i, resp.StatusCode)
				}
				if body != tc.bodies[i] {
					t.Fatalf("response %d: body of %d bytes, want %d", i, len(body), len(tc.bodies[i]))
				}
			}
			// The connection serves another request, whoever serves it now.
			rest := get
			if tc.methods == nil {
				rest = "TP/1.1\r\nHost: a\r\n\r\n"
			}
			if _, err := c.Write([]byte(rest)); err != nil {
				t.Fatal(err)
			}
			if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "b" {
				t.Fatalf("next request: %d %q", resp.StatusCode, body)
			}
			served, h1, _ := p.ringCounts()
			if got := h1 > h0; got != tc.handoff {
				t.Errorf("handed to a goroutine: %v, want %v", got, tc.handoff)
			}
			if served == 0 {
				t.Errorf("the ring loops answered nothing")
			}
		})
	}
}

// TestWithoutIOUring runs the front end's tests with goroutines serving
// every connection, as on a system without io_uring.
func TestWithoutIOUring(t *testing.T) {
	testNoIOUring = true
	defer func() { testNoIOUring = false }()
	for name, f := range map[string]func(*testing.T){
		"MalformedRequests":  TestMalformedRequestsGet400WithoutReachingTarget,
		"MalformedChunked":   TestMalformedChunkedBody,
		"KeepAlive":          TestKeepAliveSemantics,
		"Bodies":             TestRequestBodiesAndHead,
		"ClientIdleTimeout":  TestClientIdleTimeout,
		"ListenerRemoval":    TestListenerRemovalDrains,
		"TargetClosesIdle":   TestTargetClosesIdleConnection,
		"SlowReader":         TestSlowReaderKeepsConnection,
		"ELBErrors":          TestELBErrors,
		"Rules":              TestRulesFixedRedirectAndHeaders,
		"Stickiness":         TestStickiness,
		"WebSocket":          TestWebSocketUpgrade,
		"Deregistration":     TestDeregistrationDrains,
		"WeightShiftUnderLd": TestWeightShiftUnderLoad,
	} {
		t.Run(name, f)
	}
}

// TestRingTargetByName checks that a target registered by host name is
// served (by a goroutine, whose dialer resolves the name).
func TestRingTargetByName(t *testing.T) {
	_, port := backend(t, "named", nil)
	p := newProxy(t, Options{})
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})},
		TargetGroups: []TargetGroup{group1("g", "localhost", port)}})
	waitState(t, p, "g", StateHealthy)
	for range 3 {
		if code, body, _ := get(t, http.DefaultClient, lbURL(p, "l", "/")); code != 200 || body != "named" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if _, handoffs, ok := p.ringCounts(); ok && handoffs == 0 {
		t.Error("a request to a named target was not handed to a goroutine")
	}
}
