package codedeploy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// groupInput is both CreateDeploymentGroupInput and
// UpdateDeploymentGroupInput. Lists are pointers so that an update can tell
// "absent, keep" from "[], clear".
type groupInput struct {
	ApplicationName                  *string                           `json:"applicationName"`
	DeploymentGroupName              *string                           `json:"deploymentGroupName"`
	CurrentDeploymentGroupName       *string                           `json:"currentDeploymentGroupName"`
	NewDeploymentGroupName           *string                           `json:"newDeploymentGroupName"`
	DeploymentConfigName             *string                           `json:"deploymentConfigName"`
	EC2TagFilters                    *[]EC2TagFilter                   `json:"ec2TagFilters"`
	OnPremisesInstanceTagFilters     *[]TagFilter                      `json:"onPremisesInstanceTagFilters"`
	AutoScalingGroups                *[]string                         `json:"autoScalingGroups"`
	ServiceRoleArn                   *string                           `json:"serviceRoleArn"`
	TriggerConfigurations            *[]TriggerConfig                  `json:"triggerConfigurations"`
	AlarmConfiguration               *AlarmConfiguration               `json:"alarmConfiguration"`
	AutoRollbackConfiguration        *AutoRollbackConfiguration        `json:"autoRollbackConfiguration"`
	OutdatedInstancesStrategy        *string                           `json:"outdatedInstancesStrategy"`
	DeploymentStyle                  *DeploymentStyle                  `json:"deploymentStyle"`
	BlueGreenDeploymentConfiguration *BlueGreenDeploymentConfiguration `json:"blueGreenDeploymentConfiguration"`
	LoadBalancerInfo                 *LoadBalancerInfo                 `json:"loadBalancerInfo"`
	EC2TagSet                        *EC2TagSet                        `json:"ec2TagSet"`
	ECSServices                      *[]ECSService                     `json:"ecsServices"`
	OnPremisesTagSet                 *OnPremisesTagSet                 `json:"onPremisesTagSet"`
	Tags                             []Tag                             `json:"tags"`
	TerminationHookEnabled           *bool                             `json:"terminationHookEnabled"`
}

// apply copies the members present in the request onto g.
func (in *groupInput) apply(g *DeploymentGroup) {
	if in.DeploymentConfigName != nil {
		g.DeploymentConfigName = *in.DeploymentConfigName
	}
	if in.EC2TagFilters != nil {
		g.EC2TagFilters = *in.EC2TagFilters
	}
	if in.OnPremisesInstanceTagFilters != nil {
		g.OnPremisesInstanceTagFilters = *in.OnPremisesInstanceTagFilters
	}
	if in.AutoScalingGroups != nil {
		asgs := make([]AutoScalingGroup, len(*in.AutoScalingGroups))
		for i, n := range *in.AutoScalingGroups {
			asgs[i] = AutoScalingGroup{Name: n}
		}
		g.AutoScalingGroups = asgs
	}
	if in.ServiceRoleArn != nil {
		g.ServiceRoleArn = *in.ServiceRoleArn
	}
	if in.TriggerConfigurations != nil {
		g.TriggerConfigurations = *in.TriggerConfigurations
	}
	if in.AlarmConfiguration != nil {
		g.AlarmConfiguration = in.AlarmConfiguration
	}
	if in.AutoRollbackConfiguration != nil {
		g.AutoRollbackConfiguration = in.AutoRollbackConfiguration
	}
	if in.OutdatedInstancesStrategy != nil {
		g.OutdatedInstancesStrategy = *in.OutdatedInstancesStrategy
	}
	if in.DeploymentStyle != nil {
		g.DeploymentStyle = in.DeploymentStyle
	}
	if in.BlueGreenDeploymentConfiguration != nil {
		g.BlueGreenDeploymentConfiguration = in.BlueGreenDeploymentConfiguration
	}
	if in.LoadBalancerInfo != nil {
		g.LoadBalancerInfo = in.LoadBalancerInfo
	}
	if in.EC2TagSet != nil {
		g.EC2TagSet = in.EC2TagSet
	}
	if in.ECSServices != nil {
		g.ECSServices = *in.ECSServices
	}
	if in.OnPremisesTagSet != nil {
		g.OnPremisesTagSet = in.OnPremisesTagSet
	}
	if in.TerminationHookEnabled != nil {
		g.TerminationHookEnabled = *in.TerminationHookEnabled
	}
}

