// Package elb is the control plane of cutover's built-in load balancer: the
// ELBv2 API (load balancers, target groups, listeners, rules, tags) over the
// Query protocol, kept in the store and pushed as one whole configuration to
// the data plane (package proxy) on every change.
//
// Every mutation validates first, then writes inside one store transaction
// and hands the data plane the full new configuration before the
// transaction commits: if the data plane refuses (a port is taken), the
// transaction rolls back and nothing is half applied.
package elb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/query"
	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/store"
)

const (
	// Namespace and Version are ELBv2's Query protocol identity.
	Namespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	Version   = "2015-12-01"
	// SigningName is the SigV4 service name the CLI and SDKs sign with.
	SigningName = "elasticloadbalancing"

	// DNSSuffix ends every load balancer's DNSName:
	// "<name>-<10 digits>.<region>.elb.cutover.localhost", the shape of AWS's
	// "<name>-<digits>.<region>.elb.amazonaws.com". Names under .localhost
	// resolve to the loopback address on most systems (RFC 6761), which is
	// where a laptop's cutover binds its listeners; nothing pretends to be
	// an amazonaws.com name.
	DNSSuffix = "elb.cutover.localhost"
	// HostedZoneID is the CanonicalHostedZoneId reported for every load
	// balancer. There is no Route 53 here; the value only has AWS's shape.
	HostedZoneID = "ZCUTOVERLOCAL0"
)

// Store record kinds. Keys are ARNs; Index is what lookups need.
const (
	kindLB       = "elb.loadbalancer" // Index: name
	kindTG       = "elb.targetgroup"  // Index: name
	kindListener = "elb.listener"     // Index: load balancer ARN
	kindRule     = "elb.rule"         // Index: listener ARN
)

// DataPlane is what the control plane needs from the proxy.
type DataPlane interface {
	// Apply converges on the whole configuration or fails without change;
	// its error wraps proxy.ErrPortInUse when a port is taken.
	Apply(*proxy.Config) error
	TargetHealth(targetGroupARN string) []proxy.TargetHealth
}

// InstanceResolver turns a registered instance id into an address to
// connect to. It is called while a configuration is being built, inside a
// store transaction, so it must not open a store transaction of its own.
type InstanceResolver interface {
	// ResolveInstance returns the host for id, or ok=false when the instance
	// is unknown; unknown instances stay registered and are reported
	// unhealthy with reason Target.InvalidState.
	ResolveInstance(ctx context.Context, id string) (host string, ok bool)
}

// LiteralResolver resolves instance ids that carry their address after the
// id prefix: "i-10.0.0.7", "i-localhost", "mi-build.example.com". The part
// after the first "-" must be an IP address, "localhost", or a dotted host
// name; a real-looking id such as "i-0abc1234def567890" does not resolve.
// It is the resolver until registered on-premises instances are wired in.
type LiteralResolver struct{}

func (LiteralResolver) ResolveInstance(_ context.Context, id string) (string, bool) {
	_, rest, ok := strings.Cut(id, "-")
	if !ok || rest == "" {
		return "", false
	}
	if ip := net.ParseIP(rest); ip != nil {
		return rest, true
	}
	if rest == "localhost" || (strings.Contains(rest, ".") && validHostname(rest)) {
		return rest, true
	}
	return "", false
}

// Config is what New needs.
type Config struct {
	Region    string
	AccountID string
	Store     store.Store
	DataPlane DataPlane
	Log       *slog.Logger
	// Resolver resolves instance targets; LiteralResolver when nil.
	Resolver InstanceResolver
	// Now is the clock for creation times; time.Now when nil.
	Now func() time.Time
}

// Service is the ELBv2 control plane.
type Service struct {
	region, account string
	store           store.Store
	plane           DataPlane
	log             *slog.Logger
	resolver        InstanceResolver
	now             func() time.Time
	q               *query.Service

	// mu serialises mutations so that configurations reach the data plane
	// in the order their transactions commit.
	mu sync.Mutex
}

