package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func md5hex(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }

func TestPutGetHeadDelete(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  envOpt
	}{{"http", envOpt{}}, {"https trailer checksums", envOpt{tls: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			ctx := context.Background()
			c := e.client
			e.mkBucket("bkt")
			body := "hello, bundle"
			put := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c€.zip"), Body: strings.NewReader(body),
				ContentType: aws.String("application/zip"), Metadata: map[string]string{"Rev": "42", "owner": "me"},
				CacheControl: aws.String("no-cache"),
			}))
			if *put.ETag != `"`+md5hex(body)+`"` {
				t.Fatalf("ETag %s", *put.ETag)
			}
			if put.ChecksumCRC32 == nil {
				t.Fatalf("no CRC32 in PutObject answer (the SDK sends one by default)")
			}
			get := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c€.zip"), ChecksumMode: types.ChecksumModeEnabled}))
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if string(got) != body || *get.ContentType != "application/zip" || *get.ETag != *put.ETag ||
				get.Metadata["rev"] != "42" || get.Metadata["owner"] != "me" || *get.CacheControl != "no-cache" ||
				*get.ContentLength != int64(len(body)) || get.LastModified == nil || *get.ChecksumCRC32 != *put.ChecksumCRC32 {
				t.Fatalf("GetObject: %q %+v", got, get)
			}
			head := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c€.zip")}))
			if *head.ContentLength != int64(len(body)) || *head.ETag != *put.ETag || head.Metadata["rev"] != "42" {
				t.Fatalf("HeadObject: %+v", head)
			}
			// Through the Go API too.
			rc, info, err := e.svc.Open(ctx, "bkt", "dir/a b+c€.zip", "")
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := io.ReadAll(rc)
			rc.Close()
			if string(gb) != body || info.ETag != md5hex(body) || info.ContentType != "application/zip" || info.Metadata["rev"] != "42" {
				t.Fatalf("Open: %q %+v", gb, info)
			}

			// Overwrite, then delete twice (idempotent).
			e.put("bkt", "dir/a b+c€.zip", "second")
			if g := e.get("bkt", "dir/a b+c€.zip"); g != "second" {
				t.Fatalf("after overwrite: %q", g)
			}
			for range 2 {
				must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c€.zip")}))
			}
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/a b+c€.zip")})
			wantCode(t, err, "NoSuchKey")
			var nsk *types.NoSuchKey
			if !errors.As(err, &nsk) {
				t.Fatalf("not a typed NoSuchKey: %T", err)
			}
			_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("gone")})
			wantCode(t, err, "NotFound")
			_, _, err = e.svc.Open(ctx, "bkt", "gone", "")
			if awsprotoErr(err) == nil || awsprotoErr(err).Code != "NoSuchKey" {
				t.Fatalf("Open missing: %v", err)
			}
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
			wantCode(t, err, "NoSuchBucket")
			_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
			wantCode(t, err, "NoSuchBucket")
			// Unseekable bodies: over HTTPS the SDK streams them with a
			// trailing checksum; over HTTP it refuses them itself.
			if tc.opt.tls {
				_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("stream"),
					Body: io.NopCloser(strings.NewReader("streamed body")), ContentLength: aws.Int64(13)})
				if err != nil {
					t.Fatal(err)
				}
				if g := e.get("bkt", "stream"); g != "streamed body" {
					t.Fatalf("streamed: %q", g)
				}
			}
		})
	}
}

// capture records the raw headers of requests the SDK sends.
func captureHeader(name string, into *[]string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("X-Test", "1"))
		o.HTTPClient = &headerSpy{inner: o.HTTPClient, name: name, into: into}
	}
}

type headerSpy struct {
	inner s3.HTTPClient
	name  string
	into  *[]string
}

func (h *headerSpy) Do(r *http.Request) (*http.Response, error) {
	*h.into = append(*h.into, r.Header.Get(h.name))
	return h.inner.Do(r)
}

func TestPayloadForms(t *testing.T) {
	for _, tls := range []bool{false, true} {
		e := newEnv(t, envOpt{tls: tls})
		e.mkBucket("bkt")
		var seen []string
		_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("abc")},
			captureHeader("X-Amz-Content-Sha256", &seen))
		if err != nil {
			t.Fatal(err)
		}
		want := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
		if !tls {
			want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // sha256("abc")
		}
		if seen[0] != want {
			t.Fatalf("tls=%v: SDK sent x-amz-content-sha256 %q, want %q", tls, seen[0], want)
		}
	}
}

