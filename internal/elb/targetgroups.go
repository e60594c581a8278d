package elb

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// Target group attributes cutover honours, with AWS's defaults.
const (
	attrDeregistrationDelay = "deregistration_delay.timeout_seconds"
	attrStickinessEnabled   = "stickiness.enabled"
	attrStickinessType      = "stickiness.type"
	attrStickinessDuration  = "stickiness.lb_cookie.duration_seconds"
	attrAlgorithm           = "load_balancing.algorithm.type"
)

func defaultAttributes(protocol string) map[string]string {
	stickType := "lb_cookie"
	if protocol == "TCP" {
		stickType = "source_ip"
	}
	attrs := map[string]string{
		attrDeregistrationDelay: "300",
		attrStickinessEnabled:   "false",
		attrStickinessType:      stickType,
		attrStickinessDuration:  "86400",
	}
	if protocol == "HTTP" {
		attrs[attrAlgorithm] = "round_robin"
	}
	return attrs
}

const maxTargets = 1000

var matcherRE = regexp.MustCompile(`^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$`)

func (s *Service) createTargetGroup(ctx context.Context, in *CreateTargetGroupInput) (*TargetGroupsOutput, error) {
	if err := checkName("Target group", in.Name); err != nil {
		return nil, err
	}
	targetType := deref(in.TargetType)
	if targetType == "" {
		targetType = "instance"
	}
	if err := oneOf("targetType", targetType, "instance", "ip", "lambda", "alb"); err != nil {
		return nil, err
	}
	if targetType == "lambda" || targetType == "alb" {
		return nil, configf("Target type '%s' is not supported by cutover", targetType)
	}
	if in.Protocol == nil {
		return nil, validationf("A protocol must be specified")
	}
	if err := oneOf("protocol", *in.Protocol, "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"); err != nil {
		return nil, err
	}
	if *in.Protocol != "HTTP" && *in.Protocol != "TCP" {
		return nil, configf("Protocol '%s' is not supported by cutover; use HTTP or TCP", *in.Protocol)
	}
	if in.Port == nil {
		return nil, validationf("A port must be specified")
	}
	if in.ProtocolVersion != nil && (*in.Protocol != "HTTP" || *in.ProtocolVersion != "HTTP1") {
		return nil, configf("Protocol version '%s' is not supported by cutover; HTTP target groups use HTTP1", *in.ProtocolVersion)
	}
	ipType := deref(in.IpAddressType)
	if ipType == "" {
		ipType = "ipv4"
	}
	if err := oneOf("ipAddressType", ipType, "ipv4", "ipv6"); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	tg := TargetGroup{
		TargetGroupName: in.Name, Protocol: *in.Protocol, Port: *in.Port, VpcId: deref(in.VpcId),
		TargetType: targetType, IpAddressType: ipType, HealthCheckEnabled: true, HealthCheckPort: "traffic-port",
		HealthCheckProtocol: *in.Protocol, HealthCheckIntervalSeconds: 30, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2,
	}
	if tg.Protocol == "HTTP" {
		tg.ProtocolVersion = ptr("HTTP1")
	}
	if err := applyHealthSettings(&tg, healthSettings{
		Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath, Enabled: in.HealthCheckEnabled,
		Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
		Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher,
	}, true); err != nil {
		return nil, err
	}

	var out *tgRecord
	err := s.mutate(ctx, false, func(tx store.Tx) error {
		existing, err := list[tgRecord](tx, kindTG, store.ListOptions{Index: in.Name})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			e := existing[0]
			// Idempotent like AWS: the same settings answer the existing group.
			if e.Protocol == tg.Protocol && e.Port == tg.Port && e.TargetType == tg.TargetType && e.VpcId == tg.VpcId {
				out = e
				return nil
			}
			return awsproto.Errorf("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", in.Name)
		}
		id := randomHex(16)
		tg.TargetGroupArn = s.arn("targetgroup/" + in.Name + "/" + id)
		out = &tgRecord{TargetGroup: tg, ID: id, Attributes: defaultAttributes(tg.Protocol), Tags: in.Tags}
		return put(tx, kindTG, tg.TargetGroupArn, in.Name, 0, out)
	})
	if err != nil {
		return nil, err
	}
	return &TargetGroupsOutput{TargetGroups: []TargetGroup{withLBs(out, nil)}}, nil
}

func withLBs(tg *tgRecord, lbs []string) TargetGroup {
	t := tg.TargetGroup
	t.LoadBalancerArns = lbs
	if t.LoadBalancerArns == nil {
		t.LoadBalancerArns = []string{}
	}
	return t
}

