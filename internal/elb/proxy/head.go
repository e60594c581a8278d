package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
)

// respHead is what the forwarding path needs from a target's response head.
// Parsing it here instead of with http.ReadResponse avoids a Response, a
// second header map and textproto's allocations for every request: header
// lines go straight into the client's header map.
type respHead struct {
	code          int
	contentLength int64 // -1 when unknown
	chunked       bool
	close         bool   // the target will close the connection after this response
	upgrade       string // Upgrade value of a 101
}

var errBadHead = errors.New("malformed response head from target")

// maxHeadBytes bounds a response head, as http.Transport does by default.
const maxHeadBytes = 1 << 20

// readHead reads a response head into h, skipping interim 1xx responses
// other than 101, and dropping hop-by-hop headers.
func readHead(br *bufio.Reader, h http.Header) (respHead, error) {
	for {
		rh, err := readOneHead(br, h)
		if err != nil {
			return rh, err
		}
		if rh.code >= 100 && rh.code < 200 && rh.code != http.StatusSwitchingProtocols {
			clear(h)
			continue
		}
		return rh, nil
	}
}

func readOneHead(br *bufio.Reader, h http.Header) (respHead, error) {
	rh := respHead{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return rh, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return rh, fmt.Errorf("%w: status line %q", errBadHead, line)
	}
	http10 := line[7] == '0'
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return rh, fmt.Errorf("%w: status line %q", errBadHead, line)
		}
		code = code*10 + int(c-'0')
	}
	rh.code = code
	rh.close = http10
	n := len(line)
	var keepAlive bool
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return rh, fmt.Errorf("%w: header line too long", errBadHead)
			}
			return rh, err
		}
		if n += len(line); n > maxHeadBytes {
			return rh, fmt.Errorf("%w: head too large", errBadHead)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return rh, fmt.Errorf("%w: header line %q", errBadHead, line)
		}
		key := canonicalKey(line[:i])
		val := string(bytes.TrimSpace(line[i+1:]))
		switch key {
		case "Content-Length":
			cl, err := strconv.ParseInt(val, 10, 64)
			if err != nil || cl < 0 || (rh.contentLength >= 0 && rh.contentLength != cl) {
				return rh, fmt.Errorf("%w: Content-Length %q", errBadHead, val)
			}
			rh.contentLength = cl
		case "Transfer-Encoding":
			if hasToken(headerTokens([]string{val}), "chunked") {
				rh.chunked = true
			}
			continue
		case "Connection":
			toks := headerTokens([]string{val})
			rh.close = rh.close || hasToken(toks, "close")
			keepAlive = keepAlive || hasToken(toks, "keep-alive")
			continue
		case "Upgrade":
			rh.upgrade = val
			continue
		case "Keep-Alive", "Proxy-Connection", "Te", "Trailer":
			continue
		}
		h[key] = append(h[key], val)
	}
	if http10 && keepAlive {
		rh.close = false
	}
	if rh.chunked {
		// A chunked body's length is the chunks', whatever Content-Length says.
		delete(h, "Content-Length")
		rh.contentLength = -1
	}
	return rh, nil
}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// canonicalKey returns the canonical form of a header name; the common
// names are matched without allocating.
func canonicalKey(b []byte) string {
	switch string(b) {
	case "Content-Type", "content-type":
		return "Content-Type"
	case "Content-Length", "content-length":
		return "Content-Length"
	case "Date", "date":
		return "Date"
	case "Server", "server":
		return "Server"
	case "Connection", "connection":
		return "Connection"
	case "Transfer-Encoding", "transfer-encoding":
		return "Transfer-Encoding"
	case "Cache-Control", "cache-control":
		return "Cache-Control"
	case "Set-Cookie", "set-cookie":
		return "Set-Cookie"
	case "Location", "location":
		return "Location"
	case "Etag", "ETag", "etag":
		return "Etag"
	case "Last-Modified", "last-modified":
		return "Last-Modified"
	case "Vary", "vary":
		return "Vary"
	case "Keep-Alive", "keep-alive":
		return "Keep-Alive"
	case "Upgrade", "upgrade":
		return "Upgrade"
	}
	return textproto.CanonicalMIMEHeaderKey(string(b))
}

// hasBody reports whether a response to method with this head has a body.
func (rh respHead) hasBody(method string) bool {
	return method != http.MethodHead && rh.code != http.StatusNoContent &&
		rh.code != http.StatusNotModified && rh.code >= 200
}

// bodyReader returns a reader of exactly the response body. For a body that
// runs until the target closes, rh.close is already true.
func (rh *respHead) bodyReader(br *bufio.Reader, method string) io.Reader {
	switch {
	case !rh.hasBody(method):
		return http.NoBody
	case rh.chunked:
		return &chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
	case rh.contentLength >= 0:
		return &lengthBody{br: br, n: rh.contentLength}
	default:
		rh.close = true
		return br
	}
}

// chunkedBody reads a chunked body and then the trailer section, so the
// connection is positioned at the next response when it reports EOF.
type chunkedBody struct {
	br *bufio.Reader
	r  io.Reader
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		for {
			line, lerr := c.br.ReadSlice('\n')
			if lerr != nil {
				return n, lerr
			}
			if len(trimEOL(line)) == 0 {
				break
			}
		}
	}
	return n, err
}

// lengthBody reads a body of known length; a target that closes early is
// an error, not an end, so the truncated connection is not reused.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (l *lengthBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.br.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if l.n == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}
