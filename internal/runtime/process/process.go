// Package process runs ECS tasks as plain host processes, like Nomad's
// raw_exec driver: no image is pulled and nothing is isolated. It is the
// embedded default runtime, for laptops and tests without Docker.
//
// # Executables
//
// A container runs EntryPoint followed by Command. An image of the form
// "process:/abs/path/binary" names the executable as an image would: it is
// the entry point when EntryPoint is empty, and Command becomes its
// arguments. Any other image string is ignored, so a task definition written
// for Docker runs here when its entryPoint or command names a host binary.
// The executable (argv[0]) is used as is when it contains a slash (relative
// to the working directory) and is otherwise looked up on the container's
// PATH — the task's PATH, not the server's.
//
// # Ports
//
// Host processes share the host's network, so a container port cannot be
// remapped; instead every port mapping gets a host port (its HostPort when
// set, else a free one allocated on 127.0.0.1) and the process is told which
// through its environment: PORT is the first mapping's host port, and
// PORT_<containerPort> is set for every mapping. The task's Endpoint for each
// mapping is 127.0.0.1:<host port>. A process must therefore listen on
// $PORT (the convention of Heroku, Cloud Run and most PaaS) for traffic to
// reach it.
//
// # Environment
//
// Exactly the container's Environment plus the PORT variables — not the
// server's environment — with PATH and HOME given minimal defaults when the
// task does not set them (HOME and the default working directory are a
// per-task folder in the state directory).
//
// # Processes and stopping
//
// Every container starts in its own session and process group, so signals
// reach the processes it forks too; Stop sends SIGTERM to each container's
// group and SIGKILL after the grace period. (One group per container rather
// than per task: a group outlives its leader only while other members live,
// so a task-wide group would be lost if its first container exited early.)
// When an essential container exits, the others are stopped as in ECS and
// the task reports "Essential container in task exited".
//
// # Logs
//
// Stdout and stderr of each container go, unbuffered and interleaved, to
// <StateDir>/tasks/<key>/logs/<container>.log. The process writes the file
// itself, so logs keep flowing while the server is down. Logs are not rotated.
//
// # Health checks
//
// ECS semantics: ["CMD-SHELL", cmd] runs /bin/sh -c cmd and ["CMD", argv...]
// runs argv, with the container's environment and working directory, every
// Interval, each with Timeout. Failures during StartPeriod do not count; a
// success makes the container HEALTHY; Retries consecutive failures make it
// UNHEALTHY.
//
// # Adoption
//
// Each task is recorded in <StateDir>/tasks/<key>/task.json: its spec,
// ports, and each container's pid and start time from /proc/<pid>/stat
// (which tells a live container from a later process given the same pid).
// New reads these records: containers still running are watched by polling
// /proc, since they are no longer the server's children, and their exit
// codes cannot be known (ExitCode stays nil).
//
// # Limits
//
// CPU and memory are not enforced: RLIMIT_AS limits address space rather
// than memory use (and breaks runtimes that reserve large address ranges),
// and cgroups are not reliably writable where cutover runs embedded. Use the
// docker runtime where limits matter.
package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/runtime"
)

// ImagePrefix marks an image string that names a host executable.
const ImagePrefix = "process:"

// DefaultPATH is the PATH of a task that sets none (Docker's default).
const DefaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options configure a Runtime.
type Options struct {
	// StateDir holds task records and logs; required. A later Runtime on the
	// same StateDir adopts the tasks still running.
	StateDir string
	Log      *slog.Logger
	// StopTimeout is how long the other containers get between SIGTERM and
	// SIGKILL when an essential container exits (ECS's stopTimeout, 30s by
	// default).
	StopTimeout time.Duration
	// PollInterval is how often adopted processes are checked for exit
	// (default 500ms).
	PollInterval time.Duration
}

// Runtime is the host-process runtime.
type Runtime struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // ends on Close: stops monitors and health checks
	cancel context.CancelFunc

	mu     sync.Mutex
	tasks  map[string]*task
	ports  map[int]bool // host ports handed out to tasks that are not stopped
	closed bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New opens the state directory and adopts the tasks recorded there.
