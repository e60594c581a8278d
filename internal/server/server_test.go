package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	_ "modernc.org/sqlite"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/server"
)

const (
	region = "us-east-1"
	target = "CodeDeploy_20141006."
)

// start runs a real server on loopback ports chosen by the kernel, with its
// data in dir, and shuts it down when the test ends.
func start(t *testing.T, dir string) *server.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(t.Context(), server.Config{
		Addr:    "127.0.0.1:0",
		TLSAddr: "127.0.0.1:0",
		DataDir: dir,
		Region:  region,
		Version: "test",
		Log:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// tlsClient trusts only the server's generated CA.
func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

type clientOpts struct {
	endpoint   string
	httpClient *http.Client
	id, secret string
	anonymous  bool
	skew       time.Duration
}

// sdk is the real Go SDK client, without retries so a refused request
// fails at once with the server's own error.
func sdk(o clientOpts) *codedeploy.Client {
	opts := codedeploy.Options{
		Region:           region,
		BaseEndpoint:     aws.String(o.endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(o.id, o.secret, ""),
		RetryMaxAttempts: 1,
	}
	if o.anonymous {
		opts.Credentials = aws.AnonymousCredentials{}
	}
	if o.httpClient != nil {
		opts.HTTPClient = o.httpClient
	}
	if o.skew != 0 {
		opts.HTTPSignerV4 = skewSigner{v4.NewSigner(), o.skew}
	}
	return codedeploy.New(opts)
}

// skewSigner signs as a client whose clock is off by skew.
type skewSigner struct {
	s    *v4.Signer
	skew time.Duration
}

func (k skewSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error {
	return k.s.SignHTTP(ctx, c, r, payloadHash, service, region, t.Add(k.skew), opts...)
}

func rootClient(t *testing.T, srv *server.Server, overTLS bool) *codedeploy.Client {
	t.Helper()
	id, secret, _ := srv.RootCredentials()
	o := clientOpts{endpoint: srv.Endpoint(), id: id, secret: secret}
	if overTLS {
		o.endpoint = srv.TLSEndpoint()
		o.httpClient = tlsClient(t, srv.CAFile())
	}
	return sdk(o)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSignedRequests(t *testing.T) {
	// The SDK honours AWS_CA_BUNDLE only through config loading, which these
	// clients do not use; clearing it keeps the test independent of the
	// machine anyway.
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := start(t, t.TempDir())
	for _, tt := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"https", true}} {
		t.Run(tt.name, func(t *testing.T) {
			cd := rootClient(t, srv, tt.tls)
			ctx := t.Context()
			name := "app-" + tt.name
			created, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(name)})
			if err != nil {
				t.Fatalf("CreateApplication: %v", err)
			}
			got, err := cd.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String(name)})
			if err != nil {
				t.Fatalf("GetApplication: %v", err)
			}
			if aws.ToString(got.Application.ApplicationId) != aws.ToString(created.ApplicationId) {
				t.Errorf("application id %q, want %q", aws.ToString(got.Application.ApplicationId), aws.ToString(created.ApplicationId))
			}
			list, err := cd.ListApplications(ctx, &codedeploy.ListApplicationsInput{})
			if err != nil {
				t.Fatalf("ListApplications: %v", err)
			}
			found := false
			for _, a := range list.Applications {
				found = found || a == name
			}
			if !found {
				t.Errorf("ListApplications %v lacks %s", list.Applications, name)
			}
		})
	}
}

