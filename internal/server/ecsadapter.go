package server

import (
	"context"

	"github.com/cutover/cutover/internal/ecs"
	"github.com/cutover/cutover/internal/engine"
)

// ecsCluster lets the deployment engine drive the ECS service. The two
// packages keep their own copies of these shapes so neither imports the
// other; this file is the only place both meet.
type ecsCluster struct{ s *ecs.Service }

var _ engine.ECSCluster = ecsCluster{}

func (c ecsCluster) DescribeServiceState(ctx context.Context, cluster, service string) (*engine.ServiceState, error) {
	st, err := c.s.DescribeServiceState(ctx, cluster, service)
	if err != nil {
		return nil, err
	}
	out := &engine.ServiceState{
		ClusterARN:           st.ClusterARN,
		ServiceARN:           st.ServiceARN,
		ServiceName:          st.ServiceName,
		Status:               st.Status,
		DeploymentController: st.DeploymentController,
		DesiredCount:         st.DesiredCount,
	}
	for _, lb := range st.LoadBalancers {
		out.LoadBalancers = append(out.LoadBalancers, engine.LoadBalancer{
			TargetGroupArn: lb.TargetGroupArn, ContainerName: lb.ContainerName, ContainerPort: lb.ContainerPort,
		})
	}
	for _, ts := range st.TaskSets {
		out.TaskSets = append(out.TaskSets, taskSetState(ts))
	}
	return out, nil
}

func taskSetState(ts ecs.TaskSetState) engine.TaskSetState {
	return engine.TaskSetState{
		ID: ts.ID, ARN: ts.ARN, ExternalID: ts.ExternalID, Status: ts.Status, TaskDefinition: ts.TaskDefinition,
		DesiredCount: ts.DesiredCount, PendingCount: ts.PendingCount, RunningCount: ts.RunningCount,
		HealthyCount: ts.HealthyCount, TargetGroupARN: ts.TargetGroupARN, ScalePercent: ts.ScalePercent,
		StabilityStatus: ts.StabilityStatus, FailureReason: ts.FailureReason,
	}
}

func (c ecsCluster) EnsureTaskSet(ctx context.Context, spec engine.TaskSetSpec) (*engine.TaskSetState, error) {
	in := ecs.TaskSetSpec{
		Cluster: spec.Cluster, Service: spec.Service, ExternalID: spec.ExternalID, TaskDefinition: spec.TaskDefinition,
		LoadBalancer: ecs.LoadBalancer{
			TargetGroupArn: spec.LoadBalancer.TargetGroupArn,
			ContainerName:  spec.LoadBalancer.ContainerName,
			ContainerPort:  spec.LoadBalancer.ContainerPort,
		},
		ScalePercent: spec.ScalePercent, LaunchType: spec.LaunchType, PlatformVersion: spec.PlatformVersion,
	}
	if nc := spec.NetworkConfiguration; nc != nil {
		vpc := &ecs.AwsVpcConfiguration{Subnets: nc.Subnets, SecurityGroups: nc.SecurityGroups}
		if nc.AssignPublicIP != "" {
			vpc.AssignPublicIp = &nc.AssignPublicIP
		}
		in.NetworkConfiguration = &ecs.NetworkConfiguration{AwsvpcConfiguration: vpc}
	}
	for _, cp := range spec.CapacityProviderStrategy {
		w, b := int32(cp.Weight), int32(cp.Base)
		in.CapacityProviderStrategy = append(in.CapacityProviderStrategy, ecs.CapacityProviderStrategyItem{
			CapacityProvider: cp.CapacityProvider, Weight: &w, Base: &b,
		})
	}
	ts, err := c.s.EnsureTaskSet(ctx, in)
	if err != nil {
		return nil, err
	}
	out := taskSetState(*ts)
	return &out, nil
}

func (c ecsCluster) SetPrimaryTaskSet(ctx context.Context, cluster, service, taskSetID string) error {
	return c.s.SetPrimaryTaskSet(ctx, cluster, service, taskSetID)
}

func (c ecsCluster) DeleteTaskSet(ctx context.Context, cluster, service, taskSetID string) error {
	return c.s.DeleteTaskSet(ctx, cluster, service, taskSetID)
}
