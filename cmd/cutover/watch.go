package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/watch"
	"github.com/cutover/cutover/internal/watch/client"
)

// newWatchCommand is `cutover watch`: rules that deploy new images from a
// registry by themselves (the watch API, Cutover_Watch_20261125.*).
func newWatchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Deploy new images from a registry by themselves (watch rules)",
		Long: "A watch rule follows an image repository with a policy — digest:TAG (a mutable tag such as latest),\n" +
			"semver:CONSTRAINT (the highest version in range) or regex:EXPR / glob:PATTERN (the last matching tag) —\n" +
			"and deploys each new image once: to the ECS service of a CodeDeploy deployment group (blue/green), to an\n" +
			"ECS service with the ECS controller, or to a Lambda image function's alias through CodeDeploy.",
	}
	cmd.AddCommand(newWatchAddCommand(), newWatchListCommand(), newWatchGetCommand(), newWatchHistoryCommand(),
		newWatchNameCommand("pause", "Stop checking a rule (it keeps its history)", "PauseWatchRule"),
		newWatchNameCommand("resume", "Check a paused rule again, at once", "ResumeWatchRule"),
		newWatchNameCommand("delete", "Delete a rule and its history", "DeleteWatchRule"),
		newWatchNameCommand("check", "Check a rule now and act on what it finds", "CheckWatchRule"),
		newWatchNotificationsCommand())
	return cmd
}

func (f *clientFlags) watchClient(ctx context.Context) (*client.Client, error) {
	cfg, err := f.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &client.Client{Endpoint: f.endpointURL(), Region: cfg.Region, Credentials: cfg.Credentials, HTTP: cfg.HTTPClient}, nil
}