func TestUploadIntegrity(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	c := e.client
	e.mkBucket("bkt")
	sum := md5.Sum([]byte("other"))
	tests := []struct {
		name string
		in   *s3.PutObjectInput
		code string
	}{
		{"bad Content-MD5", &s3.PutObjectInput{ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:]))}, "BadDigest"},
		{"malformed Content-MD5", &s3.PutObjectInput{ContentMD5: aws.String("nope")}, "InvalidDigest"},
		{"bad CRC32", &s3.PutObjectInput{ChecksumCRC32: aws.String("AAAAAA==")}, "BadDigest"},
		{"bad CRC32C", &s3.PutObjectInput{ChecksumCRC32C: aws.String("AAAAAA==")}, "BadDigest"},
		{"bad CRC64NVME", &s3.PutObjectInput{ChecksumCRC64NVME: aws.String("AAAAAAAAAAA=")}, "BadDigest"},
		{"bad SHA1", &s3.PutObjectInput{ChecksumSHA1: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 20)))}, "BadDigest"},
		{"bad SHA256", &s3.PutObjectInput{ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32)))}, "BadDigest"},
		{"malformed checksum", &s3.PutObjectInput{ChecksumSHA256: aws.String("short")}, "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Bucket, in.Key, in.Body = aws.String("bkt"), aws.String("k"), strings.NewReader("payload")
			_, err := c.PutObject(ctx, in)
			wantCode(t, err, tt.code)
			_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
			wantCode(t, err, "NotFound")
		})
	}
	// Correct checksums of every algorithm are accepted and returned.
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
		types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("ok-" + string(alg)), Body: strings.NewReader("payload"), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("ok-" + string(alg)), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		// The SDK validates the returned checksum while reading.
		if _, err := io.ReadAll(g.Body); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		g.Body.Close()
		_ = out
	}
}

// rawPut sends a signed PUT built by hand, to control the payload hash.
func (e *env) rawPut(path, payloadHash string, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	signRequest(req, payloadHash, time.Now())
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func TestPayloadHashMismatch(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	tests := []struct {
		name, hash string
		status     int
		code       string
	}{
		{"wrong hash", strings.Repeat("ab", 32), 400, "XAmzContentSHA256Mismatch"},
		{"not a hash", "bogus", 400, "InvalidArgument"},
		{"right hash", sha256hex([]byte("body")), 200, ""},
		{"unsigned", "UNSIGNED-PAYLOAD", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.rawPut("/bkt/"+strings.ReplaceAll(tt.name, " ", "-"), tt.hash, []byte("body"), nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.code) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			_, err := e.svc.Head(context.Background(), "bkt", strings.ReplaceAll(tt.name, " ", "-"), "")
			if (err == nil) != (tt.status == 200) {
				t.Fatalf("stored=%v after status %d", err == nil, resp.StatusCode)
			}
		})
	}
}

func TestConditionalAndRangeReads(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	c := e.client
	e.mkBucket("bkt")
	put := e.put("bkt", "k", "0123456789")
	etag := *put.ETag
	head := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}))
	mod := *head.LastModified
	ranges := []struct {
		rng, want, contentRange string
	}{
		{"bytes=0-3", "0123", "bytes 0-3/10"},
		{"bytes=7-", "789", "bytes 7-9/10"},
		{"bytes=-2", "89", "bytes 8-9/10"},
		{"bytes=5-100", "56789", "bytes 5-9/10"},
	}
	for _, r := range ranges {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String(r.rng)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != r.want || *out.ContentRange != r.contentRange {
			t.Fatalf("%s: %q %s", r.rng, b, *out.ContentRange)
		}
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String("bytes=10-")})
	wantCode(t, err, "InvalidRange")
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 416 {
		t.Fatalf("InvalidRange status: %v", err)
	}

	conds := []struct {
		name string
		in   s3.GetObjectInput
		code string // "" success; NotModified → 304
	}{
		{"if-match ok", s3.GetObjectInput{IfMatch: aws.String(etag)}, ""},
		{"if-match bad", s3.GetObjectInput{IfMatch: aws.String(`"nope"`)}, "PreconditionFailed"},
		{"if-none-match hit", s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, "NotModified"},
		{"if-none-match miss", s3.GetObjectInput{IfNoneMatch: aws.String(`"nope"`)}, ""},
		{"if-modified-since later", s3.GetObjectInput{IfModifiedSince: aws.Time(mod.Add(time.Hour))}, "NotModified"},
		{"if-modified-since earlier", s3.GetObjectInput{IfModifiedSince: aws.Time(mod.Add(-time.Hour))}, ""},
		{"if-unmodified-since earlier", s3.GetObjectInput{IfUnmodifiedSince: aws.Time(mod.Add(-time.Hour))}, "PreconditionFailed"},
		{"if-match wins over if-unmodified-since", s3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: aws.Time(mod.Add(-time.Hour))}, ""},
	}
	for _, tt := range conds {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Bucket, in.Key = aws.String("bkt"), aws.String("k")
			out, err := c.GetObject(ctx, &in)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				out.Body.Close()
				return
			}
			var re *smithyhttp.ResponseError
			if tt.code == "NotModified" {
				if !errors.As(err, &re) || re.HTTPStatusCode() != 304 {
					t.Fatalf("want 304, got %v", err)
				}
				return
			}
			wantCode(t, err, tt.code)
		})
	}
	// Conditional writes.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed")
}

