package ecs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// This file is the API the deployment engine uses. Errors wrap
// ErrClusterNotFound, ErrServiceNotFound, ErrTaskSetNotFound or
// ErrInvalidTaskSet, and the *awsproto.Error the wire API would answer.

// ServiceState describes a service for the engine.
type ServiceState struct {
	ClusterARN, ServiceARN, ServiceName, Status, DeploymentController string
	DesiredCount                                                      int
	LoadBalancers                                                     []LoadBalancer
	TaskSets                                                          []TaskSetState
}

// TaskSetState describes a task set (or, for an ECS-controller service, a
// deployment) for the engine.
type TaskSetState struct {
	ID, ARN, ExternalID string
	// Status is PRIMARY, ACTIVE or DRAINING.
	Status         string
	TaskDefinition string
	DesiredCount   int
	PendingCount   int
	RunningCount   int
	// HealthyCount counts tasks registered and healthy in the load
	// balancer (running tasks that pass their checks, without one).
	HealthyCount    int
	TargetGroupARN  string
	ScalePercent    float64
	StabilityStatus string
	// FailureReason is set while a slot of the set has failed
	// failureThreshold times in a row (tasks that cannot start or keep
	// crashing): the last stoppedReason with the container's reason,
	// e.g. "CannotPullContainerError: ...".
	FailureReason string
}

// TaskSetSpec is what EnsureTaskSet creates.
type TaskSetSpec struct {
	Cluster, Service, ExternalID, TaskDefinition string
	LoadBalancer                                 LoadBalancer
	ScalePercent                                 float64
	LaunchType, PlatformVersion                  string
	NetworkConfiguration                         *NetworkConfiguration
	CapacityProviderStrategy                     []CapacityProviderStrategyItem
}

// TaskSummary is one task of a set, for diagnostics.
type TaskSummary struct {
	ID, ARN                   string
	LastStatus, DesiredStatus string
	// Health is the container health (HEALTHY, UNHEALTHY, UNKNOWN);
	// LBHealthy says whether the load balancer has seen it healthy.
	Health    string
	LBHealthy bool
	StopCode  string
	// StoppedReason is ECS's; it carries the container's reason too when
	// it adds something ("...: app: exit code 7 ...").
	StoppedReason string
	// Endpoint is the registered target (or the first binding) as
	// host:port; "" before the task has one.
	Endpoint  string
	StartedAt time.Time
	StoppedAt time.Time
}

// engineErr adds the engine's sentinel to an API error.
func engineErr(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{ErrClusterNotFound, ErrServiceNotFound, ErrTaskSetNotFound, ErrInvalidTaskSet} {
		if errors.Is(err, known) {
			return err
		}
	}
	if e := awsproto.AsError(err); e != nil && (e.Code == "InvalidParameterException" || e.Code == "ServiceNotActiveException" || e.Code == "LimitExceededException") {
		return fmt.Errorf("%w: %w", ErrInvalidTaskSet, err)
	}
	return err
}

