package elb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/store/sqlite"
)

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func backend(t *testing.T, name string) (host string, port int32) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p, _ := strconv.Atoi(u.Port())
	return u.Hostname(), int32(p)
}

// fetch fetches through the load balancer, retrying briefly while the data
// plane's first health checks settle.
func fetch(t *testing.T, port int32, path string, want string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if string(b) == want {
			return
		}
	}
	t.Fatalf("GET :%d%s = %s, want %s", port, path, last, want)
}

// TestRealProxyAndRestart drives the real proxy and the SQLite store: traffic
// flows through a listener, weights shift it, and after a restart the same
// listener is bound again with the same routing.
func TestRealProxyAndRestart(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "cutover.db")
	open := func() (*Service, *proxy.Proxy, func()) {
		db, err := sqlite.Open(ctx, dbPath, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		p := proxy.New(proxy.Options{BindAddr: "127.0.0.1", Log: quietLog()})
		svc, err := New(Config{Region: "us-east-1", AccountID: "123456789012", Store: db, DataPlane: p, Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		return svc, p, func() { p.Close(); db.Close() }
	}
	svc, p, closeAll := open()
	c := sdkClient(t, svc.Query())

	lb := must[*elbv2.CreateLoadBalancerOutput](t)(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web")})).LoadBalancers[0]
	tgs := map[string]string{}
	for _, name := range []string{"blue", "green"} {
		host, port := backend(t, name)
		tg := must[*elbv2.CreateTargetGroupOutput](t)(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name: aws.String(name), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port), TargetType: types.TargetTypeEnumIp,
			HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2),
		})).TargetGroups[0]
		must[*elbv2.RegisterTargetsOutput](t)(c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
			Targets: []types.TargetDescription{{Id: aws.String(host)}}}))
		tgs[name] = *tg.TargetGroupArn
	}
	port := freePort(t)
	l := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgs["blue"])}},
	})).Listeners[0]
	must[*elbv2.CreateRuleOutput](t)(c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/green*"}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgs["green"])}}}))
	if p.Addr(*l.ListenerArn) == nil {
		t.Fatal("listener not bound")
	}
	fetch(t, port, "/", "blue")
	fetch(t, port, "/green", "green")

	// Shift all default traffic to green, as the deployment engine will.
	if err := svc.SetForwardWeights(ctx, *l.ListenerArn, map[string]int{tgs["blue"]: 0, tgs["green"]: 100}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetForwardWeights(ctx, *l.ListenerArn, map[string]int{tgs["blue"]: 0, tgs["green"]: 100}); err != nil {
		t.Fatal("repeating the same weights:", err)
	}
	w, err := svc.ForwardWeights(ctx, *l.ListenerArn)
	if err != nil || w[tgs["green"]] != 100 || w[tgs["blue"]] != 0 {
		t.Fatalf("weights %v %v", w, err)
	}
	fetch(t, port, "/", "green")
	if err := svc.SetForwardWeights(ctx, *l.ListenerArn, map[string]int{tgs["blue"]: 1000}); err == nil {
		t.Error("weight 1000 accepted")
	}

	// A port held by another process is refused and nothing is stored.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(int32(busy.Addr().(*net.TCPAddr).Port)), DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse,
			FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
	wantCode(t, err, "InvalidConfigurationRequest")
	ls := must[*elbv2.DescribeListenersOutput](t)(c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn}))
	if len(ls.Listeners) != 1 {
		t.Errorf("%d listeners after a refused create", len(ls.Listeners))
	}

	targets, err := svc.TargetGroupTargets(ctx, tgs["green"])
	if err != nil || len(targets) != 1 {
		t.Fatalf("targets %v %v", targets, err)
	}

	// Restart: a new proxy and a reopened store come back with the same routing.
	closeAll()
	svc, p, closeAll = open()
	defer closeAll()
	if p.Addr(*l.ListenerArn) == nil {
		t.Fatal("listener not bound after restart")
	}
	fetch(t, port, "/", "green")
	fetch(t, port, "/green/x", "green")
	if err := svc.SetForwardWeights(ctx, *l.ListenerArn, map[string]int{tgs["blue"]: 100}); err != nil {
		t.Fatal(err)
	}
	fetch(t, port, "/", "blue")
	// Programmatic deregistration: port 0 means the group's port.
	if err := svc.DeregisterTargets(ctx, tgs["blue"], TargetRef{ID: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeregisterTargets(ctx, tgs["blue"], TargetRef{ID: "127.0.0.1"}); err == nil || !strings.Contains(err.Error(), "InvalidTarget") {
		t.Errorf("deregistering twice: %v", err)
	}
}
