package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// ECS is what the watcher needs of ECS. The server adapts its own ECS
// service to it (awsapi.ECS does it through the ECS wire API).
type ECS interface {
	DescribeService(ctx context.Context, cluster, service string) (*ECSService, error)
	// Containers lists a task definition's containers and their images.
	Containers(ctx context.Context, taskDefinition string) ([]Container, error)
	// CloneTaskDefinition registers a new revision of taskDefinition's
	// family, identical but for container's image, and returns its ARN.
	CloneTaskDefinition(ctx context.Context, taskDefinition, container, image string) (string, error)
	UpdateService(ctx context.Context, cluster, service, taskDefinition string) error
	// ReplaceTaskSet does for an EXTERNAL-controller service what its
	// controller would: a task set of taskDefinition at 100 %, made
	// primary, the other task sets deleted.
	ReplaceTaskSet(ctx context.Context, cluster, service, taskDefinition string) error
}

// ECSService is the part of a service the watcher reads.
type ECSService struct {
	Cluster        string
	Name           string
	TaskDefinition string
	// Controller is ECS, CODE_DEPLOY or EXTERNAL.
	Controller    string
	LoadBalancers []LoadBalancer
}

type LoadBalancer struct {
	ContainerName string
	ContainerPort int
}

type Container struct {
	Name  string
	Image string
}

// CodeDeploy is what the watcher needs of CodeDeploy.
type CodeDeploy interface {
	GetDeploymentGroup(ctx context.Context, application, group string) (*DeploymentGroup, error)
	// CreateDeployment deploys an AppSpecContent revision and returns the
	// deployment id.
	CreateDeployment(ctx context.Context, application, group, appSpec, description string) (string, error)
	// DeploymentStatus is the deployment's status (Created ... Succeeded,
	// Failed, Stopped).
	DeploymentStatus(ctx context.Context, id string) (string, error)
}

type DeploymentGroup struct {
	ComputePlatform string
	// ECSServices are the group's (cluster, service) pairs.
	ECSServices []ECSServiceRef
}

type ECSServiceRef struct{ Cluster, Service string }

// Lambda is what the watcher needs of Lambda for image functions.
type Lambda interface {
	// FunctionImage is the function's current image URI ("" for a zip function).
	FunctionImage(ctx context.Context, function string) (string, error)
	// UpdateImage points $LATEST at image and publishes a version of it.
	UpdateImage(ctx context.Context, function, image string) (version string, err error)
	AliasVersion(ctx context.Context, function, alias string) (string, error)
}

// errAlreadyRunning: the target already runs the image, nothing to deploy.
var errAlreadyRunning = errors.New("the target already runs this image")

// errBusy: the group has a deployment in progress that the rule did not
// start; the image waits for it like one queued behind the rule's own.
var errBusy = errors.New("the deployment group has a deployment in progress")

// busyCodes are CodeDeploy's answers when a group is already deploying.
var busyCodes = []string{"DeploymentLimitExceededException", "DeploymentAlreadyStartedException"}

// terminal deployment statuses.
func terminal(status string) bool {
	switch status {
	case "Succeeded", "Failed", "Stopped":
		return true
	}
	return false
}

// actor performs a deployment of one image for one rule.
type actor struct {
	ecs    ECS
	cd     CodeDeploy
	lambda Lambda
}

// deployment is what an action started: a CodeDeploy deployment to follow,
// or none when the service was updated directly.
type deployment struct {
	ID     string
	Detail string
}

func (a *actor) deploy(ctx context.Context, r *Rule, image, description string) (*deployment, error) {
	switch r.Target.Kind {
	case TargetCodeDeployECS:
		return a.deployCodeDeployECS(ctx, r, image, description)
	case TargetECSService:
		return a.deployECSService(ctx, r, image)
	case TargetCodeDeployLambda:
		return a.deployLambda(ctx, r, image, description)
	}
	return nil, fmt.Errorf("unknown target kind %q", r.Target.Kind)
}

func (a *actor) needECS() error {
	if a.ecs == nil {
		return errors.New("this server has no ECS service to deploy to")
	}
	return nil
}

