package s3

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunkedBody builds an aws-chunked body. With a seed, chunks are signed
// in a chain from it (and the trailer too, when there is one); tamper
// edits the encoded chunk data after signing.
type chunkedBody struct {
	data      []byte
	chunk     int
	seed      string // "" for unsigned chunks
	amzDate   string
	trailer   string // "name:value" or ""
	trailerOK bool   // sign the trailer correctly
}

func chunkSig(day, amzDate, prev string, data []byte) string {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + day + "/" + testRegion + "/s3/aws4_request\n" + prev + "\n" +
		sha256hex(nil) + "\n" + sha256hex(data)
	m := hmac.New(sha256.New, signingKey(day))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

func (c chunkedBody) encode() []byte {
	var b bytes.Buffer
	prev := c.seed
	day := ""
	if len(c.amzDate) >= 8 {
		day = c.amzDate[:8]
	}
	write := func(p []byte) {
		fmt.Fprintf(&b, "%x", len(p))
		if c.seed != "" {
			sig := chunkSig(day, c.amzDate, prev, p)
			fmt.Fprintf(&b, ";chunk-signature=%s", sig)
			prev = sig
		}
		b.WriteString("\r\n")
		b.Write(p)
		if len(p) > 0 {
			b.WriteString("\r\n")
		}
	}
	for i := 0; i < len(c.data); i += c.chunk {
		write(c.data[i:min(i+c.chunk, len(c.data))])
	}
	write(nil)
	if c.trailer != "" {
		b.WriteString(c.trailer + "\r\n")
		if c.seed != "" {
			sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.amzDate + "\n" + day + "/" + testRegion + "/s3/aws4_request\n" + prev + "\n" + sha256hex([]byte(c.trailer+"\n"))
			if !c.trailerOK {
				sts += "x"
			}
			m := hmac.New(sha256.New, signingKey(day))
			m.Write([]byte(sts))
			b.WriteString("x-amz-trailer-signature:" + hex.EncodeToString(m.Sum(nil)) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func crc32b64(b []byte) string {
	var s [4]byte
	v := crc32.ChecksumIEEE(b)
	s[0], s[1], s[2], s[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base64.StdEncoding.EncodeToString(s[:])
}

func TestAWSChunkedUploads(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	data := randomBytes(200<<10+17, 3)
	goodCRC := "x-amz-checksum-crc32:" + crc32b64(data)
	tests := []struct {
		name    string
		mode    string
		body    chunkedBody
		mutate  func([]byte) []byte
		decoded int
		hdr     map[string]string
		status  int
		code    string
	}{
		{name: "signed", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10}, status: 200},
		{name: "signed one chunk", mode: streamingSigned, body: chunkedBody{chunk: 1 << 20}, status: 200},
		{name: "tampered chunk", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10},
			mutate: func(b []byte) []byte { i := bytes.Index(b, []byte("\r\n")) + 10; b[i] ^= 1; return b }, status: 403, code: "SignatureDoesNotMatch"},
		{name: "swapped chunk signature", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10},
			mutate: func(b []byte) []byte {
				i := bytes.Index(b, []byte("chunk-signature=")) + 16
				b[i] = map[bool]byte{true: '1', false: '0'}[b[i] == '0']
				return b
			}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "truncated", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10},
			mutate: func(b []byte) []byte { return b[:len(b)/2] }, status: 400, code: "IncompleteBody"},
		{name: "decoded length too small", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10}, decoded: 1000, status: 400, code: "IncompleteBody"},
		{name: "decoded length too large", mode: streamingSigned, body: chunkedBody{chunk: 64 << 10}, decoded: len(data) + 1, status: 400, code: "IncompleteBody"},
		{name: "signed trailer", mode: streamingSignedTrailer, body: chunkedBody{chunk: 64 << 10, trailer: goodCRC, trailerOK: true},
			hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, status: 200},
		{name: "bad trailer signature", mode: streamingSignedTrailer, body: chunkedBody{chunk: 64 << 10, trailer: goodCRC},
			hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "unsigned trailer", mode: streamingUnsignedTrail, body: chunkedBody{chunk: 64 << 10, trailer: goodCRC},
			hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, status: 200},
		{name: "unsigned trailer wrong checksum", mode: streamingUnsignedTrail, body: chunkedBody{chunk: 64 << 10, trailer: "x-amz-checksum-crc32:AAAAAA=="},
			hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, status: 400, code: "BadDigest"},
		{name: "unsigned trailer missing", mode: streamingUnsignedTrail, body: chunkedBody{chunk: 64 << 10},
			hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, status: 400, code: "InvalidRequest"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "obj" + strconv.Itoa(i)
			req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/bkt/"+key, nil)
			req.Header.Set("Content-Encoding", "aws-chunked")
			decoded := len(data)
			if tt.decoded != 0 {
				decoded = tt.decoded
			}
			req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			now := time.Now()
			// The body's length is part of the signature, so it is
			// encoded once to learn it, then again with the seed.
			cb := tt.body
			cb.data, cb.amzDate = data, now.UTC().Format("20060102T150405Z")
			if tt.mode != streamingUnsignedTrail {
				cb.seed = strings.Repeat("0", 64)
			}
			req.ContentLength = int64(len(cb.encode()))
			if tt.name == "truncated" {
				// Send fewer bytes than announced, ending the body early
				// through chunked transfer encoding (so no signed length).
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			seed := signRequest(req, tt.mode, now)
			if tt.mode != streamingUnsignedTrail {
				cb.seed = seed
			}
			body := cb.encode()
			if tt.mutate != nil {
				body = tt.mutate(body)
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			if req.ContentLength >= 0 {
				req.ContentLength = int64(len(body))
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(rb), tt.code) {
				t.Fatalf("status %d: %s", resp.StatusCode, rb)
			}
			rc, info, err := e.svc.Open(context.Background(), "bkt", key, "")
			if tt.status != 200 {
				if err == nil {
					rc.Close()
					t.Fatal("refused upload was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) || info.Size != int64(len(data)) {
				t.Fatalf("stored %d bytes", len(got))
			}
			if tt.body.trailer != "" && info.Checksums["CRC32"] != crc32b64(data) {
				t.Fatalf("checksums %v", info.Checksums)
			}
		})
	}
	// Only the accepted uploads left files behind.
	ok := 0
	for _, tt := range tests {
		if tt.status == 200 {
			ok++
		}
	}
	e.assertBlobs(ok)
}
