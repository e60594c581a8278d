package engine

import (
	"context"
	"errors"
	"time"

	"github.com/cutover/cutover/internal/agentcmd"
	"github.com/cutover/cutover/internal/elb"
)

// The engine drives the world through three small interfaces, chosen at
// start-up: ECS task sets, load balancer weights, and lifecycle hooks.

// LoadBalancer is a task set's load balancer attachment.
type LoadBalancer struct {
	TargetGroupArn string
	ContainerName  string
	ContainerPort  int
}

// NetworkConfiguration is a task set's awsvpc configuration.
type NetworkConfiguration struct {
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP string
}

// CapacityProviderStrategyItem is one capacity provider of a task set.
type CapacityProviderStrategyItem struct {
	CapacityProvider string
	Weight, Base     int
}

// ServiceState is an ECS service as the engine sees it.
type ServiceState struct {
	ClusterARN, ServiceARN, ServiceName, Status, DeploymentController string
	DesiredCount                                                      int
	LoadBalancers                                                     []LoadBalancer
	TaskSets                                                          []TaskSetState
}

// TaskSet returns the task set with the given id, or nil.
func (s *ServiceState) TaskSet(id string) *TaskSetState {
	for i := range s.TaskSets {
		if s.TaskSets[i].ID == id {
			return &s.TaskSets[i]
		}
	}
	return nil
}

// Primary returns the PRIMARY task set, or nil.
func (s *ServiceState) Primary() *TaskSetState {
	for i := range s.TaskSets {
		if s.TaskSets[i].Status == "PRIMARY" {
			return &s.TaskSets[i]
		}
	}
	return nil
}

// TaskSetState is one task set of a service.
type TaskSetState struct {
	ID, ARN, ExternalID, Status, TaskDefinition string
	DesiredCount, PendingCount, RunningCount    int
	// HealthyCount is the number of tasks registered and healthy in the
	// load balancer.
	HealthyCount    int
	TargetGroupARN  string
	ScalePercent    float64
	StabilityStatus string // STEADY_STATE | STABILIZING
	// FailureReason is the last stopped reason while tasks keep failing
	// (for example "CannotPullContainerError: ...").
	FailureReason string
}

// Stable reports whether every desired task runs and is healthy.
func (t *TaskSetState) Stable() bool {
	return t.StabilityStatus == "STEADY_STATE" && t.RunningCount >= t.DesiredCount && t.HealthyCount >= t.DesiredCount
}

// TaskSetSpec is the replacement task set a deployment asks for.
type TaskSetSpec struct {
	Cluster, Service, ExternalID, TaskDefinition string
	LoadBalancer                                 LoadBalancer
	ScalePercent                                 float64
	LaunchType, PlatformVersion                  string
	NetworkConfiguration                         *NetworkConfiguration
	CapacityProviderStrategy                     []CapacityProviderStrategyItem
}

// ECSCluster is what the engine needs of ECS. internal/ecs implements it
// (through a thin adapter); tests use a fake.
type ECSCluster interface {
	DescribeServiceState(ctx context.Context, cluster, service string) (*ServiceState, error)
	// EnsureTaskSet creates the task set, or returns the one that already
	// has spec.ExternalID: a retried step never makes a second one.
	EnsureTaskSet(ctx context.Context, spec TaskSetSpec) (*TaskSetState, error)
	SetPrimaryTaskSet(ctx context.Context, cluster, service, taskSetID string) error
	// DeleteTaskSet drains and stops a task set; deleting one that is gone
	// succeeds.
	DeleteTaskSet(ctx context.Context, cluster, service, taskSetID string) error
}

// TaskDefinitionChecker is optional for an ECSCluster: when it is
// implemented, CreateDeployment refuses an AppSpec whose task definition,
// container or container port does not exist. The error should be an
// *awsproto.Error (InvalidRevisionException) the caller can read.
type TaskDefinitionChecker interface {
	CheckTaskDefinition(ctx context.Context, taskDefinition, containerName string, containerPort int) error
}

// TrafficRouter sets and reads listener weights and names target groups.
// *elb.Service satisfies it.
type TrafficRouter interface {
	// SetForwardWeights makes a listener (or rule) forward to exactly these
	// target groups with these weights.
	SetForwardWeights(ctx context.Context, listenerOrRuleARN string, weights map[string]int) error
	ForwardWeights(ctx context.Context, listenerOrRuleARN string) (map[string]int, error)
	TargetGroupARNByName(ctx context.Context, name string) (string, error)
}

// HookRequest is one call of a lifecycle hook.
type HookRequest struct {
	DeploymentID string
	ExecutionID  string
	Event        string
	// Target is the hook as the AppSpec names it: a Lambda function name or
	// ARN, or (a cutover extension) an http(s) URL.
	Target string
}

// HookInvoker calls a hook. The hook answers later through
// PutLifecycleEventHookExecutionStatus. An error wrapping ErrHookRetry is
// transient (the hook could not be reached) and the call is repeated until
// the hook's time is up; any other error fails the lifecycle event.
type HookInvoker interface {
	InvokeHook(ctx context.Context, req HookRequest) error
}

// ErrHookRetry marks a hook call that may succeed if repeated.
var ErrHookRetry = errors.New("hook unreachable")

// HostCommands is the agent command service as server deployments use it:
// the engine issues each instance's lifecycle commands and reads how they
// ended. *agentcmd.Service satisfies it.
type HostCommands interface {
	Issue(ctx context.Context, c agentcmd.Command) error
	Status(ctx context.Context, id string) (agentcmd.CommandState, error)
	Cancel(ctx context.Context, deploymentID string) error
	LastPoll(ctx context.Context, host string) (time.Time, error)
}

// HostTargets registers instances with load balancer target groups (a
// server deployment's BlockTraffic and AllowTraffic). *elb.Service
// satisfies it.
type HostTargets interface {
	RegisterTargets(ctx context.Context, tgArn string, targets ...elb.TargetRef) error
	DeregisterTargets(ctx context.Context, tgArn string, targets ...elb.TargetRef) error
	TargetGroupTargets(ctx context.Context, tgArn string) ([]elb.Target, error)
}
