package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const bigBody = 8 << 20

// frontEnd starts a proxy with one HTTP listener forwarding to a backend
// that echoes, streams and answers with chosen statuses; hits counts the
// requests that reached the backend.
func frontEnd(t *testing.T, opts Options) (p *Proxy, addr string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	bh, bp := backend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Header.Get("User-Agent") == "ELB-HealthChecker/2.0" {
			return
		}
		hits.Add(1)
		switch {
		case r.URL.Path == "/echo":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(499)
				return
			}
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
			w.Header().Set("X-Host", r.Host)
			w.Header().Set("X-URI", r.RequestURI)
			w.Write(b)
		case r.URL.Path == "/big":
			w.Header().Set("Content-Length", strconv.Itoa(bigBody))
			w.Write([]byte(strings.Repeat("x", bigBody)))
		case r.URL.Path == "/slow":
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "slow")
		case r.URL.Path == "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", "3")
		case r.URL.Path == "/stream":
			f := w.(http.Flusher)
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				f.Flush()
			}
		case strings.HasPrefix(r.URL.Path, "/status/"):
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
			w.WriteHeader(code)
		default:
			io.WriteString(w, "b")
		}
	})
	p = newProxy(t, opts)
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})}, TargetGroups: []TargetGroup{group1("g", bh, bp)}})
	waitState(t, p, "g", StateHealthy)
	return p, p.Addr("l").String(), hits
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// expectClosed checks that the proxy closes the connection.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("connection not closed cleanly: %q %v", rest, err)
	}
}

func TestMalformedRequestsGet400WithoutReachingTarget(t *testing.T) {
	p, addr, hits := frontEnd(t, Options{})
	tests := []struct {
		name, raw string
		code      int
	}{
		{"length and chunked", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"space before colon", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold", "GET /echo HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", 400},
		{"bare CR", "GET /echo HTTP/1.1\r\nHost: h\r\nX-A: 1\rX-B: 2\r\n\r\n", 400},
		{"conflicting lengths", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"no host", "GET /echo HTTP/1.1\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"head too large", "GET /echo HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", 400},
		{"unknown coding", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"unknown expectation", "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: x\r\nContent-Length: 1\r\n\r\na", 417},
	}
	want4xx := 0
	for _, tc := range tests {
		if tc.code < 500 {
			want4xx++
		}
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			io.WriteString(c, tc.raw)
			resp, _ := readResp(t, br, "POST")
			if resp.StatusCode != tc.code || !resp.Close {
				t.Fatalf("status %d, close %v; want %d, close", resp.StatusCode, resp.Close, tc.code)
			}
			expectClosed(t, c, br)
			if n := hits.Load(); n != 0 {
				t.Fatalf("target reached %d times", n)
			}
			if v := sampleValue(p.Metrics().Snapshot(), "HTTPCode_ELB_4XX_Count", "app/test/1", ""); v != float64(want4xx) {
				t.Fatalf("HTTPCode_ELB_4XX_Count = %v, want %d", v, want4xx)
			}
		})
	}
}

func TestMalformedChunkedBody(t *testing.T) {
	_, addr, _ := frontEnd(t, Options{})
	for _, body := range []string{"zz\r\nab\r\n0\r\n\r\n", "2\r\nabc\r\n0\r\n\r\n", "2\nab\n0\n\n", "-1\r\n"} {
		c, br := dial(t, addr)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		resp, _ := readResp(t, br, "POST")
		if resp.StatusCode != 400 {
			t.Fatalf("body %q: status %d", body, resp.StatusCode)
		}
		expectClosed(t, c, br)
	}
}

func TestKeepAliveSemantics(t *testing.T) {
	_, addr, _ := frontEnd(t, Options{})

	t.Run("http/1.1 keeps the connection", func(t *testing.T) {
		c, br := dial(t, addr)
		for range 3 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "b" || resp.Close {
				t.Fatalf("%d %q close %v", resp.StatusCode, body, resp.Close)
			}
		}
	})
	t.Run("connection close", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		if resp, _ := readResp(t, br, "GET"); !resp.Close {
			t.Fatal("no Connection: close")
		}
		expectClosed(t, c, br)
	})
	t.Run("http/1.0 closes", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "b" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		expectClosed(t, c, br)
	})
	t.Run("http/1.0 keep-alive", func(t *testing.T) {
		c, br := dial(t, addr)
		for range 2 {
			io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := readResp(t, br, "GET")
			if body != "b" || resp.Header.Get("Connection") != "keep-alive" {
				t.Fatalf("%q %v", body, resp.Header)
			}
		}
	})
	t.Run("http/1.0 stream reads to close", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := readResp(t, br, "GET")
		if body != "part0;part1;part2;" || resp.TransferEncoding != nil {
			t.Fatalf("%q %v", body, resp.TransferEncoding)
		}
		expectClosed(t, c, br)
	})
	t.Run("bodiless responses", func(t *testing.T) {
		c, br := dial(t, addr)
		for _, tc := range []struct{ method, path string }{{"HEAD", "/echo"}, {"GET", "/status/204"}, {"GET", "/status/304"}, {"GET", "/stream"}} {
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: h\r\n\r\n", tc.method, tc.path)
			resp, body := readResp(t, br, tc.method)
			if tc.path == "/stream" {
				if body != "part0;part1;part2;" || len(resp.TransferEncoding) != 1 {
					t.Fatalf("stream: %q %v", body, resp.TransferEncoding)
				}
				continue
			}
			if body != "" {
				t.Fatalf("%s %s: body %q", tc.method, tc.path, body)
			}
		}
	})
	t.Run("pipelined in one write", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\none"+
			"GET /echo?2 HTTP/1.1\r\nHost: h\r\n\r\n"+
			"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n")
		for _, want := range []string{"one", "", "three"} {
			if _, body := readResp(t, br, "POST"); body != want {
				t.Fatalf("body %q, want %q", body, want)
			}
		}
	})
	t.Run("pipelined while a request is in flight", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, body := readResp(t, br, "GET"); body != "slow" {
			t.Fatalf("first %q", body)
		}
		if resp, _ := readResp(t, br, "GET"); resp.Header.Get("X-URI") != "/echo" {
			t.Fatalf("second %v", resp.Header)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("pipelined request answered after %v", d)
		}
		// And the connection keeps working the ordinary way.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, body := readResp(t, br, "GET"); body != "b" {
			t.Fatalf("third %q", body)
		}
	})
}