func newWatchAddCommand() *cobra.Command {
	var cf clientFlags
	var in watch.RuleInput
	var policy, order string
	var exclude []string
	var prereleases, passwordStdin bool
	var interval time.Duration
	var username string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a watch rule",
		Example: "  cutover watch add web --image 127.0.0.1:5000/web --policy digest:latest --application web --deployment-group web-bg\n" +
			"  cutover watch add api --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/api --policy 'semver:^1.4' --cluster prod --service api\n" +
			"  cutover watch add fn --image 127.0.0.1:5000/fn --policy 'regex:^build-(\\d+)$' --order numerical --function fn --alias live --application fn --deployment-group fn-dg",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			p, err := watch.ParsePolicy(policy)
			if err != nil {
				return err
			}
			p.Order, p.Exclude, p.Prereleases = order, exclude, prereleases
			in.Policy = &p
			secs := int64(interval / time.Second)
			in.IntervalSeconds = &secs
			switch {
			case in.Target.Function != "":
				in.Target.Kind = watch.TargetCodeDeployLambda
			case in.Target.Application != "" || in.Target.DeploymentGroup != "":
				in.Target.Kind = watch.TargetCodeDeployECS
			default:
				in.Target.Kind = watch.TargetECSService
			}
			if username != "" {
				in.Credentials = &watch.Credentials{Username: username}
				if !passwordStdin {
					return fmt.Errorf("--username needs --password-stdin")
				}
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("reading the password: %w", err)
				}
				in.Credentials.Password = strings.TrimRight(string(b), "\r\n")
			}
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			var out struct{ Rule watch.RuleView }
			if err := c.Call(ctx, "CreateWatchRule", in, &out); err != nil {
				return fmt.Errorf("creating watch rule %s: %w", in.Name, err)
			}
			printRule(cmd.OutOrStdout(), out.Rule)
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&in.Image, "image", "", "REGISTRY/REPOSITORY to watch, without tag (required)")
	f.StringVar(&policy, "policy", "", "digest:TAG, semver:CONSTRAINT, regex:EXPR or glob:PATTERN (required)")
	f.StringVar(&order, "order", "", "ordering of regex/glob matches: alphabetical (default) or numerical (first capture group)")
	f.StringArrayVar(&exclude, "exclude", nil, "regular expression of tags never to deploy (repeatable)")
	f.BoolVar(&prereleases, "prereleases", false, "let a semver policy pick pre-release versions")
	f.StringVar(&in.Target.Application, "application", "", "CodeDeploy application of the target deployment group")
	f.StringVar(&in.Target.DeploymentGroup, "deployment-group", "", "CodeDeploy deployment group to deploy with")
	f.StringVar(&in.Target.Container, "container", "", "container whose image is replaced (default: the only or the load-balanced one)")
	f.StringVar(&in.Target.Cluster, "cluster", "", "ECS cluster of --service (ECS controller target)")
	f.StringVar(&in.Target.Service, "service", "", "ECS service with the ECS controller (updated in place) or EXTERNAL (new primary task set)")
	f.StringVar(&in.Target.Function, "function", "", "Lambda image function (with --alias, --application, --deployment-group)")
	f.StringVar(&in.Target.Alias, "alias", "", "alias of --function that CodeDeploy shifts")
	f.DurationVar(&interval, "interval", time.Minute, "polling interval (whole seconds, 1s to 24h)")
	f.BoolVar(&in.Insecure, "insecure", false, "plain HTTP to a registry that is not on loopback or a private network")
	f.BoolVar(&in.Paused, "paused", false, "create the rule paused")
	f.StringVar(&username, "username", "", "registry user (default: the server's Docker config.json, ECR login, or anonymous)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the registry password from standard input")
	for _, n := range []string{"image", "policy"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newWatchListCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List watch rules with their last check and last image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tIMAGE\tPOLICY\tTARGET\tSTATE\tLAST CHECK\tLAST IMAGE\tDEPLOYMENT")
			tok := ""
			for {
				var out struct {
					Rules     []watch.RuleView
					NextToken string
				}
				if err := c.Call(ctx, "ListWatchRules", map[string]any{"nextToken": tok}, &out); err != nil {
					return fmt.Errorf("listing watch rules: %w", err)
				}
				for _, r := range out.Rules {
					st := r.State
					state := "active"
					switch {
					case r.Paused:
						state = "paused"
					case st.LastError != "":
						state = "error"
					}
					last := "-"
					if st.LastCheck != nil {
						last = st.LastCheck.UTC().Format(time.RFC3339)
					}
					img := "-"
					if st.LastTag != "" {
						img = st.LastTag + "@" + shortDigest(st.LastDigest)
					}
					dep := "-"
					if st.Active != nil {
						dep = st.Active.DeploymentID
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Image, r.PolicyExpression, targetString(r.Target), state, last, img, dep)
				}
				if tok = out.NextToken; tok == "" {
					break
				}
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newWatchGetCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a watch rule and its state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			var out struct{ Rule watch.RuleView }
			if err := c.Call(ctx, "GetWatchRule", map[string]any{"name": args[0]}, &out); err != nil {
				return fmt.Errorf("reading watch rule %s: %w", args[0], err)
			}
			printRule(cmd.OutOrStdout(), out.Rule)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newWatchHistoryCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Every decision of a rule: deployed, queued, skipped and why, failed and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tTIME\tDECISION\tIMAGE\tDEPLOYMENT\tREASON")
			tok := ""
			for {
				var out struct {
					Events    []watch.EventView
					NextToken string
				}
				if err := c.Call(ctx, "ListWatchEvents", map[string]any{"name": args[0], "nextToken": tok}, &out); err != nil {
					return fmt.Errorf("reading the history of %s: %w", args[0], err)
				}
				for _, e := range out.Events {
					img := "-"
					if e.Tag != "" || e.Digest != "" {
						img = e.Tag + "@" + shortDigest(e.Digest)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Sequence, e.Time.UTC().Format(time.RFC3339), e.Decision, img, dash(e.DeploymentID), e.Reason)
				}
				if tok = out.NextToken; tok == "" {
					break
				}
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newWatchNameCommand(use, short, op string) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			var out struct{ Rule *watch.RuleView }
			if err := c.Call(ctx, op, map[string]any{"name": args[0]}, &out); err != nil {
				return fmt.Errorf("%s watch rule %s: %w", use, args[0], err)
			}
			if out.Rule != nil {
				printRule(cmd.OutOrStdout(), *out.Rule)
			}
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newWatchNotificationsCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "Show the URLs a registry or EventBridge posts push notifications to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cf.watchClient(ctx)
			if err != nil {
				return err
			}
			var out struct {
				Token string
				Paths []string
			}
			if err := c.Call(ctx, "GetNotificationSettings", struct{}{}, &out); err != nil {
				return fmt.Errorf("reading notification settings: %w", err)
			}
			w := cmd.OutOrStdout()
			base := strings.TrimSuffix(cf.endpointURL(), "/")
			fmt.Fprintf(w, "Docker Distribution (registry:2 notifications endpoint): %s%s\n", base, out.Paths[0])
			fmt.Fprintf(w, "ECR Image Action (EventBridge API destination):           %s%s\n", base, out.Paths[1])
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func printRule(w io.Writer, r watch.RuleView) {
	st := r.State
	fmt.Fprintf(w, "name:        %s\nimage:       %s\npolicy:      %s\ntarget:      %s\ninterval:    %ds\npaused:      %t\n",
		r.Name, r.Image, r.PolicyExpression, targetString(r.Target), r.IntervalSeconds, r.Paused)
	if st.LastCheck != nil {
		fmt.Fprintf(w, "last check:  %s\n", st.LastCheck.UTC().Format(time.RFC3339))
	}
	if st.LastTag != "" {
		fmt.Fprintf(w, "last image:  %s@%s\n", st.LastTag, st.LastDigest)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last error:  %s\n", st.LastError)
	}
	if st.Active != nil {
		fmt.Fprintf(w, "deploying:   %s (%s@%s)\n", st.Active.DeploymentID, st.Active.Tag, shortDigest(st.Active.Digest))
	}
	if st.Pending != nil {
		fmt.Fprintf(w, "queued:      %s@%s\n", st.Pending.Tag, shortDigest(st.Pending.Digest))
	}
}

func targetString(t watch.Target) string {
	switch t.Kind {
	case watch.TargetCodeDeployECS:
		return "codedeploy " + t.Application + "/" + t.DeploymentGroup
	case watch.TargetCodeDeployLambda:
		return "lambda " + t.Function + ":" + t.Alias + " via " + t.Application + "/" + t.DeploymentGroup
	case watch.TargetECSService:
		return "ecs " + strings.TrimPrefix(t.Cluster+"/", "/") + t.Service
	}
	return t.Kind
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
