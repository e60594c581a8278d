package elb

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/store"
)

// buildConfig turns everything stored into the data plane's whole desired
// state.
func (s *Service) buildConfig(ctx context.Context, tx store.Tx) (*proxy.Config, error) {
	cfg := &proxy.Config{}
	lbs, err := list[lbRecord](tx, kindLB, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, lb := range lbs {
		ls, err := list[listenerRecord](tx, kindListener, store.ListOptions{Index: lb.LoadBalancerArn})
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			pl := proxy.Listener{ARN: l.ListenerArn, LoadBalancer: lbDimension(lb.LoadBalancerArn), Port: int(l.Port), Protocol: l.Protocol}
			rules, err := listenerRules(tx, l.ListenerArn)
			if err != nil {
				return nil, err
			}
			for _, r := range rules {
				pl.Rules = append(pl.Rules, proxy.Rule{ARN: r.RuleArn, Priority: int(r.PriorityNum), Conditions: proxyConditions(r.Conditions), Action: proxyAction(r.Actions)})
			}
			pl.Rules = append(pl.Rules, proxy.Rule{ARN: l.DefaultRuleArn, Action: proxyAction(l.DefaultActions)})
			cfg.Listeners = append(cfg.Listeners, pl)
		}
	}
	tgs, err := list[tgRecord](tx, kindTG, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, tg := range tgs {
		cfg.TargetGroups = append(cfg.TargetGroups, s.proxyTargetGroup(ctx, tg))
	}
	return cfg, nil
}

// listenerRules returns a listener's non-default rules by ascending priority.
func listenerRules(tx store.Tx, listenerArn string) ([]*ruleRecord, error) {
	rules, err := list[ruleRecord](tx, kindRule, store.ListOptions{Index: listenerArn})
	if err != nil {
		return nil, err
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].PriorityNum < rules[j].PriorityNum })
	return rules, nil
}

func proxyConditions(conds []RuleCondition) []proxy.Condition {
	var out []proxy.Condition
	for _, c := range conds {
		pc := proxy.Condition{Field: deref(c.Field)}
		switch pc.Field {
		case "path-pattern":
			pc.Values = c.PathPatternConfig.Values
		case "host-header":
			pc.Values = c.HostHeaderConfig.Values
		case "http-header":
			pc.HeaderName = deref(c.HttpHeaderConfig.HttpHeaderName)
			pc.Values = c.HttpHeaderConfig.Values
		case "query-string":
			for _, kv := range c.QueryStringConfig.Values {
				pc.Query = append(pc.Query, proxy.KeyValue{Key: deref(kv.Key), Value: deref(kv.Value)})
			}
		case "http-request-method":
			pc.Values = c.HttpRequestMethodConfig.Values
		case "source-ip":
			pc.Values = c.SourceIpConfig.Values
		}
		out = append(out, pc)
	}
	return out
}

// proxyAction converts a normalized action list (one terminal action).
func proxyAction(actions []Action) proxy.Action {
	if len(actions) == 0 {
		return proxy.Action{}
	}
	a := actions[len(actions)-1]
	switch {
	case a.ForwardConfig != nil:
		f := &proxy.Forward{}
		for _, g := range a.ForwardConfig.TargetGroups {
			f.Groups = append(f.Groups, proxy.WeightedGroup{TargetGroupARN: deref(g.TargetGroupArn), Weight: int(deref(g.Weight))})
		}
		if st := a.ForwardConfig.TargetGroupStickinessConfig; st != nil && deref(st.Enabled) {
			f.StickinessDuration = time.Duration(deref(st.DurationSeconds)) * time.Second
		}
		return proxy.Action{Forward: f}
	case a.FixedResponseConfig != nil:
		code, _ := strconv.Atoi(a.FixedResponseConfig.StatusCode)
		return proxy.Action{Fixed: &proxy.FixedResponse{StatusCode: code, ContentType: deref(a.FixedResponseConfig.ContentType), Body: deref(a.FixedResponseConfig.MessageBody)}}
	case a.RedirectConfig != nil:
		r := a.RedirectConfig
		code := 301
		if r.StatusCode == "HTTP_302" {
			code = 302
		}
		return proxy.Action{Redirect: &proxy.Redirect{Protocol: deref(r.Protocol), Host: deref(r.Host), Port: deref(r.Port), Path: deref(r.Path), Query: deref(r.Query), StatusCode: code}}
	}
	return proxy.Action{}
}

func (s *Service) proxyTargetGroup(ctx context.Context, tg *tgRecord) proxy.TargetGroup {
	_, dim, _ := strings.Cut(tg.TargetGroupArn, ":targetgroup/")
	ptg := proxy.TargetGroup{
		ARN: tg.TargetGroupArn, Name: "targetgroup/" + dim, Protocol: tg.Protocol, Port: int(tg.Port),
		Health: proxy.HealthCheck{
			Enabled:            tg.HealthCheckEnabled,
			Protocol:           tg.HealthCheckProtocol,
			Path:               deref(tg.HealthCheckPath),
			Port:               tg.HealthCheckPort,
			Interval:           time.Duration(tg.HealthCheckIntervalSeconds) * time.Second,
			Timeout:            time.Duration(tg.HealthCheckTimeoutSeconds) * time.Second,
			HealthyThreshold:   int(tg.HealthyThresholdCount),
			UnhealthyThreshold: int(tg.UnhealthyThresholdCount),
		},
	}
	if tg.Matcher != nil {
		ptg.Health.Matcher = deref(tg.Matcher.HttpCode)
	}
	if d, err := strconv.Atoi(tg.Attributes[attrDeregistrationDelay]); err == nil {
		ptg.DeregistrationDelay = time.Duration(d) * time.Second
	}
	if tg.Attributes[attrStickinessEnabled] == "true" && tg.Attributes[attrStickinessType] == "lb_cookie" {
		if d, err := strconv.Atoi(tg.Attributes[attrStickinessDuration]); err == nil {
			ptg.StickinessDuration = time.Duration(d) * time.Second
		}
	}
	ptg.LoadBalancingAlgorithm = tg.Attributes[attrAlgorithm]
	for _, t := range tg.Targets {
		pt := proxy.Target{ID: t.Id, Port: int(deref(t.Port))}
		if tg.TargetType == "ip" {
			pt.Host = t.Id
		} else if host, ok := s.resolver.ResolveInstance(ctx, t.Id); ok {
			pt.Host = host
		}
		ptg.Targets = append(ptg.Targets, pt)
	}
	return ptg
}

// targetGroupLoadBalancers lists the load balancers whose listeners or rules
// forward to a target group, sorted.
func targetGroupLoadBalancers(tx store.Tx, tgArn string) ([]string, error) {
	set := map[string]bool{}
	ls, err := list[listenerRecord](tx, kindListener, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	byListener := map[string]string{}
	for _, l := range ls {
		byListener[l.ListenerArn] = l.LoadBalancerArn
		if forwardsTo(l.DefaultActions, tgArn) {
			set[l.LoadBalancerArn] = true
		}
	}
	rules, err := list[ruleRecord](tx, kindRule, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if forwardsTo(r.Actions, tgArn) {
			set[byListener[r.ListenerArn]] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func forwardsTo(actions []Action, tgArn string) bool {
	for _, a := range actions {
		if a.ForwardConfig == nil {
			continue
		}
		for _, g := range a.ForwardConfig.TargetGroups {
			if deref(g.TargetGroupArn) == tgArn {
				return true
			}
		}
	}
	return false
}
