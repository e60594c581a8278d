package codedeploy

import (
	"context"
	"regexp"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/store"
)

// The deployment, target and instance operations belong to the deployment
// engine. Until it lands they validate everything that can be checked
// without it and then give the honest answer: no deployment exists, and
// CreateDeployment refuses with an AWS-modelled error whose message says
// that deployment execution is not implemented yet.

var deploymentIDRe = regexp.MustCompile(`^d-[A-Z0-9]{9}$`)

func deploymentID(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", awsproto.Errorf("DeploymentIdRequiredException", "A deployment ID is required.")
	}
	if !deploymentIDRe.MatchString(*v) {
		return "", awsproto.Errorf("InvalidDeploymentIdException", "Deployment ID %q is invalid: it must be d- followed by 9 upper-case letters or digits.", *v)
	}
	return *v, nil
}

func noDeployment(id string) error {
	return awsproto.Errorf("DeploymentDoesNotExistException", "The deployment %s could not be found.", id)
}

// errNotYet answers CreateDeployment. DeploymentLimitExceededException is
// the modelled error that tells the truth (no deployment can be started
// here yet) without inviting retries the way ThrottlingException would.
var errNotYet = awsproto.Errorf("DeploymentLimitExceededException",
	"Deployment execution is not implemented yet in cutover: the request is valid, but no deployment can be started.")

var (
	deploymentStatuses = []string{"Created", "Queued", "InProgress", "Baking", "Succeeded", "Failed", "Stopped", "Ready"}
	instanceStatuses   = []string{"Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready"}
)

func (s *Service) registerDeploymentOps(j *jsonrpc.Service) {
	jsonrpc.Handle(j, "CreateDeployment", s.createDeployment)
	jsonrpc.Handle(j, "GetDeployment", s.getDeployment)
	jsonrpc.Handle(j, "BatchGetDeployments", s.batchGetDeployments)
	jsonrpc.Handle(j, "ListDeployments", s.listDeployments)
	jsonrpc.Handle(j, "StopDeployment", s.stopDeployment)
	jsonrpc.Handle(j, "ContinueDeployment", s.continueDeployment)
	jsonrpc.Handle(j, "SkipWaitTimeForInstanceTermination", s.skipWaitTimeForInstanceTermination)
	jsonrpc.Handle(j, "ListDeploymentTargets", s.listDeploymentTargets)
	jsonrpc.Handle(j, "BatchGetDeploymentTargets", s.batchGetDeploymentTargets)
	jsonrpc.Handle(j, "GetDeploymentTarget", s.getDeploymentTarget)
	jsonrpc.Handle(j, "ListDeploymentInstances", s.listDeploymentInstances)
	jsonrpc.Handle(j, "GetDeploymentInstance", s.getDeploymentInstance)
	jsonrpc.Handle(j, "BatchGetDeploymentInstances", s.batchGetDeploymentInstances)
	jsonrpc.Handle(j, "PutLifecycleEventHookExecutionStatus", s.putLifecycleEventHookExecutionStatus)
}

type targetInstances struct {
	TagFilters        []EC2TagFilter `json:"tagFilters"`
	AutoScalingGroups []string       `json:"autoScalingGroups"`
	EC2TagSet         *EC2TagSet     `json:"ec2TagSet"`
}

type createDeploymentInput struct {
	ApplicationName               *string                    `json:"applicationName"`
	DeploymentGroupName           *string                    `json:"deploymentGroupName"`
	Revision                      *RevisionLocation          `json:"revision"`
	DeploymentConfigName          *string                    `json:"deploymentConfigName"`
	Description                   *string                    `json:"description"`
	IgnoreApplicationStopFailures *bool                      `json:"ignoreApplicationStopFailures"`
	TargetInstances               *targetInstances           `json:"targetInstances"`
	AutoRollbackConfiguration     *AutoRollbackConfiguration `json:"autoRollbackConfiguration"`
	UpdateOutdatedInstancesOnly   *bool                      `json:"updateOutdatedInstancesOnly"`
	FileExistsBehavior            *string                    `json:"fileExistsBehavior"`
	OverrideAlarmConfiguration    *AlarmConfiguration        `json:"overrideAlarmConfiguration"`
}

type createDeploymentOutput struct {
	DeploymentID string `json:"deploymentId"`
}

