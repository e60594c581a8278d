package sigv4

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=8a948e2d448e268aa3de06ea8e5562d45920b8090dc901f67b9ec4f81aa648c4", "20261125T194801Z")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=", "")
	f.Add("AWS4-HMAC-SHA256", "x")
	f.Add("Bearer a=b=c,,, ,", "20261125T194801Z")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/codedeploy/aws4_request,SignedHeaders=host;date,Signature=zz", "")
	v := New(testKeys, "us-east-1", fixedClock("20261125T194801Z"))
	f.Fuzz(func(t *testing.T, auth, date string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header["Authorization"] = []string{auth}
		if date != "" {
			r.Header["X-Amz-Date"] = []string{date}
			r.Header["Date"] = []string{date}
		}
		_ = v.SigningService(r)
		p, err := v.Verify(r, hashHex(""))
		if err == nil && p.AccessKeyID == "" {
			t.Fatal("verified without a principal")
		}
	})
}

func FuzzParsePresigned(f *testing.F) {
	f.Add("/bucket/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T194801Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("/%zz/%", "X-Amz-Credential=%&X-Amz-Algorithm")
	f.Add("", "X-Amz-Algorithm=&&&=&X-Amz-Expires=99999999999999999999")
	v := New(testKeys, "us-east-1", fixedClock("20261125T194801Z"))
	f.Fuzz(func(t *testing.T, path, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawPath, r.URL.Path, r.URL.RawQuery = path, path, query
		_ = v.SigningService(r)
		p, err := v.Verify(r, "UNSIGNED-PAYLOAD")
		if err == nil && p.AccessKeyID == "" {
			t.Fatal("verified without a principal")
		}
		_ = appendCanonicalURI(nil, path, true)
		_ = appendCanonicalQuery(nil, query, true)
	})
}
