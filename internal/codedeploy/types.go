package codedeploy

import "github.com/cutover/cutover/internal/awsproto"

// The types below are CodeDeploy's wire shapes (member names exactly as in
// the botocore model) and at the same time what is kept in the store, so a
// member accepted on create is the member returned on get without a mapping
// layer that could drop it. Optional members are pointers or omitempty so
// that "absent" survives a round trip; booleans that AWS always reports are
// plain values.

// Compute platforms.
const (
	PlatformServer = "Server"
	PlatformLambda = "Lambda"
	PlatformECS    = "ECS"
)

// Tag is a resource tag; the model capitalises its members.
type Tag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

// ApplicationInfo is an application as GetApplication reports it.
type ApplicationInfo struct {
	ApplicationID     string        `json:"applicationId"`
	ApplicationName   string        `json:"applicationName"`
	CreateTime        awsproto.Time `json:"createTime"`
	LinkedToGitHub    bool          `json:"linkedToGitHub"`
	GitHubAccountName string        `json:"gitHubAccountName,omitempty"`
	ComputePlatform   string        `json:"computePlatform"`
}

// Application is a stored application: its info plus resource tags, which
// ApplicationInfo does not carry on the wire.
type Application struct {
	ApplicationInfo
	Tags []Tag `json:"tags,omitempty"`
}

// MinimumHealthyHosts of a Server deployment config.
type MinimumHealthyHosts struct {
	Type  *string `json:"type,omitempty"`
	Value *int32  `json:"value,omitempty"`
}

// TimeBasedCanary shifts canaryPercentage first, the rest canaryInterval minutes later.
type TimeBasedCanary struct {
	CanaryPercentage *int32 `json:"canaryPercentage,omitempty"`
	CanaryInterval   *int32 `json:"canaryInterval,omitempty"`
}

// TimeBasedLinear shifts linearPercentage every linearInterval minutes.
type TimeBasedLinear struct {
	LinearPercentage *int32 `json:"linearPercentage,omitempty"`
	LinearInterval   *int32 `json:"linearInterval,omitempty"`
}

// TrafficRoutingConfig of a Lambda or ECS deployment config.
type TrafficRoutingConfig struct {
	Type            *string          `json:"type,omitempty"`
	TimeBasedCanary *TimeBasedCanary `json:"timeBasedCanary,omitempty"`
	TimeBasedLinear *TimeBasedLinear `json:"timeBasedLinear,omitempty"`
}

// MinimumHealthyHostsPerZone of a zonal config.
type MinimumHealthyHostsPerZone struct {
	Type  *string `json:"type,omitempty"`
	Value *int32  `json:"value,omitempty"`
}

// ZonalConfig deploys a Server fleet one Availability Zone at a time.
type ZonalConfig struct {
	FirstZoneMonitorDurationInSeconds *int64                      `json:"firstZoneMonitorDurationInSeconds,omitempty"`
	MonitorDurationInSeconds          *int64                      `json:"monitorDurationInSeconds,omitempty"`
	MinimumHealthyHostsPerZone        *MinimumHealthyHostsPerZone `json:"minimumHealthyHostsPerZone,omitempty"`
}

// DeploymentConfigInfo is a deployment configuration as GetDeploymentConfig reports it.
type DeploymentConfigInfo struct {
	DeploymentConfigID   string                `json:"deploymentConfigId"`
	DeploymentConfigName string                `json:"deploymentConfigName"`
	MinimumHealthyHosts  *MinimumHealthyHosts  `json:"minimumHealthyHosts,omitempty"`
	CreateTime           awsproto.Time         `json:"createTime"`
	ComputePlatform      string                `json:"computePlatform"`
	TrafficRoutingConfig *TrafficRoutingConfig `json:"trafficRoutingConfig,omitempty"`
	ZonalConfig          *ZonalConfig          `json:"zonalConfig,omitempty"`
}

// DeploymentConfig is a stored deployment configuration.
type DeploymentConfig struct {
	DeploymentConfigInfo
	// Predefined marks the CodeDeployDefault.* configs, which nobody may
	// change or delete.
	Predefined bool  `json:"predefined,omitempty"`
	Tags       []Tag `json:"tags,omitempty"`
}

// EC2TagFilter selects EC2 instances by tag.
type EC2TagFilter struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
	Type  *string `json:"Type,omitempty"`
}

// TagFilter selects on-premises instances by tag.
type TagFilter struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
	Type  *string `json:"Type,omitempty"`
}

// EC2TagSet is an AND of OR-groups of EC2 tag filters.
type EC2TagSet struct {
	EC2TagSetList [][]EC2TagFilter `json:"ec2TagSetList,omitempty"`
}

// OnPremisesTagSet is an AND of OR-groups of on-premises tag filters.
type OnPremisesTagSet struct {
	OnPremisesTagSetList [][]TagFilter `json:"onPremisesTagSetList,omitempty"`
}

// AutoScalingGroup as a deployment group reports it.
type AutoScalingGroup struct {
	Name            string `json:"name,omitempty"`
	Hook            string `json:"hook,omitempty"`
	TerminationHook string `json:"terminationHook,omitempty"`
}

