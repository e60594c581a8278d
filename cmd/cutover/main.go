// Command cutover is the cutover server and its command-line client. Each
// subcommand lives in its own file and only turns flags into calls on the
// internal packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// SIGINT and SIGTERM cancel the context; commands that serve (server)
	// shut down gracefully on it, client commands abort their request.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cutover:", err)
		stop()
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "cutover",
		Short: "Self-hosted, AWS CodeDeploy-compatible deployment service",
		Long: "cutover serves AWS's CodeDeploy API (and the services deployments need) on your own machine.\n" +
			"Start it with `cutover server`; point the AWS CLI or SDKs at it with --endpoint-url.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newVersionCommand(), newApplicationsCommand(), newDeployCommand(), newDeploymentsCommand(), newDemoAppCommand(), newAgentCommand(), newWatchCommand())
	return root
}
