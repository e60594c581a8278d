package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto/sigv4"
)

// The x-amz-content-sha256 values that announce an aws-chunked body.
const (
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	unsignedPayload        = "UNSIGNED-PAYLOAD"
)

// maxObjectSize is S3's limit for one PUT (and one part).
const maxObjectSize = 5 << 30

// SeedSource gives the seed of a verified request's chunk signatures;
// *sigv4.Verifier implements it.
type SeedSource interface {
	StreamSeed(r *http.Request) (sigv4.StreamSeed, error)
}

// payload reads an upload's bytes as the client meant them (aws-chunked
// framing removed) while hashing them; finish checks every digest the
// client declared. Nothing read is trusted until finish returns nil.
type payload struct {
	r        io.Reader
	n        int64 // decoded bytes read so far
	want     int64 // declared decoded length
	md5      hash.Hash
	sha      hash.Hash // nil unless the payload hash is a real digest
	shaWant  string
	md5Want  []byte
	sums     []*checksumWant
	chunks   *chunkReader
	hashes   io.Writer
	finished bool
}

// openPayload prepares to read r's body. It refuses, before reading, what
// can be refused from the headers alone.
func (s *Service) openPayload(r *http.Request) (*payload, error) {
	p := &payload{md5: md5.New()}
	if v := r.Header.Get("Content-Md5"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != md5.Size {
			return nil, errInvalidMD5
		}
		p.md5Want = b
	}
	sums, err := requestedChecksums(r.Header)
	if err != nil {
		return nil, err
	}
	p.sums = sums

	mode := r.Header.Get("X-Amz-Content-Sha256")
	switch mode {
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrail:
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		if dl == "" {
			return nil, errNoLength
		}
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return nil, errInvalidArgument("x-amz-decoded-content-length is not a valid length")
		}
		p.want = n
		cr := &chunkReader{br: bufio.NewReaderSize(r.Body, 64<<10), trailer: mode != streamingSigned}
		if mode != streamingUnsignedTrail {
			if s.seeds == nil {
				return nil, errNotImpl
			}
			seed, err := s.seeds.StreamSeed(r)
			if err != nil {
				return nil, errChunkSig
			}
			cr.seed, cr.prev = &seed, seed.Signature
			cr.chunkHash = sha256.New()
		}
		p.chunks, p.r = cr, cr
	case "", unsignedPayload:
		if r.ContentLength < 0 {
			return nil, errNoLength
		}
		p.want, p.r = r.ContentLength, r.Body
	default:
		if len(mode) != 64 {
			return nil, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
		}
		if _, err := hex.DecodeString(mode); err != nil {
			return nil, errInvalidArgument("x-amz-content-sha256 must be a valid sha256 value.")
		}
		if r.ContentLength < 0 {
			return nil, errNoLength
		}
		p.sha, p.shaWant = sha256.New(), strings.ToLower(mode)
		p.want, p.r = r.ContentLength, r.Body
	}
	if p.want > maxObjectSize {
		return nil, errTooLarge
	}
	ws := []io.Writer{p.md5}
	if p.sha != nil {
		ws = append(ws, p.sha)
	}
	for _, c := range p.sums {
		ws = append(ws, c.h)
	}
	p.hashes = io.MultiWriter(ws...)
	return p, nil
}

// Read returns decoded bytes, never more than the declared length, so a
// client cannot store more than it announced.
func (p *payload) Read(b []byte) (int, error) {
	if left := p.want - p.n; int64(len(b)) > left+1 {
		// One byte past the declared length is enough to notice a body
		// that is longer than it said.
		b = b[:left+1]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n > p.want {
		return 0, errIncomplete
	}
	p.hashes.Write(b[:n])
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errIncomplete
	}
	return n, err
}

// finish checks the length and every declared digest once the body has
// been read to its end.
func (p *payload) finish() error {
	if p.n != p.want {
		return errIncomplete
	}
	if p.sha != nil && hex.EncodeToString(p.sha.Sum(nil)) != p.shaWant {
		return errSHAMismatch
	}
	if p.md5Want != nil && !bytes.Equal(p.md5.Sum(nil), p.md5Want) {
		return errBadDigest
	}
	for _, c := range p.sums {
		if c.inTrailer {
			v := ""
			if p.chunks != nil {
				v = p.chunks.trailers[c.alg.header]
			}
			if v == "" || !c.alg.validValue(v) {
				return errInvalidRequest("Value for " + c.alg.header + " trailing header is invalid.")
			}
			c.expected = v
		}
		if c.expected != "" && subtle.ConstantTimeCompare([]byte(b64(c.h)), []byte(c.expected)) != 1 {
			return errf(400, "BadDigest", "The "+c.alg.Name+" you specified did not match the calculated checksum.")
		}
	}
	p.finished = true
	return nil
}

