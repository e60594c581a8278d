// Package docker runs ECS tasks as Docker containers through the Docker
// Engine API, with the official Go client (github.com/moby/moby/client).
//
// A task is a group of containers that carry labels: cutover.owner (which
// cutover installation runs it), cutover.task-id, cutover.container, and the
// caller's labels. The labels are the only state: a restarted server lists
// the labelled containers and adopts them, and Start with an existing id
// returns the existing task instead of creating another.
//
// The containers of a task share one network namespace, like ECS's awsvpc
// mode: the first essential container owns it (on Docker's default bridge)
// and the others join it with NetworkMode "container:<id>", so they reach
// each other on localhost. Every port mapping of the task is therefore
// published on that first container, on HostIP (127.0.0.1 by default) with
// an ephemeral host port unless the mapping names one; the task's Endpoints
// report the ports Docker chose. The owner is an essential container because
// its exit ends the namespace, and an essential exit ends the task anyway.
//
// Translations from ECS: health checks keep their ["CMD", ...] or
// ["CMD-SHELL", "..."] form (Docker's own) with ECS's defaults filled in;
// memory (MiB) becomes a hard limit in bytes and memoryReservation a soft
// limit; container cpu units become CPU shares, which is what ECS does with
// container-level cpu on Linux.
//
// Images are pulled on every Start (ECS's default behaviour), from any
// registry the daemon reaches (Docker treats registries on 127.0.0.0/8 as
// insecure, so a plain-HTTP test registry works); when the pull fails but the
// image is present locally, the local image is used, as the ECS agent does.
//
// When an essential container exits, the runtime stops the others (SIGTERM,
// SIGKILL after StopTimeout) — noticed by a monitor that polls the owned
// tasks, and by any Inspect or List.
package docker

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/runtime"
)

// Labels of cutover's own beside runtime.LabelTaskID and LabelContainer.
const (
	LabelOwner      = "cutover.owner"
	labelIndex      = "cutover.index"
	labelEssential  = "cutover.essential"
	labelTaskLabels = "cutover.task-labels" // the caller's labels as JSON, to tell them from ours
	labelPorts      = "cutover.ports"       // the container's port mappings as JSON
	labelHealth     = "cutover.health-check"
)

// Options configure a Runtime.
type Options struct {
	// Client talks to the daemon; nil builds one from the environment
	// (DOCKER_HOST and friends, else the default socket).
	Client *client.Client
	// Owner scopes the runtime to containers labelled cutover.owner=Owner,
	// so several installations (or test runs) can share a daemon. Default
	// "cutover".
	Owner string
	Log   *slog.Logger
	// HostIP is where ports are published (default 127.0.0.1).
	HostIP string
	// StopTimeout is the grace the other containers get when an essential
	// container exits (ECS's stopTimeout, 30s by default).
	StopTimeout time.Duration
	// PollInterval is how often the monitor looks for essential containers
	// that exited (default 1s).
	PollInterval time.Duration
}

// Runtime is the Docker runtime.
type Runtime struct {
	cli     *client.Client
	ownsCli bool
	opts    Options
	hostIP  netip.Addr
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	starting map[string]*sync.Mutex // per task id: one Start at a time
	// userStopped records when Stop was asked for a task, to tell a stop by
	// the user from an essential exit. It is memory only: after a restart a
	// stopped task reads as stopped by its essential container.
	userStopped map[string]time.Time
	reaping     map[string]bool // tasks whose remaining containers are being stopped
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to the daemon (failing if it does not answer) and starts the
// monitor.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.Owner = cmp.Or(opts.Owner, "cutover")
	opts.HostIP = cmp.Or(opts.HostIP, "127.0.0.1")
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	hostIP, err := netip.ParseAddr(opts.HostIP)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: host ip: %w", err)
	}
	r := &Runtime{
		cli:         opts.Client,
		opts:        opts,
		hostIP:      hostIP,
		log:         opts.Log.With("runtime", "docker"),
		starting:    map[string]*sync.Mutex{},
		userStopped: map[string]time.Time{},
		reaping:     map[string]bool{},
	}
	if r.cli == nil {
		r.cli, err = client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("docker runtime: client: %w", err)
		}
		r.ownsCli = true
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		if r.ownsCli {
			r.cli.Close()
		}
		return nil, fmt.Errorf("docker runtime: daemon at %s does not answer: %w", r.cli.DaemonHost(), err)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.monitor()
	return r, nil
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return "docker" }

