// Package proxy is the data plane of cutover's built-in load balancer: it
// binds each listener's port, routes HTTP requests by rule and TCP
// connections by weight to registered targets, runs health checks and counts
// the metrics AWS/ApplicationELB and AWS/NetworkELB report.
//
// The control plane (package elb) owns the resources; it hands the proxy a
// whole Config and the proxy converges on it without dropping requests or
// connections.
package proxy

import "time"

// Config is the whole desired state of the data plane.
type Config struct {
	Listeners    []Listener
	TargetGroups []TargetGroup
}

// Listener is one bound port.
type Listener struct {
	ARN string
	// LoadBalancer is the metrics dimension AWS uses: "app/<name>/<id>" or
	// "net/<name>/<id>".
	LoadBalancer string
	Port         int
	// Protocol is "HTTP" (application load balancer) or "TCP" (network).
	Protocol string
	// Rules in evaluation order: ascending priority, the default rule last.
	// TCP listeners have exactly one rule with no conditions.
	Rules []Rule
}

// Rule routes the requests that match all its conditions.
type Rule struct {
	ARN        string
	Priority   int // 0 for the default rule
	Conditions []Condition
	Action     Action
}

// Condition is one ELBv2 rule condition; values within one condition are ORed.
type Condition struct {
	// Field is "path-pattern", "host-header", "http-header",
	// "query-string", "http-request-method" or "source-ip".
	Field string
	// Values are the patterns (with * and ? wildcards where ELB allows them).
	Values []string
	// HeaderName is the header for "http-header".
	HeaderName string
	// Query holds key/value patterns for "query-string"; an empty Key matches
	// any key.
	Query []KeyValue
}

type KeyValue struct{ Key, Value string }

// Action is what a rule does. Exactly one of Forward, Fixed, Redirect.
type Action struct {
	Forward  *Forward
	Fixed    *FixedResponse
	Redirect *Redirect
}

// Forward sends traffic to target groups in proportion to their weights.
type Forward struct {
	Groups []WeightedGroup
	// Stickiness binds a client to the group it was first sent to (the
	// listener-level group stickiness of ELBv2); zero disables it.
	StickinessDuration time.Duration
}

type WeightedGroup struct {
	TargetGroupARN string
	Weight         int // 0..999
}

type FixedResponse struct {
	StatusCode  int
	ContentType string
	Body        string
}

type Redirect struct {
	Protocol, Host, Port, Path, Query string
	StatusCode                        int // 301 or 302
}

// TargetGroup is a set of targets with one health check.
type TargetGroup struct {
	ARN string
	// Name is the metrics dimension AWS uses: "targetgroup/<name>/<id>".
	Name     string
	Protocol string // "HTTP" or "TCP"
	Port     int
	Targets  []Target
	Health   HealthCheck
	// DeregistrationDelay is how long a removed target keeps serving its
	// in-flight requests and connections (state "draining").
	DeregistrationDelay time.Duration
	// Stickiness is target-level stickiness (lb_cookie); zero disables it.
	StickinessDuration time.Duration
	// LoadBalancingAlgorithm is the ELBv2 attribute
	// load_balancing.algorithm.type: "round_robin" (the default when empty)
	// or "least_outstanding_requests".
	LoadBalancingAlgorithm string
}

// Target is one registered endpoint.
type Target struct {
	// ID is what was registered: an IP address or an instance id.
	ID string
	// Host is where to connect (the IP, or the instance's address as the
	// control plane resolved it). Empty means unreachable: the target is
	// reported unhealthy with reason Target.InvalidState.
	Host string
	Port int
}

// HealthCheck is a target group's health check settings, as in ELBv2.
type HealthCheck struct {
	Enabled            bool
	Protocol           string // "HTTP" or "TCP"
	Path               string
	Port               string // "traffic-port" or a number
	Matcher            string // HTTP codes: "200", "200-299", "200,302"
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
}

// TargetHealth is what DescribeTargetHealth reports for one target.
type TargetHealth struct {
	ID    string
	Port  int
	State string // initial | healthy | unhealthy | unused | draining | unavailable
	// Reason and Description use ELBv2's reason codes
	// (Elb.RegistrationInProgress, Target.ResponseCodeMismatch,
	// Target.Timeout, Target.FailedHealthChecks, Target.NotInUse,
	// Target.DeregistrationInProgress, Target.InvalidState, ...).
	Reason      string
	Description string
}
