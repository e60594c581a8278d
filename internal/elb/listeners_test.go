package elb

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/cutover/cutover/internal/elb/proxy"
)

func forwardTo(tgs map[string]int32) []types.Action {
	fc := &types.ForwardActionConfig{}
	for arn, w := range tgs {
		fc.TargetGroups = append(fc.TargetGroups, types.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(w)})
	}
	return []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: fc}}
}

func TestListeners(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(18080)
	l := must[*elbv2.DescribeListenersOutput](t)(e.client.DescribeListeners(e.ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(f.lb)})).Listeners
	if len(l) != 1 || *l[0].Port != 18080 || l[0].Protocol != types.ProtocolEnumHttp || *l[0].DefaultActions[0].TargetGroupArn != f.tgA ||
		*l[0].DefaultActions[0].ForwardConfig.TargetGroups[0].Weight != 1 || !strings.Contains(*l[0].ListenerArn, ":listener/app/web/") {
		t.Fatalf("listeners %+v", l)
	}
	tg := must[*elbv2.DescribeTargetGroupsOutput](t)(e.client.DescribeTargetGroups(e.ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(f.lb)})).TargetGroups
	if len(tg) != 1 || tg[0].LoadBalancerArns[0] != f.lb {
		t.Errorf("target groups of the load balancer: %+v", tg)
	}
	cfg := e.plane.config()
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Port != 18080 || len(cfg.Listeners[0].Rules) != 1 ||
		cfg.Listeners[0].Rules[0].Action.Forward.Groups[0].TargetGroupARN != f.tgA || !strings.HasPrefix(cfg.Listeners[0].LoadBalancer, "app/web/") {
		t.Errorf("proxy config %+v", cfg.Listeners)
	}

	nlb := *must[*elbv2.CreateLoadBalancerOutput](t)(e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("net"), Type: types.LoadBalancerTypeEnumNetwork})).LoadBalancers[0].LoadBalancerArn
	tcpTG := *must[*elbv2.CreateTargetGroupOutput](t)(e.client.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tcp"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(5432)})).TargetGroups[0].TargetGroupArn

	fwdA := []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(f.tgA)}}
	before := e.snapshot()
	applies := e.plane.applies
	for _, tc := range []struct {
		name string
		in   *elbv2.CreateListenerInput
		code string
	}{
		{"same port same LB", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(18080),
			DefaultActions: forwardTo(map[string]int32{f.tgB: 1})}, "DuplicateListener"},
		{"port of another LB", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(nlb), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(18080),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tcpTG)}}}, "InvalidConfigurationRequest"},
		{"unknown LB", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb + "0"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1), DefaultActions: fwdA}, "LoadBalancerNotFound"},
		{"unknown TG", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(f.tgA + "0")}}}, "TargetGroupNotFound"},
		{"TCP on application", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(1), DefaultActions: fwdA}, "IncompatibleProtocols"},
		{"HTTPS", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttps, Port: aws.Int32(1), DefaultActions: fwdA}, "UnsupportedProtocol"},
		{"TCP group on HTTP listener", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tcpTG)}}}, "IncompatibleProtocols"},
		{"weight 1000", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: forwardTo(map[string]int32{f.tgA: 1000})}, "ValidationError"},
		{"negative weight", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: forwardTo(map[string]int32{f.tgA: -1})}, "ValidationError"},
		{"group of another LB", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(nlb), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(f.tgA)}}}, "IncompatibleProtocols"},
		{"oidc", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumAuthenticateOidc}}}, "InvalidLoadBalancerAction"},
		{"loop redirect", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumRedirect, RedirectConfig: &types.RedirectActionConfig{StatusCode: types.RedirectActionStatusCodeEnumHttp301}}}}, "InvalidLoadBalancerAction"},
		{"fixed bad status", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("302")}}}}, "ValidationError"},
		{"sticky without duration", &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
				TargetGroups:                []types.TargetGroupTuple{{TargetGroupArn: aws.String(f.tgA)}},
				TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true)}}}}}, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateListener(e.ctx, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if !reflect.DeepEqual(before, e.snapshot()) || e.plane.applies != applies {
		t.Error("failed creates changed the store or the data plane")
	}

	// The data plane refusing a port rolls the whole change back.
	e.plane.refuse = fmt.Errorf("binding: %w", proxy.ErrPortInUse)
	_, err := e.client.CreateListener(e.ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(18081), DefaultActions: fwdA})
	wantCode(t, err, "InvalidConfigurationRequest")
	e.plane.refuse = nil
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("refused listener was stored")
	}

	// Weighted forward, fixed response, redirect; modify; delete.
	w := must[*elbv2.CreateListenerOutput](t)(e.client.CreateListener(e.ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(18081),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
			TargetGroups:                []types.TargetGroupTuple{{TargetGroupArn: aws.String(f.tgA), Weight: aws.Int32(90)}, {TargetGroupArn: aws.String(f.tgB), Weight: aws.Int32(10)}},
			TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(60)}}}}})).Listeners[0]
	if fc := w.DefaultActions[0].ForwardConfig; len(fc.TargetGroups) != 2 || *fc.TargetGroups[1].Weight != 10 || !*fc.TargetGroupStickinessConfig.Enabled || w.DefaultActions[0].TargetGroupArn != nil {
		t.Errorf("weighted %+v", w.DefaultActions[0])
	}
	fixed := must[*elbv2.CreateListenerOutput](t)(e.client.CreateListener(e.ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(f.lb), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(18082),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("503"), ContentType: aws.String("text/plain"), MessageBody: aws.String("down")}}}})).Listeners[0]
	if *fixed.DefaultActions[0].FixedResponseConfig.MessageBody != "down" {
		t.Errorf("fixed %+v", fixed.DefaultActions[0])
	}
	red := must[*elbv2.ModifyListenerOutput](t)(e.client.ModifyListener(e.ctx, &elbv2.ModifyListenerInput{ListenerArn: fixed.ListenerArn, Port: aws.Int32(18083),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumRedirect, RedirectConfig: &types.RedirectActionConfig{StatusCode: types.RedirectActionStatusCodeEnumHttp302, Host: aws.String("example.com")}}}})).Listeners[0]
	if *red.Port != 18083 || *red.DefaultActions[0].RedirectConfig.Path != "/#{path}" || *red.DefaultActions[0].RedirectConfig.Host != "example.com" {
		t.Errorf("redirect %+v", red.DefaultActions[0].RedirectConfig)
	}
	_, err = e.client.ModifyListener(e.ctx, &elbv2.ModifyListenerInput{ListenerArn: fixed.ListenerArn, Port: aws.Int32(18080)})
	wantCode(t, err, "DuplicateListener")
	_, err = e.client.ModifyListener(e.ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(*fixed.ListenerArn + "0")})
	var lnf *types.ListenerNotFoundException
	if !errors.As(err, &lnf) {
		t.Errorf("modify unknown: %v", err)
	}

	// A target group in use cannot be deleted.
	_, err = e.client.DeleteTargetGroup(e.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(f.tgB)})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("delete used group: %v", err)
	}

	ls := must[*elbv2.DescribeListenersOutput](t)(e.client.DescribeListeners(e.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*w.ListenerArn, *fixed.ListenerArn}})).Listeners
	if len(ls) != 2 {
		t.Errorf("by ARNs: %d", len(ls))
	}
	_, err = e.client.DescribeListeners(e.ctx, &elbv2.DescribeListenersInput{})
	wantCode(t, err, "ValidationError")

	must[*elbv2.DeleteListenerOutput](t)(e.client.DeleteListener(e.ctx, &elbv2.DeleteListenerInput{ListenerArn: w.ListenerArn}))
	_, err = e.client.DeleteListener(e.ctx, &elbv2.DeleteListenerInput{ListenerArn: w.ListenerArn})
	wantCode(t, err, "ListenerNotFound")
	must[*elbv2.DeleteTargetGroupOutput](t)(e.client.DeleteTargetGroup(e.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(f.tgB)}))

	// Deleting the load balancer takes its listeners and rules with it.
	must[*elbv2.DeleteLoadBalancerOutput](t)(e.client.DeleteLoadBalancer(e.ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(f.lb)}))
	if n := len(e.plane.config().Listeners); n != 0 {
		t.Errorf("%d listeners left in the data plane", n)
	}
	_, err = e.client.DescribeListeners(e.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{f.listener}})
	wantCode(t, err, "ListenerNotFound")
}