func New(opts Options) (*Runtime, error) {
	if opts.StateDir == "" {
		return nil, errors.New("process runtime: StateDir is required")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if err := os.MkdirAll(filepath.Join(opts.StateDir, "tasks"), 0o755); err != nil {
		return nil, fmt.Errorf("process runtime: state dir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{
		opts:   opts,
		log:    opts.Log.With("runtime", "process"),
		ctx:    ctx,
		cancel: cancel,
		tasks:  map[string]*task{},
		ports:  map[int]bool{},
	}
	if err := r.adopt(); err != nil {
		cancel()
		return nil, err
	}
	return r, nil
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return "process" }

// Close stops watching tasks; the tasks keep running for a later Runtime to
// adopt.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	return nil
}

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// record is a task as persisted in task.json.
type record struct {
	Spec          runtime.TaskSpec
	Status        string
	StopCode      string `json:",omitempty"`
	StoppedReason string `json:",omitempty"`
	StartedAt     time.Time
	StoppedAt     time.Time
	Containers    []containerRecord
	Endpoints     []runtime.Endpoint
	// AllocatedPorts are the host ports this runtime chose (not the caller),
	// released when the task stops.
	AllocatedPorts []int `json:",omitempty"`
}

type containerRecord struct {
	Name      string
	Pid       int    `json:",omitempty"`
	StartTime uint64 `json:",omitempty"`
	StartedAt time.Time
	Status    string
	ExitCode  *int   `json:",omitempty"`
	Reason    string `json:",omitempty"`
	Health    string
	// Env, Dir and Argv are what the process got, kept so health checks
	// run the same way after adoption.
	Env  []string
	Dir  string
	Argv []string `json:",omitempty"`
}

// task is the in-memory side of a record. mu guards rec and stopping.
type task struct {
	mu       sync.Mutex
	dir      string
	rec      record
	stopping bool
	done     chan struct{} // closed once the task is STOPPED
	// stopHealth ends the task's health-check loops.
	stopHealth context.CancelFunc
}

func taskKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:12])
}

func (r *Runtime) taskDir(id string) string {
	return filepath.Join(r.opts.StateDir, "tasks", taskKey(id))
}

// persist writes the record atomically. A closed Runtime writes nothing:
// the tasks belong to whichever instance adopts them next.
func (r *Runtime) persist(t *task) {
	if r.isClosed() {
		return
	}
	b, err := json.MarshalIndent(t.rec, "", "  ")
	if err != nil {
		r.log.Error("encode task record", "task", t.rec.Spec.ID, "err", err)
		return
	}
	tmp := filepath.Join(t.dir, "task.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		r.log.Error("write task record", "task", t.rec.Spec.ID, "err", err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(t.dir, "task.json")); err != nil {
		r.log.Error("write task record", "task", t.rec.Spec.ID, "err", err)
	}
}

// Start implements runtime.Runtime.
func (r *Runtime) Start(ctx context.Context, spec runtime.TaskSpec) (*runtime.Task, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	for _, c := range spec.Containers {
		if rest, ok := strings.CutPrefix(c.Image, ImagePrefix); ok && !filepath.IsAbs(rest) {
			return nil, fmt.Errorf("%w: container %q: image %q must name an absolute path", runtime.ErrInvalidSpec, c.Name, c.Image)
		}
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("process runtime: closed")
	}
	if t, ok := r.tasks[spec.ID]; ok {
		r.mu.Unlock()
		// Idempotent: the task exists (perhaps still starting, in which case
		// snapshot waits for the start to finish).
		return t.snapshot(), nil
	}
	t := &task{
		dir:  r.taskDir(spec.ID),
		done: make(chan struct{}),
		rec:  record{Spec: spec, Status: runtime.StatusPending},
	}
	// Held until the start is done so concurrent callers see a whole task.
	t.mu.Lock()
	defer t.mu.Unlock()
	r.tasks[spec.ID] = t
	r.mu.Unlock()

	if err := r.start(t); err != nil {
		// Nothing ran: forget the task so the caller can retry.
		r.mu.Lock()
		delete(r.tasks, spec.ID)
		for _, p := range t.rec.AllocatedPorts {
			delete(r.ports, p)
		}
		r.mu.Unlock()
		os.RemoveAll(t.dir)
		return nil, err
	}
	return t.snapshotLocked(), nil
}