func (a *actor) needCodeDeploy() error {
	if a.cd == nil {
		return errors.New("this server has no CodeDeploy service to deploy with")
	}
	return nil
}

func (a *actor) deployCodeDeployECS(ctx context.Context, r *Rule, image, description string) (*deployment, error) {
	if err := errors.Join(a.needECS(), a.needCodeDeploy()); err != nil {
		return nil, err
	}
	t := r.Target
	g, err := a.cd.GetDeploymentGroup(ctx, t.Application, t.DeploymentGroup)
	if err != nil {
		return nil, fmt.Errorf("reading deployment group %s/%s: %w", t.Application, t.DeploymentGroup, err)
	}
	if g.ComputePlatform != "ECS" || len(g.ECSServices) == 0 {
		return nil, fmt.Errorf("deployment group %s/%s is not an ECS group with a service (compute platform %q)", t.Application, t.DeploymentGroup, g.ComputePlatform)
	}
	ref := g.ECSServices[0]
	svc, err := a.ecs.DescribeService(ctx, ref.Cluster, ref.Service)
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s/%s: %w", ref.Cluster, ref.Service, err)
	}
	taskDef, container, err := a.cloneFor(ctx, svc, t.Container, image)
	if err != nil {
		return nil, err
	}
	spec, err := ecsAppSpec(taskDef, svc, container)
	if err != nil {
		return nil, err
	}
	id, err := a.cd.CreateDeployment(ctx, t.Application, t.DeploymentGroup, spec, description)
	if err != nil {
		if hasCode(err, busyCodes...) {
			return nil, fmt.Errorf("%w: %v", errBusy, err)
		}
		return nil, fmt.Errorf("creating a deployment on %s/%s: %w", t.Application, t.DeploymentGroup, err)
	}
	return &deployment{ID: id, Detail: "task definition " + taskDef}, nil
}

func (a *actor) deployECSService(ctx context.Context, r *Rule, image string) (*deployment, error) {
	if err := a.needECS(); err != nil {
		return nil, err
	}
	t := r.Target
	svc, err := a.ecs.DescribeService(ctx, t.Cluster, t.Service)
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s/%s: %w", t.Cluster, t.Service, err)
	}
	switch svc.Controller {
	case "", "ECS", "EXTERNAL":
	default:
		return nil, fmt.Errorf("ECS service %s has the %s deployment controller; use a CodeDeploy target for it", t.Service, svc.Controller)
	}
	taskDef, _, err := a.cloneFor(ctx, svc, t.Container, image)
	if err != nil {
		return nil, err
	}
	if svc.Controller == "EXTERNAL" {
		if err := a.ecs.ReplaceTaskSet(ctx, t.Cluster, t.Service, taskDef); err != nil {
			return nil, fmt.Errorf("replacing the task set of ECS service %s/%s with %s: %w", t.Cluster, t.Service, taskDef, err)
		}
		return &deployment{Detail: "primary task set now runs task definition " + taskDef}, nil
	}
	if err := a.ecs.UpdateService(ctx, t.Cluster, t.Service, taskDef); err != nil {
		return nil, fmt.Errorf("updating ECS service %s/%s to %s: %w", t.Cluster, t.Service, taskDef, err)
	}
	return &deployment{Detail: "service updated to task definition " + taskDef}, nil
}

// cloneFor registers the service's task definition again with the chosen
// container's image replaced, and returns the new ARN and the container.
func (a *actor) cloneFor(ctx context.Context, svc *ECSService, want, image string) (string, string, error) {
	cs, err := a.ecs.Containers(ctx, svc.TaskDefinition)
	if err != nil {
		return "", "", fmt.Errorf("reading task definition %s: %w", svc.TaskDefinition, err)
	}
	c, err := pickContainer(cs, svc, want, image)
	if err != nil {
		return "", "", fmt.Errorf("task definition %s: %w", svc.TaskDefinition, err)
	}
	if c.Image == image {
		return "", "", errAlreadyRunning
	}
	arn, err := a.ecs.CloneTaskDefinition(ctx, svc.TaskDefinition, c.Name, image)
	if err != nil {
		return "", "", fmt.Errorf("registering a task definition from %s with %s=%s: %w", svc.TaskDefinition, c.Name, image, err)
	}
	return arn, c.Name, nil
}

