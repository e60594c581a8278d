package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	prodListener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/prod"
	testListener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/test"
	blueTG       = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1"
	greenTG      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2"
	testRole     = "arn:aws:iam::123456789012:role/CodeDeploy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeECS is an ECS service whose task sets become healthy at once, unless
// their task definition is listed in failing (they then report that
// reason) or stuck (they never become healthy). It logs every call that
// changes the world.
type fakeECS struct {
	mu       sync.Mutex
	services map[string]*ServiceState
	next     int
	failing  map[string]string
	stuck    map[string]bool
	log      []string
	creates  int
}

func newFakeECS() *fakeECS {
	f := &fakeECS{services: map[string]*ServiceState{}, failing: map[string]string{}, stuck: map[string]bool{}}
	f.services["c/web"] = &ServiceState{
		ClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/c", ServiceARN: "arn:aws:ecs:us-east-1:123456789012:service/c/web",
		ServiceName: "web", Status: "ACTIVE", DeploymentController: "CODE_DEPLOY", DesiredCount: 2,
		TaskSets: []TaskSetState{{ID: "ecs-svc/0", ARN: "arn:ts/0", Status: "PRIMARY", TaskDefinition: "web:1", DesiredCount: 2, RunningCount: 2, HealthyCount: 2,
			TargetGroupARN: blueTG, ScalePercent: 100, StabilityStatus: "STEADY_STATE"}},
	}
	api := *f.services["c/web"]
	api.ServiceARN, api.ServiceName = "arn:aws:ecs:us-east-1:123456789012:service/c/api", "api"
	api.TaskSets = []TaskSetState{api.TaskSets[0]}
	api.TaskSets[0].ID = "ecs-svc/api0"
	f.services["c/api"] = &api
	return f
}

func (f *fakeECS) svc(cluster, service string) (*ServiceState, error) {
	s := f.services[cluster+"/"+service]
	if s == nil {
		return nil, awsproto.Errorf("ServiceNotFoundException", "Service not found.")
	}
	return s, nil
}

func (f *fakeECS) DescribeServiceState(ctx context.Context, cluster, service string) (*ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.svc(cluster, service)
	if err != nil {
		return nil, err
	}
	c := *s
	c.TaskSets = append([]TaskSetState(nil), s.TaskSets...)
	return &c, nil
}

func (f *fakeECS) EnsureTaskSet(ctx context.Context, spec TaskSetSpec) (*TaskSetState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.svc(spec.Cluster, spec.Service)
	if err != nil {
		return nil, err
	}
	for _, ts := range s.TaskSets {
		if ts.ExternalID == spec.ExternalID {
			c := ts
			return &c, nil
		}
	}
	f.next++
	f.creates++
	ts := TaskSetState{ID: fmt.Sprintf("ecs-svc/%d", f.next), ARN: fmt.Sprintf("arn:ts/%d", f.next), ExternalID: spec.ExternalID, Status: "ACTIVE",
		TaskDefinition: spec.TaskDefinition, DesiredCount: s.DesiredCount, TargetGroupARN: spec.LoadBalancer.TargetGroupArn, ScalePercent: spec.ScalePercent}
	switch {
	case f.failing[spec.TaskDefinition] != "":
		ts.FailureReason, ts.StabilityStatus = f.failing[spec.TaskDefinition], "STABILIZING"
	case f.stuck[spec.TaskDefinition]:
		ts.RunningCount, ts.PendingCount, ts.StabilityStatus = 0, s.DesiredCount, "STABILIZING"
	default:
		ts.RunningCount, ts.HealthyCount, ts.StabilityStatus = s.DesiredCount, s.DesiredCount, "STEADY_STATE"
	}
	s.TaskSets = append(s.TaskSets, ts)
	f.log = append(f.log, "create "+ts.ID+" "+spec.TaskDefinition+" on "+tgName(spec.LoadBalancer.TargetGroupArn))
	c := ts
	return &c, nil
}

func (f *fakeECS) SetPrimaryTaskSet(ctx context.Context, cluster, service, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.svc(cluster, service)
	if err != nil {
		return err
	}
	if s.TaskSet(id) == nil {
		return awsproto.Errorf("TaskSetNotFoundException", "The specified task set does not exist.")
	}
	if p := s.Primary(); p != nil && p.ID == id {
		return nil
	}
	for i := range s.TaskSets {
		if s.TaskSets[i].ID == id {
			s.TaskSets[i].Status = "PRIMARY"
		} else if s.TaskSets[i].Status == "PRIMARY" {
			s.TaskSets[i].Status = "ACTIVE"
		}
	}
	f.log = append(f.log, "primary "+id)
	return nil
}

func (f *fakeECS) DeleteTaskSet(ctx context.Context, cluster, service, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.svc(cluster, service)
	if err != nil {
		return err
	}
	for i := range s.TaskSets {
		if s.TaskSets[i].ID == id {
			s.TaskSets = append(s.TaskSets[:i], s.TaskSets[i+1:]...)
			f.log = append(f.log, "delete "+id)
			return nil
		}
	}
	return nil
}

