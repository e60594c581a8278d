package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// AppCommand is the subcommand of the cutover binary that runs the demo
// app; the demo's task definitions run `<cutover binary> demo-app`, so the
// demo needs no Go toolchain and no image.
const AppCommand = "demo-app"

// VersionHeader carries the app's version in every answer, so the traffic
// sampler does not depend on the body's wording.
const VersionHeader = "X-Cutover-Demo-Version"

// AppHandler is the demo app: GET / says which version answered,
// GET /health is the load balancer's health check.
func AppHandler(version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, version)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Hello from the cutover demo app, version %s (pid %d)\n", version, os.Getpid())
	})
	return mux
}

// RunApp serves the demo app on $PORT (the process runtime sets it to the
// task's host port) with $VERSION until ctx ends (SIGTERM from the runtime).
func RunApp(ctx context.Context) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	version := os.Getenv("VERSION")
	if version == "" {
		version = "v0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: AppHandler(version), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "cutover demo app %s listening on :%s\n", version, port)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
