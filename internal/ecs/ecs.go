// Package ecs is cutover's ECS subset: clusters, task definitions,
// services, task sets and tasks, served over AWS JSON 1.1 as
// AmazonEC2ContainerServiceV20141113, and the scheduler that makes tasks
// real on a container runtime and registers them with the load balancer.
//
// Every resource is a JSON record in the store. API calls only change
// records (desired state); the scheduler (Run) compares them with the
// runtime and the load balancer and does the next idempotent step. Task ids
// are derived from the task set, slot and generation, so a restarted
// scheduler finds the tasks the previous one started instead of starting
// them again.
package ecs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/elb"
	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix; SigningName the SigV4 service.
const (
	TargetPrefix = "AmazonEC2ContainerServiceV20141113"
	SigningName  = "ecs"
)

// Record kinds. Keys join names with "/" because no ECS name may contain it.
const (
	kindCluster = "ecs.cluster" // key: cluster name
	kindTaskDef = "ecs.taskdef" // key: family:%010d revision; index: family
	kindService = "ecs.service" // key: cluster/service; index: cluster
	kindSet     = "ecs.taskset" // key: cluster/service/ecs-svc/<digits>; index: cluster/service
	kindTask    = "ecs.task"    // key: 32-hex task id; index: cluster
	defaultName = "default"     // the cluster AWS assumes when none is named
	maxStopped  = 10            // stopped tasks kept per task set
)

// Errors the engine methods wrap, so callers can tell cases apart without
// parsing AWS codes.
var (
	ErrClusterNotFound = errors.New("ecs: cluster not found")
	ErrServiceNotFound = errors.New("ecs: service not found")
	ErrTaskSetNotFound = errors.New("ecs: task set not found")
	ErrInvalidTaskSet  = errors.New("ecs: invalid task set")
)

// Balancer is what the scheduler needs from the load balancer;
// *elb.Service satisfies it. (LoadBalancer is ECS's own shape: a target
// group, container name and port.)
type Balancer interface {
	RegisterTargets(ctx context.Context, tgArn string, targets ...elb.TargetRef) error
	DeregisterTargets(ctx context.Context, tgArn string, targets ...elb.TargetRef) error
	TargetGroupTargets(ctx context.Context, tgArn string) ([]elb.Target, error)
	TargetGroupLoadBalancers(ctx context.Context, tgArn string) ([]string, error)
}

var _ Balancer = (*elb.Service)(nil)

// Config configures the service.
type Config struct {
	Region, AccountID string
	Store             store.Store
	// Runtime runs tasks; nil means the API works but nothing runs.
	Runtime runtime.Runtime
	// LB registers task endpoints; nil means load balancers are stored but
	// not acted on (and target groups are not validated).
	LB  Balancer
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval is the reconcile period of Run (default 1s).
	Interval time.Duration
	// OnTaskSetChange, when set, is called after a pass changed a task
	// set's counts or stability (the deployment engine waits on those).
	OnTaskSetChange func()
	// RestartDelay is the first wait before a failed task is replaced; it
	// doubles with each consecutive failure up to MaxRestartDelay
	// (defaults 2s and 5m), so a crash loop does not spin.
	RestartDelay, MaxRestartDelay time.Duration
	// StableAfter is how long a task without a load balancer must run
	// before its slot's failure count resets (default 30s). With a load
	// balancer, the target turning healthy resets it.
	StableAfter time.Duration
	// MaxDrain bounds how long a deregistered task waits for the load
	// balancer to finish draining before it is stopped anyway (default 10m).
	MaxDrain time.Duration
	// StopGrace is the SIGTERM-to-SIGKILL grace for containers without a
	// stopTimeout (default 30s, ECS's).
	StopGrace time.Duration
	// Owner names this scheduler in the lease that keeps two replicas from
	// scheduling the same tasks; default random.
	Owner string
}

