package sns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	snssdk "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testKeyID   = "AKIDSNSTEST"
	testSecret  = "sns-test-secret"
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

var keys = testKeys{testKeyID: {AccessKeyID: testKeyID, SecretAccessKey: testSecret, Root: true}}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// env is one SNS service on real SQLite with a fake clock, behind the real
// router and SigV4 verifier, with the public links mounted under /sns/ as
// the server does.
type env struct {
	t      testing.TB
	ctx    context.Context
	clk    *clock.Fake
	dbPath string
	db     store.Store
	svc    *Service
	srv    *httptest.Server
	events chan attemptEvent
	stop   func()
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
	// The server's address is only known once it listens; the handler is
	// installed after the service exists.
	// An atomic, because requests may come from another process (the AWS
	// CLI), which gives the race detector no ordering with this goroutine.
	var h atomic.Pointer[http.ServeMux]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	svc, err := New(Config{Region: testRegion, AccountID: testAccount, Store: db, Clock: e.clk, Log: quietLog(), PublicURL: srv.URL, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	e.events = make(chan attemptEvent, 100)
	svc.attempted = e.events
	rt := awsproto.NewRouter(sigv4.New(keys, testRegion, nil), quietLog())
	svc.Register(rt, 1<<20)
	mux := http.NewServeMux()
	mux.Handle(PublicPrefix, svc.PublicHandler())
	mux.Handle("/", rt)
	h.Store(mux)
	e.db, e.svc, e.srv = db, svc, srv
	t.Cleanup(e.close)
}

// run starts the delivery workers until the test ends or close.
func (e *env) run() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.svc.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	e.stop = func() { cancel(); <-done }
}

func (e *env) close() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
	if e.srv != nil {
		e.srv.Close()
		e.db.Close()
		e.srv = nil
	}
}

// restart stops everything and opens the same SQLite file again.
func (e *env) restart() {
	e.close()
	e.open()
}

func (e *env) client() *snssdk.Client {
	return snssdk.New(snssdk.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		BaseEndpoint: aws.String(e.srv.URL),
	})
}

// event waits for the next delivery attempt that reached an endpoint.
func (e *env) event() attemptEvent {
	e.t.Helper()
	for {
		if ev := e.anyEvent(); ev.Outcome != skipped {
			return ev
		}
	}
}

// anyEvent waits for the next delivery handled, skipped ones included.
func (e *env) anyEvent() attemptEvent {
	e.t.Helper()
	select {
	case ev := <-e.events:
		return ev
	case <-time.After(5 * time.Second):
		e.t.Fatal("no delivery attempt within 5s")
	}
	return attemptEvent{}
}

func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if e := awsproto.AsError(err); e != nil {
		return e.Code
	}
	return err.Error()
}

// subscriber is a real HTTP endpoint that records what SNS posts to it.
type subscriber struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
	got  chan received
	// respond picks the status for the n-th request (0-based); nil is 200.
	respond func(n int, r received) int
}

type received struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

func newSubscriber(t testing.TB, clk clock.Clock) *subscriber {
	s := &subscriber{got: make(chan received, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc := received{Header: r.Header.Clone(), Body: b, At: clk.Now()}
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, rc)
		respond := s.respond
		s.mu.Unlock()
		status := http.StatusOK
		if respond != nil {
			status = respond(n, rc)
		}
		w.WriteHeader(status)
		s.got <- rc
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) next(t testing.TB) received {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber got nothing within 5s")
	}
	return received{}
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}
