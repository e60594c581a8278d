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
	"github.com/aws/smithy-go"
	"github.com/cutover/cutover/internal/elb/proxy"
)

// wantCode asserts an API error code (typed SDK errors carry it too).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// fixture creates an application load balancer, two HTTP target groups and
// an HTTP listener forwarding to the first.
type fixture struct {
	lb, tgA, tgB, listener string
}

func (e *env) fixture(port int32) fixture {
	t := e.t
	t.Helper()
	lb := must[*elbv2.CreateLoadBalancerOutput](t)(e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("web"), Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"},
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	}))
	var tgs []string
	for _, n := range []string{"blue", "green"} {
		tg := must[*elbv2.CreateTargetGroupOutput](t)(e.client.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{
			Name: aws.String(n), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080), VpcId: aws.String("vpc-1"), TargetType: types.TargetTypeEnumIp,
		}))
		tgs = append(tgs, *tg.TargetGroups[0].TargetGroupArn)
	}
	l := must[*elbv2.CreateListenerOutput](t)(e.client.CreateListener(e.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgs[0])}},
	}))
	return fixture{lb: *lb.LoadBalancers[0].LoadBalancerArn, tgA: tgs[0], tgB: tgs[1], listener: *l.Listeners[0].ListenerArn}
}

func TestLoadBalancers(t *testing.T) {
	e := newEnv(t)
	out, err := e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("my-lb"), Subnets: []string{"subnet-a"}, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	lb := out.LoadBalancers[0]
	if !strings.HasPrefix(*lb.LoadBalancerArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-lb/") ||
		len(strings.TrimPrefix(*lb.LoadBalancerArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-lb/")) != 16 {
		t.Errorf("ARN %s", *lb.LoadBalancerArn)
	}
	if !strings.HasPrefix(*lb.DNSName, "internal-my-lb-") || !strings.HasSuffix(*lb.DNSName, ".us-east-1.elb.cutover.localhost") {
		t.Errorf("DNSName %s", *lb.DNSName)
	}
	if lb.Type != types.LoadBalancerTypeEnumApplication || lb.State.Code != types.LoadBalancerStateEnumActive || lb.CreatedTime == nil ||
		lb.IpAddressType != types.IpAddressTypeIpv4 || len(lb.AvailabilityZones) != 1 || *lb.AvailabilityZones[0].SubnetId != "subnet-a" {
		t.Errorf("load balancer %+v", lb)
	}
	// Same request again: idempotent.
	again := must[*elbv2.CreateLoadBalancerOutput](t)(e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("my-lb"), Subnets: []string{"subnet-a"}, Scheme: types.LoadBalancerSchemeEnumInternal,
	}))
	if *again.LoadBalancers[0].LoadBalancerArn != *lb.LoadBalancerArn {
		t.Error("repeated create made a new load balancer")
	}
	nlb := must[*elbv2.CreateLoadBalancerOutput](t)(e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("my-nlb"), Type: types.LoadBalancerTypeEnumNetwork,
	}))
	if !strings.Contains(*nlb.LoadBalancers[0].LoadBalancerArn, ":loadbalancer/net/my-nlb/") {
		t.Errorf("NLB ARN %s", *nlb.LoadBalancers[0].LoadBalancerArn)
	}

	before := e.snapshot()
	errCases := []struct {
		name string
		in   *elbv2.CreateLoadBalancerInput
		code string
	}{
		{"duplicate name other settings", &elbv2.CreateLoadBalancerInput{Name: aws.String("my-lb"), Type: types.LoadBalancerTypeEnumNetwork}, "DuplicateLoadBalancerName"},
		{"name too long", &elbv2.CreateLoadBalancerInput{Name: aws.String(strings.Repeat("a", 33))}, "ValidationError"},
		{"name with hyphen at end", &elbv2.CreateLoadBalancerInput{Name: aws.String("bad-")}, "ValidationError"},
		{"name with underscore", &elbv2.CreateLoadBalancerInput{Name: aws.String("a_b")}, "ValidationError"},
		{"internal- prefix", &elbv2.CreateLoadBalancerInput{Name: aws.String("internal-x")}, "ValidationError"},
		{"bad scheme", &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Scheme: "public"}, "ValidationError"},
		{"gateway", &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumGateway}, "InvalidConfigurationRequest"},
		{"duplicate tag keys", &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Tags: []types.Tag{{Key: aws.String("a")}, {Key: aws.String("a")}}}, "DuplicateTagKeys"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateLoadBalancer(e.ctx, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed creates changed the store")
	}

	// Describe by ARN, by name, all, with paging.
	d := must[*elbv2.DescribeLoadBalancersOutput](t)(e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"my-nlb"}}))
	if len(d.LoadBalancers) != 1 || *d.LoadBalancers[0].LoadBalancerName != "my-nlb" {
		t.Errorf("by name: %+v", d.LoadBalancers)
	}
	d = must[*elbv2.DescribeLoadBalancersOutput](t)(e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*lb.LoadBalancerArn}}))
	if len(d.LoadBalancers) != 1 || *d.LoadBalancers[0].DNSName != *lb.DNSName {
		t.Errorf("by ARN: %+v", d.LoadBalancers)
	}
	_, err = e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"nope"}})
	var nf *types.LoadBalancerNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown name: %v", err)
	}
	_, err = e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*lb.LoadBalancerArn + "0"}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"a"}, LoadBalancerArns: []string{"b"}})
	wantCode(t, err, "ValidationError")
	_, err = e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{Marker: aws.String("garbage")})
	wantCode(t, err, "ValidationError")

	for i := 0; i < 3; i++ {
		must[*elbv2.CreateLoadBalancerOutput](t)(e.client.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(fmt.Sprintf("p%d", i))}))
	}
	var names []string
	pager := elbv2.NewDescribeLoadBalancersPaginator(e.client, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		p, err := pager.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range p.LoadBalancers {
			names = append(names, *l.LoadBalancerName)
		}
	}
	if len(names) != 5 || pages != 3 {
		t.Errorf("paged %d pages: %v", pages, names)
	}

	// Delete is idempotent.
	must[*elbv2.DeleteLoadBalancerOutput](t)(e.client.DeleteLoadBalancer(e.ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}))
	must[*elbv2.DeleteLoadBalancerOutput](t)(e.client.DeleteLoadBalancer(e.ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}))
	_, err = e.client.DeleteLoadBalancer(e.ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String("not-an-arn")})
	wantCode(t, err, "ValidationError")
	_, err = e.client.DescribeLoadBalancers(e.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*lb.LoadBalancerArn}})
	wantCode(t, err, "LoadBalancerNotFound")
}

