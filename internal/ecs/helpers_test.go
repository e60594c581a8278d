package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/elb"
	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/runtime/process"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
)

var bg = context.Background()

// versionServer builds test/testdata/versionserver once per test binary.
var versionServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ecs-versionserver-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "versionserver")
	cmd := exec.Command("go", "build", "-o", bin, "../../test/testdata/versionserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build versionserver: %v\n%s", err, out)
	}
	return bin, nil
})

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// env is the ECS service on a real SQLite store, with a real runtime, the
// real ELB control plane and proxy, driven by the real Go SDK clients.
type env struct {
	t        *testing.T
	dbPath   string
	stateDir string
	st       store.Store
	rt       runtime.Runtime
	elb      *elb.Service
	svc      *Service
	ecs      *awsecs.Client
	elbc     *elbv2.Client
	url      string
	stopRun  func()
	image    string // what task definitions run
	bin      string // the versionserver binary on the host
	log      *slog.Logger
}

type envOpts struct {
	// runtime builds the runtime; nil means the process runtime on stateDir.
	runtime func(t *testing.T, stateDir string) runtime.Runtime
	image   string
	noRun   bool
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	bin, err := versionServer()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dbPath: filepath.Join(t.TempDir(), "cutover.db"), stateDir: t.TempDir(), bin: bin, image: o.image}
	if e.image == "" {
		e.image = process.ImagePrefix + bin
	}
	e.log = quietLog()
	if testing.Verbose() {
		e.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	db, err := sqlite.Open(bg, e.dbPath, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	e.st = db
	p := proxy.New(proxy.Options{BindAddr: "127.0.0.1", Log: quietLog()})
	e.elb, err = elb.New(elb.Config{Region: testRegion, AccountID: testAccount, Store: db, DataPlane: p, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if o.runtime != nil {
		e.rt = o.runtime(t, e.stateDir)
	} else {
		e.rt = newProcessRuntime(t, e.stateDir)
	}
	t.Cleanup(func() {
		if e.stopRun != nil {
			e.stopRun()
		}
		// Remove every task this test started, through whichever runtime
		// is current.
		if ts, err := e.rt.List(bg); err == nil {
			for _, task := range ts {
				e.rt.Remove(bg, task.ID)
			}
		}
		e.rt.Close()
		p.Close()
		db.Close()
	})
	e.svc = e.newService(t)
	e.elbc = elbClient(t, e.elb.Query())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDEXAMPLE", Root: true})
		e.svc.JSON().ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.ecs = awsecs.New(awsecs.Options{
		Region: testRegion, BaseEndpoint: aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	if !o.noRun {
		e.run()
	}
	return e
}

func newProcessRuntime(t *testing.T, dir string) runtime.Runtime {
	t.Helper()
	rt, err := process.New(process.Options{StateDir: dir, Log: quietLog(), StopTimeout: 2 * time.Second, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func (e *env) newService(t *testing.T) *Service {
	svc, err := New(Config{
		Region: testRegion, AccountID: testAccount, Store: e.st, Runtime: e.rt, LB: e.elb, Log: e.log,
		Interval: 100 * time.Millisecond, RestartDelay: 200 * time.Millisecond, MaxRestartDelay: time.Second,
		StableAfter: 2 * time.Second, StopGrace: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.pageSize = 2
	return svc
}

// run starts the scheduler loop; stopRun ends it and waits.
func (e *env) run() {
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	svc := e.svc
	go func() {
		defer close(done)
		svc.Run(ctx)
	}()
	e.stopRun = func() {
		cancel()
		<-done
		e.stopRun = nil
	}
}

func elbClient(t *testing.T, h http.Handler) *elbv2.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDTEST", Root: true})))
	}))
	t.Cleanup(srv.Close)
	return elbv2.New(elbv2.Options{BaseEndpoint: aws.String(srv.URL), Region: testRegion,
		Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// targetGroup makes an ip target group with fast health checks and a
// short deregistration delay.
func (e *env) targetGroup(name string) string {
	t := e.t
	t.Helper()
	tg := must[*elbv2.CreateTargetGroupOutput](t)(e.elbc.CreateTargetGroup(bg, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080), TargetType: elbtypes.TargetTypeEnumIp,
		HealthCheckPath: aws.String("/health"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
	})).TargetGroups[0]
	must[*elbv2.ModifyTargetGroupAttributesOutput](t)(e.elbc.ModifyTargetGroupAttributes(bg, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn,
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("1")}}}))
	return *tg.TargetGroupArn
}

// listener makes a load balancer with an HTTP listener forwarding to tg,
// returning the listener's port.
func (e *env) listener(tg string) (int32, string) {
	t := e.t
	t.Helper()
	lb := must[*elbv2.CreateLoadBalancerOutput](t)(e.elbc.CreateLoadBalancer(bg, &elbv2.CreateLoadBalancerInput{Name: aws.String("web-" + randomHex(3))})).LoadBalancers[0]
	port := freePort(t)
	l := must[*elbv2.CreateListenerOutput](t)(e.elbc.CreateListener(bg, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	})).Listeners[0]
	return port, *l.ListenerArn
}

func (e *env) cluster(name string) {
	e.t.Helper()
	must[*awsecs.CreateClusterOutput](e.t)(e.ecs.CreateCluster(bg, &awsecs.CreateClusterInput{ClusterName: aws.String(name)}))
}

// taskDef registers a versionserver task definition with the given
// environment.
func (e *env) taskDef(family string, env map[string]string) string {
	e.t.Helper()
	var kv []ecstypes.KeyValuePair
	for k, v := range env {
		kv = append(kv, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	c := ecstypes.ContainerDefinition{
		Name: aws.String("web"), Image: aws.String(e.image), Environment: kv, Memory: aws.Int32(64),
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: ecstypes.TransportProtocolTcp}},
	}
	if strings.HasPrefix(e.image, process.ImagePrefix) {
		c.EntryPoint = []string{e.bin}
	}
	out := must[*awsecs.RegisterTaskDefinitionOutput](e.t)(e.ecs.RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: ecstypes.NetworkModeAwsvpc, ContainerDefinitions: []ecstypes.ContainerDefinition{c},
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
	}))
	return *out.TaskDefinition.TaskDefinitionArn
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
}

func (e *env) state(cluster, service string) *ServiceState {
	e.t.Helper()
	st, err := e.svc.DescribeServiceState(bg, cluster, service)
	if err != nil {
		e.t.Fatalf("DescribeServiceState: %v", err)
	}
	return st
}

func findSet(st *ServiceState, id string) *TaskSetState {
	for i := range st.TaskSets {
		if st.TaskSets[i].ID == id {
			return &st.TaskSets[i]
		}
	}
	return nil
}

// waitSteady waits until the set runs n tasks, all healthy in its target
// group, in STEADY_STATE.
func (e *env) waitSteady(cluster, service, setID string, n int, timeout time.Duration) TaskSetState {
	e.t.Helper()
	var got TaskSetState
	eventually(e.t, timeout, fmt.Sprintf("task set %s steady with %d tasks", setID, n), func() (bool, string) {
		st := e.state(cluster, service)
		set := findSet(st, setID)
		if set == nil {
			return false, fmt.Sprintf("%+v", st)
		}
		got = *set
		want := set.RunningCount == n && set.DesiredCount == n && set.StabilityStatus == "STEADY_STATE"
		if set.TargetGroupARN != "" {
			want = want && set.HealthyCount == n
		}
		return want, fmt.Sprintf("%+v", *set)
	})
	return got
}

// fetch fetches through the listener.
func fetch(port int32) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), nil
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// wantCode asserts err is the modelled AWS exception, decoded by the SDK
// into its typed error.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got non-API error %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	var generic *smithy.GenericAPIError
	if errors.As(err, &generic) {
		t.Fatalf("%s is not a modelled exception: the SDK decoded it as a generic error", code)
	}
	if ae.ErrorMessage() == "" {
		t.Fatalf("%s has no message", code)
	}
}

// snapshot reads every record this package stores, so a test can prove a
// refused request changed nothing.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	err := e.st.View(bg, func(tx store.Tx) error {
		for _, k := range []string{kindCluster, kindTaskDef, kindService, kindSet, kindTask} {
			recs, err := tx.List(k, store.ListOptions{})
			if err != nil {
				return err
			}
			for _, r := range recs {
				out[k+"\x00"+r.Key] = fmt.Sprintf("%s\x00%s\x00%d", r.Index, r.Data, r.Version)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	return out
}

func (e *env) unchanged(before map[string]string, what string) {
	e.t.Helper()
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("%s changed the store", what)
	}
}

func httpClient() *http.Client { return &http.Client{Timeout: time.Second} }
