// Package awsapi adapts AWS SDK clients to the watcher's seams (watch.ECS,
// watch.CodeDeploy, watch.Lambda, watch.ECRTokens). The server points the
// ECS, CodeDeploy and Lambda clients at its own services — in process with
// HandlerClient, or over its endpoint — and the ECR client at AWS.
package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/watch"
)

// HandlerClient is an aws.HTTPClient that serves each request with h in
// process, as principal p: an SDK client then reaches one of the server's
// own service handlers (ecs.Service.JSON(), ...) with no network and no
// signature check.
func HandlerClient(h http.Handler, p awsproto.Principal) aws.HTTPClient {
	return handlerClient{h: h, p: p}
}

type handlerClient struct {
	h http.Handler
	p awsproto.Principal
}

func (c handlerClient) Do(req *http.Request) (*http.Response, error) {
	// A server-side request carries Host and RequestURI, which a client
	// request leaves to the URL; the signature covers the host.
	r := req.Clone(awsproto.WithPrincipal(req.Context(), c.p))
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.RequestURI = req.URL.RequestURI()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// ECS is watch.ECS over the ECS API.
type ECS struct{ Client *ecs.Client }

func (a ECS) DescribeService(ctx context.Context, cluster, service string) (*watch.ECSService, error) {
	in := &ecs.DescribeServicesInput{Services: []string{service}}
	if cluster != "" {
		in.Cluster = aws.String(cluster)
	}
	out, err := a.Client.DescribeServices(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out.Services) == 0 {
		reason := "MISSING"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return nil, fmt.Errorf("service %s: %s", service, reason)
	}
	s := out.Services[0]
	if st := aws.ToString(s.Status); st != "ACTIVE" {
		return nil, fmt.Errorf("service %s is %s", service, st)
	}
	w := &watch.ECSService{Cluster: aws.ToString(s.ClusterArn), Name: aws.ToString(s.ServiceName), TaskDefinition: aws.ToString(s.TaskDefinition), Controller: "ECS"}
	if s.DeploymentController != nil {
		w.Controller = string(s.DeploymentController.Type)
	}
	for _, lb := range s.LoadBalancers {
		w.LoadBalancers = append(w.LoadBalancers, watch.LoadBalancer{ContainerName: aws.ToString(lb.ContainerName), ContainerPort: int(aws.ToInt32(lb.ContainerPort))})
	}
	return w, nil
}

func (a ECS) describe(ctx context.Context, td string) (*ecs.DescribeTaskDefinitionOutput, error) {
	return a.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
}

func (a ECS) Containers(ctx context.Context, td string) ([]watch.Container, error) {
	out, err := a.describe(ctx, td)
	if err != nil {
		return nil, err
	}
	var cs []watch.Container
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		cs = append(cs, watch.Container{Name: aws.ToString(c.Name), Image: aws.ToString(c.Image)})
	}
	return cs, nil
}

// CloneTaskDefinition registers every registrable field of td again, with
// one container's image replaced.
func (a ECS) CloneTaskDefinition(ctx context.Context, td, container, image string) (string, error) {
	out, err := a.describe(ctx, td)
	if err != nil {
		return "", err
	}
	d := out.TaskDefinition
	defs := append([]ecstypes.ContainerDefinition(nil), d.ContainerDefinitions...)
	found := false
	for i := range defs {
		if aws.ToString(defs[i].Name) == container {
			defs[i].Image = aws.String(image)
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("task definition %s has no container %s", td, container)
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family: d.Family, ContainerDefinitions: defs, Cpu: d.Cpu, Memory: d.Memory, NetworkMode: d.NetworkMode,
		ExecutionRoleArn: d.ExecutionRoleArn, TaskRoleArn: d.TaskRoleArn, Volumes: d.Volumes,
		PlacementConstraints: d.PlacementConstraints, RequiresCompatibilities: d.RequiresCompatibilities,
		RuntimePlatform: d.RuntimePlatform, PidMode: d.PidMode, IpcMode: d.IpcMode, ProxyConfiguration: d.ProxyConfiguration,
		InferenceAccelerators: d.InferenceAccelerators, EphemeralStorage: d.EphemeralStorage, EnableFaultInjection: d.EnableFaultInjection,
	}
	if len(out.Tags) > 0 {
		in.Tags = out.Tags
	}
	reg, err := a.Client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(reg.TaskDefinition.TaskDefinitionArn), nil
}

func (a ECS) UpdateService(ctx context.Context, cluster, service, td string) error {
	in := &ecs.UpdateServiceInput{Service: aws.String(service), TaskDefinition: aws.String(td)}
	if cluster != "" {
		in.Cluster = aws.String(cluster)
	}
	_, err := a.Client.UpdateService(ctx, in)
	return err
}

// ReplaceTaskSet creates a task set of td shaped like the service's
// primary one (load balancers, network, launch type), scales it to 100 %,
// makes it primary and deletes the others.
func (a ECS) ReplaceTaskSet(ctx context.Context, cluster, service, td string) error {
	in := &ecs.DescribeServicesInput{Services: []string{service}}
	if cluster != "" {
		in.Cluster = aws.String(cluster)
	}
	out, err := a.Client.DescribeServices(ctx, in)
	if err != nil {
		return err
	}
	if len(out.Services) == 0 {
		return fmt.Errorf("service %s not found", service)
	}
	s := out.Services[0]
	create := &ecs.CreateTaskSetInput{Cluster: s.ClusterArn, Service: s.ServiceArn, TaskDefinition: aws.String(td),
		ExternalId: aws.String("cutover-watch"), LoadBalancers: s.LoadBalancers, NetworkConfiguration: s.NetworkConfiguration,
		LaunchType: s.LaunchType, Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 100}}
	for _, ts := range s.TaskSets {
		if aws.ToString(ts.Status) == "PRIMARY" {
			create.LoadBalancers, create.NetworkConfiguration, create.LaunchType = ts.LoadBalancers, ts.NetworkConfiguration, ts.LaunchType
			create.CapacityProviderStrategy, create.PlatformVersion = ts.CapacityProviderStrategy, ts.PlatformVersion
		}
	}
	made, err := a.Client.CreateTaskSet(ctx, create)
	if err != nil {
		return fmt.Errorf("creating a task set: %w", err)
	}
	id := aws.ToString(made.TaskSet.Id)
	if _, err := a.Client.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: s.ClusterArn, Service: s.ServiceArn,
		PrimaryTaskSet: aws.String(id)}); err != nil {
		return fmt.Errorf("making task set %s primary: %w", id, err)
	}
	for _, ts := range s.TaskSets {
		if aws.ToString(ts.Id) == id {
			continue
		}
		if _, err := a.Client.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: s.ClusterArn, Service: s.ServiceArn, TaskSet: ts.Id, Force: aws.Bool(true)}); err != nil {
			return fmt.Errorf("deleting the former task set %s: %w", aws.ToString(ts.Id), err)
		}
	}
	return nil
}

