package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/store"
)

// Register serves the API on rt under the signing name cutover-watch.
func (s *Service) Register(rt *awsproto.Router) {
	s.json.Register(rt, 1<<20, SigningName)
}

// JSON is the API's JSON 1.1 handler, for in-process callers.
func (s *Service) JSON() *jsonrpc.Service { return s.json }

func (s *Service) registerOps(j *jsonrpc.Service) {
	jsonrpc.Handle(j, "CreateWatchRule", s.createRule)
	jsonrpc.Handle(j, "GetWatchRule", s.getRule)
	jsonrpc.Handle(j, "ListWatchRules", s.listRules)
	jsonrpc.Handle(j, "DeleteWatchRule", s.deleteRule)
	jsonrpc.Handle(j, "PauseWatchRule", s.pauseRule)
	jsonrpc.Handle(j, "ResumeWatchRule", s.resumeRule)
	jsonrpc.Handle(j, "CheckWatchRule", s.checkRule)
	jsonrpc.Handle(j, "ListWatchEvents", s.listEvents)
	jsonrpc.Handle(j, "GetNotificationSettings", s.notificationSettings)
}

func validation(format string, args ...any) error {
	return awsproto.Errorf("ValidationException", format, args...)
}

func notFound(name string) error {
	return awsproto.Errorf("ResourceNotFoundException", "Watch rule %s does not exist.", name)
}

// RuleInput is CreateWatchRule's request.
type RuleInput struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// PolicyExpression is the compact form (digest:latest, semver:^1.4,
	// regex:EXPR, glob:PATTERN); Policy is the structured one. Give one.
	PolicyExpression string       `json:"policyExpression,omitempty"`
	Policy           *Policy      `json:"policy,omitempty"`
	Target           Target       `json:"target"`
	IntervalSeconds  *int64       `json:"intervalSeconds,omitempty"`
	Paused           bool         `json:"paused,omitempty"`
	Insecure         bool         `json:"insecure,omitempty"`
	Credentials      *Credentials `json:"credentials,omitempty"`
}

// RuleView is a rule and its state as the API shows them; a password
// never leaves the server.
type RuleView struct {
	Name             string        `json:"name"`
	Image            string        `json:"image"`
	Policy           Policy        `json:"policy"`
	PolicyExpression string        `json:"policyExpression"`
	Target           Target        `json:"target"`
	IntervalSeconds  int64         `json:"intervalSeconds"`
	Paused           bool          `json:"paused"`
	Insecure         bool          `json:"insecure,omitempty"`
	Username         string        `json:"username,omitempty"`
	Created          awsproto.Time `json:"created"`
	State            StateView     `json:"state"`
}

// StateView is State on the wire (epoch-second times).
type StateView struct {
	LastCheck       *awsproto.Time `json:"lastCheck,omitempty"`
	NextCheck       *awsproto.Time `json:"nextCheck,omitempty"`
	LastTag         string         `json:"lastTag,omitempty"`
	LastDigest      string         `json:"lastDigest,omitempty"`
	LastError       string         `json:"lastError,omitempty"`
	DeployedDigests []string       `json:"deployedDigests,omitempty"`
	Active          *AttemptView   `json:"activeDeployment,omitempty"`
	Pending         *Image         `json:"pendingImage,omitempty"`
}

type AttemptView struct {
	Image
	DeploymentID string        `json:"deploymentId"`
	Started      awsproto.Time `json:"started"`
}

// EventView is Event on the wire.
type EventView struct {
	RuleName     string        `json:"ruleName"`
	Sequence     int64         `json:"sequence"`
	Time         awsproto.Time `json:"time"`
	Decision     string        `json:"decision"`
	Reason       string        `json:"reason,omitempty"`
	Tag          string        `json:"tag,omitempty"`
	Digest       string        `json:"digest,omitempty"`
	DeploymentID string        `json:"deploymentId,omitempty"`
}

func view(rec *ruleRec) RuleView {
	r, st := rec.Rule, rec.State
	v := RuleView{Name: r.Name, Image: r.Image, Policy: r.Policy, PolicyExpression: r.Policy.String(), Target: r.Target,
		IntervalSeconds: int64(r.Interval), Paused: r.Paused, Insecure: r.Insecure, Created: awsproto.NewTime(r.Created),
		State: StateView{LastTag: st.LastTag, LastDigest: st.LastDigest, LastError: st.LastError, DeployedDigests: st.Deployed, Pending: st.Pending}}
	if r.Credentials != nil {
		v.Username = r.Credentials.Username
	}
	if !st.LastCheck.IsZero() {
		t := awsproto.NewTime(st.LastCheck)
		v.State.LastCheck = &t
	}
	if !st.NextCheck.IsZero() && !r.Paused {
		t := awsproto.NewTime(st.NextCheck)
		v.State.NextCheck = &t
	}
	if a := st.Active; a != nil {
		v.State.Active = &AttemptView{Image: a.Image, DeploymentID: a.DeploymentID, Started: awsproto.NewTime(a.Started)}
	}
	return v
}

