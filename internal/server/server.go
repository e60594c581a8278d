// Package server assembles cutover: it opens the store, loads the
// credentials, builds the signature-checking router, registers every AWS
// service on it, and serves the result over HTTP and HTTPS with health,
// metrics and graceful shutdown. It holds no service logic of its own.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/tlsboot"
)

// MaxJSONBody is the largest request body a JSON service accepts. AWS's JSON
// services take requests of several MB (CodeDeploy's AppSpecContent and
// ECS task definitions are the large ones); 6 MiB matches Lambda's
// synchronous payload limit, the largest such limit AWS documents for the
// services cutover serves, while still bounding the memory one request can
// pin before its signature is checked.
const MaxJSONBody = 6 << 20

// MaxQueryBody is the largest form a Query-protocol service (ELBv2) accepts.
// Its requests are a few KB even with every rule condition and tag; 1 MiB
// leaves ample room while keeping unsigned junk cheap to refuse.
const MaxQueryBody = 1 << 20

// DBFile is the SQLite file inside the data directory.
const DBFile = "cutover.db"

// Config is everything `cutover server` takes on its command line.
type Config struct {
	// Addr is the plain HTTP listen address; TLSAddr the HTTPS one ("" to
	// disable HTTPS).
	Addr, TLSAddr string
	DataDir       string
	Region        string
	AccountID     string
	// TLSCert and TLSKey name a key pair to serve instead of the generated one.
	TLSCert, TLSKey string
	// LBBind is the address the built-in load balancer binds its listeners
	// to.
	LBBind string
	// LBNoIOUring serves every load balancer connection with a goroutine
	// even where io_uring is available.
	LBNoIOUring bool
	Version     string
	Log         *slog.Logger
	// S3Endpoint, when set, is an S3-compatible endpoint (AWS S3, MinIO,
	// ...) that revision bundles and function code are read from instead of
	// cutover's own S3; its credentials come from the standard AWS chain.
	S3Endpoint string
	// Now is the clock every service uses; nil means time.Now.
	Now func() time.Time
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once shutdown starts; zero means 15 seconds.
	ShutdownTimeout time.Duration
	// Runtime runs ECS tasks: "process" (host processes), "docker", or ""
	// for none (tasks are recorded but not run).
	Runtime string
	// TimeScale makes deployment waits pass N times faster (hooks, bake
	// times, canary intervals); 0 or 1 is real time.
	TimeScale float64
	// APIOnly leaves the background work (ECS scheduler, deployment engine)
	// off, for tests that compare stored state byte for byte.
	APIOnly bool
}

// Server is a running cutover.
type Server struct {
	cfg Config
	log *slog.Logger

	store    store.Store
	keys     keySource
	router   *awsproto.Router
	handler  http.Handler
	registry *prometheus.Registry
	// jsonServices maps a signing name to its JSON service, for tools
	// (the fidelity test) that walk what is implemented.
	jsonServices map[string]*jsonrpc.Service
	closers      []func() error

	tlsFiles tlsboot.Result
	userCert bool

	httpLn, tlsLn   net.Listener
	httpSrv, tlsSrv *http.Server

	// started is set by Start: until then the HTTP servers do not own the
	// listeners, and Shutdown closes them itself.
	started bool
	// loops are the background workers Start runs; Shutdown ends them.
	loops     []func(context.Context) error
	loopsStop context.CancelFunc
	loopsDone sync.WaitGroup

	errc         chan error
	shutdownOnce sync.Once
	shutdownErr  error
}

// keySource is what the server needs from the credential store beyond
// signature verification: the root pair to show the user.
type keySource interface {
	Generated() bool
	RootKey() (accessKeyID, secret string)
	Path() string
	SecretSource() string
}

// New builds the server and binds its listeners, so that Addr and TLSAddr
// are known (useful with port 0) before Start serves anything. On error
// everything already opened is closed again.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "cutover-data"
	}
	// An absolute data dir makes the paths shown to the user (CA file,
	// credentials) usable from any directory.
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("server: --tls-cert and --tls-key go together")
	}
	s := &Server{cfg: cfg, log: cfg.Log, jsonServices: map[string]*jsonrpc.Service{}, errc: make(chan error, 2)}
	defer func() {
		if err != nil {
			s.closeListeners()
			s.closeAll()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: creating data dir: %w", err)
	}
	s.registry = newRegistry()
	// Bound first, so that the parts know the address the server is
	// reached at (SNS builds its SubscribeURL and SigningCertURL on it).
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.openParts(ctx); err != nil {
		return nil, err
	}
	s.handler = s.instrument(s.router)
	return s, nil
}

// listen binds both listeners and prepares the HTTP servers.
func (s *Server) listen() error {
	var err error
	s.httpLn, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listening on %s: %w", s.cfg.Addr, err)
	}
	s.httpSrv = s.newHTTPServer()
	if s.cfg.TLSAddr == "" {
		return nil
	}
	cert, err := s.certificate()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.TLSAddr)
	if err != nil {
		return fmt.Errorf("server: listening on %s: %w", s.cfg.TLSAddr, err)
	}
	s.tlsLn = tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	})
	s.tlsSrv = s.newHTTPServer()
	return nil
}

