package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func hmacSHA(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func signingKey(day string) []byte {
	k := hmacSHA([]byte("AWS4"+testSecret), day)
	k = hmacSHA(k, testRegion)
	k = hmacSHA(k, "s3")
	return hmacSHA(k, "aws4_request")
}

// signRequest signs req with SigV4 for s3, all of its headers signed, the
// way a client independent of the server's verifier would; it returns
// the seed signature. Test requests use only unreserved characters in
// paths and no query.
func signRequest(req *http.Request, payloadHash string, now time.Time) string {
	amzDate := now.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	names := []string{"host"}
	vals := map[string]string{"host": req.URL.Host}
	for k := range req.Header {
		n := strings.ToLower(k)
		names = append(names, n)
		vals[n] = strings.TrimSpace(req.Header.Get(k))
	}
	if req.ContentLength > 0 {
		names = append(names, "content-length")
		vals["content-length"] = strconvI(req.ContentLength)
	}
	sort.Strings(names)
	var canon strings.Builder
	canon.WriteString(req.Method + "\n" + (&url.URL{Path: req.URL.Path}).EscapedPath() + "\n" + req.URL.RawQuery + "\n")
	for _, n := range names {
		canon.WriteString(n + ":" + vals[n] + "\n")
	}
	signed := strings.Join(names, ";")
	canon.WriteString("\n" + signed + "\n" + payloadHash)
	scope := day + "/" + testRegion + "/s3/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + sha256hex([]byte(canon.String()))
	sig := hex.EncodeToString(hmacSHA(signingKey(day), sts))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
	return sig
}

func strconvI(n int64) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}
