package cloudwatch

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testKeyID   = "AKIDCWTEST"
	testSecret  = "cw-test-secret"
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

var keys = testKeys{testKeyID: {AccessKeyID: testKeyID, SecretAccessKey: testSecret, Root: true}}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// t0 is a period boundary, so tests can reason in whole minutes.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// env is one CloudWatch service on real SQLite with a fake clock, behind
// the real router and SigV4 verifier.
type env struct {
	t      testing.TB
	ctx    context.Context
	clk    *clock.Fake
	dbPath string
	db     store.Store
	svc    *Service
	srv    *httptest.Server
	limits Limits
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(t0), dbPath: filepath.Join(t.TempDir(), "cutover.db")}
	e.open()
	return e
}

func (e *env) open() {
	t := e.t
	db, err := sqlite.Open(e.ctx, e.dbPath, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Region: testRegion, AccountID: testAccount, Store: db, Clock: e.clk, Log: quietLog(), Limits: e.limits})
	if err != nil {
		t.Fatal(err)
	}
	verifier := sigv4.New(keys, testRegion, nil)
	rt := awsproto.NewRouter(verifier, quietLog())
	svc.Register(rt, 1<<20)
	e.db, e.svc, e.srv = db, svc, httptest.NewServer(rt)
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.srv != nil {
		e.srv.Close()
		e.db.Close()
		e.srv = nil
	}
}

// restart reopens the store and a new service, as a server restart does.
func (e *env) restart() {
	e.close()
	e.open()
}

func (e *env) client() *cw.Client {
	return cw.New(cw.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		BaseEndpoint: aws.String(e.srv.URL),
		// The SDK signs with the real clock; the server's verifier also
		// checks the real clock, so only the service runs on the fake one.
	})
}

// advance moves the fake clock and runs one evaluation pass.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.clk.Advance(d)
	if err := e.svc.EvaluateOnce(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) state(name string) string {
	e.t.Helper()
	s, ok, err := e.svc.AlarmState(e.ctx, name)
	if err != nil || !ok {
		e.t.Fatalf("AlarmState(%s) = %q %v %v", name, s, ok, err)
	}
	return s
}

func (e *env) put(ns, name string, v float64, at time.Time, dims ...Dimension) {
	e.t.Helper()
	if _, err := e.svc.PutMetricData(e.ctx, &PutMetricDataInput{Namespace: ns, MetricData: []MetricDatum{{
		MetricName: name, Dimensions: dims, Value: &v, Timestamp: inTime(at.Format(time.RFC3339Nano)),
	}}}); err != nil {
		e.t.Fatal(err)
	}
}

func clockAt() *clock.Fake { return clock.NewFake(t0) }

func errCode(err error) string {
	if e := awsproto.AsError(err); e != nil {
		return e.Code
	}
	return ""
}
