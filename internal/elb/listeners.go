package elb

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// listenerProtocol checks a listener protocol against its load balancer's
// type: application load balancers serve HTTP, network ones TCP.
func listenerProtocol(lbType string, p *string) (string, error) {
	want := "HTTP"
	if lbType == "network" {
		want = "TCP"
	}
	if p == nil {
		return "", validationf("A listener protocol must be specified")
	}
	if err := oneOf("protocol", *p, "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"); err != nil {
		return "", err
	}
	switch *p {
	case want:
		return want, nil
	case "HTTPS", "TLS", "UDP", "TCP_UDP", "QUIC", "TCP_QUIC":
		return "", awsproto.Errorf("UnsupportedProtocol", "Protocol '%s' is not supported by cutover's load balancer", *p)
	}
	return "", awsproto.Errorf("IncompatibleProtocols", "Protocol '%s' is not valid for a load balancer of type '%s'", *p, lbType)
}

// checkPortFree refuses a port another listener holds: on the same load
// balancer that is DuplicateListener; on another one the host port is
// taken, since every listener binds its port on this host.
func checkPortFree(tx store.Tx, lbArn, self string, port int32) error {
	all, err := list[listenerRecord](tx, kindListener, store.ListOptions{})
	if err != nil {
		return err
	}
	for _, l := range all {
		if l.Port != port || l.ListenerArn == self {
			continue
		}
		if l.LoadBalancerArn == lbArn {
			return awsproto.Errorf("DuplicateListener", "A listener already exists on port %d of this load balancer", port)
		}
		return configf("Port %d is already in use on the host by listener '%s'", port, l.ListenerArn)
	}
	return nil
}

func (s *Service) createListener(ctx context.Context, in *CreateListenerInput) (*ListenersOutput, error) {
	if len(in.Certificates) > 0 || in.SslPolicy != nil {
		return nil, awsproto.Errorf("UnsupportedProtocol", "Certificates and SSL policies are not supported by cutover's load balancer")
	}
	if in.Port == nil {
		return nil, validationf("A listener port must be specified")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	var out Listener
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		lb, _, err := s.getLB(tx, in.LoadBalancerArn)
		if err != nil {
			return err
		}
		proto, err := listenerProtocol(lb.Type, in.Protocol)
		if err != nil {
			return err
		}
		actions, err := normalizeActions(actionContext{tx: tx, protocol: proto, lbArn: lb.LoadBalancerArn}, in.DefaultActions)
		if err != nil {
			return err
		}
		existing, err := list[listenerRecord](tx, kindListener, store.ListOptions{Index: lb.LoadBalancerArn})
		if err != nil {
			return err
		}
		for _, l := range existing {
			// The same listener again is answered with the existing one, as
			// AWS does; a different one on the same port is a duplicate.
			if l.Port == *in.Port && l.Protocol == proto && sameJSON(l.DefaultActions, actions) {
				out = l.Listener
				return nil
			}
		}
		if err := checkPortFree(tx, lb.LoadBalancerArn, "", *in.Port); err != nil {
			return err
		}
		id := randomHex(16)
		lbPart := strings.TrimPrefix(s.arnResource(lb.LoadBalancerArn), "loadbalancer/")
		l := &listenerRecord{
			Listener: Listener{
				ListenerArn: s.arn("listener/" + lbPart + "/" + id), LoadBalancerArn: lb.LoadBalancerArn,
				Port: *in.Port, Protocol: proto, DefaultActions: actions,
			},
			DefaultRuleArn: s.arn("listener-rule/" + lbPart + "/" + id + "/" + randomHex(16)),
			Tags:           in.Tags,
		}
		out = l.Listener
		return put(tx, kindListener, l.ListenerArn, lb.LoadBalancerArn, 0, l)
	})
	if err != nil {
		return nil, err
	}
	return &ListenersOutput{Listeners: []Listener{out}}, nil
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// getListener reads a listener, answering ListenerNotFound for unknown and
// ValidationError for malformed ARNs.
func (s *Service) getListener(tx store.Tx, arn string) (*listenerRecord, *store.Record, error) {
	if !strings.HasPrefix(s.arnResource(arn), "listener/") {
		if strings.HasPrefix(arn, "arn:") {
			return nil, nil, awsproto.Errorf("ListenerNotFound", "Listener '%s' not found", arn)
		}
		return nil, nil, validationf("'%s' is not a valid listener ARN", arn)
	}
	l, rec, err := get[listenerRecord](tx, kindListener, arn)
	if notFound(err) {
		return nil, nil, awsproto.Errorf("ListenerNotFound", "Listener '%s' not found", arn)
	}
	return l, rec, err
}

