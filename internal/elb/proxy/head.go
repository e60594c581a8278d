package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
)

// respHead is what the forwarding path needs from a target's response head.
// The head itself is copied line by line into the client's output buffer,
// without a Response or a header map.
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

// readHead reads a response head and appends it to out for the client: an
// HTTP/1.1 status line and the end-to-end header lines. Framing and
// hop-by-hop headers (Content-Length, Transfer-Encoding, Connection, ...)
// are left for the caller to write. Interim 1xx responses other than 101
// are skipped. On error out is returned as it was.
func readHead(br *bufio.Reader, out []byte) ([]byte, respHead, error) {
	mark := len(out)
	for {
		var rh respHead
		var err error
		out, rh, err = readOneHead(br, out)
		if err != nil {
			return out[:mark], rh, err
		}
		if rh.code >= 100 && rh.code < 200 && rh.code != http.StatusSwitchingProtocols {
			out = out[:mark]
			continue
		}
		return out, rh, nil
	}
}

func readOneHead(br *bufio.Reader, out []byte) ([]byte, respHead, error) {
	rh := respHead{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return out, rh, err
	}
	// "HTTP/1.1 200 OK"
	line = trimEOL(line)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') || !validValue(line) {
		return out, rh, fmt.Errorf("%w: status line %q", errBadHead, line)
	}
	http10 := line[7] == '0'
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return out, rh, fmt.Errorf("%w: status line %q", errBadHead, line)
		}
		code = code*10 + int(c-'0')
	}
	rh.code = code
	rh.close = http10
	out = append(out, "HTTP/1.1 "...)
	if len(line) > 13 {
		out = append(out, line[9:]...)
	} else {
		out = append(out, line[9:12]...)
		out = append(out, ' ')
		out = append(out, statusText(code)...)
	}
	out = append(out, "\r\n"...)
	n := len(line)
	var keepAlive bool
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return out, rh, fmt.Errorf("%w: header line too long", errBadHead)
			}
			return out, rh, err
		}
		if n += len(line); n > maxHeadBytes {
			return out, rh, fmt.Errorf("%w: head too large", errBadHead)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !isToken(line[:i]) {
			return out, rh, fmt.Errorf("%w: header line %q", errBadHead, line)
		}
		name := line[:i]
		val := trimOWS(line[i+1:])
		if !validValue(val) {
			return out, rh, fmt.Errorf("%w: header line %q", errBadHead, line)
		}
		switch len(name) {
		case 2:
			if equalFold(name, "te") {
				continue
			}
		case 7:
			if equalFold(name, "upgrade") {
				rh.upgrade = string(val)
				continue
			}
			if equalFold(name, "trailer") {
				continue
			}
		case 10:
			if equalFold(name, "connection") {
				forEachToken(val, func(tok []byte) {
					rh.close = rh.close || equalFold(tok, "close")
					keepAlive = keepAlive || equalFold(tok, "keep-alive")
				})
				continue
			}
			if equalFold(name, "keep-alive") {
				continue
			}
		case 14:
			if equalFold(name, "content-length") {
				cl, ok := parseLength(val)
				if !ok || (rh.contentLength >= 0 && rh.contentLength != cl) {
					return out, rh, fmt.Errorf("%w: Content-Length %q", errBadHead, val)
				}
				rh.contentLength = cl
				continue
			}
		case 16:
			if equalFold(name, "proxy-connection") {
				continue
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				forEachToken(val, func(tok []byte) {
					rh.chunked = rh.chunked || equalFold(tok, "chunked")
				})
				continue
			}
		}
		out = append(out, name...)
		out = append(out, ": "...)
		out = append(out, val...)
		out = append(out, "\r\n"...)
	}
	if http10 && keepAlive {
		rh.close = false
	}
	if rh.chunked {
		// A chunked body's length is the chunks', whatever Content-Length says.
		rh.contentLength = -1
	}
	return out, rh, nil
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

// hasBody reports whether a response with this head has a body.
func (rh respHead) hasBody(isHead bool) bool {
	return !isHead && rh.code != http.StatusNoContent &&
		rh.code != http.StatusNotModified && rh.code >= 200
}

// bodyReader returns a reader of exactly the response body. For a body that
// runs until the target closes, rh.close is already true.
func (rh *respHead) bodyReader(br *bufio.Reader, isHead bool) io.Reader {
	switch {
	case !rh.hasBody(isHead):
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
