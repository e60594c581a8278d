package proxy

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// The ring data plane. On Linux with io_uring (ring_linux.go), HTTP client
// connections are served by a few ring loops, one per P, each on a locked
// thread: a loop reads a request, sends it to a pooled target connection,
// reads the response and sends it back without a goroutine switch, and
// many connections' socket operations share one io_uring_enter. On this
// kind of VM a system call costs a microsecond, as much as the rest of a
// request's user-space work, and the loops make about one per several
// requests where a goroutine per connection makes four or five.
//
// The loops serve the common case only: HTTP/1.1 requests without a body
// or with a small one that came with the head, and responses whose length
// is known or that are chunked. At the first request or response
// they do not serve, the connection (and its target connection, mid
// response) is handed to a goroutine of server.go with everything read so
// far, and stays there. So every feature of the goroutine path holds, and
// the loops only ever shorten it.

// ringBconn is a ring loop's connection to a target.
type ringBconn struct {
	fd     int
	buf    []byte // the response as it arrives
	n      int    // bytes in buf
	out    []byte // the request head
	sa     [28]byte
	saLen  uint32
	idleAt time.Time
}

const ringTargetBuf = 16 << 10

// chunkScanner decodes a chunked response body as a ring loop relays it,
// to find where it ends, and encodes it again for the client: the same
// chunks without extensions, and no trailer section, as the goroutine path
// sends them. It accepts exactly what the goroutine path accepts (Go's
// chunked decoder, then chunkedBody for the trailer section): CRLF after
// each size line and chunk, sizes of up to 16 hex digits, lines under
// 4 KiB, at most 16 KiB of framing beyond the data's allowance, trailer
// lines up to 8 KiB.
type chunkScanner struct {
	state  uint8
	left   uint64 // data bytes left in the current chunk
	line   []byte // the size or trailer line so far
	excess int64
}

const (
	chunkSize = iota
	chunkData
	chunkDataCR
	chunkDataLF
	chunkTrailer
)

var errChunkedBody = errors.New("malformed chunked body from target")

// scan decodes p, the next bytes from the target, appending what the
// client gets to dst. used is how many bytes of p belong to the body;
// done is set once the body ended (bytes of p after used are not its).
func (s *chunkScanner) scan(dst, p []byte) (out []byte, used int, done bool, err error) {
	r := 0
	for r < len(p) {
		switch s.state {
		case chunkData:
			k := int(min(uint64(len(p)-r), s.left))
			dst = append(dst, p[r:r+k]...)
			r += k
			if s.left -= uint64(k); s.left == 0 {
				s.state = chunkDataCR
			}
		case chunkDataCR, chunkDataLF:
			want, next := byte('\r'), uint8(chunkDataLF)
			if s.state == chunkDataLF {
				want, next = '\n', chunkSize
			}
			if p[r] != want {
				return dst, r, false, errChunkedBody
			}
			dst = append(dst, want)
			r++
			s.state = next
		case chunkSize, chunkTrailer:
			limit := maxChunkLine + 1 // with its CRLF, under maxChunkLine without
			if s.state == chunkTrailer {
				limit = targetReadBuf
			}
			i := bytes.IndexByte(p[r:], '\n')
			end := len(p)
			if i >= 0 {
				end = r + i + 1
			}
			if len(s.line)+end-r > limit {
				return dst, r, false, errChunkedBody
			}
			s.line = append(s.line, p[r:end]...)
			r = end
			if i < 0 {
				continue
			}
			if s.state == chunkTrailer {
				empty := len(trimEOL(s.line)) == 0
				s.line = s.line[:0]
				if empty {
					return append(dst, "0\r\n\r\n"...), r, true, nil
				}
				continue
			}
			n, ok := s.sizeLine()
			s.line = s.line[:0]
			if !ok {
				return dst, r, false, errChunkedBody
			}
			if n == 0 {
				s.state = chunkTrailer
				continue
			}
			dst = strconv.AppendUint(dst, n, 16)
			dst = append(dst, "\r\n"...)
			s.left, s.state = n, chunkData
		}
	}
	return dst, r, false, nil
}

// eof ends the body when the target closes the connection: only in the
// trailer section is that an end (as for chunkedBody, which takes the close
// as the end of the trailers), and the client gets the last chunk.
func (s *chunkScanner) eof(dst []byte) ([]byte, bool) {
	if s.state != chunkTrailer {
		return dst, false
	}
	return append(dst, "0\r\n\r\n"...), true
}

// sizeLine parses s.line, a chunk-size line with its CRLF, as Go's
// chunked decoder does (up to 16 digits, extensions unchecked): not
// parseChunkSize, the stricter rule for what clients send.
func (s *chunkScanner) sizeLine() (uint64, bool) {
	line := s.line
	if i := bytes.IndexByte(line, '\r'); i < 0 || i != len(line)-2 {
		return 0, false // a bare LF, or a CR inside the line
	}
	line = line[:len(line)-2]
	if len(line) >= maxChunkLine {
		return 0, false
	}
	s.excess += int64(len(line)) + 2
	line = bytes.TrimRight(line, " \t\r\n")
	line, _, _ = bytes.Cut(line, []byte(";"))
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	s.excess = max(s.excess-16-2*int64(min(n, 1<<40)), 0)
	return n, s.excess <= 16<<10
}