func (s *Service) describeListeners(ctx context.Context, in *DescribeListenersInput) (*ListenersOutput, error) {
	if in.LoadBalancerArn != nil && len(in.ListenerArns) > 0 {
		return nil, validationf("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	}
	if in.LoadBalancerArn == nil && len(in.ListenerArns) == 0 {
		return nil, validationf("You must specify either listener ARNs or a load balancer ARN")
	}
	var ls []Listener
	err := s.store.View(ctx, func(tx store.Tx) error {
		if in.LoadBalancerArn != nil {
			if _, _, err := s.getLB(tx, *in.LoadBalancerArn); err != nil {
				return err
			}
			recs, err := list[listenerRecord](tx, kindListener, store.ListOptions{Index: *in.LoadBalancerArn})
			if err != nil {
				return err
			}
			for _, l := range recs {
				ls = append(ls, l.Listener)
			}
			return nil
		}
		for _, arn := range in.ListenerArns {
			l, _, err := s.getListener(tx, arn)
			if err != nil {
				return err
			}
			ls = append(ls, l.Listener)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pg, next, err := page("DescribeListeners", ls, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	if pg == nil {
		pg = []Listener{}
	}
	return &ListenersOutput{Listeners: pg, NextMarker: next}, nil
}

func (s *Service) modifyListener(ctx context.Context, in *ModifyListenerInput) (*ListenersOutput, error) {
	if len(in.Certificates) > 0 || in.SslPolicy != nil {
		return nil, awsproto.Errorf("UnsupportedProtocol", "Certificates and SSL policies are not supported by cutover's load balancer")
	}
	var out Listener
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		l, rec, err := s.getListener(tx, in.ListenerArn)
		if err != nil {
			return err
		}
		lb, _, err := s.getLB(tx, l.LoadBalancerArn)
		if err != nil {
			return err
		}
		if in.Protocol != nil {
			proto, err := listenerProtocol(lb.Type, in.Protocol)
			if err != nil {
				return err
			}
			l.Protocol = proto
		}
		if in.Port != nil && *in.Port != l.Port {
			if err := checkPortFree(tx, l.LoadBalancerArn, l.ListenerArn, *in.Port); err != nil {
				return err
			}
			l.Port = *in.Port
		}
		if len(in.DefaultActions) > 0 {
			actions, err := normalizeActions(actionContext{tx: tx, protocol: l.Protocol, lbArn: l.LoadBalancerArn}, in.DefaultActions)
			if err != nil {
				return err
			}
			l.DefaultActions = actions
		}
		out = l.Listener
		return put(tx, kindListener, l.ListenerArn, l.LoadBalancerArn, rec.Version, l)
	})
	if err != nil {
		return nil, err
	}
	return &ListenersOutput{Listeners: []Listener{out}}, nil
}

func (s *Service) deleteListener(ctx context.Context, in *ListenerArnInput) (*Empty, error) {
	err := s.mutate(ctx, true, func(tx store.Tx) error {
		l, _, err := s.getListener(tx, in.ListenerArn)
		if err != nil {
			return err
		}
		return deleteListenerTx(tx, l.ListenerArn)
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}