// checkShape validates what can be checked without the store.
func (in *groupInput) checkShape() error {
	if in.DeploymentConfigName != nil {
		if _, err := configName(in.DeploymentConfigName); err != nil {
			return err
		}
	}
	if in.ServiceRoleArn != nil && !roleArnRe.MatchString(*in.ServiceRoleArn) {
		return awsproto.Errorf("InvalidRoleException", "The service role ARN %q is not a valid IAM role ARN (arn:aws:iam::<account>:role/<name>).", *in.ServiceRoleArn)
	}
	return nil
}

type createDeploymentGroupOutput struct {
	DeploymentGroupID string `json:"deploymentGroupId"`
}

func (s *Service) createDeploymentGroup(ctx context.Context, in *groupInput) (*createDeploymentGroupOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	name, err := groupName(in.DeploymentGroupName)
	if err != nil {
		return nil, err
	}
	if in.ServiceRoleArn == nil || *in.ServiceRoleArn == "" {
		return nil, awsproto.Errorf("RoleRequiredException", "A service role ARN is required.")
	}
	if err := in.checkShape(); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags, "InvalidTagsToAddException", maxResourceTags); err != nil {
		return nil, err
	}
	g := DeploymentGroup{DeploymentGroupInfo: DeploymentGroupInfo{
		ApplicationName:     app,
		DeploymentGroupID:   newID(),
		DeploymentGroupName: name,
	}, Tags: mergeTags(nil, in.Tags)}
	in.apply(&g)
	err = s.st.Update(ctx, func(tx store.Tx) error {
		a, _, err := loadApp(tx, app)
		if err != nil {
			return err
		}
		key := groupKey(app, name)
		if _, err := tx.Get(kindGroup, key); err == nil {
			return awsproto.Errorf("DeploymentGroupAlreadyExistsException", "Deployment group %s already exists for application %s.", name, app)
		} else if !isNotFound(err) {
			return err
		}
		n, err := tx.Count(kindGroup, store.ListOptions{Prefix: app + "/"})
		if err != nil {
			return err
		}
		if n >= maxGroupsPerApp {
			return awsproto.Errorf("DeploymentGroupLimitExceededException", "Application %s already has the maximum number of deployment groups (%d).", app, maxGroupsPerApp)
		}
		g.ComputePlatform = a.ComputePlatform
		if err := s.completeGroup(tx, &g); err != nil {
			return err
		}
		for _, svc := range g.ECSServices {
			if err := s.claimECSService(tx, svc, key); err != nil {
				return err
			}
		}
		return putJSON(tx, &store.Record{Kind: kindGroup, Key: key, Index: g.DeploymentConfigName}, g)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "deployment group created", "application", app, "deployment_group", name)
	return &createDeploymentGroupOutput{DeploymentGroupID: g.DeploymentGroupID}, nil
}

// completeGroup fills the platform defaults into a group and checks the
// result against the platform's rules and its deployment config.
func (s *Service) completeGroup(tx store.Tx, g *DeploymentGroup) error {
	if g.DeploymentConfigName == "" {
		g.DeploymentConfigName = map[string]string{
			PlatformServer: DefaultServerConfig,
			PlatformECS:    DefaultECSConfig,
			PlatformLambda: DefaultLambdaConfig,
		}[g.ComputePlatform]
	}
	if g.OutdatedInstancesStrategy == "" {
		g.OutdatedInstancesStrategy = "UPDATE"
	}
	style := DeploymentStyle{}
	if g.DeploymentStyle != nil {
		style = *g.DeploymentStyle
	}
	switch g.ComputePlatform {
	case PlatformServer:
		if style.DeploymentType == nil {
			style.DeploymentType = ptr("IN_PLACE")
		}
		if style.DeploymentOption == nil {
			style.DeploymentOption = ptr("WITHOUT_TRAFFIC_CONTROL")
		}
	case PlatformLambda:
		// Lambda has only one style; AWS reports it whether or not it was given.
		if g.DeploymentStyle == nil {
			style = DeploymentStyle{DeploymentType: ptr("BLUE_GREEN"), DeploymentOption: ptr("WITH_TRAFFIC_CONTROL")}
		}
	}
	if style.DeploymentType != nil || style.DeploymentOption != nil {
		g.DeploymentStyle = &style
	}
	if err := checkGroup(g); err != nil {
		return err
	}
	cfg, _, err := loadConfig(tx, g.DeploymentConfigName)
	if err != nil {
		return err
	}
	if cfg.ComputePlatform != g.ComputePlatform {
		return awsproto.Errorf("InvalidDeploymentConfigNameException",
			"Deployment config %s is for the %s compute platform, but application %s uses %s.",
			g.DeploymentConfigName, cfg.ComputePlatform, g.ApplicationName, g.ComputePlatform)
	}
	return nil
}

var snsArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)

var (
	triggerEvents = []string{"DeploymentStart", "DeploymentSuccess", "DeploymentFailure", "DeploymentStop", "DeploymentRollback",
		"DeploymentReady", "InstanceStart", "InstanceSuccess", "InstanceFailure", "InstanceReady"}
	rollbackEvents = []string{"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"}
)

// checkGroup validates a complete deployment group against AWS's rules.
func checkGroup(g *DeploymentGroup) error {
	checks := []func(*DeploymentGroup) error{
		checkGroupTags, checkGroupASGs, checkTriggers, checkAlarms, checkAutoRollback,
		checkStyle, checkBlueGreen, checkLoadBalancer, checkECSServices,
	}
	for _, c := range checks {
		if err := c(g); err != nil {
			return err
		}
	}
	if !oneOf(g.OutdatedInstancesStrategy, "UPDATE", "IGNORE") {
		return awsproto.Errorf("InvalidInputException", "outdatedInstancesStrategy %q is invalid: it must be UPDATE or IGNORE.", g.OutdatedInstancesStrategy)
	}
	return nil
}

func checkTagFilter(key, value, typ *string, exc string) error {
	if typ != nil && !oneOf(*typ, tagFilterTypes...) {
		return awsproto.Errorf(exc, "Tag filter type %q is invalid: it must be KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE.", *typ)
	}
	switch str(typ) {
	case "KEY_ONLY":
		if str(key) == "" {
			return awsproto.Errorf(exc, "A KEY_ONLY tag filter needs a Key.")
		}
	case "VALUE_ONLY":
		if str(value) == "" {
			return awsproto.Errorf(exc, "A VALUE_ONLY tag filter needs a Value.")
		}
	default:
		if str(key) == "" {
			return awsproto.Errorf(exc, "A tag filter needs a Key.")
		}
	}
	if len(str(key)) > 128 || len(str(value)) > 256 {
		return awsproto.Errorf(exc, "Tag filter keys are at most 128 characters and values at most 256.")
	}
	return nil
}

func checkGroupTags(g *DeploymentGroup) error {
	var ec2Set [][]TagFilter
	if g.EC2TagSet != nil {
		for _, grp := range g.EC2TagSet.EC2TagSetList {
			ec2Set = append(ec2Set, asTagFilters(grp))
		}
	}
	if err := checkTagSelection(asTagFilters(g.EC2TagFilters), ec2Set, "InvalidEC2TagException",
		"InvalidEC2TagCombinationException", "Only one of ec2TagFilters and ec2TagSet may be specified."); err != nil {
		return err
	}
	var onPremSet [][]TagFilter
	if g.OnPremisesTagSet != nil {
		onPremSet = g.OnPremisesTagSet.OnPremisesTagSetList
	}
	return checkTagSelection(g.OnPremisesInstanceTagFilters, onPremSet, "InvalidTagException",
		"InvalidOnPremisesTagCombinationException", "Only one of onPremisesInstanceTagFilters and onPremisesTagSet may be specified.")
}

// checkTagSelection validates one way a group picks instances by tag: a
// flat list of filters (any may match) or a tag set (every group must
// match), never both. EC2 and on-premises selections follow the same rules
// and differ only in the exceptions they raise.
func checkTagSelection(filters []TagFilter, set [][]TagFilter, invalidExc, comboExc, comboMsg string) error {
	for _, f := range filters {
		if err := checkTagFilter(f.Key, f.Value, f.Type, invalidExc); err != nil {
			return err
		}
	}
	if len(set) > maxTagSetGroups {
		return awsproto.Errorf("TagSetListLimitExceededException", "The number of tag groups included in the tag set list exceeded the maximum allowed limit of %d.", maxTagSetGroups)
	}
	for _, grp := range set {
		for _, f := range grp {
			if err := checkTagFilter(f.Key, f.Value, f.Type, invalidExc); err != nil {
				return err
			}
		}
	}
	if len(filters) > 0 && len(set) > 0 {
		return awsproto.Errorf(comboExc, "%s", comboMsg)
	}
	return nil
}

// asTagFilters views EC2 tag filters as tag filters: the two shapes have the
// same members and differ only in name.
func asTagFilters(fs []EC2TagFilter) []TagFilter {
	out := make([]TagFilter, len(fs))
	for i, f := range fs {
		out[i] = TagFilter(f)
	}
	return out
}

