package codedeploy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
)

// Deployment statuses (DeploymentStatus).
const (
	StatusCreated    = "Created"
	StatusQueued     = "Queued"
	StatusInProgress = "InProgress"
	StatusBaking     = "Baking"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
	StatusStopped    = "Stopped"
	StatusReady      = "Ready"
)

// Terminal reports whether a deployment status is final.
func Terminal(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusStopped
}

// Lifecycle event and target statuses (LifecycleEventStatus, TargetStatus).
const (
	EventPending    = "Pending"
	EventInProgress = "InProgress"
	EventSucceeded  = "Succeeded"
	EventFailed     = "Failed"
	EventSkipped    = "Skipped"
	EventUnknown    = "Unknown"
	TargetReady     = "Ready"
)

// Deployment creators (DeploymentCreator).
const (
	CreatorUser     = "user"
	CreatorRollback = "codeDeployRollback"
)

// TargetInstances of a CreateDeployment request and a DeploymentInfo.
type TargetInstances struct {
	TagFilters        []EC2TagFilter `json:"tagFilters,omitempty"`
	AutoScalingGroups []string       `json:"autoScalingGroups,omitempty"`
	EC2TagSet         *EC2TagSet     `json:"ec2TagSet,omitempty"`
}

// ErrorInformation is why a deployment failed or stopped.
type ErrorInformation struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// DeploymentOverview counts a deployment's targets by status.
type DeploymentOverview struct {
	Pending    int64 `json:"Pending"`
	InProgress int64 `json:"InProgress"`
	Succeeded  int64 `json:"Succeeded"`
	Failed     int64 `json:"Failed"`
	Skipped    int64 `json:"Skipped"`
	Ready      int64 `json:"Ready"`
}

// RollbackInfo links a deployment and its rollback.
type RollbackInfo struct {
	RollbackDeploymentID           string `json:"rollbackDeploymentId,omitempty"`
	RollbackTriggeringDeploymentID string `json:"rollbackTriggeringDeploymentId,omitempty"`
	RollbackMessage                string `json:"rollbackMessage,omitempty"`
}

// RelatedDeployments of an auto-update deployment (never set by cutover yet).
type RelatedDeployments struct {
	AutoUpdateOutdatedInstancesRootDeploymentID string   `json:"autoUpdateOutdatedInstancesRootDeploymentId,omitempty"`
	AutoUpdateOutdatedInstancesDeploymentIDs    []string `json:"autoUpdateOutdatedInstancesDeploymentIds,omitempty"`
}

// DeploymentInfo is a deployment as GetDeployment reports it.
type DeploymentInfo struct {
	ApplicationName                    string                            `json:"applicationName"`
	DeploymentGroupName                string                            `json:"deploymentGroupName"`
	DeploymentConfigName               string                            `json:"deploymentConfigName"`
	DeploymentID                       string                            `json:"deploymentId"`
	PreviousRevision                   *RevisionLocation                 `json:"previousRevision,omitempty"`
	Revision                           *RevisionLocation                 `json:"revision,omitempty"`
	Status                             string                            `json:"status"`
	ErrorInformation                   *ErrorInformation                 `json:"errorInformation,omitempty"`
	CreateTime                         awsproto.Time                     `json:"createTime"`
	StartTime                          *awsproto.Time                    `json:"startTime,omitempty"`
	CompleteTime                       *awsproto.Time                    `json:"completeTime,omitempty"`
	DeploymentOverview                 *DeploymentOverview               `json:"deploymentOverview,omitempty"`
	Description                        string                            `json:"description,omitempty"`
	Creator                            string                            `json:"creator"`
	IgnoreApplicationStopFailures      bool                              `json:"ignoreApplicationStopFailures"`
	AutoRollbackConfiguration          *AutoRollbackConfiguration        `json:"autoRollbackConfiguration,omitempty"`
	UpdateOutdatedInstancesOnly        bool                              `json:"updateOutdatedInstancesOnly"`
	RollbackInfo                       *RollbackInfo                     `json:"rollbackInfo,omitempty"`
	DeploymentStyle                    *DeploymentStyle                  `json:"deploymentStyle,omitempty"`
	TargetInstances                    *TargetInstances                  `json:"targetInstances,omitempty"`
	InstanceTerminationWaitTimeStarted bool                              `json:"instanceTerminationWaitTimeStarted"`
	BlueGreenDeploymentConfiguration   *BlueGreenDeploymentConfiguration `json:"blueGreenDeploymentConfiguration,omitempty"`
	LoadBalancerInfo                   *LoadBalancerInfo                 `json:"loadBalancerInfo,omitempty"`
	AdditionalDeploymentStatusInfo     string                            `json:"additionalDeploymentStatusInfo,omitempty"`
	FileExistsBehavior                 string                            `json:"fileExistsBehavior,omitempty"`
	DeploymentStatusMessages           []string                          `json:"deploymentStatusMessages"`
	ComputePlatform                    string                            `json:"computePlatform"`
	ExternalID                         string                            `json:"externalId,omitempty"`
	RelatedDeployments                 *RelatedDeployments               `json:"relatedDeployments,omitempty"`
	OverrideAlarmConfiguration         *AlarmConfiguration               `json:"overrideAlarmConfiguration,omitempty"`
}