func (f *fakeECS) CheckTaskDefinition(ctx context.Context, taskDef, container string, port int) error {
	if strings.HasPrefix(taskDef, "missing") {
		return awsproto.Errorf("InvalidRevisionException", "The task definition %s does not exist.", taskDef)
	}
	if container != "app" || port != 8080 {
		return awsproto.Errorf("InvalidRevisionException", "The task definition %s has no container %s with port %d.", taskDef, container, port)
	}
	return nil
}

// world is the fake ECS plus the set of task sets, for comparisons.
func (f *fakeECS) world() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, ts := range f.services["c/web"].TaskSets {
		parts = append(parts, fmt.Sprintf("%s:%s:%s:%s", ts.ID, ts.Status, ts.TaskDefinition, tgName(ts.TargetGroupARN)))
	}
	return strings.Join(parts, " ")
}

func tgName(arn string) string {
	switch arn {
	case blueTG:
		return "blue"
	case greenTG:
		return "green"
	}
	return arn
}

// fakeTraffic is a load balancer with two listeners.
type fakeTraffic struct {
	now     func() time.Time
	mu      sync.Mutex
	weights map[string]map[string]int
	log     []string
	fail    error
}

func newFakeTraffic() *fakeTraffic {
	return &fakeTraffic{weights: map[string]map[string]int{prodListener: {blueTG: 100}, testListener: {blueTG: 100}}}
}

func (f *fakeTraffic) SetForwardWeights(ctx context.Context, l string, w map[string]int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.weights[l]; !ok {
		return awsproto.Errorf("ListenerNotFound", "One or more listeners not found")
	}
	f.weights[l] = maps.Clone(w)
	f.log = append(f.log, fmt.Sprintf("%s %s %s", f.now().Sub(t0), short(l), fmtWeights(w)))
	return nil
}

func (f *fakeTraffic) ForwardWeights(ctx context.Context, l string) (map[string]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.weights[l]
	if !ok {
		return nil, awsproto.Errorf("ListenerNotFound", "One or more listeners not found")
	}
	return maps.Clone(w), nil
}

func (f *fakeTraffic) TargetGroupARNByName(ctx context.Context, name string) (string, error) {
	switch name {
	case "blue":
		return blueTG, nil
	case "green":
		return greenTG, nil
	}
	return "", awsproto.Errorf("TargetGroupNotFound", "Target groups '[%s]' not found", name)
}

func (f *fakeTraffic) get(l string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmtWeights(f.weights[l])
}

func short(l string) string { return l[strings.LastIndex(l, "/")+1:] }

