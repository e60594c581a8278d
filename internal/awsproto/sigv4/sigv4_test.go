package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

type mapStore map[string]Credential

func (m mapStore) Lookup(id string) (Credential, bool) { c, ok := m[id]; return c, ok }

const exampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

var testKeys = mapStore{
	"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: exampleSecret, Root: true},
}

func fixedClock(s string) func() time.Time {
	t, err := time.Parse(amzDateFmt, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func hashHex(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

// cliRequest rebuilds a request captured from the AWS CLI (reference §1.4).
func cliRequest(target, date, sig, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:18443/", strings.NewReader(body))
	r.Host = "127.0.0.1:18443"
	r.Header.Set("Accept-Encoding", "identity")
	r.Header.Set("X-Amz-Target", target)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("User-Agent", "aws-cli/2.9.19 Python/3.11.2")
	r.Header.Set("X-Amz-Date", date)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+sig)
	return r
}

func TestCapturedVectors(t *testing.T) {
	tests := []struct {
		name, target, date, sig, body string
	}{
		{"ListApplications", "CodeDeploy_20141006.ListApplications", "20261125T194801Z",
			"8a948e2d448e268aa3de06ea8e5562d45920b8090dc901f67b9ec4f81aa648c4", "{}"},
		{"CreateApplication", "CodeDeploy_20141006.CreateApplication", "20261125T194802Z",
			"d567e14b06c00bbb2267427c03263c2fe075be03e481ae0c1e9398da5f39959e", `{"applicationName": "x", "computePlatform": "ECS"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(testKeys, "us-east-1", fixedClock(tt.date))
			r := cliRequest(tt.target, tt.date, tt.sig, tt.body)
			if got := v.SigningService(r); got != "codedeploy" {
				t.Fatalf("SigningService = %q", got)
			}
			p, err := v.Verify(r, hashHex(tt.body))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.AccessKeyID != "AKIDEXAMPLE" || !p.Root {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
}

func TestCanonicalRequestMatchesReference(t *testing.T) {
	r := cliRequest("CodeDeploy_20141006.ListApplications", "20261125T194801Z", "x", "{}")
	sr, err := parseHeaderForm(r, r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendCanonicalRequest(nil, r, &sr, hashHex("{}"), true))
	want := "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1:18443\nx-amz-date:20261125T194801Z\n" +
		"x-amz-target:CodeDeploy_20141006.ListApplications\n\ncontent-type;host;x-amz-date;x-amz-target\n" +
		"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	if got != want {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", got, want)
	}
}

// The agent's Ruby SDK signs X-Amz-Content-Sha256 and a session token
// (reference §10.3).
func TestAgentVector(t *testing.T) {
	body := `{"HostIdentifier":"arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"}`
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:18443/", strings.NewReader(body))
	r.Host = "127.0.0.1:18443"
	r.Header.Set("User-Agent", "aws-sdk-ruby3/3.168.1 ruby/3.1.2 x86_64-linux-gnu aws-sdk-codedeploycommand/1.0.0")
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "CodeDeployCommandService_v20141006.PollHostCommand")
	r.Header.Set("X-Amz-Date", "20261125T195005Z")
	r.Header.Set("X-Amz-Security-Token", "SESSIONTOKEN")
	r.Header.Set("X-Amz-Content-Sha256", "7a1bb2f9263122b6b30c0bd67bb5fdb0ba1391bc7e1879585f5c6964fcbcfae3")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy-commands/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target, Signature=cfc6efe5b7539398cd611aa5199b91c82eb6ceede5276062e93450ece8a399f0")
	if h := hashHex(body); h != r.Header.Get("X-Amz-Content-Sha256") {
		t.Fatalf("body hash %s differs from the captured header", h)
	}
	keys := mapStore{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", ARN: "arn:aws:iam::123456789012:user/onprem1"}}
	v := New(keys, "us-east-1", fixedClock("20261125T195400Z"))
	if got := v.SigningService(r); got != "codedeploy-commands" {
		t.Fatalf("SigningService = %q", got)
	}
	p, err := v.Verify(r, hashHex(body))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Root || p.ARN != "arn:aws:iam::123456789012:user/onprem1" {
		t.Fatalf("principal = %+v", p)
	}
}

func TestFailures(t *testing.T) {
	const date = "20261125T194801Z"
	const goodSig = "8a948e2d448e268aa3de06ea8e5562d45920b8090dc901f67b9ec4f81aa648c4"
	auth := func(s string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", s) }
	}
	tests := []struct {
		name    string
		mutate  func(*http.Request)
		clock   string
		keys    mapStore
		failure awsproto.AuthFailure
		message string // exact when it starts with "=", otherwise a prefix
	}{
		{name: "no signature", mutate: func(r *http.Request) { r.Header.Del("Authorization") },
			failure: awsproto.AuthMissing, message: "=Missing Authentication Token"},
		{name: "bad signature", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64)),
			failure: awsproto.AuthBadSignature, message: "=" + badSignatureMessage},
		{name: "signature not hex", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=zz"),
			failure: awsproto.AuthBadSignature, message: "=" + badSignatureMessage},
		{name: "tampered body header", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Target", "CodeDeploy_20141006.DeleteApplication") },
			failure: awsproto.AuthBadSignature},
		{name: "wrong secret", keys: mapStore{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "other"}},
			failure: awsproto.AuthBadSignature},
		{name: "unknown key", keys: mapStore{},
			failure: awsproto.AuthUnknownKey, message: "=The security token included in the request is invalid."},
		{name: "expired", clock: "20261125T200302Z",
			failure: awsproto.AuthExpired, message: "=Signature expired: 20261125T194801Z is now earlier than 20261125T194802Z (20261125T200302Z - 15 min.)"},
		{name: "from the future", clock: "20261125T193300Z",
			failure: awsproto.AuthExpired, message: "=Signature not yet current: 20261125T194801Z is still later than 20261125T194800Z (20261125T193300Z + 15 min.)"},
		{name: "wrong region", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/eu-west-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthBadScope, message: "=Credential should be scoped to a valid region, not 'eu-west-1'."},
		{name: "wrong terminator", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws5_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthBadScope, message: "=Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "scope date differs", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthBadScope, message: "=Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261124' != '20261125', from '20261125T194801Z'."},
		{name: "short credential", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthIncomplete, message: "=Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20261125/us-east-1/aws4_request'"},
		{name: "missing parts", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request"),
			failure: awsproto.AuthIncomplete, message: "=Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request"},
		{name: "not sigv4 at all", mutate: func(r *http.Request) { r.Header.Set("Authorization", "eyJhbGciOi.x.y"); r.Header.Del("X-Amz-Date") },
			failure: awsproto.AuthIncomplete, message: "=Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=eyJhbGciOi.x.y"},
		{name: "bearer token", mutate: auth("Bearer abc"),
			failure: awsproto.AuthIncomplete, message: "='abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc'."},
		{name: "http date instead of x-amz-date", mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", "Wed, 25 Nov 2026 19:48:01 GMT")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;date;host;x-amz-target, Signature="+strings.Repeat("0", 64))
		}, failure: awsproto.AuthBadSignature},
		{name: "missing equal sign", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE /20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=host, Signature=00"),
			failure: awsproto.AuthIncomplete, message: "='/20261125/us-east-1/codedeploy/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE /20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=host, Signature=00'."},
		{name: "other algorithm", mutate: auth("AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
			failure: awsproto.AuthIncomplete, message: "=Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'."},
		{name: "host not signed", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;x-amz-date;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthIncomplete, message: "='Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "date not signed", mutate: auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-target, Signature=" + goodSig),
			failure: awsproto.AuthIncomplete, message: "='X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "bad date format", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-11-25T19:48:01Z") },
			failure: awsproto.AuthIncomplete, message: "X-Amz-Date must be in the ISO8601 Long Format"},
		{name: "header and query both", mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" },
			failure: awsproto.AuthIncomplete, message: "Only one auth mechanism allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock, keys := date, testKeys
			if tt.clock != "" {
				clock = tt.clock
			}
			if tt.keys != nil {
				keys = tt.keys
			}
			v := New(keys, "us-east-1", fixedClock(clock))
			r := cliRequest("CodeDeploy_20141006.ListApplications", date, goodSig, "{}")
			if tt.mutate != nil {
				tt.mutate(r)
			}
			_, err := v.Verify(r, hashHex("{}"))
			var ae *awsproto.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Verify error = %v, want *AuthError", err)
			}
			if ae.Failure != tt.failure {
				t.Errorf("failure = %v, want %v (%s)", ae.Failure, tt.failure, ae.Message)
			}
			if exact, ok := strings.CutPrefix(tt.message, "="); ok {
				if ae.Message != exact {
					t.Errorf("message = %q\nwant      %q", ae.Message, exact)
				}
			} else if !strings.HasPrefix(ae.Message, tt.message) {
				t.Errorf("message = %q, want prefix %q", ae.Message, tt.message)
			}
		})
	}
}

func TestSigningService(t *testing.T) {
	tests := []struct {
		name, auth, query, want string
	}{
		{"header", "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=host, Signature=00", "", "codedeploy"},
		{"header without spaces", "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/ecs/aws4_request,SignedHeaders=host,Signature=00", "", "ecs"},
		{"credential last", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00, Credential=AK/20261125/us-east-1/lambda/aws4_request", "", "lambda"},
		{"presigned", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T000000Z", "s3"},
		{"nothing", "", "", ""},
		{"other scheme", "Bearer xyz", "", ""},
		{"sigv2", "AWS AKID:sig", "", ""},
		{"short scope", "AWS4-HMAC-SHA256 Credential=AK/us-east-1/s3/aws4_request", "", ""},
		{"bad escape", "", "X-Amz-Credential=%zz", ""},
		{"empty", "AWS4-HMAC-SHA256 ", "", ""},
	}
	v := New(testKeys, "us-east-1", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if got := v.SigningService(r); got != tt.want {
				t.Fatalf("SigningService = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct {
		path   string
		double bool
		want   string
	}{
		{"", true, "/"},
		{"/", false, "/"},
		{"/2015-03-31/functions/f/invocations", true, "/2015-03-31/functions/f/invocations"},
		{"/2015-03-31/functions/arn%3Aaws%3Alambda/invocations", true, "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations"},
		{"/bucket/a%20b+c/%E2%82%AC.txt", false, "/bucket/a%20b%2Bc/%E2%82%AC.txt"},
		{"/bucket/a b", false, "/bucket/a%20b"},
		{"/bucket/a%2Fb", false, "/bucket/a%2Fb"},
		{"/bucket//double", false, "/bucket//double"},
		{"/bucket/trailing/", false, "/bucket/trailing/"},
		{"/bad%zzescape", false, "/bad%25zzescape"},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalURI(nil, tt.path, tt.double)); got != tt.want {
			t.Errorf("canonicalURI(%q, %v) = %q, want %q", tt.path, tt.double, got, tt.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1", false, "a=1&a=2"},
		{"flag&x=", false, "flag=&x="},
		{"q=a+b&r=a%20b&s=%7e~*", false, "q=a%20b&r=a%20b&s=~~%2A"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", true, "X-Amz-Date=1"},
		{"X-Amz-Signature=abc", false, "X-Amz-Signature=abc"},
		{"a=%2F&&b", false, "a=%2F&b="},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalQuery(nil, tt.raw, tt.presigned)); got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestHeaderValueCanonicalisation(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header["X-Multi"] = []string{"  a   b  ", "c\t"}
	r.Header["x_odd"] = []string{"odd"}
	tests := []struct{ name, want string }{
		{"x-multi", "a b,c"},
		{"x_odd", "odd"},
		{"x-absent", ""},
		{"host", "example.com"},
	}
	for _, tt := range tests {
		if got := string(appendHeaderValue(nil, r, tt.name)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKeyCacheHonoursRotation(t *testing.T) {
	var c keyCache
	s := scope{"AK", "20261125", "us-east-1", "codedeploy", terminator}
	a := c.signingKey(s, "one")
	if b := c.signingKey(s, "one"); a != b {
		t.Fatal("cached key differs")
	}
	if b := c.signingKey(s, "two"); a == b {
		t.Fatal("rotated secret served the old key")
	}
	if want := deriveKey("two", s.day, s.region, s.service); c.signingKey(s, "two") != want {
		t.Fatal("cached key differs from derivation")
	}
}
