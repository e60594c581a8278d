package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion = "us-east-1"
	testKeyID  = "AKIDS3TEST"
	testSecret = "s3-test-secret-key/with+odd=chars"
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

var keys = testKeys{testKeyID: {AccessKeyID: testKeyID, SecretAccessKey: testSecret, Root: true}}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one S3 service on real SQLite and a temp data dir, behind the
// real router and SigV4 verifier, served over HTTP(S).
type env struct {
	t       *testing.T
	svc     *Service
	srv     *httptest.Server
	dataDir string
	dbPath  string
	client  *s3.Client // path style
}

type envOpt struct {
	tls bool
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dataDir: filepath.Join(dir, "s3"), dbPath: filepath.Join(dir, "cutover.db")}
	e.start(o)
	return e
}

func (e *env) start(o envOpt) {
	t := e.t
	db, err := sqlite.Open(context.Background(), e.dbPath, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	verifier := sigv4.New(keys, testRegion, nil)
	svc, err := New(Config{Region: testRegion, DataDir: e.dataDir, Store: db, Log: quietLog(), Seeds: verifier})
	if err != nil {
		t.Fatal(err)
	}
	rt := awsproto.NewRouter(verifier, quietLog())
	svc.Register(rt)
	if o.tls {
		e.srv = httptest.NewTLSServer(rt)
	} else {
		e.srv = httptest.NewServer(rt)
	}
	e.svc = svc
	t.Cleanup(func() {
		e.srv.Close()
		db.Close()
	})
	e.client = e.newClient(true, "")
}

// newClient returns an SDK client; virtual-host clients address
// "<bucket>.<host>" and have every connection dialled to the test server.
func (e *env) newClient(pathStyle bool, host string, creds ...string) *s3.Client {
	id, secret := testKeyID, testSecret
	if len(creds) == 2 {
		id, secret = creds[0], creds[1]
	}
	addr := e.srv.Listener.Addr().String()
	endpoint := e.srv.URL
	if host != "" {
		_, port, _ := net.SplitHostPort(addr)
		scheme, _, _ := strings.Cut(e.srv.URL, "://")
		endpoint = scheme + "://" + host + ":" + port
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	return s3.New(s3.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: pathStyle,
		// What config.LoadDefaultConfig gives a real program: checksums on
		// every upload that supports them, checked on download.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		HTTPClient:                 &http.Client{Transport: tr},
		// Failures are asserted one by one; retries would only slow them.
		RetryMaxAttempts: 1,
	})
}

// errCode returns the S3 error code of an SDK error ("" when none).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := errCode(err); got != code {
		t.Fatalf("want %s, got %q (%v)", code, got, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *env) mkBucket(name string) {
	e.t.Helper()
	if _, err := e.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) put(bucket, key, body string) *s3.PutObjectOutput {
	e.t.Helper()
	out, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) get(bucket, key string) string {
	e.t.Helper()
	out, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// assertBlobs checks how many object and part files are on disk, so that
// tests notice bytes left behind by refused or replaced uploads.
func (e *env) assertBlobs(want int) {
	e.t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(e.dataDir, "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	tmp, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp"))
	if n != want || len(tmp) != 0 {
		e.t.Fatalf("%d blobs and %d temp files on disk, want %d and 0", n, len(tmp), want)
	}
}
