package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testKeyID   = "AKIDLAMBDATEST"
	testSecret  = "lambda-test-secret"
	testRole    = "arn:aws:iam::123456789012:role/lambda-exec"
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

var keys = testKeys{testKeyID: {AccessKeyID: testKeyID, SecretAccessKey: testSecret, Root: true}}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// buildDir holds the echo function, built once per test binary.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// echoBootstrap builds test/testdata/lambda/echo as a Linux bootstrap.
func echoBootstrap(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("functions run as Linux processes")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "cutover-lambda-echo-")
		if buildErr != nil {
			return
		}
		// Stripped, so that tests move (and extract) fewer bytes.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(buildDir, "bootstrap"), ".")
		cmd.Dir = filepath.Join("..", "..", "test", "testdata", "lambda", "echo")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building echo: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "bootstrap")
}

var (
	zipOnce  sync.Once
	echoZipB []byte
)

// echoZip is the echo bootstrap zipped as AWS expects it: "bootstrap" at
// the root, executable.
func echoZip(t testing.TB) []byte {
	t.Helper()
	path := echoBootstrap(t)
	zipOnce.Do(func() {
		b, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		echoZipB = makeZip(map[string][]byte{"bootstrap": b}, 0o755)
	})
	return echoZipB
}

func makeZip(files map[string][]byte, mode os.FileMode) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes()
}

// env is one Lambda service on real SQLite, a fake clock and a temp data
// dir, behind the real router and SigV4 verifier, served over HTTP.
type env struct {
	t       testing.TB
	ctx     context.Context
	clk     *clock.Fake
	svc     *Service
	srv     *httptest.Server
	client  *lsdk.Client
	dataDir string
}

type envOpts struct {
	maxEnv  int
	objects ObjectReader
	idle    time.Duration
	images  Launcher
}

func newEnv(t testing.TB, opts ...envOpts) *env {
	t.Helper()
	var o envOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	dir := t.TempDir()
	if o.objects == nil {
		o.objects = echoObjects{t}
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "cutover.db"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	// The fake clock starts at the real time, so that the deadlines handed
	// to functions are meaningful to them.
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Millisecond))
	svc, err := New(Config{
		Region: testRegion, AccountID: testAccount, Store: db, Clock: clk, Log: quietLog(),
		DataDir: filepath.Join(dir, "lambda"), Objects: o.objects, EndpointURL: "http://cutover.test:8080",
		AccessKeyID: "AKIDFUNCTION", SecretAccessKey: "function-secret",
		MaxEnvironmentsPerFunction: o.maxEnv, IdleTimeout: o.idle, Images: o.images,
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := awsproto.NewRouter(sigv4.New(keys, testRegion, nil), quietLog())
	svc.Register(rt)
	e := &env{t: t, ctx: context.Background(), clk: clk, svc: svc, srv: httptest.NewServer(rt), dataDir: filepath.Join(dir, "lambda")}
	e.client = lsdk.New(lsdk.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		BaseEndpoint:     aws.String(e.srv.URL),
		RetryMaxAttempts: 1,
	})
	t.Cleanup(func() {
		e.srv.Close()
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return e
}

type fnOpt func(*lsdk.CreateFunctionInput)

func withEnv(kv ...string) fnOpt {
	return func(in *lsdk.CreateFunctionInput) {
		vars := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			vars[kv[i]] = kv[i+1]
		}
		in.Environment = &types.Environment{Variables: vars}
	}
}

func withTimeout(sec int32) fnOpt {
	return func(in *lsdk.CreateFunctionInput) { in.Timeout = aws.Int32(sec) }
}

func withZip(b []byte) fnOpt {
	return func(in *lsdk.CreateFunctionInput) { in.Code = &types.FunctionCode{ZipFile: b} }
}

// createEcho creates a function running the echo bootstrap.
func (e *env) createEcho(name string, opts ...fnOpt) *lsdk.CreateFunctionOutput {
	e.t.Helper()
	// The code comes through the S3 seam: a 5 MB zip base64-encoded in
	// every test's CreateFunction only slows the suite (ZipFile upload is
	// tested on its own, and by the CLI test).
	in := &lsdk.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{S3Bucket: aws.String("code"), S3Key: aws.String("echo.zip")},
	}
	for _, o := range opts {
		o(in)
	}
	out, err := e.client.CreateFunction(e.ctx, in)
	if err != nil {
		e.t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// echoObjects serves the echo zip as s3://code/echo.zip.
type echoObjects struct{ t testing.TB }

func (o echoObjects) Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, error) {
	if bucket != "code" || key != "echo.zip" {
		return nil, &awsproto.Error{Code: "NoSuchKey", Message: "The specified key does not exist.", Status: 404}
	}
	return io.NopCloser(bytes.NewReader(echoZip(o.t))), nil
}

// smallZip is a valid zip with a bootstrap that is never run, for API
// tests that need no execution.
func smallZip(content string) []byte {
	return makeZip(map[string][]byte{"bootstrap": []byte("#!/bin/sh\n# " + content + "\n")}, 0o755)
}

func (e *env) createSmall(name, content string) *lsdk.CreateFunctionOutput {
	e.t.Helper()
	out, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2,
		Handler: aws.String("h"), Code: &types.FunctionCode{ZipFile: smallZip(content)},
	})
	if err != nil {
		e.t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := errCode(err); got != code {
		t.Fatalf("want %s, got %q (%v)", code, got, err)
	}
}

// raw sends a signed request as a client that skips the SDK's own
// checks would, for what the SDK refuses to send.
func (e *env) raw(method, path string, body []byte, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(e.ctx, creds, req, hash, "lambda", testRegion, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *env) arn(name string) string {
	return "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:" + name
}

// runDirs counts environment directories on disk.
func (e *env) runDirs() int {
	entries, _ := os.ReadDir(filepath.Join(e.dataDir, "run"))
	return len(entries)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
