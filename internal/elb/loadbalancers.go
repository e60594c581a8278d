package elb

import (
	"context"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/query"
	"github.com/cutover/cutover/internal/store"
)

func (s *Service) createLoadBalancer(ctx context.Context, in *CreateLoadBalancerInput) (*LoadBalancersOutput, error) {
	if err := checkName("Load balancer", in.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Name, "internal-") {
		return nil, validationf("Load balancer name '%s' cannot begin with 'internal-'", in.Name)
	}
	typ := deref(in.Type)
	if typ == "" {
		typ = "application"
	}
	if err := oneOf("type", typ, "application", "network", "gateway"); err != nil {
		return nil, err
	}
	if typ == "gateway" {
		return nil, configf("Gateway load balancers are not supported by cutover")
	}
	scheme := deref(in.Scheme)
	if scheme == "" {
		scheme = "internet-facing"
	}
	if err := oneOf("scheme", scheme, "internet-facing", "internal"); err != nil {
		return nil, err
	}
	ipType := deref(in.IpAddressType)
	if ipType == "" {
		ipType = "ipv4"
	}
	if err := oneOf("ipAddressType", ipType, "ipv4", "dualstack", "dualstack-without-public-ipv4"); err != nil {
		return nil, err
	}
	subnets := in.Subnets
	if len(in.SubnetMappings) > 0 {
		if len(subnets) > 0 {
			return nil, validationf("You can specify subnets or subnet mappings, not both")
		}
		for _, m := range in.SubnetMappings {
			subnets = append(subnets, deref(m.SubnetId))
		}
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}

	var out *lbRecord
	err := s.mutate(ctx, false, func(tx store.Tx) error {
		existing, err := list[lbRecord](tx, kindLB, store.ListOptions{Index: in.Name})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			// CreateLoadBalancer is idempotent: the same request again
			// answers with the load balancer it made.
			e := existing[0]
			if e.Type == typ && e.Scheme == scheme && slices.Equal(e.SecurityGroups, in.SecurityGroups) {
				out = e
				return nil
			}
			return awsproto.Errorf("DuplicateLoadBalancerName", "A load balancer with the name '%s' already exists", in.Name)
		}
		id := randomHex(16)
		dnsPrefix := ""
		if scheme == "internal" {
			dnsPrefix = "internal-"
		}
		lb := &lbRecord{ID: id, Tags: in.Tags, LoadBalancer: LoadBalancer{
			LoadBalancerArn:       s.arn("loadbalancer/" + lbShortType(typ) + "/" + in.Name + "/" + id),
			DNSName:               dnsPrefix + in.Name + "-" + randomDigits(10) + "." + s.region + "." + DNSSuffix,
			CanonicalHostedZoneId: HostedZoneID,
			CreatedTime:           query.Time{Time: s.now().UTC()},
			LoadBalancerName:      in.Name,
			Scheme:                scheme,
			State:                 LoadBalancerState{Code: "active"},
			Type:                  typ,
			SecurityGroups:        in.SecurityGroups,
			IpAddressType:         ipType,
		}}
		for i, sn := range subnets {
			lb.AvailabilityZones = append(lb.AvailabilityZones, AvailabilityZone{ZoneName: s.region + string(rune('a'+i%26)), SubnetId: sn})
		}
		out = lb
		return put(tx, kindLB, lb.LoadBalancerArn, in.Name, 0, lb)
	})
	if err != nil {
		return nil, err
	}
	return &LoadBalancersOutput{LoadBalancers: []LoadBalancer{out.LoadBalancer}}, nil
}

func (s *Service) describeLoadBalancers(ctx context.Context, in *DescribeLoadBalancersInput) (*LoadBalancersOutput, error) {
	if len(in.LoadBalancerArns) > 0 && len(in.Names) > 0 {
		return nil, validationf("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	if len(in.LoadBalancerArns) > 20 || len(in.Names) > 20 {
		return nil, validationf("At most 20 load balancer names or ARNs can be specified")
	}
	var lbs []*lbRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		switch {
		case len(in.LoadBalancerArns) > 0:
			for _, arn := range in.LoadBalancerArns {
				lb, _, err := s.getLB(tx, arn)
				if err != nil {
					return err
				}
				lbs = append(lbs, lb)
			}
		case len(in.Names) > 0:
			for _, name := range in.Names {
				found, err := list[lbRecord](tx, kindLB, store.ListOptions{Index: name})
				if err != nil {
					return err
				}
				if len(found) == 0 {
					return awsproto.Errorf("LoadBalancerNotFound", "Load balancers '[%s]' not found", name)
				}
				lbs = append(lbs, found[0])
			}
		default:
			lbs, err = list[lbRecord](tx, kindLB, store.ListOptions{})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	pg, next, err := page("DescribeLoadBalancers", lbs, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &LoadBalancersOutput{LoadBalancers: []LoadBalancer{}, NextMarker: next}
	for _, lb := range pg {
		out.LoadBalancers = append(out.LoadBalancers, lb.LoadBalancer)
	}
	return out, nil
}

// getLB reads a load balancer, answering LoadBalancerNotFound for unknown
// and ValidationError for malformed ARNs.
func (s *Service) getLB(tx store.Tx, arn string) (*lbRecord, *store.Record, error) {
	if !strings.HasPrefix(s.arnResource(arn), "loadbalancer/") {
		if strings.HasPrefix(arn, "arn:") {
			return nil, nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancer '%s' not found", arn)
		}
		return nil, nil, validationf("'%s' is not a valid load balancer ARN", arn)
	}
	lb, rec, err := get[lbRecord](tx, kindLB, arn)
	if notFound(err) {
		return nil, nil, awsproto.Errorf("LoadBalancerNotFound", "Load balancer '%s' not found", arn)
	}
	return lb, rec, err
}

func (s *Service) deleteLoadBalancer(ctx context.Context, in *DeleteLoadBalancerInput) (*Empty, error) {
	if !strings.HasPrefix(in.LoadBalancerArn, "arn:") {
		return nil, validationf("'%s' is not a valid load balancer ARN", in.LoadBalancerArn)
	}
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		lb, _, err := s.getLB(tx, in.LoadBalancerArn)
		if awsproto.AsError(err) != nil {
			// Deleting a load balancer that does not exist succeeds, as in AWS.
			return nil
		}
		if err != nil {
			return err
		}
		ls, err := list[listenerRecord](tx, kindListener, store.ListOptions{Index: lb.LoadBalancerArn})
		if err != nil {
			return err
		}
		for _, l := range ls {
			if err := deleteListenerTx(tx, l.ListenerArn); err != nil {
				return err
			}
		}
		return tx.Delete(kindLB, lb.LoadBalancerArn, -1)
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// deleteListenerTx removes a listener and its rules.
func deleteListenerTx(tx store.Tx, arn string) error {
	rules, err := list[ruleRecord](tx, kindRule, store.ListOptions{Index: arn})
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := tx.Delete(kindRule, r.RuleArn, -1); err != nil {
			return err
		}
	}
	return tx.Delete(kindListener, arn, -1)
}
