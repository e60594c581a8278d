package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/agent"
	"github.com/cutover/cutover/internal/agent/config"
)

// agentFlags are the agent's settings given on the command line; each
// overrides the settings file's value of the same name.
type agentFlags struct {
	settingsFile string
	onPremFile   string
	values       map[string]*string
	version      bool
}

var agentSettingFlags = []struct{ flag, key, usage string }{
	{"endpoint", config.KeyEndpoint, "URL of the command service (cutover's TLS or HTTP listener)"},
	{"ca-file", config.KeyCAFile, "PEM CA bundle trusted for the endpoint and S3"},
	{"s3-endpoint", config.KeyS3Endpoint, "S3-compatible endpoint bundles are downloaded from (path-style)"},
	{"root-dir", config.KeyRootDir, "deployment root directory (default " + config.DefaultRootDir + ")"},
	{"log-dir", config.KeyLogDir, "directory of the agent's log file (default " + config.DefaultLogDir + ")"},
	{"max-revisions", config.KeyMaxRevisions, "deployment directories kept per group (default 5)"},
	{"wait-between-runs", config.KeyWaitBetweenRuns, "wait between polls, seconds or a duration (default 30s)"},
	{"http-read-timeout", config.KeyHTTPReadTimeout, "read timeout of the command service's long poll (default 80s)"},
	{"shutdown-grace", config.KeyShutdownGrace, "how long a stopping agent lets a running command finish (default 60s)"},
	{"spec-ca-file", config.KeySpecCAFile, "CA the deployment specification's signer must chain to (optional)"},
}

func (f *agentFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.settingsFile, "config", "", "agent settings file in codedeployagent.yml form (default "+config.DefaultSettingsFileName+" when it exists)")
	fl.StringVar(&f.onPremFile, "on-premises-config", "", "on-premises identity file (default "+config.DefaultOnPremisesFile+")")
	f.values = map[string]*string{}
	for _, s := range agentSettingFlags {
		f.values[s.key] = fl.String(s.flag, "", s.usage)
	}
}

// load reads the settings file, applies the flags over it, and reads the
// on-premises file.
func (f *agentFlags) load(cmd *cobra.Command) (config.Settings, *config.OnPremises, error) {
	file := f.settingsFile
	if file == "" {
		if _, err := os.Stat(config.DefaultSettingsFileName); err == nil {
			file = config.DefaultSettingsFileName
		}
	}
	set, err := config.LoadSettings(file)
	if err != nil {
		return set, nil, err
	}
	for _, s := range agentSettingFlags {
		if !cmd.Flags().Changed(s.flag) {
			continue
		}
		if err := set.Set(s.key, *f.values[s.key]); err != nil {
			return set, nil, fmt.Errorf("--%s: %w", s.flag, err)
		}
	}
	if f.onPremFile != "" {
		set.OnPremisesConfigFile = f.onPremFile
	}
	if err := set.Validate(); err != nil {
		return set, nil, err
	}
	op, err := config.LoadOnPremises(set.OnPremisesConfigFile)
	return set, op, err
}

func newAgentCommand() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the host agent: poll cutover for lifecycle commands and deploy on this host",
		Long: "The agent speaks the CodeDeploy agent protocol and reads AWS's on-premises config file\n" +
			"(codedeploy.onpremises.yml). It runs until SIGTERM; a command still running then gets the\n" +
			"shutdown grace to finish, and is otherwise killed and reported failed at the next start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.version {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "cutover agent %s\n", fullVersion())
				return err
			}
			set, op, err := f.load(cmd)
			if err != nil {
				return err
			}
			log, closeLog := agentLogger(cmd.ErrOrStderr(), set.LogDir)
			defer closeLog()
			a, err := agent.New(agent.Options{Settings: set, OnPremises: op, Version: "cutover-" + fullVersion(), Log: log})
			if err != nil {
				return err
			}
			log.Info("agent started", "endpoint", set.Endpoint, "host", a.HostIdentifier(), "root", set.RootDir)
			if hc := mustClient(set); hc == nil {
				log.Warn("endpoint check skipped: the CA file cannot be read")
			} else if err := agent.CheckEndpoint(cmd.Context(), hc, set.Endpoint); err != nil {
				// AWS's agent stops here; this one keeps polling with backoff
				// so a host can start before its server.
				log.Warn("endpoint not reachable yet", "endpoint", set.Endpoint, "err", err)
			}
			err = a.Run(cmd.Context())
			log.Info("agent stopped")
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.version, "version", false, "print the agent's version and exit")
	cmd.AddCommand(newAgentStatusCommand(&f))
	return cmd
}

