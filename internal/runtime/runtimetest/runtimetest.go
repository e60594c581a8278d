// Package runtimetest is the conformance suite every runtime.Runtime passes,
// in the manner of Litestream's shared replica-client tests: the same
// behaviour, checked the same way, against host processes and Docker.
//
// The workload is test/testdata/versionserver: an HTTP server that answers
// GET / with its VERSION, /env with its environment and /health, with knobs
// to crash, fail its health check or ignore SIGTERM.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/runtime"
)

// Options describe how the versionserver is reached in the runtime under
// test.
type Options struct {
	// Binary is the versionserver executable's path as a task sees it (for
	// the ["CMD", Binary, "check"] health check): "/versionserver" inside the
	// test image, the host path for the process runtime.
	Binary string
	// Reopen returns a second runtime instance on the same state, as a
	// restarted server would build it; it may close the first one. The suite
	// closes what Reopen returns. Nil skips the adoption test.
	Reopen func(t *testing.T) runtime.Runtime
	// Timeout bounds each wait for a state change (default 30s).
	Timeout time.Duration
}

// Run runs the suite against rt, whose tasks run image (the versionserver).
// The adoption test runs last, because Reopen may close rt.
func Run(t *testing.T, rt runtime.Runtime, image string, opts Options) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	s := &suite{rt: rt, image: image, opts: opts, prefix: "rtt-" + randomHex(4)}
	t.Run("group", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(t *testing.T)
		}{
			{"ServeEnvHealthLogsStop", s.testServe},
			{"EssentialContainerExit", s.testEssentialExit},
			{"CrashOnStart", s.testCrashOnStart},
			{"Unhealthy", s.testUnhealthy},
			{"StopKillsAfterGrace", s.testStopGrace},
			{"InvalidSpec", s.testInvalidSpec},
			{"NotFound", s.testNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t)
			})
		}
	})
	t.Run("Adoption", s.testAdoption)
}

type suite struct {
	rt     runtime.Runtime
	image  string
	opts   Options
	prefix string
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// server is a versionserver container listening on container port 8080.
func (s *suite) server(name string, env map[string]string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:         name,
		Image:        s.image,
		Essential:    true,
		Environment:  env,
		PortMappings: []runtime.PortMapping{{ContainerPort: 8080, Protocol: "tcp"}},
		Memory:       64,
		CPU:          128,
	}
}

func (s *suite) healthCheck() *runtime.HealthCheck {
	return &runtime.HealthCheck{
		Command:  []string{"CMD", s.opts.Binary, "check"},
		Interval: 300 * time.Millisecond,
		Timeout:  2 * time.Second,
		Retries:  2,
	}
}

func (s *suite) start(t *testing.T, rt runtime.Runtime, spec runtime.TaskSpec) *runtime.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.opts.Timeout)
	defer cancel()
	task, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.ID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		if err := rt.Remove(ctx, spec.ID); err != nil {
			t.Errorf("cleanup: Remove(%s): %v", spec.ID, err)
		}
	})
	if task.ID != spec.ID {
		t.Fatalf("Start returned task %q, want %q", task.ID, spec.ID)
	}
	return task
}