type healthSettings struct {
	Protocol, Port, Path                  *string
	Enabled                               *bool
	Interval, Timeout, Healthy, Unhealthy *int32
	Matcher                               *Matcher
}

// applyHealthSettings validates health check settings and applies them over
// tg's. On creation, settings not given take the defaults AWS documents for
// the health check protocol: HTTP checks "/" every 30s with a 5s timeout
// (6s for network target groups) and expect 200 (200-399 for network);
// TCP checks time out after 10s.
func applyHealthSettings(tg *TargetGroup, h healthSettings, create bool) error {
	if h.Protocol != nil {
		if err := oneOf("healthCheckProtocol", *h.Protocol, "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"); err != nil {
			return err
		}
		if *h.Protocol != "HTTP" && *h.Protocol != "TCP" {
			return configf("Health check protocol '%s' is not supported by cutover; use HTTP or TCP", *h.Protocol)
		}
		if *h.Protocol == "TCP" && tg.Protocol == "HTTP" {
			return configf("Health check protocol TCP is not supported for target groups with the HTTP protocol")
		}
	}
	oldProto := tg.HealthCheckProtocol
	if h.Protocol != nil {
		tg.HealthCheckProtocol = *h.Protocol
	}
	if create || oldProto != tg.HealthCheckProtocol {
		// Defaults for the (new) health check protocol.
		switch {
		case tg.HealthCheckProtocol == "TCP":
			tg.HealthCheckPath, tg.Matcher, tg.HealthCheckTimeoutSeconds = nil, nil, 10
		case tg.Protocol == "TCP": // HTTP checks of a network target group
			tg.HealthCheckPath, tg.Matcher, tg.HealthCheckTimeoutSeconds = ptr("/"), &Matcher{HttpCode: ptr("200-399")}, 6
		default:
			tg.HealthCheckPath, tg.Matcher, tg.HealthCheckTimeoutSeconds = ptr("/"), &Matcher{HttpCode: ptr("200")}, 5
		}
	}
	if h.Port != nil {
		if *h.Port != "traffic-port" {
			if p, err := strconv.Atoi(*h.Port); err != nil || p < 1 || p > 65535 {
				return validationf("Health check port '%s' must be 'traffic-port' or a number from 1 to 65535", *h.Port)
			}
		}
		tg.HealthCheckPort = *h.Port
	}
	if h.Path != nil {
		if tg.HealthCheckProtocol != "HTTP" {
			return configf("A health check path can only be specified for HTTP health checks")
		}
		if len(*h.Path) < 1 || len(*h.Path) > 1024 || !strings.HasPrefix(*h.Path, "/") {
			return validationf("Health check path '%s' must be 1 to 1024 characters and start with '/'", *h.Path)
		}
		tg.HealthCheckPath = h.Path
	}
	if h.Matcher != nil {
		if h.Matcher.GrpcCode != nil {
			return configf("gRPC matchers are not supported by cutover")
		}
		if tg.HealthCheckProtocol != "HTTP" {
			return configf("A matcher can only be specified for HTTP health checks")
		}
		code := deref(h.Matcher.HttpCode)
		if err := checkMatcher(code); err != nil {
			return err
		}
		tg.Matcher = &Matcher{HttpCode: ptr(code)}
	}
	if h.Enabled != nil {
		if !*h.Enabled && tg.TargetType != "lambda" {
			return configf("Health checks cannot be disabled for target groups with target type '%s'", tg.TargetType)
		}
		tg.HealthCheckEnabled = *h.Enabled
	}
	if h.Interval != nil {
		tg.HealthCheckIntervalSeconds = *h.Interval
	}
	if h.Timeout != nil {
		tg.HealthCheckTimeoutSeconds = *h.Timeout
	}
	if h.Healthy != nil {
		tg.HealthyThresholdCount = *h.Healthy
	}
	if h.Unhealthy != nil {
		tg.UnhealthyThresholdCount = *h.Unhealthy
	}
	if tg.HealthCheckTimeoutSeconds >= tg.HealthCheckIntervalSeconds {
		return configf("Health check timeout '%d' must be smaller than the interval '%d'", tg.HealthCheckTimeoutSeconds, tg.HealthCheckIntervalSeconds)
	}
	return nil
}

func checkMatcher(code string) error {
	if !matcherRE.MatchString(code) {
		return validationf("Health check matcher HTTP code '%s' must be codes such as '200', '200,202' or '200-299'", code)
	}
	for _, part := range strings.Split(code, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if a < 200 || b > 499 || a > b {
			return validationf("Health check matcher HTTP code '%s' must be between 200 and 499", code)
		}
	}
	return nil
}

