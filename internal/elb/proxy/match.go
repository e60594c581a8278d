package proxy

import (
	"bytes"
	"fmt"
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
		out.kind, out.patterns, out.header = condHeader, lower(c.Values), c.HeaderName
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

func (c *cond) match(r *request, remote netip.AddrPort) bool {
	switch c.kind {
	case condPath:
		path := r.path
		if bytes.IndexByte(path, '%') >= 0 {
			// Patterns match the decoded path, as net/http's URL.Path was;
			// only escaped paths pay for decoding.
			p, err := r.decodedPath()
			if err != nil {
				return false
			}
			path = []byte(p)
		}
		for _, p := range c.patterns {
			if wildcard(p, path, false) {
				return true
			}
		}
	case condHost:
		h := stripPort(r.host)
		for _, p := range c.patterns {
			if wildcard(p, h, true) {
				return true
			}
		}
	case condHeader:
		for i := range r.headers {
			hf := &r.headers[i]
			if !equalFold(hf.name, c.header) {
				continue
			}
			for _, p := range c.patterns {
				if wildcard(p, hf.value, true) {
					return true
				}
			}
		}
	case condQuery:
		q, err := url.ParseQuery(string(r.query))
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
			if p == string(r.method) {
				return true
			}
		}
	case condSourceIP:
		if !remote.IsValid() {
			return false
		}
		a := remote.Addr().Unmap()
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
	}
	return false
}

// decodedPath returns the request path with percent-escapes decoded.
func (r *request) decodedPath() (string, error) {
	if bytes.IndexByte(r.path, '%') < 0 {
		return string(r.path), nil
	}
	return url.PathUnescape(string(r.path))
}

func stripPort[S ~string | ~[]byte](host S) S {
	if len(host) > 0 && host[0] == '[' {
		for i := 1; i < len(host); i++ {
			if host[i] == ']' {
				return host[1:i]
			}
		}
		return host
	}
	colon, n := -1, 0
	for i := 0; i < len(host); i++ {
		if host[i] == ':' {
			colon = i
			n++
		}
	}
	if n == 1 {
		return host[:colon]
	}
	return host
}

// wildcard reports whether s matches pattern, where '*' matches any run of
// characters and '?' exactly one. With fold, s is compared ASCII
// case-insensitively against an already lower-case pattern. It runs in
// O(len(pattern)*len(s)) at worst by remembering only the last star, the
// usual greedy-with-backtrack glob match.
func wildcard[S ~string | ~[]byte](pattern string, s S, fold bool) bool {
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
