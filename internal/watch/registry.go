package watch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry reads what the watcher needs of an image registry.
type Registry interface {
	// Digest is the manifest digest tag points at (a HEAD request).
	Digest(ctx context.Context, repo name.Repository, tag string, creds *Credentials) (string, error)
	// Tags lists the repository's tags.
	Tags(ctx context.Context, repo name.Repository, creds *Credentials) ([]string, error)
}

// RateLimitError: the registry asked us to slow down.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("registry rate limit (retry after %s): %v", e.RetryAfter, e.Err)
}
func (e *RateLimitError) Unwrap() error { return e.Err }

// ECRTokens fetches a login for an ECR registry (ecr:GetAuthorizationToken):
// the base64 "user:password" token AWS returns.
type ECRTokens interface {
	AuthorizationToken(ctx context.Context, registryID, region string) (token string, expires time.Time, err error)
}

// RemoteRegistry is the Registry over HTTP, with go-containerregistry.
type RemoteRegistry struct {
	// DockerConfig is a Docker config.json whose auths (and credential
	// helpers) log in to registries that a rule gives no credentials for.
	DockerConfig string
	// ECR logs in to ECR hosts; nil leaves them to the other sources.
	ECR ECRTokens
	// Transport carries the requests; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock for ECR token expiry.
	Now func() time.Time

	mu         sync.Mutex
	ecrCache   map[string]ecrLogin
	transports map[string]*cachedTransport
}

type ecrLogin struct {
	auth    authn.AuthConfig
	expires time.Time
}

func (r *RemoteRegistry) Digest(ctx context.Context, repo name.Repository, tag string, creds *Credentials) (string, error) {
	opts, ct, err := r.options(ctx, repo, creds)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(repo.Tag(tag), opts...)
	if err != nil {
		return "", r.failed(repo, creds, ct, fmt.Errorf("reading manifest %s:%s: %w", repo.Name(), tag, err))
	}
	return desc.Digest.String(), nil
}

func (r *RemoteRegistry) Tags(ctx context.Context, repo name.Repository, creds *Credentials) ([]string, error) {
	opts, ct, err := r.options(ctx, repo, creds)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return nil, r.failed(repo, creds, ct, fmt.Errorf("listing tags of %s: %w", repo.Name(), err))
	}
	return tags, nil
}

// cachedTransport is an authenticated transport for one repository and
// login, kept between checks: go-containerregistry then neither pings the
// registry nor fetches a bearer token on every check (it refreshes the
// token itself when the registry refuses it).
type cachedTransport struct {
	rt http.RoundTripper
	ra *retryAfter
}

func transportKey(repo name.Repository, creds *Credentials) string {
	k := repo.Name()
	if creds != nil {
		k += "\x00" + creds.Username + "\x00" + creds.Password
	}
	return k
}

func (r *RemoteRegistry) options(ctx context.Context, repo name.Repository, creds *Credentials) ([]remote.Option, *cachedTransport, error) {
	key := transportKey(repo, creds)
	r.mu.Lock()
	ct := r.transports[key]
	r.mu.Unlock()
	if ct == nil {
		auth, err := r.authenticator(ctx, repo, creds)
		if err != nil {
			return nil, nil, err
		}
		base := r.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		ra := &retryAfter{base: base}
		rt, err := transport.NewWithContext(ctx, repo.Registry, auth, ra, []string{repo.Scope(transport.PullScope)})
		if err != nil {
			return nil, nil, ra.wrap(fmt.Errorf("reaching registry %s: %w", repo.RegistryStr(), err))
		}
		ct = &cachedTransport{rt: rt, ra: ra}
		r.mu.Lock()
		if r.transports == nil {
			r.transports = map[string]*cachedTransport{}
		}
		r.transports[key] = ct
		r.mu.Unlock()
	}
	// A transport.Wrapper tells go-containerregistry to add no retries of
	// its own: the poller has its own schedule, and retrying inside one
	// check would only hide rate limits and slow the other rules.
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(ct.rt)}, ct, nil
}