func TestAuthenticationFailures(t *testing.T) {
	srv := start(t, t.TempDir())
	id, secret, _ := srv.RootCredentials()
	tests := []struct {
		name     string
		opts     clientOpts
		wantCode string
	}{
		{"wrong secret", clientOpts{id: id, secret: secret + "x"}, "InvalidSignatureException"},
		{"unknown key", clientOpts{id: "AKIAUNKNOWNUNKNOWN00", secret: secret}, "UnrecognizedClientException"},
		{"no signature", clientOpts{anonymous: true}, "MissingAuthenticationTokenException"},
		{"clock 20 minutes behind", clientOpts{id: id, secret: secret, skew: -20 * time.Minute}, "InvalidSignatureException"},
		{"clock 20 minutes ahead", clientOpts{id: id, secret: secret, skew: 20 * time.Minute}, "InvalidSignatureException"},
		{"clock 5 minutes off is tolerated", clientOpts{id: id, secret: secret, skew: 5 * time.Minute}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.endpoint = srv.Endpoint()
			_, err := sdk(tt.opts).ListApplications(t.Context(), &codedeploy.ListApplicationsInput{})
			if got := errorCode(err); got != tt.wantCode {
				t.Errorf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

// rawCall sends one JSON 1.1 request and returns the status and __type.
func rawCall(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Type string `json:"__type"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &body)
	return resp.StatusCode, body.Type
}

func newJSONRequest(t *testing.T, url, op string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target+op)
	return req
}

func TestRawRequests(t *testing.T) {
	srv := start(t, t.TempDir())
	id, secret, _ := srv.RootCredentials()
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	hashOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	tests := []struct {
		name       string
		body       []byte
		prepare    func(t *testing.T, req *http.Request, body []byte) *http.Request
		wantStatus int
		wantType   string
	}{
		{
			name: "presigned URL",
			body: []byte(`{}`),
			prepare: func(t *testing.T, req *http.Request, body []byte) *http.Request {
				u, hdr, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req, hashOf(body), "codedeploy", region, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				pre := newJSONRequest(t, u, "ListApplications", body)
				for k, v := range hdr {
					pre.Header[k] = v
				}
				return pre
			},
			wantStatus: http.StatusOK,
		},
		{
			name: "presigned URL with a wrong secret",
			body: []byte(`{}`),
			prepare: func(t *testing.T, req *http.Request, body []byte) *http.Request {
				bad := creds
				bad.SecretAccessKey += "x"
				u, hdr, err := v4.NewSigner().PresignHTTP(t.Context(), bad, req, hashOf(body), "codedeploy", region, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				pre := newJSONRequest(t, u, "ListApplications", body)
				for k, v := range hdr {
					pre.Header[k] = v
				}
				return pre
			},
			wantStatus: http.StatusBadRequest,
			wantType:   "InvalidSignatureException",
		},
		{
			name: "signed with a time 20 minutes old",
			body: []byte(`{}`),
			prepare: func(t *testing.T, req *http.Request, body []byte) *http.Request {
				if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hashOf(body), "codedeploy", region, time.Now().Add(-20*time.Minute)); err != nil {
					t.Fatal(err)
				}
				return req
			},
			wantStatus: http.StatusBadRequest,
			wantType:   "InvalidSignatureException",
		},
		{
			name: "body over the limit",
			body: []byte(`{"applicationName":"` + strings.Repeat("a", server.MaxJSONBody) + `"}`),
			prepare: func(t *testing.T, req *http.Request, body []byte) *http.Request {
				if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hashOf(body), "codedeploy", region, time.Now()); err != nil {
					t.Fatal(err)
				}
				return req
			},
			wantStatus: http.StatusRequestEntityTooLarge,
			wantType:   "SerializationException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.prepare(t, newJSONRequest(t, srv.Endpoint()+"/", "ListApplications", tt.body), tt.body)
			status, typ := rawCall(t, http.DefaultClient, req)
			if status != tt.wantStatus || typ != tt.wantType {
				t.Errorf("got %d %q, want %d %q", status, typ, tt.wantStatus, tt.wantType)
			}
		})
	}
}

func TestNonAWSRoutes(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := start(t, t.TempDir())
	// One API call first, so the API metrics have a sample.
	if _, err := rootClient(t, srv, false).ListApplications(t.Context(), &codedeploy.ListApplicationsInput{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url    string
		client       *http.Client
		wantStatus   int
		wantContains []string
	}{
		{"healthz", srv.Endpoint() + "/healthz", http.DefaultClient, 200, []string{`"status":"ok"`, `"store"`}},
		{"root over TLS, as the agent probes it", srv.TLSEndpoint() + "/", tlsClient(t, srv.CAFile()), 200, []string{"cutover"}},
		{"metrics", srv.Endpoint() + "/metrics", http.DefaultClient, 200, []string{
			`cutover_api_requests_total{operation="ListApplications",status="200"} 1`,
			"go_goroutines",
		}},
		{"unknown path", srv.Endpoint() + "/nope", http.DefaultClient, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			for _, s := range tt.wantContains {
				if !strings.Contains(string(b), s) {
					t.Errorf("body lacks %q:\n%.2000s", s, b)
				}
			}
		})
	}
}

func TestRestartKeepsKeysCertificatesAndData(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	dir := t.TempDir()
	first := start(t, dir)
	id, secret, generated := first.RootCredentials()
	if !generated {
		t.Error("first start did not report a generated key pair")
	}
	caBefore, err := os.ReadFile(first.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rootClient(t, first, false).CreateApplication(t.Context(), &codedeploy.CreateApplicationInput{ApplicationName: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	// The client built now trusts the first start's CA; it must still work
	// against the second start.
	oldCAClient := tlsClient(t, first.CAFile())
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	second := start(t, dir)
	id2, secret2, generated2 := second.RootCredentials()
	if generated2 || id2 != id || secret2 != secret {
		t.Errorf("second start: key %s generated=%v, want the first start's %s", id2, generated2, id)
	}
	caAfter, err := os.ReadFile(second.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caBefore, caAfter) {
		t.Error("CA changed across restarts")
	}
	cd := sdk(clientOpts{endpoint: second.TLSEndpoint(), httpClient: oldCAClient, id: id, secret: secret})
	if _, err := cd.GetApplication(t.Context(), &codedeploy.GetApplicationInput{ApplicationName: aws.String("kept")}); err != nil {
		t.Errorf("application lost across restart: %v", err)
	}
}

// TestShutdownUnderLoad shuts the server down while writes are in flight and
// checks that the SQLite file is intact and holds every acknowledged write.
func TestShutdownUnderLoad(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, dir)
	cd := rootClient(t, srv, false)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("load-%d-%d", w, i)
				if _, err := cd.CreateApplication(context.Background(), &codedeploy.CreateApplicationInput{ApplicationName: aws.String(name)}); err != nil {
					return // the server went away
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before shutdown")
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, server.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	db.Close()

	again := start(t, dir)
	cd = rootClient(t, again, false)
	for _, name := range acked {
		if _, err := cd.GetApplication(t.Context(), &codedeploy.GetApplicationInput{ApplicationName: aws.String(name)}); err != nil {
			t.Errorf("acknowledged application %s lost: %v", name, err)
		}
	}
	t.Logf("%d applications acknowledged before shutdown, all kept", len(acked))
}

// TestLoadBalancerAPI checks that the ELBv2 Query API is wired beside
// CodeDeploy on the same listener and checked with the same keys.
func TestLoadBalancerAPI(t *testing.T) {
	srv := start(t, t.TempDir())
	id, secret, _ := srv.RootCredentials()
	client := func(secret string) *elbv2.Client {
		return elbv2.New(elbv2.Options{
			Region:           region,
			BaseEndpoint:     aws.String(srv.Endpoint()),
			Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	tests := []struct {
		name     string
		secret   string
		wantCode string
	}{
		{"signed", secret, ""},
		{"wrong secret", secret + "x", "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(tt.secret).DescribeLoadBalancers(t.Context(), &elbv2.DescribeLoadBalancersInput{})
			if got := errorCode(err); got != tt.wantCode {
				t.Errorf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestBanner(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name        string
		env         map[string]string
		wantSecret  bool
		wantContain []string
	}{
		{name: "first start shows the generated pair", wantSecret: true,
			wantContain: []string{"export AWS_ACCESS_KEY_ID=", "export AWS_DEFAULT_REGION=us-east-1", "aws deploy list-applications --endpoint-url http://127.0.0.1:", "--ca-bundle " + filepath.Join(dir, "tls", "ca.pem")}},
		{name: "later start points at the file", wantContain: []string{"secret in " + filepath.Join(dir, "credentials")}},
		{name: "root key from the environment", env: map[string]string{"CUTOVER_ACCESS_KEY_ID": "AKIAENVENVENVENV0000", "CUTOVER_SECRET_ACCESS_KEY": "envsecret"},
			wantContain: []string{"AKIAENVENVENVENV0000", "secret in $CUTOVER_SECRET_ACCESS_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			srv := start(t, dir)
			var b strings.Builder
			srv.Banner(&b)
			_, secret, _ := srv.RootCredentials()
			if got := strings.Contains(b.String(), secret); got != tt.wantSecret {
				t.Errorf("banner shows the secret = %v, want %v:\n%s", got, tt.wantSecret, b.String())
			}
			for _, s := range tt.wantContain {
				if !strings.Contains(b.String(), s) {
					t.Errorf("banner lacks %q:\n%s", s, b.String())
				}
			}
			if err := srv.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestShutdownWithoutStart releases the ports of a server that never served,
// so a second server can bind them.
func TestShutdownWithoutStart(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr, tlsAddr := srv.Addr(), srv.TLSAddr()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	again, err := server.New(t.Context(), server.Config{Addr: addr, TLSAddr: tlsAddr, DataDir: dir})
	if err != nil {
		t.Fatalf("ports not released: %v", err)
	}
	again.Shutdown(t.Context())
}

// TestNewFailsCleanly checks that a failed start (the HTTPS port is taken)
// leaves nothing open: the HTTP port and the store can be used again.
func TestNewFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	first := start(t, dir)
	taken := first.TLSAddr()
	first.Shutdown(t.Context())

	blocker, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", TLSAddr: taken, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Shutdown(t.Context())

	_, err = server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", TLSAddr: taken, DataDir: dir})
	if err == nil {
		t.Fatal("New succeeded on a taken HTTPS port")
	}
	again, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("data dir unusable after a failed start: %v", err)
	}
	again.Shutdown(t.Context())
}

// TestObjectsAndPagingAcrossRestart puts and gets an S3 object through the
// signed router, and checks that a nextToken handed out before a restart
// is still accepted after it (the token key lives in the store).
func TestObjectsAndPagingAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, dir)
	id, secret, _ := srv.RootCredentials()
	objects := s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String(srv.Endpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1,
	})
	ctx := t.Context()
	if _, err := objects.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bundles")}); err != nil {
		t.Fatal(err)
	}
	if _, err := objects.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String("app/v1.zip"), Body: strings.NewReader("bundle bytes")}); err != nil {
		t.Fatal(err)
	}
	got, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bundles"), Key: aws.String("app/v1.zip")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(body) != "bundle bytes" {
		t.Fatalf("object body %q", body)
	}

	cd := rootClient(t, srv, false)
	for i := range 101 {
		if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(fmt.Sprintf("app-%03d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := cd.ListApplications(ctx, &codedeploy.ListApplicationsInput{})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page: %v, token %v", err, page.NextToken)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		t.Fatal(err)
	}
	awsproto.SetTokenKey([]byte("a key from some other process")) // forget the old one
	srv = start(t, dir)
	next, err := rootClient(t, srv, false).ListApplications(ctx, &codedeploy.ListApplicationsInput{NextToken: page.NextToken})
	if err != nil || len(next.Applications) != 1 || next.Applications[0] != "app-100" {
		t.Fatalf("token from before the restart: %v %v", err, next)
	}
}

// TestCloudWatchAPI drives CloudWatch through the signed router with the
// current Go SDK (which speaks RPC v2 CBOR): a metric pushed and read back,
// an alarm stored and described, and a wrong secret refused.
func TestCloudWatchAPI(t *testing.T) {
	srv := start(t, t.TempDir())
	id, secret, _ := srv.RootCredentials()
	client := func(secret string) *cloudwatch.Client {
		return cloudwatch.New(cloudwatch.Options{
			Region: region, BaseEndpoint: aws.String(srv.Endpoint()), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		})
	}
	cw, ctx := client(secret), t.Context()
	now := time.Now()
	_, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Shop"), MetricData: []cwtypes.MetricDatum{
		{MetricName: aws.String("Orders"), Value: aws.Float64(7), Timestamp: aws.Time(now), Unit: cwtypes.StandardUnitCount},
	}})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("Shop"), MetricName: aws.String("Orders"),
		StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)), Period: aws.Int32(60),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticSum}})
	if err != nil || len(stats.Datapoints) != 1 || *stats.Datapoints[0].Sum != 7 {
		t.Fatalf("GetMetricStatistics: %v %+v", err, stats)
	}
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("orders-high"), Namespace: aws.String("Shop"),
		MetricName: aws.String("Orders"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(100), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold}); err != nil {
		t.Fatal(err)
	}
	alarms, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"orders-high"}})
	if err != nil || len(alarms.MetricAlarms) != 1 || !strings.HasPrefix(*alarms.MetricAlarms[0].AlarmArn, "arn:aws:cloudwatch:us-east-1:") {
		t.Fatalf("DescribeAlarms: %v %+v", err, alarms)
	}
	if _, err := client(secret+"x").DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}
}

// --runtime auto runs tasks as host processes when no Docker engine
// answers (and in containers when one does; the docker runtime's own tests
// cover that side).
func TestRuntimeAutoFallsBackToProcesses(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	srv, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", TLSAddr: "", DataDir: t.TempDir(), Runtime: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if got := srv.Runtime(); got != "process" {
		t.Errorf("runtime %q, want process", got)
	}
}

// With --s3-endpoint, Server revisions are checked against another S3
// (here a second cutover), read with the standard AWS credential chain.
func TestExternalS3Endpoint(t *testing.T) {
	store := start(t, t.TempDir())
	id, secret, _ := store.RootCredentials()
	objects := s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String(store.Endpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1,
	})
	ctx := t.Context()
	if _, err := objects.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bundles")}); err != nil {
		t.Fatal(err)
	}
	put, err := objects.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String("app/v1.tgz"), Body: strings.NewReader("bundle bytes")})
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Region: region, S3Endpoint: store.Endpoint(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown(context.Background())
	cid, csecret, _ := srv.RootCredentials()
	cd := codedeploy.New(codedeploy.Options{Region: region, BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(cid, csecret, ""), RetryMaxAttempts: 1})
	if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("fleet"),
		ServiceRoleArn: aws.String("arn:aws:iam::000000000000:role/CodeDeploy")}); err != nil {
		t.Fatal(err)
	}
	deploy := func(key, etag string) error {
		_, err := cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("app"), DeploymentGroupName: aws.String("fleet"),
			Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3, S3Location: &cdtypes.S3Location{
				Bucket: aws.String("bundles"), Key: aws.String(key), BundleType: cdtypes.BundleTypeTarGZip, ETag: aws.String(etag)}}})
		return err
	}
	var bad *cdtypes.InvalidRevisionException
	if err := deploy("app/missing.tgz", ""); !errors.As(err, &bad) {
		t.Errorf("a bundle missing from the external S3: %v", err)
	}
	if err := deploy("app/v1.tgz", "0123456789abcdef0123456789abcdef"); !errors.As(err, &bad) {
		t.Errorf("a wrong ETag: %v", err)
	}
	if err := deploy("app/v1.tgz", strings.Trim(*put.ETag, `"`)); err != nil {
		t.Errorf("the bundle in the external S3: %v", err)
	}
}