// Close stops the monitor; containers keep running.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	if r.ownsCli {
		return r.cli.Close()
	}
	return nil
}

// monitor enforces the essential-container rule while nobody asks: List
// does it for every task it looks at.
func (r *Runtime) monitor() {
	defer r.wg.Done()
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
			if _, err := r.List(ctx); err != nil && r.ctx.Err() == nil {
				r.log.Warn("monitor: list tasks", "err", err)
			}
			cancel()
		}
	}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// containerName is readable where the id allows and unique regardless: a
// name that had to be cleaned up gets a hash of the original.
func containerName(taskID, name string) string {
	raw := taskID + "-" + name
	clean := unsafeName.ReplaceAllString(raw, "_")
	if clean != raw {
		sum := sha256.Sum256([]byte(raw))
		clean += "-" + hex.EncodeToString(sum[:4])
	}
	return "cutover-" + clean
}

func (r *Runtime) lockStart(id string) func() {
	r.mu.Lock()
	m, ok := r.starting[id]
	if !ok {
		m = &sync.Mutex{}
		r.starting[id] = m
	}
	r.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Start implements runtime.Runtime.
func (r *Runtime) Start(ctx context.Context, spec runtime.TaskSpec) (*runtime.Task, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	unlock := r.lockStart(spec.ID)
	defer unlock()

	existing, err := r.taskContainers(ctx, spec.ID)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return r.build(ctx, spec.ID, existing)
	}

	pulled := map[string]bool{}
	for _, c := range spec.Containers {
		if pulled[c.Image] {
			continue
		}
		if err := r.pull(ctx, c.Image); err != nil {
			return nil, err
		}
		pulled[c.Image] = true
	}

	// The namespace owner goes first: the others need its id.
	owner := slices.IndexFunc(spec.Containers, func(c runtime.ContainerSpec) bool { return c.Essential })
	order := []int{owner}
	for i := range spec.Containers {
		if i != owner {
			order = append(order, i)
		}
	}
	taskLabels, _ := json.Marshal(spec.Labels)
	ids := make([]string, len(spec.Containers))
	var created []string
	for _, i := range order {
		c := spec.Containers[i]
		cfg, host, err := r.containerConfig(spec, i, string(taskLabels))
		if err != nil {
			r.removeAll(created)
			return nil, err
		}
		if i == owner {
			r.publishAll(spec, cfg, host)
		} else {
			host.NetworkMode = container.NetworkMode("container:" + ids[owner])
		}
		res, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: containerName(spec.ID, c.Name), Config: cfg, HostConfig: host,
		})
		if err != nil {
			r.removeAll(created)
			return nil, fmt.Errorf("docker runtime: task %s: create container %q: %w", spec.ID, c.Name, err)
		}
		for _, w := range res.Warnings {
			r.log.Debug("create container", "task", spec.ID, "container", c.Name, "warning", w)
		}
		ids[i] = res.ID
		created = append(created, res.ID)
	}

	for _, i := range order {
		if _, err := r.cli.ContainerStart(ctx, ids[i], client.ContainerStartOptions{}); err != nil {
			// Docker records the error on the container (State.Error), so
			// the task reads as failed to start; stop what did start.
			r.log.Warn("container failed to start", "task", spec.ID, "container", spec.Containers[i].Name, "err", err)
			r.stopContainers(ctx, created, r.opts.StopTimeout)
			break
		}
	}
	r.log.Info("task started", "task", spec.ID, "containers", len(ids))
	return r.Inspect(ctx, spec.ID)
}

