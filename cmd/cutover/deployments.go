package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/spf13/cobra"
)

// batchGetDeploymentsMax is BatchGetDeployments' limit on ids per call.
const batchGetDeploymentsMax = 25

func newDeploymentsCommand() *cobra.Command {
	var cf clientFlags
	var app, group string
	var statuses []string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "List recent deployments, newest first",
		Long: "List recent deployments, newest first. Without --application it lists every deployment\n" +
			"the server has (ListDeployments without a group, which AWS allows); --application lists\n" +
			"those of each of its groups, and --deployment-group narrows to one group.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if group != "" && app == "" {
				return fmt.Errorf("--deployment-group needs --application")
			}
			for i, s := range statuses {
				canon, ok := canonicalStatus(s)
				if !ok {
					return fmt.Errorf("--status %q: want one of %s", s, strings.Join(statusNames(), ", "))
				}
				statuses[i] = canon
			}
			ctx := cmd.Context()
			cd, err := cf.codeDeploy(ctx)
			if err != nil {
				return err
			}
			list, err := listDeployments(ctx, cd, app, group, statuses)
			if err != nil {
				return fmt.Errorf("listing deployments at %s: %w", cf.endpointURL(), err)
			}
			sortNewestFirst(list)
			if limit > 0 && len(list) > limit {
				list = list[:limit]
			}
			if asJSON {
				return writeDeploymentsJSON(cmd.OutOrStdout(), list)
			}
			return writeDeploymentsTable(cmd.OutOrStdout(), list)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&app, "application", "", "only this application's deployments")
	f.StringVar(&group, "deployment-group", "", "only this deployment group's (needs --application)")
	f.StringSliceVar(&statuses, "status", nil, "only deployments in these statuses (Created, Queued, InProgress, Baking, Succeeded, Failed, Stopped, Ready; repeat or comma-separate)")
	f.IntVar(&limit, "limit", 20, "show at most N deployments (0: all)")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func statusNames() []string {
	var out []string
	for _, s := range types.DeploymentStatus("").Values() {
		out = append(out, string(s))
	}
	return out
}

// canonicalStatus accepts a status in any case ("failed" for "Failed").
func canonicalStatus(s string) (string, bool) {
	for _, n := range statusNames() {
		if strings.EqualFold(n, s) {
			return n, true
		}
	}
	return "", false
}

// listDeployments finds the deployment ids in scope and describes them.
func listDeployments(ctx context.Context, cd *codedeploy.Client, app, group string, statuses []string) ([]types.DeploymentInfo, error) {
	var scopes [][2]string // application, group; one empty pair means all
	switch {
	case app == "":
		scopes = [][2]string{{"", ""}}
	case group != "":
		scopes = [][2]string{{app, group}}
	default:
		p := codedeploy.NewListDeploymentGroupsPaginator(cd, &codedeploy.ListDeploymentGroupsInput{ApplicationName: aws.String(app)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, g := range page.DeploymentGroups {
				scopes = append(scopes, [2]string{app, g})
			}
		}
	}
	var ids []string
	for _, sc := range scopes {
		in := &codedeploy.ListDeploymentsInput{IncludeOnlyStatuses: toStatuses(statuses)}
		if sc[0] != "" {
			in.ApplicationName, in.DeploymentGroupName = aws.String(sc[0]), aws.String(sc[1])
		}
		p := codedeploy.NewListDeploymentsPaginator(cd, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			ids = append(ids, page.Deployments...)
		}
	}
	var out []types.DeploymentInfo
	for start := 0; start < len(ids); start += batchGetDeploymentsMax {
		res, err := cd.BatchGetDeployments(ctx, &codedeploy.BatchGetDeploymentsInput{DeploymentIds: ids[start:min(start+batchGetDeploymentsMax, len(ids))]})
		if err != nil {
			return nil, err
		}
		out = append(out, res.DeploymentsInfo...)
	}
	return out, nil
}

func toStatuses(ss []string) []types.DeploymentStatus {
	var out []types.DeploymentStatus
	for _, s := range ss {
		out = append(out, types.DeploymentStatus(s))
	}
	return out
}

// sortNewestFirst orders by create time, newest first; ids break ties so
// the order is stable between runs.
func sortNewestFirst(list []types.DeploymentInfo) {
	slices.SortStableFunc(list, func(a, b types.DeploymentInfo) int {
		if c := aws.ToTime(b.CreateTime).Compare(aws.ToTime(a.CreateTime)); c != 0 {
			return c
		}
		return strings.Compare(aws.ToString(b.DeploymentId), aws.ToString(a.DeploymentId))
	})
}

type deploymentRow struct {
	ID          string     `json:"deploymentId"`
	Application string     `json:"applicationName"`
	Group       string     `json:"deploymentGroupName"`
	Status      string     `json:"status"`
	Created     time.Time  `json:"createTime"`
	Completed   *time.Time `json:"completeTime,omitempty"`
	Description string     `json:"description,omitempty"`
	Creator     string     `json:"creator,omitempty"`
	ErrorCode   string     `json:"errorCode,omitempty"`
}

func rowOf(d types.DeploymentInfo) deploymentRow {
	r := deploymentRow{
		ID: aws.ToString(d.DeploymentId), Application: aws.ToString(d.ApplicationName), Group: aws.ToString(d.DeploymentGroupName),
		Status: string(d.Status), Created: aws.ToTime(d.CreateTime), Completed: d.CompleteTime,
		Description: aws.ToString(d.Description), Creator: string(d.Creator),
	}
	if d.ErrorInformation != nil {
		r.ErrorCode = string(d.ErrorInformation.Code)
	}
	return r
}

func writeDeploymentsJSON(w io.Writer, list []types.DeploymentInfo) error {
	rows := make([]deploymentRow, 0, len(list))
	for _, d := range list {
		rows = append(rows, rowOf(d))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func writeDeploymentsTable(w io.Writer, list []types.DeploymentInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPPLICATION\tGROUP\tSTATUS\tCREATED\tDESCRIPTION")
	for _, d := range list {
		r := rowOf(d)
		status := r.Status
		if r.ErrorCode != "" {
			status += " (" + r.ErrorCode + ")"
		}
		desc := r.Description
		if desc == "" && r.Creator == string(types.DeploymentCreatorAutoscaling) {
			desc = "(autoscaling)"
		} else if desc == "" && r.Creator == string(types.DeploymentCreatorCodeDeployRollback) {
			desc = "(rollback)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Application, r.Group, status, r.Created.Local().Format(time.DateTime), oneLine(desc))
	}
	return tw.Flush()
}

// oneLine keeps a multi-line description from breaking the table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