// DescribeServiceState returns a service with its task sets; cluster may
// be a name or an ARN.
func (s *Service) DescribeServiceState(ctx context.Context, cluster, service string) (*ServiceState, error) {
	c, err := s.clusterName(&cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceName(c, &service)
	if err != nil {
		return nil, err
	}
	var out *ServiceState
	err = s.st.View(ctx, func(tx store.Tx) error {
		sv, _, err := loadService(tx, c, name)
		if err != nil {
			return err
		}
		sets, _, err := loadSets(tx, c, name)
		if err != nil {
			return err
		}
		sortSets(sets)
		out = &ServiceState{
			ClusterARN: s.clusterARN(c), ServiceARN: s.serviceARN(c, name), ServiceName: name, Status: sv.Status,
			DeploymentController: sv.Controller, DesiredCount: sv.DesiredCount, LoadBalancers: sv.LoadBalancers,
		}
		for _, set := range sets {
			out.TaskSets = append(out.TaskSets, s.setState(set))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) setState(set *setRec) TaskSetState {
	st := TaskSetState{
		ID: set.ID, ARN: s.taskSetARN(set.Cluster, set.Service, set.ID), ExternalID: set.ExternalID, Status: set.Status,
		TaskDefinition: set.TaskDefinition, DesiredCount: set.Desired, PendingCount: set.Pending, RunningCount: set.Running,
		HealthyCount: set.Healthy, ScalePercent: set.ScaleValue, StabilityStatus: set.StabilityStatus, FailureReason: set.FailureReason,
	}
	if lb, ok := set.targetGroup(); ok {
		st.TargetGroupARN = lb.TargetGroupArn
	}
	return st
}

// EnsureTaskSet creates a task set for a CODE_DEPLOY or EXTERNAL service,
// or returns the existing one with the same ExternalID (so a retried step
// of a deployment does not create a second set).
func (s *Service) EnsureTaskSet(ctx context.Context, spec TaskSetSpec) (*TaskSetState, error) {
	cluster, err := s.clusterName(&spec.Cluster)
	if err != nil {
		return nil, engineErr(err)
	}
	service, err := s.serviceName(cluster, &spec.Service)
	if err != nil {
		return nil, engineErr(err)
	}
	var lbs []LoadBalancer
	if spec.LoadBalancer != (LoadBalancer{}) {
		lbs = []LoadBalancer{spec.LoadBalancer}
	}
	var launch *string
	if spec.LaunchType != "" {
		launch = &spec.LaunchType
	}
	set, _, err := s.createSet(ctx, setSpec{
		cluster: cluster, service: service, externalID: spec.ExternalID, taskDefinition: spec.TaskDefinition,
		loadBalancers: lbs, scale: &Scale{Value: &spec.ScalePercent, Unit: ptr("PERCENT")}, launchType: launch,
		platformVersion: spec.PlatformVersion, network: spec.NetworkConfiguration, cps: spec.CapacityProviderStrategy,
		controllers: []string{ctrlCodeDeploy, ctrlExternal}, reuseExternal: true,
	})
	if err != nil {
		return nil, engineErr(err)
	}
	st := s.setState(set)
	return &st, nil
}

// SetPrimaryTaskSet makes the set PRIMARY; the service's taskDefinition
// becomes the set's.
func (s *Service) SetPrimaryTaskSet(ctx context.Context, cluster, service, taskSetID string) error {
	c, name, id, err := s.engineRefs(cluster, service, taskSetID)
	if err != nil {
		return err
	}
	_, err = s.mutateSet(ctx, c, name, id, []string{ctrlCodeDeploy, ctrlExternal}, s.makePrimary)
	if err == nil {
		s.log.InfoContext(ctx, "primary task set changed", "cluster", c, "service", name, "task_set", id)
	}
	return engineErr(err)
}

// DeleteTaskSet deletes a set whatever its scale: its tasks are
// deregistered (and drain), then stopped, and the set disappears once
// they are. Deleting a missing set is not an error.
func (s *Service) DeleteTaskSet(ctx context.Context, cluster, service, taskSetID string) error {
	c, name, id, err := s.engineRefs(cluster, service, taskSetID)
	if err != nil {
		return err
	}
	_, err = s.mutateSet(ctx, c, name, id, []string{ctrlCodeDeploy, ctrlExternal}, func(_ store.Tx, _ *serviceRec, set *setRec, _ []*setRec) error {
		set.Status = setDraining
		return nil
	})
	if errors.Is(err, ErrTaskSetNotFound) {
		return nil
	}
	if err == nil {
		s.log.InfoContext(ctx, "task set deleted", "cluster", c, "service", name, "task_set", id)
	}
	return engineErr(err)
}

func (s *Service) engineRefs(cluster, service, taskSetID string) (string, string, string, error) {
	c, err := s.clusterName(&cluster)
	if err != nil {
		return "", "", "", engineErr(err)
	}
	name, err := s.serviceName(c, &service)
	if err != nil {
		return "", "", "", engineErr(err)
	}
	id, err := s.setIDOf(c, name, taskSetID)
	if err != nil {
		return "", "", "", engineErr(err)
	}
	return c, name, id, nil
}

// TaskSetTasks lists a set's tasks, running and recently stopped, newest
// first.
func (s *Service) TaskSetTasks(ctx context.Context, cluster, service, taskSetID string) ([]TaskSummary, error) {
	c, name, id, err := s.engineRefs(cluster, service, taskSetID)
	if err != nil {
		return nil, err
	}
	var out []TaskSummary
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadService(tx, c, name); err != nil {
			return err
		}
		tasks, _, err := list[taskRec](tx, kindTask, store.ListOptions{Index: c})
		if err != nil {
			return err
		}
		sort.Slice(tasks, func(i, j int) bool { return tasks[i].CreatedAt.After(tasks[j].CreatedAt.Time) })
		for _, t := range tasks {
			if t.Service != name || t.SetID != id {
				continue
			}
			ts := TaskSummary{
				ID: t.ID, ARN: s.taskARN(c, t.ID), LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, Health: t.Health,
				LBHealthy: t.LBHealthy, StopCode: t.StopCode, StoppedReason: failureText(t),
			}
			if t.StartedAt != nil {
				ts.StartedAt = t.StartedAt.Time
			}
			if t.StoppedAt != nil {
				ts.StoppedAt = t.StoppedAt.Time
			}
			if t.TargetHost != "" {
				ts.Endpoint = fmt.Sprintf("%s:%d", t.TargetHost, t.TargetPort)
			} else {
				for _, c := range t.Containers {
					if len(c.NetworkBindings) > 0 {
						b := c.NetworkBindings[0]
						ts.Endpoint = fmt.Sprintf("%s:%d", strings.TrimSpace(b.BindIP), b.HostPort)
						break
					}
				}
			}
			out = append(out, ts)
		}
		return nil
	})
	if err != nil {
		return nil, engineErr(err)
	}
	return out, nil
}

// CheckTaskDefinition reports, in ECS's words, whether ref names an active
// task definition with the container and container port, so that
// CodeDeploy can refuse an AppSpec at CreateDeployment rather than fail the
// deployment at Install.
func (s *Service) CheckTaskDefinition(ctx context.Context, ref, container string, port int) error {
	return s.st.View(ctx, func(tx store.Tx) error {
		td, err := taskDefForService(tx, s, ref)
		if err != nil {
			return err
		}
		return checkContainerPort(td, LoadBalancer{ContainerName: container, ContainerPort: port})
	})
}