// start launches the task's processes; t.mu is held. An error means nothing
// was started.
func (r *Runtime) start(t *task) error {
	spec := t.rec.Spec
	logDir := filepath.Join(t.dir, "logs")
	workDir := filepath.Join(t.dir, "work")
	for _, d := range []string{logDir, workDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("process runtime: task %s: %w", spec.ID, err)
		}
	}

	// Ports and environment first, so the record is complete before any
	// process exists.
	t.rec.Containers = make([]containerRecord, len(spec.Containers))
	for i, c := range spec.Containers {
		env := map[string]string{"PATH": DefaultPATH, "HOME": workDir}
		for k, v := range c.Environment {
			env[k] = v
		}
		for j, pm := range c.PortMappings {
			hostPort := pm.HostPort
			if hostPort == 0 {
				p, err := r.allocatePort(pm.ProtocolOrTCP())
				if err != nil {
					return fmt.Errorf("process runtime: task %s: allocate port for %s:%d: %w", spec.ID, c.Name, pm.ContainerPort, err)
				}
				hostPort = p
				t.rec.AllocatedPorts = append(t.rec.AllocatedPorts, p)
			}
			if j == 0 {
				env["PORT"] = strconv.Itoa(hostPort)
			}
			env["PORT_"+strconv.Itoa(pm.ContainerPort)] = strconv.Itoa(hostPort)
			t.rec.Endpoints = append(t.rec.Endpoints, runtime.Endpoint{
				ContainerName: c.Name,
				ContainerPort: pm.ContainerPort,
				Protocol:      pm.ProtocolOrTCP(),
				Host:          "127.0.0.1",
				HostPort:      hostPort,
			})
		}
		dir := c.WorkingDirectory
		if dir == "" {
			dir = workDir
		}
		t.rec.Containers[i] = containerRecord{
			Name:   c.Name,
			Status: runtime.StatusPending,
			Health: runtime.HealthUnknown,
			Env:    envList(env),
			Dir:    dir,
		}
	}
	r.persist(t)

	// Start the containers in order; the first that cannot start fails the
	// task as ECS does (TaskFailedToStart), stopping those already started.
	var failed string
	for i, c := range spec.Containers {
		cr := &t.rec.Containers[i]
		cmd, err := r.command(c, cr, filepath.Join(logDir, logName(c.Name)))
		if err == nil {
			err = cmd.Start()
			closeFiles(cmd)
		}
		if err != nil {
			cr.Status = runtime.StatusStopped
			cr.Reason = "CannotStartContainerError: " + err.Error()
			failed = cr.Reason
			r.log.Warn("container failed to start", "task", spec.ID, "container", c.Name, "err", err)
			break
		}
		cr.Pid = cmd.Process.Pid
		cr.StartedAt = time.Now()
		if st, err := readProcStat(cr.Pid); err == nil {
			cr.StartTime = st.StartTime
		}
		cr.Status = runtime.StatusRunning
		go r.wait(t, i, cmd)
	}
	t.rec.StartedAt = time.Now()
	healthCtx, cancel := context.WithCancel(r.ctx)
	t.stopHealth = cancel
	if failed != "" {
		for i := range t.rec.Containers {
			if t.rec.Containers[i].Status == runtime.StatusPending {
				t.rec.Containers[i].Status = runtime.StatusStopped
			}
		}
		t.rec.Status = runtime.StatusRunning // until the started ones exit
		r.beginStop(t, runtime.StopCodeTaskFailedToStart, failed, r.opts.StopTimeout)
		r.finishIfStopped(t) // when no container had started
		r.persist(t)
		return nil
	}
	t.rec.Status = runtime.StatusRunning
	r.persist(t)
	r.log.Info("task started", "task", spec.ID, "endpoints", len(t.rec.Endpoints))
	r.startHealthChecks(healthCtx, t)
	return nil
}