// pull fetches the image; see the package doc for the fallback.
func (r *Runtime) pull(ctx context.Context, image string) error {
	resp, err := r.cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err == nil {
		return nil
	}
	if _, ierr := r.cli.ImageInspect(ctx, image); ierr == nil {
		r.log.Warn("pull failed, using the local image", "image", image, "err", err)
		return nil
	}
	return fmt.Errorf("%w: pull image %q: %v", runtime.ErrCannotPullContainer, image, err)
}

func (r *Runtime) containerConfig(spec runtime.TaskSpec, i int, taskLabels string) (*container.Config, *container.HostConfig, error) {
	c := spec.Containers[i]
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	ports, _ := json.Marshal(c.PortMappings)
	for k, v := range map[string]string{
		LabelOwner:             r.opts.Owner,
		runtime.LabelTaskID:    spec.ID,
		runtime.LabelContainer: c.Name,
		labelIndex:             strconv.Itoa(i),
		labelEssential:         strconv.FormatBool(c.Essential),
		labelTaskLabels:        taskLabels,
		labelPorts:             string(ports),
		labelHealth:            strconv.FormatBool(c.HealthCheck != nil),
	} {
		labels[k] = v
	}
	env := make([]string, 0, len(c.Environment))
	for k, v := range c.Environment {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	cfg := &container.Config{
		Image:      c.Image,
		Env:        env,
		Entrypoint: c.EntryPoint,
		Cmd:        c.Command,
		WorkingDir: c.WorkingDirectory,
		Labels:     labels,
	}
	if hc := c.HealthCheck; hc != nil {
		h := hc.WithDefaults()
		cfg.Healthcheck = &container.HealthConfig{
			Test:        slices.Clone(h.Command),
			Interval:    h.Interval,
			Timeout:     h.Timeout,
			StartPeriod: h.StartPeriod,
			Retries:     h.Retries,
		}
	}
	host := &container.HostConfig{}
	host.Memory = int64(c.Memory) << 20
	host.MemoryReservation = int64(c.MemoryReservation) << 20
	if c.CPU > 0 {
		// Docker refuses shares below 2.
		host.CPUShares = int64(max(c.CPU, 2))
	}
	return cfg, host, nil
}

// publishAll publishes every port mapping of the task on the namespace
// owner.
func (r *Runtime) publishAll(spec runtime.TaskSpec, cfg *container.Config, host *container.HostConfig) {
	cfg.ExposedPorts = network.PortSet{}
	host.PortBindings = network.PortMap{}
	for _, c := range spec.Containers {
		for _, pm := range c.PortMappings {
			port, ok := network.PortFrom(uint16(pm.ContainerPort), network.IPProtocol(pm.ProtocolOrTCP()))
			if !ok {
				continue // Validate already refused bad ports
			}
			cfg.ExposedPorts[port] = struct{}{}
			hostPort := ""
			if pm.HostPort > 0 {
				hostPort = strconv.Itoa(pm.HostPort)
			}
			host.PortBindings[port] = append(host.PortBindings[port], network.PortBinding{HostIP: r.hostIP, HostPort: hostPort})
		}
	}
}

func (r *Runtime) filters(taskID string) client.Filters {
	f := client.Filters{}.Add("label", LabelOwner+"="+r.opts.Owner)
	if taskID != "" {
		f.Add("label", runtime.LabelTaskID+"="+taskID)
	}
	return f
}

// taskContainers inspects every container of the task, in spec order.
func (r *Runtime) taskContainers(ctx context.Context, taskID string) ([]container.InspectResponse, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: r.filters(taskID)})
	if err != nil {
		return nil, fmt.Errorf("docker runtime: list containers of task %s: %w", taskID, err)
	}
	return r.inspectAll(ctx, res.Items)
}

