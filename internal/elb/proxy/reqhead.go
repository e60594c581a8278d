package proxy

import (
	"bytes"
	"errors"
)

// The request head parser of the HTTP front end. It works on the client
// connection's read buffer and keeps only slices into it, so a request costs
// no allocation; the fields are valid until the buffer is next refilled,
// which happens only after the head has been written to the target.
//
// It is deliberately stricter than RFC 9112 requires wherever leniency
// could let a request be framed differently here and at a target (request
// smuggling): both Content-Length and Transfer-Encoding, repeated
// Transfer-Encoding, conflicting lengths, obs-fold, whitespace before the
// colon, a bare CR, and control characters all end in 400, as on ALB.

// ALB's documented limits: 16 KiB for the request line and for one header
// line, 64 KiB for the whole head.
const (
	maxRequestLine = 16 << 10
	maxHeaderLine  = 16 << 10
	maxRequestHead = 64 << 10
)

var (
	errIncomplete     = errors.New("incomplete request head")
	errBadRequest     = errors.New("malformed request")
	errNotImplemented = errors.New("unsupported transfer coding")
	errExpectation    = errors.New("unsupported expectation")
)

type hdrField struct{ name, value []byte }

// request is a parsed request head.
type request struct {
	method []byte
	// uri is the request target in origin form ("/path?query" or "*"), as
	// it is sent on to the target; path and query are its parts (query
	// without '?'), hasQuery tells "/a?" from "/a".
	uri, path, query []byte
	hasQuery         bool
	// needSlash is set for an absolute-form target without a path
	// ("http://h?q"), whose origin form starts with the '/' uri lacks.
	needSlash     bool
	uriHost       []byte
	host          []byte
	minor         int   // HTTP/1.minor
	contentLength int64 // -1 when absent
	chunked       bool
	// close is true when the client wants the connection closed after this
	// exchange (Connection: close, or HTTP/1.0 without keep-alive).
	close          bool
	keepAlive10    bool // HTTP/1.0 with Connection: keep-alive
	expectContinue bool
	// upgrade is the Upgrade value when Connection names "upgrade".
	upgrade []byte
	// connOther is true when Connection names headers other than close,
	// keep-alive and upgrade; those headers are hop-by-hop and dropped.
	connOther bool
	headers   []hdrField
}

func (r *request) reset() {
	h := r.headers[:0]
	*r = request{headers: h, contentLength: -1}
}

func (r *request) isHead() bool { return string(r.method) == "HEAD" }

// header returns the first value of the named header (name in any case).
func (r *request) header(name string) ([]byte, bool) {
	for i := range r.headers {
		if equalFold(r.headers[i].name, name) {
			return r.headers[i].value, true
		}
	}
	return nil, false
}

// headEnd returns the length of the request head at the start of b (up to
// and including the empty line), or -1 when b does not hold all of it yet.
// from is where the previous search stopped, so that a head arriving in
// pieces is scanned once.
func headEnd(b []byte, from int) int {
	i := max(from, 0)
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if (i >= 2 && b[i-2] == '\n') || (i >= 3 && b[i-2] == '\r' && b[i-3] == '\n') {
			return i
		}
	}
}

// parseRequestHead parses the head at the start of b into r and returns its
// length. It returns errIncomplete when the head does not end within b.
func parseRequestHead(b []byte, r *request) (int, error) {
	r.reset()
	pos := 0
	// Skip a few empty lines some clients send after a POST body.
	for range 4 {
		if pos < len(b) && b[pos] == '\n' {
			pos++
		} else if pos+1 < len(b) && b[pos] == '\r' && b[pos+1] == '\n' {
			pos += 2
		} else {
			break
		}
	}
	line, next, err := nextLine(b, pos, maxRequestLine)
	if err != nil {
		return 0, err
	}
	if err := r.parseRequestLine(line); err != nil {
		return 0, err
	}
	pos = next
	var (
		haveHost, haveCL, haveTE, teChunked bool
		closeTok, keepAliveTok, upgradeTok  bool
		upgradeVal                          []byte
	)
	for {
		line, next, err = nextLine(b, pos, maxHeaderLine)
		if err != nil {
			return 0, err
		}
		pos = next
		if len(line) == 0 {
			break
		}
		if pos > maxRequestHead {
			return 0, errBadRequest
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, errBadRequest // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, errBadRequest
		}
		name := line[:colon]
		if !isToken(name) {
			return 0, errBadRequest
		}
		value := trimOWS(line[colon+1:])
		if !validValue(value) {
			return 0, errBadRequest
		}
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				if haveHost {
					return 0, errBadRequest
				}
				haveHost = true
				r.host = value
			}
		case 6:
			if equalFold(name, "expect") {
				if !equalFold(value, "100-continue") {
					return 0, errExpectation
				}
				r.expectContinue = true
			}
		case 7:
			if equalFold(name, "upgrade") {
				upgradeVal = value
			}
		case 10:
			if equalFold(name, "connection") {
				forEachToken(value, func(tok []byte) {
					switch {
					case equalFold(tok, "close"):
						closeTok = true
					case equalFold(tok, "keep-alive"):
						keepAliveTok = true
					case equalFold(tok, "upgrade"):
						upgradeTok = true
					default:
						r.connOther = true
					}
				})
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseLength(value)
				if !ok || (haveCL && n != r.contentLength) {
					return 0, errBadRequest
				}
				haveCL = true
				r.contentLength = n
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				if haveTE {
					return 0, errBadRequest
				}
				haveTE = true
				teChunked = equalFold(value, "chunked")
			}
		}
		r.headers = append(r.headers, hdrField{name, value})
	}
	switch {
	case r.minor == 1 && !haveHost:
		return 0, errBadRequest
	case haveTE && (haveCL || r.minor == 0):
		return 0, errBadRequest
	case haveTE && !teChunked:
		return 0, errNotImplemented
	}
	r.chunked = teChunked
	if r.uriHost != nil {
		// An absolute-form target overrides Host (RFC 9112 §3.2.2).
		r.host = r.uriHost
	}
	if r.minor == 0 {
		r.close = !keepAliveTok
		r.keepAlive10 = keepAliveTok
	} else {
		r.close = closeTok
		if upgradeTok && len(upgradeVal) > 0 {
			r.upgrade = upgradeVal
		}
	}
	return pos, nil
}

