// Package agentcmd is the server side of the CodeDeploy agent's private
// protocol (CodeDeployCommandService): hosts poll it for lifecycle commands,
// fetch the signed deployment specification, acknowledge, and report the
// result. Both `cutover agent` and AWS's own CodeDeploy agent speak it.
//
// The engine drives it in-process: Issue puts a command on a host's durable
// queue, Status reads how it went, Cancel drops what a stopped deployment
// has not handed out yet. A host gets one command at a time; the next one is
// delivered only once the current one has ended. PollHostCommand is a long
// poll, released at once when a command for the host is issued in this
// process, and by the store re-check of Run when another replica issued it.
//
// Identity comes from the SigV4 key: a key bound to an IAM identity (the
// on-premises instance's iam_user_arn or iam_session_arn, which AWS's agent
// also sends as its HostIdentifier) acts only as that host; the root key
// acts for any host.
package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

// The service answers under both names of the API: the default one and the
// one AWS's agent uses with :enable_auth_policy: true.
const (
	TargetPrefix       = "CodeDeployCommandService_v20141006"
	SecureTargetPrefix = "CodeDeployCommandService"
	SigningName        = "codedeploy-commands"
	SecureSigningName  = "codedeploy-commands-secure"
)

// Defaults for Config.
const (
	// DefaultLongPoll stays well under the agent's 80 s read timeout.
	DefaultLongPoll = 60 * time.Second
	// DefaultRecheck is how often Run looks at the store for work that
	// another replica made ready, and for commands past their deadline.
	DefaultRecheck = 2 * time.Second
	// DefaultAckTimeout is AWS's "a lifecycle event must start within
	// 5 minutes".
	DefaultAckTimeout = 5 * time.Minute
	// DefaultCommandTimeout is AWS's longest lifecycle event.
	DefaultCommandTimeout = time.Hour
)

const (
	// maxBody bounds a request; the largest legitimate one carries an
	// 8 KiB diagnostics payload.
	maxBody = 256 << 10
	// pollRecordEvery bounds how often a host's idle polls are written to
	// the store: LastPoll serves AGENT_ISSUE diagnostics, which need
	// minutes, not seconds, and a write per poll would dominate the store.
	pollRecordEvery = 30 * time.Second
)

// Errors of the in-process API.
var (
	// ErrNotFound: no command with that id was issued.
	ErrNotFound = errors.New("agentcmd: no such command")
	// ErrInvalidCommand: Issue was given a command the agent could not run.
	ErrInvalidCommand = errors.New("agentcmd: invalid command")
	// ErrIDReused: Issue was given an id already used for a different command.
	ErrIDReused = errors.New("agentcmd: command id already used for a different command")
)

// Config configures the service.
type Config struct {
	Store store.Store
	// Clock times long polls, deadlines and records; nil means the real clock.
	Clock clock.Clock
	Log   *slog.Logger
	// DataDir holds the key and certificate that sign deployment
	// specifications (created on first start, mode 0600). Required.
	DataDir string
	// LongPoll is how long PollHostCommand waits for a command before it
	// answers {} (default DefaultLongPoll).
	LongPoll time.Duration
	// Recheck is the period of Run (default DefaultRecheck).
	Recheck time.Duration
	// AckTimeout is how long a command may wait, once it is next for its
	// host, for the agent to acknowledge it (default DefaultAckTimeout).
	AckTimeout time.Duration
	// Notify is called after a command of the deployment changed state
	// (acknowledged, ended, timed out, cancelled), so the engine can react
	// at once. It runs on the request's goroutine and must not block.
	Notify func(deploymentID string)
}

// Service is the agent command service.
type Service struct {
	st         store.Store
	clk        clock.Clock
	log        *slog.Logger
	json       *jsonrpc.Service
	sign       *signer
	hub        *hub
	notifyFn   func(string)
	longPoll   time.Duration
	recheck    time.Duration
	ackTimeout time.Duration

	pollMu sync.Mutex
	polls  map[string]pollMark

	stop     chan struct{}
	stopOnce sync.Once
}

// pollMark is what this process knows of a host's polls.
type pollMark struct {
	last   time.Time // latest poll seen here
	stored time.Time // latest poll written to the store by this process
}

