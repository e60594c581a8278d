package codedeploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/s3"
	"github.com/cutover/cutover/internal/store"
)

// Bundles reads revision bundles' descriptions, so CreateDeployment can
// refuse a bundle that is not there or is not the one the revision names.
// *s3.Service satisfies it.
type Bundles interface {
	Head(ctx context.Context, bucket, key, version string) (s3.ObjectInfo, error)
}

// serverParts is what Server deployments add to the service.
type serverParts struct {
	bundles atomic.Pointer[bundlesBox]
}

type bundlesBox struct{ b Bundles }

// SetBundles connects the bundle store. Until it is set, S3 revisions of
// Server deployments are taken without looking at the object.
func (s *Service) SetBundles(b Bundles) { s.server.bundles.Store(&bundlesBox{b}) }

var serverBundleTypes = []string{"tar", "tgz", "zip"}

// prepareServer checks a Server revision. The AppSpec is in the bundle, so
// it is the host agent that reads it; there is nothing to return.
func (s *Service) prepareServer(ctx context.Context, g *DeploymentGroup, loc *RevisionLocation) (string, error) {
	const exc = "InvalidRevisionException"
	switch t := str(loc.RevisionType); t {
	case "S3":
	case "GitHub":
		return "", awsproto.Errorf(exc, "GitHub revisions cannot be deployed by cutover: its hosts cannot reach GitHub. Push the bundle to S3 (aws deploy push) and deploy that.")
	case "String", "AppSpecContent":
		return "", awsproto.Errorf(exc, "A %s revision cannot be deployed to the Server compute platform: its AppSpec and files come in a bundle in S3.", t)
	default:
		return "", awsproto.Errorf(exc, "Revision type %q cannot be deployed to the Server compute platform.", t)
	}
	l := loc.S3Location
	bt := str(l.BundleType)
	if bt == "" {
		return "", awsproto.Errorf(exc, "The bundle type of the S3 revision is required for the Server compute platform: tar, tgz or zip.")
	}
	if !slices.Contains(serverBundleTypes, bt) {
		return "", awsproto.Errorf(exc, "Bundle type %q cannot be deployed to the Server compute platform: it must be tar, tgz or zip.", bt)
	}
	if g.DeploymentStyle != nil && str(g.DeploymentStyle.DeploymentType) == "BLUE_GREEN" {
		// cutover has no Auto Scaling to copy a group from: the replacement
		// fleet is always made of registered instances (DISCOVER_EXISTING).
		if bg := g.BlueGreenDeploymentConfiguration; bg != nil && bg.GreenFleetProvisioningOption != nil &&
			str(bg.GreenFleetProvisioningOption.Action) == "COPY_AUTO_SCALING_GROUP" {
			return "", awsproto.Errorf("InvalidAutoScalingGroupException", "Deployment group %s provisions its replacement fleet with COPY_AUTO_SCALING_GROUP, and cutover has no Auto Scaling group to copy: use DISCOVER_EXISTING with targetInstances.", g.DeploymentGroupName)
		}
	}
	box := s.server.bundles.Load()
	if box == nil || box.b == nil {
		return "", nil
	}
	info, err := box.b.Head(ctx, str(l.Bucket), str(l.Key), str(l.Version))
	if err != nil {
		if ae := awsproto.AsError(err); ae != nil {
			return "", awsproto.Errorf(exc, "The bundle s3://%s/%s cannot be read: %s (%s).", str(l.Bucket), str(l.Key), ae.Message, ae.Code)
		}
		return "", fmt.Errorf("reading the bundle s3://%s/%s: %w", str(l.Bucket), str(l.Key), err)
	}
	if want := strings.Trim(str(l.ETag), `"`); want != "" && want != info.ETag {
		return "", awsproto.Errorf(exc, "The bundle s3://%s/%s has the ETag %s, not %s as the revision says.", str(l.Bucket), str(l.Key), info.ETag, want)
	}
	return "", nil
}