func checkGroupASGs(g *DeploymentGroup) error {
	if len(g.AutoScalingGroups) > maxAutoScalingGroups {
		return awsproto.Errorf("InvalidAutoScalingGroupException", "A deployment group can have at most %d Auto Scaling groups.", maxAutoScalingGroups)
	}
	for _, a := range g.AutoScalingGroups {
		if isBlank(a.Name) || len(a.Name) > 255 {
			return awsproto.Errorf("InvalidAutoScalingGroupException", "Auto Scaling group name %q is invalid.", a.Name)
		}
	}
	if len(g.AutoScalingGroups) > 0 && g.ComputePlatform != PlatformServer {
		return awsproto.Errorf("InvalidAutoScalingGroupException", "Auto Scaling groups are only supported for the Server compute platform.")
	}
	return nil
}

func checkTriggers(g *DeploymentGroup) error {
	const exc = "InvalidTriggerConfigException"
	if len(g.TriggerConfigurations) > maxTriggers {
		return awsproto.Errorf("TriggerTargetsLimitExceededException", "A deployment group can have at most %d triggers.", maxTriggers)
	}
	seen := map[string]bool{}
	for _, t := range g.TriggerConfigurations {
		name := str(t.TriggerName)
		if isBlank(name) {
			return awsproto.Errorf(exc, "A trigger needs a triggerName.")
		}
		if seen[name] {
			return awsproto.Errorf(exc, "Trigger name %q is used more than once.", name)
		}
		seen[name] = true
		if !validTriggerTarget(str(t.TriggerTargetArn)) {
			return awsproto.Errorf(exc, "Trigger %s: target %q is not a valid SNS topic ARN (or http(s) webhook URL).", name, str(t.TriggerTargetArn))
		}
		if len(t.TriggerEvents) == 0 {
			return awsproto.Errorf(exc, "Trigger %s needs at least one trigger event.", name)
		}
		for _, e := range t.TriggerEvents {
			if !oneOf(e, triggerEvents...) {
				return awsproto.Errorf(exc, "Trigger %s: event %q is invalid.", name, e)
			}
		}
	}
	return nil
}

func checkAlarms(g *DeploymentGroup) error {
	a := g.AlarmConfiguration
	if a == nil {
		return nil
	}
	if len(a.Alarms) > maxAlarms {
		return awsproto.Errorf("AlarmsLimitExceededException", "The maximum number of alarms for a deployment group (%d) was exceeded.", maxAlarms)
	}
	seen := map[string]bool{}
	for _, al := range a.Alarms {
		n := str(al.Name)
		if isBlank(n) || len(n) > 255 {
			return awsproto.Errorf("InvalidAlarmConfigException", "Alarm name %q is invalid.", n)
		}
		if seen[n] {
			return awsproto.Errorf("InvalidAlarmConfigException", "Alarm %q is listed more than once.", n)
		}
		seen[n] = true
	}
	if a.Enabled && len(a.Alarms) == 0 {
		return awsproto.Errorf("InvalidAlarmConfigException", "The alarm configuration is enabled but lists no alarms.")
	}
	return nil
}

func checkAutoRollback(g *DeploymentGroup) error {
	r := g.AutoRollbackConfiguration
	if r == nil {
		return nil
	}
	for _, e := range r.Events {
		if !oneOf(e, rollbackEvents...) {
			return awsproto.Errorf("InvalidAutoRollbackConfigException", "Auto rollback event %q is invalid.", e)
		}
	}
	if r.Enabled && len(r.Events) == 0 {
		return awsproto.Errorf("InvalidAutoRollbackConfigException", "Auto rollback is enabled but no rollback events are given.")
	}
	if slices.Contains(r.Events, "DEPLOYMENT_STOP_ON_ALARM") && r.Enabled && (g.AlarmConfiguration == nil || !g.AlarmConfiguration.Enabled) {
		return awsproto.Errorf("InvalidAutoRollbackConfigException", "Rolling back on DEPLOYMENT_STOP_ON_ALARM needs an enabled alarm configuration.")
	}
	return nil
}

