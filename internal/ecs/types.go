package ecs

import "github.com/cutover/cutover/internal/awsproto"

// Wire shapes, named and spelled as in the ECS model
// (botocore data/ecs/2014-11-13). Members cutover does not act on but AWS
// returns are kept when a client sends them, so what was stored is what
// is described.

// Tag is an ECS resource tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// KeyValuePair is an environment variable or a statistic.
type KeyValuePair struct {
	Name  *string `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// PortMapping is a container's port mapping.
type PortMapping struct {
	ContainerPort      *int32  `json:"containerPort,omitempty"`
	HostPort           *int32  `json:"hostPort,omitempty"`
	Protocol           *string `json:"protocol,omitempty"`
	Name               *string `json:"name,omitempty"`
	AppProtocol        *string `json:"appProtocol,omitempty"`
	ContainerPortRange *string `json:"containerPortRange,omitempty"`
}

// HealthCheck is a container health check; durations are seconds.
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    *int32   `json:"interval,omitempty"`
	Timeout     *int32   `json:"timeout,omitempty"`
	Retries     *int32   `json:"retries,omitempty"`
	StartPeriod *int32   `json:"startPeriod,omitempty"`
}

// ContainerDefinition is one container of a task definition. Members
// outside the subset cutover runs are kept verbatim in Extra-free form:
// the most used ones are listed so they round-trip.
type ContainerDefinition struct {
	Name              *string           `json:"name,omitempty"`
	Image             *string           `json:"image,omitempty"`
	Cpu               *int32            `json:"cpu,omitempty"`
	Memory            *int32            `json:"memory,omitempty"`
	MemoryReservation *int32            `json:"memoryReservation,omitempty"`
	Links             []string          `json:"links,omitempty"`
	PortMappings      []PortMapping     `json:"portMappings"`
	Essential         *bool             `json:"essential,omitempty"`
	EntryPoint        []string          `json:"entryPoint,omitempty"`
	Command           []string          `json:"command,omitempty"`
	Environment       []KeyValuePair    `json:"environment"`
	MountPoints       []any             `json:"mountPoints"`
	VolumesFrom       []any             `json:"volumesFrom"`
	Secrets           []any             `json:"secrets,omitempty"`
	StartTimeout      *int32            `json:"startTimeout,omitempty"`
	StopTimeout       *int32            `json:"stopTimeout,omitempty"`
	Hostname          *string           `json:"hostname,omitempty"`
	User              *string           `json:"user,omitempty"`
	WorkingDirectory  *string           `json:"workingDirectory,omitempty"`
	DockerLabels      map[string]string `json:"dockerLabels,omitempty"`
	LogConfiguration  any               `json:"logConfiguration,omitempty"`
	HealthCheck       *HealthCheck      `json:"healthCheck,omitempty"`
	Ulimits           []any             `json:"ulimits,omitempty"`
	DependsOn         []any             `json:"dependsOn,omitempty"`
	SystemControls    []any             `json:"systemControls"`
}

// TaskDefinition is a registered task definition.
type TaskDefinition struct {
	TaskDefinitionArn       string                `json:"taskDefinitionArn"`
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
	Family                  string                `json:"family"`
	TaskRoleArn             *string               `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn        *string               `json:"executionRoleArn,omitempty"`
	NetworkMode             *string               `json:"networkMode,omitempty"`
	Revision                int32                 `json:"revision"`
	Volumes                 []any                 `json:"volumes"`
	Status                  string                `json:"status"`
	RequiresAttributes      []any                 `json:"requiresAttributes,omitempty"`
	PlacementConstraints    []any                 `json:"placementConstraints"`
	Compatibilities         []string              `json:"compatibilities"`
	RuntimePlatform         any                   `json:"runtimePlatform,omitempty"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities,omitempty"`
	Cpu                     *string               `json:"cpu,omitempty"`
	Memory                  *string               `json:"memory,omitempty"`
	PidMode                 *string               `json:"pidMode,omitempty"`
	IpcMode                 *string               `json:"ipcMode,omitempty"`
	RegisteredAt            awsproto.Time         `json:"registeredAt"`
	DeregisteredAt          *awsproto.Time        `json:"deregisteredAt,omitempty"`
	RegisteredBy            string                `json:"registeredBy,omitempty"`
	EphemeralStorage        any                   `json:"ephemeralStorage,omitempty"`
}

