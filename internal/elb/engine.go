package elb

import (
	"context"
	"sort"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// This file is the programmatic API the deployment engine uses to shift
// traffic and manage targets. Errors are *awsproto.Error values for
// anything the caller got wrong, like the wire API's.

// forwardOwner locates the forward action of a listener (its default action)
// or of a rule, and how to write it back.
func (s *Service) forwardOwner(tx store.Tx, arn string) (actions *[]Action, ac actionContext, write func() error, err error) {
	if strings.HasPrefix(s.arnResource(arn), "listener-rule/") {
		r, rec, l, err := s.findRule(tx, arn)
		if err != nil {
			return nil, ac, nil, err
		}
		if l != nil {
			arn = l.ListenerArn
		} else {
			owner, _, err := s.getListener(tx, r.ListenerArn)
			if err != nil {
				return nil, ac, nil, err
			}
			return &r.Actions, actionContext{tx: tx, protocol: owner.Protocol, lbArn: owner.LoadBalancerArn},
				func() error { return put(tx, kindRule, r.RuleArn, r.ListenerArn, rec.Version, r) }, nil
		}
	}
	l, rec, err := s.getListener(tx, arn)
	if err != nil {
		return nil, ac, nil, err
	}
	return &l.DefaultActions, actionContext{tx: tx, protocol: l.Protocol, lbArn: l.LoadBalancerArn},
		func() error { return put(tx, kindListener, l.ListenerArn, l.LoadBalancerArn, rec.Version, l) }, nil
}

// SetForwardWeights makes the forward action of a listener (its default
// action) or of a rule send traffic to exactly the given target groups with
// the given weights (0..999). It sets rather than adjusts, so calling it
// again with the same weights changes nothing; group stickiness is kept.
func (s *Service) SetForwardWeights(ctx context.Context, arn string, weights map[string]int) error {
	if len(weights) == 0 {
		return validationf("At least one target group weight must be given")
	}
	arns := make([]string, 0, len(weights))
	for tg := range weights {
		arns = append(arns, tg)
	}
	sort.Strings(arns) // a stable order keeps stored actions comparable
	return s.mutate(ctx, true, func(tx store.Tx) error {
		actions, ac, write, err := s.forwardOwner(tx, arn)
		if err != nil {
			return err
		}
		if len(*actions) != 1 || (*actions)[0].Type != "forward" {
			return configf("'%s' does not forward to target groups", arn)
		}
		fc := &ForwardActionConfig{TargetGroupStickinessConfig: (*actions)[0].ForwardConfig.TargetGroupStickinessConfig}
		for _, tg := range arns {
			w := weights[tg]
			if w < 0 || w > maxWeight {
				return validationf("Target group weight '%d' must be between 0 and %d", w, maxWeight)
			}
			fc.TargetGroups = append(fc.TargetGroups, TargetGroupTuple{TargetGroupArn: ptr(tg), Weight: ptr(int32(w))})
		}
		next, err := normalizeActions(ac, []Action{{Type: "forward", Order: (*actions)[0].Order, ForwardConfig: fc}})
		if err != nil {
			return err
		}
		if sameJSON(next, *actions) {
			return nil
		}
		*actions = next
		return write()
	})
}

// ForwardWeights reads back the weights SetForwardWeights set, by target
// group ARN, so a caller can verify a shift.
func (s *Service) ForwardWeights(ctx context.Context, arn string) (map[string]int, error) {
	out := map[string]int{}
	err := s.store.View(ctx, func(tx store.Tx) error {
		actions, _, _, err := s.forwardOwner(tx, arn)
		if err != nil {
			return err
		}
		for _, a := range *actions {
			if a.ForwardConfig == nil {
				continue
			}
			for _, g := range a.ForwardConfig.TargetGroups {
				out[deref(g.TargetGroupArn)] = int(deref(g.Weight))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Target is a registered target and its health, for the engine.
type Target struct {
	ID   string
	Port int
	// State, Reason and Description are DescribeTargetHealth's.
	State, Reason, Description string
}

// TargetGroupTargets returns a target group's registered (and still
// draining) targets with their health.
func (s *Service) TargetGroupTargets(ctx context.Context, tgArn string) ([]Target, error) {
	descs, err := s.targetHealth(ctx, tgArn, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(descs))
	for _, d := range descs {
		out = append(out, Target{
			ID: d.Target.Id, Port: int(deref(d.Target.Port)),
			State: d.TargetHealth.State, Reason: deref(d.TargetHealth.Reason), Description: deref(d.TargetHealth.Description),
		})
	}
	return out, nil
}

// TargetRef names a target to register or deregister; Port 0 means the
// target group's port.
type TargetRef struct {
	ID   string
	Port int
}

func descriptions(ts []TargetRef) ([]TargetDescription, error) {
	out := make([]TargetDescription, 0, len(ts))
	for _, t := range ts {
		d := TargetDescription{Id: t.ID}
		if t.Port != 0 {
			if t.Port < 1 || t.Port > 65535 {
				return nil, awsproto.Errorf("InvalidTarget", "Port %d of target '%s' is out of range", t.Port, t.ID)
			}
			d.Port = ptr(int32(t.Port))
		}
		out = append(out, d)
	}
	return out, nil
}

// RegisterTargets adds targets to a target group; registered ones stay.
func (s *Service) RegisterTargets(ctx context.Context, tgArn string, targets ...TargetRef) error {
	ds, err := descriptions(targets)
	if err != nil {
		return err
	}
	return s.changeTargets(ctx, tgArn, ds, true)
}

// DeregisterTargets removes targets from a target group; they drain for the
// group's deregistration delay.
func (s *Service) DeregisterTargets(ctx context.Context, tgArn string, targets ...TargetRef) error {
	ds, err := descriptions(targets)
	if err != nil {
		return err
	}
	return s.changeTargets(ctx, tgArn, ds, false)
}