func checkStyle(g *DeploymentGroup) error {
	const exc = "InvalidDeploymentStyleException"
	st := g.DeploymentStyle
	if st != nil {
		if t := st.DeploymentType; t != nil && !oneOf(*t, "IN_PLACE", "BLUE_GREEN") {
			return awsproto.Errorf(exc, "Deployment type %q is invalid: it must be IN_PLACE or BLUE_GREEN.", *t)
		}
		if o := st.DeploymentOption; o != nil && !oneOf(*o, "WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL") {
			return awsproto.Errorf(exc, "Deployment option %q is invalid: it must be WITH_TRAFFIC_CONTROL or WITHOUT_TRAFFIC_CONTROL.", *o)
		}
	}
	switch g.ComputePlatform {
	case PlatformECS, PlatformLambda:
		if st == nil || str(st.DeploymentType) != "BLUE_GREEN" || str(st.DeploymentOption) != "WITH_TRAFFIC_CONTROL" {
			return awsproto.Errorf(exc, "A deployment group for the %s compute platform must use deploymentType BLUE_GREEN and deploymentOption WITH_TRAFFIC_CONTROL.", g.ComputePlatform)
		}
	case PlatformServer:
		if st != nil && str(st.DeploymentType) == "BLUE_GREEN" && str(st.DeploymentOption) != "WITH_TRAFFIC_CONTROL" {
			return awsproto.Errorf(exc, "A blue/green deployment group must use deploymentOption WITH_TRAFFIC_CONTROL.")
		}
	}
	return nil
}

func checkBlueGreen(g *DeploymentGroup) error {
	const exc = "InvalidBlueGreenDeploymentConfigurationException"
	bg := g.BlueGreenDeploymentConfiguration
	if bg == nil {
		if g.ComputePlatform == PlatformECS {
			return awsproto.Errorf(exc, "An ECS deployment group needs a blueGreenDeploymentConfiguration.")
		}
		return nil
	}
	maxReady := int32(maxWaitMinutes)
	if g.ComputePlatform == PlatformECS {
		maxReady = 7200 // ECS may wait up to 120 hours before rerouting
	}
	if t := bg.TerminateBlueInstancesOnDeploymentSuccess; t != nil {
		if t.Action != nil && !oneOf(*t.Action, "TERMINATE", "KEEP_ALIVE") {
			return awsproto.Errorf(exc, "terminateBlueInstancesOnDeploymentSuccess action %q is invalid: it must be TERMINATE or KEEP_ALIVE.", *t.Action)
		}
		if w := t.TerminationWaitTimeInMinutes; w != nil && (*w < 0 || *w > maxWaitMinutes) {
			return awsproto.Errorf(exc, "terminationWaitTimeInMinutes %d is invalid: it must be between 0 and %d.", *w, maxWaitMinutes)
		}
	}
	if r := bg.DeploymentReadyOption; r != nil {
		if r.ActionOnTimeout != nil && !oneOf(*r.ActionOnTimeout, "CONTINUE_DEPLOYMENT", "STOP_DEPLOYMENT") {
			return awsproto.Errorf(exc, "deploymentReadyOption actionOnTimeout %q is invalid: it must be CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT.", *r.ActionOnTimeout)
		}
		if w := r.WaitTimeInMinutes; w != nil && (*w < 0 || *w > maxReady) {
			return awsproto.Errorf(exc, "waitTimeInMinutes %d is invalid: it must be between 0 and %d.", *w, maxReady)
		}
	}
	if p := bg.GreenFleetProvisioningOption; p != nil {
		if p.Action != nil && !oneOf(*p.Action, "DISCOVER_EXISTING", "COPY_AUTO_SCALING_GROUP") {
			return awsproto.Errorf(exc, "greenFleetProvisioningOption action %q is invalid: it must be DISCOVER_EXISTING or COPY_AUTO_SCALING_GROUP.", *p.Action)
		}
		if str(p.Action) == "COPY_AUTO_SCALING_GROUP" && len(g.AutoScalingGroups) == 0 {
			return awsproto.Errorf(exc, "COPY_AUTO_SCALING_GROUP needs the deployment group to list an Auto Scaling group.")
		}
	}
	return nil
}