func fmtWeights(w map[string]int) string {
	var parts []string
	for tg, v := range w {
		parts = append(parts, fmt.Sprintf("%s=%d", tgName(tg), v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// env is a CodeDeploy service on SQLite behind HTTP (for the SDK), a fake
// clock, fake ECS and traffic, and an engine.
type env struct {
	t       *testing.T
	ctx     context.Context
	clk     *clock.Fake
	st      store.Store
	cd      *codedeploy.Service
	client  *cd.Client
	ecs     *fakeECS
	traffic *fakeTraffic
	engine  *Engine
	hooks   HookInvoker
	alarms  AlarmStates
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(t0), ecs: newFakeECS(), traffic: newFakeTraffic()}
	e.traffic.now = e.clk.Now
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(e.ctx, filepath.Join(t.TempDir(), "cutover.db"), log, sqlite.WithClock(e.clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.st = db
	e.cd, err = codedeploy.New(codedeploy.Config{Region: "us-east-1", AccountID: "123456789012", Store: db, Log: log, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDEXAMPLE", Root: true})
		e.cd.JSON().ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	e.client = cd.New(cd.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), RetryMaxAttempts: 1})
	e.engine = e.newEngine("engine-1", nil)
	return e
}

func (e *env) newEngine(owner string, hook func(id, step, phase string) error) *Engine {
	en, err := New(Config{Store: e.st, CodeDeploy: e.cd, ECS: e.ecs, Traffic: e.traffic, Hooks: e.hooks, Alarms: e.alarms, Clock: e.clk, Owner: owner,
		PollInterval: time.Second, LeaseTTL: 10 * time.Second, HookTimeout: 10 * time.Minute, InstallTimeout: 5 * time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	en.cfg.stepHook = hook
	return en
}

type groupOpts struct {
	config      string
	ready       *types.DeploymentReadyOption
	termWait    int32
	rollback    []types.AutoRollbackEvent
	noTestRoute bool
	service     string // default "web"
	alarms      *types.AlarmConfiguration
	triggers    []types.TriggerConfig
}

func (e *env) group(name string, o groupOpts) {
	e.t.Helper()
	if _, err := e.client.CreateApplication(e.ctx, &cd.CreateApplicationInput{ApplicationName: aws.String("app"), ComputePlatform: types.ComputePlatformEcs}); err != nil {
		var ae *types.ApplicationAlreadyExistsException
		if !errors.As(err, &ae) {
			e.t.Fatal(err)
		}
	}
	pair := types.TargetGroupPairInfo{
		TargetGroups:     []types.TargetGroupInfo{{Name: aws.String("blue")}, {Name: aws.String("green")}},
		ProdTrafficRoute: &types.TrafficRoute{ListenerArns: []string{prodListener}},
		TestTrafficRoute: &types.TrafficRoute{ListenerArns: []string{testListener}},
	}
	if o.service == "" {
		o.service = "web"
	}
	if o.noTestRoute {
		pair.TestTrafficRoute = nil
	}
	ready := o.ready
	if ready == nil {
		ready = &types.DeploymentReadyOption{ActionOnTimeout: types.DeploymentReadyActionContinueDeployment}
	}
	in := &cd.CreateDeploymentGroupInput{
		ApplicationName: aws.String("app"), DeploymentGroupName: aws.String(name), ServiceRoleArn: aws.String(testRole),
		DeploymentStyle:  &types.DeploymentStyle{DeploymentType: types.DeploymentTypeBlueGreen, DeploymentOption: types.DeploymentOptionWithTrafficControl},
		EcsServices:      []types.ECSService{{ClusterName: aws.String("c"), ServiceName: aws.String(o.service)}},
		LoadBalancerInfo: &types.LoadBalancerInfo{TargetGroupPairInfoList: []types.TargetGroupPairInfo{pair}},
		BlueGreenDeploymentConfiguration: &types.BlueGreenDeploymentConfiguration{
			DeploymentReadyOption:                     ready,
			TerminateBlueInstancesOnDeploymentSuccess: &types.BlueInstanceTerminationOption{Action: types.InstanceActionTerminate, TerminationWaitTimeInMinutes: o.termWait},
		},
	}
	if o.config != "" {
		in.DeploymentConfigName = aws.String(o.config)
	} else {
		in.DeploymentConfigName = aws.String("CodeDeployDefault.ECSAllAtOnce")
	}
	in.AlarmConfiguration, in.TriggerConfigurations = o.alarms, o.triggers
	if len(o.rollback) > 0 {
		in.AutoRollbackConfiguration = &types.AutoRollbackConfiguration{Enabled: true, Events: o.rollback}
	}
	if _, err := e.client.CreateDeploymentGroup(e.ctx, in); err != nil {
		e.t.Fatal(err)
	}
}

func appSpec(taskDef string, hooks map[string]string) string {
	s := fmt.Sprintf(`version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "%s"
        LoadBalancerInfo:
          ContainerName: "app"
          ContainerPort: 8080
`, taskDef)
	if len(hooks) > 0 {
		s += "Hooks:\n"
		for _, ev := range hookEvents {
			if h, ok := hooks[ev]; ok {
				s += fmt.Sprintf("  - %s: \"%s\"\n", ev, h)
			}
		}
	}
	return s
}

func (e *env) create(group, taskDef string, hooks map[string]string) (string, error) {
	out, err := e.client.CreateDeployment(e.ctx, &cd.CreateDeploymentInput{
		ApplicationName: aws.String("app"), DeploymentGroupName: aws.String(group),
		Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Content: aws.String(appSpec(taskDef, hooks))}},
	})
	if err != nil {
		return "", err
	}
	return *out.DeploymentId, nil
}

func (e *env) mustCreate(group, taskDef string, hooks map[string]string) string {
	e.t.Helper()
	id, err := e.create(group, taskDef, hooks)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// drive reconciles id synchronously until it is done or until stop says
// so, advancing the fake clock by the poll interval whenever the engine
// would wait. It returns the number of clock advances.
func (e *env) drive(en *Engine, id string, stop func(d *codedeploy.Deployment) bool) error {
	for i := 0; i < 20000; i++ {
		d, err := e.cd.Deployment(e.ctx, id)
		if err != nil {
			return err
		}
		if stop != nil && stop(d) {
			return nil
		}
		again, done, err := en.Reconcile(e.ctx, id)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if !again {
			e.clk.Advance(en.cfg.PollInterval)
		}
	}
	return errors.New("deployment did not finish")
}

func (e *env) get(id string) *types.DeploymentInfo {
	e.t.Helper()
	out, err := e.client.GetDeployment(e.ctx, &cd.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.DeploymentInfo
}

func (e *env) target(id string) *types.ECSTarget {
	e.t.Helper()
	out, err := e.client.GetDeploymentTarget(e.ctx, &cd.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String("c:web")})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.DeploymentTarget.EcsTarget
}

func events(t *types.ECSTarget) string {
	var parts []string
	for _, ev := range t.LifecycleEvents {
		parts = append(parts, *ev.LifecycleEventName+"="+string(ev.Status))
	}
	return strings.Join(parts, " ")
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }
