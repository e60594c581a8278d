package elb

import "github.com/cutover/cutover/internal/awsproto/query"

// register binds every supported action to its handler.
func (s *Service) register() {
	q := s.q
	query.Handle(q, "CreateLoadBalancer", s.createLoadBalancer)
	query.Handle(q, "DescribeLoadBalancers", s.describeLoadBalancers)
	query.Handle(q, "DeleteLoadBalancer", s.deleteLoadBalancer)
	query.Handle(q, "CreateTargetGroup", s.createTargetGroup)
	query.Handle(q, "DescribeTargetGroups", s.describeTargetGroups)
	query.Handle(q, "ModifyTargetGroup", s.modifyTargetGroup)
	query.Handle(q, "DescribeTargetGroupAttributes", s.describeTargetGroupAttributes)
	query.Handle(q, "ModifyTargetGroupAttributes", s.modifyTargetGroupAttributes)
	query.Handle(q, "DeleteTargetGroup", s.deleteTargetGroup)
	query.Handle(q, "RegisterTargets", s.registerTargets)
	query.Handle(q, "DeregisterTargets", s.deregisterTargets)
	query.Handle(q, "DescribeTargetHealth", s.describeTargetHealth)
	query.Handle(q, "CreateListener", s.createListener)
	query.Handle(q, "DescribeListeners", s.describeListeners)
	query.Handle(q, "ModifyListener", s.modifyListener)
	query.Handle(q, "DeleteListener", s.deleteListener)
	query.Handle(q, "CreateRule", s.createRule)
	query.Handle(q, "DescribeRules", s.describeRules)
	query.Handle(q, "ModifyRule", s.modifyRule)
	query.Handle(q, "SetRulePriorities", s.setRulePriorities)
	query.Handle(q, "DeleteRule", s.deleteRule)
	query.Handle(q, "AddTags", s.addTags)
	query.Handle(q, "RemoveTags", s.removeTags)
	query.Handle(q, "DescribeTags", s.describeTags)
}
