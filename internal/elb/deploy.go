package elb

import (
	"context"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// TargetGroupARNByName resolves a target group name to its ARN, for the
// deployment engine: CodeDeploy deployment groups name their target groups
// (targetGroupPairInfoList[].targetGroups[].name) while listeners forward
// by ARN. An unknown name is TargetGroupNotFound, as DescribeTargetGroups
// answers it.
func (s *Service) TargetGroupARNByName(ctx context.Context, name string) (string, error) {
	var arn string
	err := s.store.View(ctx, func(tx store.Tx) error {
		found, err := list[tgRecord](tx, kindTG, store.ListOptions{Index: name})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return awsproto.Errorf("TargetGroupNotFound", "Target groups '[%s]' not found", name)
		}
		arn = found[0].TargetGroupArn
		return nil
	})
	return arn, err
}

// TargetGroupLoadBalancers returns the ARNs of the load balancers whose
// listeners or rules forward to the target group (DescribeTargetGroups'
// LoadBalancerArns). ECS refuses a target group with none, as AWS does,
// because nothing would ever health-check its targets.
func (s *Service) TargetGroupLoadBalancers(ctx context.Context, tgArn string) ([]string, error) {
	var lbs []string
	err := s.store.View(ctx, func(tx store.Tx) error {
		if _, _, err := s.getTG(tx, tgArn); err != nil {
			return err
		}
		var err error
		lbs, err = targetGroupLoadBalancers(tx, tgArn)
		return err
	})
	return lbs, err
}