// pickContainer: the named container; else the only one; else the
// load-balanced one; else the one already running this repository.
func pickContainer(cs []Container, svc *ECSService, want, image string) (Container, error) {
	if want != "" {
		for _, c := range cs {
			if c.Name == want {
				return c, nil
			}
		}
		return Container{}, fmt.Errorf("no container named %q", want)
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	for _, lb := range svc.LoadBalancers {
		for _, c := range cs {
			if c.Name == lb.ContainerName {
				return c, nil
			}
		}
	}
	repo := repoOf(image)
	for _, c := range cs {
		if repoOf(c.Image) == repo {
			return c, nil
		}
	}
	return Container{}, fmt.Errorf("%d containers and none load-balanced or running %s: name one with --container", len(cs), repo)
}

// repoOf strips a tag or digest from an image reference.
func repoOf(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

func ecsAppSpec(taskDef string, svc *ECSService, container string) (string, error) {
	props := map[string]any{"TaskDefinition": taskDef}
	for _, lb := range svc.LoadBalancers {
		if lb.ContainerName == container || len(svc.LoadBalancers) == 1 {
			props["LoadBalancerInfo"] = map[string]any{"ContainerName": lb.ContainerName, "ContainerPort": lb.ContainerPort}
			break
		}
	}
	if _, ok := props["LoadBalancerInfo"]; !ok {
		return "", fmt.Errorf("ECS service %s has no load balancer for container %s; CodeDeploy blue/green needs one", svc.Name, container)
	}
	spec := map[string]any{
		"version": 0.0,
		"Resources": []any{map[string]any{
			"TargetService": map[string]any{"Type": "AWS::ECS::Service", "Properties": props},
		}},
	}
	b, err := json.Marshal(spec)
	return string(b), err
}

func (a *actor) deployLambda(ctx context.Context, r *Rule, image, description string) (*deployment, error) {
	if err := a.needCodeDeploy(); err != nil {
		return nil, err
	}
	if a.lambda == nil {
		return nil, errors.New("this server has no Lambda service to deploy to")
	}
	t := r.Target
	cur, err := a.lambda.FunctionImage(ctx, t.Function)
	if err != nil {
		return nil, fmt.Errorf("reading function %s: %w", t.Function, err)
	}
	if cur == "" {
		return nil, fmt.Errorf("function %s is not an image function", t.Function)
	}
	from, err := a.lambda.AliasVersion(ctx, t.Function, t.Alias)
	if err != nil {
		return nil, fmt.Errorf("reading alias %s of %s: %w", t.Alias, t.Function, err)
	}
	to, err := a.lambda.UpdateImage(ctx, t.Function, image)
	if err != nil {
		return nil, fmt.Errorf("publishing %s as a version of %s: %w", image, t.Function, err)
	}
	if to == from {
		return nil, errAlreadyRunning
	}
	spec, err := json.Marshal(map[string]any{
		"version": 0.0,
		"Resources": []any{map[string]any{
			t.Function: map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{
				"Name": t.Function, "Alias": t.Alias, "CurrentVersion": from, "TargetVersion": to,
			}},
		}},
	})
	if err != nil {
		return nil, err
	}
	id, err := a.cd.CreateDeployment(ctx, t.Application, t.DeploymentGroup, string(spec), description)
	if err != nil {
		if hasCode(err, busyCodes...) {
			return nil, fmt.Errorf("%w: %v", errBusy, err)
		}
		return nil, fmt.Errorf("creating a deployment on %s/%s: %w", t.Application, t.DeploymentGroup, err)
	}
	return &deployment{ID: id, Detail: fmt.Sprintf("version %s → %s", from, to)}, nil
}

// coder is an error that carries an AWS error code (smithy's APIError and
// awsproto.Error both do).
type coder interface{ ErrorCode() string }

func hasCode(err error, codes ...string) bool {
	var got string
	var c coder
	if e := awsproto.AsError(err); e != nil {
		got = e.Code
	} else if errors.As(err, &c) {
		got = c.ErrorCode()
	}
	return got != "" && slices.Contains(codes, got)
}