// New returns the service, creating the signing key on first use.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("agentcmd: a store is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("agentcmd: a data directory is required for the signing key")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		st:         cfg.Store,
		clk:        cfg.Clock,
		log:        cfg.Log,
		hub:        newHub(),
		notifyFn:   cfg.Notify,
		longPoll:   orDefault(cfg.LongPoll, DefaultLongPoll),
		recheck:    orDefault(cfg.Recheck, DefaultRecheck),
		ackTimeout: orDefault(cfg.AckTimeout, DefaultAckTimeout),
		polls:      map[string]pollMark{},
		stop:       make(chan struct{}),
	}
	sg, err := loadSigner(cfg.DataDir, s.now())
	if err != nil {
		return nil, err
	}
	s.sign = sg
	s.json = jsonrpc.New(cfg.Log, "1.1", TargetPrefix, SecureTargetPrefix)
	handle(s, "PollHostCommand", s.pollHostCommand)
	handle(s, "GetDeploymentSpecification", s.getDeploymentSpecification)
	handle(s, "PutHostCommandAcknowledgement", s.putHostCommandAcknowledgement)
	handle(s, "PostHostCommandUpdate", s.postHostCommandUpdate)
	handle(s, "PutHostCommandComplete", s.putHostCommandComplete)
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Register serves the API on rt under both signing names.
func (s *Service) Register(rt *awsproto.Router) {
	s.json.Register(rt, maxBody, SigningName, SecureSigningName)
}

// Handler is the JSON handler without the router, for callers that
// authenticate themselves (tests put a Principal in the context).
func (s *Service) Handler() http.Handler { return s.json }

// Close releases every waiting long poll with an empty answer, so that an
// HTTP server shutting down need not wait up to LongPoll for them. Polls
// arriving later answer at once, with a command only if one is ready.
func (s *Service) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// Run re-checks the store every Recheck until ctx ends: it times out
// commands past their deadline (reporting them through Notify) and wakes
// the long polls of hosts whose next command another replica made ready.
func (s *Service) Run(ctx context.Context) error {
	t := s.clk.NewTicker(s.recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("agent commands: re-checking the store", "err", err)
			}
		}
	}
}

func (s *Service) now() time.Time { return s.clk.Now().UTC() }

func (s *Service) notify(deploymentID string) {
	if s.notifyFn != nil && deploymentID != "" {
		s.notifyFn(deploymentID)
	}
}

// update runs fn in a write transaction, again when a concurrent writer on
// another replica won the race for the same record.
func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.st.Update(ctx, fn)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return err
	}
}

// errServer is what the agent sees for a failure that is not its own; the
// model names ServerException for it, which AWS's agent retries.
var errServer = &awsproto.Error{Code: "ServerException", Message: "An internal error occurred. Please try again.", Status: http.StatusInternalServerError, Receiver: true}

// handle registers an operation whose internal failures are answered as the
// model's ServerException rather than the generic InternalFailure.
func handle[In, Out any](s *Service, op string, fn func(context.Context, *In) (*Out, error)) {
	jsonrpc.Handle(s.json, op, func(ctx context.Context, in *In) (*Out, error) {
		out, err := fn(ctx, in)
		if err != nil && awsproto.AsError(err) == nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "agent command operation failed", "operation", op, "err", err, "request_id", awsproto.RequestID(ctx))
			}
			return nil, errServer
		}
		return out, err
	})
}

func clientError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("ClientException", format, args...)
}

// accessDenied is the model's ClientException, named as IAM would name it.
func accessDenied(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("ClientException", "AccessDeniedException: "+format, args...)
}

// authorize checks that the request's signer may act as host.
func authorize(ctx context.Context, host string) error {
	p, ok := awsproto.PrincipalFrom(ctx)
	switch {
	case !ok:
		return accessDenied("the request is not signed")
	case p.Root:
		return nil
	case p.ARN != "" && p.ARN == host:
		return nil
	case p.ARN == "":
		return accessDenied("access key %s is not bound to a host identity", p.AccessKeyID)
	default:
		return accessDenied("%s is not authorized to act as host %s", p.ARN, host)
	}
}

func wrapStore(what string, err error) error {
	if err == nil || awsproto.AsError(err) != nil {
		return err
	}
	return fmt.Errorf("agentcmd: %s: %w", what, err)
}
