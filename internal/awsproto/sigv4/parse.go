package sigv4

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// parseHeaderForm reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." and the request date. The messages are the ones AWS's JSON
// and Query services answer with, so that clients print familiar text.
func parseHeaderForm(r *http.Request, h string) (sigRequest, *awsproto.AuthError) {
	var sr sigRequest
	alg, params, _ := strings.Cut(h, " ")
	var haveCred, haveSigned, haveSig bool
	// AWS splits the parameters on commas and on white space alike, which
	// is why a stray space inside a value is reported as a missing '='.
	for params != "" {
		i := strings.IndexAny(params, ", \t")
		var part string
		if i < 0 {
			part, params = params, ""
		} else {
			part, params = params[:i], params[i+1:]
		}
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return sr, authErr(awsproto.AuthIncomplete, "'"+part+"' not a valid key=value pair (missing equal-sign) in Authorization header: '"+h+"'.")
		}
		switch k {
		case "Credential":
			sr.credential, haveCred = val, true
		case "SignedHeaders":
			sr.signedHeaders, haveSigned = val, true
		case "Signature":
			sr.signature, haveSig = val, true
		}
	}
	xAmzDate := r.Header.Get("X-Amz-Date")
	httpDate := r.Header.Get("Date")
	if !haveCred || !haveSig || !haveSigned || (xAmzDate == "" && httpDate == "") {
		var b strings.Builder
		if !haveCred {
			b.WriteString("Authorization header requires 'Credential' parameter. ")
		}
		if !haveSig {
			b.WriteString("Authorization header requires 'Signature' parameter. ")
		}
		if !haveSigned {
			b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
		}
		if xAmzDate == "" && httpDate == "" {
			b.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
		}
		b.WriteString("Authorization=")
		b.WriteString(h)
		return sr, authErr(awsproto.AuthIncomplete, b.String())
	}
	if alg != algorithm {
		return sr, authErr(awsproto.AuthIncomplete, "Unsupported AWS 'algorithm': '"+alg+"'.")
	}
	s, ok := parseScope(sr.credential)
	if !ok {
		return sr, authErr(awsproto.AuthIncomplete, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+sr.credential+"'")
	}
	sr.scope = s

	// The date must itself be signed, or a captured signature could be
	// replayed with a fresh date.
	if xAmzDate != "" {
		t, err := time.Parse(amzDateFmt, xAmzDate)
		if err != nil {
			return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		if !listsHeader(sr.signedHeaders, "x-amz-date") {
			return sr, authErr(awsproto.AuthIncomplete, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		sr.when, sr.amzDate = t, xAmzDate
	} else {
		t, err := http.ParseTime(httpDate)
		if err != nil {
			return sr, authErr(awsproto.AuthIncomplete, "Date must be in the RFC 1123 format")
		}
		if !listsHeader(sr.signedHeaders, "date") {
			return sr, authErr(awsproto.AuthIncomplete, "'Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		sr.when = t.UTC()
		sr.amzDate = sr.when.Format(amzDateFmt)
	}
	return sr, nil
}

func listsHeader(signed, name string) bool {
	for signed != "" {
		var n string
		n, signed, _ = strings.Cut(signed, ";")
		if n == name {
			return true
		}
	}
	return false
}

const presignedParamsMessage = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
// X-Amz-Expires is optional here (S3 requires it, other services' presigned
// requests may omit it); without it the header form's clock skew applies.
func parsePresigned(rawQuery string) (sigRequest, *awsproto.AuthError) {
	var sr sigRequest
	get := func(name string) (string, bool) {
		raw, ok := rawQueryParam(rawQuery, name)
		if !ok {
			return "", false
		}
		v, err := urlUnescape(raw)
		if err != nil {
			return "", false
		}
		return v, true
	}
	alg, ok1 := get("X-Amz-Algorithm")
	cred, ok2 := get("X-Amz-Credential")
	sig, ok3 := get("X-Amz-Signature")
	date, ok4 := get("X-Amz-Date")
	signed, ok5 := get("X-Amz-SignedHeaders")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return sr, authErr(awsproto.AuthIncomplete, presignedParamsMessage)
	}
	if alg != algorithm {
		return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	s, ok := parseScope(cred)
	if !ok {
		return sr, authErr(awsproto.AuthIncomplete, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+cred+"'")
	}
	t, err := time.Parse(amzDateFmt, date)
	if err != nil {
		return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if exp, ok := get("X-Amz-Expires"); ok {
		n, err := strconv.ParseInt(exp, 10, 64)
		switch {
		case err != nil:
			return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Expires should be a number")
		case n < 0:
			return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Expires must be non-negative")
		case n > maxExpires:
			return sr, authErr(awsproto.AuthIncomplete, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
		}
		sr.hasExpires = true
		sr.expires = time.Duration(n) * time.Second
	}
	sr.credential, sr.scope, sr.signature, sr.signedHeaders = cred, s, sig, signed
	sr.when, sr.amzDate, sr.presigned = t, date, true
	return sr, nil
}

// rawQueryParam returns the still-encoded value of the first parameter
// named exactly name, scanning the raw query without building a map.
func rawQueryParam(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

func hasQueryParam(rawQuery, name string) bool {
	if !strings.Contains(rawQuery, name) {
		return false
	}
	_, ok := rawQueryParam(rawQuery, name)
	return ok
}

// urlUnescape decodes a query component, skipping the work for the common
// case of a value with nothing escaped.
func urlUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}