// LoadBalancer ties a container port to a target group.
type LoadBalancer struct {
	TargetGroupArn   string `json:"targetGroupArn,omitempty"`
	LoadBalancerName string `json:"loadBalancerName,omitempty"`
	ContainerName    string `json:"containerName,omitempty"`
	ContainerPort    int    `json:"containerPort,omitempty"`
}

// AwsVpcConfiguration is stored and returned; there is no VPC here.
type AwsVpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIp *string  `json:"assignPublicIp,omitempty"`
}

// NetworkConfiguration is stored and returned as given.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// CapacityProviderStrategyItem is stored and returned as given.
type CapacityProviderStrategyItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           *int32 `json:"weight,omitempty"`
	Base             *int32 `json:"base,omitempty"`
}

// DeploymentController is ECS, CODE_DEPLOY or EXTERNAL.
type DeploymentController struct {
	Type string `json:"type"`
}

// DeploymentCircuitBreaker is stored and returned.
type DeploymentCircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// DeploymentConfiguration bounds a rolling update.
type DeploymentConfiguration struct {
	DeploymentCircuitBreaker *DeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int32                    `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int32                    `json:"minimumHealthyPercent,omitempty"`
	Alarms                   any                       `json:"alarms,omitempty"`
	Strategy                 *string                   `json:"strategy,omitempty"`
}

// Scale is a task set's share of the service's desired count.
type Scale struct {
	Value *float64 `json:"value,omitempty"`
	Unit  *string  `json:"unit,omitempty"`
}

// Failure is one item a Describe call could not find.
type Failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Cluster is an ECS cluster as described.
type Cluster struct {
	ClusterArn                        string         `json:"clusterArn"`
	ClusterName                       string         `json:"clusterName"`
	Status                            string         `json:"status"`
	RegisteredContainerInstancesCount int32          `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int32          `json:"runningTasksCount"`
	PendingTasksCount                 int32          `json:"pendingTasksCount"`
	ActiveServicesCount               int32          `json:"activeServicesCount"`
	Statistics                        []KeyValuePair `json:"statistics"`
	Tags                              []Tag          `json:"tags,omitempty"`
	Settings                          []any          `json:"settings,omitempty"`
	Configuration                     any            `json:"configuration,omitempty"`
	CapacityProviders                 []string       `json:"capacityProviders"`
	DefaultCapacityProviderStrategy   []any          `json:"defaultCapacityProviderStrategy"`
}

// TaskSetWire is ECS's TaskSet shape.
type TaskSetWire struct {
	ID                       string                         `json:"id"`
	TaskSetArn               string                         `json:"taskSetArn"`
	ServiceArn               string                         `json:"serviceArn"`
	ClusterArn               string                         `json:"clusterArn"`
	StartedBy                string                         `json:"startedBy,omitempty"`
	ExternalID               string                         `json:"externalId,omitempty"`
	Status                   string                         `json:"status"`
	TaskDefinition           string                         `json:"taskDefinition"`
	ComputedDesiredCount     int32                          `json:"computedDesiredCount"`
	PendingCount             int32                          `json:"pendingCount"`
	RunningCount             int32                          `json:"runningCount"`
	CreatedAt                awsproto.Time                  `json:"createdAt"`
	UpdatedAt                awsproto.Time                  `json:"updatedAt"`
	LaunchType               string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	LoadBalancers            []LoadBalancer                 `json:"loadBalancers"`
	ServiceRegistries        []any                          `json:"serviceRegistries"`
	Scale                    Scale                          `json:"scale"`
	StabilityStatus          string                         `json:"stabilityStatus"`
	StabilityStatusAt        awsproto.Time                  `json:"stabilityStatusAt"`
	Tags                     []Tag                          `json:"tags,omitempty"`
}

// DeploymentWire is ECS's Deployment shape (ECS controller only).
type DeploymentWire struct {
	ID                       string                         `json:"id"`
	Status                   string                         `json:"status"`
	TaskDefinition           string                         `json:"taskDefinition"`
	DesiredCount             int32                          `json:"desiredCount"`
	PendingCount             int32                          `json:"pendingCount"`
	RunningCount             int32                          `json:"runningCount"`
	FailedTasks              int32                          `json:"failedTasks"`
	CreatedAt                awsproto.Time                  `json:"createdAt"`
	UpdatedAt                awsproto.Time                  `json:"updatedAt"`
	LaunchType               string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	RolloutState             string                         `json:"rolloutState,omitempty"`
	RolloutStateReason       string                         `json:"rolloutStateReason,omitempty"`
}

