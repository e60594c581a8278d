package sigv4

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify measures one Go-SDK-signed CodeDeploy call, the shape of
// the API's hot path.
func BenchmarkVerify(b *testing.B) {
	body := `{"applicationName":"x","deploymentGroupName":"dg"}`
	now := time.Now()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "CodeDeploy_20141006.GetDeploymentGroup")
	req.Header.Set("Amz-Sdk-Invocation-Id", "0b8f2e4c-7a57-4a28-9f0e-2b4f3c2f8e11")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	hash := hashHex(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), sdkCreds, req, hash, "codedeploy", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	v := New(testKeys, "us-east-1", func() time.Time { return now })
	if _, err := v.Verify(req, hash); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v.SigningService(req) != "codedeploy" {
			b.Fatal("service")
		}
		if _, err := v.Verify(req, hash); err != nil {
			b.Fatal(err)
		}
	}
}