// getTG reads a target group, answering TargetGroupNotFound for unknown and
// ValidationError for malformed ARNs.
func (s *Service) getTG(tx store.Tx, arn string) (*tgRecord, *store.Record, error) {
	if !strings.HasPrefix(s.arnResource(arn), "targetgroup/") {
		if strings.HasPrefix(arn, "arn:") {
			return nil, nil, awsproto.Errorf("TargetGroupNotFound", "Target group '%s' not found", arn)
		}
		return nil, nil, validationf("'%s' is not a valid target group ARN", arn)
	}
	tg, rec, err := get[tgRecord](tx, kindTG, arn)
	if notFound(err) {
		return nil, nil, awsproto.Errorf("TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	return tg, rec, err
}

func (s *Service) describeTargetGroups(ctx context.Context, in *DescribeTargetGroupsInput) (*TargetGroupsOutput, error) {
	n := 0
	for _, set := range []bool{in.LoadBalancerArn != nil, len(in.TargetGroupArns) > 0, len(in.Names) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, validationf("A load balancer ARN, target group ARNs and target group names cannot be specified at the same time")
	}
	var out []TargetGroup
	err := s.store.View(ctx, func(tx store.Tx) error {
		var tgs []*tgRecord
		switch {
		case in.LoadBalancerArn != nil:
			if _, _, err := s.getLB(tx, *in.LoadBalancerArn); err != nil {
				return err
			}
			all, err := list[tgRecord](tx, kindTG, store.ListOptions{})
			if err != nil {
				return err
			}
			for _, tg := range all {
				lbs, err := targetGroupLoadBalancers(tx, tg.TargetGroupArn)
				if err != nil {
					return err
				}
				for _, lb := range lbs {
					if lb == *in.LoadBalancerArn {
						tgs = append(tgs, tg)
					}
				}
			}
		case len(in.TargetGroupArns) > 0:
			for _, arn := range in.TargetGroupArns {
				tg, _, err := s.getTG(tx, arn)
				if err != nil {
					return err
				}
				tgs = append(tgs, tg)
			}
		case len(in.Names) > 0:
			for _, name := range in.Names {
				found, err := list[tgRecord](tx, kindTG, store.ListOptions{Index: name})
				if err != nil {
					return err
				}
				if len(found) == 0 {
					return awsproto.Errorf("TargetGroupNotFound", "Target groups '[%s]' not found", name)
				}
				tgs = append(tgs, found[0])
			}
		default:
			var err error
			if tgs, err = list[tgRecord](tx, kindTG, store.ListOptions{}); err != nil {
				return err
			}
		}
		for _, tg := range tgs {
			lbs, err := targetGroupLoadBalancers(tx, tg.TargetGroupArn)
			if err != nil {
				return err
			}
			out = append(out, withLBs(tg, lbs))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pg, next, err := page("DescribeTargetGroups", out, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	if pg == nil {
		pg = []TargetGroup{}
	}
	return &TargetGroupsOutput{TargetGroups: pg, NextMarker: next}, nil
}

func (s *Service) modifyTargetGroup(ctx context.Context, in *ModifyTargetGroupInput) (*TargetGroupsOutput, error) {
	var out TargetGroup
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		tg, rec, err := s.getTG(tx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		if err := applyHealthSettings(&tg.TargetGroup, healthSettings{
			Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath, Enabled: in.HealthCheckEnabled,
			Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
			Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher,
		}, false); err != nil {
			return err
		}
		lbs, err := targetGroupLoadBalancers(tx, tg.TargetGroupArn)
		if err != nil {
			return err
		}
		out = withLBs(tg, lbs)
		return put(tx, kindTG, tg.TargetGroupArn, tg.TargetGroupName, rec.Version, tg)
	})
	if err != nil {
		return nil, err
	}
	return &TargetGroupsOutput{TargetGroups: []TargetGroup{out}}, nil
}

func attributesOf(tg *tgRecord) []TargetGroupAttribute {
	keys := make([]string, 0, len(tg.Attributes))
	for k := range tg.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]TargetGroupAttribute, 0, len(keys))
	for _, k := range keys {
		out = append(out, TargetGroupAttribute{Key: ptr(k), Value: ptr(tg.Attributes[k])})
	}
	return out
}

func (s *Service) describeTargetGroupAttributes(ctx context.Context, in *TargetGroupArnInput) (*TargetGroupAttributesOutput, error) {
	var out []TargetGroupAttribute
	err := s.store.View(ctx, func(tx store.Tx) error {
		tg, _, err := s.getTG(tx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		out = attributesOf(tg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &TargetGroupAttributesOutput{Attributes: out}, nil
}

func checkAttribute(protocol, key, value string) error {
	intIn := func(lo, hi int) error {
		n, err := strconv.Atoi(value)
		if err != nil || n < lo || n > hi {
			return validationf("The value of attribute '%s' must be an integer from %d to %d", key, lo, hi)
		}
		return nil
	}
	switch key {
	case attrDeregistrationDelay:
		return intIn(0, 3600)
	case attrStickinessEnabled:
		if value != "true" && value != "false" {
			return validationf("The value of attribute '%s' must be 'true' or 'false'", key)
		}
	case attrStickinessType:
		want := "lb_cookie"
		if protocol == "TCP" {
			want = "source_ip"
		}
		if value != want {
			return configf("Stickiness type '%s' is not supported for target groups with the %s protocol; use '%s'", value, protocol, want)
		}
	case attrStickinessDuration:
		if protocol == "TCP" {
			return configf("Attribute '%s' is not supported for target groups with the TCP protocol", key)
		}
		return intIn(1, maxStickiness)
	case attrAlgorithm:
		if protocol != "HTTP" {
			return configf("Attribute '%s' is not supported for target groups with the %s protocol", key, protocol)
		}
		if value != "round_robin" && value != "least_outstanding_requests" {
			return validationf("The value of attribute '%s' must be 'round_robin' or 'least_outstanding_requests'", key)
		}
	default:
		return validationf("Target group attribute key '%s' is not recognized", key)
	}
	return nil
}

func (s *Service) modifyTargetGroupAttributes(ctx context.Context, in *ModifyTargetGroupAttributesInput) (*TargetGroupAttributesOutput, error) {
	if len(in.Attributes) == 0 {
		return nil, validationf("At least one attribute must be specified")
	}
	var out []TargetGroupAttribute
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		tg, rec, err := s.getTG(tx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		for _, a := range in.Attributes {
			if err := checkAttribute(tg.Protocol, deref(a.Key), deref(a.Value)); err != nil {
				return err
			}
			tg.Attributes[deref(a.Key)] = deref(a.Value)
		}
		out = attributesOf(tg)
		return put(tx, kindTG, tg.TargetGroupArn, tg.TargetGroupName, rec.Version, tg)
	})
	if err != nil {
		return nil, err
	}
	return &TargetGroupAttributesOutput{Attributes: out}, nil
}

func (s *Service) deleteTargetGroup(ctx context.Context, in *TargetGroupArnInput) (*Empty, error) {
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		tg, _, err := s.getTG(tx, in.TargetGroupArn)
		if e := awsproto.AsError(err); e != nil && e.Code == "TargetGroupNotFound" {
			// Deleting a target group that does not exist succeeds, as in AWS
			// (the operation models no not-found error).
			return nil
		}
		if err != nil {
			return err
		}
		lbs, err := targetGroupLoadBalancers(tx, tg.TargetGroupArn)
		if err != nil {
			return err
		}
		if len(lbs) > 0 {
			return awsproto.Errorf("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", tg.TargetGroupArn)
		}
		return tx.Delete(kindTG, tg.TargetGroupArn, -1)
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// normalizeTargets validates targets for tg and fills in default ports.
func normalizeTargets(tg *tgRecord, targets []TargetDescription) ([]TargetDescription, error) {
	if len(targets) == 0 {
		return nil, validationf("At least one target must be specified")
	}
	out := make([]TargetDescription, 0, len(targets))
	for _, t := range targets {
		if t.Port == nil {
			t.Port = ptr(tg.Port)
		}
		switch tg.TargetType {
		case "ip":
			if net.ParseIP(t.Id) == nil {
				return nil, awsproto.Errorf("InvalidTarget", "The IP address '%s' is not a valid IPv4 or IPv6 address", t.Id)
			}
		default:
			if t.Id == "" || len(t.Id) > 255 {
				return nil, awsproto.Errorf("InvalidTarget", "The instance ID '%s' is not valid", t.Id)
			}
		}
		out = append(out, TargetDescription{Id: t.Id, Port: t.Port, AvailabilityZone: t.AvailabilityZone})
	}
	return out, nil
}

func sameTarget(a, b TargetDescription) bool { return a.Id == b.Id && deref(a.Port) == deref(b.Port) }

func (s *Service) registerTargets(ctx context.Context, in *TargetsInput) (*Empty, error) {
	return &Empty{}, s.changeTargets(ctx, in.TargetGroupArn, in.Targets, true)
}

func (s *Service) deregisterTargets(ctx context.Context, in *TargetsInput) (*Empty, error) {
	return &Empty{}, s.changeTargets(ctx, in.TargetGroupArn, in.Targets, false)
}

// changeTargets registers (add) or deregisters targets. Registering a
// registered target again is a no-op, as in AWS; deregistering one that is
// not registered is InvalidTarget.
func (s *Service) changeTargets(ctx context.Context, tgArn string, targets []TargetDescription, add bool) error {
	return s.mutate(ctx, true, func(tx store.Tx) error {
		tg, rec, err := s.getTG(tx, tgArn)
		if err != nil {
			return err
		}
		ts, err := normalizeTargets(tg, targets)
		if err != nil {
			return err
		}
		for _, t := range ts {
			i := -1
			for j, have := range tg.Targets {
				if sameTarget(have, t) {
					i = j
					break
				}
			}
			switch {
			case add && i < 0:
				tg.Targets = append(tg.Targets, t)
			case !add && i < 0:
				return awsproto.Errorf("InvalidTarget", "The target '%s' on port %d is not registered with target group '%s'", t.Id, deref(t.Port), tgArn)
			case !add:
				tg.Targets = append(tg.Targets[:i], tg.Targets[i+1:]...)
			}
		}
		if len(tg.Targets) > maxTargets {
			return awsproto.Errorf("TooManyTargets", "A target group can have at most %d targets", maxTargets)
		}
		return put(tx, kindTG, tg.TargetGroupArn, tg.TargetGroupName, rec.Version, tg)
	})
}

func (s *Service) describeTargetHealth(ctx context.Context, in *DescribeTargetHealthInput) (*DescribeTargetHealthOutput, error) {
	descs, err := s.targetHealth(ctx, in.TargetGroupArn, in.Targets)
	if err != nil {
		return nil, err
	}
	return &DescribeTargetHealthOutput{TargetHealthDescriptions: descs}, nil
}

// targetHealth merges the registered targets with what the data plane
// reports. Targets the data plane has not heard of yet are "initial";
// draining targets are reported until the data plane forgets them; targets
// asked about but not registered are "unused" with Target.NotRegistered.
func (s *Service) targetHealth(ctx context.Context, tgArn string, only []TargetDescription) ([]TargetHealthDescription, error) {
	var tg *tgRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		tg, _, err = s.getTG(tx, tgArn)
		return err
	})
	if err != nil {
		return nil, err
	}
	health := s.plane.TargetHealth(tgArn)
	key := func(id string, port int32) string { return fmt.Sprintf("%s\x00%d", id, port) }
	reported := map[string]TargetHealth{}
	var draining []TargetHealthDescription
	registered := map[string]bool{}
	for _, t := range tg.Targets {
		registered[key(t.Id, deref(t.Port))] = true
	}
	for _, h := range health {
		th := TargetHealth{State: h.State}
		if h.Reason != "" {
			th.Reason = ptr(h.Reason)
		}
		if h.Description != "" {
			th.Description = ptr(h.Description)
		}
		k := key(h.ID, int32(h.Port))
		reported[k] = th
		if !registered[k] {
			draining = append(draining, TargetHealthDescription{Target: TargetDescription{Id: h.ID, Port: ptr(int32(h.Port))}, TargetHealth: th})
		}
	}
	describe := func(t TargetDescription) TargetHealthDescription {
		d := TargetHealthDescription{Target: TargetDescription{Id: t.Id, Port: t.Port, AvailabilityZone: t.AvailabilityZone}}
		d.HealthCheckPort = tg.HealthCheckPort
		if d.HealthCheckPort == "traffic-port" {
			d.HealthCheckPort = strconv.Itoa(int(deref(t.Port)))
		}
		k := key(t.Id, deref(t.Port))
		switch th, ok := reported[k]; {
		case ok:
			d.TargetHealth = th
		case registered[k]:
			d.TargetHealth = TargetHealth{State: "initial", Reason: ptr("Elb.RegistrationInProgress"), Description: ptr("Target registration is in progress")}
		default:
			d.TargetHealth = TargetHealth{State: "unused", Reason: ptr("Target.NotRegistered"), Description: ptr("Target is not registered to the target group")}
		}
		return d
	}
	out := []TargetHealthDescription{}
	if len(only) > 0 {
		for _, t := range only {
			if t.Port == nil {
				t.Port = ptr(tg.Port)
			}
			out = append(out, describe(t))
		}
		return out, nil
	}
	for _, t := range tg.Targets {
		out = append(out, describe(t))
	}
	for _, d := range draining {
		d.HealthCheckPort = tg.HealthCheckPort
		if d.HealthCheckPort == "traffic-port" {
			d.HealthCheckPort = strconv.Itoa(int(deref(d.Target.Port)))
		}
		out = append(out, d)
	}
	return out, nil
}