// Diagnostics of a lifecycle event.
type Diagnostics struct {
	ErrorCode  string `json:"errorCode,omitempty"`
	ScriptName string `json:"scriptName,omitempty"`
	Message    string `json:"message,omitempty"`
	LogTail    string `json:"logTail,omitempty"`
}

// LifecycleEvent is one event of a deployment target.
type LifecycleEvent struct {
	LifecycleEventName string         `json:"lifecycleEventName"`
	Diagnostics        *Diagnostics   `json:"diagnostics,omitempty"`
	StartTime          *awsproto.Time `json:"startTime,omitempty"`
	EndTime            *awsproto.Time `json:"endTime,omitempty"`
	Status             string         `json:"status"`
}

// ECSTaskSet is a task set as a deployment target reports it. "identifer"
// is AWS's spelling.
type ECSTaskSet struct {
	Identifer     string           `json:"identifer,omitempty"`
	DesiredCount  int64            `json:"desiredCount"`
	PendingCount  int64            `json:"pendingCount"`
	RunningCount  int64            `json:"runningCount"`
	Status        string           `json:"status,omitempty"`
	TrafficWeight float64          `json:"trafficWeight"`
	TargetGroup   *TargetGroupInfo `json:"targetGroup,omitempty"`
	TaskSetLabel  string           `json:"taskSetLabel,omitempty"`
}

// ECSTarget is the ECS service an ECS deployment updates.
type ECSTarget struct {
	DeploymentID    string           `json:"deploymentId"`
	TargetID        string           `json:"targetId"`
	TargetArn       string           `json:"targetArn,omitempty"`
	LastUpdatedAt   awsproto.Time    `json:"lastUpdatedAt"`
	LifecycleEvents []LifecycleEvent `json:"lifecycleEvents"`
	Status          string           `json:"status"`
	TaskSetsInfo    []ECSTaskSet     `json:"taskSetsInfo"`
}

// Event returns the named lifecycle event, or nil.
func (t *ECSTarget) Event(name string) *LifecycleEvent {
	for i := range t.LifecycleEvents {
		if t.LifecycleEvents[i].LifecycleEventName == name {
			return &t.LifecycleEvents[i]
		}
	}
	return nil
}

// EventTarget is a deployment target whose lifecycle events the engine
// records, whatever its platform.
type EventTarget interface {
	Event(name string) *LifecycleEvent
	// Events is the target's lifecycle events, to change in place.
	Events() []LifecycleEvent
	TargetStatus() string
	SetTargetStatus(status string)
	// Touch sets lastUpdatedAt.
	Touch(now time.Time)
}

func (t *ECSTarget) Events() []LifecycleEvent { return t.LifecycleEvents }
func (t *ECSTarget) TargetStatus() string     { return t.Status }
func (t *ECSTarget) SetTargetStatus(s string) { t.Status = s }
func (t *ECSTarget) Touch(now time.Time)      { t.LastUpdatedAt = awsproto.NewTime(now) }

// LambdaFunctionInfo is the function and alias a Lambda deployment shifts.
type LambdaFunctionInfo struct {
	FunctionName        string  `json:"functionName,omitempty"`
	FunctionAlias       string  `json:"functionAlias,omitempty"`
	CurrentVersion      string  `json:"currentVersion,omitempty"`
	TargetVersion       string  `json:"targetVersion,omitempty"`
	TargetVersionWeight float64 `json:"targetVersionWeight"`
}

// LambdaTarget is the function alias a Lambda deployment updates.
type LambdaTarget struct {
	DeploymentID       string              `json:"deploymentId"`
	TargetID           string              `json:"targetId"`
	TargetArn          string              `json:"targetArn,omitempty"`
	Status             string              `json:"status"`
	LastUpdatedAt      awsproto.Time       `json:"lastUpdatedAt"`
	LifecycleEvents    []LifecycleEvent    `json:"lifecycleEvents"`
	LambdaFunctionInfo *LambdaFunctionInfo `json:"lambdaFunctionInfo,omitempty"`
}

// Event returns the named lifecycle event, or nil.
func (t *LambdaTarget) Event(name string) *LifecycleEvent {
	for i := range t.LifecycleEvents {
		if t.LifecycleEvents[i].LifecycleEventName == name {
			return &t.LifecycleEvents[i]
		}
	}
	return nil
}

func (t *LambdaTarget) Events() []LifecycleEvent { return t.LifecycleEvents }
func (t *LambdaTarget) TargetStatus() string     { return t.Status }
func (t *LambdaTarget) SetTargetStatus(s string) { t.Status = s }
func (t *LambdaTarget) Touch(now time.Time)      { t.LastUpdatedAt = awsproto.NewTime(now) }

