package ecs

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

func invalid(format string, args ...any) error {
	return awsproto.Errorf("InvalidParameterException", format, args...)
}

func errServiceNotFound() error {
	return fmt.Errorf("%w: %w", ErrServiceNotFound, awsproto.Errorf("ServiceNotFoundException", "Service not found."))
}

// loadService reads a service that is not INACTIVE, after checking its
// cluster, answering ClusterNotFoundException or ServiceNotFoundException.
func loadService(tx store.Tx, cluster, name string) (*serviceRec, *store.Record, error) {
	if _, _, err := loadCluster(tx, cluster); err != nil {
		return nil, nil, err
	}
	sv, rec, err := get[serviceRec](tx, kindService, serviceKey(cluster, name))
	if isNotFound(err) || (err == nil && sv.Status == statusInactive) {
		return nil, nil, errServiceNotFound()
	}
	return sv, rec, err
}

// loadActiveService also refuses a DRAINING service.
func loadActiveService(tx store.Tx, cluster, name string) (*serviceRec, *store.Record, error) {
	sv, rec, err := loadService(tx, cluster, name)
	if err == nil && sv.Status != statusActive {
		return nil, nil, awsproto.Errorf("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	return sv, rec, err
}

func loadSets(tx store.Tx, cluster, service string) ([]*setRec, []*store.Record, error) {
	return list[setRec](tx, kindSet, store.ListOptions{Index: serviceKey(cluster, service)})
}

type createServiceInput struct {
	Cluster                       *string                        `json:"cluster"`
	ServiceName                   *string                        `json:"serviceName"`
	TaskDefinition                *string                        `json:"taskDefinition"`
	LoadBalancers                 []LoadBalancer                 `json:"loadBalancers"`
	ServiceRegistries             []any                          `json:"serviceRegistries"`
	DesiredCount                  *int32                         `json:"desiredCount"`
	ClientToken                   *string                        `json:"clientToken"`
	LaunchType                    *string                        `json:"launchType"`
	CapacityProviderStrategy      []CapacityProviderStrategyItem `json:"capacityProviderStrategy"`
	PlatformVersion               *string                        `json:"platformVersion"`
	Role                          *string                        `json:"role"`
	DeploymentConfiguration       *DeploymentConfiguration       `json:"deploymentConfiguration"`
	PlacementConstraints          []any                          `json:"placementConstraints"`
	PlacementStrategy             []any                          `json:"placementStrategy"`
	NetworkConfiguration          *NetworkConfiguration          `json:"networkConfiguration"`
	HealthCheckGracePeriodSeconds *int32                         `json:"healthCheckGracePeriodSeconds"`
	SchedulingStrategy            *string                        `json:"schedulingStrategy"`
	DeploymentController          *DeploymentController          `json:"deploymentController"`
	Tags                          []Tag                          `json:"tags"`
	EnableECSManagedTags          *bool                          `json:"enableECSManagedTags"`
	PropagateTags                 *string                        `json:"propagateTags"`
	EnableExecuteCommand          *bool                          `json:"enableExecuteCommand"`
}

type serviceOutput struct {
	Service *ServiceWire `json:"service"`
}

var launchTypes = []string{"EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"}

func checkLaunch(launchType *string, cps []CapacityProviderStrategyItem) error {
	if launchType != nil && !slices.Contains(launchTypes, *launchType) {
		return invalid("Invalid launchType: %s. Valid values are EC2, FARGATE, EXTERNAL and MANAGED_INSTANCES.", clip(*launchType))
	}
	if launchType != nil && len(cps) > 0 {
		return invalid("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	for _, c := range cps {
		if c.CapacityProvider == "" {
			return invalid("capacityProvider must not be empty.")
		}
	}
	return nil
}

func checkNetwork(nc *NetworkConfiguration) error {
	if nc != nil && nc.AwsvpcConfiguration != nil {
		a := nc.AwsvpcConfiguration
		if len(a.Subnets) == 0 {
			return invalid("subnets can not be empty.")
		}
		if v := deref(a.AssignPublicIp); v != "" && v != "ENABLED" && v != "DISABLED" {
			return invalid("Invalid assignPublicIp: %s", clip(v))
		}
	}
	return nil
}

// checkLoadBalancers validates load balancers against the task definition
// (when there is one) and, with a load balancer wired in, that the target
// groups exist.
func (s *Service) checkLoadBalancers(ctx context.Context, lbs []LoadBalancer, td *taskDefRec) error {
	for _, lb := range lbs {
		if lb.TargetGroupArn == "" {
			if lb.LoadBalancerName != "" {
				return invalid("Classic Load Balancers are not supported: specify a targetGroupArn.")
			}
			return invalid("targetGroupArn must be specified for a load balancer.")
		}
		if lb.ContainerName == "" {
			return invalid("containerName must be specified for a load balancer.")
		}
		if lb.ContainerPort < 1 || lb.ContainerPort > 65535 {
			return invalid("containerPort must be specified for a load balancer and be between 1 and 65535.")
		}
		if td != nil {
			if err := checkContainerPort(td, lb); err != nil {
				return err
			}
		}
	}
	if s.lb == nil {
		return nil
	}
	for _, lb := range lbs {
		attached, err := s.lb.TargetGroupLoadBalancers(ctx, lb.TargetGroupArn)
		if err != nil {
			if awsproto.AsError(err) != nil {
				return invalid("Unable to validate the target group %s: %s", clip(lb.TargetGroupArn), awsproto.AsError(err).Message)
			}
			return err
		}
		// A target group no listener uses is never health-checked, so its
		// tasks could never become healthy; AWS refuses it up front.
		if len(attached) == 0 {
			return invalid("The target group with targetGroupArn %s does not have an associated load balancer.", clip(lb.TargetGroupArn))
		}
	}
	return nil
}

// checkContainerPort says, in AWS's words, when the load balancer's
// container or port is missing from the task definition.
func checkContainerPort(td *taskDefRec, lb LoadBalancer) error {
	for _, c := range td.ContainerDefinitions {
		if deref(c.Name) != lb.ContainerName {
			continue
		}
		for _, p := range c.PortMappings {
			if int(deref(p.ContainerPort)) == lb.ContainerPort {
				return nil
			}
		}
		return invalid("The container %s did not have a container port %d defined.", lb.ContainerName, lb.ContainerPort)
	}
	return invalid("The container %s does not exist in the task definition.", clip(lb.ContainerName))
}

func taskDefForService(tx store.Tx, s *Service, ref string) (*taskDefRec, error) {
	td, _, err := s.lookupTaskDef(tx, ref, func() error { return invalid("TaskDefinition not found.") })
	if err != nil {
		return nil, err
	}
	if td.Status != statusActive {
		return nil, invalid("TaskDefinition is inactive")
	}
	return td, nil
}

func checkDeploymentConfig(dc *DeploymentConfiguration) error {
	if dc == nil {
		return nil
	}
	if v := dc.MinimumHealthyPercent; v != nil && (*v < 0 || *v > 100) {
		return invalid("minimumHealthyPercent must be between 0 and 100.")
	}
	if v := dc.MaximumPercent; v != nil && (*v < 100 || *v > 200) {
		return invalid("maximumPercent must be between 100 and 200.")
	}
	if v := deref(dc.Strategy); v != "" && v != "ROLLING" {
		return invalid("Deployment strategy %s is not supported; use ROLLING, or the CODE_DEPLOY deployment controller for blue/green.", clip(v))
	}
	return nil
}

func (s *Service) createService(ctx context.Context, in *createServiceInput) (*serviceOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	name := deref(in.ServiceName)
	if !nameRE.MatchString(name) {
		return nil, invalid("Service name can only contain up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
	}
	ctrl := ctrlECS
	if in.DeploymentController != nil {
		ctrl = in.DeploymentController.Type
	}
	if ctrl != ctrlECS && ctrl != ctrlCodeDeploy && ctrl != ctrlExternal {
		return nil, invalid("Invalid deploymentController type: %s. Valid values are ECS, CODE_DEPLOY and EXTERNAL.", clip(ctrl))
	}
	strategy := "REPLICA"
	if in.SchedulingStrategy != nil {
		strategy = *in.SchedulingStrategy
	}
	switch strategy {
	case "REPLICA":
	case "DAEMON":
		return nil, awsproto.Errorf("UnsupportedFeatureException", "The DAEMON scheduling strategy is not supported by cutover.")
	default:
		return nil, invalid("Invalid schedulingStrategy: %s", clip(strategy))
	}
	desired := int(deref(in.DesiredCount))
	if desired < 0 {
		return nil, invalid("desiredCount must be greater than or equal to 0.")
	}
	if err := checkLaunch(in.LaunchType, in.CapacityProviderStrategy); err != nil {
		return nil, err
	}
	if err := checkNetwork(in.NetworkConfiguration); err != nil {
		return nil, err
	}
	if err := checkDeploymentConfig(in.DeploymentConfiguration); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	tdRef := deref(in.TaskDefinition)
	if tdRef == "" && ctrl != ctrlExternal {
		return nil, invalid("TaskDefinition must be specified for a service with the %s deployment controller.", ctrl)
	}
	if len(in.LoadBalancers) > 5 || (ctrl == ctrlCodeDeploy && len(in.LoadBalancers) > 1) {
		return nil, invalid("A service with the %s deployment controller can have at most %d load balancers.", ctrl, map[bool]int{true: 1, false: 5}[ctrl == ctrlCodeDeploy])
	}
	var td *taskDefRec
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		if tdRef != "" {
			td, err = taskDefForService(tx, s, tdRef)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.checkLoadBalancers(ctx, in.LoadBalancers, td); err != nil {
		return nil, err
	}
	dc := DeploymentConfiguration{MaximumPercent: ptr(int32(200)), MinimumHealthyPercent: ptr(int32(100))}
	if in.DeploymentConfiguration != nil {
		dc = *in.DeploymentConfiguration
		if dc.MaximumPercent == nil {
			dc.MaximumPercent = ptr(int32(200))
		}
		if dc.MinimumHealthyPercent == nil {
			dc.MinimumHealthyPercent = ptr(int32(100))
		}
	}
	if ctrl == ctrlECS && dc.DeploymentCircuitBreaker == nil {
		dc.DeploymentCircuitBreaker = &DeploymentCircuitBreaker{}
	}
	now := s.nowTime()
	sv := &serviceRec{
		Name: name, Cluster: cluster, Status: statusActive, DesiredCount: desired, LoadBalancers: in.LoadBalancers,
		LaunchType: deref(in.LaunchType), CapacityProviderStrategy: in.CapacityProviderStrategy, PlatformVersion: deref(in.PlatformVersion),
		DeploymentConfiguration: dc, NetworkConfiguration: in.NetworkConfiguration, HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		SchedulingStrategy: strategy, Controller: ctrl, Tags: in.Tags, RoleArn: deref(in.Role), PropagateTags: deref(in.PropagateTags),
		EnableECSManagedTags: deref(in.EnableECSManagedTags), EnableExecuteCommand: deref(in.EnableExecuteCommand),
		PlacementConstraints: in.PlacementConstraints, PlacementStrategy: in.PlacementStrategy, ServiceRegistries: in.ServiceRegistries,
		CreatedAt: now,
	}
	if sv.LaunchType == "" && len(sv.CapacityProviderStrategy) == 0 {
		sv.LaunchType = "EC2"
	}
	if p, ok := awsproto.PrincipalFrom(ctx); ok {
		sv.CreatedBy = p.ARN
	}
	if td != nil {
		sv.TaskDefinition = td.TaskDefinitionArn
	}
	var first *setRec
	if ctrl != ctrlExternal {
		first = &setRec{
			ID: newSetID(""), Cluster: cluster, Service: name, Deployment: ctrl == ctrlECS, Status: setPrimary,
			TaskDefinition: sv.TaskDefinition, ScaleValue: 100, LaunchType: sv.LaunchType, PlatformVersion: sv.PlatformVersion,
			NetworkConfiguration: sv.NetworkConfiguration, CapacityProviderStrategy: sv.CapacityProviderStrategy,
			CreatedAt: now, UpdatedAt: now, StabilityStatus: "STABILIZING", StabilityStatusAt: now, RolloutState: "IN_PROGRESS",
		}
		if ctrl == ctrlECS {
			first.LoadBalancers = in.LoadBalancers
		} else if len(in.LoadBalancers) > 0 {
			first.LoadBalancers = in.LoadBalancers[:1]
		}
		if ctrl == ctrlCodeDeploy {
			first.RolloutState = ""
		}
	}
	var out *ServiceWire
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		old, rec, err := get[serviceRec](tx, kindService, serviceKey(cluster, name))
		var version int64
		switch {
		case err == nil && old.Status != statusInactive:
			return invalid("Creation of service was not idempotent.")
		case err == nil:
			version = rec.Version
		case !isNotFound(err):
			return err
		}
		if err := put(tx, kindService, serviceKey(cluster, name), cluster, version, sv); err != nil {
			return err
		}
		if first != nil {
			if err := put(tx, kindSet, first.key(), serviceKey(cluster, name), 0, first); err != nil {
				return err
			}
		}
		out, err = s.serviceWire(tx, sv, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "service created", "cluster", cluster, "service", name, "controller", ctrl, "desired_count", desired)
	s.wake()
	return &serviceOutput{Service: out}, nil
}

// serviceWire describes a service with its task sets or deployments.
func (s *Service) serviceWire(tx store.Tx, sv *serviceRec, withTags bool) (*ServiceWire, error) {
	sets, _, err := loadSets(tx, sv.Cluster, sv.Name)
	if err != nil {
		return nil, err
	}
	dc := sv.DeploymentConfiguration
	out := &ServiceWire{
		ServiceArn: s.serviceARN(sv.Cluster, sv.Name), ServiceName: sv.Name, ClusterArn: s.clusterARN(sv.Cluster),
		LoadBalancers: sv.LoadBalancers, ServiceRegistries: orEmpty(sv.ServiceRegistries), Status: sv.Status,
		DesiredCount: int32(sv.DesiredCount), LaunchType: sv.LaunchType, CapacityProviderStrategy: sv.CapacityProviderStrategy,
		PlatformVersion: sv.PlatformVersion, TaskDefinition: sv.TaskDefinition, DeploymentConfiguration: &dc,
		Deployments: []DeploymentWire{}, RoleArn: sv.RoleArn, Events: []any{}, CreatedAt: sv.CreatedAt,
		PlacementConstraints: orEmpty(sv.PlacementConstraints), PlacementStrategy: orEmpty(sv.PlacementStrategy),
		NetworkConfiguration: sv.NetworkConfiguration, HealthCheckGracePeriodSeconds: sv.HealthCheckGracePeriodSeconds,
		SchedulingStrategy: sv.SchedulingStrategy, DeploymentController: DeploymentController{Type: sv.Controller},
		CreatedBy: sv.CreatedBy, EnableECSManagedTags: sv.EnableECSManagedTags, PropagateTags: sv.PropagateTags,
		EnableExecuteCommand: sv.EnableExecuteCommand,
	}
	if out.LoadBalancers == nil {
		out.LoadBalancers = []LoadBalancer{}
	}
	if withTags {
		out.Tags = sv.Tags
	}
	sortSets(sets)
	for _, set := range sets {
		out.RunningCount += int32(set.Running)
		out.PendingCount += int32(set.Pending)
		if set.Deployment {
			out.Deployments = append(out.Deployments, s.deploymentWire(set))
		} else {
			out.TaskSets = append(out.TaskSets, s.setWire(set, false))
		}
	}
	if sv.Controller != ctrlECS && out.TaskSets == nil {
		out.TaskSets = []TaskSetWire{}
	}
	return out, nil
}

// sortSets puts the primary first, then the newest.
func sortSets(sets []*setRec) {
	sort.SliceStable(sets, func(i, j int) bool {
		pi, pj := sets[i].Status == setPrimary, sets[j].Status == setPrimary
		if pi != pj {
			return pi
		}
		return sets[i].CreatedAt.After(sets[j].CreatedAt.Time)
	})
}

func (s *Service) setWire(set *setRec, withTags bool) TaskSetWire {
	w := TaskSetWire{
		ID: set.ID, TaskSetArn: s.taskSetARN(set.Cluster, set.Service, set.ID), ServiceArn: s.serviceARN(set.Cluster, set.Service),
		ClusterArn: s.clusterARN(set.Cluster), StartedBy: set.StartedBy, ExternalID: set.ExternalID, Status: set.Status,
		TaskDefinition: set.TaskDefinition, ComputedDesiredCount: int32(set.Desired), PendingCount: int32(set.Pending),
		RunningCount: int32(set.Running), CreatedAt: set.CreatedAt, UpdatedAt: set.UpdatedAt, LaunchType: set.LaunchType,
		CapacityProviderStrategy: set.CapacityProviderStrategy, PlatformVersion: set.PlatformVersion,
		NetworkConfiguration: set.NetworkConfiguration, LoadBalancers: set.LoadBalancers, ServiceRegistries: []any{},
		Scale: Scale{Value: ptr(set.ScaleValue), Unit: ptr("PERCENT")}, StabilityStatus: set.StabilityStatus,
		StabilityStatusAt: set.StabilityStatusAt,
	}
	if w.LoadBalancers == nil {
		w.LoadBalancers = []LoadBalancer{}
	}
	if withTags {
		w.Tags = set.Tags
	}
	return w
}

func (s *Service) deploymentWire(set *setRec) DeploymentWire {
	return DeploymentWire{
		ID: set.ID, Status: set.Status, TaskDefinition: set.TaskDefinition, DesiredCount: int32(set.Desired),
		PendingCount: int32(set.Pending), RunningCount: int32(set.Running), FailedTasks: int32(set.FailedTasks),
		CreatedAt: set.CreatedAt, UpdatedAt: set.UpdatedAt, LaunchType: set.LaunchType,
		CapacityProviderStrategy: set.CapacityProviderStrategy, PlatformVersion: set.PlatformVersion,
		NetworkConfiguration: set.NetworkConfiguration, RolloutState: set.RolloutState,
		RolloutStateReason: rolloutReason(set),
	}
}

func rolloutReason(set *setRec) string {
	switch set.RolloutState {
	case "COMPLETED":
		return "ECS deployment " + set.ID + " completed."
	case "IN_PROGRESS":
		return "ECS deployment " + set.ID + " in progress."
	}
	return ""
}

type updateServiceInput struct {
	Cluster                       *string                        `json:"cluster"`
	Service                       *string                        `json:"service"`
	DesiredCount                  *int32                         `json:"desiredCount"`
	TaskDefinition                *string                        `json:"taskDefinition"`
	CapacityProviderStrategy      []CapacityProviderStrategyItem `json:"capacityProviderStrategy"`
	DeploymentConfiguration       *DeploymentConfiguration       `json:"deploymentConfiguration"`
	NetworkConfiguration          *NetworkConfiguration          `json:"networkConfiguration"`
	PlacementConstraints          []any                          `json:"placementConstraints"`
	PlacementStrategy             []any                          `json:"placementStrategy"`
	PlatformVersion               *string                        `json:"platformVersion"`
	ForceNewDeployment            *bool                          `json:"forceNewDeployment"`
	HealthCheckGracePeriodSeconds *int32                         `json:"healthCheckGracePeriodSeconds"`
	DeploymentController          *DeploymentController          `json:"deploymentController"`
	EnableExecuteCommand          *bool                          `json:"enableExecuteCommand"`
	EnableECSManagedTags          *bool                          `json:"enableECSManagedTags"`
	LoadBalancers                 []LoadBalancer                 `json:"loadBalancers"`
	PropagateTags                 *string                        `json:"propagateTags"`
	ServiceRegistries             []any                          `json:"serviceRegistries"`
}

// updateService changes the desired count of any service. Only the ECS
// controller deploys a new task definition (or load balancers, network
// configuration, platform version) itself: it starts a new PRIMARY
// deployment that the scheduler rolls in. CODE_DEPLOY and EXTERNAL
// services change those through CodeDeploy or task sets, as in AWS.
func (s *Service) updateService(ctx context.Context, in *updateServiceInput) (*serviceOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceName(cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, invalid("desiredCount must be greater than or equal to 0.")
	}
	if err := checkDeploymentConfig(in.DeploymentConfiguration); err != nil {
		return nil, err
	}
	if err := checkNetwork(in.NetworkConfiguration); err != nil {
		return nil, err
	}
	if err := checkLaunch(nil, in.CapacityProviderStrategy); err != nil {
		return nil, err
	}
	var sv *serviceRec
	var td *taskDefRec
	err = s.st.View(ctx, func(tx store.Tx) error {
		sv, _, err = loadActiveService(tx, cluster, name)
		if err != nil {
			return err
		}
		if in.DeploymentController != nil && in.DeploymentController.Type != sv.Controller {
			return invalid("Updating the deployment controller of a service is not supported.")
		}
		if sv.Controller != ctrlECS {
			if in.TaskDefinition != nil {
				if sv.Controller == ctrlCodeDeploy {
					return invalid("Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.")
				}
				return invalid("Unable to update task definition on services with a EXTERNAL deployment controller. Please use Task Set API to update the task definition.")
			}
			if in.LoadBalancers != nil || in.NetworkConfiguration != nil || in.PlatformVersion != nil || deref(in.ForceNewDeployment) || in.CapacityProviderStrategy != nil {
				return invalid("Unable to update load balancers, network configuration, platform version, capacity provider strategy or force a new deployment on services with a %s deployment controller.", sv.Controller)
			}
			return nil
		}
		ref := sv.TaskDefinition
		if in.TaskDefinition != nil {
			ref = *in.TaskDefinition
		}
		td, err = taskDefForService(tx, s, ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	if in.LoadBalancers != nil || td != nil {
		lbs := sv.LoadBalancers
		if in.LoadBalancers != nil {
			lbs = in.LoadBalancers
		}
		if err := s.checkLoadBalancers(ctx, lbs, td); err != nil {
			return nil, err
		}
	}
	var out *ServiceWire
	err = s.st.Update(ctx, func(tx store.Tx) error {
		sv, rec, err := loadActiveService(tx, cluster, name)
		if err != nil {
			return err
		}
		if in.DesiredCount != nil {
			sv.DesiredCount = int(*in.DesiredCount)
		}
		if dc := in.DeploymentConfiguration; dc != nil {
			if dc.MaximumPercent != nil {
				sv.DeploymentConfiguration.MaximumPercent = dc.MaximumPercent
			}
			if dc.MinimumHealthyPercent != nil {
				sv.DeploymentConfiguration.MinimumHealthyPercent = dc.MinimumHealthyPercent
			}
			if dc.DeploymentCircuitBreaker != nil {
				sv.DeploymentConfiguration.DeploymentCircuitBreaker = dc.DeploymentCircuitBreaker
			}
			if dc.Alarms != nil {
				sv.DeploymentConfiguration.Alarms = dc.Alarms
			}
		}
		if in.HealthCheckGracePeriodSeconds != nil {
			sv.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
		}
		if in.EnableExecuteCommand != nil {
			sv.EnableExecuteCommand = *in.EnableExecuteCommand
		}
		if in.EnableECSManagedTags != nil {
			sv.EnableECSManagedTags = *in.EnableECSManagedTags
		}
		if in.PropagateTags != nil {
			sv.PropagateTags = *in.PropagateTags
		}
		if in.PlacementConstraints != nil {
			sv.PlacementConstraints = in.PlacementConstraints
		}
		if in.PlacementStrategy != nil {
			sv.PlacementStrategy = in.PlacementStrategy
		}
		if in.ServiceRegistries != nil {
			sv.ServiceRegistries = in.ServiceRegistries
		}
		if sv.Controller == ctrlECS {
			changed := deref(in.ForceNewDeployment) || td.TaskDefinitionArn != sv.TaskDefinition
			if in.LoadBalancers != nil && !sameJSON(in.LoadBalancers, sv.LoadBalancers) {
				sv.LoadBalancers, changed = in.LoadBalancers, true
			}
			if in.NetworkConfiguration != nil && !sameJSON(in.NetworkConfiguration, sv.NetworkConfiguration) {
				sv.NetworkConfiguration, changed = in.NetworkConfiguration, true
			}
			if in.PlatformVersion != nil && *in.PlatformVersion != sv.PlatformVersion {
				sv.PlatformVersion, changed = *in.PlatformVersion, true
			}
			if in.CapacityProviderStrategy != nil && !sameJSON(in.CapacityProviderStrategy, sv.CapacityProviderStrategy) {
				sv.CapacityProviderStrategy, changed = in.CapacityProviderStrategy, true
				sv.LaunchType = ""
			}
			sv.TaskDefinition = td.TaskDefinitionArn
			if changed {
				if err := s.newDeployment(tx, sv); err != nil {
					return err
				}
			}
		}
		if err := put(tx, kindService, rec.Key, cluster, rec.Version, sv); err != nil {
			return err
		}
		out, err = s.serviceWire(tx, sv, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "service updated", "cluster", cluster, "service", name, "desired_count", out.DesiredCount, "task_definition", out.TaskDefinition)
	s.wake()
	return &serviceOutput{Service: out}, nil
}

// newDeployment makes a new PRIMARY deployment from the service's current
// configuration; the former primary becomes ACTIVE and is scaled in by
// the scheduler as the new one comes up.
func (s *Service) newDeployment(tx store.Tx, sv *serviceRec) error {
	sets, recs, err := loadSets(tx, sv.Cluster, sv.Name)
	if err != nil {
		return err
	}
	now := s.nowTime()
	for i, set := range sets {
		if set.Status == setPrimary {
			set.Status = setActive
			set.UpdatedAt = now
			if err := put(tx, kindSet, recs[i].Key, recs[i].Index, recs[i].Version, set); err != nil {
				return err
			}
		}
	}
	d := &setRec{
		ID: newSetID(""), Cluster: sv.Cluster, Service: sv.Name, Deployment: true, Status: setPrimary,
		TaskDefinition: sv.TaskDefinition, LoadBalancers: sv.LoadBalancers, ScaleValue: 100, LaunchType: sv.LaunchType,
		PlatformVersion: sv.PlatformVersion, NetworkConfiguration: sv.NetworkConfiguration,
		CapacityProviderStrategy: sv.CapacityProviderStrategy, CreatedAt: now, UpdatedAt: now,
		StabilityStatus: "STABILIZING", StabilityStatusAt: now, RolloutState: "IN_PROGRESS",
	}
	return put(tx, kindSet, d.key(), serviceKey(sv.Cluster, sv.Name), 0, d)
}

type describeServicesInput struct {
	Cluster  *string  `json:"cluster"`
	Services []string `json:"services"`
	Include  []string `json:"include"`
}

type describeServicesOutput struct {
	Services []*ServiceWire `json:"services"`
	Failures []Failure      `json:"failures"`
}

func (s *Service) describeServices(ctx context.Context, in *describeServicesInput) (*describeServicesOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Services) == 0 {
		return nil, invalid("Services cannot be empty.")
	}
	if len(in.Services) > 10 {
		return nil, invalid("Services cannot have more than 10 elements")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalid("Invalid include value: %s", clip(inc))
		}
	}
	out := &describeServicesOutput{Services: []*ServiceWire{}, Failures: []Failure{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		for _, ref := range in.Services {
			name, err := s.serviceName(cluster, &ref)
			if err != nil {
				return err
			}
			sv, _, err := get[serviceRec](tx, kindService, serviceKey(cluster, name))
			if isNotFound(err) {
				out.Failures = append(out.Failures, Failure{Arn: s.serviceARN(cluster, name), Reason: "MISSING"})
				continue
			}
			if err != nil {
				return err
			}
			w, err := s.serviceWire(tx, sv, slices.Contains(in.Include, "TAGS"))
			if err != nil {
				return err
			}
			out.Services = append(out.Services, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type listServicesInput struct {
	Cluster            *string `json:"cluster"`
	NextToken          *string `json:"nextToken"`
	MaxResults         *int32  `json:"maxResults"`
	LaunchType         *string `json:"launchType"`
	SchedulingStrategy *string `json:"schedulingStrategy"`
}

type listServicesOutput struct {
	ServiceArns []string `json:"serviceArns"`
	NextToken   *string  `json:"nextToken,omitempty"`
}

func (s *Service) listServices(ctx context.Context, in *listServicesInput) (*listServicesOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	size, err := s.pageSizeOf(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if err := checkLaunch(in.LaunchType, nil); err != nil {
		return nil, err
	}
	if v := deref(in.SchedulingStrategy); v != "" && v != "REPLICA" && v != "DAEMON" {
		return nil, invalid("Invalid schedulingStrategy: %s", clip(v))
	}
	scope := awsproto.TokenScope("ecs:ListServices:" + cluster + ":" + deref(in.LaunchType) + ":" + deref(in.SchedulingStrategy))
	after, err := scope.After(deref(in.NextToken))
	if err != nil {
		return nil, badToken()
	}
	var keys []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadCluster(tx, cluster); err != nil {
			return err
		}
		svcs, recs, err := list[serviceRec](tx, kindService, store.ListOptions{Index: cluster, After: after})
		for i, sv := range svcs {
			if sv.Status == statusInactive ||
				(in.LaunchType != nil && sv.LaunchType != *in.LaunchType) ||
				(in.SchedulingStrategy != nil && sv.SchedulingStrategy != *in.SchedulingStrategy) {
				continue
			}
			keys = append(keys, recs[i].Key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next := awsproto.PageKeys(scope, keys, size)
	out := &listServicesOutput{ServiceArns: []string{}}
	for _, k := range page {
		out.ServiceArns = append(out.ServiceArns, s.serviceARN(cluster, k[len(cluster)+1:]))
	}
	if next != "" {
		out.NextToken = &next
	}
	return out, nil
}

type deleteServiceInput struct {
	Cluster *string `json:"cluster"`
	Service *string `json:"service"`
	Force   *bool   `json:"force"`
}

// deleteService scales the service to zero and marks it DRAINING; the
// scheduler drains and stops its tasks and then makes it INACTIVE.
func (s *Service) deleteService(ctx context.Context, in *deleteServiceInput) (*serviceOutput, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceName(cluster, in.Service)
	if err != nil {
		return nil, err
	}
	var out *ServiceWire
	err = s.st.Update(ctx, func(tx store.Tx) error {
		sv, rec, err := loadService(tx, cluster, name)
		if err != nil {
			return err
		}
		if sv.Status == statusActive {
			if sv.DesiredCount > 0 && !deref(in.Force) {
				return invalid("The service cannot be stopped while it is scaled above 0.")
			}
			sv.Status = statusDraining
			sv.DesiredCount = 0
			if err := put(tx, kindService, rec.Key, cluster, rec.Version, sv); err != nil {
				return err
			}
		}
		out, err = s.serviceWire(tx, sv, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "service deleted", "cluster", cluster, "service", name)
	s.wake()
	return &serviceOutput{Service: out}, nil
}
