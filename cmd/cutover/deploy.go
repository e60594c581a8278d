package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/deploywatch"
)

// followFlags are shared by `deploy --wait` and `deploy watch`.
type followFlags struct {
	interval   time.Duration
	noRollback bool
}

func (f *followFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.interval, "poll-interval", time.Second, "how often to poll the deployment while following it")
	cmd.Flags().BoolVar(&f.noRollback, "no-follow-rollback", false, "when the deployment fails, do not follow the rollback deployment it starts")
}

func newDeployCommand() *cobra.Command {
	var cf clientFlags
	var ff followFlags
	var app, group, appspecFile, config, description string
	var wait bool
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Create a deployment from an AppSpec file (--wait follows it live)",
		Long: "Create a deployment of --application and --deployment-group from the AppSpec file --appspec\n" +
			"(YAML or JSON; - reads standard input), sent as an AppSpecContent revision with its SHA-256.\n" +
			"With --wait, follow it until it ends: lifecycle events, task sets, the traffic split, the status.\n" +
			"The exit status is 0 when the deployment succeeded and 1 when it failed or was stopped.\n" +
			"Ctrl-C stops following, not the deployment; `cutover deploy watch ID` follows it again.",
		Example: "  cutover deploy --application web --deployment-group web-bg --appspec appspec.yaml --wait",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			content, err := readAppSpec(appspecFile, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cd, err := cf.codeDeploy(ctx)
			if err != nil {
				return err
			}
			out, err := cd.CreateDeployment(ctx, createDeploymentInput(app, group, config, description, content))
			if err != nil {
				return fmt.Errorf("creating the deployment at %s: %w", cf.endpointURL(), err)
			}
			id := aws.ToString(out.DeploymentId)
			w := cmd.OutOrStdout()
			if !wait {
				fmt.Fprintln(w, id)
				return nil
			}
			fmt.Fprintf(w, "created deployment %s (%s / %s); following it (Ctrl-C stops following, not the deployment)\n", id, app, group)
			return follow(ctx, cd, w, id, ff)
		},
	}
	cf.register(cmd)
	ff.register(cmd)
	f := cmd.Flags()
	f.StringVar(&app, "application", "", "application name (required)")
	f.StringVar(&group, "deployment-group", "", "deployment group name (required)")
	f.StringVar(&appspecFile, "appspec", "", "AppSpec file, YAML or JSON; - for standard input (required)")
	f.StringVar(&config, "deployment-config", "", "deployment configuration name (default: the group's)")
	f.StringVar(&description, "description", "", "description of the deployment")
	f.BoolVar(&wait, "wait", false, "follow the deployment until it ends; exit non-zero unless it succeeds")
	for _, name := range []string{"application", "deployment-group", "appspec"} {
		cmd.MarkFlagRequired(name)
	}
	cmd.AddCommand(newDeployWatchCommand())
	return cmd
}

func newDeployWatchCommand() *cobra.Command {
	var cf clientFlags
	var ff followFlags
	cmd := &cobra.Command{
		Use:   "watch DEPLOYMENT_ID",
		Short: "Follow a deployment until it ends (exit 0 only if it succeeds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cd, err := cf.codeDeploy(ctx)
			if err != nil {
				return err
			}
			return follow(ctx, cd, cmd.OutOrStdout(), args[0], ff)
		},
	}
	cf.register(cmd)
	ff.register(cmd)
	return cmd
}

// readAppSpec reads the AppSpec as is: the server parses YAML and JSON, and
// the SHA-256 must be of exactly the bytes sent.
func readAppSpec(name string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("reading --appspec: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("--appspec %s is empty", name)
	}
	return string(b), nil
}

func createDeploymentInput(app, group, config, description, content string) *codedeploy.CreateDeploymentInput {
	sum := sha256.Sum256([]byte(content))
	in := &codedeploy.CreateDeploymentInput{
		ApplicationName:     aws.String(app),
		DeploymentGroupName: aws.String(group),
		Revision: &types.RevisionLocation{
			RevisionType:   types.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &types.AppSpecContent{Content: aws.String(content), Sha256: aws.String(hex.EncodeToString(sum[:]))},
		},
	}
	if config != "" {
		in.DeploymentConfigName = aws.String(config)
	}
	if description != "" {
		in.Description = aws.String(description)
	}
	return in
}

// errDeploymentFailed makes the command exit non-zero after the watcher
// already printed why.
var errDeploymentFailed = errors.New("the deployment did not succeed")

// follow watches a deployment to its end and turns the outcome into the
// command's result. Output is plain timestamped lines, terminal or not, so
// the same text reads well live, in CI logs and in pipes.
func follow(ctx context.Context, cd deploywatch.API, w io.Writer, id string, ff followFlags) error {
	wt := &deploywatch.Watcher{Client: cd, Out: w, Interval: ff.interval, FollowRollback: !ff.noRollback}
	res, err := wt.Watch(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(w, "\nstopped following; the deployment goes on. Follow it again with:\n  cutover deploy watch %s\n", id)
			return errors.New("interrupted")
		}
		return err
	}
	if res.Succeeded() {
		return nil
	}
	if res.Final.RollbackID != "" && res.Rollback == nil {
		fmt.Fprintf(w, "rollback deployment %s was started; follow it with:\n  cutover deploy watch %s\n", res.Final.RollbackID, res.Final.RollbackID)
	}
	return fmt.Errorf("deployment %s %s: %w", id, res.Final.Status, errDeploymentFailed)
}
