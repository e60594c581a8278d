package sigv4

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStreamSeedDocumentedExample checks the seed and the chunk chain of the
// chunked-upload example in Amazon S3's SigV4 streaming documentation.
func TestStreamSeedDocumentedExample(t *testing.T) {
	keys := mapStore{"AKIAIOSFODNN7EXAMPLE": {AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}
	v := New(keys, "us-east-1", fixedClock("20130524T000000Z"))
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", strings.NewReader(""))
	r.Host = "s3.amazonaws.com"
	r.ContentLength = 66824
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	if _, err := v.Verify(r, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"); err != nil {
		t.Fatalf("seed request does not verify: %v", err)
	}
	seed, err := v.StreamSeed(r)
	if err != nil {
		t.Fatal(err)
	}
	chunks := []struct {
		size int
		want string
	}{
		{65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"},
		{1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"},
		{0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"},
	}
	prev := seed.Signature
	for _, c := range chunks {
		h := sha256.Sum256([]byte(strings.Repeat("a", c.size)))
		got := seed.ChunkSignature(prev, h[:])
		if got != c.want {
			t.Fatalf("chunk of %d bytes: signature %s, want %s", c.size, got, c.want)
		}
		prev = got
	}
}

func TestStreamSeedUnknownKey(t *testing.T) {
	v := New(testKeys, "us-east-1", nil)
	r := httptest.NewRequest(http.MethodPut, "http://h/b/k", nil)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=NOPE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=00")
	if _, err := v.StreamSeed(r); err == nil {
		t.Fatal("unknown key accepted")
	}
}
