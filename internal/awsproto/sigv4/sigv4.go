// Package sigv4 verifies AWS Signature Version 4 on incoming requests, in
// both forms clients use: the Authorization header and the presigned query
// string. It implements awsproto.Verifier.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// Credential is one access key known to the server.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// ARN is the IAM identity the key acts as; empty for the root key.
	ARN string
	// Root keys may act for any identity.
	Root bool
}

// KeyStore finds the secret for an access key. Lookup is on the path of
// every request, so implementations must be cheap and safe for concurrent use.
type KeyStore interface {
	Lookup(accessKeyID string) (Credential, bool)
}

const (
	algorithm   = "AWS4-HMAC-SHA256"
	terminator  = "aws4_request"
	amzDateFmt  = "20060102T150405Z"
	scopeDayFmt = "20060102"
	// maxExpires is the longest presigned validity AWS accepts: a signing
	// key is only valid for seven days.
	maxExpires = 604800
)

// Verifier checks SigV4 signatures against a KeyStore.
type Verifier struct {
	keys   KeyStore
	region string
	clock  func() time.Time
	skew   time.Duration
	// singleEncode holds the signing names whose canonical URI is the path
	// encoded once; every other service encodes it a second time.
	singleEncode map[string]bool
	cache        keyCache
}

// Option adjusts a Verifier.
type Option func(*Verifier)

// WithSingleEncoding replaces the set of services whose canonical URI is not
// double-encoded (by default only "s3").
func WithSingleEncoding(services ...string) Option {
	return func(v *Verifier) {
		v.singleEncode = make(map[string]bool, len(services))
		for _, s := range services {
			v.singleEncode[s] = true
		}
	}
}

// WithMaxSkew changes the allowed distance between the request time and the
// clock (15 minutes by default, as AWS).
func WithMaxSkew(d time.Duration) Option {
	return func(v *Verifier) { v.skew = d }
}

// New returns a Verifier for requests scoped to region. clock may be nil
// (time.Now).
func New(keys KeyStore, region string, clock func() time.Time, opts ...Option) *Verifier {
	if clock == nil {
		clock = time.Now
	}
	v := &Verifier{
		keys:         keys,
		region:       region,
		clock:        clock,
		skew:         15 * time.Minute,
		singleEncode: map[string]bool{"s3": true},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

var _ awsproto.Verifier = (*Verifier)(nil)

// SigningService returns the service of the credential scope without
// validating anything else: the router calls it on every request before the
// body is read.
func (v *Verifier) SigningService(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		return serviceFromAuthorization(h)
	}
	cred, ok := rawQueryParam(r.URL.RawQuery, "X-Amz-Credential")
	if !ok {
		return ""
	}
	cred, err := urlUnescape(cred)
	if err != nil {
		return ""
	}
	s, ok := parseScope(cred)
	if !ok {
		return ""
	}
	return s.service
}

func serviceFromAuthorization(h string) string {
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return ""
	}
	i := strings.Index(rest, "Credential=")
	if i < 0 {
		return ""
	}
	cred := rest[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", \t"); j >= 0 {
		cred = cred[:j]
	}
	s, ok := parseScope(cred)
	if !ok {
		return ""
	}
	return s.service
}

// scope is the parsed X-Amz-Credential value.
type scope struct {
	accessKey, day, region, service, term string
}

// parseScope splits "AKID/YYYYMMDD/region/service/aws4_request" without
// allocating; ok is false unless there are exactly five non-empty-key parts.
func parseScope(cred string) (scope, bool) {
	var parts [5]string
	n := 0
	for n < 4 {
		i := strings.IndexByte(cred, '/')
		if i < 0 {
			break
		}
		parts[n] = cred[:i]
		cred = cred[i+1:]
		n++
	}
	if n != 4 || strings.IndexByte(cred, '/') >= 0 {
		return scope{}, false
	}
	parts[4] = cred
	return scope{parts[0], parts[1], parts[2], parts[3], parts[4]}, true
}

func (s scope) String() string {
	return s.day + "/" + s.region + "/" + s.service + "/" + s.term
}

// sigRequest is what either form of signature carries.
type sigRequest struct {
	credential    string
	scope         scope
	signedHeaders string
	signature     string
	amzDate       string
	when          time.Time
	presigned     bool
	hasExpires    bool
	expires       time.Duration
}

func authErr(f awsproto.AuthFailure, msg string) *awsproto.AuthError {
	return &awsproto.AuthError{Failure: f, Message: msg}
}

