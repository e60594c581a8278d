package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// checksumAlg is one of S3's additional checksums (x-amz-checksum-*).
type checksumAlg struct {
	Name   string // as in x-amz-sdk-checksum-algorithm: CRC32, CRC32C, ...
	header string // x-amz-checksum-crc32, ...
	size   int    // digest length in bytes
	new    func() hash.Hash
}

// crc64NVME is CRC-64/NVME in Go's reflected form (the polynomial
// 0xad93d23594c93659 bit-reversed); crc64's init and final inversion match
// the algorithm's parameters.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

var checksumAlgs = []checksumAlg{
	{"CRC32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"CRC32C", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	{"CRC64NVME", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64.New(crc64NVME) }},
	{"SHA1", "x-amz-checksum-sha1", sha1.Size, sha1.New},
	{"SHA256", "x-amz-checksum-sha256", sha256.Size, sha256.New},
}

func algByName(name string) *checksumAlg {
	for i := range checksumAlgs {
		if strings.EqualFold(checksumAlgs[i].Name, name) {
			return &checksumAlgs[i]
		}
	}
	return nil
}

func algByHeader(h string) *checksumAlg {
	for i := range checksumAlgs {
		if strings.EqualFold(checksumAlgs[i].header, h) {
			return &checksumAlgs[i]
		}
	}
	return nil
}

// validValue reports whether v is the base64 of a digest of this algorithm.
func (a *checksumAlg) validValue(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == a.size
}

// checksumWant is one checksum the upload asked for: its expected value
// when the client sent one (header now, or trailer later), and the hash
// computing it.
type checksumWant struct {
	alg       *checksumAlg
	expected  string
	inTrailer bool
	h         hash.Hash
}

// requestedChecksums reads which checksums a request carries or announces.
// A malformed value is refused before any byte is stored.
func requestedChecksums(h http.Header) ([]*checksumWant, error) {
	var out []*checksumWant
	seen := map[string]bool{}
	for i := range checksumAlgs {
		a := &checksumAlgs[i]
		if v := h.Get(a.header); v != "" {
			if !a.validValue(v) {
				return nil, errInvalidRequest("Value for " + a.header + " header is invalid.")
			}
			out = append(out, &checksumWant{alg: a, expected: v, h: a.new()})
			seen[a.Name] = true
		}
	}
	for _, t := range strings.Split(h.Get("X-Amz-Trailer"), ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		a := algByHeader(t)
		if a == nil {
			return nil, errInvalidRequest("The value specified in the x-amz-trailer header is not supported")
		}
		if !seen[a.Name] {
			out = append(out, &checksumWant{alg: a, inTrailer: true, h: a.new()})
			seen[a.Name] = true
		}
	}
	if n := h.Get("X-Amz-Sdk-Checksum-Algorithm"); n != "" {
		a := algByName(n)
		if a == nil {
			return nil, errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		if !seen[a.Name] {
			out = append(out, &checksumWant{alg: a, h: a.new()})
		}
	}
	return out, nil
}

func b64(h hash.Hash) string { return base64.StdEncoding.EncodeToString(h.Sum(nil)) }