// New loads every stored resource and applies it to the data plane, so that
// after a restart every listener is bound again with the same routing.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.DataPlane == nil {
		return nil, errors.New("elb: Store and DataPlane are required")
	}
	s := &Service{
		region: cfg.Region, account: cfg.AccountID, store: cfg.Store, plane: cfg.DataPlane,
		log: cfg.Log, resolver: cfg.Resolver, now: cfg.Now,
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.account == "" {
		s.account = "000000000000"
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.resolver == nil {
		s.resolver = LiteralResolver{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.q = query.New(s.log, Namespace, Version)
	s.register()
	if err := s.reapply(context.Background()); err != nil {
		return nil, fmt.Errorf("elb: applying stored configuration: %w", err)
	}
	return s, nil
}

// Query returns the Query protocol handler, to be registered under
// SigningName.
func (s *Service) Query() *query.Service { return s.q }

// reapply pushes what the store holds to the data plane.
func (s *Service) reapply(ctx context.Context) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		cfg, err := s.buildConfig(ctx, tx)
		if err != nil {
			return err
		}
		return s.plane.Apply(cfg)
	})
}

// mutate runs fn in a store transaction. When plane is true the resulting
// configuration is applied to the data plane before the commit, so that a
// refused configuration rolls the whole change back.
func (s *Service) mutate(ctx context.Context, plane bool, fn func(tx store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := false
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if !plane {
			return nil
		}
		cfg, err := s.buildConfig(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.plane.Apply(cfg); err != nil {
			if errors.Is(err, proxy.ErrPortInUse) {
				return awsproto.Errorf("InvalidConfigurationRequest", "A listener port is already in use on the host: %v", err)
			}
			return fmt.Errorf("applying configuration to the data plane: %w", err)
		}
		applied = true
		return nil
	})
	if err != nil && applied {
		// The data plane took a configuration whose transaction did not
		// commit; bring it back to what the store holds.
		if rerr := s.reapply(context.WithoutCancel(ctx)); rerr != nil {
			s.log.Error("restoring data plane after failed commit", "err", rerr)
		}
	}
	return err
}

// Records.

// lbRecord is a stored load balancer.
type lbRecord struct {
	LoadBalancer
	ID   string
	Tags []Tag
}

type tgRecord struct {
	TargetGroup
	ID         string
	Attributes map[string]string
	Targets    []TargetDescription
	Tags       []Tag
}

type listenerRecord struct {
	Listener
	DefaultRuleArn  string
	DefaultRuleTags []Tag
	Tags            []Tag
}

type ruleRecord struct {
	Rule
	ListenerArn string
	PriorityNum int32
	Tags        []Tag
}

func get[T any](tx store.Tx, kind, key string) (*T, *store.Record, error) {
	rec, err := tx.Get(kind, key)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	if err := json.Unmarshal(rec.Data, v); err != nil {
		return nil, nil, fmt.Errorf("decoding %s %s: %w", kind, key, err)
	}
	return v, rec, nil
}

func list[T any](tx store.Tx, kind string, opts store.ListOptions) ([]*T, error) {
	recs, err := tx.List(kind, opts)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", kind, err)
	}
	out := make([]*T, 0, len(recs))
	for _, rec := range recs {
		v := new(T)
		if err := json.Unmarshal(rec.Data, v); err != nil {
			return nil, fmt.Errorf("decoding %s %s: %w", kind, rec.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// put writes v under key. version is the stored version it replaces (0 to
// create); mutations run under s.mu, so a conflict means a bug or another
// replica, and is reported as an internal error.
func put(tx store.Tx, kind, key, index string, version int64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", kind, key, err)
	}
	if err := tx.Put(&store.Record{Kind: kind, Key: key, Index: index, Data: b, Version: version}); err != nil {
		return fmt.Errorf("storing %s %s: %w", kind, key, err)
	}
	return nil
}

func notFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// ARNs and ids.

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomDigits(n int) string {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, _ := rand.Int(rand.Reader, max)
	return fmt.Sprintf("%0*d", n, v)
}

func (s *Service) arn(resource string) string {
	return "arn:aws:elasticloadbalancing:" + s.region + ":" + s.account + ":" + resource
}

// arnResource returns the resource part of an ELBv2 ARN of this region and
// account ("loadbalancer/app/x/123..."), or "" when it is not one.
func (s *Service) arnResource(arn string) string {
	prefix := s.arn("")
	if !strings.HasPrefix(arn, prefix) {
		return ""
	}
	return arn[len(prefix):]
}

// lbShortType is the ARN and metrics form of a load balancer type.
func lbShortType(typ string) string {
	if typ == "network" {
		return "net"
	}
	return "app"
}

// lbDimension is "app/<name>/<id>", the part after "loadbalancer/".
func lbDimension(arn string) string {
	_, after, _ := strings.Cut(arn, ":loadbalancer/")
	return after
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
