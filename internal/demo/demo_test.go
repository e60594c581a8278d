package demo_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/demo"
	"github.com/cutover/cutover/internal/server"
)

// TestMain lets the test binary be the demo app: the demo's tasks run
// os.Executable() with the demo-app argument, which in a test is this
// binary, so it serves instead of testing.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == demo.AppCommand {
		if err := demo.RunApp(context.Background()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestAppHandler(t *testing.T) {
	h := demo.AppHandler("v7")
	tests := []struct {
		path, wantBody, wantVersion string
	}{
		{"/", "version v7", "v7"},
		{"/anything", "version v7", "v7"},
		{"/health", "ok", ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tt.wantBody) || rec.Header().Get(demo.VersionHeader) != tt.wantVersion {
			t.Errorf("GET %s: %d %q version %q; want 200 containing %q, version %q",
				tt.path, rec.Code, rec.Body.String(), rec.Header().Get(demo.VersionHeader), tt.wantBody, tt.wantVersion)
		}
	}
}

// startServer runs the real server in-process as `server --demo` runs it:
// process runtime, the demo's time scale unless given.
func startServer(t *testing.T, dir string, scale float64) *server.Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := server.New(t.Context(), server.Config{
		Addr: "127.0.0.1:0", TLSAddr: "", DataDir: dir, Version: "test", Log: log,
		Runtime: "process", TimeScale: scale,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	return srv
}

func stop(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// syncBuffer is written by the demo and read by the test's failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func demoConfig(srv *server.Server, out io.Writer) demo.Config {
	id, secret, _ := srv.RootCredentials()
	return demo.Config{Endpoint: srv.Endpoint(), Region: srv.Region(), AccessKeyID: id, SecretAccessKey: secret,
		Dir: srv.DataDir() + "/demo", Out: out, PollInterval: 200 * time.Millisecond, SampleRequests: 20}
}

// TestDemo runs the demo as `cutover server --demo` does and checks that
// its deployment succeeds and v2 then serves production traffic; then it
// restarts the server on the same data dir and runs the demo again, which
// must reuse everything and deploy v3.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two real deployments")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()

	// Whatever happens, the demo's service goes before the server, so no
	// demo app process outlives the test.
	var srv *server.Server
	t.Cleanup(func() {
		if srv == nil {
			return
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if env, err := demo.Setup(cctx, demoConfig(srv, io.Discard)); err != nil {
			t.Errorf("cleanup: %v", err)
		} else if err := env.Cleanup(cctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		stop(srv)
	})

	srv = startServer(t, dir, demo.TimeScale)
	var out syncBuffer
	start := time.Now()
	res, err := demo.Run(ctx, demoConfig(srv, &out))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	took := time.Since(start)
	t.Logf("first demo run took %v:\n%s", took, out.String())
	if took > 90*time.Second {
		t.Errorf("the demo took %v; it should end within about a minute", took)
	}
	if res.From != "v1" || res.To != "v2" || !res.Watch.Succeeded() {
		t.Errorf("demo deployed %s → %s, outcome %+v; want v1 → v2 Succeeded", res.From, res.To, res.Watch.Final)
	}
	for _, want := range []string{"v1 serves production traffic", "AllowTraffic", "traffic  Blue 80% | Green 20%", "prod traffic sample:", "now serves v2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The listener is the proof: every answer is v2 now.
	env, err := demo.Setup(ctx, demoConfig(srv, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if v := env.Serving(ctx); v != "v2" {
			t.Fatalf("request %d to %s answered by %q, want v2", i, env.ProdURL, v)
		}
	}
	stop(srv)
	srv = nil

	// Second run, same data dir, a restarted server (which adopts the
	// running tasks): same listener, next version. Faster waits here; the
	// demo's own pace was checked above.
	srv = startServer(t, dir, 60)
	var out2 syncBuffer
	res2, err := demo.Run(ctx, demoConfig(srv, &out2))
	if err != nil {
		t.Fatalf("second demo run: %v\n%s", err, out2.String())
	}
	t.Logf("second demo run:\n%s", out2.String())
	if res2.From != "v2" || res2.To != "v3" || res2.ProdURL != res.ProdURL {
		t.Errorf("second run deployed %s → %s on %s; want v2 → v3 on %s", res2.From, res2.To, res2.ProdURL, res.ProdURL)
	}
	if strings.Contains(out2.String(), "created ECS service") {
		t.Errorf("second run re-created the service:\n%s", out2.String())
	}
	if v := env.Serving(ctx); v != "v3" {
		t.Errorf("after the second run the listener answers %q, want v3", v)
	}
}
