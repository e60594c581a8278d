package process

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/runtime"
)

// startHealthChecks runs a loop per container that has a health check;
// t.mu is held. The loops end with ctx (task stopped or runtime closed).
func (r *Runtime) startHealthChecks(ctx context.Context, t *task) {
	for i, c := range t.rec.Spec.Containers {
		if c.HealthCheck == nil || t.rec.Containers[i].Status != runtime.StatusRunning {
			continue
		}
		cr := t.rec.Containers[i]
		go r.healthLoop(ctx, t, i, c.HealthCheck.WithDefaults(), cr.Env, cr.Dir, cr.StartedAt)
	}
}

// healthState applies ECS's rules to a stream of check results.
type healthState struct {
	check     runtime.HealthCheck
	startedAt time.Time
	failures  int
	status    string
	// passed ends the start period early, as in Docker and ECS: once a
	// check has passed, failures count.
	passed bool
}

func (h *healthState) record(ok bool, now time.Time) string {
	if ok {
		h.failures = 0
		h.passed = true
		h.status = runtime.HealthHealthy
		return h.status
	}
	if !h.passed && now.Sub(h.startedAt) < h.check.StartPeriod {
		return h.status // grace: failures during the start period do not count
	}
	h.failures++
	if h.failures >= h.check.Retries {
		h.status = runtime.HealthUnhealthy
	}
	return h.status
}

func (r *Runtime) healthLoop(ctx context.Context, t *task, i int, hc runtime.HealthCheck, env []string, dir string, startedAt time.Time) {
	t.mu.Lock()
	current := t.rec.Containers[i].Health
	t.mu.Unlock()
	if startedAt.IsZero() {
		startedAt = time.Now()
	}
	h := &healthState{check: hc, startedAt: startedAt, status: current, passed: current == runtime.HealthHealthy}
	tick := time.NewTicker(hc.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := runCheck(ctx, hc, env, dir)
		if ctx.Err() != nil {
			return
		}
		status := h.record(err == nil, time.Now())
		t.mu.Lock()
		cr := &t.rec.Containers[i]
		if cr.Status == runtime.StatusRunning && cr.Health != status {
			r.log.Info("container health changed", "task", t.rec.Spec.ID, "container", cr.Name, "health", status, "check_err", err)
			cr.Health = status
			r.persist(t)
		}
		t.mu.Unlock()
	}
}

// runCheck runs one health check command; nil means healthy.
func runCheck(ctx context.Context, hc runtime.HealthCheck, env []string, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	var path string
	var args []string
	switch hc.Command[0] {
	case "CMD-SHELL":
		path, args = "/bin/sh", []string{"/bin/sh", "-c", hc.Command[1]}
	case "CMD":
		p, err := lookPath(hc.Command[1], envValue(env, "PATH"), dir)
		if err != nil {
			return err
		}
		path, args = p, hc.Command[1:]
	default:
		return errors.New("unsupported health check command " + hc.Command[0])
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = args
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// A check that times out is killed with everything it started.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd.Run()
}
