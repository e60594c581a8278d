package ecs

import (
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// clusterRec is a stored cluster.
type clusterRec struct {
	Name              string        `json:"name"`
	Status            string        `json:"status"` // ACTIVE or INACTIVE
	Tags              []Tag         `json:"tags,omitempty"`
	Settings          []any         `json:"settings,omitempty"`
	Configuration     any           `json:"configuration,omitempty"`
	CapacityProviders []string      `json:"capacityProviders,omitempty"`
	DefaultStrategy   []any         `json:"defaultStrategy,omitempty"`
	CreatedAt         awsproto.Time `json:"createdAt"`
}

// taskDefRec is a stored task definition revision with its tags.
type taskDefRec struct {
	TaskDefinition
	Tags []Tag `json:"tags,omitempty"`
}

// Service statuses.
const (
	statusActive   = "ACTIVE"
	statusDraining = "DRAINING"
	statusInactive = "INACTIVE"
)

// Deployment controllers.
const (
	ctrlECS        = "ECS"
	ctrlCodeDeploy = "CODE_DEPLOY"
	ctrlExternal   = "EXTERNAL"
)

// Task set (and deployment) statuses.
const (
	setPrimary  = "PRIMARY"
	setActive   = "ACTIVE"
	setDraining = "DRAINING"
)

// serviceRec is a stored service: what was asked for. Counts live on its
// sets.
type serviceRec struct {
	Name                          string                         `json:"name"`
	Cluster                       string                         `json:"cluster"`
	Status                        string                         `json:"status"`
	DesiredCount                  int                            `json:"desiredCount"`
	TaskDefinition                string                         `json:"taskDefinition,omitempty"`
	LoadBalancers                 []LoadBalancer                 `json:"loadBalancers,omitempty"`
	LaunchType                    string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy      []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion               string                         `json:"platformVersion,omitempty"`
	DeploymentConfiguration       DeploymentConfiguration        `json:"deploymentConfiguration"`
	NetworkConfiguration          *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds *int32                         `json:"healthCheckGracePeriodSeconds,omitempty"`
	SchedulingStrategy            string                         `json:"schedulingStrategy"`
	Controller                    string                         `json:"controller"`
	Tags                          []Tag                          `json:"tags,omitempty"`
	RoleArn                       string                         `json:"roleArn,omitempty"`
	PropagateTags                 string                         `json:"propagateTags,omitempty"`
	EnableECSManagedTags          bool                           `json:"enableECSManagedTags,omitempty"`
	EnableExecuteCommand          bool                           `json:"enableExecuteCommand,omitempty"`
	PlacementConstraints          []any                          `json:"placementConstraints,omitempty"`
	PlacementStrategy             []any                          `json:"placementStrategy,omitempty"`
	ServiceRegistries             []any                          `json:"serviceRegistries,omitempty"`
	CreatedAt                     awsproto.Time                  `json:"createdAt"`
	CreatedBy                     string                         `json:"createdBy,omitempty"`
}

// slotState is the scheduler's memory of one task slot of a set.
type slotState struct {
	// Gen is the generation of the slot's current task: it grows each
	// time a task of the slot is given up, so the replacement gets a new id.
	Gen int `json:"gen"`
	// Failures counts consecutive tasks that failed to start or stopped
	// before they were stable; NextStart is when the next may start.
	Failures    int       `json:"failures,omitempty"`
	NextStart   time.Time `json:"nextStart,omitzero"`
	LastFailure string    `json:"lastFailure,omitempty"`
}

// setRec is a stored task set, or an ECS-controller deployment (which the
// scheduler treats the same way: a group of identical tasks).
type setRec struct {
	ID                       string                         `json:"id"`
	Cluster                  string                         `json:"cluster"`
	Service                  string                         `json:"service"`
	Deployment               bool                           `json:"deployment,omitempty"`
	ExternalID               string                         `json:"externalId,omitempty"`
	StartedBy                string                         `json:"startedBy,omitempty"`
	Status                   string                         `json:"status"`
	TaskDefinition           string                         `json:"taskDefinition"`
	LoadBalancers            []LoadBalancer                 `json:"loadBalancers,omitempty"`
	ScaleValue               float64                        `json:"scaleValue"`
	LaunchType               string                         `json:"launchType,omitempty"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	Tags                     []Tag                          `json:"tags,omitempty"`
	CreatedAt                awsproto.Time                  `json:"createdAt"`
	UpdatedAt                awsproto.Time                  `json:"updatedAt"`

	// Kept by the scheduler.
	Desired           int                `json:"desired"`
	Pending           int                `json:"pending"`
	Running           int                `json:"running"`
	Healthy           int                `json:"healthy"`
	FailedTasks       int                `json:"failedTasks,omitempty"`
	StabilityStatus   string             `json:"stabilityStatus"`
	StabilityStatusAt awsproto.Time      `json:"stabilityStatusAt"`
	FailureReason     string             `json:"failureReason,omitempty"`
	RolloutState      string             `json:"rolloutState,omitempty"`
	Slots             map[int]*slotState `json:"slots,omitempty"`

	// standIn marks a set made up for tasks whose record is gone; it is
	// never stored.
	standIn bool
}

func (r *setRec) key() string { return setKey(r.Cluster, r.Service, r.ID) }

// targetGroup is the set's (first) target group, or "".
func (r *setRec) targetGroup() (LoadBalancer, bool) {
	for _, lb := range r.LoadBalancers {
		if lb.TargetGroupArn != "" {
			return lb, true
		}
	}
	return LoadBalancer{}, false
}

// taskRec is a stored task: the ECS view the scheduler keeps current.
type taskRec struct {
	ID                string          `json:"id"`
	Cluster           string          `json:"cluster"`
	Service           string          `json:"service,omitempty"`
	SetID             string          `json:"setId,omitempty"`
	Slot              int             `json:"slot"`
	Gen               int             `json:"gen"`
	TaskDefinitionArn string          `json:"taskDefinitionArn"`
	Family            string          `json:"family"`
	StartedBy         string          `json:"startedBy,omitempty"`
	Group             string          `json:"group,omitempty"`
	LaunchType        string          `json:"launchType,omitempty"`
	PlatformVersion   string          `json:"platformVersion,omitempty"`
	Cpu               string          `json:"cpu,omitempty"`
	Memory            string          `json:"memory,omitempty"`
	LastStatus        string          `json:"lastStatus"`
	DesiredStatus     string          `json:"desiredStatus"`
	Health            string          `json:"health"`
	Containers        []ContainerWire `json:"containers"`
	CreatedAt         awsproto.Time   `json:"createdAt"`
	StartedAt         *awsproto.Time  `json:"startedAt,omitempty"`
	StoppingAt        *awsproto.Time  `json:"stoppingAt,omitempty"`
	StoppedAt         *awsproto.Time  `json:"stoppedAt,omitempty"`
	StopCode          string          `json:"stopCode,omitempty"`
	StoppedReason     string          `json:"stoppedReason,omitempty"`
	Tags              []Tag           `json:"tags,omitempty"`

	// Load balancer bookkeeping: the target this task registered, and
	// when it was deregistered (draining starts).
	TargetGroupArn string    `json:"targetGroupArn,omitempty"`
	TargetHost     string    `json:"targetHost,omitempty"`
	TargetPort     int       `json:"targetPort,omitempty"`
	Registered     bool      `json:"registered,omitempty"`
	DeregisteredAt time.Time `json:"deregisteredAt,omitzero"`
	// LBHealthy is set once the load balancer has seen the target healthy.
	LBHealthy bool `json:"lbHealthy,omitempty"`
	// HasHealthCheck: an essential container has a health check, which
	// must pass before the task is registered.
	HasHealthCheck bool `json:"hasHealthCheck,omitempty"`
}

func (t *taskRec) final() bool { return t.LastStatus == "STOPPED" && t.DesiredStatus == "STOPPED" }

// get and put wrap the store helpers with this package's error text.
func get[T any](tx store.Tx, kind, key string) (*T, *store.Record, error) {
	return store.GetJSON[T](tx, kind, key)
}

func put(tx store.Tx, kind, key, index string, version int64, v any) error {
	return store.PutJSON(tx, &store.Record{Kind: kind, Key: key, Index: index, Version: version}, v)
}

func list[T any](tx store.Tx, kind string, opts store.ListOptions) ([]*T, []*store.Record, error) {
	return store.ListJSON[T](tx, kind, opts)
}