func logName(container string) string {
	// Container names are ECS names (letters, digits, - and _) but a
	// defensive cleanup keeps any name inside the log folder.
	return strings.NewReplacer("/", "_", "..", "_").Replace(container) + ".log"
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// argv returns what a container runs; see the package doc.
func argv(c runtime.ContainerSpec) ([]string, error) {
	args := slices.Concat(c.EntryPoint, c.Command)
	if len(c.EntryPoint) == 0 {
		if exe, ok := strings.CutPrefix(c.Image, ImagePrefix); ok {
			args = slices.Concat([]string{exe}, c.Command)
		}
	}
	if len(args) == 0 || args[0] == "" {
		return nil, fmt.Errorf("container %q has no entryPoint or command, and its image %q names no executable (use %s/abs/path)", c.Name, c.Image, ImagePrefix)
	}
	return args, nil
}

// lookPath finds file on the given PATH (exec.LookPath would use the
// server's PATH, not the task's).
func lookPath(file, path, dir string) (string, error) {
	if strings.Contains(file, "/") {
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		if err := executable(file); err != nil {
			return "", err
		}
		return file, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q", file, path)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// command builds the container's process, writing stdout and stderr to
// logPath.
func (r *Runtime) command(c runtime.ContainerSpec, cr *containerRecord, logPath string) (*exec.Cmd, error) {
	args, err := argv(c)
	if err != nil {
		return nil, err
	}
	exe, err := lookPath(args[0], envValue(cr.Env, "PATH"), cr.Dir)
	if err != nil {
		return nil, err
	}
	cr.Argv = args
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &exec.Cmd{
		Path: exe,
		Args: args,
		Env:  cr.Env,
		Dir:  cr.Dir,
		// An *os.File is handed to the child as is (no copying goroutine),
		// so the process keeps logging while the server is down.
		Stdout: logf,
		Stderr: logf,
		// Own session: own process group, and no signal from the server's
		// terminal reaches it, so it survives a server restart.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}, nil
}

func closeFiles(cmd *exec.Cmd) {
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close()
	}
}

// allocatePort finds a free port on 127.0.0.1 that this runtime has not
// handed out. The port is free when checked; a process that binds it first
// in between would win, a race accepted for a single-host runtime.
func (r *Runtime) allocatePort(proto string) (int, error) {
	for range 20 {
		var port int
		if proto == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		r.mu.Lock()
		taken := r.ports[port]
		if !taken {
			r.ports[port] = true
		}
		r.mu.Unlock()
		if !taken {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// wait collects a child's exit.
func (r *Runtime) wait(t *task, i int, cmd *exec.Cmd) {
	err := cmd.Wait()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Shells report death by signal N as 128+N; so does Docker.
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		r.log.Warn("wait for container", "task", t.rec.Spec.ID, "err", err)
	}
	// Processes the container forked die with it, as in a container.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	r.exited(t, i, &code)
}

// poll watches an adopted process, which is not a child, until it exits.
func (r *Runtime) poll(t *task, i int, pid int, startTime uint64) {
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
			if !alive(pid, startTime) {
				r.exited(t, i, nil)
				return
			}
		}
	}
}

// exited records that container i exited (code nil when unknowable) and
// applies ECS's essential-container rule.
func (r *Runtime) exited(t *task, i int, code *int) {
	if r.isClosed() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cr := &t.rec.Containers[i]
	if cr.Status == runtime.StatusStopped {
		return
	}
	cr.Status = runtime.StatusStopped
	cr.ExitCode = code
	spec := t.rec.Spec.Containers[i]
	switch {
	case code == nil:
		cr.Reason = "exited while cutover was not its parent; exit code unknown"
	case *code != 0 && !t.stopping:
		// A crash: say how, with the last lines it wrote.
		cr.Reason = fmt.Sprintf("exited with code %d", *code)
		if tail, err := tailFile(filepath.Join(t.dir, "logs", logName(cr.Name)), 5); err == nil && len(tail) > 0 {
			cr.Reason += "; last log lines:\n" + string(tail)
		}
	}
	r.log.Info("container exited", "task", t.rec.Spec.ID, "container", cr.Name, "code", fmtCode(code))
	if spec.Essential && !t.stopping {
		r.beginStop(t, runtime.StopCodeEssentialContainerExited, runtime.ReasonEssentialContainerExited, r.opts.StopTimeout)
	}
	r.finishIfStopped(t)
	r.persist(t)
}

// beginStop signals every running container and arranges SIGKILL after
// grace; t.mu is held.
func (r *Runtime) beginStop(t *task, code, reason string, grace time.Duration) {
	if !t.stopping {
		t.stopping = true
		t.rec.StopCode = code
		t.rec.StoppedReason = reason
	}
	r.signalAll(t, syscall.SIGTERM)
	if grace <= 0 {
		r.signalAll(t, syscall.SIGKILL)
		return
	}
	done := t.done
	go func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			t.mu.Lock()
			r.signalAll(t, syscall.SIGKILL)
			t.mu.Unlock()
		}
	}()
}

// signalAll signals the process group of every running container; t.mu is
// held.
func (r *Runtime) signalAll(t *task, sig syscall.Signal) {
	for _, cr := range t.rec.Containers {
		if cr.Status != runtime.StatusRunning || cr.Pid <= 0 {
			continue
		}
		// The start-time check keeps a reused pid (of an adopted process
		// that exited unseen) from being signalled.
		if cr.StartTime != 0 && !alive(cr.Pid, cr.StartTime) {
			continue
		}
		if err := syscall.Kill(-cr.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			r.log.Warn("signal container", "task", t.rec.Spec.ID, "container", cr.Name, "signal", sig, "err", err)
		}
	}
}

// finishIfStopped marks the task STOPPED once no container runs; t.mu is
// held.
func (r *Runtime) finishIfStopped(t *task) {
	if t.rec.Status == runtime.StatusStopped {
		return
	}
	for _, cr := range t.rec.Containers {
		if cr.Status != runtime.StatusStopped {
			return
		}
	}
	t.rec.Status = runtime.StatusStopped
	t.rec.StoppedAt = time.Now()
	if t.rec.StopCode == "" {
		// Every container exited without an essential one among them
		// stopping the task first (cannot happen with a valid spec, but a
		// record must never be left half-told).
		t.rec.StopCode = runtime.StopCodeEssentialContainerExited
		t.rec.StoppedReason = runtime.ReasonEssentialContainerExited
	}
	if t.stopHealth != nil {
		t.stopHealth()
	}
	r.mu.Lock()
	for _, p := range t.rec.AllocatedPorts {
		delete(r.ports, p)
	}
	r.mu.Unlock()
	close(t.done)
	r.log.Info("task stopped", "task", t.rec.Spec.ID, "reason", t.rec.StoppedReason)
}

func (r *Runtime) get(id string) (*task, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tasks[id]
	if !ok {
		return nil, fmt.Errorf("process runtime: task %q: %w", id, runtime.ErrNotFound)
	}
	return t, nil
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(ctx context.Context, id string) (*runtime.Task, error) {
	t, err := r.get(id)
	if err != nil {
		return nil, err
	}
	return t.snapshot(), nil
}

// List implements runtime.Runtime.
func (r *Runtime) List(ctx context.Context) ([]*runtime.Task, error) {
	r.mu.Lock()
	tasks := make([]*task, 0, len(r.tasks))
	for _, t := range r.tasks {
		tasks = append(tasks, t)
	}
	r.mu.Unlock()
	out := make([]*runtime.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stop implements runtime.Runtime.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, err := r.get(id)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.rec.Status != runtime.StatusStopped {
		r.beginStop(t, runtime.StopCodeUserInitiated, runtime.ReasonUserInitiated, grace)
		r.persist(t)
	}
	done := t.done
	t.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process runtime: stop task %q: %w", id, ctx.Err())
	case <-r.ctx.Done():
		return errors.New("process runtime: closed while stopping")
	}
}

// Remove implements runtime.Runtime.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if _, err := r.get(id); errors.Is(err, runtime.ErrNotFound) {
		// Still clear a record no instance loaded (written concurrently).
		return nil
	}
	if err := r.Stop(ctx, id, 0); err != nil {
		return err
	}
	r.mu.Lock()
	t := r.tasks[id]
	delete(r.tasks, id)
	r.mu.Unlock()
	if t == nil {
		return nil
	}
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("process runtime: remove task %q: %w", id, err)
	}
	return nil
}

