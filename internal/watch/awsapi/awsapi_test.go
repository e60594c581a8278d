package awsapi

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	ecssvc "github.com/cutover/cutover/internal/ecs"
	"github.com/cutover/cutover/internal/store/sqlite"
)

type keys map[string]sigv4.Credential

func (k keys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

// The adapter against cutover's real ECS service, reached in process.
func TestECSAdapterClonesAndUpdates(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ecs.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := ecssvc.New(ecssvc.Config{Region: "us-east-1", AccountID: "123456789012", Store: db, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// Through the real router, so the SDK's signature is checked as the
	// server checks it.
	rt := awsproto.NewRouter(sigv4.New(keys{"AKID": {AccessKeyID: "AKID", SecretAccessKey: "secret", Root: true}}, "us-east-1", nil), log)
	svc.JSON().Register(rt, 1<<20, "ecs")
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://cutover.internal"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:  HandlerClient(rt, awsproto.Principal{AccessKeyID: "AKID", Root: true})})
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), Memory: aws.String("128"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("web"), Image: aws.String("127.0.0.1:5000/app:1"), Essential: aws.Bool(true),
				Environment: []ecstypes.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}}},
			{Name: aws.String("log"), Image: aws.String("busybox"), Essential: aws.Bool(false)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String("web"),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}

	a := ECS{Client: c}
	s, err := a.DescribeService(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if s.Controller != "ECS" || s.TaskDefinition != aws.ToString(td.TaskDefinition.TaskDefinitionArn) {
		t.Fatalf("service = %+v", s)
	}
	pinned := "127.0.0.1:5000/app@sha256:a0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	arn, err := a.CloneTaskDefinition(ctx, s.TaskDefinition, "web", pinned)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := a.Containers(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Image != pinned || cs[1].Image != "busybox" {
		t.Fatalf("clone containers = %+v", cs)
	}
	out, _ := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if d := out.TaskDefinition; aws.ToInt32(&d.Revision) != 2 || aws.ToString(d.Memory) != "128" || aws.ToString(d.ContainerDefinitions[0].Environment[0].Value) != "prod" {
		t.Fatalf("clone = rev %d memory %s", d.Revision, aws.ToString(d.Memory))
	}
	if err := a.UpdateService(ctx, "default", "web", arn); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.DescribeService(ctx, "default", "web"); s.TaskDefinition != arn {
		t.Fatalf("service task definition = %s, want %s", s.TaskDefinition, arn)
	}
	// An EXTERNAL service: the clone becomes the primary task set.
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String("ext"),
		DesiredCount: aws.Int32(0), DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	first, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("default"), Service: aws.String("ext"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("default"), Service: aws.String("ext"), PrimaryTaskSet: first.TaskSet.Id}); err != nil {
		t.Fatal(err)
	}
	if err := a.ReplaceTaskSet(ctx, "default", "ext", arn); err != nil {
		t.Fatal(err)
	}
	ds, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("default"), Services: []string{"ext"}})
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, ts := range ds.Services[0].TaskSets {
		if aws.ToString(ts.Status) != "DRAINING" {
			live = append(live, aws.ToString(ts.Status)+" "+aws.ToString(ts.TaskDefinition))
		}
	}
	if len(live) != 1 || live[0] != "PRIMARY "+arn {
		t.Fatalf("task sets after ReplaceTaskSet = %v, want only the clone, primary", live)
	}
	if s, _ := a.DescribeService(ctx, "default", "ext"); s.Controller != "EXTERNAL" || s.TaskDefinition != arn {
		t.Errorf("external service = %+v", s)
	}

	if _, err := a.DescribeService(ctx, "default", "nope"); err == nil {
		t.Fatal("a missing service described")
	}
}