// CodeDeploy is watch.CodeDeploy over the CodeDeploy API.
type CodeDeploy struct{ Client *codedeploy.Client }

func (a CodeDeploy) GetDeploymentGroup(ctx context.Context, app, group string) (*watch.DeploymentGroup, error) {
	out, err := a.Client.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group)})
	if err != nil {
		return nil, err
	}
	g := &watch.DeploymentGroup{ComputePlatform: string(out.DeploymentGroupInfo.ComputePlatform)}
	for _, s := range out.DeploymentGroupInfo.EcsServices {
		g.ECSServices = append(g.ECSServices, watch.ECSServiceRef{Cluster: aws.ToString(s.ClusterName), Service: aws.ToString(s.ServiceName)})
	}
	return g, nil
}

func (a CodeDeploy) CreateDeployment(ctx context.Context, app, group, spec, description string) (string, error) {
	sum := sha256.Sum256([]byte(spec))
	out, err := a.Client.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
		ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Description: aws.String(description),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(spec), Sha256: aws.String(hex.EncodeToString(sum[:]))}},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.DeploymentId), nil
}

func (a CodeDeploy) DeploymentStatus(ctx context.Context, id string) (string, error) {
	out, err := a.Client.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		return "", err
	}
	return string(out.DeploymentInfo.Status), nil
}

// Lambda is watch.Lambda over the Lambda API.
type Lambda struct{ Client *lambda.Client }

func (a Lambda) FunctionImage(ctx context.Context, fn string) (string, error) {
	out, err := a.Client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fn)})
	if err != nil {
		return "", err
	}
	if out.Code == nil {
		return "", nil
	}
	return aws.ToString(out.Code.ImageUri), nil
}

func (a Lambda) UpdateImage(ctx context.Context, fn, image string) (string, error) {
	up, err := a.Client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(fn), ImageUri: aws.String(image)})
	if err != nil {
		return "", err
	}
	pub, err := a.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(fn), CodeSha256: up.CodeSha256,
		Description: aws.String("cutover watch: " + image)})
	if err != nil {
		return "", err
	}
	return aws.ToString(pub.Version), nil
}

func (a Lambda) AliasVersion(ctx context.Context, fn, alias string) (string, error) {
	out, err := a.Client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.FunctionVersion), nil
}

// ECR is watch.ECRTokens: ecr:GetAuthorizationToken in the registry's
// region with the server's AWS credentials.
type ECR struct{ Config aws.Config }

func (a ECR) AuthorizationToken(ctx context.Context, registryID, region string) (string, time.Time, error) {
	c := ecr.NewFromConfig(a.Config, func(o *ecr.Options) { o.Region = region })
	out, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{RegistryIds: []string{registryID}})
	if err != nil {
		return "", time.Time{}, err
	}
	if len(out.AuthorizationData) == 0 {
		return "", time.Time{}, errors.New("ECR returned no authorization data")
	}
	d := out.AuthorizationData[0]
	return aws.ToString(d.AuthorizationToken), aws.ToTime(d.ExpiresAt), nil
}

var (
	_ watch.ECS        = ECS{}
	_ watch.CodeDeploy = CodeDeploy{}
	_ watch.Lambda     = Lambda{}
	_ watch.ECRTokens  = ECR{}
)
