package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/spf13/cobra"
)

// batchGetMax is BatchGetApplications' limit on names per call.
const batchGetMax = 100

func newApplicationsCommand() *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "applications",
		Aliases: []string{"apps"},
		Short:   "List applications and their compute platforms",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cd, err := cf.codeDeploy(ctx)
			if err != nil {
				return err
			}
			var names []string
			pages := codedeploy.NewListApplicationsPaginator(cd, &codedeploy.ListApplicationsInput{})
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("listing applications at %s: %w", cf.endpointURL(), err)
				}
				names = append(names, page.Applications...)
			}
			var infos []types.ApplicationInfo
			for start := 0; start < len(names); start += batchGetMax {
				end := min(start+batchGetMax, len(names))
				out, err := cd.BatchGetApplications(ctx, &codedeploy.BatchGetApplicationsInput{ApplicationNames: names[start:end]})
				if err != nil {
					return fmt.Errorf("describing applications: %w", err)
				}
				infos = append(infos, out.ApplicationsInfo...)
			}
			if asJSON {
				type app struct {
					Name            string    `json:"applicationName"`
					ID              string    `json:"applicationId"`
					ComputePlatform string    `json:"computePlatform"`
					Created         time.Time `json:"createTime"`
				}
				list := make([]app, 0, len(infos))
				for _, a := range infos {
					list = append(list, app{aws.ToString(a.ApplicationName), aws.ToString(a.ApplicationId), string(a.ComputePlatform), aws.ToTime(a.CreateTime)})
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCOMPUTE PLATFORM\tCREATED")
			for _, a := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", aws.ToString(a.ApplicationName), a.ComputePlatform, aws.ToTime(a.CreateTime).Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}
