package sns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// HTTP/S delivery policies, as SNS documents them: a retry policy of four
// phases (immediate retries, retries at the minimum delay, a backoff from
// the minimum to the maximum delay, retries at the maximum delay), a
// throttle policy and a request policy (the Content-Type sent). A topic's
// policy sits under "http" with "default" names; a subscription's own
// policy overrides it unless the topic disables overrides.

type retryPolicy struct {
	MinDelayTarget     *int   `json:"minDelayTarget,omitempty"`
	MaxDelayTarget     *int   `json:"maxDelayTarget,omitempty"`
	NumRetries         *int   `json:"numRetries,omitempty"`
	NumMaxDelayRetries *int   `json:"numMaxDelayRetries,omitempty"`
	NumNoDelayRetries  *int   `json:"numNoDelayRetries,omitempty"`
	NumMinDelayRetries *int   `json:"numMinDelayRetries,omitempty"`
	BackoffFunction    string `json:"backoffFunction,omitempty"`
}

type throttlePolicy struct {
	MaxReceivesPerSecond *int `json:"maxReceivesPerSecond,omitempty"`
}

type requestPolicy struct {
	HeaderContentType string `json:"headerContentType,omitempty"`
}

type topicPolicyDoc struct {
	HTTP *struct {
		DefaultHealthyRetryPolicy    *retryPolicy    `json:"defaultHealthyRetryPolicy,omitempty"`
		DefaultSicklyRetryPolicy     json.RawMessage `json:"defaultSicklyRetryPolicy,omitempty"`
		DisableSubscriptionOverrides bool            `json:"disableSubscriptionOverrides"`
		DefaultThrottlePolicy        *throttlePolicy `json:"defaultThrottlePolicy,omitempty"`
		DefaultRequestPolicy         *requestPolicy  `json:"defaultRequestPolicy,omitempty"`
	} `json:"http,omitempty"`
}

type subPolicyDoc struct {
	HealthyRetryPolicy *retryPolicy    `json:"healthyRetryPolicy,omitempty"`
	SicklyRetryPolicy  json.RawMessage `json:"sicklyRetryPolicy,omitempty"`
	ThrottlePolicy     *throttlePolicy `json:"throttlePolicy,omitempty"`
	RequestPolicy      *requestPolicy  `json:"requestPolicy,omitempty"`
	Guaranteed         *bool           `json:"guaranteed,omitempty"`
}

const (
	defaultContentType = "text/plain; charset=UTF-8"
	maxRetries         = 100
	maxDelaySeconds    = 3600
	// maxPolicyTime is SNS's hard limit on a policy's total retry time.
	maxPolicyTime = 3600 * time.Second
)

// retry is a resolved retry policy.
type retry struct {
	MinDelay, MaxDelay                  int // seconds
	NumRetries, NoDelay, MinDel, MaxDel int
	Backoff                             string
}

var defaultRetry = retry{MinDelay: 20, MaxDelay: 20, NumRetries: 3, Backoff: "linear"}

// policy is what deliveries to one subscription follow.
type policy struct {
	Retry             retry
	ContentType       string
	MaxReceivesPerSec int
	// NoOverrides is the topic's disableSubscriptionOverrides.
	NoOverrides bool
}

func defaultPolicy() policy { return policy{Retry: defaultRetry, ContentType: defaultContentType} }