// mustClient is the HTTP client the agent would use, or nil when its CA
// file cannot be read (Validate has reported that already).
func mustClient(set config.Settings) *http.Client {
	hc, err := agent.StatusClient(set)
	if err != nil {
		return nil
	}
	return hc
}

func newAgentStatusCommand(f *agentFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Check the agent's configuration and endpoint, and show its last poll and command",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			set, op, err := f.load(cmd)
			if err != nil {
				fmt.Fprintf(out, "config:        INVALID: %v\n", err)
				return errors.New("configuration is invalid")
			}
			fmt.Fprintf(out, "config:        ok (host %s, region %s)\n", op.HostIdentifier(), op.Region)
			fmt.Fprintf(out, "endpoint:      %s", set.Endpoint)
			if hc := mustClient(set); hc == nil {
				fmt.Fprintf(out, " (CA file unreadable)\n")
			} else if err := agent.CheckEndpoint(cmd.Context(), hc, set.Endpoint); err != nil {
				fmt.Fprintf(out, " UNREACHABLE: %v\n", err)
			} else {
				fmt.Fprintf(out, " reachable\n")
			}
			st, err := agent.ReadState(filepath.Join(set.RootDir, agent.StateFileName))
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(out, "agent:         never ran with root %s\n", set.RootDir)
				return nil
			}
			if err != nil {
				return err
			}
			running := "stopped"
			if st.PID != 0 && processAlive(st.PID) {
				running = "running (pid " + strconv.Itoa(st.PID) + ", since " + st.StartedAt.Format(time.RFC3339) + ")"
			} else if st.PID != 0 {
				running = "not running (pid " + strconv.Itoa(st.PID) + " is gone)"
			}
			fmt.Fprintf(out, "agent:         %s, version %s\n", running, st.Version)
			if !st.LastPollAt.IsZero() {
				fmt.Fprintf(out, "last poll:     %s", st.LastPollAt.Format(time.RFC3339))
				if st.LastPollError != "" {
					fmt.Fprintf(out, " FAILED: %s", st.LastPollError)
				}
				fmt.Fprintln(out)
			}
			for _, c := range st.Running {
				fmt.Fprintf(out, "running:       %s %s (deployment %s, since %s)\n", c.CommandName, c.HostCommandIdentifier, c.DeploymentID, c.StartedAt.Format(time.RFC3339))
			}
			if c := st.LastCommand; c != nil {
				fmt.Fprintf(out, "last command:  %s %s (deployment %s) %s at %s", c.CommandName, c.HostCommandIdentifier, c.DeploymentID, c.Status, c.FinishedAt.Format(time.RFC3339))
				if c.ErrorCode != 0 {
					fmt.Fprintf(out, ", error_code %d: %s", c.ErrorCode, c.Message)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// agentLogger logs to stderr and, when the log directory can be written,
// to codedeploy-agent.log in it, as AWS's agent does.
func agentLogger(stderr io.Writer, dir string) (*slog.Logger, func()) {
	w := stderr
	closeFn := func() {}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			if f, err := os.OpenFile(filepath.Join(dir, "codedeploy-agent.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
				w = io.MultiWriter(stderr, f)
				closeFn = func() { f.Close() }
			}
		}
	}
	return slog.New(slog.NewTextHandler(w, nil)), closeFn
}
