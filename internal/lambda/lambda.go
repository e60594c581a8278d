// Package lambda serves the subset of AWS Lambda that CodeDeploy Lambda
// deployments and Lambda hook functions need — functions, versions,
// aliases with weighted routing, tags and Invoke — over Lambda's REST-JSON
// API, and really runs the functions: each execution environment is a host
// process running the function's bootstrap against a Runtime API served
// by this package (runtimeapi), so that a function built for AWS with
// aws-lambda-go runs unmodified.
//
// Function state lives in the store; code zips are content-addressed
// files under the data directory. The engine uses the in-process API
// (Invoke, InvokeAsync, AliasRouting, SetAliasRouting, ResolveVersion).
package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

// ObjectReader reads a code package from S3 (Code.S3Bucket/S3Key). version
// is empty for the current version. Errors that are *awsproto.Error (NoSuchKey,
// NoSuchBucket, ...) are reported to the caller by their code.
type ObjectReader interface {
	Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, error)
}

// Config configures a Service.
type Config struct {
	Region    string
	AccountID string
	Store     store.Store
	Clock     clock.Clock
	Log       *slog.Logger
	// DataDir holds code zips (code/), running environments (run/) and
	// per-function logs (logs/).
	DataDir string
	// Objects reads S3 code packages; nil refuses Code.S3Bucket.
	Objects ObjectReader
	// EndpointURL, AccessKeyID and SecretAccessKey are given to functions
	// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) so that
	// SDK calls from a function reach cutover.
	EndpointURL     string
	AccessKeyID     string
	SecretAccessKey string
	// MaxEnvironmentsPerFunction bounds concurrent environments of one
	// function version; further invocations queue. Default 10.
	MaxEnvironmentsPerFunction int
	// IdleTimeout is how long an unused warm environment is kept. Default 10 minutes.
	IdleTimeout time.Duration
	// Images runs PackageType Image functions; nil makes their invocation
	// fail with a clear error (the functions can still be created and read).
	Images Launcher
	// AsyncQueue bounds queued Event invocations. Default 1000.
	AsyncQueue int
}

// Service is the Lambda API and the environments running its functions.
type Service struct {
	region, account string
	store           store.Store
	clock           clock.Clock
	log             *slog.Logger
	dataDir         string
	objects         ObjectReader
	endpoint        string
	keyID, secret   string
	maxEnv          int
	idle            time.Duration
	images          Launcher
	processes       Launcher
	code            *codeStore
	codeMu          sync.RWMutex // read: a zip is stored but not yet committed; write: sweeping
	sweeps          sync.WaitGroup
	logs            *logFiles
	handler         http.Handler
	targets         targetCache

	rngMu sync.Mutex
	rng   *rand.Rand

	mu     sync.Mutex
	pools  map[poolKey]*pool
	closed bool

	async   chan asyncEvent
	quit    chan struct{}
	wg      sync.WaitGroup
	onAsync func(asyncOutcome) // test hook: called after each Event attempt
}

const (
	defaultMaxEnv     = 10
	defaultIdle       = 10 * time.Minute
	defaultAsyncQueue = 1000
	asyncWorkers      = 4
)

// New opens the data directory, removes environments a crash left behind
// and starts the idle reaper and the Event invocation workers.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.DataDir == "" {
		return nil, errors.New("lambda: Store and DataDir are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxEnvironmentsPerFunction <= 0 {
		cfg.MaxEnvironmentsPerFunction = defaultMaxEnv
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdle
	}
	if cfg.AsyncQueue <= 0 {
		cfg.AsyncQueue = defaultAsyncQueue
	}
	code, err := newCodeStore(filepath.Join(cfg.DataDir, "code"))
	if err != nil {
		return nil, err
	}
	run := filepath.Join(cfg.DataDir, "run")
	if err := os.RemoveAll(run); err != nil {
		return nil, fmt.Errorf("lambda: removing stale environments: %w", err)
	}
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, fmt.Errorf("lambda: creating %s: %w", run, err)
	}
	logs, err := newLogFiles(filepath.Join(cfg.DataDir, "logs"))
	if err != nil {
		return nil, err
	}
	s := &Service{
		region: cfg.Region, account: cfg.AccountID, store: cfg.Store, clock: cfg.Clock, log: cfg.Log,
		dataDir: cfg.DataDir, objects: cfg.Objects, endpoint: cfg.EndpointURL,
		keyID: cfg.AccessKeyID, secret: cfg.SecretAccessKey,
		maxEnv: cfg.MaxEnvironmentsPerFunction, idle: cfg.IdleTimeout,
		images: cfg.Images, processes: processLauncher{}, code: code, logs: logs,
		rng:   rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6c616d626461)),
		pools: map[poolKey]*pool{},
		async: make(chan asyncEvent, cfg.AsyncQueue),
		quit:  make(chan struct{}),
	}
	s.handler = s.routes()
	s.sweepCode(context.Background()) // zips a crash left unreferenced
	s.wg.Add(1)
	go s.reapLoop()
	for range asyncWorkers {
		s.wg.Add(1)
		go s.asyncWorker()
	}
	return s, nil
}

// Close stops every environment and background worker. Queued Event
// invocations that have not started are dropped (and logged).
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	pools := s.pools
	s.pools = map[poolKey]*pool{}
	s.mu.Unlock()
	close(s.quit)
	for _, p := range pools {
		p.close()
	}
	s.wg.Wait()
	s.sweeps.Wait()
	for _, p := range pools {
		p.wait()
	}
	if n := len(s.async); n > 0 {
		s.log.Warn("lambda: dropping queued Event invocations at shutdown", "count", n)
	}
	return s.logs.close()
}

// pick returns a uniform number in [0,1) for weighted alias routing.
func (s *Service) pick() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}