func (s *Server) certificate() (tls.Certificate, error) {
	if s.cfg.TLSCert != "" {
		s.userCert = true
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return cert, fmt.Errorf("server: loading TLS key pair: %w", err)
		}
		return cert, nil
	}
	res, err := tlsboot.Ensure(filepath.Join(s.cfg.DataDir, "tls"), tlsboot.HostsFor(s.cfg.TLSAddr), s.cfg.Now())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server: preparing TLS certificate: %w", err)
	}
	s.tlsFiles = res
	if res.CAGenerated {
		s.log.Info("generated a certificate authority", "ca", res.CAFile)
	}
	if res.CertGenerated {
		s.log.Info("generated the server certificate", "cert", res.CertFile)
	}
	cert, err := res.Certificate()
	if err != nil {
		return cert, fmt.Errorf("server: loading TLS key pair: %w", err)
	}
	return cert, nil
}

func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		// s.handler is assembled after the listeners are bound, before
		// serving starts.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }),
		// A slow client may not hold a connection open without sending its
		// headers; bodies are bounded by each service's MaxBody instead of a
		// ReadTimeout so that large uploads on slow links still work.
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: the agent's long poll (PollHostCommand) and
		// streamed downloads legitimately take longer than any fixed bound.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Start serves on both listeners in the background. A listener that fails
// reports on Err.
func (s *Server) Start() {
	s.started = true
	serve := func(srv *http.Server, ln net.Listener, name string) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("server: %s listener: %w", name, err)
		}
	}
	go serve(s.httpSrv, s.httpLn, "HTTP")
	if s.tlsSrv != nil {
		go serve(s.tlsSrv, s.tlsLn, "HTTPS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.loopsStop = cancel
	for _, loop := range s.loops {
		s.loopsDone.Go(func() {
			if err := loop(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("background worker stopped", "err", err)
			}
		})
	}
	s.log.Info("serving", "http", s.Endpoint(), "https", s.TLSEndpoint(), "data_dir", s.cfg.DataDir, "region", s.cfg.Region)
}

// Err reports a listener that stopped on its own.
func (s *Server) Err() <-chan error { return s.errc }

// Run starts the server and serves until ctx is done (SIGTERM, SIGINT) or a
// listener fails, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	s.Start()
	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "reason", context.Cause(ctx))
	case runErr = <-s.errc:
		s.log.Error("listener failed, shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, s.Shutdown(sctx))
}

// Shutdown stops accepting connections, lets in-flight requests finish until
// ctx is done (then cuts them), and closes the services and the store. It is
// safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		if !s.started {
			s.closeListeners()
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for _, srv := range []*http.Server{s.httpSrv, s.tlsSrv} {
			if srv == nil {
				continue
			}
			wg.Go(func() {
				if err := srv.Shutdown(ctx); err != nil {
					// The deadline passed with requests still running: cut
					// them so the store can be closed.
					srv.Close()
					mu.Lock()
					errs = append(errs, fmt.Errorf("server: graceful shutdown: %w", err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// Requests are done; now the background workers, which write to the
		// store and drive the runtime, stop before those close.
		if s.loopsStop != nil {
			s.loopsStop()
			done := make(chan struct{})
			go func() { s.loopsDone.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("server: background workers still running at the shutdown deadline: %w", ctx.Err()))
			}
		}
		errs = append(errs, s.closeAll())
		s.shutdownErr = errors.Join(errs...)
		if s.shutdownErr == nil {
			s.log.Info("stopped")
		}
	})
	return s.shutdownErr
}

// closeAll closes what New opened, in reverse order: services before the
// store they write to.
func (s *Server) closeAll() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

// closeListeners releases the ports of a server that never served.
func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.httpLn, s.tlsLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Handler is the whole HTTP handler, as served on both listeners.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the bound HTTP address.
func (s *Server) Addr() string { return s.httpLn.Addr().String() }

// Runtime names the runtime ECS tasks run on (what --runtime auto chose).
func (s *Server) Runtime() string { return s.cfg.Runtime }

// TLSAddr is the bound HTTPS address, or "" when HTTPS is off.
func (s *Server) TLSAddr() string {
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// Endpoint is the URL a local client uses over HTTP.
func (s *Server) Endpoint() string { return "http://" + dialable(s.Addr()) }

// TLSEndpoint is the URL a local client uses over HTTPS, or "".
func (s *Server) TLSEndpoint() string {
	if s.tlsLn == nil {
		return ""
	}
	return "https://" + dialable(s.TLSAddr())
}

// CAFile is the generated CA clients must trust for HTTPS, or "" when the
// server uses a key pair given on the command line.
func (s *Server) CAFile() string {
	if s.userCert {
		return ""
	}
	return s.tlsFiles.CAFile
}

// DataDir is the data directory in use.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Region is the region the server signs for.
func (s *Server) Region() string { return s.cfg.Region }

// RootCredentials is the root key pair and whether this start generated it.
func (s *Server) RootCredentials() (accessKeyID, secret string, generated bool) {
	id, sec := s.keys.RootKey()
	return id, sec, s.keys.Generated()
}

// CredentialsFile is where the key pairs are kept.
func (s *Server) CredentialsFile() string { return s.keys.Path() }

// JSONService returns the JSON service registered under a signing name, or
// nil.
func (s *Server) JSONService(signingName string) *jsonrpc.Service {
	return s.jsonServices[signingName]
}

// Store is the store the services use; tests read it to check what was kept.
func (s *Server) Store() store.Store { return s.store }

// dialable turns a wildcard listen address into the loopback one a local
// client can dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}
