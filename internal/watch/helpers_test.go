package watch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeRegistry holds tags per repository and can be told to fail.
type fakeRegistry struct {
	mu    sync.Mutex
	tags  map[string]map[string]string // repo name → tag → digest
	fail  map[string]error
	heads int
	lists int
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{tags: map[string]map[string]string{}, fail: map[string]error{}}
}

func (f *fakeRegistry) push(repo, tag, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tags[repo] == nil {
		f.tags[repo] = map[string]string{}
	}
	f.tags[repo][tag] = digest
}

func (f *fakeRegistry) Digest(_ context.Context, repo name.Repository, tag string, _ *Credentials) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads++
	if err := f.fail[repo.Name()]; err != nil {
		return "", err
	}
	d, ok := f.tags[repo.Name()][tag]
	if !ok {
		return "", fmt.Errorf("%s:%s: MANIFEST_UNKNOWN", repo.Name(), tag)
	}
	return d, nil
}

func (f *fakeRegistry) Tags(_ context.Context, repo name.Repository, _ *Credentials) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if err := f.fail[repo.Name()]; err != nil {
		return nil, err
	}
	var out []string
	for t := range f.tags[repo.Name()] {
		out = append(out, t)
	}
	return out, nil
}

// fakeECS is one cluster of services with task definitions.
type fakeECS struct {
	mu       sync.Mutex
	services map[string]*ECSService // service name → service
	taskDefs map[string][]Container // ARN → containers
	revs     int
	updates  []string
}

func newFakeECS() *fakeECS {
	f := &fakeECS{services: map[string]*ECSService{}, taskDefs: map[string][]Container{}}
	f.taskDefs["arn:td/web:1"] = []Container{{Name: "web", Image: "127.0.0.1:5000/app:old"}, {Name: "sidecar", Image: "busybox"}}
	f.revs = 1
	f.services["web"] = &ECSService{Cluster: "default", Name: "web", TaskDefinition: "arn:td/web:1", Controller: "CODE_DEPLOY",
		LoadBalancers: []LoadBalancer{{ContainerName: "web", ContainerPort: 8080}}}
	f.services["plain"] = &ECSService{Cluster: "default", Name: "plain", TaskDefinition: "arn:td/web:1", Controller: "ECS"}
	f.services["ext"] = &ECSService{Cluster: "default", Name: "ext", TaskDefinition: "arn:td/web:1", Controller: "EXTERNAL"}
	return f
}

func (f *fakeECS) DescribeService(_ context.Context, cluster, service string) (*ECSService, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[service]
	if !ok {
		return nil, awsproto.Errorf("ServiceNotFoundException", "Service not found.")
	}
	c := *s
	return &c, nil
}

func (f *fakeECS) Containers(_ context.Context, td string) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Container(nil), f.taskDefs[td]...), nil
}

func (f *fakeECS) CloneTaskDefinition(_ context.Context, td, container, image string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revs++
	arn := fmt.Sprintf("arn:td/web:%d", f.revs)
	var cs []Container
	for _, c := range f.taskDefs[td] {
		if c.Name == container {
			c.Image = image
		}
		cs = append(cs, c)
	}
	f.taskDefs[arn] = cs
	return arn, nil
}

func (f *fakeECS) UpdateService(_ context.Context, cluster, service, td string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[service].TaskDefinition = td
	f.updates = append(f.updates, td)
	return nil
}

func (f *fakeECS) ReplaceTaskSet(_ context.Context, cluster, service, td string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[service].TaskDefinition = td
	f.updates = append(f.updates, "taskset:"+td)
	return nil
}

// image is the image of container c of the service's task definition.
func (f *fakeECS) image(service, c string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ct := range f.taskDefs[f.services[service].TaskDefinition] {
		if ct.Name == c {
			return ct.Image
		}
	}
	return ""
}

type fakeDeployment struct {
	app, group, appSpec, description, status string
}

// fakeCodeDeploy keeps deployments whose status the test sets; a
// succeeded ECS deployment moves the service to the AppSpec's task
// definition, as the engine would.
type fakeCodeDeploy struct {
	mu          sync.Mutex
	ecs         *fakeECS
	deployments []*fakeDeployment
}

func (f *fakeCodeDeploy) GetDeploymentGroup(_ context.Context, app, group string) (*DeploymentGroup, error) {
	if app != "app" || group != "bg" {
		return nil, awsproto.Errorf("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s", group)
	}
	return &DeploymentGroup{ComputePlatform: "ECS", ECSServices: []ECSServiceRef{{Cluster: "default", Service: "web"}}}, nil
}

func (f *fakeCodeDeploy) CreateDeployment(_ context.Context, app, group, spec, desc string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deployments {
		if !terminal(d.status) {
			return "", awsproto.Errorf("DeploymentLimitExceededException", "The deployment group already has an active deployment.")
		}
	}
	f.deployments = append(f.deployments, &fakeDeployment{app: app, group: group, appSpec: spec, description: desc, status: "InProgress"})
	return fmt.Sprintf("d-%09d", len(f.deployments)), nil
}

func (f *fakeCodeDeploy) DeploymentStatus(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int
	fmt.Sscanf(id, "d-%d", &n)
	if n < 1 || n > len(f.deployments) {
		return "", awsproto.Errorf("DeploymentDoesNotExistException", "no deployment %s", id)
	}
	return f.deployments[n-1].status, nil
}

func (f *fakeCodeDeploy) finish(i int, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.deployments[i]
	d.status = status
	if status == "Succeeded" {
		_, rest, _ := strings.Cut(d.appSpec, `"TaskDefinition":"`)
		td, _, _ := strings.Cut(rest, `"`)
		f.ecs.mu.Lock()
		f.ecs.services["web"].TaskDefinition = td
		f.ecs.mu.Unlock()
	}
}

func (f *fakeCodeDeploy) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deployments)
}

// env is a watch service on real SQLite and a fake clock, with fakes for
// the registry, ECS and CodeDeploy.
type env struct {
	t   *testing.T
	ctx context.Context
	clk *clock.Fake
	db  store.Store
	reg *fakeRegistry
	ecs *fakeECS
	cd  *fakeCodeDeploy
	svc *Service
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(t0), reg: newFakeRegistry(), ecs: newFakeECS()}
	e.cd = &fakeCodeDeploy{ecs: e.ecs}
	db, err := sqlite.Open(e.ctx, filepath.Join(t.TempDir(), "watch.db"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	svc, err := New(Config{Store: db, Clock: e.clk, Log: quietLog(), Registry: e.reg, ECS: e.ecs, CodeDeploy: e.cd, NotificationToken: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *env) create(in RuleInput) {
	e.t.Helper()
	if _, err := e.svc.createRule(e.ctx, &in); err != nil {
		e.t.Fatalf("createRule: %v", err)
	}
}

func (e *env) check(name string) *State {
	e.t.Helper()
	st, err := e.svc.Check(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Check(%s): %v", name, err)
	}
	return st
}

func (e *env) events(name string) []EventView {
	e.t.Helper()
	n := name
	out, err := e.svc.listEvents(e.ctx, &listEventsInput{nameInput: nameInput{Name: &n}})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Events
}

func decisions(evs []EventView) string {
	var ds []string
	for _, e := range evs {
		ds = append(ds, e.Decision)
	}
	return strings.Join(ds, ",")
}