func TestCopyObject(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	c := e.client
	e.mkBucket("src")
	e.mkBucket("dst")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b.zip"), Body: strings.NewReader("bundle"),
		ContentType: aws.String("application/zip"), Metadata: map[string]string{"m": "1"}}))

	cp := must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/a%20b.zip")}))
	if *cp.CopyObjectResult.ETag != `"`+md5hex("bundle")+`"` || cp.CopyObjectResult.LastModified == nil {
		t.Fatalf("copy result %+v", cp.CopyObjectResult)
	}
	h := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")}))
	if *h.ContentType != "application/zip" || h.Metadata["m"] != "1" {
		t.Fatalf("COPY directive lost metadata: %+v", h)
	}
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced"), CopySource: aws.String("src/a%20b.zip"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/plain"), Metadata: map[string]string{"n": "2"}}))
	h = must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced")}))
	if *h.ContentType != "text/plain" || h.Metadata["n"] != "2" || h.Metadata["m"] != "" {
		t.Fatalf("REPLACE directive: %+v", h)
	}
	if g := e.get("dst", "replaced"); g != "bundle" {
		t.Fatalf("copied bytes %q", g)
	}
	errs := []struct {
		name string
		in   s3.CopyObjectInput
		code string
	}{
		{"missing source key", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/none")}, "NoSuchKey"},
		{"missing source bucket", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nosrc/none")}, "NoSuchBucket"},
		{"onto itself", s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b.zip"), CopySource: aws.String("src/a%20b.zip")}, "InvalidRequest"},
		{"precondition", s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/a%20b.zip"), CopySourceIfMatch: aws.String(`"zz"`)}, "PreconditionFailed"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CopyObject(ctx, &tt.in)
			wantCode(t, err, tt.code)
		})
	}
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	e.mkBucket("bkt")
	e.put("bkt", "a", "1")
	e.put("bkt", "c", "2")
	out := must[*s3.DeleteObjectsOutput](t)(e.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("c")}, {Key: aws.String("never")}}}}))
	if len(out.Deleted) != 3 || len(out.Errors) != 0 {
		t.Fatalf("%+v", out)
	}
	l := must[*s3.ListObjectsV2Output](t)(e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")}))
	if len(l.Contents) != 0 {
		t.Fatalf("left: %+v", l.Contents)
	}
}

func TestVirtualHostStyle(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	for _, host := range []string{"s3.localhost", "localhost"} {
		t.Run(host, func(t *testing.T) {
			c := e.newClient(false, host)
			bucket := "vh-" + strings.ReplaceAll(host, ".", "-")
			must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}))
			must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/x.zip"), Body: strings.NewReader("vh")}))
			l := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}))
			if len(l.Contents) != 1 || *l.Contents[0].Key != "dir/x.zip" {
				t.Fatalf("%+v", l.Contents)
			}
			// The same object path style.
			if g := e.get(bucket, "dir/x.zip"); g != "vh" {
				t.Fatalf("%q", g)
			}
			lb := must[*s3.ListBucketsOutput](t)(c.ListBuckets(ctx, &s3.ListBucketsInput{}))
			if len(lb.Buckets) == 0 {
				t.Fatal("no buckets")
			}
		})
	}
}

func TestHostBucket(t *testing.T) {
	s := &Service{}
	s.bases = []string{"s3.us-east-1.amazonaws.com", "s3.amazonaws.com", "s3.localhost", "localhost"}
	tests := []struct {
		host, bucket string
		ok           bool
	}{
		{"localhost:9000", "", true},
		{"s3.localhost:9000", "", true},
		{"b1.s3.localhost:9000", "b1", true},
		{"b1.localhost", "b1", true},
		{"my.dotted.bucket.s3.localhost", "my.dotted.bucket", true},
		{"bkt.s3.us-east-1.amazonaws.com", "bkt", true},
		{"bkt.s3.amazonaws.com", "bkt", true},
		{"127.0.0.1:9000", "", false},
		{"example.com", "", false},
	}
	for _, tt := range tests {
		b, ok := s.hostBucket(tt.host)
		if b != tt.bucket || ok != tt.ok {
			t.Errorf("hostBucket(%q) = %q, %v", tt.host, b, ok)
		}
	}
}

func TestPresignedURLs(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	e.mkBucket("bkt")
	ps := s3.NewPresignClient(e.client)
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("p/obj.zip")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put.URL, strings.NewReader("presigned body"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("p/obj.zip")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned body" {
		t.Fatalf("presigned GET: %d %s", resp.StatusCode, b)
	}
	// A tampered presigned URL is refused.
	resp, err = http.Get(strings.Replace(get.URL, "p/obj.zip", "p/other.zip", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered presigned GET: %d", resp.StatusCode)
	}
}
