package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

// decodeLikeGoroutinePath decodes a chunked body (and its trailer section)
// as the goroutine path does; rest is what follows it.
func decodeLikeGoroutinePath(in []byte) (data []byte, rest int, err error) {
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, targetReadBuf)
	data, err = io.ReadAll(&chunkedBody{br: br, r: httputil.NewChunkedReader(br)})
	if err != nil {
		return nil, 0, err
	}
	return data, br.Buffered() + r.Len(), nil
}

// scanInPieces runs a chunkScanner over in, fed in pieces of size step,
// the way a ring loop sees a body arrive.
func scanInPieces(in []byte, step int) (out []byte, used int, done bool, err error) {
	var s chunkScanner
	for off := 0; off < len(in) && !done; off += step {
		p := in[off:min(off+step, len(in))]
		var u int
		out, u, done, err = s.scan(out, p)
		used = off + u
		if err != nil {
			return out, used, false, err
		}
	}
	if !done {
		// The input ends as a target's connection closes.
		out, done = s.eof(out)
	}
	return out, used, done, nil
}

// checkChunkScanner holds the scanner to the goroutine path: it accepts
// the same bodies, ends them at the same byte, and what it sends the
// client decodes to the same data.
func checkChunkScanner(t *testing.T, in []byte) {
	t.Helper()
	want, rest, werr := decodeLikeGoroutinePath(in)
	for _, step := range []int{1, 3, 7, 64, len(in) + 1} {
		out, used, done, err := scanInPieces(in, max(step, 1))
		if werr != nil {
			if done && err == nil {
				t.Fatalf("step %d: %q accepted, the goroutine path says %v", step, in, werr)
			}
			continue
		}
		if err != nil || !done {
			t.Fatalf("step %d: %q: done %v, err %v; the goroutine path reads %q", step, in, done, err, want)
		}
		if used != len(in)-rest {
			t.Fatalf("step %d: %q: body ends at %d, want %d", step, in, used, len(in)-rest)
		}
		got, _, gerr := decodeLikeGoroutinePath(out)
		if gerr != nil || !bytes.Equal(got, want) {
			t.Fatalf("step %d: %q re-encoded as %q, which decodes to %q (%v), want %q", step, in, out, got, gerr, want)
		}
	}
}

func TestChunkScanner(t *testing.T) {
	for _, in := range []string{
		"0\r\n\r\n",
		"\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
		"5;ext=1\r\nhello\r\n0;x\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"A\r\n0123456789\r\n0\r\n\r\n",
		"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
		"5\r\nhello\r\n0\r\nX: 1\n\n",
		"5\nhello\r\n0\r\n\r\n",                   // bare LF after a size
		"5\r\nhelloXY0\r\n\r\n",                   // no CRLF after data
		"5\r\nhe\rlo\r\n0\r\n\r\n",                // a CR inside data is data
		"5\r\r\nhello\r\n0\r\n\r\n",               // CR inside a size line
		"\r\nhello\r\n0\r\n\r\n",                  // empty size
		"g\r\nhello\r\n0\r\n\r\n",                 // not hex
		"-5\r\nhello\r\n0\r\n\r\n",                // sign
		"00000000000000005\r\nhello\r\n0\r\n\r\n", // 17 digits
		"0000000000000005\r\nhello\r\n0\r\n\r\n",  // 16 digits
		"5\r\nhello\r\n",                          // cut short
		"1;" + strings.Repeat("e", 5000) + "\r\nx\r\n0\r\n\r\n",
		strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 20) + "0\r\n\r\n", // too much framing
		"0\r\n" + strings.Repeat("t", 9000) + "\r\n\r\n",                             // trailer line over 8 KiB
	} {
		checkChunkScanner(t, []byte(in))
	}
}

func FuzzChunkScanner(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("3;a=b\r\nabc\r\n0\r\nT: v\r\n\r\nrest"))
	f.Add([]byte("1\r\nx\r\n2\r\nyz\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkChunkScanner(t, in)
	})
}
