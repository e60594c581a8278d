package agentcmd

import (
	"fmt"
	"slices"
)

// Spec is the deployment specification a host fetches for every command,
// with the members and names AWS's agent reads (deployment_specification.rb).
// AllPossibleLifecycleEvents is deliberately absent: with it the agent's
// Install fails.
type Spec struct {
	ApplicationName     string `json:"ApplicationName"`
	DeploymentID        string `json:"DeploymentId"`
	DeploymentGroupName string `json:"DeploymentGroupName"`
	// DeploymentGroupID is a directory name on the host and the key of its
	// last-successful-install bookkeeping, so it must stay the same across
	// the group's deployments.
	DeploymentGroupID string   `json:"DeploymentGroupId"`
	Revision          Revision `json:"Revision"`
	// DeploymentCreator is "user" when empty; "codeDeployRollback" changes
	// which archive the agent runs some hooks from.
	DeploymentCreator string `json:"DeploymentCreator,omitempty"`
	// DeploymentType is IN_PLACE (the default) or BLUE_GREEN.
	DeploymentType       string                `json:"DeploymentType,omitempty"`
	AppSpecFilename      string                `json:"AppSpecFilename,omitempty"`
	AgentActionOverrides *AgentActionOverrides `json:"AgentActionOverrides,omitempty"`
}

// Revision types the agent can fetch without reaching GitHub.
const (
	RevisionS3             = "S3"
	RevisionLocalFile      = "Local File"
	RevisionLocalDirectory = "Local Directory"
)

// Revision is where the bundle is: S3Revision for RevisionS3, LocalRevision
// for the two local types.
type Revision struct {
	RevisionType  string         `json:"RevisionType"`
	S3Revision    *S3Revision    `json:"S3Revision,omitempty"`
	LocalRevision *LocalRevision `json:"LocalRevision,omitempty"`
}

// S3Revision is a bundle in a bucket; the agent compares ETag (quotes
// stripped) with the downloaded object's and asks for Version if given.
type S3Revision struct {
	Bucket     string `json:"Bucket"`
	Key        string `json:"Key"`
	BundleType string `json:"BundleType"`
	Version    string `json:"Version,omitempty"`
	ETag       string `json:"ETag,omitempty"`
}

// LocalRevision is a bundle on the host's own disk.
type LocalRevision struct {
	Location   string `json:"Location"`
	BundleType string `json:"BundleType"`
}

// AgentActionOverrides carries the deployment's fileExistsBehavior.
type AgentActionOverrides struct {
	AgentOverrides AgentOverrides `json:"AgentOverrides"`
}

// AgentOverrides: FileExistsBehavior is DISALLOW (the agent's default),
// OVERWRITE or RETAIN; the AppSpec's file_exists_behavior wins over it.
type AgentOverrides struct {
	FileExistsBehavior string `json:"FileExistsBehavior,omitempty"`
}

// CommandNames are the commands AWS's agent runs; it fails any other name
// ("Unsupported command type"), so Issue refuses them.
var CommandNames = []string{
	"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle",
	"BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService",
	"BeforeAllowTraffic", "AfterAllowTraffic",
}

func (sp *Spec) validate() error {
	for _, f := range []struct{ name, v string }{
		{"ApplicationName", sp.ApplicationName},
		{"DeploymentId", sp.DeploymentID},
		{"DeploymentGroupName", sp.DeploymentGroupName},
		{"DeploymentGroupId", sp.DeploymentGroupID},
	} {
		if f.v == "" {
			return fmt.Errorf("%w: spec %s is required", ErrInvalidCommand, f.name)
		}
	}
	r := sp.Revision
	switch r.RevisionType {
	case RevisionS3:
		s3 := r.S3Revision
		if s3 == nil || s3.Bucket == "" || s3.Key == "" {
			return fmt.Errorf("%w: an S3 revision needs S3Revision with Bucket and Key", ErrInvalidCommand)
		}
		if !slices.Contains([]string{"tar", "tgz", "zip"}, s3.BundleType) {
			return fmt.Errorf("%w: S3 bundle type %q is not tar, tgz or zip", ErrInvalidCommand, s3.BundleType)
		}
	case RevisionLocalFile, RevisionLocalDirectory:
		l := r.LocalRevision
		if l == nil || l.Location == "" {
			return fmt.Errorf("%w: a local revision needs LocalRevision with Location", ErrInvalidCommand)
		}
		if !slices.Contains([]string{"tar", "tgz", "zip", "directory"}, l.BundleType) {
			return fmt.Errorf("%w: local bundle type %q is not tar, tgz, zip or directory", ErrInvalidCommand, l.BundleType)
		}
	default:
		return fmt.Errorf("%w: revision type %q is not S3, Local File or Local Directory", ErrInvalidCommand, r.RevisionType)
	}
	if !slices.Contains([]string{"", "IN_PLACE", "BLUE_GREEN"}, sp.DeploymentType) {
		return fmt.Errorf("%w: deployment type %q is not IN_PLACE or BLUE_GREEN", ErrInvalidCommand, sp.DeploymentType)
	}
	if o := sp.AgentActionOverrides; o != nil && !slices.Contains([]string{"", "DISALLOW", "OVERWRITE", "RETAIN"}, o.AgentOverrides.FileExistsBehavior) {
		return fmt.Errorf("%w: file exists behavior %q is not DISALLOW, OVERWRITE or RETAIN", ErrInvalidCommand, o.AgentOverrides.FileExistsBehavior)
	}
	return nil
}
