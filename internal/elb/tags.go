package elb

import (
	"context"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

const maxTagResources = 20

// tagged is a resource whose tags are being read or changed.
type tagged struct {
	tags  []Tag
	write func(tags []Tag) error
}

// findTagged locates any taggable resource by ARN.
func (s *Service) findTagged(tx store.Tx, arn string) (*tagged, error) {
	res := s.arnResource(arn)
	switch {
	case strings.HasPrefix(res, "loadbalancer/"):
		lb, rec, err := s.getLB(tx, arn)
		if err != nil {
			return nil, err
		}
		return &tagged{lb.Tags, func(t []Tag) error {
			lb.Tags = t
			return put(tx, kindLB, arn, lb.LoadBalancerName, rec.Version, lb)
		}}, nil
	case strings.HasPrefix(res, "targetgroup/"):
		tg, rec, err := s.getTG(tx, arn)
		if err != nil {
			return nil, err
		}
		return &tagged{tg.Tags, func(t []Tag) error {
			tg.Tags = t
			return put(tx, kindTG, arn, tg.TargetGroupName, rec.Version, tg)
		}}, nil
	case strings.HasPrefix(res, "listener/"):
		l, rec, err := s.getListener(tx, arn)
		if err != nil {
			return nil, err
		}
		return &tagged{l.Tags, func(t []Tag) error {
			l.Tags = t
			return put(tx, kindListener, arn, l.LoadBalancerArn, rec.Version, l)
		}}, nil
	case strings.HasPrefix(res, "listener-rule/"):
		r, rec, l, err := s.findRule(tx, arn)
		if err != nil {
			return nil, err
		}
		if l != nil {
			lrec, err := tx.Get(kindListener, l.ListenerArn)
			if err != nil {
				return nil, err
			}
			return &tagged{l.DefaultRuleTags, func(t []Tag) error {
				l.DefaultRuleTags = t
				return put(tx, kindListener, l.ListenerArn, l.LoadBalancerArn, lrec.Version, l)
			}}, nil
		}
		return &tagged{r.Tags, func(t []Tag) error {
			r.Tags = t
			return put(tx, kindRule, arn, r.ListenerArn, rec.Version, r)
		}}, nil
	}
	return nil, validationf("'%s' is not a valid load balancer, target group, listener or rule ARN", arn)
}

func checkTagResources(arns []string) error {
	if len(arns) == 0 {
		return validationf("At least one resource ARN must be specified")
	}
	if len(arns) > maxTagResources {
		return validationf("At most %d resource ARNs can be specified", maxTagResources)
	}
	return nil
}

func (s *Service) addTags(ctx context.Context, in *AddTagsInput) (*Empty, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	err := s.mutate(ctx, false, func(tx store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.findTagged(tx, arn)
			if err != nil {
				return err
			}
			merged := mergeTags(t.tags, in.Tags)
			if len(merged) > maxTags {
				return awsproto.Errorf("TooManyTags", "Resource '%s' would have more than %d tags", arn, maxTags)
			}
			if err := t.write(merged); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

func (s *Service) removeTags(ctx context.Context, in *RemoveTagsInput) (*Empty, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	err := s.mutate(ctx, false, func(tx store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.findTagged(tx, arn)
			if err != nil {
				return err
			}
			kept := slices.DeleteFunc(slices.Clone(t.tags), func(tg Tag) bool { return slices.Contains(in.TagKeys, tg.Key) })
			if err := t.write(kept); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

func (s *Service) describeTags(ctx context.Context, in *DescribeTagsInput) (*DescribeTagsOutput, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	out := &DescribeTagsOutput{TagDescriptions: []TagDescription{}}
	err := s.store.View(ctx, func(tx store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.findTagged(tx, arn)
			if err != nil {
				return err
			}
			tags := t.tags
			if tags == nil {
				tags = []Tag{}
			}
			out.TagDescriptions = append(out.TagDescriptions, TagDescription{ResourceArn: arn, Tags: tags})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