// DeploymentTarget is one target of BatchGetDeploymentTargets.
type DeploymentTarget struct {
	DeploymentTargetType string          `json:"deploymentTargetType"`
	ECSTarget            *ECSTarget      `json:"ecsTarget,omitempty"`
	LambdaTarget         *LambdaTarget   `json:"lambdaTarget,omitempty"`
	InstanceTarget       *InstanceTarget `json:"instanceTarget,omitempty"`
}

// soleTarget is the single target of an ECS or Lambda deployment, nil
// before it started (or for platforms with many targets).
type soleTarget interface {
	EventTarget
	ID() string
	wire() DeploymentTarget
}

func (t *ECSTarget) ID() string { return t.TargetID }

func (t *ECSTarget) wire() DeploymentTarget {
	c := *t
	if c.LifecycleEvents == nil {
		c.LifecycleEvents = []LifecycleEvent{}
	}
	if c.TaskSetsInfo == nil {
		c.TaskSetsInfo = []ECSTaskSet{}
	}
	return DeploymentTarget{DeploymentTargetType: "ECSTarget", ECSTarget: &c}
}

func (t *LambdaTarget) ID() string { return t.TargetID }

func (t *LambdaTarget) wire() DeploymentTarget {
	c := *t
	if c.LifecycleEvents == nil {
		c.LifecycleEvents = []LifecycleEvent{}
	}
	return DeploymentTarget{DeploymentTargetType: "LambdaTarget", LambdaTarget: &c}
}

func (d *Deployment) soleTarget() soleTarget {
	switch {
	case d.Target != nil:
		return d.Target
	case d.Lambda != nil:
		return d.Lambda
	}
	return nil
}

// Hook execution statuses the engine and PutLifecycleEventHookExecutionStatus
// move through.
const (
	HookPending   = "Pending"    // execution id made, the hook not yet reached
	HookInvoked   = "InProgress" // the hook accepted the call; its answer is awaited
	HookSucceeded = "Succeeded"
	HookFailed    = "Failed"
)

// HookExecution is one call of a lifecycle hook (a Lambda function or, in
// cutover, a URL); the hook answers with PutLifecycleEventHookExecutionStatus
// naming its ID.
type HookExecution struct {
	ID       string        `json:"id"`
	Event    string        `json:"event"`
	Target   string        `json:"target"`
	Status   string        `json:"status"`
	Started  awsproto.Time `json:"started"`
	Deadline awsproto.Time `json:"deadline"`
	// Reported is when the hook answered.
	Reported *awsproto.Time `json:"reported,omitempty"`
}

// DeploymentControl holds what users asked of a running deployment; the
// handlers write it and the engine acts on it.
type DeploymentControl struct {
	StopRequested    bool           `json:"stopRequested,omitempty"`
	StopAutoRollback *bool          `json:"stopAutoRollback,omitempty"`
	StopRequestedAt  *awsproto.Time `json:"stopRequestedAt,omitempty"`
	// ReadyContinued: ContinueDeployment READY_WAIT.
	ReadyContinued bool `json:"readyContinued,omitempty"`
	// TerminationWaitSkipped: ContinueDeployment TERMINATION_WAIT or
	// SkipWaitTimeForInstanceTermination.
	TerminationWaitSkipped bool `json:"terminationWaitSkipped,omitempty"`
}

// Deployment is a stored deployment: what GetDeployment shows, the full
// revision (DeploymentInfo hides inline content, as AWS does), the target,
// hook executions, user requests and the engine's own progress, which this
// package keeps without reading.
type Deployment struct {
	DeploymentInfo
	FullRevision *RevisionLocation `json:"fullRevision,omitempty"`
	AppSpec      string            `json:"appSpec,omitempty"`
	Target       *ECSTarget        `json:"target,omitempty"`
	Lambda       *LambdaTarget     `json:"lambdaTarget,omitempty"`
	Hooks        []HookExecution   `json:"hooks,omitempty"`
	Control      DeploymentControl `json:"control"`
	EngineState  json.RawMessage   `json:"engineState,omitempty"`
}

// Hook returns the hook execution with the given id, or nil.
func (d *Deployment) Hook(id string) *HookExecution {
	for i := range d.Hooks {
		if d.Hooks[i].ID == id {
			return &d.Hooks[i]
		}
	}
	return nil
}

// EngineHooks connects the service to the deployment engine without an
// import of it: the engine sets them at start-up.
type EngineHooks struct {
	// Notify wakes the engine for a deployment that was created or got a
	// request (stop, continue, hook status), so it reacts at once rather
	// than at its next poll.
	Notify func(deploymentID string)
	// ValidateECS checks, before an ECS deployment is created, that the
	// group's service and the AppSpec's task definition, container and port
	// exist. Its error (an *awsproto.Error) is returned to the caller.
	ValidateECS func(ctx context.Context, group *DeploymentGroupInfo, spec *appspec.ECS) error
	// ValidateLambda checks, before a Lambda deployment is created, that
	// the AppSpec's function, alias and versions exist.
	ValidateLambda func(ctx context.Context, group *DeploymentGroupInfo, spec *appspec.Lambda) error
}
