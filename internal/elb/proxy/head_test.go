package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		method   string
		code     int
		body     string
		close    bool
		wantErr  bool
		wantHdr  map[string]string
		noHeader []string
	}{
		{name: "content length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloNEXT", method: "GET",
			code: 200, body: "hello", wantHdr: map[string]string{"X-A": "b"}, noHeader: []string{"Content-Length"}},
		{name: "chunked with trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nNEXT",
			method: "GET", code: 200, body: "abcde", noHeader: []string{"Transfer-Encoding", "Content-Length"}},
		{name: "interim response skipped", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
			method: "POST", code: 204, close: true, noHeader: []string{"Connection"}},
		{name: "http/1.0 closes", raw: "HTTP/1.0 200 OK\r\n\r\nuntil close", method: "GET", code: 200, body: "until close", close: true},
		{name: "http/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokNEXT", method: "GET", code: 200, body: "ok"},
		{name: "head has no body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nNEXT", method: "HEAD", code: 200},
		{name: "lowercase names", raw: "HTTP/1.1 302 Found\r\nlocation: /x\r\ncontent-length: 0\r\n\r\nNEXT", method: "GET", code: 302,
			wantHdr: map[string]string{"Location": "/x"}},
		{name: "garbage", raw: "SSH-2.0-OpenSSH\r\n\r\n", method: "GET", wantErr: true},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", method: "GET", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.raw))
			out, rh, err := readHead(br, []byte("x"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if string(out) != "x" {
					t.Errorf("output after error: %q", out)
				}
				return
			}
			if !strings.HasPrefix(string(out), "xHTTP/1.1 "+strconv.Itoa(tc.code)+" ") || !strings.HasSuffix(string(out), "\r\n") {
				t.Fatalf("head written %q", out)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out[1:])+"\r\n")), nil)
			if err != nil {
				t.Fatalf("head written %q: %v", out, err)
			}
			h := resp.Header
			body, err := io.ReadAll(rh.bodyReader(br, tc.method == "HEAD"))
			if err != nil || rh.code != tc.code || string(body) != tc.body || rh.close != tc.close {
				t.Fatalf("code %d body %q close %v err %v", rh.code, body, rh.close, err)
			}
			for k, v := range tc.wantHdr {
				if h.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
				}
			}
			for _, k := range tc.noHeader {
				if _, ok := h[k]; ok {
					t.Errorf("header %s kept", k)
				}
			}
			if !rh.close {
				// The connection must be positioned at the next response.
				if rest, _ := io.ReadAll(br); string(rest) != "NEXT" && tc.method != "POST" {
					t.Errorf("left %q on the connection", rest)
				}
			}
		})
	}
}

func TestMetricsCollector(t *testing.T) {
	p := New(Options{})
	defer p.Close()
	m := p.Metrics()
	lb := m.lb("app/x/123", false)
	tg := m.tg("app/x/123", "targetgroup/y/456", false)
	lb.requests.Add(3)
	lb.direct.Add(1)
	lb.countELB(502)
	tg.requests.Add(2)
	tg.countTarget(200, 3e6)
	tg.countTarget(503, 2e9)
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			key := mf.GetName()
			for _, l := range mt.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				got[key] = mt.Counter.GetValue()
			case mt.Histogram != nil:
				got[key] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"cutover_elb_request_count_total,load_balancer=app/x/123,target_group=targetgroup/y/456":             2,
		"cutover_elb_request_count_total,load_balancer=app/x/123,target_group=":                              1,
		"cutover_elb_httpcode_elb_5xx_count_total,load_balancer=app/x/123":                                   1,
		"cutover_elb_httpcode_target_5xx_count_total,load_balancer=app/x/123,target_group=targetgroup/y/456": 1,
		"cutover_elb_target_response_time_seconds,load_balancer=app/x/123,target_group=targetgroup/y/456":    2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	ss := m.Snapshot()
	if v := sampleValue(ss, "RequestCount", "app/x/123", ""); v != 3 {
		t.Errorf("RequestCount = %v", v)
	}
	for _, smp := range ss {
		if smp.MetricName == "TargetResponseTime" && smp.Dimensions["TargetGroup"] == "targetgroup/y/456" {
			if smp.Count != 2 || smp.Value < 2.0 || smp.Value > 2.01 || smp.Namespace != NamespaceALB {
				t.Errorf("TargetResponseTime sample %+v", smp)
			}
		}
	}
}
