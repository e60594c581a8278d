package codedeploy

import (
	"context"
	"regexp"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
)

// The deployment, target and instance operations. Handlers validate,
// write the request into the deployment record in one transaction and wake
// the engine (EngineHooks.Notify); the engine does the work and records
// every step in the same record, which is what Get/List/BatchGet read.

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

type createDeploymentInput struct {
	ApplicationName               *string                    `json:"applicationName"`
	DeploymentGroupName           *string                    `json:"deploymentGroupName"`
	Revision                      *RevisionLocation          `json:"revision"`
	DeploymentConfigName          *string                    `json:"deploymentConfigName"`
	Description                   *string                    `json:"description"`
	IgnoreApplicationStopFailures *bool                      `json:"ignoreApplicationStopFailures"`
	TargetInstances               *TargetInstances           `json:"targetInstances"`
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
	return s.startDeployment(ctx, in, app, group, loc)
}

type deploymentIDInput struct {
	DeploymentID *string `json:"deploymentId"`
}
