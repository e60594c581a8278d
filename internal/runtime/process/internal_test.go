package process

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/runtime"
)

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 5, "a\nb\nc\n"},
		{"a\nb\nc\n", 1, "c\n"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
	} {
		if got := string(lastLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTailFileAcrossChunks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	b.WriteString("last line\n")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := tailFile(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("x", 19998%50) + "\n" + strings.Repeat("x", 19999%50) + "\nlast line\n"
	if string(got) != want {
		t.Errorf("tailFile = %q, want %q", got, want)
	}
}

func TestHealthState(t *testing.T) {
	t0 := time.Unix(1000, 0)
	check := runtime.HealthCheck{Retries: 2, StartPeriod: 10 * time.Second}
	type step struct {
		ok   bool
		at   time.Duration
		want string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"failures in the start period do not count", []step{{false, 1 * time.Second, "UNKNOWN"}, {false, 2 * time.Second, "UNKNOWN"}, {false, 3 * time.Second, "UNKNOWN"}}},
		{"success makes healthy", []step{{true, time.Second, "HEALTHY"}}},
		{"retries failures after the start period", []step{{false, 11 * time.Second, "UNKNOWN"}, {false, 12 * time.Second, "UNHEALTHY"}}},
		{"a pass ends the start period", []step{{true, time.Second, "HEALTHY"}, {false, 2 * time.Second, "HEALTHY"}, {false, 3 * time.Second, "UNHEALTHY"}}},
		{"success resets failures", []step{{true, time.Second, "HEALTHY"}, {false, 2 * time.Second, "HEALTHY"}, {true, 3 * time.Second, "HEALTHY"}, {false, 4 * time.Second, "HEALTHY"}}},
		{"recovers", []step{{false, 11 * time.Second, "UNKNOWN"}, {false, 12 * time.Second, "UNHEALTHY"}, {true, 13 * time.Second, "HEALTHY"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &healthState{check: check, startedAt: t0, status: runtime.HealthUnknown}
			for i, s := range tc.steps {
				if got := h.record(s.ok, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d: %s, want %s", i, got, s.want)
				}
			}
		})
	}
}

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    runtime.ContainerSpec
		want string
		err  bool
	}{
		{"image names the executable", runtime.ContainerSpec{Image: "process:/bin/echo", Command: []string{"hi"}}, "/bin/echo hi", false},
		{"entry point overrides the image", runtime.ContainerSpec{Image: "process:/bin/echo", EntryPoint: []string{"sleep"}, Command: []string{"1"}}, "sleep 1", false},
		{"other images are ignored", runtime.ContainerSpec{Image: "nginx:latest", Command: []string{"env"}}, "env", false},
		{"nothing to run", runtime.ContainerSpec{Image: "nginx:latest"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := argv(tc.c)
			if (err != nil) != tc.err || strings.Join(got, " ") != tc.want {
				t.Errorf("argv = %q, %v; want %q (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestLookPathUsesTaskPATH(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := lookPath("tool", "/nonexistent:"+dir, "/"); err != nil || got != exe {
		t.Errorf("lookPath on the task's PATH = %q, %v", got, err)
	}
	if _, err := lookPath("tool", "/usr/bin", "/"); err == nil {
		t.Error("found tool outside the task's PATH")
	}
	if got, err := lookPath("./tool", "", dir); err != nil || got != exe {
		t.Errorf("relative path = %q, %v", got, err)
	}
}

func TestProcStat(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil || st.StartTime == 0 {
		t.Fatalf("readProcStat(self) = %+v, %v", st, err)
	}
	if !alive(os.Getpid(), st.StartTime) {
		t.Error("this process is not alive")
	}
	if alive(os.Getpid(), st.StartTime+1) {
		t.Error("a different start time must mean another process")
	}
}

func TestStartFailureAndPortEnv(t *testing.T) {
	rt, err := New(Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()

	task, err := rt.Start(ctx, runtime.TaskSpec{ID: "missing", Containers: []runtime.ContainerSpec{
		{Name: "a", Essential: true, Command: []string{"no-such-binary-anywhere"}},
	}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	task, _ = rt.Inspect(ctx, "missing")
	if task.Status != runtime.StatusStopped || task.StopCode != runtime.StopCodeTaskFailedToStart ||
		!strings.HasPrefix(task.Containers[0].Reason, "CannotStartContainerError") {
		t.Errorf("task with a missing executable: %+v", task)
	}

	// The environment is the task's, with PORT variables and minimal
	// defaults, not the server's.
	t.Setenv("SERVER_SECRET", "x")
	_, err = rt.Start(ctx, runtime.TaskSpec{ID: "env", Containers: []runtime.ContainerSpec{{
		Name: "a", Essential: true, Command: []string{"sh", "-c", "env"},
		Environment:  map[string]string{"A": "1"},
		PortMappings: []runtime.PortMapping{{ContainerPort: 80}, {ContainerPort: 9000}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for task, _ = rt.Inspect(ctx, "env"); task.Status != runtime.StatusStopped && time.Now().Before(deadline); task, _ = rt.Inspect(ctx, "env") {
		time.Sleep(20 * time.Millisecond)
	}
	logs, _ := rt.Logs(ctx, "env", "a", 0)
	env := string(logs)
	for _, want := range []string{"A=1", "PORT=" + itoa(task.Endpoints[0].HostPort), "PORT_80=" + itoa(task.Endpoints[0].HostPort), "PORT_9000=" + itoa(task.Endpoints[1].HostPort), "PATH=" + DefaultPATH} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "SERVER_SECRET") {
		t.Errorf("the server's environment leaked into the task:\n%s", env)
	}
	if c := task.Containers[0]; c.ExitCode == nil || *c.ExitCode != 0 || c.Reason != "" {
		t.Errorf("clean exit reported as %+v", c)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