// nextLine returns the line starting at pos without its terminator (LF or
// CRLF) and the position after it. A CR anywhere else is refused.
func nextLine(b []byte, pos, limit int) (line []byte, next int, err error) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		if len(b)-pos > limit {
			return nil, 0, errBadRequest
		}
		return nil, 0, errIncomplete
	}
	line = b[pos : pos+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > limit || bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, errBadRequest
	}
	return line, pos + i + 1, nil
}

func (r *request) parseRequestLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errBadRequest
	}
	r.method = line[:sp]
	if !isToken(r.method) {
		return errBadRequest
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return errBadRequest
	}
	target, version := rest[:sp], rest[sp+1:]
	switch string(version) {
	case "HTTP/1.1":
		r.minor = 1
	case "HTTP/1.0":
		r.minor = 0
	default:
		return errBadRequest
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errBadRequest
		}
	}
	switch {
	case target[0] == '/':
		r.uri = target
	case len(target) == 1 && target[0] == '*':
		if string(r.method) != "OPTIONS" {
			return errBadRequest
		}
		r.uri = target
		r.path = nil
		return nil
	case hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://"):
		// Absolute form: the authority becomes the Host; the rest, which
		// must be empty or start with '/' or '?', is sent in origin form.
		auth := target[bytes.IndexByte(target, '/')+2:]
		end := bytes.IndexAny(auth, "/?")
		if end < 0 {
			end = len(auth)
		}
		if end == 0 || bytes.IndexByte(auth[:end], '@') >= 0 {
			return errBadRequest
		}
		r.uriHost = auth[:end]
		r.uri = auth[end:]
		if len(r.uri) == 0 || r.uri[0] != '/' {
			r.needSlash = true
		}
	default:
		// CONNECT's authority form and anything else: ALB serves neither.
		return errBadRequest
	}
	r.path = r.uri
	if q := bytes.IndexByte(r.uri, '?'); q >= 0 {
		r.path, r.query, r.hasQuery = r.uri[:q], r.uri[q+1:], true
	}
	// A fragment is not part of a request target; drop it rather than
	// forward what the target may read differently.
	if f := bytes.IndexByte(r.path, '#'); f >= 0 {
		r.path, r.query, r.hasQuery = r.path[:f], nil, false
	} else if f := bytes.IndexByte(r.query, '#'); f >= 0 {
		r.query = r.query[:f]
	}
	return nil
}

// parseLength reads a Content-Length value: decimal digits only, so that
// "+1", "1 ", "0x1" and "1,1" are all refused.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokenChars marks the tchar of RFC 9110 §5.6.2.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validValue refuses control characters other than HT, as net/http does.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// forEachToken calls f with each non-empty element of a comma-separated list.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var tok []byte
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+1:]
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			f(tok)
		}
	}
}

// equalFold compares b with an ASCII s case-insensitively.
func equalFold[S ~string | ~[]byte](b S, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

// cookieValue returns the value of the named cookie in the request's
// Cookie headers.
func (r *request) cookie(name string) []byte {
	for i := range r.headers {
		if !equalFold(r.headers[i].name, "cookie") {
			continue
		}
		v := r.headers[i].value
		for len(v) > 0 {
			var pair []byte
			if j := bytes.IndexByte(v, ';'); j >= 0 {
				pair, v = v[:j], v[j+1:]
			} else {
				pair, v = v, nil
			}
			pair = trimOWS(pair)
			if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
				val := pair[len(name)+1:]
				if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
					val = val[1 : len(val)-1]
				}
				return val
			}
		}
	}
	return nil
}