// waitTask polls Inspect until cond holds.
func (s *suite) waitTask(t *testing.T, rt runtime.Runtime, id, what string, cond func(*runtime.Task) bool) *runtime.Task {
	t.Helper()
	deadline := time.Now().Add(s.opts.Timeout)
	var last *runtime.Task
	for time.Now().Before(deadline) {
		task, err := rt.Inspect(context.Background(), id)
		if err != nil {
			t.Fatalf("Inspect(%s): %v", id, err)
		}
		last = task
		if cond(task) {
			return task
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("task %s: timed out waiting for %s; last state: %s", id, what, describe(last))
	return nil
}

func describe(task *runtime.Task) string {
	b, _ := json.MarshalIndent(task, "", "  ")
	return string(b)
}

func running(task *runtime.Task) bool { return task.Status == runtime.StatusRunning }
func stopped(task *runtime.Task) bool { return task.Status == runtime.StatusStopped }

func endpoint(t *testing.T, task *runtime.Task, container string, port int) runtime.Endpoint {
	t.Helper()
	for _, e := range task.Endpoints {
		if e.ContainerName == container && e.ContainerPort == port {
			if e.Host == "" || e.HostPort <= 0 {
				t.Fatalf("endpoint for %s:%d is incomplete: %+v", container, port, e)
			}
			return e
		}
	}
	t.Fatalf("task %s has no endpoint for %s:%d: %s", task.ID, container, port, describe(task))
	return runtime.Endpoint{}
}

// get fetches path from the endpoint, retrying while the server comes up.
func (s *suite) get(t *testing.T, e runtime.Endpoint, path string) (int, []byte) {
	t.Helper()
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(s.opts.Timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + e.Addr() + path)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				return resp.StatusCode, body
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s%s: %v", e.Addr(), path, lastErr)
	return 0, nil
}

func (s *suite) testServe(t *testing.T) {
	ctx := context.Background()
	id := s.prefix + "-serve"
	c := s.server("web", map[string]string{"VERSION": "v1", "GREETING": "hello world"})
	c.HealthCheck = s.healthCheck()
	spec := runtime.TaskSpec{ID: id, Labels: map[string]string{"cutover.test": "serve", "team": "blue"}, Containers: []runtime.ContainerSpec{c}}
	s.start(t, s.rt, spec)

	task := s.waitTask(t, s.rt, id, "RUNNING", running)
	if task.Labels["team"] != "blue" || task.Labels["cutover.test"] != "serve" {
		t.Errorf("labels = %v, want the spec's", task.Labels)
	}
	e := endpoint(t, task, "web", 8080)

	code, body := s.get(t, e, "/")
	var answer struct{ Version string }
	if err := json.Unmarshal(body, &answer); err != nil || code != 200 || answer.Version != "v1" {
		t.Fatalf("GET / = %d %s (%v), want 200 with version v1", code, body, err)
	}
	_, body = s.get(t, e, "/env")
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("GET /env: %s: %v", body, err)
	}
	if env["GREETING"] != "hello world" || env["VERSION"] != "v1" {
		t.Errorf("environment lacks the task's variables: %v", env)
	}

	task = s.waitTask(t, s.rt, id, "HEALTHY", func(task *runtime.Task) bool { return task.Health == runtime.HealthHealthy })
	if got := task.Containers[0].Health; got != runtime.HealthHealthy {
		t.Errorf("container health = %s, want HEALTHY", got)
	}

	// Starting the same id again returns the same task, not a second one.
	again, err := s.rt.Start(ctx, spec)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if e2 := endpoint(t, again, "web", 8080); e2 != e {
		t.Errorf("second Start returned endpoint %v, want the first task's %v", e2, e)
	}
	list, err := s.rt.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	n := 0
	for _, lt := range list {
		if lt.ID == id {
			n++
			if lt.Status != runtime.StatusRunning {
				t.Errorf("List shows %s as %s", id, lt.Status)
			}
		}
	}
	if n != 1 {
		t.Errorf("List has %d tasks with id %s, want 1", n, id)
	}

	logs, err := s.rt.Logs(ctx, id, "web", 50)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if !strings.Contains(string(logs), "versionserver v1 listening") {
		t.Errorf("logs lack the server's start line:\n%s", logs)
	}
	if _, err := s.rt.Logs(ctx, id, "nope", 10); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs of an unknown container: err = %v, want ErrNotFound", err)
	}

	start := time.Now()
	if err := s.rt.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The server exits on SIGTERM at once: the grace period is not waited out.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Stop took %v for a server that exits on SIGTERM", d)
	}
	task, err = s.rt.Inspect(ctx, id)
	if err != nil {
		t.Fatalf("Inspect after Stop: %v", err)
	}
	if task.Status != runtime.StatusStopped || task.StopCode != runtime.StopCodeUserInitiated || task.StoppedAt.IsZero() {
		t.Errorf("after Stop: %s", describe(task))
	}
	if err := s.rt.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	logs, _ = s.rt.Logs(ctx, id, "web", 1)
	if !strings.Contains(string(logs), "shutting down") || strings.Count(string(logs), "\n") > 1 {
		t.Errorf("Logs(tail 1) = %q, want the shutdown line alone", logs)
	}

	if err := s.rt.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.rt.Inspect(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Inspect after Remove: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testEssentialExit(t *testing.T) {
	id := s.prefix + "-essential"
	app := s.server("app", map[string]string{"VERSION": "v1", "EXIT_AFTER": "1500ms", "EXIT_CODE": "3"})
	side := s.server("sidecar", map[string]string{"VERSION": "side", "PORT": "8081"})
	side.Essential = false
	side.PortMappings = []runtime.PortMapping{{ContainerPort: 8081}}
	s.start(t, s.rt, runtime.TaskSpec{ID: id, Containers: []runtime.ContainerSpec{app, side}})

	task := s.waitTask(t, s.rt, id, "RUNNING", running)
	_, body := s.get(t, endpoint(t, task, "sidecar", 8081), "/")
	if !strings.Contains(string(body), `"side"`) {
		t.Errorf("sidecar answered %s", body)
	}

	task = s.waitTask(t, s.rt, id, "STOPPED", stopped)
	if task.StopCode != runtime.StopCodeEssentialContainerExited || task.StoppedReason != runtime.ReasonEssentialContainerExited {
		t.Errorf("stop code %q reason %q, want %q %q", task.StopCode, task.StoppedReason, runtime.StopCodeEssentialContainerExited, runtime.ReasonEssentialContainerExited)
	}
	for _, c := range task.Containers {
		if c.Status != runtime.StatusStopped {
			t.Errorf("container %s is %s after the task stopped", c.Name, c.Status)
		}
		if c.Name == "app" {
			if c.ExitCode == nil || *c.ExitCode != 3 {
				t.Errorf("app exit code = %v, want 3", c.ExitCode)
			}
			if !strings.Contains(c.Reason, "3") {
				t.Errorf("app reason %q does not give the exit code", c.Reason)
			}
		}
	}
}

func (s *suite) testCrashOnStart(t *testing.T) {
	id := s.prefix + "-crash"
	c := s.server("app", map[string]string{"VERSION": "v1", "EXIT_AFTER": "1ms", "EXIT_CODE": "7"})
	s.start(t, s.rt, runtime.TaskSpec{ID: id, Containers: []runtime.ContainerSpec{c}})
	task := s.waitTask(t, s.rt, id, "STOPPED", stopped)
	if task.StoppedReason != runtime.ReasonEssentialContainerExited {
		t.Errorf("stopped reason %q", task.StoppedReason)
	}
	got := task.Containers[0]
	if got.ExitCode == nil || *got.ExitCode != 7 {
		t.Errorf("exit code = %v, want 7", got.ExitCode)
	}
	// The reason names the exit code and quotes the container's last words.
	if !strings.Contains(got.Reason, "7") || !strings.Contains(got.Reason, "exiting with code 7") {
		t.Errorf("container reason %q lacks the exit code or the last log lines", got.Reason)
	}
}

func (s *suite) testUnhealthy(t *testing.T) {
	id := s.prefix + "-unhealthy"
	c := s.server("web", map[string]string{"VERSION": "v1", "FAIL_HEALTH": "1"})
	c.HealthCheck = s.healthCheck()
	s.start(t, s.rt, runtime.TaskSpec{ID: id, Containers: []runtime.ContainerSpec{c}})
	task := s.waitTask(t, s.rt, id, "UNHEALTHY", func(task *runtime.Task) bool { return task.Health == runtime.HealthUnhealthy })
	if task.Status != runtime.StatusRunning {
		t.Errorf("an unhealthy task is %s; the runtime must leave stopping it to the scheduler", task.Status)
	}
	if err := s.rt.Stop(context.Background(), id, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func (s *suite) testStopGrace(t *testing.T) {
	id := s.prefix + "-grace"
	c := s.server("stubborn", map[string]string{"VERSION": "v1", "IGNORE_SIGTERM": "1"})
	s.start(t, s.rt, runtime.TaskSpec{ID: id, Containers: []runtime.ContainerSpec{c}})
	task := s.waitTask(t, s.rt, id, "RUNNING", running)
	s.get(t, endpoint(t, task, "stubborn", 8080), "/") // it is up and has its signal handler
	start := time.Now()
	if err := s.rt.Stop(context.Background(), id, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	d := time.Since(start)
	if d < 900*time.Millisecond || d > 15*time.Second {
		t.Errorf("Stop with 1s grace of a process ignoring SIGTERM took %v", d)
	}
	task, err := s.rt.Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != runtime.StatusStopped {
		t.Fatalf("after Stop: %s", describe(task))
	}
	if ec := task.Containers[0].ExitCode; ec != nil && *ec != 137 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", *ec)
	}
	logs, _ := s.rt.Logs(context.Background(), id, "stubborn", 0)
	if !strings.Contains(string(logs), "ignoring") {
		t.Errorf("the server never saw SIGTERM; logs:\n%s", logs)
	}
}

func (s *suite) testInvalidSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec runtime.TaskSpec
	}{
		{"no id", runtime.TaskSpec{Containers: []runtime.ContainerSpec{s.server("a", nil)}}},
		{"no containers", runtime.TaskSpec{ID: s.prefix + "-invalid"}},
		{"no essential container", runtime.TaskSpec{ID: s.prefix + "-invalid", Containers: []runtime.ContainerSpec{{Name: "a", Image: s.image}}}},
		{"duplicate names", runtime.TaskSpec{ID: s.prefix + "-invalid", Containers: []runtime.ContainerSpec{s.server("a", nil), s.server("a", nil)}}},
		{"bad health check", runtime.TaskSpec{ID: s.prefix + "-invalid", Containers: []runtime.ContainerSpec{{Name: "a", Image: s.image, Essential: true, HealthCheck: &runtime.HealthCheck{Command: []string{"curl"}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.rt.Start(context.Background(), tc.spec)
			if !errors.Is(err, runtime.ErrInvalidSpec) {
				t.Errorf("Start: err = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func (s *suite) testNotFound(t *testing.T) {
	ctx := context.Background()
	id := s.prefix + "-missing"
	if _, err := s.rt.Inspect(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Inspect: err = %v, want ErrNotFound", err)
	}
	if err := s.rt.Stop(ctx, id, time.Second); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop: err = %v, want ErrNotFound", err)
	}
	if _, err := s.rt.Logs(ctx, id, "web", 10); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs: err = %v, want ErrNotFound", err)
	}
	if err := s.rt.Remove(ctx, id); err != nil {
		t.Errorf("Remove of an unknown task: %v, want nil", err)
	}
}

func (s *suite) testAdoption(t *testing.T) {
	if s.opts.Reopen == nil {
		t.Skip("no Reopen: adoption not tested")
	}
	ctx := context.Background()
	id := s.prefix + "-adopt"
	c := s.server("web", map[string]string{"VERSION": "v2"})
	c.HealthCheck = s.healthCheck()
	spec := runtime.TaskSpec{ID: id, Labels: map[string]string{"team": "green"}, Containers: []runtime.ContainerSpec{c}}
	if _, err := s.rt.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	task := s.waitTask(t, s.rt, id, "HEALTHY", func(task *runtime.Task) bool { return task.Health == runtime.HealthHealthy })
	e := endpoint(t, task, "web", 8080)

	rt2 := s.opts.Reopen(t)
	t.Cleanup(func() {
		rt2.Remove(context.Background(), id)
		rt2.Close()
	})

	list, err := rt2.List(ctx)
	if err != nil {
		t.Fatalf("List on the new instance: %v", err)
	}
	var found *runtime.Task
	for _, lt := range list {
		if lt.ID == id {
			found = lt
		}
	}
	if found == nil {
		t.Fatalf("the new instance does not list task %s; it lists %d tasks", id, len(list))
	}
	if found.Status != runtime.StatusRunning || found.Labels["team"] != "green" {
		t.Errorf("adopted task: %s", describe(found))
	}
	if e2 := endpoint(t, found, "web", 8080); e2 != e {
		t.Errorf("adopted endpoint %v, want %v", e2, e)
	}
	_, body := s.get(t, e, "/")
	if !strings.Contains(string(body), `"v2"`) {
		t.Errorf("adopted task answers %s", body)
	}
	// Health checks go on under the new instance.
	s.waitTask(t, rt2, id, "HEALTHY after adoption", func(task *runtime.Task) bool { return task.Health == runtime.HealthHealthy })

	// Starting it again through the new instance adopts, never duplicates.
	again, err := rt2.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start on the new instance: %v", err)
	}
	if e2 := endpoint(t, again, "web", 8080); e2 != e {
		t.Errorf("Start on the new instance returned endpoint %v, want the adopted %v", e2, e)
	}

	if err := rt2.Stop(ctx, id, 5*time.Second); err != nil {
		t.Fatalf("Stop through the new instance: %v", err)
	}
	s.waitTask(t, rt2, id, "STOPPED", stopped)
	client := http.Client{Timeout: time.Second}
	if resp, err := client.Get("http://" + e.Addr() + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("the stopped task still answers on %s", e.Addr())
	}
	if err := rt2.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
}