func decodeStrict(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func policyErr(format string, args ...any) error {
	return invalidParam("DeliveryPolicy: "+format, args...)
}

// parseTopicPolicy validates a topic's DeliveryPolicy ("" is the default).
func parseTopicPolicy(raw string) (policy, error) {
	p := defaultPolicy()
	if raw == "" {
		return p, nil
	}
	var doc topicPolicyDoc
	if err := decodeStrict(raw, &doc); err != nil {
		return p, policyErr("%s", truncate(err.Error()))
	}
	if doc.HTTP == nil {
		return p, nil
	}
	h := doc.HTTP
	if err := applyPolicy(&p, h.DefaultHealthyRetryPolicy, h.DefaultThrottlePolicy, h.DefaultRequestPolicy, h.DefaultSicklyRetryPolicy); err != nil {
		return p, err
	}
	p.NoOverrides = h.DisableSubscriptionOverrides
	return p, nil
}

// parseSubPolicy validates a subscription's DeliveryPolicy on top of the
// topic's effective policy.
func parseSubPolicy(raw string, base policy) (policy, error) {
	p := base
	if raw == "" {
		return p, nil
	}
	var doc subPolicyDoc
	if err := decodeStrict(raw, &doc); err != nil {
		return p, policyErr("%s", truncate(err.Error()))
	}
	if err := applyPolicy(&p, doc.HealthyRetryPolicy, doc.ThrottlePolicy, doc.RequestPolicy, doc.SicklyRetryPolicy); err != nil {
		return p, err
	}
	return p, nil
}

func applyPolicy(p *policy, rp *retryPolicy, tp *throttlePolicy, qp *requestPolicy, sickly json.RawMessage) error {
	if len(sickly) > 0 && !bytes.Equal(bytes.TrimSpace(sickly), []byte("null")) {
		return policyErr("sicklyRetryPolicy is not supported")
	}
	if rp != nil {
		r, err := resolveRetry(rp)
		if err != nil {
			return err
		}
		p.Retry = r
	}
	if tp != nil && tp.MaxReceivesPerSecond != nil {
		if *tp.MaxReceivesPerSecond < 1 {
			return policyErr("maxReceivesPerSecond must be at least 1")
		}
		p.MaxReceivesPerSec = *tp.MaxReceivesPerSecond
	}
	if qp != nil && qp.HeaderContentType != "" {
		if !validContentType(qp.HeaderContentType) {
			return policyErr("headerContentType %q is not supported", truncate(qp.HeaderContentType))
		}
		p.ContentType = qp.HeaderContentType
	}
	return nil
}

// validContentType accepts the media types SNS lists for HTTP/S
// notifications, with or without a charset.
func validContentType(ct string) bool {
	mt, params, _ := strings.Cut(ct, ";")
	switch strings.TrimSpace(strings.ToLower(mt)) {
	case "text/plain", "application/json", "application/xml", "text/xml":
	default:
		return false
	}
	params = strings.TrimSpace(params)
	if params == "" {
		return true
	}
	k, v, ok := strings.Cut(params, "=")
	return ok && strings.EqualFold(strings.TrimSpace(k), "charset") && strings.TrimSpace(v) != ""
}

func resolveRetry(rp *retryPolicy) (retry, error) {
	r := defaultRetry
	get := func(p *int, dflt int) int {
		if p == nil {
			return dflt
		}
		return *p
	}
	r.NumRetries = get(rp.NumRetries, r.NumRetries)
	r.MinDelay = get(rp.MinDelayTarget, r.MinDelay)
	r.MaxDelay = get(rp.MaxDelayTarget, r.MaxDelay)
	if rp.MinDelayTarget != nil && rp.MaxDelayTarget == nil && r.MaxDelay < r.MinDelay {
		r.MaxDelay = r.MinDelay
	}
	if rp.MaxDelayTarget != nil && rp.MinDelayTarget == nil && r.MinDelay > r.MaxDelay {
		r.MinDelay = r.MaxDelay
	}
	r.NoDelay = get(rp.NumNoDelayRetries, 0)
	r.MinDel = get(rp.NumMinDelayRetries, 0)
	r.MaxDel = get(rp.NumMaxDelayRetries, 0)
	if rp.BackoffFunction != "" {
		r.Backoff = rp.BackoffFunction
	}
	switch {
	case r.NumRetries < 0 || r.NumRetries > maxRetries:
		return r, policyErr("numRetries must be between 0 and %d", maxRetries)
	case r.MinDelay < 1:
		return r, policyErr("minDelayTarget must be at least 1")
	case r.MaxDelay > maxDelaySeconds:
		return r, policyErr("maxDelayTarget must be at most %d", maxDelaySeconds)
	case r.MinDelay > r.MaxDelay:
		return r, policyErr("minDelayTarget must be less than or equal to maxDelayTarget")
	case r.NoDelay < 0 || r.MinDel < 0 || r.MaxDel < 0:
		return r, policyErr("retry counts must not be negative")
	case r.NoDelay+r.MinDel+r.MaxDel > r.NumRetries:
		return r, policyErr("numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed numRetries")
	}
	switch r.Backoff {
	case "linear", "arithmetic", "geometric", "exponential":
	default:
		return r, policyErr("backoffFunction must be one of arithmetic, exponential, geometric, linear")
	}
	if total := r.total(); total > maxPolicyTime {
		return r, policyErr("the total retry time (%s) must not exceed %s", total, maxPolicyTime)
	}
	return r, nil
}

// delay is the wait before retry n (1-based), or false when the policy
// has no retry n.
func (r retry) delay(n int) (time.Duration, bool) {
	if n < 1 || n > r.NumRetries {
		return 0, false
	}
	lo, hi := float64(r.MinDelay), float64(r.MaxDelay)
	backoff := r.NumRetries - r.NoDelay - r.MinDel - r.MaxDel
	var sec float64
	switch {
	case n <= r.NoDelay:
		sec = 0
	case n <= r.NoDelay+r.MinDel:
		sec = lo
	case n <= r.NoDelay+r.MinDel+backoff:
		i := n - r.NoDelay - r.MinDel // 1..backoff
		x := 0.0
		if backoff > 1 {
			x = float64(i-1) / float64(backoff-1)
		}
		switch r.Backoff {
		case "linear":
			sec = lo + (hi-lo)*x
		case "arithmetic":
			sec = lo + (hi-lo)*x*x
		case "geometric":
			sec = lo * math.Pow(hi/lo, x)
		case "exponential":
			sec = math.Min(hi, lo*math.Pow(2, float64(i-1)))
		}
	default:
		sec = hi
	}
	return time.Duration(math.Round(sec*1000)) * time.Millisecond, true
}

func (r retry) total() time.Duration {
	var t time.Duration
	for n := 1; n <= r.NumRetries; n++ {
		d, _ := r.delay(n)
		t += d
	}
	return t
}

func (r retry) doc() map[string]any {
	return map[string]any{
		"minDelayTarget": r.MinDelay, "maxDelayTarget": r.MaxDelay, "numRetries": r.NumRetries,
		"numMaxDelayRetries": r.MaxDel, "numNoDelayRetries": r.NoDelay, "numMinDelayRetries": r.MinDel,
		"backoffFunction": r.Backoff,
	}
}

// effectiveJSON is a topic's EffectiveDeliveryPolicy attribute.
func (p policy) effectiveJSON() string {
	h := map[string]any{
		"defaultHealthyRetryPolicy":    p.Retry.doc(),
		"disableSubscriptionOverrides": p.NoOverrides,
		"defaultRequestPolicy":         map[string]any{"headerContentType": p.ContentType},
	}
	if p.MaxReceivesPerSec > 0 {
		h["defaultThrottlePolicy"] = map[string]any{"maxReceivesPerSecond": p.MaxReceivesPerSec}
	}
	b, _ := json.Marshal(map[string]any{"http": h})
	return string(b)
}

// subEffectiveJSON is a subscription's EffectiveDeliveryPolicy attribute.
func (p policy) subEffectiveJSON() string {
	var throttle any
	if p.MaxReceivesPerSec > 0 {
		throttle = map[string]any{"maxReceivesPerSecond": p.MaxReceivesPerSec}
	}
	b, _ := json.Marshal(map[string]any{
		"healthyRetryPolicy": p.Retry.doc(),
		"sicklyRetryPolicy":  nil,
		"throttlePolicy":     throttle,
		"requestPolicy":      map[string]any{"headerContentType": p.ContentType},
		"guaranteed":         false,
	})
	return string(b)
}

// effectivePolicy combines a topic's and a subscription's policies; both
// were validated when set.
func effectivePolicy(topicRaw, subRaw string) (policy, error) {
	p, err := parseTopicPolicy(topicRaw)
	if err != nil {
		return defaultPolicy(), fmt.Errorf("topic delivery policy: %w", err)
	}
	if p.NoOverrides {
		return p, nil
	}
	sp, err := parseSubPolicy(subRaw, p)
	if err != nil {
		return p, fmt.Errorf("subscription delivery policy: %w", err)
	}
	return sp, nil
}
