package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cutover/cutover/internal/awsproto"
)

// verifyServer answers 200 with the signer's ARN when the request verifies
// and 403 with the failure's message otherwise. The payload hash is what the
// router would pass: the client's X-Amz-Content-Sha256 if it says the
// payload is unsigned, otherwise the hash of the body read here.
func verifyServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hash := hashHex(string(body))
		if h := r.Header.Get("X-Amz-Content-Sha256"); h == "UNSIGNED-PAYLOAD" || (h == "" && v.SigningService(r) == "s3") {
			hash = "UNSIGNED-PAYLOAD"
		}
		p, err := v.Verify(r, hash)
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, err.Error())
			return
		}
		io.WriteString(w, "ok "+p.AccessKeyID)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func roundTrip(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var sdkCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: exampleSecret}

func TestSDKSignedRequests(t *testing.T) {
	v := New(testKeys, "us-east-1", nil)
	srv := verifyServer(t, v)
	u, _ := url.Parse(srv.URL)

	tests := []struct {
		name, service, method, path, rawPath, query, contentType, body string
		unsigned, s3, session                                          bool
	}{
		{name: "codedeploy json", service: "codedeploy", method: "POST", path: "/", contentType: "application/x-amz-json-1.1",
			body: `{"applicationName":"x","computePlatform":"ECS"}`},
		{name: "codedeploy with session token", service: "codedeploy", method: "POST", path: "/", contentType: "application/x-amz-json-1.1",
			body: `{}`, session: true},
		{name: "elb form", service: "elasticloadbalancing", method: "POST", path: "/", contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body: "Action=DescribeLoadBalancers&Names.member.1=my%20lb&Version=2015-12-01"},
		{name: "elb query", service: "elasticloadbalancing", method: "GET", path: "/", query: "Version=2015-12-01&Action=DescribeTargetGroups&Names.member.1=a%2Fb"},
		{name: "lambda path label", service: "lambda", method: "POST", path: "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
			rawPath: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations", body: `{"k":1}`, contentType: "application/json"},
		{name: "s3 special key", service: "s3", s3: true, unsigned: true, method: "PUT",
			path: "/bucket/dir/a b+c€~(1)!.zip", rawPath: "/bucket/dir/a%20b%2Bc%E2%82%AC~%281%29%21.zip", body: "PK\x03\x04 bundle bytes"},
		{name: "s3 signed payload with query", service: "s3", s3: true, method: "GET", path: "/bucket", query: "list-type=2&prefix=a%20b&delimiter=%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := *u
			target.Path, target.RawPath, target.RawQuery = tt.path, tt.rawPath, tt.query
			req, err := http.NewRequest(tt.method, target.String(), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			hash := hashHex(tt.body)
			if tt.unsigned {
				hash = "UNSIGNED-PAYLOAD"
			}
			if tt.s3 {
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			creds := sdkCreds
			if tt.session {
				creds.SessionToken = "SESSIONTOKEN"
			}
			err = v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, tt.service, "us-east-1", time.Now(),
				func(o *v4.SignerOptions) { o.DisableURIPathEscaping = tt.s3 })
			if err != nil {
				t.Fatal(err)
			}
			if code, body := roundTrip(t, req); code != 200 {
				t.Fatalf("status %d: %s\nauthorization: %s", code, body, req.Header.Get("Authorization"))
			}

			// Any change to a signed part must be caught.
			req2 := req.Clone(context.Background())
			req2.Body = io.NopCloser(strings.NewReader(tt.body))
			req2.Header.Set("X-Amz-Date", time.Now().Add(time.Second).UTC().Format(amzDateFmt))
			if code, _ := roundTrip(t, req2); code != http.StatusForbidden {
				t.Fatalf("tampered request answered %d", code)
			}
		})
	}
}

func TestSDKPresigned(t *testing.T) {
	v := New(testKeys, "us-east-1", nil)
	srv := verifyServer(t, v)
	u, _ := url.Parse(srv.URL)

	tests := []struct {
		name, service, path, rawPath, query string
		s3, session                         bool
		signedAt                            time.Duration
		wantStatus                          int
		wantMessage                         string
	}{
		{name: "s3 get object", service: "s3", s3: true, path: "/bucket/dir/a b+c.zip", rawPath: "/bucket/dir/a%20b%2Bc.zip",
			query: "X-Amz-Expires=900", wantStatus: 200},
		{name: "s3 with session token", service: "s3", s3: true, session: true, path: "/bucket/k", query: "X-Amz-Expires=60&versionId=3", wantStatus: 200},
		{name: "codedeploy presigned without expiry", service: "codedeploy", path: "/", query: "Action=x", wantStatus: 200},
		{name: "presigned long ago but still valid", service: "s3", s3: true, path: "/bucket/k", query: "X-Amz-Expires=86400",
			signedAt: -23 * time.Hour, wantStatus: 200},
		{name: "presigned expired", service: "s3", s3: true, path: "/bucket/k", query: "X-Amz-Expires=60",
			signedAt: -2 * time.Minute, wantStatus: 403, wantMessage: "Request has expired"},
		{name: "presigned too long", service: "s3", s3: true, path: "/bucket/k", query: "X-Amz-Expires=604801",
			wantStatus: 403, wantMessage: "X-Amz-Expires must be less than a week"},
		{name: "presigned in the future", service: "s3", s3: true, path: "/bucket/k", query: "X-Amz-Expires=60",
			signedAt: time.Hour, wantStatus: 403, wantMessage: "Signature not yet current"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := *u
			target.Path, target.RawPath, target.RawQuery = tt.path, tt.rawPath, tt.query
			req, err := http.NewRequest(http.MethodGet, target.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			creds := sdkCreds
			if tt.session {
				creds.SessionToken = "SESSIONTOKEN"
			}
			hash := hashHex("")
			if tt.s3 {
				hash = "UNSIGNED-PAYLOAD"
			}
			signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hash, tt.service, "us-east-1",
				time.Now().Add(tt.signedAt), func(o *v4.SignerOptions) { o.DisableURIPathEscaping = tt.s3 })
			if err != nil {
				t.Fatal(err)
			}
			preq, err := http.NewRequest(http.MethodGet, signed, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range hdr {
				if k != "Host" {
					preq.Header[k] = vs
				}
			}
			code, body := roundTrip(t, preq)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantMessage) {
				t.Fatalf("status %d %q, want %d %q\nurl: %s", code, body, tt.wantStatus, tt.wantMessage, signed)
			}
			if code != 200 {
				return
			}
			if got := v.SigningService(preq); got != tt.service {
				t.Fatalf("SigningService = %q", got)
			}
			// A changed parameter must be caught.
			tampered := strings.Replace(signed, "X-Amz-Date=", "extra=1&X-Amz-Date=", 1)
			treq, _ := http.NewRequest(http.MethodGet, tampered, nil)
			if code, _ := roundTrip(t, treq); code != http.StatusForbidden {
				t.Fatalf("tampered presigned URL answered %d", code)
			}
		})
	}
}