func TestTargetGroups(t *testing.T) {
	e := newEnv(t)
	h := must[*elbv2.CreateTargetGroupOutput](t)(e.client.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("web"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-1"),
	})).TargetGroups[0]
	if h.HealthCheckProtocol != types.ProtocolEnumHttp || *h.HealthCheckPath != "/" || *h.HealthCheckPort != "traffic-port" ||
		*h.HealthCheckIntervalSeconds != 30 || *h.HealthCheckTimeoutSeconds != 5 || *h.HealthyThresholdCount != 5 ||
		*h.UnhealthyThresholdCount != 2 || *h.Matcher.HttpCode != "200" || !*h.HealthCheckEnabled || h.TargetType != types.TargetTypeEnumInstance ||
		!strings.HasPrefix(*h.TargetGroupArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/") {
		t.Errorf("HTTP defaults: %+v", h)
	}
	tcp := must[*elbv2.CreateTargetGroupOutput](t)(e.client.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("db"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(5432), TargetType: types.TargetTypeEnumIp,
	})).TargetGroups[0]
	if tcp.HealthCheckProtocol != types.ProtocolEnumTcp || tcp.HealthCheckPath != nil || tcp.Matcher != nil || *tcp.HealthCheckTimeoutSeconds != 10 {
		t.Errorf("TCP defaults: %+v", tcp)
	}

	before := e.snapshot()
	for _, tc := range []struct {
		name string
		in   *elbv2.CreateTargetGroupInput
		code string
	}{
		{"duplicate", &elbv2.CreateTargetGroupInput{Name: aws.String("web"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81)}, "DuplicateTargetGroupName"},
		{"no protocol", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Port: aws.Int32(81)}, "ValidationError"},
		{"no port", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp}, "ValidationError"},
		{"https", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttps, Port: aws.Int32(1)}, "InvalidConfigurationRequest"},
		{"lambda", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), TargetType: types.TargetTypeEnumLambda}, "InvalidConfigurationRequest"},
		{"timeout >= interval", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(5)}, "InvalidConfigurationRequest"},
		{"interval out of range", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			HealthCheckIntervalSeconds: aws.Int32(301)}, "ValidationError"},
		{"bad matcher", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			Matcher: &types.Matcher{HttpCode: aws.String("600")}}, "ValidationError"},
		{"bad path", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			HealthCheckPath: aws.String("health")}, "ValidationError"},
		{"bad hc port", &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(1),
			HealthCheckPort: aws.String("0")}, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateTargetGroup(e.ctx, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed creates changed the store")
	}

	d := must[*elbv2.DescribeTargetGroupsOutput](t)(e.client.DescribeTargetGroups(e.ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"db"}}))
	if len(d.TargetGroups) != 1 || *d.TargetGroups[0].TargetGroupArn != *tcp.TargetGroupArn {
		t.Errorf("by name %+v", d.TargetGroups)
	}
	d = must[*elbv2.DescribeTargetGroupsOutput](t)(e.client.DescribeTargetGroups(e.ctx, &elbv2.DescribeTargetGroupsInput{}))
	if len(d.TargetGroups) != 2 {
		t.Errorf("all: %d", len(d.TargetGroups))
	}
	_, err := e.client.DescribeTargetGroups(e.ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{*h.TargetGroupArn + "x"}})
	var nf *types.TargetGroupNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown ARN: %v", err)
	}
	_, err = e.client.DescribeTargetGroups(e.ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0000000000000000")})
	wantCode(t, err, "LoadBalancerNotFound")

	// ModifyTargetGroup.
	m := must[*elbv2.ModifyTargetGroupOutput](t)(e.client.ModifyTargetGroup(e.ctx, &elbv2.ModifyTargetGroupInput{
		TargetGroupArn: h.TargetGroupArn, HealthCheckPath: aws.String("/healthz"), HealthCheckIntervalSeconds: aws.Int32(10),
		HealthCheckTimeoutSeconds: aws.Int32(2), Matcher: &types.Matcher{HttpCode: aws.String("200-299")},
	})).TargetGroups[0]
	if *m.HealthCheckPath != "/healthz" || *m.HealthCheckIntervalSeconds != 10 || *m.Matcher.HttpCode != "200-299" {
		t.Errorf("modified %+v", m)
	}
	before = e.snapshot()
	_, err = e.client.ModifyTargetGroup(e.ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: h.TargetGroupArn, HealthCheckTimeoutSeconds: aws.Int32(20)})
	wantCode(t, err, "InvalidConfigurationRequest")
	_, err = e.client.ModifyTargetGroup(e.ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: aws.String(*h.TargetGroupArn + "x")})
	wantCode(t, err, "TargetGroupNotFound")

	// Attributes.
	attrs := must[*elbv2.DescribeTargetGroupAttributesOutput](t)(e.client.DescribeTargetGroupAttributes(e.ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: h.TargetGroupArn}))
	got := map[string]string{}
	for _, a := range attrs.Attributes {
		got[*a.Key] = *a.Value
	}
	want := map[string]string{attrDeregistrationDelay: "300", attrStickinessEnabled: "false", attrStickinessType: "lb_cookie", attrStickinessDuration: "86400", attrAlgorithm: "round_robin"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes %v", got)
	}
	for _, tc := range []struct{ k, v string }{{attrDeregistrationDelay, "3601"}, {attrStickinessEnabled, "yes"}, {"nonsense", "1"}, {attrStickinessType, "app_cookie"}} {
		_, err := e.client.ModifyTargetGroupAttributes(e.ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: h.TargetGroupArn,
			Attributes: []types.TargetGroupAttribute{{Key: aws.String(attrDeregistrationDelay), Value: aws.String("10")}, {Key: aws.String(tc.k), Value: aws.String(tc.v)}}})
		if err == nil {
			t.Errorf("%s=%s accepted", tc.k, tc.v)
		}
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed modifications changed the store")
	}
	must[*elbv2.ModifyTargetGroupAttributesOutput](t)(e.client.ModifyTargetGroupAttributes(e.ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: h.TargetGroupArn,
		Attributes: []types.TargetGroupAttribute{{Key: aws.String(attrDeregistrationDelay), Value: aws.String("5")}, {Key: aws.String(attrStickinessEnabled), Value: aws.String("true")}}}))
	cfg := e.plane.config()
	var ptg proxy.TargetGroup
	for _, g := range cfg.TargetGroups {
		if g.ARN == *h.TargetGroupArn {
			ptg = g
		}
	}
	if ptg.DeregistrationDelay.Seconds() != 5 || ptg.StickinessDuration.Seconds() != 86400 || ptg.Health.Path != "/healthz" || ptg.Name != "targetgroup/web/"+strings.TrimPrefix(*h.TargetGroupArn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/") {
		t.Errorf("proxy target group %+v", ptg)
	}

	// Delete: idempotent.
	must[*elbv2.DeleteTargetGroupOutput](t)(e.client.DeleteTargetGroup(e.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tcp.TargetGroupArn}))
	must[*elbv2.DeleteTargetGroupOutput](t)(e.client.DeleteTargetGroup(e.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tcp.TargetGroupArn}))
}