func TestRules(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(18080)
	fwdB := []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(f.tgB)}}
	r1 := must[*elbv2.CreateRuleOutput](t)(e.client.CreateRule(e.ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(f.listener), Priority: aws.Int32(10), Actions: fwdB,
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/api/*"}}}})).Rules[0]
	if *r1.Priority != "10" || *r1.IsDefault || r1.Conditions[0].PathPatternConfig.Values[0] != "/api/*" || r1.Conditions[0].Values[0] != "/api/*" {
		t.Errorf("rule %+v", r1)
	}
	r2 := must[*elbv2.CreateRuleOutput](t)(e.client.CreateRule(e.ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(f.listener), Priority: aws.Int32(5), Actions: fwdB,
		Conditions: []types.RuleCondition{
			{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: []string{"*.example.com"}}},
			{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Canary"), Values: []string{"1"}}},
			{Field: aws.String("query-string"), QueryStringConfig: &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("2")}}}},
			{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"GET"}}},
			{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}},
		}})).Rules[0]
	if len(r2.Conditions) != 5 || *r2.Conditions[1].HttpHeaderConfig.HttpHeaderName != "X-Canary" || *r2.Conditions[2].QueryStringConfig.Values[0].Key != "v" {
		t.Errorf("rule 2 %+v", r2.Conditions)
	}
	rules := must[*elbv2.DescribeRulesOutput](t)(e.client.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(f.listener)})).Rules
	var order []string
	for _, r := range rules {
		order = append(order, *r.Priority)
	}
	if !reflect.DeepEqual(order, []string{"5", "10", "default"}) || !*rules[2].IsDefault {
		t.Errorf("rule order %v", order)
	}
	cfg := e.plane.config().Listeners[0]
	if len(cfg.Rules) != 3 || cfg.Rules[0].Priority != 5 || cfg.Rules[0].Conditions[1].HeaderName != "X-Canary" || cfg.Rules[2].Priority != 0 {
		t.Errorf("proxy rules %+v", cfg.Rules)
	}

	before := e.snapshot()
	for _, tc := range []struct {
		name  string
		prio  int32
		conds []types.RuleCondition
		code  string
	}{
		{"priority in use", 10, []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x"}}}, "PriorityInUse"},
		{"no conditions", 20, []types.RuleCondition{}, "ValidationError"},
		{"unknown field", 20, []types.RuleCondition{{Field: aws.String("cookie"), Values: []string{"x"}}}, "ValidationError"},
		{"two legacy values", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/a", "/b"}}}, "ValidationError"},
		{"values and config", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/a"}, PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/b"}}}}, "ValidationError"},
		{"six values", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/1", "/2", "/3", "/4", "/5", "/6"}}}}, "ValidationError"},
		{"six wildcards", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/*/*/*", "/?/?/?"}}}}, "ValidationError"},
		{"path too long", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/" + strings.Repeat("a", 128)}}}, "ValidationError"},
		{"two path conditions", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/a"}}, {Field: aws.String("path-pattern"), Values: []string{"/b"}}}, "ValidationError"},
		{"bad cidr", 20, []types.RuleCondition{{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.1"}}}}, "ValidationError"},
		{"bad method", 20, []types.RuleCondition{{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"get"}}}}, "ValidationError"},
		{"header without config", 20, []types.RuleCondition{{Field: aws.String("http-header"), Values: []string{"x"}}}, "ValidationError"},
		{"regex", 20, []types.RuleCondition{{Field: aws.String("path-pattern"), RegexValues: []string{"^/a$"}}}, "InvalidConfigurationRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateRule(e.ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(f.listener), Priority: aws.Int32(tc.prio), Actions: fwdB, Conditions: tc.conds})
			wantCode(t, err, tc.code)
		})
	}
	_, err := e.client.CreateRule(e.ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(f.listener + "0"), Priority: aws.Int32(30), Actions: fwdB,
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x"}}}})
	wantCode(t, err, "ListenerNotFound")

	// SetRulePriorities: a swap is allowed, a collision is not.
	_, err = e.client.SetRulePriorities(e.ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: r1.RuleArn, Priority: aws.Int32(5)}}})
	wantCode(t, err, "PriorityInUse")
	_, err = e.client.SetRulePriorities(e.ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: rules[2].RuleArn, Priority: aws.Int32(7)}}})
	wantCode(t, err, "OperationNotPermitted")
	_, err = e.client.ModifyRule(e.ctx, &elbv2.ModifyRuleInput{RuleArn: rules[2].RuleArn, Actions: fwdB})
	wantCode(t, err, "OperationNotPermitted")
	_, err = e.client.DeleteRule(e.ctx, &elbv2.DeleteRuleInput{RuleArn: rules[2].RuleArn})
	wantCode(t, err, "OperationNotPermitted")
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed rule changes changed the store")
	}
	sw := must[*elbv2.SetRulePrioritiesOutput](t)(e.client.SetRulePriorities(e.ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
		{RuleArn: r1.RuleArn, Priority: aws.Int32(5)}, {RuleArn: r2.RuleArn, Priority: aws.Int32(10)}}}))
	if len(sw.Rules) != 2 || *sw.Rules[0].Priority != "5" {
		t.Errorf("swap %+v", sw.Rules)
	}

	mod := must[*elbv2.ModifyRuleOutput](t)(e.client.ModifyRule(e.ctx, &elbv2.ModifyRuleInput{RuleArn: r1.RuleArn,
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/v2/*", "/v3/*"}}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})).Rules[0]
	if len(mod.Conditions[0].Values) != 2 || mod.Actions[0].Type != types.ActionTypeEnumFixedResponse {
		t.Errorf("modified %+v", mod)
	}
	got := must[*elbv2.DescribeRulesOutput](t)(e.client.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{RuleArns: []string{*r1.RuleArn, *rules[2].RuleArn}})).Rules
	if len(got) != 2 || *got[0].Priority != "5" || !*got[1].IsDefault {
		t.Errorf("by ARNs %+v", got)
	}
	// Paging over rules.
	p1 := must[*elbv2.DescribeRulesOutput](t)(e.client.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(f.listener), PageSize: aws.Int32(2)}))
	p2 := must[*elbv2.DescribeRulesOutput](t)(e.client.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(f.listener), PageSize: aws.Int32(2), Marker: p1.NextMarker}))
	if len(p1.Rules) != 2 || len(p2.Rules) != 1 || p2.NextMarker != nil {
		t.Errorf("pages %d %d", len(p1.Rules), len(p2.Rules))
	}

	must[*elbv2.DeleteRuleOutput](t)(e.client.DeleteRule(e.ctx, &elbv2.DeleteRuleInput{RuleArn: r1.RuleArn}))
	_, err = e.client.DeleteRule(e.ctx, &elbv2.DeleteRuleInput{RuleArn: r1.RuleArn})
	var rnf *types.RuleNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("delete twice: %v", err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(18080)
	rules := must[*elbv2.DescribeRulesOutput](t)(e.client.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(f.listener)})).Rules
	arns := []string{f.lb, f.tgA, f.listener, *rules[0].RuleArn}
	must[*elbv2.AddTagsOutput](t)(e.client.AddTags(e.ctx, &elbv2.AddTagsInput{ResourceArns: arns, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}, {Key: aws.String("env"), Value: aws.String("prod")}}}))
	d := must[*elbv2.DescribeTagsOutput](t)(e.client.DescribeTags(e.ctx, &elbv2.DescribeTagsInput{ResourceArns: arns}))
	for _, td := range d.TagDescriptions {
		m := map[string]string{}
		for _, tg := range td.Tags {
			m[*tg.Key] = *tg.Value
		}
		if m["team"] != "web" || m["env"] != "prod" {
			t.Errorf("%s tags %v", *td.ResourceArn, m)
		}
	}
	must[*elbv2.RemoveTagsOutput](t)(e.client.RemoveTags(e.ctx, &elbv2.RemoveTagsInput{ResourceArns: arns[:1], TagKeys: []string{"env", "team"}}))
	d = must[*elbv2.DescribeTagsOutput](t)(e.client.DescribeTags(e.ctx, &elbv2.DescribeTagsInput{ResourceArns: arns[:1]}))
	if len(d.TagDescriptions[0].Tags) != 0 {
		t.Errorf("after remove %+v", d.TagDescriptions[0].Tags)
	}
	before := e.snapshot()
	_, err := e.client.AddTags(e.ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.tgA, f.lb + "0"}, Tags: []types.Tag{{Key: aws.String("x")}}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = e.client.AddTags(e.ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.tgA}, Tags: []types.Tag{{Key: aws.String("aws:x")}}})
	wantCode(t, err, "ValidationError")
	many := []types.Tag{}
	for i := 0; i < 51; i++ {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i))})
	}
	_, err = e.client.AddTags(e.ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.tgA}, Tags: many})
	wantCode(t, err, "TooManyTags")
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed tagging changed the store")
	}
	_, err = e.client.DescribeTags(e.ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{f.listener + "0"}})
	wantCode(t, err, "ListenerNotFound")
}
