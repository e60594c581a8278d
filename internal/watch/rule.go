// Package watch is cutover's registry watcher: rules that follow an image
// repository, poll it (or hear from it through a notification) and, when a
// new image appears, deploy it — through CodeDeploy for an ECS service
// behind a deployment group or a Lambda image function, or by updating an
// ECS service that has the ECS controller. Rules and every decision are kept
// in the store, so a restart forgets nothing and never deploys an image twice.
package watch

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Target kinds: what a rule deploys to.
const (
	// TargetCodeDeployECS: the ECS service of a CodeDeploy deployment group
	// (blue/green through CodeDeploy).
	TargetCodeDeployECS = "CodeDeployECS"
	// TargetECSService: an ECS service with the ECS controller (updated in
	// place) or the EXTERNAL controller (given a new primary task set).
	TargetECSService = "ECSService"
	// TargetCodeDeployLambda: a Lambda image function whose alias a
	// CodeDeploy deployment group shifts.
	TargetCodeDeployLambda = "CodeDeployLambda"
)

// Target is where a rule deploys.
type Target struct {
	Kind            string `json:"kind"`
	Application     string `json:"applicationName,omitempty"`
	DeploymentGroup string `json:"deploymentGroupName,omitempty"`
	// Container is the container whose image is replaced; empty means the
	// only container, else the load-balanced one.
	Container string `json:"containerName,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	Service   string `json:"service,omitempty"`
	Function  string `json:"functionName,omitempty"`
	Alias     string `json:"alias,omitempty"`
}

// Credentials reach a registry that needs a login. With none the watcher
// tries the server's Docker config.json, then ECR (for ECR hosts), then
// anonymous access; bearer tokens (Docker Registry v2 token auth) are
// fetched by the registry client from whichever of these applies.
type Credentials struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// Rule is one watch rule as the API shows it.
type Rule struct {
	Name string `json:"name"`
	// Image is REGISTRY/REPOSITORY without tag or digest.
	Image    string `json:"image"`
	Policy   Policy `json:"policy"`
	Target   Target `json:"target"`
	Interval Dur    `json:"intervalSeconds"`
	Paused   bool   `json:"paused,omitempty"`
	// Insecure allows plain HTTP to a registry that is not on loopback or a
	// private network (those use HTTP anyway).
	Insecure    bool         `json:"insecure,omitempty"`
	Credentials *Credentials `json:"credentials,omitempty"`
	Created     time.Time    `json:"created"`
}

// Dur is a duration carried as whole seconds on the wire.
type Dur int64

func (d Dur) Duration() time.Duration { return time.Duration(d) * time.Second }

// Interval bounds: polling faster than every few seconds only feeds
// registry rate limits; slower than a day is no longer watching.
const (
	DefaultInterval = Dur(60)
	MinInterval     = Dur(1)
	MaxInterval     = Dur(86400)
)

var ruleName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// Validate reports the first thing wrong with r, in words for the caller.
func (r *Rule) Validate() error {
	if !ruleName.MatchString(r.Name) {
		return fmt.Errorf("rule name %q: 1 to 100 letters, digits, '.', '_' or '-'", r.Name)
	}
	if _, err := r.Repository(); err != nil {
		return err
	}
	if err := r.Policy.Validate(); err != nil {
		return err
	}
	if r.Interval < MinInterval || r.Interval > MaxInterval {
		return fmt.Errorf("interval %ds: must be between %d and %d seconds", r.Interval, MinInterval, MaxInterval)
	}
	if c := r.Credentials; c != nil && (c.Username == "") != (c.Password == "") {
		return fmt.Errorf("credentials need both a username and a password")
	}
	t := r.Target
	switch t.Kind {
	case TargetCodeDeployECS:
		if t.Application == "" || t.DeploymentGroup == "" {
			return fmt.Errorf("target %s needs an application and a deployment group", t.Kind)
		}
		if t.Cluster != "" || t.Service != "" || t.Function != "" || t.Alias != "" {
			return fmt.Errorf("target %s takes its service from the deployment group: drop cluster, service, function and alias", t.Kind)
		}
	case TargetECSService:
		if t.Service == "" {
			return fmt.Errorf("target %s needs a service", t.Kind)
		}
		if t.Application != "" || t.DeploymentGroup != "" || t.Function != "" || t.Alias != "" {
			return fmt.Errorf("target %s is updated directly: drop application, deployment group, function and alias", t.Kind)
		}
	case TargetCodeDeployLambda:
		if t.Application == "" || t.DeploymentGroup == "" || t.Function == "" || t.Alias == "" {
			return fmt.Errorf("target %s needs an application, a deployment group, a function and an alias", t.Kind)
		}
		if t.Cluster != "" || t.Service != "" || t.Container != "" {
			return fmt.Errorf("target %s has no cluster, service or container", t.Kind)
		}
	default:
		return fmt.Errorf("target kind %q: want %s, %s or %s", t.Kind, TargetCodeDeployECS, TargetECSService, TargetCodeDeployLambda)
	}
	return nil
}

// Repository parses Image.
func (r *Rule) Repository() (name.Repository, error) {
	if strings.ContainsAny(r.Image, "@") || strings.Count(r.Image, ":") > strings.Count(hostOf(r.Image), ":") {
		return name.Repository{}, fmt.Errorf("image %q: give REGISTRY/REPOSITORY without tag or digest; the policy chooses the tag", r.Image)
	}
	var opts []name.Option
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(r.Image, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("image %q: %w", r.Image, err)
	}
	return repo, nil
}

// hostOf is the part of an image reference before the first slash when it
// looks like a host (has a dot or a port, or is localhost).
func hostOf(image string) string {
	h, _, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(h, ".:") || h == "localhost") {
		return h
	}
	return ""
}

// Pinned is the reference a deployment uses: the repository pinned by
// digest, so what runs is exactly what was checked.
func Pinned(repo name.Repository, digest string) string {
	return repo.Name() + "@" + digest
}