// failed forgets the transport of a failed call (a new login or a
// restarted registry is picked up at the next check) and says whether the
// failure was a rate limit.
func (r *RemoteRegistry) failed(repo name.Repository, creds *Credentials, ct *cachedTransport, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
		r.mu.Lock()
		if r.transports[transportKey(repo, creds)] == ct {
			delete(r.transports, transportKey(repo, creds))
		}
		r.mu.Unlock()
	}
	return ct.ra.wrap(err)
}

// authenticator chooses the login: the rule's own credentials, else an ECR
// token for ECR hosts, else the Docker config.json, else anonymous.
func (r *RemoteRegistry) authenticator(ctx context.Context, repo name.Repository, creds *Credentials) (authn.Authenticator, error) {
	if creds != nil && creds.Username != "" {
		return &authn.Basic{Username: creds.Username, Password: creds.Password}, nil
	}
	host := repo.RegistryStr()
	if m := ecrHost.FindStringSubmatch(host); m != nil && r.ECR != nil {
		a, err := r.ecrLogin(ctx, host, m[1], m[2])
		if err != nil {
			return nil, err
		}
		return authn.FromConfig(a), nil
	}
	if r.DockerConfig != "" {
		a, ok, err := dockerConfigAuth(r.DockerConfig, host)
		if err != nil {
			return nil, err
		}
		if ok {
			return authn.FromConfig(a), nil
		}
	}
	return authn.Anonymous, nil
}

// ecrHost matches ACCOUNT.dkr.ecr.REGION.amazonaws.com (and .com.cn).
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

func (r *RemoteRegistry) ecrLogin(ctx context.Context, host, account, region string) (authn.AuthConfig, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	r.mu.Lock()
	if l, ok := r.ecrCache[host]; ok && now().Before(l.expires.Add(-5*time.Minute)) {
		r.mu.Unlock()
		return l.auth, nil
	}
	r.mu.Unlock()
	tok, exp, err := r.ECR.AuthorizationToken(ctx, account, region)
	if err != nil {
		return authn.AuthConfig{}, fmt.Errorf("ecr:GetAuthorizationToken for %s: %w", host, err)
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return authn.AuthConfig{}, fmt.Errorf("ECR authorization token for %s is not base64: %w", host, err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return authn.AuthConfig{}, fmt.Errorf("ECR authorization token for %s is not user:password", host)
	}
	a := authn.AuthConfig{Username: user, Password: pass}
	r.mu.Lock()
	if r.ecrCache == nil {
		r.ecrCache = map[string]ecrLogin{}
	}
	r.ecrCache[host] = ecrLogin{auth: a, expires: exp}
	r.mu.Unlock()
	return a, nil
}

// dockerConfigAuth reads the login for host from a Docker config.json,
// through its credential helpers when it names them, as `docker` would.
func dockerConfigAuth(path, host string) (authn.AuthConfig, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("reading Docker config %s: %w", path, err)
	}
	defer f.Close()
	cf := configfile.New(path)
	if err := cf.LoadFromReader(f); err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("parsing Docker config %s: %w", path, err)
	}
	key := host
	if host == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("Docker config %s, login for %s: %w", path, host, err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.AuthConfig{}, false, nil
	}
	return authn.AuthConfig{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}, true, nil
}

// retryAfter notes the Retry-After of the last 429 or 503 answer, which
// go-containerregistry's errors do not carry.
type retryAfter struct {
	base http.RoundTripper
	mu   sync.Mutex
	wait time.Duration
}

func (t *retryAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		t.mu.Lock()
		t.wait = parseRetryAfter(resp.Header.Get("Retry-After"))
		t.mu.Unlock()
	}
	return resp, err
}

func (t *retryAfter) wrap(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusServiceUnavailable) {
		t.mu.Lock()
		defer t.mu.Unlock()
		return &RateLimitError{RetryAfter: t.wait, Err: err}
	}
	return err
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