// TriggerConfig sends notifications for deployment and instance events.
type TriggerConfig struct {
	TriggerName      *string  `json:"triggerName,omitempty"`
	TriggerTargetArn *string  `json:"triggerTargetArn,omitempty"`
	TriggerEvents    []string `json:"triggerEvents,omitempty"`
}

// Alarm is a CloudWatch alarm name.
type Alarm struct {
	Name *string `json:"name,omitempty"`
}

// AlarmConfiguration of a deployment group or a deployment override.
type AlarmConfiguration struct {
	Enabled                bool    `json:"enabled"`
	IgnorePollAlarmFailure bool    `json:"ignorePollAlarmFailure"`
	Alarms                 []Alarm `json:"alarms,omitempty"`
}

// AutoRollbackConfiguration says on which events a deployment rolls back.
type AutoRollbackConfiguration struct {
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events,omitempty"`
}

// DeploymentStyle is in-place or blue/green, with or without a load balancer.
type DeploymentStyle struct {
	DeploymentType   *string `json:"deploymentType,omitempty"`
	DeploymentOption *string `json:"deploymentOption,omitempty"`
}

// BlueInstanceTerminationOption says what happens to the original fleet.
type BlueInstanceTerminationOption struct {
	Action                       *string `json:"action,omitempty"`
	TerminationWaitTimeInMinutes *int32  `json:"terminationWaitTimeInMinutes,omitempty"`
}

// DeploymentReadyOption says when traffic is rerouted.
type DeploymentReadyOption struct {
	ActionOnTimeout   *string `json:"actionOnTimeout,omitempty"`
	WaitTimeInMinutes *int32  `json:"waitTimeInMinutes,omitempty"`
}

// GreenFleetProvisioningOption says how the replacement fleet is found.
type GreenFleetProvisioningOption struct {
	Action *string `json:"action,omitempty"`
}

// BlueGreenDeploymentConfiguration of a deployment group.
type BlueGreenDeploymentConfiguration struct {
	TerminateBlueInstancesOnDeploymentSuccess *BlueInstanceTerminationOption `json:"terminateBlueInstancesOnDeploymentSuccess,omitempty"`
	DeploymentReadyOption                     *DeploymentReadyOption         `json:"deploymentReadyOption,omitempty"`
	GreenFleetProvisioningOption              *GreenFleetProvisioningOption  `json:"greenFleetProvisioningOption,omitempty"`
}

// ELBInfo names a Classic Load Balancer.
type ELBInfo struct {
	Name *string `json:"name,omitempty"`
}

// TargetGroupInfo names a target group.
type TargetGroupInfo struct {
	Name *string `json:"name,omitempty"`
}

// TrafficRoute lists the listeners that carry a route.
type TrafficRoute struct {
	ListenerArns []string `json:"listenerArns,omitempty"`
}

// TargetGroupPairInfo is the blue and green target groups of an ECS service.
type TargetGroupPairInfo struct {
	TargetGroups     []TargetGroupInfo `json:"targetGroups,omitempty"`
	ProdTrafficRoute *TrafficRoute     `json:"prodTrafficRoute,omitempty"`
	TestTrafficRoute *TrafficRoute     `json:"testTrafficRoute,omitempty"`
}

// LoadBalancerInfo of a deployment group.
type LoadBalancerInfo struct {
	ElbInfoList             []ELBInfo             `json:"elbInfoList,omitempty"`
	TargetGroupInfoList     []TargetGroupInfo     `json:"targetGroupInfoList,omitempty"`
	TargetGroupPairInfoList []TargetGroupPairInfo `json:"targetGroupPairInfoList,omitempty"`
}

// ECSService names the service an ECS deployment group deploys.
type ECSService struct {
	ServiceName *string `json:"serviceName,omitempty"`
	ClusterName *string `json:"clusterName,omitempty"`
}

// LastDeploymentInfo summarises a group's last attempted or successful deployment.
type LastDeploymentInfo struct {
	DeploymentID string         `json:"deploymentId,omitempty"`
	Status       string         `json:"status,omitempty"`
	EndTime      *awsproto.Time `json:"endTime,omitempty"`
	CreateTime   *awsproto.Time `json:"createTime,omitempty"`
}

// S3Location of a revision bundle.
type S3Location struct {
	Bucket     *string `json:"bucket,omitempty"`
	Key        *string `json:"key,omitempty"`
	BundleType *string `json:"bundleType,omitempty"`
	Version    *string `json:"version,omitempty"`
	ETag       *string `json:"eTag,omitempty"`
}

// GitHubLocation of a revision.
type GitHubLocation struct {
	Repository *string `json:"repository,omitempty"`
	CommitID   *string `json:"commitId,omitempty"`
}

// RawString is an inline AppSpec (the deprecated String revision type).
type RawString struct {
	Content *string `json:"content,omitempty"`
	Sha256  *string `json:"sha256,omitempty"`
}