// Service is the ECS control plane and scheduler.
type Service struct {
	cfg             Config
	region, account string
	st              store.Store
	rt              runtime.Runtime
	lb              Balancer
	log             *slog.Logger
	now             func() time.Time
	pageSize        int
	json            *jsonrpc.Service

	// stopping holds the ids of tasks whose runtime Stop is in flight, so a
	// slow stop is not asked for twice.
	stopping sync.Map
	stopWG   sync.WaitGroup
	// passMu keeps reconcile passes of this Service from overlapping
	// (Run's and a test's or caller's direct Reconcile).
	passMu sync.Mutex
	// kick wakes Run early after an API change.
	kick chan struct{}
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("ecs: a store is required")
	}
	if cfg.Region == "" || cfg.AccountID == "" {
		return nil, errors.New("ecs: region and account id are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.RestartDelay <= 0 {
		cfg.RestartDelay = 2 * time.Second
	}
	if cfg.MaxRestartDelay <= 0 {
		cfg.MaxRestartDelay = 5 * time.Minute
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = 30 * time.Second
	}
	if cfg.MaxDrain <= 0 {
		cfg.MaxDrain = 10 * time.Minute
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 30 * time.Second
	}
	if cfg.Owner == "" {
		cfg.Owner = "ecs-" + randomHex(8)
	}
	s := &Service{
		cfg:      cfg,
		region:   cfg.Region,
		account:  cfg.AccountID,
		st:       cfg.Store,
		rt:       cfg.Runtime,
		lb:       cfg.LB,
		log:      cfg.Log.With("service", "ecs"),
		now:      cfg.Now,
		pageSize: 100,
		kick:     make(chan struct{}, 1),
	}
	s.json = jsonrpc.New(s.log, "1.1", TargetPrefix)
	s.register(s.json)
	return s, nil
}

// JSON returns the JSON 1.1 service to register under signing name "ecs".
func (s *Service) JSON() *jsonrpc.Service { return s.json }

func (s *Service) register(j *jsonrpc.Service) {
	jsonrpc.Handle(j, "CreateCluster", s.createCluster)
	jsonrpc.Handle(j, "DescribeClusters", s.describeClusters)
	jsonrpc.Handle(j, "ListClusters", s.listClusters)
	jsonrpc.Handle(j, "DeleteCluster", s.deleteCluster)

	jsonrpc.Handle(j, "RegisterTaskDefinition", s.registerTaskDefinition)
	jsonrpc.Handle(j, "DescribeTaskDefinition", s.describeTaskDefinition)
	jsonrpc.Handle(j, "ListTaskDefinitions", s.listTaskDefinitions)
	jsonrpc.Handle(j, "ListTaskDefinitionFamilies", s.listTaskDefinitionFamilies)
	jsonrpc.Handle(j, "DeregisterTaskDefinition", s.deregisterTaskDefinition)

	jsonrpc.Handle(j, "CreateService", s.createService)
	jsonrpc.Handle(j, "UpdateService", s.updateService)
	jsonrpc.Handle(j, "DescribeServices", s.describeServices)
	jsonrpc.Handle(j, "ListServices", s.listServices)
	jsonrpc.Handle(j, "DeleteService", s.deleteService)

	jsonrpc.Handle(j, "CreateTaskSet", s.createTaskSet)
	jsonrpc.Handle(j, "DescribeTaskSets", s.describeTaskSets)
	jsonrpc.Handle(j, "UpdateTaskSet", s.updateTaskSet)
	jsonrpc.Handle(j, "UpdateServicePrimaryTaskSet", s.updateServicePrimaryTaskSet)
	jsonrpc.Handle(j, "DeleteTaskSet", s.deleteTaskSet)

	jsonrpc.Handle(j, "ListTasks", s.listTasks)
	jsonrpc.Handle(j, "DescribeTasks", s.describeTasks)
	jsonrpc.Handle(j, "StopTask", s.stopTask)
}

// Wake asks the scheduler for a pass now (a target's health changed); it
// never blocks.
func (s *Service) Wake() { s.wake() }

// wake asks Run for an early pass; it never blocks.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) nowTime() awsproto.Time {
	return awsproto.NewTime(s.now().UTC().Truncate(time.Millisecond))
}

func (s *Service) arn(resource string) string {
	return "arn:aws:ecs:" + s.region + ":" + s.account + ":" + resource
}

