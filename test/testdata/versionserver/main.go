// Command versionserver is the test workload for cutover's runtimes: a tiny
// static HTTP server that says which version it is, so a test can tell blue
// from green through a load balancer.
//
// It builds without cgo (CGO_ENABLED=0) so it can be the only file of a
// FROM scratch image.
//
//	GET /        {"version": "$VERSION", "hostname": ..., "port": ...}
//	GET /health  200 "ok" (500 with FAIL_HEALTH=1)
//	GET /env     the environment as a JSON object (for tests of env passing)
//
// Knobs for failure tests:
//
//	PORT=8080          port to listen on (all interfaces)
//	VERSION=v1         version to report
//	STATUS_CODE=500    answer / with this status
//	FAIL_HEALTH=1      answer /health with 500
//	EXIT_AFTER=2s      exit by itself after this long
//	EXIT_CODE=3        exit code for EXIT_AFTER (default 1)
//	IGNORE_SIGTERM=1   keep running on SIGTERM (to test kill after grace)
//
// "versionserver check [URL]" is a health-check client: it exits 0 when URL
// (default http://127.0.0.1:$PORT/health) answers 2xx, 1 otherwise. A scratch
// image has no shell or curl, so health checks use the binary itself:
// ["CMD", "/versionserver", "check"].
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(check(os.Args[2:]))
	}
	if err := serve(); err != nil {
		log.Fatal(err)
	}
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}

func check(args []string) int {
	url := "http://127.0.0.1:" + port() + "/health"
	if len(args) > 0 {
		url = args[0]
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "check: status", resp.StatusCode)
		return 1
	}
	return 0
}

func serve() error {
	version := os.Getenv("VERSION")
	status := http.StatusOK
	if s := os.Getenv("STATUS_CODE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("STATUS_CODE %q: %w", s, err)
		}
		status = n
	}
	hostname, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"version": version, "hostname": hostname, "port": port()})
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("FAIL_HEALTH") == "1" {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(env)
	})

	srv := &http.Server{Addr: ":" + port(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("versionserver %s listening on :%s", version, port())

	var exitAfter <-chan time.Time
	if s := os.Getenv("EXIT_AFTER"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("EXIT_AFTER %q: %w", s, err)
		}
		exitAfter = time.After(d)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	for {
		select {
		case err := <-errc:
			return err
		case <-exitAfter:
			code := 1
			if s := os.Getenv("EXIT_CODE"); s != "" {
				code, _ = strconv.Atoi(s)
			}
			log.Printf("versionserver %s exiting with code %d after EXIT_AFTER", version, code)
			os.Exit(code)
		case sig := <-sigs:
			if os.Getenv("IGNORE_SIGTERM") == "1" {
				log.Printf("versionserver %s ignoring %v", version, sig)
				continue
			}
			log.Printf("versionserver %s shutting down on %v", version, sig)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}