func checkLoadBalancer(g *DeploymentGroup) error {
	const exc = "InvalidLoadBalancerInfoException"
	lb := g.LoadBalancerInfo
	if lb != nil {
		if len(lb.ElbInfoList) > 10 || len(lb.TargetGroupInfoList) > 10 {
			return awsproto.Errorf(exc, "At most 10 load balancers and 10 target groups may be given.")
		}
		for _, e := range lb.ElbInfoList {
			if isBlank(str(e.Name)) {
				return awsproto.Errorf(exc, "A load balancer in elbInfoList has no name.")
			}
		}
		for _, t := range lb.TargetGroupInfoList {
			if isBlank(str(t.Name)) {
				return awsproto.Errorf(exc, "A target group in targetGroupInfoList has no name.")
			}
		}
	}
	withTC := g.DeploymentStyle != nil && str(g.DeploymentStyle.DeploymentOption) == "WITH_TRAFFIC_CONTROL"
	switch g.ComputePlatform {
	case PlatformECS:
		if lb == nil || len(lb.TargetGroupPairInfoList) == 0 {
			return awsproto.Errorf(exc, "An ECS deployment group needs loadBalancerInfo with one targetGroupPairInfoList entry.")
		}
		if len(lb.ElbInfoList) > 0 || len(lb.TargetGroupInfoList) > 0 {
			return awsproto.Errorf(exc, "An ECS deployment group takes targetGroupPairInfoList, not elbInfoList or targetGroupInfoList.")
		}
		return checkTargetGroupPairs(lb.TargetGroupPairInfoList)
	case PlatformServer:
		if lb != nil && len(lb.TargetGroupPairInfoList) > 0 {
			return awsproto.Errorf("InvalidTargetGroupPairException", "Target group pairs are only supported for the ECS compute platform.")
		}
		if withTC && (lb == nil || len(lb.ElbInfoList)+len(lb.TargetGroupInfoList) == 0) {
			return awsproto.Errorf(exc, "The specification for load balancing in the deployment group is invalid. The deploymentOption value is set to WITH_TRAFFIC_CONTROL, but either no load balancer was specified in elbInfoList or no target group was specified in targetGroupInfoList.")
		}
	case PlatformLambda:
		if lb != nil && len(lb.ElbInfoList)+len(lb.TargetGroupInfoList)+len(lb.TargetGroupPairInfoList) > 0 {
			return awsproto.Errorf(exc, "A Lambda deployment group takes no load balancer.")
		}
	}
	return nil
}

func checkTargetGroupPairs(pairs []TargetGroupPairInfo) error {
	const exc = "InvalidTargetGroupPairException"
	if len(pairs) != 1 {
		return awsproto.Errorf(exc, "An ECS deployment group needs exactly one target group pair; %d were given.", len(pairs))
	}
	p := pairs[0]
	if len(p.TargetGroups) != 2 {
		return awsproto.Errorf(exc, "A target group pair needs exactly 2 target groups; %d were given.", len(p.TargetGroups))
	}
	a, b := str(p.TargetGroups[0].Name), str(p.TargetGroups[1].Name)
	if isBlank(a) || isBlank(b) {
		return awsproto.Errorf(exc, "Each target group in a pair needs a name.")
	}
	if a == b {
		return awsproto.Errorf(exc, "The two target groups of a pair must differ; both are %q.", a)
	}
	if p.ProdTrafficRoute == nil || len(p.ProdTrafficRoute.ListenerArns) != 1 || isBlank(p.ProdTrafficRoute.ListenerArns[0]) {
		return awsproto.Errorf(exc, "A target group pair needs a prodTrafficRoute with exactly one listener ARN.")
	}
	if t := p.TestTrafficRoute; t != nil {
		if len(t.ListenerArns) > 1 || (len(t.ListenerArns) == 1 && isBlank(t.ListenerArns[0])) {
			return awsproto.Errorf(exc, "A testTrafficRoute takes at most one listener ARN.")
		}
		if len(t.ListenerArns) == 1 && t.ListenerArns[0] == p.ProdTrafficRoute.ListenerArns[0] {
			return awsproto.Errorf(exc, "The test traffic route must use a different listener than the production route.")
		}
	}
	return nil
}

func checkECSServices(g *DeploymentGroup) error {
	const exc = "InvalidECSServiceException"
	if g.ComputePlatform != PlatformECS {
		if len(g.ECSServices) > 0 {
			return awsproto.Errorf(exc, "ecsServices is only supported for the ECS compute platform.")
		}
		return nil
	}
	if len(g.ECSServices) != 1 {
		return awsproto.Errorf(exc, "An ECS deployment group needs exactly one ECS service; %d were given.", len(g.ECSServices))
	}
	svc := g.ECSServices[0]
	if isBlank(str(svc.ServiceName)) || isBlank(str(svc.ClusterName)) {
		return awsproto.Errorf(exc, "An ECS service needs both serviceName and clusterName.")
	}
	return nil
}

func ecsServiceKey(svc ECSService) string { return str(svc.ClusterName) + "|" + str(svc.ServiceName) }

// claimECSService records that the group at groupKey deploys svc; AWS
// allows one deployment group per ECS service.
func (s *Service) claimECSService(tx store.Tx, svc ECSService, gkey string) error {
	key := ecsServiceKey(svc)
	rec, err := tx.Get(kindECSService, key)
	if err == nil {
		if string(rec.Data) == gkey {
			return nil
		}
		app, group, _ := strings.Cut(string(rec.Data), "/")
		return awsproto.Errorf("ECSServiceMappingLimitExceededException",
			"The ECS service %s in cluster %s is already associated with deployment group %s of application %s.",
			str(svc.ServiceName), str(svc.ClusterName), group, app)
	}
	if !isNotFound(err) {
		return err
	}
	return tx.Put(&store.Record{Kind: kindECSService, Key: key, Data: []byte(gkey)})
}

