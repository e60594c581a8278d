package s3

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestAuthErrors(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	withCreds := func(id, secret string) *s3.Client {
		// A client of its own: the SDK's signer caches derived keys by
		// access key id, so a shared one would sign with the right secret.
		return e.newClient(true, "", id, secret)
	}
	tests := []struct {
		name   string
		client *s3.Client
		code   string
	}{
		{"wrong secret", withCreds(testKeyID, "wrong"), "SignatureDoesNotMatch"},
		{"unknown key", withCreds("AKIDUNKNOWN", "x"), "InvalidAccessKeyId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
			wantCode(t, err, tt.code)
			_, err = tt.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x")})
			wantCode(t, err, tt.code)
		})
	}
	if _, err := e.svc.Head(context.Background(), "bkt", "k", ""); err == nil {
		t.Fatal("an unauthenticated PUT stored an object")
	}
}

// TestErrorDocument checks the XML S3 clients parse, on an unsigned request
// the service claims, and a signed one.
func TestErrorDocument(t *testing.T) {
	e := newEnv(t, envOpt{})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/bkt/some/key", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		XMLName                            xml.Name `xml:"Error"`
		Code, Message, Resource, RequestID string
		RequestIDAlias                     string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if resp.StatusCode != 403 || doc.Code != "AccessDenied" || doc.Resource != "/bkt/some/key" || doc.RequestIDAlias == "" ||
		resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}

	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/nobucket/k", nil)
	signRequest(req, sha256hex(nil), time.Now())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "<Code>NoSuchBucket</Code>") || !strings.Contains(string(body), "<BucketName>nobucket</BucketName>") ||
		resp.Header.Get("x-amz-request-id") == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestClaims(t *testing.T) {
	s := &Service{bases: []string{"s3.localhost", "localhost"}}
	tests := []struct {
		name, method, url string
		hdr               map[string]string
		want              bool
	}{
		{"virtual host", "GET", "http://bkt.s3.localhost:9000/key", nil, true},
		{"path with S3 header", "PUT", "http://127.0.0.1/bkt/key", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, true},
		{"SigV2", "GET", "http://127.0.0.1/bkt", map[string]string{"Authorization": "AWS AKID:sig"}, true},
		{"plain browser GET", "GET", "http://127.0.0.1/ui/index.html", nil, false},
		{"health", "GET", "http://localhost:8080/healthz", nil, false},
		{"lambda", "GET", "http://127.0.0.1/2015-03-31/functions", map[string]string{"X-Amz-Content-Sha256": "x"}, false},
		{"json rpc", "POST", "http://127.0.0.1/", map[string]string{"X-Amz-Target": "CodeDeploy_20141006.ListApplications", "X-Amz-Content-Sha256": "x"}, false},
		{"not a bucket name", "GET", "http://127.0.0.1/UI_Thing/x", map[string]string{"X-Amz-Content-Sha256": "x"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		for k, v := range tt.hdr {
			r.Header.Set(k, v)
		}
		if got := s.Claims(r); got != tt.want {
			t.Errorf("%s: Claims = %v", tt.name, got)
		}
	}
}

// TestRestartSweepsOrphans checks what a crash can leave: a temporary
// upload file and a blob whose metadata was never committed are removed at
// start; committed objects stay readable.
func TestRestartSweepsOrphans(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	e.put("bkt", "keep", "kept bytes")
	os.WriteFile(filepath.Join(e.dataDir, "tmp", "up-crashed"), []byte("partial"), 0o600)
	os.MkdirAll(filepath.Join(e.dataDir, "blobs", "ff"), 0o700)
	os.WriteFile(filepath.Join(e.dataDir, "blobs", "ff", "ff00orphan"), []byte("uncommitted"), 0o600)
	e.srv.Close()
	e.start(envOpt{})
	e.assertBlobs(1)
	if g := e.get("bkt", "keep"); g != "kept bytes" {
		t.Fatalf("%q", g)
	}
}

func TestNotImplementedSubresources(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	_, err := e.client.GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "NotImplemented")
	_, err = e.client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "NotImplemented")
}

func TestInvalidUTF8Key(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	resp := e.rawPut("/bkt/bad%FFkey", "UNSIGNED-PAYLOAD", []byte("x"), nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "InvalidArgument") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