// etag is the hex MD5 of the bytes read.
func (p *payload) etag() string { return hex.EncodeToString(p.md5.Sum(nil)) }

// checksums returns every computed checksum by algorithm name.
func (p *payload) checksums() map[string]string {
	if len(p.sums) == 0 {
		return nil
	}
	m := make(map[string]string, len(p.sums))
	for _, c := range p.sums {
		m[c.alg.Name] = b64(c.h)
	}
	return m
}

// chunkReader decodes aws-chunked framing:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n [trailers\r\n] \r\n
//
// With a seed every chunk's signature is checked, chained from the
// previous one, when the chunk ends; the final zero-length chunk's too.
type chunkReader struct {
	br        *bufio.Reader
	seed      *sigv4.StreamSeed
	prev      string
	trailer   bool
	chunkHash hash.Hash
	chunkSig  string
	left      int64 // bytes of the current chunk not yet read
	inChunk   bool
	done      bool
	trailers  map[string]string
}

const maxChunkLine = 4096

func (c *chunkReader) Read(b []byte) (int, error) {
	for !c.done && c.left == 0 {
		if c.inChunk {
			if err := c.endChunk(); err != nil {
				return 0, err
			}
		}
		if err := c.startChunk(); err != nil {
			return 0, err
		}
	}
	if c.done {
		return 0, io.EOF
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.br.Read(b)
	c.left -= int64(n)
	if c.chunkHash != nil {
		c.chunkHash.Write(b[:n])
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *chunkReader) line() (string, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errInvalidRequest("aws-chunked line too long")
		}
		return "", errIncomplete
	}
	if len(l) > maxChunkLine {
		return "", errInvalidRequest("aws-chunked line too long")
	}
	return strings.TrimRight(string(l), "\r\n"), nil
}

func (c *chunkReader) startChunk() error {
	l, err := c.line()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(l, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 || size > maxObjectSize {
		return errInvalidRequest("invalid aws-chunked chunk size")
	}
	if c.seed != nil {
		sig, ok := strings.CutPrefix(strings.TrimSpace(ext), "chunk-signature=")
		if !ok {
			return errChunkSig
		}
		c.chunkSig = sig
		c.chunkHash.Reset()
	}
	c.left, c.inChunk = size, true
	if size == 0 {
		if err := c.checkChunkSig(); err != nil {
			return err
		}
		c.inChunk, c.done = false, true
		return c.readTrailers()
	}
	return nil
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkReader) endChunk() error {
	l, err := c.line()
	if err != nil {
		return err
	}
	if l != "" {
		return errInvalidRequest("aws-chunked chunk longer than its size")
	}
	c.inChunk = false
	return c.checkChunkSig()
}

func (c *chunkReader) checkChunkSig() error {
	if c.seed == nil {
		return nil
	}
	want := c.seed.ChunkSignature(c.prev, c.chunkHash.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.chunkSig)) != 1 {
		return errChunkSig
	}
	c.prev = c.chunkSig
	return nil
}

// readTrailers reads the header lines after the final chunk up to the
// empty line. In the signed form the trailer signature covers the other
// lines, each as "name:value\n".
func (c *chunkReader) readTrailers() error {
	c.trailers = map[string]string{}
	var canon bytes.Buffer
	sig := ""
	for i := 0; ; i++ {
		if i > 16 {
			return errInvalidRequest("too many trailing headers")
		}
		l, err := c.line()
		if err != nil {
			if !c.trailer && i == 0 {
				// Some clients end the body right after the final chunk.
				return nil
			}
			return err
		}
		if l == "" {
			break
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			return errInvalidRequest("malformed trailing header")
		}
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		if name == "x-amz-trailer-signature" {
			sig = val
			continue
		}
		c.trailers[name] = val
		fmt.Fprintf(&canon, "%s:%s\n", name, val)
	}
	if c.seed != nil && c.trailer {
		want := c.seed.TrailerSignature(c.prev, canon.Bytes())
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
			return errChunkSig
		}
	}
	return nil
}