// checkReplacementFleet refuses a blue/green deployment to servers that
// does not say which instances are the replacement fleet: with
// DISCOVER_EXISTING (the only option cutover has) the deployment's
// targetInstances name them.
func checkReplacementFleet(g *DeploymentGroup, t *TargetInstances) error {
	if g.ComputePlatform != PlatformServer || g.DeploymentStyle == nil || str(g.DeploymentStyle.DeploymentType) != "BLUE_GREEN" {
		return nil
	}
	if t == nil || (len(t.TagFilters) == 0 && t.EC2TagSet == nil) {
		return awsproto.Errorf("InvalidTargetInstancesException",
			"A blue/green deployment to deployment group %s needs targetInstances (tagFilters or ec2TagSet) naming the replacement instances.", g.DeploymentGroupName)
	}
	return nil
}

// GroupInstances lists the registered on-premises instances a Server
// deployment group selects, sorted by name: those matching its
// onPremisesInstanceTagFilters (any filter) or onPremisesTagSet (every
// group of the set, any filter within a group), and — as cutover has no
// EC2 — those matching its ec2TagFilters or ec2TagSet the same way. When
// narrow is not nil (a deployment's targetInstances), an instance must
// match it too.
func (s *Service) GroupInstances(ctx context.Context, g *DeploymentGroupInfo, narrow *TargetInstances) ([]InstanceInfo, error) {
	return s.registeredInstances(ctx, func(tags []Tag) bool {
		return groupSelects(g, tags) && (narrow == nil || targetInstancesSelect(narrow, tags))
	})
}

// registeredInstances lists the registered on-premises instances whose tags
// keep accepts, sorted by name.
func (s *Service) registeredInstances(ctx context.Context, keep func([]Tag) bool) ([]InstanceInfo, error) {
	var all []InstanceInfo
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, _, err = listJSON[InstanceInfo](tx, kindInstance, store.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing on-premises instances: %w", err)
	}
	var out []InstanceInfo
	for _, in := range all {
		if in.Registered() && keep(in.Tags) {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b InstanceInfo) int { return strings.Compare(a.InstanceName, b.InstanceName) })
	return out, nil
}

// ReplacementInstances lists the registered on-premises instances a
// blue/green Server deployment's targetInstances selects (its Green
// fleet, DISCOVER_EXISTING), sorted by name. Nothing is selected without
// tagFilters or an ec2TagSet: autoScalingGroups name nothing in cutover.
func (s *Service) ReplacementInstances(ctx context.Context, t *TargetInstances) ([]InstanceInfo, error) {
	if t == nil || (len(t.TagFilters) == 0 && (t.EC2TagSet == nil || len(t.EC2TagSet.EC2TagSetList) == 0)) {
		return nil, nil
	}
	return s.registeredInstances(ctx, func(tags []Tag) bool { return targetInstancesSelect(t, tags) })
}

// groupSelects: the group's selectors are OR-ed with each other; an empty
// selector selects nothing (a group without any selects no instance).
func groupSelects(g *DeploymentGroupInfo, tags []Tag) bool {
	if len(g.OnPremisesInstanceTagFilters) > 0 && matchesTagFilters(tags, g.OnPremisesInstanceTagFilters) {
		return true
	}
	if g.OnPremisesTagSet != nil && matchesTagSet(tags, g.OnPremisesTagSet.OnPremisesTagSetList) {
		return true
	}
	if len(g.EC2TagFilters) > 0 && matchesTagFilters(tags, asTagFilters(g.EC2TagFilters)) {
		return true
	}
	if g.EC2TagSet != nil {
		var set [][]TagFilter
		for _, grp := range g.EC2TagSet.EC2TagSetList {
			set = append(set, asTagFilters(grp))
		}
		if matchesTagSet(tags, set) {
			return true
		}
	}
	return false
}

func targetInstancesSelect(t *TargetInstances, tags []Tag) bool {
	if len(t.TagFilters) > 0 {
		return matchesTagFilters(tags, asTagFilters(t.TagFilters))
	}
	if t.EC2TagSet != nil && len(t.EC2TagSet.EC2TagSetList) > 0 {
		var set [][]TagFilter
		for _, grp := range t.EC2TagSet.EC2TagSetList {
			set = append(set, asTagFilters(grp))
		}
		return matchesTagSet(tags, set)
	}
	return true
}

// matchesTagSet: every non-empty group must have a matching filter.
func matchesTagSet(tags []Tag, set [][]TagFilter) bool {
	matched := false
	for _, grp := range set {
		if len(grp) == 0 {
			continue
		}
		if !matchesTagFilters(tags, grp) {
			return false
		}
		matched = true
	}
	return matched
}
