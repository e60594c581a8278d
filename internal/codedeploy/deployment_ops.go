package codedeploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// startDeployment is CreateDeployment after its input checks: resolve the
// revision and config against the group, check the AppSpec, and store the
// deployment (status Created) as the group's one active deployment.
func (s *Service) startDeployment(ctx context.Context, in *createDeploymentInput, app, group string, loc *RevisionLocation) (*createDeploymentOutput, error) {
	var g *DeploymentGroup
	var cfg *DeploymentConfig
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if g, _, err = loadGroup(tx, app, group); err != nil {
			return err
		}
		if loc == nil && g.TargetRevision == nil {
			return awsproto.Errorf("RevisionRequiredException", "A revision is required: deployment group %s has no target revision.", group)
		}
		cfgName := g.DeploymentConfigName
		if in.DeploymentConfigName != nil {
			cfgName = *in.DeploymentConfigName
		}
		if cfg, _, err = loadConfig(tx, cfgName); err != nil {
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
	if loc == nil {
		loc = g.TargetRevision
	}
	prepare := s.platformPreparers[g.ComputePlatform]
	if prepare == nil {
		return nil, awsproto.Errorf("DeploymentLimitExceededException",
			"Deployments to the %s compute platform are not implemented yet in cutover.", g.ComputePlatform)
	}
	content, err := prepare(ctx, g, loc)
	if err != nil {
		return nil, err
	}
	if err := checkReplacementFleet(g, in.TargetInstances); err != nil {
		return nil, err
	}

	now := s.nowTime()
	d := &Deployment{
		DeploymentInfo: DeploymentInfo{
			ApplicationName:                  app,
			DeploymentGroupName:              group,
			DeploymentConfigName:             cfg.DeploymentConfigName,
			Revision:                         hideContent(loc),
			Status:                           StatusCreated,
			CreateTime:                       now,
			DeploymentOverview:               &DeploymentOverview{},
			Description:                      str(in.Description),
			Creator:                          CreatorUser,
			IgnoreApplicationStopFailures:    in.IgnoreApplicationStopFailures != nil && *in.IgnoreApplicationStopFailures,
			AutoRollbackConfiguration:        g.AutoRollbackConfiguration,
			UpdateOutdatedInstancesOnly:      in.UpdateOutdatedInstancesOnly != nil && *in.UpdateOutdatedInstancesOnly,
			DeploymentStyle:                  g.DeploymentStyle,
			TargetInstances:                  in.TargetInstances,
			BlueGreenDeploymentConfiguration: g.BlueGreenDeploymentConfiguration,
			LoadBalancerInfo:                 g.LoadBalancerInfo,
			FileExistsBehavior:               str(in.FileExistsBehavior),
			DeploymentStatusMessages:         []string{},
			ComputePlatform:                  g.ComputePlatform,
			OverrideAlarmConfiguration:       in.OverrideAlarmConfiguration,
		},
		FullRevision: loc,
		AppSpec:      content,
	}
	if in.AutoRollbackConfiguration != nil {
		d.AutoRollbackConfiguration = in.AutoRollbackConfiguration
	}
	if g.TargetRevision != nil {
		d.PreviousRevision = hideContent(g.TargetRevision)
	}
	// A group has at most one active deployment, and ids are random: retry
	// the rare id collision, never the group conflict.
	for attempt := 0; ; attempt++ {
		d.DeploymentID = newDeploymentID()
		err = s.st.Update(ctx, func(tx store.Tx) error {
			if _, _, err := loadGroup(tx, app, group); err != nil {
				return err
			}
			key := groupKey(app, group)
			a, _, err := store.GetJSON[activeDeployment](tx, kindActive, key)
			if err == nil {
				return awsproto.Errorf("DeploymentLimitExceededException", "The Deployment Group '%s' already has an active Deployment '%s'", group, a.DeploymentID)
			} else if !isNotFound(err) {
				return err
			}
			if err := store.PutJSON(tx, &store.Record{Kind: kindActive, Key: key, Index: d.DeploymentID}, activeDeployment{DeploymentID: d.DeploymentID}); err != nil {
				return err
			}
			return s.putDeployment(tx, &store.Record{Kind: kindDeployment, Key: d.DeploymentID, Index: key}, d, "")
		})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		break
	}
	if err != nil {
		return nil, err
	}
	if err := s.MarkRevisionUsed(ctx, app, group, loc, now); err != nil {
		s.log.WarnContext(ctx, "recording revision use", "deployment", d.DeploymentID, "err", err)
	}
	s.log.InfoContext(ctx, "deployment created", "deployment", d.DeploymentID, "application", app, "group", group)
	s.notify(d.DeploymentID)
	return &createDeploymentOutput{DeploymentID: d.DeploymentID}, nil
}

// prepareECS checks an ECS revision against the group and returns its
// AppSpec.
func (s *Service) prepareECS(ctx context.Context, g *DeploymentGroup, loc *RevisionLocation) (string, error) {
	group := g.DeploymentGroupName
	content, err := inlineRevisionContent(loc, PlatformECS)
	if err != nil {
		return "", err
	}
	if kind, err := appspec.Detect([]byte(content)); err == nil && kind != appspec.KindECS {
		return "", awsproto.Errorf("InvalidRevisionException", "The revision is an AppSpec for the %s compute platform, but deployment group %s deploys to ECS.", kind, group)
	}
	spec, err := appspec.ParseECS([]byte(content))
	if err != nil {
		return "", awsproto.Errorf("InvalidRevisionException", "The AppSpec file is invalid: %v", err)
	}
	if len(g.ECSServices) == 0 || g.LoadBalancerInfo == nil || len(g.LoadBalancerInfo.TargetGroupPairInfoList) == 0 {
		return "", awsproto.Errorf("InvalidLoadBalancerInfoException", "Deployment group %s has no ECS service or no target group pair to deploy with.", group)
	}
	if h := s.hooks.p.Load(); h != nil && h.ValidateECS != nil {
		if err := h.ValidateECS(ctx, &g.DeploymentGroupInfo, spec); err != nil {
			return "", err
		}
	}
	return content, nil
}

// inlineRevisionContent is the AppSpec of an ECS or Lambda revision given
// inline.
func inlineRevisionContent(loc *RevisionLocation, platform string) (string, error) {
	switch str(loc.RevisionType) {
	case "AppSpecContent":
		if loc.AppSpecContent != nil && loc.AppSpecContent.Content != nil {
			return *loc.AppSpecContent.Content, nil
		}
	case "String":
		if loc.String != nil && loc.String.Content != nil {
			return *loc.String.Content, nil
		}
	case "S3":
		return "", awsproto.Errorf("InvalidRevisionException", "S3 revisions of %s deployments are not supported yet in cutover: give the AppSpec inline as AppSpecContent.", platform)
	case "GitHub":
		return "", awsproto.Errorf("InvalidRevisionException", "A GitHub revision cannot be deployed to the %s compute platform: use AppSpecContent or S3.", platform)
	}
	return "", awsproto.Errorf("InvalidRevisionException", "The revision has no AppSpec content.")
}

// hideContent is the revision as DeploymentInfo shows it: inline content is
// left out, only its sha256 stays (AWS's behaviour).
func hideContent(loc *RevisionLocation) *RevisionLocation {
	if loc == nil {
		return nil
	}
	out := *loc
	if loc.AppSpecContent != nil {
		out.AppSpecContent = &AppSpecContent{Sha256: loc.AppSpecContent.Sha256}
	}
	if loc.String != nil {
		out.String = &RawString{Sha256: loc.String.Sha256}
	}
	return &out
}

func (d *Deployment) info() *DeploymentInfo {
	info := d.DeploymentInfo
	if info.DeploymentStatusMessages == nil {
		info.DeploymentStatusMessages = []string{}
	}
	return &info
}

type getDeploymentOutput struct {
	DeploymentInfo *DeploymentInfo `json:"deploymentInfo"`
}

func (s *Service) getDeployment(ctx context.Context, in *deploymentIDInput) (*getDeploymentOutput, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	return &getDeploymentOutput{DeploymentInfo: d.info()}, nil
}

type batchGetDeploymentsInput struct {
	DeploymentIDs []*string `json:"deploymentIds"`
}

type batchGetDeploymentsOutput struct {
	DeploymentsInfo []*DeploymentInfo `json:"deploymentsInfo"`
}

func (s *Service) batchGetDeployments(ctx context.Context, in *batchGetDeploymentsInput) (*batchGetDeploymentsOutput, error) {
	if len(in.DeploymentIDs) == 0 {
		return nil, awsproto.Errorf("DeploymentIdRequiredException", "At least one deployment ID is required.")
	}
	if len(in.DeploymentIDs) > 25 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 25 deployment IDs may be given; %d were.", len(in.DeploymentIDs))
	}
	var ids []string
	for _, p := range in.DeploymentIDs {
		id, err := deploymentID(p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	out := &batchGetDeploymentsOutput{DeploymentsInfo: []*DeploymentInfo{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			d, _, err := loadDeployment(tx, id)
			if awsproto.AsError(err) != nil {
				continue // unknown ids are left out of the answer, as AWS does
			} else if err != nil {
				return err
			}
			out.DeploymentsInfo = append(out.DeploymentsInfo, d.info())
		}
		return nil
	})
	return out, err
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

// listDeployments pages newest first. The token carries an offset into the
// filtered list and is scoped to the filters, so a token of another query
// is refused.
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
	r := in.CreateTimeRange
	if r != nil && r.Start != nil && r.End != nil && r.Start.After(r.End.Time) {
		return nil, awsproto.Errorf("InvalidTimeRangeException", "The start of the time range is after its end.")
	}
	if in.ExternalID != nil && len(*in.ExternalID) > 255 {
		return nil, awsproto.Errorf("InvalidExternalIdException", "The external ID is longer than 255 characters.")
	}
	scope := fmt.Sprintf("deployments/%s/%s/%s/%s", app, group, str(in.ExternalID), strings.Join(in.IncludeOnlyStatuses, ","))
	tok, err := decodeToken(scope, in.NextToken)
	if err != nil {
		return nil, err
	}
	if app != "" {
		if _, err := s.GetDeploymentGroup(ctx, app, group); err != nil {
			return nil, err
		}
	}
	var all []*Deployment
	err = s.st.View(ctx, func(tx store.Tx) error {
		opts := store.ListOptions{}
		if app != "" {
			opts.Index = groupKey(app, group)
		}
		var err error
		all, _, err = store.ListJSON[Deployment](tx, kindDeployment, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	var matched []*Deployment
	for _, d := range all {
		if len(in.IncludeOnlyStatuses) > 0 && !slices.Contains(in.IncludeOnlyStatuses, d.Status) {
			continue
		}
		if in.ExternalID != nil && d.ExternalID != *in.ExternalID {
			continue
		}
		if r != nil && r.Start != nil && d.CreateTime.Before(r.Start.Time) {
			continue
		}
		if r != nil && r.End != nil && d.CreateTime.After(r.End.Time) {
			continue
		}
		matched = append(matched, d)
	}
	sort.SliceStable(matched, func(i, j int) bool {
		if !matched[i].CreateTime.Equal(matched[j].CreateTime.Time) {
			return matched[i].CreateTime.After(matched[j].CreateTime.Time)
		}
		return matched[i].DeploymentID < matched[j].DeploymentID
	})
	if tok.Offset > len(matched) {
		tok.Offset = len(matched)
	}
	page := matched[tok.Offset:]
	out := &listDeploymentsOutput{Deployments: []string{}}
	if len(page) > s.pageSize {
		page = page[:s.pageSize]
		out.NextToken = encodeToken(scope, pageToken{Offset: tok.Offset + s.pageSize})
	}
	for _, d := range page {
		out.Deployments = append(out.Deployments, d.DeploymentID)
	}
	return out, nil
}

type stopDeploymentInput struct {
	DeploymentID        *string `json:"deploymentId"`
	AutoRollbackEnabled *bool   `json:"autoRollbackEnabled"`
}

type stopDeploymentOutput struct {
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
}

func alreadyCompleted(id string) error {
	return awsproto.Errorf("DeploymentAlreadyCompletedException", "The deployment %s has already completed.", id)
}

// stopDeployment records the request; the engine stops the deployment (and
// rolls it back if asked) and answers Pending as AWS does while it works.
func (s *Service) stopDeployment(ctx context.Context, in *stopDeploymentInput) (*stopDeploymentOutput, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	err = s.UpdateDeployment(ctx, id, func(d *Deployment) error {
		if Terminal(d.Status) {
			return alreadyCompleted(id)
		}
		if d.Control.StopRequested {
			return ErrUnchanged
		}
		d.Control.StopRequested = true
		d.Control.StopAutoRollback = in.AutoRollbackEnabled
		t := s.nowTime()
		d.Control.StopRequestedAt = &t
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(id)
	return &stopDeploymentOutput{Status: "Pending", StatusMessage: "Deployment stop operation is pending."}, nil
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
	wait := "READY_WAIT" // the CLI's and the model's default
	if v := in.DeploymentWaitType; v != nil && *v != "" {
		if !oneOf(*v, "READY_WAIT", "TERMINATION_WAIT") {
			return nil, awsproto.Errorf("InvalidDeploymentWaitTypeException", "deploymentWaitType %q is invalid: it must be READY_WAIT or TERMINATION_WAIT.", *v)
		}
		wait = *v
	}
	if err := s.continueWait(ctx, id, wait, "InvalidDeploymentStatusException"); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// continueWait records a ContinueDeployment; notStarted is the error each
// operation models for a deployment that has not started.
func (s *Service) continueWait(ctx context.Context, id, wait, notStarted string) error {
	err := s.UpdateDeployment(ctx, id, func(d *Deployment) error {
		if Terminal(d.Status) {
			return alreadyCompleted(id)
		}
		if d.DeploymentStyle == nil || str(d.DeploymentStyle.DeploymentType) != "BLUE_GREEN" {
			return awsproto.Errorf("UnsupportedActionForDeploymentTypeException", "Deployment %s is not a blue/green deployment; it has no wait to continue.", id)
		}
		switch wait {
		case "READY_WAIT":
			if d.Status != StatusReady {
				return awsproto.Errorf("DeploymentIsNotInReadyStateException", "The deployment %s does not have a status of Ready and can't continue yet.", id)
			}
			if d.Control.ReadyContinued {
				return ErrUnchanged
			}
			d.Control.ReadyContinued = true
		default:
			if d.Status == StatusCreated {
				return awsproto.Errorf(notStarted, "The deployment %s has not started.", id)
			}
			if !d.InstanceTerminationWaitTimeStarted {
				return awsproto.Errorf("InvalidDeploymentStatusException", "The deployment %s is not waiting to terminate its original task set.", id)
			}
			if d.Control.TerminationWaitSkipped {
				return ErrUnchanged
			}
			d.Control.TerminationWaitSkipped = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(id)
	return nil
}

func (s *Service) skipWaitTimeForInstanceTermination(ctx context.Context, in *deploymentIDInput) (*empty, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if err := s.continueWait(ctx, id, "TERMINATION_WAIT", "DeploymentNotStartedException"); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// startedDeployment loads a deployment whose targets exist.
func (s *Service) startedDeployment(ctx context.Context, id string) (*Deployment, error) {
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.soleTarget() == nil {
		return nil, awsproto.Errorf("DeploymentNotStartedException", "The deployment %s has not started.", id)
	}
	return d, nil
}

type listDeploymentTargetsInput struct {
	DeploymentID  *string             `json:"deploymentId"`
	NextToken     *string             `json:"nextToken"`
	TargetFilters map[string][]string `json:"targetFilters"`
}

type listDeploymentTargetsOutput struct {
	TargetIDs []string `json:"targetIds"`
	NextToken string   `json:"nextToken,omitempty"`
}

func (s *Service) listDeploymentTargets(ctx context.Context, in *listDeploymentTargetsInput) (*listDeploymentTargetsOutput, error) {
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
	if d, err := s.Deployment(ctx, id); err != nil {
		return nil, err
	} else if d.ComputePlatform == PlatformServer {
		if d, err = s.serverStarted(ctx, id); err != nil {
			return nil, err
		}
		return s.listServerTargets(ctx, d, in)
	}
	if _, err := decodeToken("targets/"+id, in.NextToken); err != nil {
		return nil, err
	}
	if in.NextToken != nil && *in.NextToken != "" {
		// An ECS deployment has one target, so no page ever follows.
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", *in.NextToken)
	}
	d, err := s.startedDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &listDeploymentTargetsOutput{TargetIDs: []string{}}
	t := d.soleTarget()
	if st := in.TargetFilters["TargetStatus"]; len(st) > 0 && !slices.Contains(st, t.TargetStatus()) {
		return out, nil
	}
	// ServerInstanceLabel labels Server instances; an ECS or Lambda target
	// has none.
	if len(in.TargetFilters["ServerInstanceLabel"]) > 0 {
		return out, nil
	}
	out.TargetIDs = append(out.TargetIDs, t.ID())
	return out, nil
}

type batchGetDeploymentTargetsInput struct {
	DeploymentID *string   `json:"deploymentId"`
	TargetIDs    []*string `json:"targetIds"`
}

type batchGetDeploymentTargetsOutput struct {
	DeploymentTargets []DeploymentTarget `json:"deploymentTargets"`
}

func (s *Service) batchGetDeploymentTargets(ctx context.Context, in *batchGetDeploymentTargetsInput) (*batchGetDeploymentTargetsOutput, error) {
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
	if d, err := s.Deployment(ctx, id); err != nil {
		return nil, err
	} else if d.ComputePlatform == PlatformServer {
		if d, err = s.serverStarted(ctx, id); err != nil {
			return nil, err
		}
		ids := make([]string, len(in.TargetIDs))
		for i, t := range in.TargetIDs {
			ids[i] = *t
		}
		return s.batchGetServerTargets(ctx, d, ids)
	}
	d, err := s.startedDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(in.TargetIDs) > 1 {
		return nil, awsproto.Errorf("DeploymentTargetListSizeExceededException", "An %s deployment has one target: give exactly one target ID (%d were given).", d.ComputePlatform, len(in.TargetIDs))
	}
	t, err := soleTargetNamed(d, *in.TargetIDs[0])
	if err != nil {
		return nil, err
	}
	return &batchGetDeploymentTargetsOutput{DeploymentTargets: []DeploymentTarget{t}}, nil
}

// soleTargetNamed is the one target of an ECS or Lambda deployment, if it
// has the given id.
func soleTargetNamed(d *Deployment, targetID string) (DeploymentTarget, error) {
	t := d.soleTarget()
	if targetID != t.ID() {
		return DeploymentTarget{}, awsproto.Errorf("DeploymentTargetDoesNotExistException", "The target %s is not part of deployment %s.", targetID, d.DeploymentID)
	}
	return t.wire(), nil
}

type getDeploymentTargetInput struct {
	DeploymentID *string `json:"deploymentId"`
	TargetID     *string `json:"targetId"`
}

type getDeploymentTargetOutput struct {
	DeploymentTarget DeploymentTarget `json:"deploymentTarget"`
}

func (s *Service) getDeploymentTarget(ctx context.Context, in *getDeploymentTargetInput) (*getDeploymentTargetOutput, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.TargetID == nil || *in.TargetID == "" {
		return nil, awsproto.Errorf("DeploymentTargetIdRequiredException", "A target ID is required.")
	}
	if d, err := s.Deployment(ctx, id); err != nil {
		return nil, err
	} else if d.ComputePlatform == PlatformServer {
		if d, err = s.serverStarted(ctx, id); err != nil {
			return nil, err
		}
		out, err := s.batchGetServerTargets(ctx, d, []string{*in.TargetID})
		if err != nil {
			return nil, err
		}
		return &getDeploymentTargetOutput{DeploymentTarget: out.DeploymentTargets[0]}, nil
	}
	d, err := s.startedDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := soleTargetNamed(d, *in.TargetID)
	if err != nil {
		return nil, err
	}
	return &getDeploymentTargetOutput{DeploymentTarget: t}, nil
}

// The instance operations predate ECS: AWS answers them for ECS deployments
// with InvalidComputePlatformException and points to the target operations.
func (s *Service) instanceOpOf(ctx context.Context, id string) error {
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return err
	}
	return awsproto.Errorf("InvalidComputePlatformException", "Deployment %s is on the %s compute platform, which the instance operations do not support: use ListDeploymentTargets and BatchGetDeploymentTargets.", id, d.ComputePlatform)
}

type listDeploymentInstancesInput struct {
	DeploymentID         *string  `json:"deploymentId"`
	NextToken            *string  `json:"nextToken"`
	InstanceStatusFilter []string `json:"instanceStatusFilter"`
	InstanceTypeFilter   []string `json:"instanceTypeFilter"`
}

func (s *Service) listDeploymentInstances(ctx context.Context, in *listDeploymentInstancesInput) (*listDeploymentInstancesOutput, error) {
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
	if d, err := s.Deployment(ctx, id); err == nil && d.ComputePlatform == PlatformServer {
		if d, err = s.serverStarted(ctx, id); err != nil {
			return nil, err
		}
		return s.listServerInstances(ctx, d, in)
	}
	return nil, s.instanceOpOf(ctx, id)
}

type getDeploymentInstanceInput struct {
	DeploymentID *string `json:"deploymentId"`
	InstanceID   *string `json:"instanceId"`
}

func (s *Service) getDeploymentInstance(ctx context.Context, in *getDeploymentInstanceInput) (*getDeploymentInstanceOutput, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.InstanceID == nil || *in.InstanceID == "" {
		return nil, awsproto.Errorf("InstanceIdRequiredException", "An instance ID is required.")
	}
	if d, err := s.Deployment(ctx, id); err == nil && d.ComputePlatform == PlatformServer {
		return s.getServerInstance(ctx, d, *in.InstanceID)
	}
	return nil, s.instanceOpOf(ctx, id)
}

type batchGetDeploymentInstancesInput struct {
	DeploymentID *string   `json:"deploymentId"`
	InstanceIDs  []*string `json:"instanceIds"`
}

func (s *Service) batchGetDeploymentInstances(ctx context.Context, in *batchGetDeploymentInstancesInput) (*batchGetDeploymentInstancesOutput, error) {
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
	if d, err := s.Deployment(ctx, id); err == nil && d.ComputePlatform == PlatformServer {
		ids := make([]string, 0, len(in.InstanceIDs))
		for _, p := range in.InstanceIDs {
			if p == nil || *p == "" {
				return nil, awsproto.Errorf("InstanceIdRequiredException", "An instance ID is empty.")
			}
			ids = append(ids, *p)
		}
		return s.batchGetServerInstances(ctx, d, ids)
	}
	return nil, s.instanceOpOf(ctx, id)
}

type putLifecycleEventHookExecutionStatusInput struct {
	DeploymentID                  *string `json:"deploymentId"`
	LifecycleEventHookExecutionID *string `json:"lifecycleEventHookExecutionId"`
	Status                        *string `json:"status"`
}

type putLifecycleEventHookExecutionStatusOutput struct {
	LifecycleEventHookExecutionID string `json:"lifecycleEventHookExecutionId"`
}

func (s *Service) putLifecycleEventHookExecutionStatus(ctx context.Context, in *putLifecycleEventHookExecutionStatusInput) (*putLifecycleEventHookExecutionStatusOutput, error) {
	id, err := deploymentID(in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if in.LifecycleEventHookExecutionID == nil || *in.LifecycleEventHookExecutionID == "" {
		return nil, awsproto.Errorf("InvalidLifecycleEventHookExecutionIdException", "A lifecycle event hook execution ID is required.")
	}
	status := str(in.Status)
	if !oneOf(status, "Succeeded", "Failed") {
		return nil, awsproto.Errorf("InvalidLifecycleEventHookExecutionStatusException", "Status %q is invalid: a hook can only report Succeeded or Failed.", status)
	}
	execID := *in.LifecycleEventHookExecutionID
	err = s.UpdateDeployment(ctx, id, func(d *Deployment) error {
		h := d.Hook(execID)
		if h == nil {
			return awsproto.Errorf("InvalidLifecycleEventHookExecutionIdException", "The lifecycle event hook execution ID %s is not one of deployment %s.", execID, id)
		}
		if h.Status == HookSucceeded || h.Status == HookFailed || Terminal(d.Status) {
			return awsproto.Errorf("LifecycleEventAlreadyCompletedException", "The lifecycle event %s of deployment %s has already completed.", h.Event, id)
		}
		h.Status = status
		t := s.nowTime()
		h.Reported = &t
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(id)
	return &putLifecycleEventHookExecutionStatusOutput{LifecycleEventHookExecutionID: execID}, nil
}
