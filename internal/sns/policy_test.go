package sns

import (
	"testing"
	"time"
)

func TestRetryDelays(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		policy string
		want   []time.Duration
	}{
		{"AWS default: 3 retries 20 s apart", "", []time.Duration{20 * s, 20 * s, 20 * s}},
		{"four phases", `{"healthyRetryPolicy":{"numRetries":7,"numNoDelayRetries":1,"numMinDelayRetries":1,"numMaxDelayRetries":2,"minDelayTarget":2,"maxDelayTarget":10,"backoffFunction":"linear"}}`,
			[]time.Duration{0, 2 * s, 2 * s, 6 * s, 10 * s, 10 * s, 10 * s}},
		{"exponential doubles up to the maximum", `{"healthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":10,"backoffFunction":"exponential"}}`,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"geometric reaches the maximum", `{"healthyRetryPolicy":{"numRetries":3,"minDelayTarget":1,"maxDelayTarget":16,"backoffFunction":"geometric"}}`,
			[]time.Duration{1 * s, 4 * s, 16 * s}},
		{"arithmetic", `{"healthyRetryPolicy":{"numRetries":3,"minDelayTarget":2,"maxDelayTarget":10,"backoffFunction":"arithmetic"}}`,
			[]time.Duration{2 * s, 4 * s, 10 * s}},
		{"no retries", `{"healthyRetryPolicy":{"numRetries":0}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseSubPolicy(tc.policy, defaultPolicy())
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				got, ok := p.Retry.delay(i + 1)
				if !ok || got != want {
					t.Errorf("retry %d: %s %v, want %s", i+1, got, ok, want)
				}
			}
			if _, ok := p.Retry.delay(len(tc.want) + 1); ok {
				t.Errorf("retry %d exists", len(tc.want)+1)
			}
		})
	}
}

func TestPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		name, topic, sub string
		ok               bool
	}{
		{"topic default", `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`, "", true},
		{"subscription with throttle and content type", "", `{"healthyRetryPolicy":{"numRetries":5},"throttlePolicy":{"maxReceivesPerSecond":10},"requestPolicy":{"headerContentType":"application/json"}}`, true},
		{"sickly null", "", `{"healthyRetryPolicy":{"numRetries":1},"sicklyRetryPolicy":null}`, true},
		{"not JSON", `{`, "", false},
		{"unknown field", "", `{"healthyRetryPolicy":{"retries":1}}`, false},
		{"too many retries", "", `{"healthyRetryPolicy":{"numRetries":101}}`, false},
		{"min above max", "", `{"healthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":20}}`, false},
		{"max over an hour", "", `{"healthyRetryPolicy":{"maxDelayTarget":3601}}`, false},
		{"min zero", "", `{"healthyRetryPolicy":{"minDelayTarget":0}}`, false},
		{"phases exceed retries", "", `{"healthyRetryPolicy":{"numRetries":2,"numNoDelayRetries":2,"numMaxDelayRetries":1}}`, false},
		{"negative phase", "", `{"healthyRetryPolicy":{"numNoDelayRetries":-1}}`, false},
		{"backoff function", "", `{"healthyRetryPolicy":{"backoffFunction":"cubic"}}`, false},
		{"total over an hour", "", `{"healthyRetryPolicy":{"numRetries":61,"minDelayTarget":60,"maxDelayTarget":60}}`, false},
		{"throttle zero", "", `{"throttlePolicy":{"maxReceivesPerSecond":0}}`, false},
		{"content type", "", `{"requestPolicy":{"headerContentType":"image/png"}}`, false},
		{"sickly policy", "", `{"sicklyRetryPolicy":{"numRetries":1}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := parseTopicPolicy(tc.topic)
			if err == nil {
				_, err = parseSubPolicy(tc.sub, base)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && errCode(err) != "InvalidParameter" {
				t.Fatalf("code %q", errCode(err))
			}
		})
	}
}

// TestTopicPolicyWithoutOverrides: a topic that disables overrides decides
// for every subscription.
func TestTopicPolicyWithoutOverrides(t *testing.T) {
	topic := `{"http":{"defaultHealthyRetryPolicy":{"numRetries":1,"minDelayTarget":5,"maxDelayTarget":5},"disableSubscriptionOverrides":true}}`
	p, err := effectivePolicy(topic, `{"healthyRetryPolicy":{"numRetries":9}}`)
	if err != nil || p.Retry.NumRetries != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = effectivePolicy(`{"http":{"defaultHealthyRetryPolicy":{"numRetries":1}}}`, `{"healthyRetryPolicy":{"numRetries":9}}`)
	if err != nil || p.Retry.NumRetries != 9 {
		t.Fatalf("override: %+v %v", p, err)
	}
}