func TestPresignedParameterErrors(t *testing.T) {
	const base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T194801Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
	tests := []struct {
		name, query string
		failure     awsproto.AuthFailure
		message     string
	}{
		{"missing signature", strings.Replace(base, "&X-Amz-Signature=00", "", 1), awsproto.AuthIncomplete, presignedParamsMessage},
		{"other algorithm", strings.Replace(base, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1), awsproto.AuthIncomplete, "X-Amz-Algorithm only supports"},
		{"expires not a number", base + "&X-Amz-Expires=soon", awsproto.AuthIncomplete, "X-Amz-Expires should be a number"},
		{"expires negative", base + "&X-Amz-Expires=-1", awsproto.AuthIncomplete, "X-Amz-Expires must be non-negative"},
		{"bad date", strings.Replace(base, "20261125T194801Z", "yesterday", 1), awsproto.AuthIncomplete, "X-Amz-Date must be in the ISO8601 Long Format"},
		{"bad credential", strings.Replace(base, "%2Fs3", "", 1), awsproto.AuthIncomplete, "Credential must have exactly 5 slash-delimited elements"},
		{"wrong region", strings.Replace(base, "us-east-1", "eu-west-1", 1), awsproto.AuthBadScope, "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{"host unsigned", strings.Replace(base, "SignedHeaders=host", "SignedHeaders=x-amz-date", 1), awsproto.AuthIncomplete, "'Host' or ':authority' must be a 'SignedHeader'"},
		{"bad signature", base + "&X-Amz-Expires=60", awsproto.AuthBadSignature, badSignatureMessage},
	}
	v := New(testKeys, "us-east-1", fixedClock("20261125T194801Z"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/bucket/k?"+tt.query, nil)
			_, err := v.Verify(r, "UNSIGNED-PAYLOAD")
			var ae *awsproto.AuthError
			if !errors.As(err, &ae) || ae.Failure != tt.failure || !strings.HasPrefix(ae.Message, tt.message) {
				t.Fatalf("err = %#v, want %v %q", err, tt.failure, tt.message)
			}
		})
	}
}