// ServiceWire is ECS's Service shape.
type ServiceWire struct {
	ServiceArn                    string                         `json:"serviceArn"`
	ServiceName                   string                         `json:"serviceName"`
	ClusterArn                    string                         `json:"clusterArn"`
	LoadBalancers                 []LoadBalancer                 `json:"loadBalancers"`
	ServiceRegistries             []any                          `json:"serviceRegistries"`
	Status                        string                         `json:"status"`
	DesiredCount                  int32                          `json:"desiredCount"`
	RunningCount                  int32                          `json:"runningCount"`
	PendingCount                  int32                          `json:"pendingCount"`
	LaunchType                    string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy      []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion               string                         `json:"platformVersion,omitempty"`
	TaskDefinition                string                         `json:"taskDefinition,omitempty"`
	DeploymentConfiguration       *DeploymentConfiguration       `json:"deploymentConfiguration,omitempty"`
	TaskSets                      []TaskSetWire                  `json:"taskSets,omitempty"`
	Deployments                   []DeploymentWire               `json:"deployments"`
	RoleArn                       string                         `json:"roleArn,omitempty"`
	Events                        []any                          `json:"events"`
	CreatedAt                     awsproto.Time                  `json:"createdAt"`
	PlacementConstraints          []any                          `json:"placementConstraints"`
	PlacementStrategy             []any                          `json:"placementStrategy"`
	NetworkConfiguration          *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds *int32                         `json:"healthCheckGracePeriodSeconds,omitempty"`
	SchedulingStrategy            string                         `json:"schedulingStrategy"`
	DeploymentController          DeploymentController           `json:"deploymentController"`
	Tags                          []Tag                          `json:"tags,omitempty"`
	CreatedBy                     string                         `json:"createdBy,omitempty"`
	EnableECSManagedTags          bool                           `json:"enableECSManagedTags"`
	PropagateTags                 string                         `json:"propagateTags,omitempty"`
	EnableExecuteCommand          bool                           `json:"enableExecuteCommand"`
}

// NetworkBinding says where a container port is reachable.
type NetworkBinding struct {
	BindIP        string `json:"bindIP,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// ContainerWire is ECS's Container shape inside a Task.
type ContainerWire struct {
	ContainerArn      string           `json:"containerArn"`
	TaskArn           string           `json:"taskArn"`
	Name              string           `json:"name"`
	Image             string           `json:"image,omitempty"`
	RuntimeID         string           `json:"runtimeId,omitempty"`
	LastStatus        string           `json:"lastStatus"`
	ExitCode          *int32           `json:"exitCode,omitempty"`
	Reason            string           `json:"reason,omitempty"`
	NetworkBindings   []NetworkBinding `json:"networkBindings"`
	HealthStatus      string           `json:"healthStatus,omitempty"`
	Cpu               string           `json:"cpu,omitempty"`
	Memory            string           `json:"memory,omitempty"`
	MemoryReservation string           `json:"memoryReservation,omitempty"`
}

// TaskWire is ECS's Task shape.
type TaskWire struct {
	TaskArn           string          `json:"taskArn"`
	ClusterArn        string          `json:"clusterArn"`
	TaskDefinitionArn string          `json:"taskDefinitionArn"`
	Containers        []ContainerWire `json:"containers"`
	Cpu               string          `json:"cpu,omitempty"`
	Memory            string          `json:"memory,omitempty"`
	LastStatus        string          `json:"lastStatus"`
	DesiredStatus     string          `json:"desiredStatus"`
	HealthStatus      string          `json:"healthStatus"`
	Group             string          `json:"group,omitempty"`
	StartedBy         string          `json:"startedBy,omitempty"`
	LaunchType        string          `json:"launchType,omitempty"`
	PlatformVersion   string          `json:"platformVersion,omitempty"`
	CreatedAt         awsproto.Time   `json:"createdAt"`
	StartedAt         *awsproto.Time  `json:"startedAt,omitempty"`
	StoppingAt        *awsproto.Time  `json:"stoppingAt,omitempty"`
	StoppedAt         *awsproto.Time  `json:"stoppedAt,omitempty"`
	StopCode          string          `json:"stopCode,omitempty"`
	StoppedReason     string          `json:"stoppedReason,omitempty"`
	Version           int64           `json:"version"`
	Overrides         map[string]any  `json:"overrides"`
	Attachments       []any           `json:"attachments"`
	Tags              []Tag           `json:"tags,omitempty"`
}