func (r *Runtime) inspectAll(ctx context.Context, items []container.Summary) ([]container.InspectResponse, error) {
	out := make([]container.InspectResponse, 0, len(items))
	for _, it := range items {
		res, err := r.cli.ContainerInspect(ctx, it.ID, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("docker runtime: inspect container %s: %w", it.ID, err)
		}
		out = append(out, res.Container)
	}
	sort.Slice(out, func(i, j int) bool { return labelInt(out[i], labelIndex) < labelInt(out[j], labelIndex) })
	return out, nil
}

func labels(c container.InspectResponse) map[string]string {
	if c.Config == nil {
		return nil
	}
	return c.Config.Labels
}

func labelInt(c container.InspectResponse, key string) int {
	n, err := strconv.Atoi(labels(c)[key])
	if err != nil {
		return math.MaxInt
	}
	return n
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 { // Docker's zero time is 0001-01-01
		return time.Time{}
	}
	return t
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(ctx context.Context, taskID string) (*runtime.Task, error) {
	cs, err := r.taskContainers(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("docker runtime: task %q: %w", taskID, runtime.ErrNotFound)
	}
	return r.build(ctx, taskID, cs)
}

// List implements runtime.Runtime.
func (r *Runtime) List(ctx context.Context) ([]*runtime.Task, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: r.filters("")})
	if err != nil {
		return nil, fmt.Errorf("docker runtime: list containers: %w", err)
	}
	byTask := map[string][]container.Summary{}
	for _, it := range res.Items {
		id := it.Labels[runtime.LabelTaskID]
		byTask[id] = append(byTask[id], it)
	}
	out := make([]*runtime.Task, 0, len(byTask))
	for id, items := range byTask {
		cs, err := r.inspectAll(ctx, items)
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			continue
		}
		t, err := r.build(ctx, id, cs)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// build turns the task's containers into a Task, and starts stopping the
