package proxy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseRequestHead(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr error
		check   func(t *testing.T, r *request)
	}{
		{name: "simple get", raw: "GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if string(r.method) != "GET" || string(r.path) != "/a/b" || string(r.query) != "x=1&y" || !r.hasQuery ||
					string(r.host) != "example.com" || r.minor != 1 || r.close || r.contentLength != -1 || r.chunked {
					t.Errorf("%+v", r)
				}
				if v, ok := r.header("USER-AGENT"); !ok || string(v) != "t" {
					t.Errorf("User-Agent %q %v", v, ok)
				}
			}},
		{name: "bare LF lines", raw: "GET / HTTP/1.1\nHost: h\n\n", check: func(t *testing.T, r *request) {
			if string(r.host) != "h" {
				t.Errorf("host %q", r.host)
			}
		}},
		{name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "http/1.0 closes by default", raw: "GET / HTTP/1.0\r\n\r\n", check: func(t *testing.T, r *request) {
			if !r.close || r.keepAlive10 {
				t.Errorf("close %v keepAlive10 %v", r.close, r.keepAlive10)
			}
		}},
		{name: "http/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: func(t *testing.T, r *request) {
			if r.close || !r.keepAlive10 {
				t.Errorf("close %v", r.close)
			}
		}},
		{name: "connection close and hop header", raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if !r.close || !r.connOther || !namedInConnection(r, []byte("x-hop")) {
					t.Errorf("close %v connOther %v", r.close, r.connOther)
				}
			}},
		{name: "content length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", check: func(t *testing.T, r *request) {
			if r.contentLength != 12 {
				t.Errorf("length %d", r.contentLength)
			}
		}},
		{name: "identical repeated lengths", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"},
		{name: "chunked", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", check: func(t *testing.T, r *request) {
			if !r.chunked || r.contentLength != -1 {
				t.Errorf("chunked %v length %d", r.chunked, r.contentLength)
			}
		}},
		{name: "upgrade", raw: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if string(r.upgrade) != "websocket" {
					t.Errorf("upgrade %q", r.upgrade)
				}
			}},
		{name: "upgrade header without connection token", raw: "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if r.upgrade != nil {
					t.Errorf("upgrade %q", r.upgrade)
				}
			}},
		{name: "expect continue", raw: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if !r.expectContinue {
					t.Error("expectContinue false")
				}
			}},
		{name: "absolute form overrides host", raw: "GET http://real.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if string(r.host) != "real.example:8080" || string(r.uri) != "/p?q" || string(r.path) != "/p" {
					t.Errorf("host %q uri %q", r.host, r.uri)
				}
			}},
		{name: "absolute form without path", raw: "GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", check: func(t *testing.T, r *request) {
			if !r.needSlash || string(r.uri) != "?q=1" || string(r.query) != "q=1" {
				t.Errorf("needSlash %v uri %q", r.needSlash, r.uri)
			}
		}},
		{name: "options asterisk", raw: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "cookie", raw: "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; AWSALB=xyz; b=2\r\nCookie: AWSALBTG=\"tg\"\r\n\r\n",
			check: func(t *testing.T, r *request) {
				if string(r.cookie("AWSALB")) != "xyz" || string(r.cookie("AWSALBTG")) != "tg" || r.cookie("AWS") != nil {
					t.Errorf("cookies %q %q", r.cookie("AWSALB"), r.cookie("AWSALBTG"))
				}
			}},

		{name: "incomplete", raw: "GET / HTTP/1.1\r\nHost: h\r\n", wantErr: errIncomplete},
		{name: "missing host", raw: "GET / HTTP/1.1\r\n\r\n", wantErr: errBadRequest},
		{name: "two hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", wantErr: errBadRequest},
		{name: "length and chunked", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: errBadRequest},
		{name: "chunked and length", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", wantErr: errBadRequest},
		{name: "two transfer-encodings", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: errBadRequest},
		{name: "chunked on http/1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: errBadRequest},
		{name: "unknown coding", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", wantErr: errNotImplemented},
		{name: "coding with junk", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", wantErr: errNotImplemented},
		{name: "conflicting lengths", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: errBadRequest},
		{name: "length list", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", wantErr: errBadRequest},
		{name: "signed length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", wantErr: errBadRequest},
		{name: "hex length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", wantErr: errBadRequest},
		{name: "huge length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", wantErr: errBadRequest},
		{name: "space before colon", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", wantErr: errBadRequest},
		{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", wantErr: errBadRequest},
		{name: "bare CR in value", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\rTransfer-Encoding: chunked\r\n\r\n", wantErr: errBadRequest},
		{name: "NUL in value", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", wantErr: errBadRequest},
		{name: "empty header name", raw: "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", wantErr: errBadRequest},
		{name: "no colon", raw: "GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n", wantErr: errBadRequest},
		{name: "http/2 preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", wantErr: errBadRequest},
		{name: "http/0.9", raw: "GET /\r\n\r\n", wantErr: errBadRequest},
		{name: "lower-case version", raw: "GET / http/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
		{name: "double space", raw: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
		{name: "tab in target", raw: "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
		{name: "connect", raw: "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", wantErr: errBadRequest},
		{name: "asterisk on get", raw: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
		{name: "userinfo in absolute form", raw: "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
		{name: "unknown expectation", raw: "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", wantErr: errExpectation},
		{name: "header line too long", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + strings.Repeat("a", maxHeaderLine) + "\r\n\r\n", wantErr: errBadRequest},
		{name: "request line too long", raw: "GET /" + strings.Repeat("a", maxRequestLine) + " HTTP/1.1\r\nHost: h\r\n\r\n", wantErr: errBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &request{}
			n, err := parseRequestHead([]byte(tc.raw), r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != len(tc.raw) {
				t.Fatalf("n = %d of %d, err = %v", n, len(tc.raw), err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\nBODY", 27},
		{"GET / HTTP/1.1\nHost: h\n\nBODY", 24},
		{"GET / HTTP/1.1\r\nHost: h\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: h\r\n\r", -1},
	} {
		if got := headEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
		// Scanning in pieces finds the same end.
		from := 0
		got := -1
		for i := 1; i <= len(tc.in); i++ {
			if got = headEnd([]byte(tc.in[:i]), from); got >= 0 {
				break
			}
			from = i
		}
		if got != tc.want {
			t.Errorf("headEnd(%q) in pieces = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		want bool
	}{
		{"0", 0, true}, {"1a", 26, true}, {"FF;name=value", 255, true}, {"10 ;x", 16, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"0x10", 0, false}, {"1 2", 0, false},
		{"ffffffffffffffffff", 0, false}, {"1;\x00", 0, false}, {" 1", 0, false},
	} {
		n, ok := parseChunkSize([]byte(tc.in))
		if ok != tc.want || (ok && n != tc.n) {
			t.Errorf("parseChunkSize(%q) = %d, %v", tc.in, n, ok)
		}
	}
}

// FuzzParseRequestHead checks that the parser never panics, that what it
// accepts is a well-formed head whose framing a target reads the same way,
// and that it never accepts the shapes request smuggling relies on.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\rContent-Length: 5\r\n\r\n",
		"GET http://h/x HTTP/1.0\nConnection: keep-alive\n\n",
		"\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\nCookie: AWSALB=1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &request{}
		n, err := parseRequestHead(b, r)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		head := b[:n]
		if !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) {
			t.Fatalf("accepted head does not end with an empty line: %q", head)
		}
		// An independent, naive look at the lines of the accepted head.
		var cl, te int
		seenRequestLine := false
		for _, line := range bytes.Split(head, []byte("\n")) {
			line = bytes.TrimSuffix(line, []byte("\r"))
			if bytes.IndexByte(line, '\r') >= 0 {
				t.Fatalf("accepted a bare CR: %q", head)
			}
			if len(line) == 0 {
				continue
			}
			if !seenRequestLine {
				seenRequestLine = true
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				t.Fatalf("accepted obs-fold: %q", head)
			}
			name, _, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
				t.Fatalf("accepted header line %q", line)
			}
			switch strings.ToLower(string(name)) {
			case "content-length":
				cl++
			case "transfer-encoding":
				te++
			}
		}
		if te > 0 && cl > 0 {
			t.Fatalf("accepted both Content-Length and Transfer-Encoding: %q", head)
		}
		if te > 1 {
			t.Fatalf("accepted repeated Transfer-Encoding: %q", head)
		}
		if r.chunked && r.contentLength != -1 {
			t.Fatalf("chunked with a length: %+v", r)
		}
		if te > 0 && !r.chunked {
			t.Fatalf("accepted a coding other than chunked: %q", head)
		}
		if r.contentLength < -1 {
			t.Fatalf("negative length %d", r.contentLength)
		}
		if r.minor == 1 && len(r.host) == 0 && r.uriHost == nil {
			if _, ok := r.header("host"); !ok {
				t.Fatalf("HTTP/1.1 without Host: %q", head)
			}
		}
		for _, h := range r.headers {
			if !isToken(h.name) || !validValue(h.value) {
				t.Fatalf("accepted field %q: %q", h.name, h.value)
			}
		}
		if len(r.uri) > 0 && bytes.ContainsAny(r.uri, " \r\n") {
			t.Fatalf("target with whitespace: %q", r.uri)
		}
	})
}