func (s *Service) createDeployment(ctx context.Context, in *createDeploymentInput) (*createDeploymentOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	group, err := groupName(in.DeploymentGroupName)
	if err != nil {
		return nil, err
	}
	if len(str(in.Description)) > maxDescription {
		return nil, awsproto.Errorf("DescriptionTooLongException", "The description is longer than %d characters.", maxDescription)
	}
	if in.DeploymentConfigName != nil {
		if _, err := configName(in.DeploymentConfigName); err != nil {
			return nil, err
		}
	}
	if v := in.FileExistsBehavior; v != nil && !oneOf(*v, "DISALLOW", "OVERWRITE", "RETAIN") {
		return nil, awsproto.Errorf("InvalidFileExistsBehaviorException", "fileExistsBehavior %q is invalid: it must be DISALLOW, OVERWRITE or RETAIN.", *v)
	}
	if t := in.TargetInstances; t != nil {
		for _, f := range t.TagFilters {
			if err := checkTagFilter(f.Key, f.Value, f.Type, "InvalidTargetInstancesException"); err != nil {
				return nil, err
			}
		}
		if t.EC2TagSet != nil && len(t.EC2TagSet.EC2TagSetList) > 0 && len(t.TagFilters) > 0 {
			return nil, awsproto.Errorf("InvalidTargetInstancesException", "Only one of tagFilters and ec2TagSet may be specified.")
		}
	}
	probe := DeploymentGroup{}
	probe.AutoRollbackConfiguration = in.AutoRollbackConfiguration
	probe.AlarmConfiguration = in.OverrideAlarmConfiguration
	if err := checkAlarms(&probe); err != nil {
		return nil, err
	}
	if r := in.AutoRollbackConfiguration; r != nil {
		for _, e := range r.Events {
			if !oneOf(e, rollbackEvents...) {
				return nil, awsproto.Errorf("InvalidAutoRollbackConfigException", "Auto rollback event %q is invalid.", e)
			}
		}
	}
	var loc *RevisionLocation
	if in.Revision != nil {
		if loc, err = checkRevision(in.Revision, false); err != nil {
			return nil, err
		}
	}
	err = s.st.View(ctx, func(tx store.Tx) error {
		g, _, err := loadGroup(tx, app, group)
		if err != nil {
			return err
		}
		if loc == nil && g.TargetRevision == nil {
			return awsproto.Errorf("RevisionRequiredException", "A revision is required: deployment group %s has no target revision.", group)
		}
		cfgName := g.DeploymentConfigName
		if in.DeploymentConfigName != nil {
			cfgName = *in.DeploymentConfigName
		}
		cfg, _, err := loadConfig(tx, cfgName)
		if err != nil {
			return err
		}
		if cfg.ComputePlatform != g.ComputePlatform {
			return awsproto.Errorf("InvalidDeploymentConfigNameException", "Deployment config %s is for the %s compute platform, but deployment group %s uses %s.", cfgName, cfg.ComputePlatform, group, g.ComputePlatform)
		}
		if g.ComputePlatform != PlatformServer && in.FileExistsBehavior != nil {
			return awsproto.Errorf("InvalidFileExistsBehaviorException", "For Lambda and ECS deployment, fileExistsBehavior can not be specified")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nil, errNotYet
}

type deploymentIDInput struct {
	DeploymentID *string `json:"deploymentId"`
}

func (s *Service) getDeployment(ctx context.Context, in *deploymentIDInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	return nil, noDeployment(id)
}

type batchGetDeploymentsInput struct {
	DeploymentIDs []*string `json:"deploymentIds"`
}

type batchGetDeploymentsOutput struct {
	DeploymentsInfo []struct{} `json:"deploymentsInfo"`
}

func (s *Service) batchGetDeployments(ctx context.Context, in *batchGetDeploymentsInput) (*batchGetDeploymentsOutput, error) {
	if len(in.DeploymentIDs) == 0 {
		return nil, awsproto.Errorf("DeploymentIdRequiredException", "At least one deployment ID is required.")
	}
	if len(in.DeploymentIDs) > 25 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 25 deployment IDs may be given; %d were.", len(in.DeploymentIDs))
	}
	for _, id := range in.DeploymentIDs {
		if _, err := deploymentID(id); err != nil {
			return nil, err
		}
	}
	// Unknown ids are left out of the answer, as AWS does.
	return &batchGetDeploymentsOutput{DeploymentsInfo: []struct{}{}}, nil
}

type timeRange struct {
	Start *awsproto.Time `json:"start"`
	End   *awsproto.Time `json:"end"`
}

type listDeploymentsInput struct {
	ApplicationName     *string    `json:"applicationName"`
	DeploymentGroupName *string    `json:"deploymentGroupName"`
	ExternalID          *string    `json:"externalId"`
	IncludeOnlyStatuses []string   `json:"includeOnlyStatuses"`
	CreateTimeRange     *timeRange `json:"createTimeRange"`
	NextToken           *string    `json:"nextToken"`
}

type listDeploymentsOutput struct {
	Deployments []string `json:"deployments"`
	NextToken   string   `json:"nextToken,omitempty"`
}

func (s *Service) listDeployments(ctx context.Context, in *listDeploymentsInput) (*listDeploymentsOutput, error) {
	switch {
	case in.ApplicationName == nil && in.DeploymentGroupName != nil:
		return nil, awsproto.Errorf("ApplicationNameRequiredException", "An application name is required when a deployment group name is given.")
	case in.ApplicationName != nil && in.DeploymentGroupName == nil:
		return nil, awsproto.Errorf("DeploymentGroupNameRequiredException", "A deployment group name is required when an application name is given.")
	}
	var app, group string
	if in.ApplicationName != nil {
		var err error
		if app, err = appName(in.ApplicationName); err != nil {
			return nil, err
		}
		if group, err = groupName(in.DeploymentGroupName); err != nil {
			return nil, err
		}
	}
	for _, st := range in.IncludeOnlyStatuses {
		if !oneOf(st, deploymentStatuses...) {
			return nil, awsproto.Errorf("InvalidDeploymentStatusException", "Deployment status %q is invalid.", st)
		}
	}
	if r := in.CreateTimeRange; r != nil && r.Start != nil && r.End != nil && r.Start.After(r.End.Time) {
		return nil, awsproto.Errorf("InvalidTimeRangeException", "The start of the time range is after its end.")
	}
	if in.ExternalID != nil && len(*in.ExternalID) > 255 {
		return nil, awsproto.Errorf("InvalidExternalIdException", "The external ID is longer than 255 characters.")
	}
	if _, err := decodeToken("deployments", in.NextToken); err != nil {
		return nil, err
	}
	if in.NextToken != nil && *in.NextToken != "" {
		// No page of deployments was ever handed out, so no token is ours.
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", *in.NextToken)
	}
	if app != "" {
		if _, err := s.GetDeploymentGroup(ctx, app, group); err != nil {
			return nil, err
		}
	}
	return &listDeploymentsOutput{Deployments: []string{}}, nil
}

type stopDeploymentInput struct {
	DeploymentID        *string `json:"deploymentId"`
	AutoRollbackEnabled *bool   `json:"autoRollbackEnabled"`
}

func (s *Service) stopDeployment(ctx context.Context, in *stopDeploymentInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	return nil, noDeployment(id)
}

type continueDeploymentInput struct {
	DeploymentID       *string `json:"deploymentId"`
	DeploymentWaitType *string `json:"deploymentWaitType"`
}

func (s *Service) continueDeployment(ctx context.Context, in *continueDeploymentInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if v := in.DeploymentWaitType; v != nil && !oneOf(*v, "READY_WAIT", "TERMINATION_WAIT") {
		return nil, awsproto.Errorf("InvalidDeploymentWaitTypeException", "deploymentWaitType %q is invalid: it must be READY_WAIT or TERMINATION_WAIT.", *v)
	}
	return nil, noDeployment(id)
}

func (s *Service) skipWaitTimeForInstanceTermination(ctx context.Context, in *deploymentIDInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	return nil, noDeployment(id)
}

type listDeploymentTargetsInput struct {
	DeploymentID  *string             `json:"deploymentId"`
	NextToken     *string             `json:"nextToken"`
	TargetFilters map[string][]string `json:"targetFilters"`
}

func (s *Service) listDeploymentTargets(ctx context.Context, in *listDeploymentTargetsInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	for k, vs := range in.TargetFilters {
		switch k {
		case "TargetStatus":
			for _, v := range vs {
				if !oneOf(v, instanceStatuses...) {
					return nil, awsproto.Errorf("InvalidInstanceStatusException", "Target status %q is invalid.", v)
				}
			}
		case "ServerInstanceLabel":
			for _, v := range vs {
				if !oneOf(v, "Blue", "Green") {
					return nil, awsproto.Errorf("InvalidInstanceTypeException", "Instance label %q is invalid: it must be Blue or Green.", v)
				}
			}
		default:
			return nil, awsproto.Errorf("InvalidTargetFilterNameException", "Target filter name %q is invalid: it must be TargetStatus or ServerInstanceLabel.", k)
		}
	}
	return nil, noDeployment(id)
}

type batchGetDeploymentTargetsInput struct {
	DeploymentID *string   `json:"deploymentId"`
	TargetIDs    []*string `json:"targetIds"`
}

func (s *Service) batchGetDeploymentTargets(ctx context.Context, in *batchGetDeploymentTargetsInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if len(in.TargetIDs) == 0 {
		return nil, awsproto.Errorf("DeploymentTargetIdRequiredException", "At least one target ID is required.")
	}
	if len(in.TargetIDs) > 25 {
		return nil, awsproto.Errorf("DeploymentTargetListSizeExceededException", "At most 25 target IDs may be given; %d were.", len(in.TargetIDs))
	}
	for _, t := range in.TargetIDs {
		if t == nil || *t == "" {
			return nil, awsproto.Errorf("InvalidDeploymentTargetIdException", "A target ID is empty.")
		}
	}
	return nil, noDeployment(id)
}

type getDeploymentTargetInput struct {
	DeploymentID *string `json:"deploymentId"`
	TargetID     *string `json:"targetId"`
}

func (s *Service) getDeploymentTarget(ctx context.Context, in *getDeploymentTargetInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.TargetID == nil || *in.TargetID == "" {
		return nil, awsproto.Errorf("DeploymentTargetIdRequiredException", "A target ID is required.")
	}
	return nil, noDeployment(id)
}

type listDeploymentInstancesInput struct {
	DeploymentID         *string  `json:"deploymentId"`
	NextToken            *string  `json:"nextToken"`
	InstanceStatusFilter []string `json:"instanceStatusFilter"`
	InstanceTypeFilter   []string `json:"instanceTypeFilter"`
}

func (s *Service) listDeploymentInstances(ctx context.Context, in *listDeploymentInstancesInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	for _, v := range in.InstanceStatusFilter {
		if !oneOf(v, instanceStatuses...) {
			return nil, awsproto.Errorf("InvalidInstanceStatusException", "Instance status %q is invalid.", v)
		}
	}
	for _, v := range in.InstanceTypeFilter {
		if !oneOf(v, "Blue", "Green") {
			return nil, awsproto.Errorf("InvalidInstanceTypeException", "Instance type %q is invalid: it must be Blue or Green.", v)
		}
	}
	return nil, noDeployment(id)
}

type getDeploymentInstanceInput struct {
	DeploymentID *string `json:"deploymentId"`
	InstanceID   *string `json:"instanceId"`
}

func (s *Service) getDeploymentInstance(ctx context.Context, in *getDeploymentInstanceInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.InstanceID == nil || *in.InstanceID == "" {
		return nil, awsproto.Errorf("InstanceIdRequiredException", "An instance ID is required.")
	}
	return nil, noDeployment(id)
}

type batchGetDeploymentInstancesInput struct {
	DeploymentID *string   `json:"deploymentId"`
	InstanceIDs  []*string `json:"instanceIds"`
}

func (s *Service) batchGetDeploymentInstances(ctx context.Context, in *batchGetDeploymentInstancesInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if len(in.InstanceIDs) == 0 {
		return nil, awsproto.Errorf("InstanceIdRequiredException", "At least one instance ID is required.")
	}
	if len(in.InstanceIDs) > 25 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 25 instance IDs may be given; %d were.", len(in.InstanceIDs))
	}
	return nil, noDeployment(id)
}

type putLifecycleEventHookExecutionStatusInput struct {
	DeploymentID                  *string `json:"deploymentId"`
	LifecycleEventHookExecutionID *string `json:"lifecycleEventHookExecutionId"`
	Status                        *string `json:"status"`
}

func (s *Service) putLifecycleEventHookExecutionStatus(ctx context.Context, in *putLifecycleEventHookExecutionStatusInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.LifecycleEventHookExecutionID == nil || *in.LifecycleEventHookExecutionID == "" {
		return nil, awsproto.Errorf("InvalidLifecycleEventHookExecutionIdException", "A lifecycle event hook execution ID is required.")
	}
	if v := str(in.Status); !oneOf(v, "Succeeded", "Failed") {
		return nil, awsproto.Errorf("InvalidLifecycleEventHookExecutionStatusException", "Status %q is invalid: a hook can only report Succeeded or Failed.", v)
	}
	return nil, noDeployment(id)
}