func TestTargets(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(18080)
	must[*elbv2.RegisterTargetsOutput](t)(e.client.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1")}, {Id: aws.String("10.0.0.2"), Port: aws.Int32(9090)}}}))
	// Registering again is a no-op.
	must[*elbv2.RegisterTargetsOutput](t)(e.client.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1")}}}))
	before := e.snapshot()
	_, err := e.client.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.3")}, {Id: aws.String("i-0123456789abcdef0")}}})
	var it *types.InvalidTargetException
	if !errors.As(err, &it) {
		t.Errorf("instance id in ip group: %v", err)
	}
	_, err = e.client.DeregisterTargets(e.ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.9.9.9")}}})
	wantCode(t, err, "InvalidTarget")
	_, err = e.client.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(f.tgA + "0"),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.3")}}})
	wantCode(t, err, "TargetGroupNotFound")
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Error("failed registrations changed the store")
	}

	e.plane.mu.Lock()
	e.plane.health[f.tgA] = []proxy.TargetHealth{
		{ID: "10.0.0.1", Port: 8080, State: "healthy"},
		{ID: "10.0.0.7", Port: 8080, State: "draining", Reason: "Target.DeregistrationInProgress", Description: "Target deregistration is in progress"},
	}
	e.plane.mu.Unlock()
	th := must[*elbv2.DescribeTargetHealthOutput](t)(e.client.DescribeTargetHealth(e.ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.tgA)}))
	var states []string
	for _, d := range th.TargetHealthDescriptions {
		states = append(states, fmt.Sprintf("%s:%d:%s:%s", *d.Target.Id, *d.Target.Port, d.TargetHealth.State, *d.HealthCheckPort))
	}
	want := []string{"10.0.0.1:8080:healthy:8080", "10.0.0.2:9090:initial:9090", "10.0.0.7:8080:draining:8080"}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("health %v, want %v", states, want)
	}
	th = must[*elbv2.DescribeTargetHealthOutput](t)(e.client.DescribeTargetHealth(e.ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.5.5.5")}}}))
	if d := th.TargetHealthDescriptions[0]; d.TargetHealth.State != types.TargetHealthStateEnumUnused || d.TargetHealth.Reason != types.TargetHealthReasonEnumNotRegistered {
		t.Errorf("unregistered: %+v", d.TargetHealth)
	}

	must[*elbv2.DeregisterTargetsOutput](t)(e.client.DeregisterTargets(e.ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(f.tgA),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.2"), Port: aws.Int32(9090)}}}))
	cfg := e.plane.config()
	for _, g := range cfg.TargetGroups {
		if g.ARN == f.tgA && (len(g.Targets) != 1 || g.Targets[0].Host != "10.0.0.1" || g.Targets[0].Port != 8080) {
			t.Errorf("proxy targets %+v", g.Targets)
		}
	}

	// Instance targets resolve through the resolver.
	inst := must[*elbv2.CreateTargetGroupOutput](t)(e.client.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("inst"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80)})).TargetGroups[0]
	must[*elbv2.RegisterTargetsOutput](t)(e.client.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: inst.TargetGroupArn,
		Targets: []types.TargetDescription{{Id: aws.String("i-127.0.0.1")}, {Id: aws.String("i-0123456789abcdef0")}}}))
	for _, g := range e.plane.config().TargetGroups {
		if g.ARN == *inst.TargetGroupArn {
			if len(g.Targets) != 2 || g.Targets[0].Host != "127.0.0.1" || g.Targets[1].Host != "" {
				t.Errorf("instance targets %+v", g.Targets)
			}
		}
	}
}

func TestLiteralResolver(t *testing.T) {
	for id, want := range map[string]string{
		"i-10.0.0.7": "10.0.0.7", "i-localhost": "localhost", "mi-build.example.com": "build.example.com", "i-::1": "::1",
		"i-0abc1234def567890": "", "i-": "", "nohyphen": "", "i-bad_host.com": "",
	} {
		got, ok := LiteralResolver{}.ResolveInstance(t.Context(), id)
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q %v, want %q", id, got, ok, want)
		}
	}
}
