package watch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

// Store kinds.
const (
	kindRule     = "watch-rule"     // key: rule name
	kindEvent    = "watch-event"    // key: rule name + "/" + 20-digit sequence; index: rule name
	kindSettings = "watch-settings" // key: "notifications"
)

// Decisions recorded in a rule's history.
const (
	DecisionDeployed    = "Deployed"    // a deployment was created (or the service updated)
	DecisionQueued      = "Queued"      // newer image waits for the rule's running deployment
	DecisionSkipped     = "Skipped"     // seen, not deployed, and why
	DecisionFailed      = "Failed"      // acting on the image failed, and why
	DecisionCheckFailed = "CheckFailed" // the registry could not be read, and why
	DecisionCompleted   = "Completed"   // the rule's deployment ended (its status)
)

// Config configures a Service.
type Config struct {
	Store store.Store
	Clock clock.Clock
	Log   *slog.Logger
	// Registry reads registries; nil is a RemoteRegistry with DockerConfig.
	Registry     Registry
	DockerConfig string
	ECR          ECRTokens
	// ECS, CodeDeploy and Lambda are the services the watcher deploys
	// through; a rule whose target needs a missing one fails its actions.
	ECS        ECS
	CodeDeploy CodeDeploy
	Lambda     Lambda
	// NotificationToken authenticates the notification endpoint; empty
	// means one is generated once and kept in the store.
	NotificationToken string
	// Workers bounds concurrent rule checks (default 8).
	Workers int
	// Owner names this replica in the store lease that lets one replica
	// poll at a time (several servers on one PostgreSQL store); empty means
	// this is the only server and no lease is taken.
	Owner string
	// FollowInterval is how often a rule with a deployment in flight looks
	// at it (default 5 s, or the rule's interval when that is shorter).
	FollowInterval time.Duration
}

// Service is the watcher: the API, the pollers and the notification endpoint.
type Service struct {
	cfg      Config
	st       store.Store
	clk      clock.Clock
	log      *slog.Logger
	reg      Registry
	act      *actor
	json     *jsonrpc.Service
	kick     chan struct{}
	token    string
	pageSize int

	locks sync.Map // rule name → *sync.Mutex: one check of a rule at a time

	mu  sync.Mutex
	ctx context.Context // Run's, while it runs

	checks    *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
}

// TargetPrefix and SigningName are the API's wire names.
const (
	TargetPrefix = "Cutover_Watch_20261125"
	SigningName  = "cutover-watch"
)

// New builds the service; it reads (or creates) the notification token.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("watch: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.FollowInterval <= 0 {
		cfg.FollowInterval = 5 * time.Second
	}
	s := &Service{
		cfg: cfg, st: cfg.Store, clk: cfg.Clock, log: cfg.Log.With("service", "watch"),
		reg:      cfg.Registry,
		act:      &actor{ecs: cfg.ECS, cd: cfg.CodeDeploy, lambda: cfg.Lambda},
		kick:     make(chan struct{}, 1),
		pageSize: 100,
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutover_watch_checks_total",
			Help: "Registry checks by watch rules, by result (ok, error, rate_limited)."}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutover_watch_decisions_total",
			Help: "Watch rule decisions (Deployed, Queued, Skipped, Failed, CheckFailed, Completed)."}, []string{"decision"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cutover_watch_check_duration_seconds",
			Help: "Time one rule check takes, registry round trips and any deployment creation included.", Buckets: prometheus.DefBuckets}),
	}
	if s.reg == nil {
		s.reg = &RemoteRegistry{DockerConfig: cfg.DockerConfig, ECR: cfg.ECR, Now: s.clk.Now}
	}
	tok, err := s.loadToken(context.Background(), cfg.NotificationToken)
	if err != nil {
		return nil, err
	}
	s.token = tok
	s.json = jsonrpc.New(s.log, "1.1", TargetPrefix)
	s.registerOps(s.json)
	return s, nil
}

// Collectors are the watcher's Prometheus metrics, for the server's registry.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.checks, s.decisions, s.latency}
}

// NotificationToken is the secret a registry puts in the notification URL
// (or an Authorization: Bearer header).
func (s *Service) NotificationToken() string { return s.token }

type settings struct {
	Token string `json:"token"`
}