func (s *Service) releaseECSService(tx store.Tx, svc ECSService) error {
	err := tx.Delete(kindECSService, ecsServiceKey(svc), -1)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("releasing ECS service %s: %w", ecsServiceKey(svc), err)
	}
	return nil
}

// loadGroup reads a group, answering the AWS error for a missing application or group.
func loadGroup(tx store.Tx, app, name string) (*DeploymentGroup, *store.Record, error) {
	if _, _, err := loadApp(tx, app); err != nil {
		return nil, nil, err
	}
	var g DeploymentGroup
	rec, err := getJSON(tx, kindGroup, groupKey(app, name), &g)
	if isNotFound(err) {
		return nil, nil, awsproto.Errorf("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s", name)
	}
	if err != nil {
		return nil, nil, err
	}
	return &g, rec, nil
}

// GetDeploymentGroup returns a group for in-process callers.
func (s *Service) GetDeploymentGroup(ctx context.Context, app, name string) (*DeploymentGroup, error) {
	var g *DeploymentGroup
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		g, _, err = loadGroup(tx, app, name)
		return err
	})
	return g, err
}

// UpdateDeploymentGroupState lets the engine record a group's
// lastAttemptedDeployment, lastSuccessfulDeployment and targetRevision. fn
// may change only those members; the change is written in one transaction.
func (s *Service) UpdateDeploymentGroupState(ctx context.Context, app, name string, fn func(*DeploymentGroupInfo) error) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		g, rec, err := loadGroup(tx, app, name)
		if err != nil {
			return err
		}
		next := g.DeploymentGroupInfo
		if err := fn(&next); err != nil {
			return err
		}
		g.LastAttemptedDeployment = next.LastAttemptedDeployment
		g.LastSuccessfulDeployment = next.LastSuccessfulDeployment
		g.TargetRevision = next.TargetRevision
		return putJSON(tx, rec, g)
	})
}

// view is the group as the wire reports it: lists AWS always sends are
// never null.
func (g *DeploymentGroup) view() *DeploymentGroupInfo {
	info := g.DeploymentGroupInfo
	if info.EC2TagFilters == nil {
		info.EC2TagFilters = []EC2TagFilter{}
	}
	if info.OnPremisesInstanceTagFilters == nil {
		info.OnPremisesInstanceTagFilters = []TagFilter{}
	}
	if info.AutoScalingGroups == nil {
		info.AutoScalingGroups = []AutoScalingGroup{}
	}
	if info.TriggerConfigurations == nil {
		info.TriggerConfigurations = []TriggerConfig{}
	}
	return &info
}

type groupNameInput struct {
	ApplicationName     *string `json:"applicationName"`
	DeploymentGroupName *string `json:"deploymentGroupName"`
}

type getDeploymentGroupOutput struct {
	DeploymentGroupInfo *DeploymentGroupInfo `json:"deploymentGroupInfo"`
}

func (s *Service) getDeploymentGroup(ctx context.Context, in *groupNameInput) (*getDeploymentGroupOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	name, err := groupName(in.DeploymentGroupName)
	if err != nil {
		return nil, err
	}
	g, err := s.GetDeploymentGroup(ctx, app, name)
	if err != nil {
		return nil, err
	}
	return &getDeploymentGroupOutput{DeploymentGroupInfo: g.view()}, nil
}

type hooksOutput struct {
	HooksNotCleanedUp []AutoScalingGroup `json:"hooksNotCleanedUp"`
}

