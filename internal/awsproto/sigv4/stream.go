package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/cutover/cutover/internal/awsproto"
)

// StreamSeed is what the chunk signatures of an aws-chunked upload
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) chain from: the signing
// key, date and scope of the request, and the request's own signature as
// the first "previous signature". The router verifies only the headers;
// the service reading the body checks each chunk with this.
type StreamSeed struct {
	Key       [sha256.Size]byte
	AmzDate   string
	Scope     string // day/region/service/aws4_request
	Signature string // the seed signature, lower-case hex
}

// StreamSeed returns the seed of a header-signed request. It repeats the
// parsing and key lookup Verify did rather than keeping per-request state
// in the Verifier, so it must only be called after Verify accepted r.
func (v *Verifier) StreamSeed(r *http.Request) (StreamSeed, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return StreamSeed{}, authErr(awsproto.AuthIncomplete, "streaming uploads must be signed with the Authorization header")
	}
	sr, err := parseHeaderForm(r, auth)
	if err != nil {
		return StreamSeed{}, err
	}
	cred, ok := v.keys.Lookup(sr.scope.accessKey)
	if !ok {
		return StreamSeed{}, authErr(awsproto.AuthUnknownKey, "The security token included in the request is invalid.")
	}
	return StreamSeed{
		Key:       v.cache.signingKey(sr.scope, cred.SecretAccessKey),
		AmzDate:   sr.amzDate,
		Scope:     sr.scope.String(),
		Signature: sr.signature,
	}, nil
}

// emptySHA256 is the hex SHA-256 of nothing; chunk string-to-signs carry it
// where a normal request would hash its (absent) headers.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// ChunkSignature is the signature of one chunk whose data hashes to
// chunkSHA256, chained from prev (the seed or the previous chunk's signature).
func (s StreamSeed) ChunkSignature(prev string, chunkSHA256 []byte) string {
	m := hmac.New(sha256.New, s.Key[:])
	m.Write([]byte("AWS4-HMAC-SHA256-PAYLOAD\n" + s.AmzDate + "\n" + s.Scope + "\n" + prev + "\n" + emptySHA256 + "\n"))
	m.Write([]byte(hex.EncodeToString(chunkSHA256)))
	return hex.EncodeToString(m.Sum(nil))
}

// TrailerSignature is the signature of the trailing headers of a
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER upload; trailer is the
// headers as sent, each "name:value\n", without x-amz-trailer-signature.
func (s StreamSeed) TrailerSignature(prev string, trailer []byte) string {
	h := sha256.Sum256(trailer)
	m := hmac.New(sha256.New, s.Key[:])
	m.Write([]byte("AWS4-HMAC-SHA256-TRAILER\n" + s.AmzDate + "\n" + s.Scope + "\n" + prev + "\n"))
	m.Write([]byte(hex.EncodeToString(h[:])))
	return hex.EncodeToString(m.Sum(nil))
}
