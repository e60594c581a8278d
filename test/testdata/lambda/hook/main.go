// Command hook is a CodeDeploy lifecycle hook function written as one would
// for AWS: aws-lambda-go for the handler and the Go SDK's codedeploy client
// for the answer. It is invoked asynchronously with the deployment's id and
// the hook execution's id, and reports through
// PutLifecycleEventHookExecutionStatus.
//
// The verdict is the deployment's: a description containing "hook:reject"
// fails the hook; HOOK_VERDICT (Succeeded or Failed) in the function's
// environment overrides it. With HOOK_RECORD set, each verdict is appended
// to that file as "<deployment id> <execution id> <status>", so that a test
// can see that this function, and not something else, answered.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

// event is what CodeDeploy sends a hook function.
type event struct {
	DeploymentId                  string
	LifecycleEventHookExecutionId string
}

var client *codedeploy.Client

func handle(ctx context.Context, ev event) (string, error) {
	if ev.DeploymentId == "" || ev.LifecycleEventHookExecutionId == "" {
		return "", errors.New("the event lacks DeploymentId or LifecycleEventHookExecutionId")
	}
	status, err := verdict(ctx, ev.DeploymentId)
	if err != nil {
		return "", err
	}
	log.Printf("deployment %s, hook execution %s: %s", ev.DeploymentId, ev.LifecycleEventHookExecutionId, status)
	if _, err := client.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId:                  aws.String(ev.DeploymentId),
		LifecycleEventHookExecutionId: aws.String(ev.LifecycleEventHookExecutionId),
		Status:                        status,
	}); err != nil {
		return "", fmt.Errorf("reporting %s: %w", status, err)
	}
	if path := os.Getenv("HOOK_RECORD"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		defer f.Close()
		fmt.Fprintf(f, "%s %s %s\n", ev.DeploymentId, ev.LifecycleEventHookExecutionId, status)
	}
	return string(status), nil
}

func verdict(ctx context.Context, deploymentID string) (types.LifecycleEventStatus, error) {
	switch v := os.Getenv("HOOK_VERDICT"); v {
	case "Succeeded", "Failed":
		return types.LifecycleEventStatus(v), nil
	case "":
	default:
		return "", fmt.Errorf("HOOK_VERDICT %q: want Succeeded or Failed", v)
	}
	out, err := client.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(deploymentID)})
	if err != nil {
		return "", fmt.Errorf("reading deployment %s: %w", deploymentID, err)
	}
	if strings.Contains(aws.ToString(out.DeploymentInfo.Description), "hook:reject") {
		return types.LifecycleEventStatusFailed, nil
	}
	return types.LifecycleEventStatusSucceeded, nil
}

func main() {
	// Region, credentials and AWS_ENDPOINT_URL come from the environment
	// the function runs in.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("loading the AWS configuration: %v", err)
	}
	client = codedeploy.NewFromConfig(cfg)
	lambda.Start(handle)
}