func (s *Service) updateDeploymentGroup(ctx context.Context, in *groupInput) (*hooksOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	cur, err := groupName(in.CurrentDeploymentGroupName)
	if err != nil {
		return nil, err
	}
	newName := cur
	if in.NewDeploymentGroupName != nil {
		if newName, err = groupName(in.NewDeploymentGroupName); err != nil {
			return nil, err
		}
	}
	if in.ServiceRoleArn != nil && *in.ServiceRoleArn == "" {
		return nil, awsproto.Errorf("InvalidRoleException", "The service role ARN may not be empty.")
	}
	if err := in.checkShape(); err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		g, rec, err := loadGroup(tx, app, cur)
		if err != nil {
			return err
		}
		oldServices := g.ECSServices
		in.apply(g)
		g.DeploymentGroupName = newName
		if err := s.completeGroup(tx, g); err != nil {
			return err
		}
		for _, svc := range oldServices {
			if err := s.releaseECSService(tx, svc); err != nil {
				return err
			}
		}
		newKey := groupKey(app, newName)
		for _, svc := range g.ECSServices {
			if err := s.claimECSService(tx, svc, newKey); err != nil {
				return err
			}
		}
		rec.Index = g.DeploymentConfigName
		if newName == cur {
			return putJSON(tx, rec, g)
		}
		if _, err := tx.Get(kindGroup, newKey); err == nil {
			return awsproto.Errorf("DeploymentGroupAlreadyExistsException", "Deployment group %s already exists for application %s.", newName, app)
		} else if !isNotFound(err) {
			return err
		}
		if err := tx.Delete(kindGroup, rec.Key, rec.Version); err != nil {
			return fmt.Errorf("removing deployment group %q: %w", rec.Key, err)
		}
		if err := moveDeployments(tx, app, cur, app, newName); err != nil {
			return err
		}
		return putJSON(tx, &store.Record{Kind: kindGroup, Key: newKey, Index: g.DeploymentConfigName}, g)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "deployment group updated", "application", app, "deployment_group", cur, "new_name", newName)
	return &hooksOutput{HooksNotCleanedUp: []AutoScalingGroup{}}, nil
}

// deleteDeploymentGroup removes a group; like AWS it succeeds when the
// group or its application does not exist.
func (s *Service) deleteDeploymentGroup(ctx context.Context, in *groupNameInput) (*hooksOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	name, err := groupName(in.DeploymentGroupName)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var g DeploymentGroup
		rec, err := getJSON(tx, kindGroup, groupKey(app, name), &g)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, svc := range g.ECSServices {
			if err := s.releaseECSService(tx, svc); err != nil {
				return err
			}
		}
		return tx.Delete(kindGroup, rec.Key, rec.Version)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "deployment group deleted", "application", app, "deployment_group", name)
	return &hooksOutput{HooksNotCleanedUp: []AutoScalingGroup{}}, nil
}

type listDeploymentGroupsInput struct {
	ApplicationName *string `json:"applicationName"`
	NextToken       *string `json:"nextToken"`
}

type listDeploymentGroupsOutput struct {
	ApplicationName  string   `json:"applicationName"`
	DeploymentGroups []string `json:"deploymentGroups"`
	NextToken        string   `json:"nextToken,omitempty"`
}

func (s *Service) listDeploymentGroups(ctx context.Context, in *listDeploymentGroupsInput) (*listDeploymentGroupsOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	if _, err := s.GetApplication(ctx, app); err != nil {
		return nil, err
	}
	keys, next, err := s.pageKeys(ctx, kindGroup, app+"/", in.NextToken)
	if err != nil {
		return nil, err
	}
	return &listDeploymentGroupsOutput{ApplicationName: app, DeploymentGroups: keys, NextToken: next}, nil
}

type batchGetDeploymentGroupsInput struct {
	ApplicationName      *string   `json:"applicationName"`
	DeploymentGroupNames []*string `json:"deploymentGroupNames"`
}

type batchGetDeploymentGroupsOutput struct {
	DeploymentGroupsInfo []*DeploymentGroupInfo `json:"deploymentGroupsInfo"`
	ErrorMessage         string                 `json:"errorMessage,omitempty"`
}

func (s *Service) batchGetDeploymentGroups(ctx context.Context, in *batchGetDeploymentGroupsInput) (*batchGetDeploymentGroupsOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	if len(in.DeploymentGroupNames) == 0 {
		return nil, awsproto.Errorf("DeploymentGroupNameRequiredException", "At least one deployment group name is required.")
	}
	if len(in.DeploymentGroupNames) > 100 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 100 deployment group names may be given; %d were.", len(in.DeploymentGroupNames))
	}
	names := make([]string, 0, len(in.DeploymentGroupNames))
	for _, n := range in.DeploymentGroupNames {
		name, err := groupName(n)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	out := &batchGetDeploymentGroupsOutput{DeploymentGroupsInfo: []*DeploymentGroupInfo{}}
	var missing []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadApp(tx, app); err != nil {
			return err
		}
		for _, name := range names {
			var g DeploymentGroup
			_, err := getJSON(tx, kindGroup, groupKey(app, name), &g)
			if isNotFound(err) {
				missing = append(missing, name)
				continue
			}
			if err != nil {
				return err
			}
			out.DeploymentGroupsInfo = append(out.DeploymentGroupsInfo, g.view())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		out.ErrorMessage = "Deployment groups not found: " + strings.Join(missing, ", ")
	}
	return out, nil
}
