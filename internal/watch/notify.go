package watch

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cutover/cutover/internal/store"
)

// Notification paths, on the server's unsigned listener.
const (
	// PathDistribution takes Docker Distribution (registry:2) notification
	// envelopes.
	PathDistribution = "/watch/notifications/registry"
	// PathECR takes an "ECR Image Action" EventBridge event, as an API
	// destination delivers it.
	PathECR = "/watch/notifications/ecr"
)

// Push is one image pushed, as a notification tells it.
type Push struct {
	// Host is the registry host when the notification says it ("" when not).
	Host       string
	Repository string
	Tag        string
	Digest     string
}

// distributionEnvelope is registry:2's notification body.
type distributionEnvelope struct {
	Events []struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			URL        string `json:"url"`
			Tag        string `json:"tag"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

// ParseDistribution reads the pushes of manifests from a Docker
// Distribution notification envelope (blob pushes and pulls are dropped).
func ParseDistribution(body []byte) ([]Push, error) {
	var env distributionEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("not a registry notification envelope: %w", err)
	}
	if env.Events == nil {
		return nil, errors.New("not a registry notification envelope: no events member")
	}
	var out []Push
	for _, e := range env.Events {
		if e.Action != "push" || e.Target.Repository == "" {
			continue
		}
		// Layer pushes carry no tag and a blob media type; only a manifest
		// push makes a new image.
		if mt := e.Target.MediaType; mt != "" && !strings.Contains(mt, "manifest") && !strings.Contains(mt, "index") {
			continue
		}
		host := e.Request.Host
		if u, err := url.Parse(e.Target.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		out = append(out, Push{Host: host, Repository: e.Target.Repository, Tag: e.Target.Tag, Digest: e.Target.Digest})
	}
	return out, nil
}

type ecrEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Account    string `json:"account"`
	Region     string `json:"region"`
	Detail     struct {
		Result     string `json:"result"`
		Repository string `json:"repository-name"`
		Digest     string `json:"image-digest"`
		ActionType string `json:"action-type"`
		Tag        string `json:"image-tag"`
	} `json:"detail"`
}

// ParseECR reads an "ECR Image Action" EventBridge event; a successful
// PUSH is one push, anything else (DELETE, failures) none.
func ParseECR(body []byte) ([]Push, error) {
	var e ecrEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if e.DetailType != "ECR Image Action" || e.Source != "aws.ecr" {
		return nil, fmt.Errorf("not an ECR Image Action event (source %q, detail-type %q)", e.Source, e.DetailType)
	}
	if e.Detail.ActionType != "PUSH" || e.Detail.Result != "SUCCESS" || e.Detail.Repository == "" {
		return nil, nil
	}
	if e.Account == "" || e.Region == "" {
		return nil, errors.New("ECR event without account or region")
	}
	host := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", e.Account, e.Region)
	return []Push{{Host: host, Repository: e.Detail.Repository, Tag: e.Detail.Tag, Digest: e.Detail.Digest}}, nil
}

// matches reports whether a push may concern rule r. The check that
// follows reads the registry, so a loose match costs one check, never a
// wrong deployment.
func (p Push) matches(r *Rule) bool {
	repo, err := r.Repository()
	if err != nil || repo.RepositoryStr() != p.Repository {
		return false
	}
	return p.Host == "" || sameHost(p.Host, repo.RegistryStr())
}

func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.ToLower(h)
		h = strings.TrimSuffix(h, ":443")
		return strings.Replace(h, "localhost:", "127.0.0.1:", 1)
	}
	return norm(a) == norm(b)
}

// NotificationHandler serves PathDistribution and PathECR. The caller
// proves it may notify with the server's notification token, in the URL
// (?token=...) or as Authorization: Bearer. A matching, unpaused rule is
// checked at once; the answer lists the rules that were woken.
func (s *Service) NotificationHandler() http.Handler {
	return http.HandlerFunc(s.serveNotification)
}

func (s *Service) serveNotification(w http.ResponseWriter, r *http.Request) {
	var parse func([]byte) ([]Push, error)
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case PathDistribution:
		parse = ParseDistribution
	case PathECR:
		parse = ParseECR
	default:
		notifyError(w, http.StatusNotFound, "NotFound", "no notification endpoint at "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		notifyError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "notifications are POSTed")
		return
	}
	tok := r.URL.Query().Get("token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = strings.TrimSpace(h)
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		notifyError(w, http.StatusUnauthorized, "UnauthorizedException", "a valid notification token is required (?token= or Authorization: Bearer)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		notifyError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the notification is larger than 1 MiB")
		return
	}
	pushes, err := parse(body)
	if err != nil {
		notifyError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	woken, err := s.Notify(r.Context(), pushes)
	if err != nil {
		s.log.Error("watch notification failed", "err", err)
		notifyError(w, http.StatusInternalServerError, "InternalFailure", "the notification could not be recorded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"pushes": len(pushes), "rules": woken})
}

func notifyError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// Notify makes every unpaused rule a push concerns due now, durably, and
// checks it at once when the poller runs. It returns the rules woken.
func (s *Service) Notify(ctx context.Context, pushes []Push) ([]string, error) {
	woken := []string{}
	if len(pushes) == 0 {
		return woken, nil
	}
	now := s.clk.Now()
	err := s.st.Update(ctx, func(tx store.Tx) error {
		woken = woken[:0]
		recs, raw, err := store.ListJSON[ruleRec](tx, kindRule, store.ListOptions{})
		if err != nil {
			return err
		}
		for i, rec := range recs {
			if rec.Rule.Paused {
				continue
			}
			for _, p := range pushes {
				if !p.matches(&rec.Rule) {
					continue
				}
				woken = append(woken, rec.Rule.Name)
				if rec.State.NextCheck.After(now) {
					rec.State.NextCheck = now
					if err := store.PutJSON(tx, raw[i], rec); err != nil {
						return err
					}
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, n := range woken {
		s.log.Info("watch notification wakes rule", "rule", n)
	}
	if len(woken) > 0 {
		s.checkSoon(woken)
	}
	return woken, nil
}

// checkSoon checks the named rules now, beside the poller's pass, so a
// notification does not wait for a long pass over many rules to end.
func (s *Service) checkSoon(names []string) {
	ctx := s.runCtx()
	if ctx == nil || !s.holdLease(ctx) {
		return // the rules are due: the polling replica's next pass takes them
	}
	for _, n := range names {
		go func() {
			if _, err := s.Check(ctx, n); err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("watch check failed", "rule", n, "err", err)
			}
		}()
	}
}
