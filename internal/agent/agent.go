// Package agent is cutover's host agent: a Go re-implementation of what
// AWS's CodeDeploy agent 1.8.1 does on a Linux host. It polls the command
// service for lifecycle commands, fetches each command's deployment
// specification, runs the command (download and unpack the bundle, install
// its files, or run an event's scripts) and reports the result with the
// diagnostics AWS's agent sends. Its files under the root directory follow
// AWS's agent's layout.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cutover/cutover/internal/agent/bundle"
	"github.com/cutover/cutover/internal/agent/config"
	"github.com/cutover/cutover/internal/agent/hooks"
	"github.com/cutover/cutover/internal/agent/install"
	"github.com/cutover/cutover/internal/agent/protocol"
	"github.com/cutover/cutover/internal/clock"
)

const (
	// maxConcurrent is AWS's agent's thread pool size.
	maxConcurrent = 16
	// maxBackoff caps the wait between failed polls, as AWS's agent does.
	maxBackoff = 90 * time.Second
)

// Options configure an Agent.
type Options struct {
	Settings   config.Settings
	OnPremises *config.OnPremises
	// Version is sent in x-amz-codedeploy-agent-version.
	Version string
	Clock   clock.Clock
	Log     *slog.Logger
	// HTTP overrides the client built from Settings (tests).
	HTTP *http.Client
}

// Agent polls for and runs commands.
type Agent struct {
	set     config.Settings
	hostID  string
	clock   clock.Clock
	log     *slog.Logger
	client  *protocol.Client
	s3      *bundle.S3
	files   layout
	install *install.Installer
	runner  *hooks.Runner
	specCA  *x509.CertPool
	state   *stateWriter

	wg  sync.WaitGroup
	sem chan struct{}
}

// New builds an agent from validated settings and identity.
func New(o Options) (*Agent, error) {
	if err := o.Settings.Validate(); err != nil {
		return nil, err
	}
	if o.OnPremises == nil {
		return nil, errors.New("agent: no on-premises identity")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	hc, dl := o.HTTP, o.HTTP
	if hc == nil {
		var err error
		if hc, dl, err = httpClients(o.Settings); err != nil {
			return nil, err
		}
	}
	creds := Credentials(o.OnPremises)
	a := &Agent{
		set:    o.Settings,
		hostID: o.OnPremises.HostIdentifier(),
		clock:  o.Clock,
		log:    o.Log,
		client: protocol.NewClient(o.Settings.Endpoint, o.OnPremises.Region, o.Version, creds, hc),
		s3: &bundle.S3{Endpoint: o.Settings.S3Endpoint, Region: o.OnPremises.Region, Credentials: creds, HTTP: dl,
			Now: o.Clock.Now},
		files:  layout{root: o.Settings.RootDir},
		runner: &hooks.Runner{Clock: o.Clock, Log: o.Log, AsRoot: os.Geteuid() == 0},
		sem:    make(chan struct{}, maxConcurrent),
	}
	a.client.Now = o.Clock.Now
	a.install = &install.Installer{InstructionsDir: a.files.instructionsDir(), Log: o.Log}
	if o.Settings.SpecCAFile != "" {
		pem, err := os.ReadFile(o.Settings.SpecCAFile)
		if err != nil {
			return nil, &config.FieldError{Field: config.KeySpecCAFile, Err: err}
		}
		a.specCA = x509.NewCertPool()
		if !a.specCA.AppendCertsFromPEM(pem) {
			return nil, &config.FieldError{Field: config.KeySpecCAFile, Err: errors.New("no PEM certificate in the file")}
		}
	}
	if err := os.MkdirAll(o.Settings.RootDir, 0o755); err != nil {
		return nil, fmt.Errorf("create root directory: %w", err)
	}
	a.state = newStateWriter(a.files.stateFile(), o.Clock, o.Version, o.Settings.Endpoint, a.hostID)
	return a, nil
}

// HostIdentifier is the identifier the agent polls with.
func (a *Agent) HostIdentifier() string { return a.hostID }

// httpClients builds the command-service client (its timeout is the long
// poll's read timeout) and the bundle-download client (no overall timeout:
// a bundle can be large), both trusting the CA file.
func httpClients(s config.Settings) (*http.Client, *http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, nil, &config.FieldError{Field: config.KeyCAFile, Err: err}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, &config.FieldError{Field: config.KeyCAFile, Err: errors.New("no PEM certificate in the file")}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	dl := tr.Clone()
	dl.ResponseHeaderTimeout = s.HTTPReadTimeout
	return &http.Client{Transport: tr, Timeout: s.HTTPReadTimeout}, &http.Client{Transport: dl}, nil
}

// Credentials returns the signing credentials of an on-premises identity:
// the static key, or the session key read from the shared-credentials file
// on every call (something else refreshes it).
func Credentials(o *config.OnPremises) protocol.Credentials {
	if o.IAMSessionARN != "" {
		return fileCredentials{path: o.CredentialsFile}
	}
	return credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")
}

type fileCredentials struct{ path string }

func (f fileCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, "default", func(o *awsconfig.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{f.path}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("read %s: %w", f.path, err)
	}
	if !sc.Credentials.HasKeys() {
		return aws.Credentials{}, fmt.Errorf("%s has no key in its default profile", f.path)
	}
	return sc.Credentials, nil
}

// Run recovers from an earlier run, then polls until ctx ends. On the end
// of ctx it stops polling and lets running commands finish for the
// shutdown grace; those still running then are killed and left for the
// next start to report as failed.
func (a *Agent) Run(ctx context.Context) error {
	a.state.update(func(s *State) { s.PID = os.Getpid(); s.StartedAt = a.clock.Now() })
	a.recover(ctx)
	runCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	failures := 0
	for ctx.Err() == nil {
		wait := a.set.WaitBetweenRuns
		if err := a.pollOnce(ctx, runCtx); err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait = Backoff(a.set.WaitBetweenRuns, failures, protocol.IsThrottle(err))
			a.log.Warn("poll failed; backing off", "err", err, "wait", wait)
		} else {
			failures = 0
		}
		t := a.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C():
		}
	}
	return a.shutdown(abandon)
}