func TestRequestBodiesAndHead(t *testing.T) {
	_, addr, _ := frontEnd(t, Options{})
	c, br := dial(t, addr)

	// Expect: 100-continue gets the interim response before the body.
	io.WriteString(c, "PUT /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	if resp, body := readResp(t, br, "PUT"); body != "hello" || resp.Header.Get("X-Method") != "PUT" {
		t.Fatalf("%q %v", body, resp.Header)
	}

	// A large chunked body with extensions and a trailer is re-encoded.
	big := strings.Repeat("0123456789", 20000)
	var sb strings.Builder
	sb.WriteString("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < len(big); i += 7000 {
		part := big[i:min(i+7000, len(big))]
		fmt.Fprintf(&sb, "%x;ext=1\r\n%s\r\n", len(part), part)
	}
	sb.WriteString("0\r\nX-Trailer: t\r\n\r\n")
	go io.WriteString(c, sb.String())
	if resp, body := readResp(t, br, "POST"); body != big || resp.Header.Get("X-Length") != "-1" {
		t.Fatalf("chunked echo: %d bytes, X-Length %q", len(body), resp.Header.Get("X-Length"))
	}

	// Hop-by-hop headers go, the target sees Host and the origin-form URI
	// of an absolute-form request.
	io.WriteString(c, "POST http://abs.example/echo?q=1 HTTP/1.1\r\nHost: ignored\r\nContent-Length: 0\r\nKeep-Alive: 5\r\n\r\n")
	resp, _ := readResp(t, br, "POST")
	if resp.Header.Get("X-Host") != "abs.example" || resp.Header.Get("X-URI") != "/echo?q=1" {
		t.Fatalf("forwarded as %q %q", resp.Header.Get("X-Host"), resp.Header.Get("X-URI"))
	}
}

func TestClientIdleTimeout(t *testing.T) {
	_, addr, _ := frontEnd(t, Options{ClientIdleTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, br, "GET")
	start := time.Now()
	expectClosed(t, c, br)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("idle connection closed after %v", d)
	}
	// A head that never completes is cut off too.
	c2, br2 := dial(t, addr)
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost:")
	expectClosed(t, c2, br2)
}

// TestListenerRemovalDrains removes a listener while a request is in flight
// on one connection and another connection is idle: the request completes
// and both connections close.
func TestListenerRemovalDrains(t *testing.T) {
	p, addr, _ := frontEnd(t, Options{})
	idle, idleBR := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, idleBR, "GET")

	busy, busyBR := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	mustApply(t, p, &Config{TargetGroups: []TargetGroup{{ARN: "g", Name: "targetgroup/g/1"}}})
	expectClosed(t, idle, idleBR)
	resp, body := readResp(t, busyBR, "GET")
	if resp.StatusCode != 200 || body != "slow" || !resp.Close {
		t.Fatalf("in-flight request: %d %q close %v", resp.StatusCode, body, resp.Close)
	}
	expectClosed(t, busy, busyBR)
}

// TestTargetClosesIdleConnection has the target drop pooled keep-alive
// connections between requests: a request without a body that meets a
// dead pooled connection is retried on a new one, so the client sees no
// error.
func TestTargetClosesIdleConnection(t *testing.T) {
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		IdleTimeout: 30 * time.Millisecond,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	p := newProxy(t, Options{})
	mustApply(t, p, &Config{Listeners: []Listener{httpListener("l", WeightedGroup{"g", 1})},
		TargetGroups: []TargetGroup{group1("g", "127.0.0.1", port)}})
	waitState(t, p, "g", StateHealthy)
	c, br := dial(t, p.Addr("l").String())
	for i := range 5 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(80 * time.Millisecond)
	}
}

// TestSlowReaderKeepsConnection has a client that reads a large response
// only after a pause, so the proxy meets a full socket buffer while
// writing it; the connection must still serve the next request.
func TestSlowReaderKeepsConnection(t *testing.T) {
	_, addr, _ := frontEnd(t, Options{})
	c, br := dial(t, addr)
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(300 * time.Millisecond)
	if _, body := readResp(t, br, "GET"); len(body) != bigBody {
		t.Fatalf("body of %d bytes", len(body))
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := readResp(t, br, "GET"); body != "b" {
		t.Fatalf("second %q", body)
	}
}