func (s *Service) clusterARN(name string) string { return s.arn("cluster/" + name) }
func (s *Service) serviceARN(cluster, name string) string {
	return s.arn("service/" + cluster + "/" + name)
}
func (s *Service) taskARN(cluster, id string) string { return s.arn("task/" + cluster + "/" + id) }
func (s *Service) taskDefARN(family string, rev int32) string {
	return s.arn(fmt.Sprintf("task-definition/%s:%d", family, rev))
}
func (s *Service) taskSetARN(cluster, service, id string) string {
	// id is "ecs-svc/<digits>"; the ARN carries it as is.
	return s.arn("task-set/" + cluster + "/" + service + "/" + id)
}

// resourceOf returns the resource part of one of our ECS ARNs, or ok=false
// when s is not an ARN. An ARN for another service, region or account is
// refused with InvalidParameterException, as AWS does.
func (s *Service) resourceOf(v, what string) (string, bool, error) {
	if !strings.HasPrefix(v, "arn:") {
		return "", false, nil
	}
	a, err := awsproto.ParseARN(v)
	if err != nil || a.Service != "ecs" {
		return "", true, awsproto.Errorf("InvalidParameterException", "Invalid %s ARN: %s", what, clip(v))
	}
	if a.Region != s.region || a.AccountID != s.account {
		return "", true, awsproto.Errorf("InvalidParameterException", "%s ARN %s is not in this region and account", what, clip(v))
	}
	return a.Resource, true, nil
}

// clusterName resolves an optional cluster name or ARN; empty is "default".
func (s *Service) clusterName(v *string) (string, error) {
	if v == nil || *v == "" {
		return defaultName, nil
	}
	res, isARN, err := s.resourceOf(*v, "cluster")
	if err != nil {
		return "", err
	}
	if isARN {
		name, ok := strings.CutPrefix(res, "cluster/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return "", awsproto.Errorf("InvalidParameterException", "Invalid cluster ARN: %s", clip(*v))
		}
		return name, nil
	}
	return *v, nil
}

// serviceName resolves a service name or ARN (service/<cluster>/<name>, or
// the old service/<name>). A cluster named in the ARN must agree with the
// one named beside it.
func (s *Service) serviceName(cluster string, v *string) (string, error) {
	if v == nil || *v == "" {
		return "", awsproto.Errorf("InvalidParameterException", "Service cannot be empty.")
	}
	res, isARN, err := s.resourceOf(*v, "service")
	if err != nil {
		return "", err
	}
	if !isARN {
		return *v, nil
	}
	rest, ok := strings.CutPrefix(res, "service/")
	if !ok || rest == "" {
		return "", awsproto.Errorf("InvalidParameterException", "Invalid service ARN: %s", clip(*v))
	}
	if c, name, two := strings.Cut(rest, "/"); two {
		if c != cluster {
			return "", awsproto.Errorf("InvalidParameterException", "The service ARN %s does not belong to cluster %s.", clip(*v), cluster)
		}
		return name, nil
	}
	return rest, nil
}

func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "..."
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func serviceKey(cluster, service string) string { return cluster + "/" + service }

func setKey(cluster, service, id string) string { return cluster + "/" + service + "/" + id }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSetID returns "ecs-svc/" and 19 digits, AWS's task set and deployment
// id form. With a seed (a task set's external id) it is derived from it, so
// a retried creation asks for the same id.
func newSetID(seed string) string {
	var n uint64
	if seed != "" {
		sum := sha256.Sum256([]byte(seed))
		n = binary.BigEndian.Uint64(sum[:8])
	} else {
		r, _ := rand.Int(rand.Reader, new(big.Int).SetUint64(1<<63))
		n = r.Uint64()
	}
	// 19 digits with a non-zero first digit: 10^18 .. 10^19-1.
	const lo, span = 1_000_000_000_000_000_000, 9_000_000_000_000_000_000
	return fmt.Sprintf("ecs-svc/%d", lo+n%span)
}

// taskID derives a task's id (32 hex digits, as AWS's) from its task set,
// slot and generation: the same triple always names the same task.
func taskID(setARN string, slot, gen int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", setARN, slot, gen))
	return hex.EncodeToString(sum[:16])
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// empty is the answer of operations without output members.
type empty struct{}