// rest of a task whose essential container exited.
func (r *Runtime) build(ctx context.Context, taskID string, cs []container.InspectResponse) (*runtime.Task, error) {
	t := &runtime.Task{ID: taskID}
	if err := json.Unmarshal([]byte(labels(cs[0])[labelTaskLabels]), &t.Labels); err != nil {
		t.Labels = nil
	}
	r.mu.Lock()
	userStop, userStopped := r.userStopped[taskID]
	r.mu.Unlock()

	// When the task began to stop: the first exit of an essential
	// container, or the user's Stop, whichever came first. Containers that
	// ended before it ended on their own, and their exits are explained.
	var essentialExit time.Time
	for _, c := range cs {
		if labels(c)[labelEssential] == "true" && stateStopped(c) {
			if f := parseTime(c.State.FinishedAt); !f.IsZero() && (essentialExit.IsZero() || f.Before(essentialExit)) {
				essentialExit = f
			}
		}
	}
	stopBegan := essentialExit
	if userStopped && (stopBegan.IsZero() || userStop.Before(stopBegan)) {
		stopBegan = userStop
	}

	hasCheck := map[string]bool{}
	running, pending, startFailed := 0, 0, ""
	var owner *container.InspectResponse
	var mappings []struct {
		name string
		pm   runtime.PortMapping
	}
	for i := range cs {
		c := cs[i]
		l := labels(c)
		name := l[runtime.LabelContainer]
		hasCheck[name] = l[labelHealth] == "true"
		if owner == nil && c.HostConfig != nil && !strings.HasPrefix(string(c.HostConfig.NetworkMode), "container:") {
			owner = &cs[i]
		}
		var pms []runtime.PortMapping
		json.Unmarshal([]byte(l[labelPorts]), &pms)
		for _, pm := range pms {
			mappings = append(mappings, struct {
				name string
				pm   runtime.PortMapping
			}{name, pm})
		}

		st := runtime.ContainerState{Name: name, Essential: l[labelEssential] == "true", Health: runtime.HealthUnknown}
		state := c.State
		if state == nil {
			state = &container.State{}
		}
		if h := state.Health; h != nil {
			switch h.Status {
			case container.Healthy:
				st.Health = runtime.HealthHealthy
			case container.Unhealthy:
				st.Health = runtime.HealthUnhealthy
			}
		}
		if started := parseTime(state.StartedAt); !started.IsZero() && (t.StartedAt.IsZero() || started.Before(t.StartedAt)) {
			t.StartedAt = started
		}
		switch {
		case state.Status == container.StateCreated && state.Error == "":
			st.Status = runtime.StatusPending
			pending++
		case state.Status == container.StateCreated:
			st.Status = runtime.StatusStopped
			st.Reason = "CannotStartContainerError: " + state.Error
			startFailed = cmp.Or(startFailed, st.Reason)
		case stateStopped(c):
			st.Status = runtime.StatusStopped
			code := state.ExitCode
			st.ExitCode = &code
			finished := parseTime(state.FinishedAt)
			if finished.After(t.StoppedAt) {
				t.StoppedAt = finished
			}
			switch {
			case state.OOMKilled:
				st.Reason = "OutOfMemoryError: Container killed due to memory usage"
			case state.Error != "":
				st.Reason = state.Error
			case code != 0 && (stopBegan.IsZero() || !finished.After(stopBegan)):
				st.Reason = fmt.Sprintf("exited with code %d", code)
				if tail, err := r.logs(ctx, c.ID, 5); err == nil && len(tail) > 0 {
					st.Reason += "; last log lines:\n" + string(tail)
				}
			}
		default:
			st.Status = runtime.StatusRunning
			running++
		}
		t.Containers = append(t.Containers, st)
	}
	t.Health = runtime.TaskHealth(t.Containers, func(name string) bool { return hasCheck[name] })

	switch {
	case startFailed != "":
		t.StopCode, t.StoppedReason = runtime.StopCodeTaskFailedToStart, startFailed
	case !essentialExit.IsZero() && (!userStopped || !userStop.Before(essentialExit)):
		t.StopCode, t.StoppedReason = runtime.StopCodeEssentialContainerExited, runtime.ReasonEssentialContainerExited
	case userStopped:
		t.StopCode, t.StoppedReason = runtime.StopCodeUserInitiated, runtime.ReasonUserInitiated
	}

	switch {
	case running > 0:
		t.Status = runtime.StatusRunning
		t.StoppedAt = time.Time{}
		if t.StopCode != "" {
			r.reap(taskID, cs)
		}
	case pending > 0 && t.StopCode == "":
		t.Status = runtime.StatusPending
		t.StoppedAt = time.Time{}
	default:
		t.Status = runtime.StatusStopped
		if t.StopCode == "" {
			t.StopCode, t.StoppedReason = runtime.StopCodeEssentialContainerExited, runtime.ReasonEssentialContainerExited
		}
		if t.StoppedAt.IsZero() {
			t.StoppedAt = time.Now()
		}
	}

	if owner != nil && owner.NetworkSettings != nil && t.Status == runtime.StatusRunning {
		for _, m := range mappings {
			port, ok := network.PortFrom(uint16(m.pm.ContainerPort), network.IPProtocol(m.pm.ProtocolOrTCP()))
			if !ok {
				continue
			}
			for _, b := range owner.NetworkSettings.Ports[port] {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil || (b.HostIP.IsValid() && b.HostIP != r.hostIP && !b.HostIP.IsUnspecified()) {
					continue
				}
				t.Endpoints = append(t.Endpoints, runtime.Endpoint{
					ContainerName: m.name,
					ContainerPort: m.pm.ContainerPort,
					Protocol:      m.pm.ProtocolOrTCP(),
					Host:          r.hostIP.String(),
					HostPort:      hp,
				})
				break
			}
		}
	}
	return t, nil
}

func stateStopped(c container.InspectResponse) bool {
	if c.State == nil {
		return false
	}
	switch c.State.Status {
	case container.StateExited, container.StateDead:
		return true
	}
	return false
}