func (a *Agent) shutdown(abandon context.CancelFunc) error {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	t := a.clock.NewTimer(a.set.ShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
		a.log.Warn("stopping: abandoning running commands; they are reported failed at the next start")
		abandon()
		<-done
	}
	a.state.update(func(s *State) { s.PID = 0; s.StoppedAt = a.clock.Now() })
	return nil
}

// Backoff is the wait after the n-th failed poll in a row: doubling from
// the poll interval (at least a second) up to 90 seconds; the service's
// throttling counts as two failures.
func Backoff(interval time.Duration, n int, throttled bool) time.Duration {
	if interval < time.Second {
		interval = time.Second
	}
	if throttled {
		n += 2
	}
	d := float64(interval) * math.Pow(2, float64(n-1))
	if d > float64(maxBackoff) {
		return maxBackoff
	}
	return time.Duration(d)
}

// pollOnce polls once and starts the command it gets, if any.
func (a *Agent) pollOnce(ctx, runCtx context.Context) error {
	cmd, err := a.client.PollHostCommand(ctx, a.hostID)
	now := a.clock.Now()
	a.state.update(func(s *State) {
		s.LastPollAt = now
		s.LastPollError = ""
		if err != nil {
			s.LastPollError = err.Error()
		} else {
			s.LastPollOKAt = now
		}
	})
	if err != nil || cmd == nil {
		return err
	}
	if cmd.CommandName == "" {
		return errors.New("PollHostCommand: the command has no CommandName")
	}
	// AWS's agent requires its own identifier to contain the command's.
	if !strings.Contains(a.hostID, cmd.HostIdentifier) {
		return fmt.Errorf("PollHostCommand: Host Identifier mismatch: %q is not part of %q", cmd.HostIdentifier, a.hostID)
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { <-a.sem }()
		a.Process(runCtx, cmd)
	}()
	return nil
}

// dialTimeout bounds the reachability check of Status.
const dialTimeout = 5 * time.Second

// CheckEndpoint reports whether the endpoint answers HTTP at all: AWS's
// agent issues a GET / and accepts any reply.
func CheckEndpoint(ctx context.Context, hc *http.Client, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("no answer from %s within %s", endpoint, dialTimeout)
		}
		return err
	}
	resp.Body.Close()
	return nil
}

// StatusClient returns the HTTP client the agent would use, for Status.
func StatusClient(s config.Settings) (*http.Client, error) {
	hc, _, err := httpClients(s)
	return hc, err
}
