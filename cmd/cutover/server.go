package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/demo"
	"github.com/cutover/cutover/internal/server"
)

func newServerCommand() *cobra.Command {
	cfg := server.Config{}
	var logLevel, logFormat, debugAddr string
	var demoMode bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the cutover server",
		Long: "Run the cutover server: the AWS APIs over HTTP (--addr) and HTTPS (--tls-addr),\n" +
			"state in a SQLite file under --data-dir. The first start generates a root key pair\n" +
			"and a local certificate authority and prints how to use them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Log = log
			cfg.Version = fullVersion()
			if demoMode {
				if err := demoConfig(cmd, &cfg); err != nil {
					return err
				}
			}
			srv, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if debugAddr != "" {
				if err := serveDebug(cmd.Context(), debugAddr, log); err != nil {
					return err
				}
			}
			// The banner goes to stdout and the logs to stderr, so
			// `cutover server > banner.txt` keeps the credentials apart.
			srv.Banner(cmd.OutOrStdout())
			if demoMode {
				// The listeners are bound already (New binds them), so the
				// demo's first requests wait in the accept queue until Run
				// serves them; no start-up hook is needed.
				go runDemo(cmd.Context(), srv, cfg, cmd.OutOrStdout(), log)
			}
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:7700", "HTTP listen address")
	f.StringVar(&cfg.TLSAddr, "tls-addr", "127.0.0.1:7743", `HTTPS listen address ("" disables HTTPS)`)
	f.StringVar(&cfg.DataDir, "data-dir", "./cutover-data", "directory for the database, credentials and certificates")
	f.StringVar(&cfg.Region, "region", "us-east-1", "AWS region the server acts as")
	f.StringVar(&cfg.AccountID, "account-id", "000000000000", "AWS account id used in ARNs")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate to serve HTTPS with (default: generated in <data-dir>/tls)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&cfg.LBBind, "lb-bind", "127.0.0.1", "address the built-in load balancer binds its listeners to")
	f.BoolVar(&cfg.LBNoIOUring, "lb-no-io-uring", false, "serve load balancer connections with goroutines only, not io_uring loops")
	f.StringVar(&cfg.Runtime, "runtime", "process", "where ECS tasks run: process (host processes), docker, auto (docker when a Docker engine answers, else process), or none")
	f.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint to read revision bundles and function code from (default: cutover's own S3; credentials from the standard AWS chain)")
	f.Float64Var(&cfg.TimeScale, "time-scale", 1, "run deployment waits N times faster (60: a minute passes in a second)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 0, "how long in-flight requests may run after SIGTERM (default 15s)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error (debug logs every request)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on this address, unauthenticated: keep it on loopback (default off)")
	f.BoolVar(&demoMode, "demo", false, "once serving, set up a sample ECS service (host processes) and deploy v1 → v2 with a canary, printing its progress")
	return cmd
}

// demoConfig adjusts the server for --demo: its tasks are host processes
// (the demo app is this very binary), and unless --time-scale was given,
// waits run demo.TimeScale times faster.
func demoConfig(cmd *cobra.Command, cfg *server.Config) error {
	if cmd.Flags().Changed("runtime") && cfg.Runtime != "process" {
		return fmt.Errorf("--demo runs its tasks as host processes: drop --runtime %s or use --runtime process", cfg.Runtime)
	}
	cfg.Runtime = "process"
	if !cmd.Flags().Changed("time-scale") {
		cfg.TimeScale = demo.TimeScale
	}
	return nil
}

// runDemo runs the demo against the server's own endpoint with the root
// key pair. A failed demo is reported; the server keeps serving.
func runDemo(ctx context.Context, srv *server.Server, cfg server.Config, out io.Writer, log *slog.Logger) {
	id, secret, _ := srv.RootCredentials()
	lbHost := cfg.LBBind
	if ip := net.ParseIP(lbHost); lbHost == "" || (ip != nil && ip.IsUnspecified()) {
		lbHost = "127.0.0.1"
	}
	fmt.Fprintf(out, "--demo: waits run %g times faster (--time-scale)\n", max(cfg.TimeScale, 1))
	_, err := demo.Run(ctx, demo.Config{
		Endpoint: srv.Endpoint(), Region: srv.Region(), AccessKeyID: id, SecretAccessKey: secret,
		LBHost: lbHost, Dir: filepath.Join(srv.DataDir(), "demo"), Out: out,
	})
	if err != nil && ctx.Err() == nil {
		log.Error("the demo failed; the server keeps running", "err", err)
		fmt.Fprintf(out, "\nThe demo failed: %v\nThe server keeps running (Ctrl-C stops it).\n", err)
	}
}

// newDemoAppCommand is the demo's workload: the task definitions --demo
// registers run this binary with this hidden subcommand, so no toolchain
// or image is needed.
func newDemoAppCommand() *cobra.Command {
	return &cobra.Command{
		Use:    demo.AppCommand,
		Short:  "Serve the demo app (used by server --demo's tasks; PORT, VERSION from the environment)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demo.RunApp(cmd.Context())
		},
	}
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// serveDebug serves net/http/pprof on its own listener, apart from the API
// so that profiles never need credentials and never reach the API's port.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go srv.Serve(ln)
	log.Info("profiler listening", "addr", ln.Addr().String())
	return nil
}
