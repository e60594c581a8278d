package engine

import (
	"context"

	"github.com/cutover/cutover/internal/awsproto"

	"github.com/cutover/cutover/internal/ecs"
)

// ECSAdapter makes *ecs.Service an ECSCluster. The engine keeps its own
// types so that its tests need no ECS and ECS needs no engine.
type ECSAdapter struct{ ECS *ecs.Service }

func (a ECSAdapter) DescribeServiceState(ctx context.Context, cluster, service string) (*ServiceState, error) {
	s, err := a.ECS.DescribeServiceState(ctx, cluster, service)
	if err != nil {
		return nil, err
	}
	out := &ServiceState{ClusterARN: s.ClusterARN, ServiceARN: s.ServiceARN, ServiceName: s.ServiceName, Status: s.Status,
		DeploymentController: s.DeploymentController, DesiredCount: s.DesiredCount}
	for _, lb := range s.LoadBalancers {
		out.LoadBalancers = append(out.LoadBalancers, LoadBalancer{TargetGroupArn: lb.TargetGroupArn, ContainerName: lb.ContainerName, ContainerPort: lb.ContainerPort})
	}
	for _, ts := range s.TaskSets {
		out.TaskSets = append(out.TaskSets, fromECSTaskSet(ts))
	}
	return out, nil
}

func fromECSTaskSet(ts ecs.TaskSetState) TaskSetState {
	return TaskSetState{ID: ts.ID, ARN: ts.ARN, ExternalID: ts.ExternalID, Status: ts.Status, TaskDefinition: ts.TaskDefinition,
		DesiredCount: ts.DesiredCount, PendingCount: ts.PendingCount, RunningCount: ts.RunningCount, HealthyCount: ts.HealthyCount,
		TargetGroupARN: ts.TargetGroupARN, ScalePercent: ts.ScalePercent, StabilityStatus: ts.StabilityStatus, FailureReason: ts.FailureReason}
}

func (a ECSAdapter) EnsureTaskSet(ctx context.Context, spec TaskSetSpec) (*TaskSetState, error) {
	s := ecs.TaskSetSpec{Cluster: spec.Cluster, Service: spec.Service, ExternalID: spec.ExternalID, TaskDefinition: spec.TaskDefinition,
		LoadBalancer: ecs.LoadBalancer{TargetGroupArn: spec.LoadBalancer.TargetGroupArn, ContainerName: spec.LoadBalancer.ContainerName, ContainerPort: spec.LoadBalancer.ContainerPort},
		ScalePercent: spec.ScalePercent, LaunchType: spec.LaunchType, PlatformVersion: spec.PlatformVersion}
	if nc := spec.NetworkConfiguration; nc != nil {
		vpc := &ecs.AwsVpcConfiguration{Subnets: nc.Subnets, SecurityGroups: nc.SecurityGroups}
		if nc.AssignPublicIP != "" {
			v := nc.AssignPublicIP
			vpc.AssignPublicIp = &v
		}
		s.NetworkConfiguration = &ecs.NetworkConfiguration{AwsvpcConfiguration: vpc}
	}
	for _, c := range spec.CapacityProviderStrategy {
		w, b := int32(c.Weight), int32(c.Base)
		s.CapacityProviderStrategy = append(s.CapacityProviderStrategy, ecs.CapacityProviderStrategyItem{CapacityProvider: c.CapacityProvider, Weight: &w, Base: &b})
	}
	ts, err := a.ECS.EnsureTaskSet(ctx, s)
	if err != nil {
		return nil, err
	}
	out := fromECSTaskSet(*ts)
	return &out, nil
}

func (a ECSAdapter) SetPrimaryTaskSet(ctx context.Context, cluster, service, id string) error {
	return a.ECS.SetPrimaryTaskSet(ctx, cluster, service, id)
}

func (a ECSAdapter) DeleteTaskSet(ctx context.Context, cluster, service, id string) error {
	return a.ECS.DeleteTaskSet(ctx, cluster, service, id)
}

// CheckTaskDefinition turns ECS's refusal into the error CreateDeployment
// answers with: the revision is what is wrong, not an ECS parameter.
func (a ECSAdapter) CheckTaskDefinition(ctx context.Context, taskDefinition, containerName string, containerPort int) error {
	err := a.ECS.CheckTaskDefinition(ctx, taskDefinition, containerName, containerPort)
	if e := awsproto.AsError(err); e != nil {
		return awsproto.Errorf("InvalidRevisionException", "The AppSpec cannot be deployed: %s", e.Message)
	}
	return err
}
