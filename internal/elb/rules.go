package elb

import (
	"context"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

const maxRules = 100 // per listener, not counting the default rule

func defaultRule(l *listenerRecord) Rule {
	return Rule{RuleArn: l.DefaultRuleArn, Priority: "default", Conditions: []RuleCondition{}, Actions: l.DefaultActions, IsDefault: true}
}

func (s *Service) createRule(ctx context.Context, in *CreateRuleInput) (*RulesOutput, error) {
	conds, err := normalizeConditions(in.Conditions)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	var out Rule
	err = s.mutate(ctx, true, func(tx store.Tx) error {
		l, _, err := s.getListener(tx, in.ListenerArn)
		if err != nil {
			return err
		}
		if l.Protocol != "HTTP" {
			return configf("Rules can only be added to HTTP listeners; %s listeners have only their default rule", l.Protocol)
		}
		actions, err := normalizeActions(actionContext{tx: tx, protocol: l.Protocol, lbArn: l.LoadBalancerArn}, in.Actions)
		if err != nil {
			return err
		}
		rules, err := listenerRules(tx, l.ListenerArn)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.PriorityNum == in.Priority {
				return awsproto.Errorf("PriorityInUse", "Priority '%d' is currently in use", in.Priority)
			}
		}
		if len(rules) >= maxRules {
			return awsproto.Errorf("TooManyRules", "A listener can have at most %d rules", maxRules)
		}
		listenerPart := strings.TrimPrefix(s.arnResource(l.ListenerArn), "listener/")
		r := &ruleRecord{
			Rule: Rule{
				RuleArn: s.arn("listener-rule/" + listenerPart + "/" + randomHex(16)), Priority: strconv.Itoa(int(in.Priority)),
				Conditions: conds, Actions: actions,
			},
			ListenerArn: l.ListenerArn, PriorityNum: in.Priority, Tags: in.Tags,
		}
		out = r.Rule
		return put(tx, kindRule, r.RuleArn, l.ListenerArn, 0, r)
	})
	if err != nil {
		return nil, err
	}
	return &RulesOutput{Rules: []Rule{out}}, nil
}

// findRule reads a rule by ARN; the default rule of a listener is found
// through its listener, since it is stored with it. Exactly one of the
// returned rule and listener-for-default is set.
func (s *Service) findRule(tx store.Tx, arn string) (*ruleRecord, *store.Record, *listenerRecord, error) {
	res := s.arnResource(arn)
	if !strings.HasPrefix(res, "listener-rule/") {
		if strings.HasPrefix(arn, "arn:") {
			return nil, nil, nil, awsproto.Errorf("RuleNotFound", "Rule '%s' not found", arn)
		}
		return nil, nil, nil, validationf("'%s' is not a valid rule ARN", arn)
	}
	r, rec, err := get[ruleRecord](tx, kindRule, arn)
	if err == nil {
		return r, rec, nil, nil
	}
	if !notFound(err) {
		return nil, nil, nil, err
	}
	// listener-rule/app/<lb>/<lbid>/<listenerid>/<ruleid> → the listener.
	if i := strings.LastIndex(res, "/"); i > 0 {
		lArn := s.arn("listener/" + strings.TrimPrefix(res[:i], "listener-rule/"))
		if l, _, err := get[listenerRecord](tx, kindListener, lArn); err == nil && l.DefaultRuleArn == arn {
			return nil, nil, l, nil
		}
	}
	return nil, nil, nil, awsproto.Errorf("RuleNotFound", "Rule '%s' not found", arn)
}