// Logs implements runtime.Runtime.
func (r *Runtime) Logs(ctx context.Context, id, container string, tailLines int) ([]byte, error) {
	t, err := r.get(id)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	found := false
	for _, c := range t.rec.Spec.Containers {
		found = found || c.Name == container
	}
	dir := t.dir
	t.mu.Unlock()
	if !found {
		return nil, fmt.Errorf("process runtime: task %q has no container %q: %w", id, container, runtime.ErrNotFound)
	}
	b, err := tailFile(filepath.Join(dir, "logs", logName(container)), tailLines)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // never started
	}
	return b, err
}

func (t *task) snapshot() *runtime.Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotLocked()
}

func (t *task) snapshotLocked() *runtime.Task {
	rec := t.rec
	out := &runtime.Task{
		ID:            rec.Spec.ID,
		Labels:        copyMap(rec.Spec.Labels),
		Status:        rec.Status,
		StopCode:      rec.StopCode,
		StoppedReason: rec.StoppedReason,
		StartedAt:     rec.StartedAt,
		StoppedAt:     rec.StoppedAt,
		Endpoints:     slices.Clone(rec.Endpoints),
	}
	checks := map[string]bool{}
	for i, cr := range rec.Containers {
		spec := rec.Spec.Containers[i]
		checks[spec.Name] = spec.HealthCheck != nil
		cs := runtime.ContainerState{
			Name:      cr.Name,
			Essential: spec.Essential,
			Status:    cr.Status,
			Reason:    cr.Reason,
			Health:    cr.Health,
		}
		if cr.ExitCode != nil {
			code := *cr.ExitCode
			cs.ExitCode = &code
		}
		out.Containers = append(out.Containers, cs)
	}
	out.Health = runtime.TaskHealth(out.Containers, func(name string) bool { return checks[name] })
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// adopt loads every recorded task and resumes watching the live ones.
func (r *Runtime) adopt() error {
	entries, err := os.ReadDir(filepath.Join(r.opts.StateDir, "tasks"))
	if err != nil {
		return fmt.Errorf("process runtime: read state dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.opts.StateDir, "tasks", e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "task.json"))
		if err != nil {
			r.log.Warn("skip task folder without a record", "dir", dir, "err", err)
			continue
		}
		t := &task{dir: dir, done: make(chan struct{})}
		if err := json.Unmarshal(b, &t.rec); err != nil || len(t.rec.Containers) != len(t.rec.Spec.Containers) {
			r.log.Warn("skip unreadable task record", "dir", dir, "err", err)
			continue
		}
		r.tasks[t.rec.Spec.ID] = t
		r.resume(t)
	}
	return nil
}

// resume brings a loaded task up to date with the processes that are (or
// are no longer) there.
func (r *Runtime) resume(t *task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rec.Status == runtime.StatusStopped {
		close(t.done)
		return
	}
	id := t.rec.Spec.ID
	if t.rec.StopCode != "" {
		t.stopping = true
	}
	healthCtx, cancel := context.WithCancel(r.ctx)
	t.stopHealth = cancel
	essentialGone := false
	for i := range t.rec.Containers {
		cr := &t.rec.Containers[i]
		switch {
		case cr.Status == runtime.StatusRunning && alive(cr.Pid, cr.StartTime):
			go r.poll(t, i, cr.Pid, cr.StartTime)
		case cr.Status == runtime.StatusPending:
			// The server died while starting the task.
			cr.Status = runtime.StatusStopped
			cr.Reason = "CannotStartContainerError: server restarted while the task was starting"
			if !t.stopping {
				t.stopping = true
				t.rec.StopCode = runtime.StopCodeTaskFailedToStart
				t.rec.StoppedReason = cr.Reason
			}
		case cr.Status == runtime.StatusRunning:
			cr.Status = runtime.StatusStopped
			cr.Reason = "exited while cutover was not running; exit code unknown"
			essentialGone = essentialGone || t.rec.Spec.Containers[i].Essential
		}
	}
	r.mu.Lock()
	for _, p := range t.rec.AllocatedPorts {
		r.ports[p] = true
	}
	r.mu.Unlock()
	if essentialGone || t.stopping {
		code, reason := t.rec.StopCode, t.rec.StoppedReason
		if code == "" {
			code, reason = runtime.StopCodeEssentialContainerExited, runtime.ReasonEssentialContainerExited
		}
		r.beginStop(t, code, reason, r.opts.StopTimeout)
	}
	r.finishIfStopped(t)
	r.persist(t)
	if t.rec.Status != runtime.StatusStopped {
		r.log.Info("adopted task", "task", id)
		r.startHealthChecks(healthCtx, t)
	}
}

func fmtCode(code *int) string {
	if code == nil {
		return "unknown"
	}
	return strconv.Itoa(*code)
}
