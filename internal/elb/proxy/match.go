package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

type condKind int

const (
	condPath condKind = iota
	condHost
	condHeader
	condQuery
	condMethod
	condSourceIP
)

// cond is a compiled rule condition. Case-insensitive patterns are stored
// lower-cased so that matching folds only the request side.
type cond struct {
	kind     condKind
	patterns []string
	header   string
	query    []KeyValue
	nets     []netip.Prefix
}

func compileCond(c Condition) cond {
	out := cond{}
	lower := func(vs []string) []string {
		o := make([]string, len(vs))
		for i, v := range vs {
			o[i] = strings.ToLower(v)
		}
		return o
	}
	switch c.Field {
	case "path-pattern":
		out.kind, out.patterns = condPath, c.Values
	case "host-header":
		out.kind, out.patterns = condHost, lower(c.Values)
	case "http-header":
		out.kind, out.patterns, out.header = condHeader, lower(c.Values), http.CanonicalHeaderKey(c.HeaderName)
	case "query-string":
		out.kind = condQuery
		for _, kv := range c.Query {
			out.query = append(out.query, KeyValue{strings.ToLower(kv.Key), strings.ToLower(kv.Value)})
		}
	case "http-request-method":
		out.kind, out.patterns = condMethod, c.Values
	case "source-ip":
		out.kind = condSourceIP
		for _, v := range c.Values {
			if p, err := parsePrefix(v); err == nil {
				out.nets = append(out.nets, p)
			}
		}
	default:
		// validate rejects nothing here: an unknown field never matches,
		// which is safer than matching everything.
		out.kind = -1
	}
	return out
}

func parsePrefix(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("source-ip %q is not a CIDR block", v)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (c *cond) match(r *http.Request) bool {
	switch c.kind {
	case condPath:
		for _, p := range c.patterns {
			if wildcard(p, r.URL.Path, false) {
				return true
			}
		}
	case condHost:
		h := stripPort(r.Host)
		for _, p := range c.patterns {
			if wildcard(p, h, true) {
				return true
			}
		}
	case condHeader:
		for _, v := range r.Header[c.header] {
			for _, p := range c.patterns {
				if wildcard(p, v, true) {
					return true
				}
			}
		}
	case condQuery:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil && len(q) == 0 {
			return false
		}
		for _, kv := range c.query {
			for k, vs := range q {
				if kv.Key != "" && !wildcard(kv.Key, k, true) {
					continue
				}
				for _, v := range vs {
					if wildcard(kv.Value, v, true) {
						return true
					}
				}
			}
		}
	case condMethod:
		for _, p := range c.patterns {
			if p == r.Method {
				return true
			}
		}
	case condSourceIP:
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		a := ap.Addr().Unmap()
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
	}
	return false
}

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		return host[:i]
	}
	return host
}

// wildcard reports whether s matches pattern, where '*' matches any run of
// characters and '?' exactly one. With fold, s is compared ASCII
// case-insensitively against an already lower-case pattern. It runs in
// O(len(pattern)*len(s)) at worst by remembering only the last star, the
// usual greedy-with-backtrack glob match.
func wildcard(pattern, s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(pattern) {
			pc := pattern[pi]
			switch {
			case pc == '*':
				star, mark = pi, si
				pi++
				continue
			case pc == '?' || pc == s[si] || (fold && pc == lowerASCII(s[si])):
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}