func (s *Service) loadToken(ctx context.Context, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	var tok string
	err := s.st.Update(ctx, func(tx store.Tx) error {
		v, _, err := store.GetJSON[settings](tx, kindSettings, "notifications")
		if err == nil {
			tok = v.Token
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b := make([]byte, 24)
		rand.Read(b)
		tok = hex.EncodeToString(b)
		return store.PutJSON(tx, &store.Record{Kind: kindSettings, Key: "notifications"}, settings{Token: tok})
	})
	if err != nil {
		return "", fmt.Errorf("watch: notification token: %w", err)
	}
	return tok, nil
}

// ruleRec is a rule as stored: its definition and what it has seen and done.
type ruleRec struct {
	Rule  Rule  `json:"rule"`
	State State `json:"state"`
}

// State is what a rule has seen and done.
type State struct {
	LastCheck time.Time `json:"lastCheck,omitzero"`
	NextCheck time.Time `json:"nextCheck,omitzero"`
	// LastTag and LastDigest are what the policy chose at the last
	// successful check.
	LastTag    string `json:"lastTag,omitempty"`
	LastDigest string `json:"lastDigest,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	// Deployed are the digests this rule has deployed; none is deployed
	// again, which is also why a rollback does not re-trigger.
	Deployed []string `json:"deployedDigests,omitempty"`
	// Active is the rule's deployment in flight.
	Active *Attempt `json:"activeDeployment,omitempty"`
	// LastStatus is how the rule's last deployment ended.
	LastStatus string `json:"lastDeploymentStatus,omitempty"`
	// Pending is the newest image waiting for Active to end (only one).
	Pending *Image `json:"pendingImage,omitempty"`
	// Seq numbers the rule's history events.
	Seq int64 `json:"eventCount"`
	// last is the last event's decision, reason and digest, so a poll that
	// sees the same thing again adds nothing to the history.
	LastEvent string `json:"lastEventKey,omitempty"`
}

// Image is one tag and the digest behind it.
type Image struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
}

// Attempt is a deployment a rule created.
type Attempt struct {
	Image
	DeploymentID string    `json:"deploymentId"`
	Started      time.Time `json:"started"`
}

// Event is one decision in a rule's history.
type Event struct {
	Rule         string    `json:"ruleName"`
	Seq          int64     `json:"sequence"`
	Time         time.Time `json:"time"`
	Decision     string    `json:"decision"`
	Reason       string    `json:"reason,omitempty"`
	Tag          string    `json:"tag,omitempty"`
	Digest       string    `json:"digest,omitempty"`
	DeploymentID string    `json:"deploymentId,omitempty"`
}

func eventKey(rule string, seq int64) string { return fmt.Sprintf("%s/%020d", rule, seq) }

// Kick asks the poller to look at due rules now; it never blocks.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run polls rules until ctx ends: each rule when its next check is due,
// at most Workers at a time.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ctx = nil
		s.mu.Unlock()
	}()
	for {
		if !s.holdLease(ctx) {
			// Another replica polls; try again when its lease may lapse.
			t := s.clk.NewTimer(leaseTTL / 3)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
			continue
		}
		next, err := s.CheckDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("watch pass failed", "err", err)
			next = s.clk.Now().Add(5 * time.Second)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.clk.Now()), 0)
		}
		if s.cfg.Owner != "" {
			// Renew the lease in time, and pick up rules that a
			// notification to another replica made due.
			wait = min(wait, leaseTTL/3)
		}
		t := s.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.kick:
			t.Stop()
		case <-t.C():
		}
	}
}

// leaseTTL is how long a replica polls for after its last renewal.
const leaseTTL = 30 * time.Second

// holdLease takes or renews the polling lease; without an Owner there is
// none to take.
func (s *Service) holdLease(ctx context.Context) bool {
	if s.cfg.Owner == "" {
		return true
	}
	_, err := s.st.AcquireLease(ctx, "watch/poller", s.cfg.Owner, leaseTTL)
	if err != nil && !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
		s.log.Error("watch: taking the polling lease", "err", err)
	}
	return err == nil
}

func (s *Service) runCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

// CheckDue checks every unpaused rule whose next check is due and returns
// when the earliest next one is (zero when there is none).
func (s *Service) CheckDue(ctx context.Context) (time.Time, error) {
	var due []string
	var next time.Time
	err := s.st.View(ctx, func(tx store.Tx) error {
		recs, _, err := store.ListJSON[ruleRec](tx, kindRule, store.ListOptions{})
		if err != nil {
			return err
		}
		now := s.clk.Now()
		for _, r := range recs {
			if r.Rule.Paused {
				continue
			}
			if !r.State.NextCheck.After(now) {
				due = append(due, r.Rule.Name)
			} else if next.IsZero() || r.State.NextCheck.Before(next) {
				next = r.State.NextCheck
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("listing watch rules: %w", err)
	}
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := s.Check(ctx, n)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
					s.log.Error("watch check failed", "rule", n, "err", err)
				}
				return
			}
			if st == nil || st.NextCheck.IsZero() {
				return
			}
			mu.Lock()
			if next.IsZero() || st.NextCheck.Before(next) {
				next = st.NextCheck
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return next, ctx.Err()
}

func (s *Service) lock(name string) func() {
	m, _ := s.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// outcome collects one check's decisions before they are stored together.
type outcome struct {
	st     State
	events []Event
}

// requestID is the part of an SDK error that differs on every call.
var requestID = regexp.MustCompile(`RequestID: [0-9A-Za-z-]+,? ?`)

func (o *outcome) record(now time.Time, rule, decision, reason string, img Image, deploymentID string) {
	key := decision + "|" + requestID.ReplaceAllString(reason, "") + "|" + img.Digest + "|" + deploymentID
	if key == o.st.LastEvent {
		return
	}
	o.st.LastEvent = key
	o.st.Seq++
	o.events = append(o.events, Event{Rule: rule, Seq: o.st.Seq, Time: now, Decision: decision, Reason: reason,
		Tag: img.Tag, Digest: img.Digest, DeploymentID: deploymentID})
}

// Check runs one check of a rule now: follow its deployment in flight,
// read the registry, and deploy a new image if there is one. It returns the
// rule's state after the check (nil when the rule is paused).
func (s *Service) Check(ctx context.Context, name string) (*State, error) {
	defer s.lock(name)()
	start := time.Now()
	defer func() { s.latency.Observe(time.Since(start).Seconds()) }()

	var rec ruleRec
	err := s.st.View(ctx, func(tx store.Tx) error {
		v, _, err := store.GetJSON[ruleRec](tx, kindRule, name)
		if err == nil {
			rec = *v
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if rec.Rule.Paused {
		return nil, nil
	}
	r := &rec.Rule
	o := &outcome{st: rec.State}
	now := s.clk.Now()
	o.st.LastCheck = now
	o.st.NextCheck = now.Add(jitter(r.Interval.Duration()))

	s.follow(ctx, r, o)

	img, err := s.current(ctx, r)
	if err != nil {
		o.st.LastError = err.Error()
		var rl *RateLimitError
		if errors.As(err, &rl) {
			s.checks.WithLabelValues("rate_limited").Inc()
			if rl.RetryAfter > 0 {
				o.st.NextCheck = now.Add(rl.RetryAfter)
			}
		} else {
			s.checks.WithLabelValues("error").Inc()
		}
		if err.Error() != rec.State.LastError {
			s.log.Warn("watch rule could not read its registry", "rule", r.Name, "image", r.Image, "err", err)
		}
		s.note(o, r, DecisionCheckFailed, err.Error(), Image{}, "")
	} else {
		s.checks.WithLabelValues("ok").Inc()
		o.st.LastError = ""
		if img.Tag != "" {
			o.st.LastTag, o.st.LastDigest = img.Tag, img.Digest
		}
		s.decide(ctx, r, img, o)
	}
	if o.st.Active != nil {
		o.st.NextCheck = minTime(o.st.NextCheck, now.Add(min(s.cfg.FollowInterval, r.Interval.Duration())))
	}
	if err := s.save(ctx, name, o); err != nil {
		return nil, err
	}
	return &o.st, nil
}

func (s *Service) note(o *outcome, r *Rule, decision, reason string, img Image, id string) {
	before := o.st.Seq
	o.record(s.clk.Now(), r.Name, decision, reason, img, id)
	if o.st.Seq != before {
		s.decisions.WithLabelValues(decision).Inc()
		s.log.Info("watch decision", "rule", r.Name, "decision", decision, "reason", reason, "tag", img.Tag, "digest", img.Digest, "deployment", id)
	}
}

// follow ends the rule's deployment in flight when it has ended.
func (s *Service) follow(ctx context.Context, r *Rule, o *outcome) {
	a := o.st.Active
	if a == nil || s.act.cd == nil {
		return
	}
	status, err := s.act.cd.DeploymentStatus(ctx, a.DeploymentID)
	if err != nil {
		if hasCode(err, "DeploymentDoesNotExistException") {
			o.st.Active = nil
			s.note(o, r, DecisionCompleted, "deployment no longer exists", a.Image, a.DeploymentID)
		}
		return
	}
	if !terminal(status) {
		return
	}
	o.st.Active = nil
	o.st.LastStatus = status
	s.note(o, r, DecisionCompleted, "deployment "+status, a.Image, a.DeploymentID)
}

// current asks the registry which image the policy follows now.
func (s *Service) current(ctx context.Context, r *Rule) (Image, error) {
	repo, err := r.Repository()
	if err != nil {
		return Image{}, err
	}
	tag := r.Policy.Tag
	if r.Policy.ListsTags() {
		tags, err := s.reg.Tags(ctx, repo, r.Credentials)
		if err != nil {
			return Image{}, err
		}
		if tag, err = r.Policy.Select(tags); err != nil {
			return Image{}, err
		}
		if tag == "" {
			return Image{}, nil
		}
	}
	d, err := s.reg.Digest(ctx, repo, tag, r.Credentials)
	if err != nil {
		return Image{}, err
	}
	return Image{Tag: tag, Digest: d}, nil
}

// decide acts on what the registry holds now.
func (s *Service) decide(ctx context.Context, r *Rule, img Image, o *outcome) {
	switch {
	case img.Tag == "":
		s.note(o, r, DecisionSkipped, "no tag matches the policy "+r.Policy.String(), img, "")
		return
	case slices.Contains(o.st.Deployed, img.Digest):
		o.st.Pending = nil
		last := o.st.Deployed[len(o.st.Deployed)-1] == img.Digest
		if last && (o.st.Active != nil || o.st.LastStatus == "" || o.st.LastStatus == "Succeeded") {
			return // what the rule deployed last and still runs: nothing to say
		}
		s.note(o, r, DecisionSkipped, "already deployed by this rule", img, "")
		return
	case o.st.Active != nil:
		if o.st.Active.Digest != img.Digest {
			o.st.Pending = &img
			s.note(o, r, DecisionQueued, "waiting for deployment "+o.st.Active.DeploymentID, img, "")
		}
		return
	}
	repo, _ := r.Repository()
	ref := Pinned(repo, img.Digest)
	desc := fmt.Sprintf("cutover watch rule %s: image %s:%s (%s)", r.Name, repo.Name(), img.Tag, img.Digest)
	d, err := s.act.deploy(ctx, r, ref, desc)
	switch {
	case errors.Is(err, errAlreadyRunning):
		o.st.Deployed = append(o.st.Deployed, img.Digest)
		o.st.Pending = nil
		s.note(o, r, DecisionSkipped, "the target already runs "+ref, img, "")
	case errors.Is(err, errBusy):
		o.st.Pending = &img
		s.note(o, r, DecisionQueued, err.Error(), img, "")
	case err != nil:
		s.note(o, r, DecisionFailed, err.Error(), img, "")
	default:
		o.st.Deployed = append(o.st.Deployed, img.Digest)
		o.st.Pending = nil
		o.st.LastStatus = ""
		if d.ID != "" {
			o.st.Active = &Attempt{Image: img, DeploymentID: d.ID, Started: s.clk.Now()}
		}
		s.note(o, r, DecisionDeployed, d.Detail, img, d.ID)
	}
}

// save writes the rule's new state and its events in one transaction,
// keeping the definition as it is now (a pause may have come meanwhile).
func (s *Service) save(ctx context.Context, name string, o *outcome) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		cur, rec, err := store.GetJSON[ruleRec](tx, kindRule, name)
		if err != nil {
			return err // deleted meanwhile: nothing to keep
		}
		cur.State = o.st
		if err := store.PutJSON(tx, rec, cur); err != nil {
			return err
		}
		for _, e := range o.events {
			if err := store.PutJSON(tx, &store.Record{Kind: kindEvent, Key: eventKey(name, e.Seq), Index: name}, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// jitter spreads checks over a tenth of the interval so that many rules on
// one registry do not poll it in lockstep.
func jitter(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d + time.Duration(mrand.Int64N(int64(d/10)))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