func (s *Service) describeRules(ctx context.Context, in *DescribeRulesInput) (*RulesOutput, error) {
	if in.ListenerArn != nil && len(in.RuleArns) > 0 {
		return nil, validationf("Rule ARNs and a listener ARN cannot be specified at the same time")
	}
	if in.ListenerArn == nil && len(in.RuleArns) == 0 {
		return nil, validationf("You must specify either listener ARN or rule ARNs")
	}
	var rules []Rule
	err := s.store.View(ctx, func(tx store.Tx) error {
		if in.ListenerArn != nil {
			l, _, err := s.getListener(tx, *in.ListenerArn)
			if err != nil {
				return err
			}
			recs, err := listenerRules(tx, l.ListenerArn)
			if err != nil {
				return err
			}
			for _, r := range recs {
				rules = append(rules, r.Rule)
			}
			rules = append(rules, defaultRule(l))
			return nil
		}
		for _, arn := range in.RuleArns {
			r, _, l, err := s.findRule(tx, arn)
			if err != nil {
				return err
			}
			if l != nil {
				rules = append(rules, defaultRule(l))
			} else {
				rules = append(rules, r.Rule)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pg, next, err := page("DescribeRules", rules, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	return &RulesOutput{Rules: pg, NextMarker: next}, nil
}

func (s *Service) modifyRule(ctx context.Context, in *ModifyRuleInput) (*RulesOutput, error) {
	var conds []RuleCondition
	if len(in.Conditions) > 0 {
		var err error
		if conds, err = normalizeConditions(in.Conditions); err != nil {
			return nil, err
		}
	}
	var out Rule
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		r, rec, l, err := s.findRule(tx, in.RuleArn)
		if err != nil {
			return err
		}
		if l != nil {
			return awsproto.Errorf("OperationNotPermitted", "The default rule cannot be modified; use ModifyListener to change its actions")
		}
		if conds != nil {
			r.Conditions = conds
		}
		if len(in.Actions) > 0 {
			owner, _, err := s.getListener(tx, r.ListenerArn)
			if err != nil {
				return err
			}
			actions, err := normalizeActions(actionContext{tx: tx, protocol: owner.Protocol, lbArn: owner.LoadBalancerArn}, in.Actions)
			if err != nil {
				return err
			}
			r.Actions = actions
		}
		out = r.Rule
		return put(tx, kindRule, r.RuleArn, r.ListenerArn, rec.Version, r)
	})
	if err != nil {
		return nil, err
	}
	return &RulesOutput{Rules: []Rule{out}}, nil
}

func (s *Service) setRulePriorities(ctx context.Context, in *SetRulePrioritiesInput) (*RulesOutput, error) {
	if len(in.RulePriorities) == 0 {
		return nil, validationf("At least one rule priority must be specified")
	}
	var out []Rule
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		changed := map[string]*ruleRecord{}
		versions := map[string]int64{}
		var order []string
		for _, p := range in.RulePriorities {
			if p.RuleArn == nil || p.Priority == nil {
				return validationf("Each rule priority pair needs a rule ARN and a priority")
			}
			if changed[*p.RuleArn] != nil {
				return validationf("Rule '%s' is specified more than once", *p.RuleArn)
			}
			r, rec, l, err := s.findRule(tx, *p.RuleArn)
			if err != nil {
				return err
			}
			if l != nil {
				return awsproto.Errorf("OperationNotPermitted", "The priority of the default rule cannot be changed")
			}
			r.PriorityNum, r.Priority = *p.Priority, strconv.Itoa(int(*p.Priority))
			changed[r.RuleArn], versions[r.RuleArn] = r, rec.Version
			order = append(order, r.RuleArn)
		}
		// Priorities must stay unique per listener once every change is made.
		listeners := map[string]bool{}
		for _, r := range changed {
			listeners[r.ListenerArn] = true
		}
		for lArn := range listeners {
			rules, err := listenerRules(tx, lArn)
			if err != nil {
				return err
			}
			used := map[int32]string{}
			for _, r := range rules {
				if c := changed[r.RuleArn]; c != nil {
					r = c
				}
				if other, dup := used[r.PriorityNum]; dup {
					return awsproto.Errorf("PriorityInUse", "Priority '%d' is in use by rule '%s'", r.PriorityNum, other)
				}
				used[r.PriorityNum] = r.RuleArn
			}
		}
		for _, arn := range order {
			r := changed[arn]
			if err := put(tx, kindRule, r.RuleArn, r.ListenerArn, versions[arn], r); err != nil {
				return err
			}
			out = append(out, r.Rule)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RulesOutput{Rules: out}, nil
}

func (s *Service) deleteRule(ctx context.Context, in *RuleArnInput) (*Empty, error) {
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		r, _, l, err := s.findRule(tx, in.RuleArn)
		if err != nil {
			return err
		}
		if l != nil {
			return awsproto.Errorf("OperationNotPermitted", "The default rule cannot be deleted")
		}
		return tx.Delete(kindRule, r.RuleArn, -1)
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}