// Verify implements awsproto.Verifier.
func (v *Verifier) Verify(r *http.Request, payloadHash string) (awsproto.Principal, error) {
	auth := r.Header.Get("Authorization")
	presigned := hasQueryParam(r.URL.RawQuery, "X-Amz-Algorithm") || hasQueryParam(r.URL.RawQuery, "X-Amz-Credential")
	var (
		sr  sigRequest
		err *awsproto.AuthError
	)
	switch {
	case auth != "" && presigned:
		return awsproto.Principal{}, authErr(awsproto.AuthIncomplete,
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case auth != "":
		sr, err = parseHeaderForm(r, auth)
	case presigned:
		sr, err = parsePresigned(r.URL.RawQuery)
	default:
		return awsproto.Principal{}, authErr(awsproto.AuthMissing, "Missing Authentication Token")
	}
	if err != nil {
		return awsproto.Principal{}, err
	}
	if err := v.checkScope(&sr); err != nil {
		return awsproto.Principal{}, err
	}
	if !signsHost(sr.signedHeaders) {
		return awsproto.Principal{}, authErr(awsproto.AuthIncomplete,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if err := v.checkTime(&sr); err != nil {
		return awsproto.Principal{}, err
	}
	cred, ok := v.keys.Lookup(sr.scope.accessKey)
	if !ok {
		return awsproto.Principal{}, authErr(awsproto.AuthUnknownKey, "The security token included in the request is invalid.")
	}

	want, ok := decodeSignature(sr.signature)
	got := v.sign(r, &sr, cred.SecretAccessKey, payloadHash)
	if !ok || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return awsproto.Principal{}, authErr(awsproto.AuthBadSignature, badSignatureMessage)
	}
	return awsproto.Principal{AccessKeyID: cred.AccessKeyID, ARN: cred.ARN, Root: cred.Root}, nil
}

const badSignatureMessage = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func (v *Verifier) checkScope(sr *sigRequest) *awsproto.AuthError {
	s := sr.scope
	if s.term != terminator {
		return authErr(awsproto.AuthBadScope, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+s.term+"'.")
	}
	if s.region != v.region {
		return authErr(awsproto.AuthBadScope, "Credential should be scoped to a valid region, not '"+s.region+"'.")
	}
	if s.service == "" {
		return authErr(awsproto.AuthBadScope, "Credential should be scoped to correct service: ''.")
	}
	if s.accessKey == "" {
		return authErr(awsproto.AuthUnknownKey, "The security token included in the request is invalid.")
	}
	if day := sr.when.Format(scopeDayFmt); s.day != day {
		return authErr(awsproto.AuthBadScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			s.day+"' != '"+day+"', from '"+sr.amzDate+"'.")
	}
	return nil
}

func (v *Verifier) checkTime(sr *sigRequest) *awsproto.AuthError {
	now := v.clock().UTC()
	mins := strconv.Itoa(int(v.skew / time.Minute))
	if sr.when.After(now.Add(v.skew)) {
		return authErr(awsproto.AuthExpired, "Signature not yet current: "+sr.amzDate+" is still later than "+
			now.Add(v.skew).Format(amzDateFmt)+" ("+now.Format(amzDateFmt)+" + "+mins+" min.)")
	}
	if sr.presigned && sr.hasExpires {
		if now.After(sr.when.Add(sr.expires)) {
			return authErr(awsproto.AuthExpired, "Request has expired")
		}
		return nil
	}
	if sr.when.Before(now.Add(-v.skew)) {
		return authErr(awsproto.AuthExpired, "Signature expired: "+sr.amzDate+" is now earlier than "+
			now.Add(-v.skew).Format(amzDateFmt)+" ("+now.Format(amzDateFmt)+" - "+mins+" min.)")
	}
	return nil
}

// signsHost reports whether "host" is one of the ';'-separated names.
func signsHost(signed string) bool {
	for signed != "" {
		name, rest, _ := strings.Cut(signed, ";")
		if name == "host" || name == ":authority" {
			return true
		}
		signed = rest
	}
	return false
}

func decodeSignature(s string) ([sha256.Size]byte, bool) {
	var b [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return b, false
	}
	_, err := hex.Decode(b[:], []byte(s))
	return b, err == nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign computes the signature the client must have sent.
func (v *Verifier) sign(r *http.Request, sr *sigRequest, secret, payloadHash string) [sha256.Size]byte {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			bufPool.Put(bp)
		}
	}()
	buf := appendCanonicalRequest((*bp)[:0], r, sr, payloadHash, !v.singleEncode[sr.scope.service])
	creqHash := sha256.Sum256(buf)

	// The string to sign reuses the buffer: the canonical request is no
	// longer needed once hashed.
	buf = append(buf[:0], algorithm...)
	buf = append(buf, '\n')
	buf = append(buf, sr.amzDate...)
	buf = append(buf, '\n')
	buf = append(buf, sr.scope.day...)
	buf = append(buf, '/')
	buf = append(buf, sr.scope.region...)
	buf = append(buf, '/')
	buf = append(buf, sr.scope.service...)
	buf = append(buf, "/"+terminator+"\n"...)
	buf = hex.AppendEncode(buf, creqHash[:])
	*bp = buf

	key := v.cache.signingKey(sr.scope, secret)
	mac := hmac.New(sha256.New, key[:])
	mac.Write(buf)
	var out [sha256.Size]byte
	mac.Sum(out[:0])
	return out
}
