package proxy

import (
	"net/netip"
	"net/url"
	"testing"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold, want bool
	}{
		{"/api/*", "/api/v1/users", false, true},
		{"/api/*", "/API/v1", false, false},
		{"/api/*", "/api/", false, true},
		{"/img/?.png", "/img/a.png", false, true},
		{"/img/?.png", "/img/ab.png", false, false},
		{"*", "", false, true},
		{"", "", false, true},
		{"", "x", false, false},
		{"*.example.com", "www.example.com", true, true},
		{"*.example.com", "WWW.Example.COM", true, true},
		{"*.example.com", "example.com", true, false},
		{"a*b*c", "aXXbYYc", false, true},
		{"a*b*c", "aXXbYY", false, false},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
		{"exact", "exact", false, true},
	}
	for _, tc := range tests {
		if got := wildcard(tc.pattern, tc.s, tc.fold); got != tc.want {
			t.Errorf("wildcard(%q, %q, %v) = %v, want %v", tc.pattern, tc.s, tc.fold, got, tc.want)
		}
	}
}

func TestConditions(t *testing.T) {
	base := mustParse(t, "GET /shop/cart?lang=EN&x=1 HTTP/1.1\r\nHost: Shop.Example.com:8080\r\nUser-Agent: Mobile Safari\r\n\r\n")
	remote := netip.MustParseAddrPort("10.1.2.3:5555")
	tests := []struct {
		name string
		c    Condition
		want bool
	}{
		{"path match", Condition{Field: "path-pattern", Values: []string{"/other", "/shop/*"}}, true},
		{"path is case sensitive", Condition{Field: "path-pattern", Values: []string{"/SHOP/*"}}, false},
		{"path ignores query", Condition{Field: "path-pattern", Values: []string{"*lang*"}}, false},
		{"header name folds", Condition{Field: "http-header", HeaderName: "USER-AGENT", Values: []string{"mobile safari"}}, true},
		{"host strips port, folds case", Condition{Field: "host-header", Values: []string{"shop.example.com"}}, true},
		{"host wildcard", Condition{Field: "host-header", Values: []string{"*.EXAMPLE.com"}}, true},
		{"host mismatch", Condition{Field: "host-header", Values: []string{"api.example.com"}}, false},
		{"header wildcard folds", Condition{Field: "http-header", HeaderName: "user-agent", Values: []string{"*mobile*"}}, true},
		{"header absent", Condition{Field: "http-header", HeaderName: "X-Missing", Values: []string{"*"}}, false},
		{"query key and value", Condition{Field: "query-string", Query: []KeyValue{{"lang", "en"}}}, true},
		{"query any key", Condition{Field: "query-string", Query: []KeyValue{{"", "1"}}}, true},
		{"query wildcard miss", Condition{Field: "query-string", Query: []KeyValue{{"lang", "fr*"}}}, false},
		{"method", Condition{Field: "http-request-method", Values: []string{"POST", "GET"}}, true},
		{"method is case sensitive", Condition{Field: "http-request-method", Values: []string{"get"}}, false},
		{"source ip cidr", Condition{Field: "source-ip", Values: []string{"10.0.0.0/8"}}, true},
		{"source ip miss", Condition{Field: "source-ip", Values: []string{"192.168.0.0/16"}}, false},
		{"unknown field never matches", Condition{Field: "bogus", Values: []string{"*"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := compileCond(tc.c)
			if got := c.match(base, remote); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in      string
		code    int
		want    bool
		wantErr bool
	}{
		{"200", 200, true, false},
		{"200", 201, false, false},
		{"200-299", 250, true, false},
		{"200,302", 302, true, false},
		{"200,302", 301, false, false},
		{"abc", 0, false, true},
		{"299-200", 0, false, true},
		{"99", 0, false, true},
	}
	for _, tc := range tests {
		rs, err := parseMatcher(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("parseMatcher(%q) err = %v", tc.in, err)
		}
		if err != nil {
			continue
		}
		got := false
		for _, r := range rs {
			got = got || (tc.code >= r.lo && tc.code <= r.hi)
		}
		if got != tc.want {
			t.Errorf("parseMatcher(%q) matches %d = %v, want %v", tc.in, tc.code, got, tc.want)
		}
	}
}

func TestRedirectURL(t *testing.T) {
	r := mustParse(t, "GET http://www.example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
	tests := []struct {
		rd   Redirect
		want string
	}{
		{Redirect{}, "http://www.example.com:8080/a/b?x=1"},
		{Redirect{Protocol: "HTTPS", Port: "443"}, "https://www.example.com/a/b?x=1"},
		{Redirect{Host: "new.#{host}", Path: "/v2#{path}", Query: "#{query}&y=2"}, "http://new.www.example.com:8080/v2/a/b?x=1&y=2"},
		{Redirect{Port: "80", Query: ""}, "http://www.example.com/a/b?x=1"},
	}
	for _, tc := range tests {
		got, err := redirectURL(&tc.rd, r, "8080")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := url.Parse(got); err != nil || got != tc.want {
			t.Errorf("redirectURL(%+v) = %q, want %q", tc.rd, got, tc.want)
		}
	}
}

func mustParse(t testing.TB, raw string) *request {
	t.Helper()
	r := &request{}
	n, err := parseRequestHead([]byte(raw), r)
	if err != nil || n != len(raw) {
		t.Fatalf("parseRequestHead(%q) = %d, %v", raw, n, err)
	}
	return r
}