type ruleOutput struct {
	Rule RuleView `json:"rule"`
}

func (s *Service) createRule(ctx context.Context, in *RuleInput) (*ruleOutput, error) {
	r := Rule{Name: in.Name, Image: strings.TrimSpace(in.Image), Target: in.Target, Paused: in.Paused, Insecure: in.Insecure,
		Credentials: in.Credentials, Interval: DefaultInterval, Created: s.clk.Now().UTC()}
	switch {
	case in.Policy != nil && in.PolicyExpression != "":
		return nil, validation("Give policy or policyExpression, not both.")
	case in.Policy != nil:
		r.Policy = *in.Policy
	case in.PolicyExpression != "":
		p, err := ParsePolicy(in.PolicyExpression)
		if err != nil {
			return nil, validation("%s", err)
		}
		r.Policy = p
	default:
		return nil, validation("A policy is required (policyExpression such as digest:latest, semver:^1.4 or regex:EXPR).")
	}
	if in.IntervalSeconds != nil {
		r.Interval = Dur(*in.IntervalSeconds)
	}
	if r.Credentials != nil && *r.Credentials == (Credentials{}) {
		r.Credentials = nil
	}
	if err := r.Validate(); err != nil {
		return nil, validation("%s", err)
	}
	rec := ruleRec{Rule: r, State: State{NextCheck: r.Created}}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(kindRule, r.Name); err == nil {
			return awsproto.Errorf("ResourceAlreadyExistsException", "Watch rule %s already exists.", r.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// A rule's history outlives nothing: a new rule of an old name
		// starts with none.
		if err := deleteEvents(tx, r.Name); err != nil {
			return err
		}
		return store.PutJSON(tx, &store.Record{Kind: kindRule, Key: r.Name}, rec)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("watch rule created", "rule", r.Name, "image", r.Image, "policy", r.Policy.String(), "target", r.Target.Kind)
	s.Kick()
	return &ruleOutput{Rule: view(&rec)}, nil
}

func deleteEvents(tx store.Tx, name string) error {
	recs, err := tx.List(kindEvent, store.ListOptions{Prefix: name + "/", KeysOnly: true})
	if err != nil {
		return err
	}
	for _, e := range recs {
		if err := tx.Delete(kindEvent, e.Key, -1); err != nil {
			return err
		}
	}
	return nil
}

type nameInput struct {
	Name *string `json:"name"`
}

func (in *nameInput) name() (string, error) {
	if in.Name == nil || *in.Name == "" {
		return "", validation("name is required.")
	}
	if !ruleName.MatchString(*in.Name) {
		return "", validation("name %q: 1 to 100 letters, digits, '.', '_' or '-'.", *in.Name)
	}
	return *in.Name, nil
}

func (s *Service) get(ctx context.Context, name string) (*ruleRec, error) {
	var out *ruleRec
	err := s.st.View(ctx, func(tx store.Tx) error {
		v, _, err := store.GetJSON[ruleRec](tx, kindRule, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(name)
		}
		out = v
		return err
	})
	return out, err
}

func (s *Service) getRule(ctx context.Context, in *nameInput) (*ruleOutput, error) {
	n, err := in.name()
	if err != nil {
		return nil, err
	}
	rec, err := s.get(ctx, n)
	if err != nil {
		return nil, err
	}
	return &ruleOutput{Rule: view(rec)}, nil
}

type listInput struct {
	NextToken  string `json:"nextToken,omitempty"`
	MaxResults *int   `json:"maxResults,omitempty"`
}

func (in *listInput) size(def int) (int, error) {
	if in.MaxResults == nil {
		return def, nil
	}
	if *in.MaxResults < 1 || *in.MaxResults > 1000 {
		return 0, validation("maxResults must be between 1 and 1000.")
	}
	return *in.MaxResults, nil
}

type listRulesOutput struct {
	Rules     []RuleView `json:"rules"`
	NextToken string     `json:"nextToken,omitempty"`
}

const rulesScope = awsproto.TokenScope("watch:ListWatchRules")

func (s *Service) listRules(ctx context.Context, in *listInput) (*listRulesOutput, error) {
	size, err := in.size(s.pageSize)
	if err != nil {
		return nil, err
	}
	after, err := rulesScope.After(in.NextToken)
	if err != nil {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token is not valid.")
	}
	out := &listRulesOutput{Rules: []RuleView{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		recs, raw, err := store.ListJSON[ruleRec](tx, kindRule, store.ListOptions{After: after, Limit: size + 1})
		if err != nil {
			return err
		}
		page, next := pageRecords(rulesScope, raw, size)
		for i := range page {
			out.Rules = append(out.Rules, view(recs[i]))
		}
		out.NextToken = next
		return nil
	})
	return out, err
}

func (s *Service) deleteRule(ctx context.Context, in *nameInput) (*struct{}, error) {
	n, err := in.name()
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(kindRule, n, -1); errors.Is(err, store.ErrNotFound) {
			return notFound(n)
		} else if err != nil {
			return err
		}
		return deleteEvents(tx, n)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("watch rule deleted", "rule", n)
	return nil, nil
}

func (s *Service) setPaused(ctx context.Context, in *nameInput, paused bool) (*ruleOutput, error) {
	n, err := in.name()
	if err != nil {
		return nil, err
	}
	var out *ruleRec
	err = s.st.Update(ctx, func(tx store.Tx) error {
		v, rec, err := store.GetJSON[ruleRec](tx, kindRule, n)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(n)
		} else if err != nil {
			return err
		}
		if v.Rule.Paused != paused {
			v.Rule.Paused = paused
			if !paused {
				v.State.NextCheck = s.clk.Now()
			}
			if err := store.PutJSON(tx, rec, v); err != nil {
				return err
			}
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("watch rule paused", "rule", n, "paused", paused)
	if !paused {
		s.Kick()
	}
	return &ruleOutput{Rule: view(out)}, nil
}

func (s *Service) pauseRule(ctx context.Context, in *nameInput) (*ruleOutput, error) {
	return s.setPaused(ctx, in, true)
}

func (s *Service) resumeRule(ctx context.Context, in *nameInput) (*ruleOutput, error) {
	return s.setPaused(ctx, in, false)
}

// checkRule checks a rule now, in the request, and answers with the
// result; a paused rule is refused rather than silently skipped.
func (s *Service) checkRule(ctx context.Context, in *nameInput) (*ruleOutput, error) {
	n, err := in.name()
	if err != nil {
		return nil, err
	}
	rec, err := s.get(ctx, n)
	if err != nil {
		return nil, err
	}
	if rec.Rule.Paused {
		return nil, awsproto.Errorf("ResourceConflictException", "Watch rule %s is paused; resume it first.", n)
	}
	if _, err := s.Check(ctx, n); errors.Is(err, store.ErrNotFound) {
		return nil, notFound(n)
	} else if err != nil {
		return nil, fmt.Errorf("checking watch rule %s: %w", n, err)
	}
	rec, err = s.get(ctx, n)
	if err != nil {
		return nil, err
	}
	return &ruleOutput{Rule: view(rec)}, nil
}

type listEventsInput struct {
	nameInput
	listInput
}

type listEventsOutput struct {
	Events    []EventView `json:"events"`
	NextToken string      `json:"nextToken,omitempty"`
}

func (s *Service) listEvents(ctx context.Context, in *listEventsInput) (*listEventsOutput, error) {
	n, err := in.name()
	if err != nil {
		return nil, err
	}
	size, err := in.size(s.pageSize)
	if err != nil {
		return nil, err
	}
	sc := awsproto.TokenScope("watch:ListWatchEvents:" + n)
	after, err := sc.After(in.NextToken)
	if err != nil {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token is not valid.")
	}
	out := &listEventsOutput{Events: []EventView{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(kindRule, n); errors.Is(err, store.ErrNotFound) {
			return notFound(n)
		} else if err != nil {
			return err
		}
		evs, raw, err := store.ListJSON[Event](tx, kindEvent, store.ListOptions{Prefix: n + "/", After: after, Limit: size + 1})
		if err != nil {
			return err
		}
		page, next := pageRecords(sc, raw, size)
		for i := range page {
			e := evs[i]
			out.Events = append(out.Events, EventView{RuleName: e.Rule, Sequence: e.Seq, Time: awsproto.NewTime(e.Time), Decision: e.Decision,
				Reason: e.Reason, Tag: e.Tag, Digest: e.Digest, DeploymentID: e.DeploymentID})
		}
		out.NextToken = next
		return nil
	})
	return out, err
}

type settingsOutput struct {
	Token string   `json:"token"`
	Paths []string `json:"paths"`
}

// notificationSettings tells an operator how to point a registry at the
// watcher; only a signed caller learns the token.
func (s *Service) notificationSettings(ctx context.Context, _ *struct{}) (*settingsOutput, error) {
	return &settingsOutput{Token: s.token, Paths: []string{PathDistribution + "?token=" + s.token, PathECR + "?token=" + s.token}}, nil
}

// pageRecords cuts one page from raw, the records that follow the cursor
// (fetched size+1 of them), by their keys: page[i] is raw[i]'s key.
func pageRecords(sc awsproto.TokenScope, raw []*store.Record, size int) (page []string, next string) {
	keys := make([]string, len(raw))
	for i, r := range raw {
		keys[i] = r.Key
	}
	return awsproto.PageKeys(sc, keys, size)
}
