package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// appendCanonicalRequest appends the SigV4 canonical request:
//
//	METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
func appendCanonicalRequest(buf []byte, r *http.Request, sr *sigRequest, payloadHash string, doubleEncode bool) []byte {
	buf = append(buf, r.Method...)
	buf = append(buf, '\n')
	buf = appendCanonicalURI(buf, r.URL.EscapedPath(), doubleEncode)
	buf = append(buf, '\n')
	buf = appendCanonicalQuery(buf, r.URL.RawQuery, sr.presigned)
	buf = append(buf, '\n')
	signed := sr.signedHeaders
	for signed != "" {
		var name string
		name, signed, _ = strings.Cut(signed, ";")
		buf = append(buf, name...)
		buf = append(buf, ':')
		buf = appendHeaderValue(buf, r, name)
		buf = append(buf, '\n')
	}
	buf = append(buf, '\n')
	buf = append(buf, sr.signedHeaders...)
	buf = append(buf, '\n')
	buf = append(buf, payloadHash...)
	return buf
}

// appendCanonicalURI encodes each path segment the way AWS's UriEncode
// does. Segments are decoded first so that a client which escaped more or
// less than strictly needed on the wire still matches what its signer
// computed from the unescaped path. Services other than S3 encode the
// result a second time, which turns every '%' into "%25".
func appendCanonicalURI(buf []byte, escapedPath string, double bool) []byte {
	if escapedPath == "" || escapedPath == "/" {
		return append(buf, '/')
	}
	if escapedPath[0] != '/' {
		buf = append(buf, '/')
	}
	first := true
	for p := escapedPath; ; {
		seg, rest, more := strings.Cut(p, "/")
		if !first {
			buf = append(buf, '/')
		}
		first = false
		if strings.IndexByte(seg, '%') >= 0 {
			if dec, err := url.PathUnescape(seg); err == nil {
				seg = dec
			}
		}
		buf = appendURIEncode(buf, seg, double)
		if !more {
			break
		}
		p = rest
	}
	return buf
}

const hexUpper = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendURIEncode is AWS's UriEncode: everything but the unreserved set as
// %XX with upper-case hex; double encodes the '%' itself once more.
func appendURIEncode(buf []byte, s string, double bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%')
		if double {
			buf = append(buf, '2', '5')
		}
		buf = append(buf, hexUpper[c>>4], hexUpper[c&15])
	}
	return buf
}

type queryPair struct{ k, v string }

// appendCanonicalQuery sorts the parameters by encoded name, then value,
// each re-encoded with UriEncode. A presigned request's own signature is
// not part of what was signed.
func appendCanonicalQuery(buf []byte, rawQuery string, presigned bool) []byte {
	if rawQuery == "" {
		return buf
	}
	pairs := make([]queryPair, 0, 8)
	for q := rawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = reencode(k), reencode(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, queryPair{k, v})
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			buf = append(buf, '&')
		}
		buf = append(buf, p.k...)
		buf = append(buf, '=')
		buf = append(buf, p.v...)
	}
	return buf
}

// reencode turns one wire-encoded query component into its UriEncode form.
func reencode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	if dec, err := url.QueryUnescape(s); err == nil {
		s = dec
	}
	return string(appendURIEncode(make([]byte, 0, len(s)+8), s, false))
}

// appendHeaderValue appends the canonical value of one signed header: all
// its values, each trimmed with inner runs of spaces collapsed, joined by
// commas.
func appendHeaderValue(buf []byte, r *http.Request, name string) []byte {
	if name == "host" {
		return appendTrimmed(buf, r.Host)
	}
	vals := headerValues(r.Header, name)
	if vals == nil && name == "content-length" && r.ContentLength >= 0 {
		return strconv.AppendInt(buf, r.ContentLength, 10)
	}
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendTrimmed(buf, v)
	}
	return buf
}

// headerValues finds a header by its lower-case name. Building the
// canonical key in a stack buffer and indexing with string(b) lets the
// compiler skip the allocation CanonicalMIMEHeaderKey would make.
func headerValues(h http.Header, lower string) []string {
	var arr [64]byte
	if len(lower) <= len(arr) {
		b := arr[:len(lower)]
		upper := true
		for i := 0; i < len(lower); i++ {
			c := lower[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(b)]; ok {
			return v
		}
	}
	// Keys Go did not canonicalise (odd characters) are stored as sent.
	for k, v := range h {
		if strings.EqualFold(k, lower) {
			return v
		}
	}
	return nil
}

func appendTrimmed(buf []byte, s string) []byte {
	s = strings.Trim(s, " \t")
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		buf = append(buf, c)
	}
	return buf
}