// reap stops the containers still running in a task that is stopping,
// once per task at a time, in the background.
func (r *Runtime) reap(taskID string, cs []container.InspectResponse) {
	r.mu.Lock()
	if r.reaping[taskID] {
		r.mu.Unlock()
		return
	}
	r.reaping[taskID] = true
	r.mu.Unlock()
	var ids []string
	for _, c := range cs {
		if !stateStopped(c) {
			ids = append(ids, c.ID)
		}
	}
	r.log.Info("essential container exited: stopping the task", "task", taskID)
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.reaping, taskID)
			r.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.StopTimeout+time.Minute)
		defer cancel()
		r.stopContainers(ctx, ids, r.opts.StopTimeout)
	}()
}

// stopContainers stops the containers concurrently; Docker sends SIGTERM
// and SIGKILL after the timeout, in whole seconds (rounded up so a short
// grace is never none).
func (r *Runtime) stopContainers(ctx context.Context, ids []string, grace time.Duration) error {
	secs := int(math.Ceil(grace.Seconds()))
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
			if err != nil && !cerrdefs.IsNotFound(err) {
				errs[i] = fmt.Errorf("stop container %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Runtime) removeAll(ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Joined containers first: the owner holds their network namespace.
	for _, id := range slices.Backward(ids) {
		if _, err := r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("remove container", "id", id, "err", err)
		}
	}
}

// Stop implements runtime.Runtime.
func (r *Runtime) Stop(ctx context.Context, taskID string, grace time.Duration) error {
	cs, err := r.taskContainers(ctx, taskID)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("docker runtime: task %q: %w", taskID, runtime.ErrNotFound)
	}
	var ids []string
	for _, c := range cs {
		if !stateStopped(c) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	r.mu.Lock()
	if _, ok := r.userStopped[taskID]; !ok {
		r.userStopped[taskID] = time.Now()
	}
	r.mu.Unlock()
	if err := r.stopContainers(ctx, ids, grace); err != nil {
		return fmt.Errorf("docker runtime: stop task %q: %w", taskID, err)
	}
	return nil
}

// Remove implements runtime.Runtime.
func (r *Runtime) Remove(ctx context.Context, taskID string) error {
	cs, err := r.taskContainers(ctx, taskID)
	if err != nil {
		return err
	}
	// The owner first: removeAll goes backwards, so joiners go before the
	// owner that holds their network namespace.
	var ids, joiners []string
	for _, c := range cs {
		if c.HostConfig != nil && strings.HasPrefix(string(c.HostConfig.NetworkMode), "container:") {
			joiners = append(joiners, c.ID)
		} else {
			ids = append(ids, c.ID)
		}
	}
	ids = append(ids, joiners...)
	r.removeAll(ids)
	r.mu.Lock()
	delete(r.userStopped, taskID)
	delete(r.starting, taskID)
	r.mu.Unlock()
	return nil
}

// Logs implements runtime.Runtime.
func (r *Runtime) Logs(ctx context.Context, taskID, name string, tailLines int) ([]byte, error) {
	cs, err := r.taskContainers(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("docker runtime: task %q: %w", taskID, runtime.ErrNotFound)
	}
	for _, c := range cs {
		if labels(c)[runtime.LabelContainer] == name {
			return r.logs(ctx, c.ID, tailLines)
		}
	}
	return nil, fmt.Errorf("docker runtime: task %q has no container %q: %w", taskID, name, runtime.ErrNotFound)
}

func (r *Runtime) logs(ctx context.Context, id string, tailLines int) ([]byte, error) {
	tail := "all"
	if tailLines > 0 {
		tail = strconv.Itoa(tailLines)
	}
	rc, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return nil, fmt.Errorf("docker runtime: logs of %s: %w", id, err)
	}
	defer rc.Close()
	// Without a TTY the stream is multiplexed; one buffer for both streams
	// keeps the lines in the order they came.
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("docker runtime: logs of %s: %w", id, err)
	}
	return buf.Bytes(), nil
}