// AppSpecContent is an inline AppSpec for Lambda and ECS.
type AppSpecContent struct {
	Content *string `json:"content,omitempty"`
	Sha256  *string `json:"sha256,omitempty"`
}

// RevisionLocation says where a revision is.
type RevisionLocation struct {
	RevisionType   *string         `json:"revisionType,omitempty"`
	S3Location     *S3Location     `json:"s3Location,omitempty"`
	GitHubLocation *GitHubLocation `json:"gitHubLocation,omitempty"`
	String         *RawString      `json:"string,omitempty"`
	AppSpecContent *AppSpecContent `json:"appSpecContent,omitempty"`
}

// DeploymentGroupInfo is a deployment group as GetDeploymentGroup reports it.
type DeploymentGroupInfo struct {
	ApplicationName                  string                            `json:"applicationName"`
	DeploymentGroupID                string                            `json:"deploymentGroupId"`
	DeploymentGroupName              string                            `json:"deploymentGroupName"`
	DeploymentConfigName             string                            `json:"deploymentConfigName"`
	EC2TagFilters                    []EC2TagFilter                    `json:"ec2TagFilters"`
	OnPremisesInstanceTagFilters     []TagFilter                       `json:"onPremisesInstanceTagFilters"`
	AutoScalingGroups                []AutoScalingGroup                `json:"autoScalingGroups"`
	ServiceRoleArn                   string                            `json:"serviceRoleArn"`
	TargetRevision                   *RevisionLocation                 `json:"targetRevision,omitempty"`
	TriggerConfigurations            []TriggerConfig                   `json:"triggerConfigurations"`
	AlarmConfiguration               *AlarmConfiguration               `json:"alarmConfiguration,omitempty"`
	AutoRollbackConfiguration        *AutoRollbackConfiguration        `json:"autoRollbackConfiguration,omitempty"`
	DeploymentStyle                  *DeploymentStyle                  `json:"deploymentStyle,omitempty"`
	OutdatedInstancesStrategy        string                            `json:"outdatedInstancesStrategy,omitempty"`
	BlueGreenDeploymentConfiguration *BlueGreenDeploymentConfiguration `json:"blueGreenDeploymentConfiguration,omitempty"`
	LoadBalancerInfo                 *LoadBalancerInfo                 `json:"loadBalancerInfo,omitempty"`
	LastSuccessfulDeployment         *LastDeploymentInfo               `json:"lastSuccessfulDeployment,omitempty"`
	LastAttemptedDeployment          *LastDeploymentInfo               `json:"lastAttemptedDeployment,omitempty"`
	EC2TagSet                        *EC2TagSet                        `json:"ec2TagSet,omitempty"`
	OnPremisesTagSet                 *OnPremisesTagSet                 `json:"onPremisesTagSet,omitempty"`
	ComputePlatform                  string                            `json:"computePlatform"`
	ECSServices                      []ECSService                      `json:"ecsServices,omitempty"`
	TerminationHookEnabled           bool                              `json:"terminationHookEnabled"`
}

// DeploymentGroup is a stored deployment group.
type DeploymentGroup struct {
	DeploymentGroupInfo
	Tags []Tag `json:"tags,omitempty"`
}

// GenericRevisionInfo is the bookkeeping kept about a registered revision.
type GenericRevisionInfo struct {
	Description      *string        `json:"description,omitempty"`
	DeploymentGroups []string       `json:"deploymentGroups"`
	FirstUsedTime    *awsproto.Time `json:"firstUsedTime,omitempty"`
	LastUsedTime     *awsproto.Time `json:"lastUsedTime,omitempty"`
	RegisterTime     *awsproto.Time `json:"registerTime,omitempty"`
}

// RevisionInfo pairs a revision with its bookkeeping.
type RevisionInfo struct {
	RevisionLocation    *RevisionLocation    `json:"revisionLocation,omitempty"`
	GenericRevisionInfo *GenericRevisionInfo `json:"genericRevisionInfo,omitempty"`
}

// Revision is a stored application revision.
type Revision struct {
	ApplicationName string              `json:"applicationName"`
	Location        RevisionLocation    `json:"revision"`
	Info            GenericRevisionInfo `json:"info"`
}

// InstanceInfo is an on-premises instance.
type InstanceInfo struct {
	InstanceName   string         `json:"instanceName"`
	IamSessionArn  string         `json:"iamSessionArn,omitempty"`
	IamUserArn     string         `json:"iamUserArn,omitempty"`
	InstanceArn    string         `json:"instanceArn"`
	RegisterTime   *awsproto.Time `json:"registerTime,omitempty"`
	DeregisterTime *awsproto.Time `json:"deregisterTime,omitempty"`
	Tags           []Tag          `json:"tags"`
}

// Registered reports whether the instance is currently registered.
func (i *InstanceInfo) Registered() bool { return i.DeregisterTime == nil }

// IamArn is the IAM identity the instance's agent signs with.
func (i *InstanceInfo) IamArn() string {
	if i.IamUserArn != "" {
		return i.IamUserArn
	}
	return i.IamSessionArn
}
