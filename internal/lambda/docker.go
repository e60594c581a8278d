package lambda

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Labels on the containers of Image functions, so that a launcher finds
// (and removes) what an earlier run of the same owner left behind.
const (
	labelDockerOwner    = "cutover.lambda.owner"
	labelDockerFunction = "cutover.lambda.function"
	labelDockerVersion  = "cutover.lambda.version"
)

// taskRoot is LAMBDA_TASK_ROOT inside a function's container, as in AWS's
// base images.
const taskRoot = "/var/task"

// DockerOptions configure a DockerLauncher.
type DockerOptions struct {
	// Client talks to the daemon; nil builds one from the environment
	// (DOCKER_HOST and friends, else the default socket).
	Client *client.Client
	// Owner labels the containers, so that several installations can share
	// a daemon; New removes the owner's leftovers. Default "cutover".
	Owner string
	Log   *slog.Logger
}

// DockerLauncher runs PackageType Image functions as Docker containers,
// one per execution environment. A container runs the image's entry point
// (ENTRYPOINT and CMD: the bootstrap of a provided.* image, or
// /lambda-entrypoint.sh of AWS's base images) on the host's network, so
// that the Runtime API each environment serves on 127.0.0.1 is
// AWS_LAMBDA_RUNTIME_API unchanged, and so is AWS_ENDPOINT_URL.
type DockerLauncher struct {
	cli     *client.Client
	ownsCli bool
	owner   string
	log     *slog.Logger

	mu     sync.Mutex
	pulled map[string]*pullOnce
}

// pullOnce pulls an image once per launcher: AWS resolves an image when
// the function is created, not at every cold start.
type pullOnce struct {
	once sync.Once
	err  error
}

var _ Launcher = (*DockerLauncher)(nil)

// NewDockerLauncher connects to the daemon (failing when it does not
// answer) and removes the containers an earlier run of the same owner
// left behind.
func NewDockerLauncher(ctx context.Context, opts DockerOptions) (*DockerLauncher, error) {
	d := &DockerLauncher{cli: opts.Client, owner: cmp.Or(opts.Owner, "cutover"), log: cmp.Or(opts.Log, slog.Default()),
		pulled: map[string]*pullOnce{}}
	if d.cli == nil {
		var err error
		if d.cli, err = client.New(client.FromEnv); err != nil {
			return nil, fmt.Errorf("lambda: docker client: %w", err)
		}
		d.ownsCli = true
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		d.Close()
		return nil, fmt.Errorf("lambda: docker daemon at %s does not answer: %w", d.cli.DaemonHost(), err)
	}
	if n, err := d.removeOwned(ctx); err != nil {
		d.log.Warn("lambda: removing leftover function containers", "err", err)
	} else if n > 0 {
		d.log.Info("lambda: removed leftover function containers", "count", n)
	}
	return d, nil
}

// Close removes the launcher's containers and releases the client.
// Environments stop their own containers; this is for what a crash or a
// cancelled launch left.
func (d *DockerLauncher) Close() error {
	if d.ownsCli {
		return d.cli.Close()
	}
	return nil
}

// Launch pulls the image if this launcher has not yet, then creates and
// starts the environment's container with its output attached to
// spec.Output.
func (d *DockerLauncher) Launch(ctx context.Context, spec LaunchSpec) (Process, error) {
	if spec.Image == "" {
		return nil, &entrypointError{msg: "the function has no ImageUri"}
	}
	if err := d.pull(ctx, spec.Image); err != nil {
		return nil, err
	}
	img, err := d.cli.ImageInspect(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("lambda: inspecting image %s: %w", spec.Image, err)
	}
	if cfg := img.Config; cfg == nil || (len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0) {
		return nil, &entrypointError{msg: fmt.Sprintf("Couldn't find valid bootstrap(s): the image %s has no ENTRYPOINT or CMD", spec.Image)}
	}
	env := make([]string, 0, len(spec.Env))
	for _, kv := range spec.Env {
		if strings.HasPrefix(kv, "LAMBDA_TASK_ROOT=") {
			kv = "LAMBDA_TASK_ROOT=" + taskRoot
		}
		env = append(env, kv)
	}
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: spec.Image, Env: env, AttachStdout: true, AttachStderr: true,
			Labels: map[string]string{labelDockerOwner: d.owner, labelDockerFunction: spec.FunctionName, labelDockerVersion: spec.Version},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "host",
			Resources:   container.Resources{Memory: int64(spec.MemoryMB) << 20},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("lambda: creating a container of %s: %w", spec.Image, err)
	}
	p := &containerProcess{d: d, id: res.ID}
	// Attach before starting, so that nothing the runtime prints at init
	// is lost; the stream outlives the invocation that launched it.
	att, err := d.cli.ContainerAttach(context.WithoutCancel(ctx), res.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("lambda: attaching to container %s: %w", short(res.ID), err)
	}
	p.copied = make(chan struct{})
	go func() {
		defer close(p.copied)
		defer att.Close()
		stdcopy.StdCopy(spec.Output, spec.Output, att.Reader)
	}()
	if _, err := d.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		p.Kill()
		return nil, &entrypointError{msg: fmt.Sprintf("Couldn't start the image's entry point: %v", err)}
	}
	if ins, err := d.cli.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{}); err == nil && ins.Container.State != nil {
		p.pid = ins.Container.State.Pid
	}
	return p, nil
}

func (d *DockerLauncher) pull(ctx context.Context, image string) error {
	d.mu.Lock()
	po := d.pulled[image]
	if po == nil {
		po = &pullOnce{}
		d.pulled[image] = po
	}
	d.mu.Unlock()
	po.once.Do(func() {
		resp, err := d.cli.ImagePull(ctx, image, client.ImagePullOptions{})
		if err == nil {
			err = resp.Wait(ctx)
		}
		if err == nil {
			return
		}
		if _, ierr := d.cli.ImageInspect(ctx, image); ierr == nil {
			d.log.Warn("lambda: pull failed, using the local image", "image", image, "err", err)
			return
		}
		po.err = fmt.Errorf("lambda: pulling image %s: %w", image, err)
	})
	if po.err != nil {
		// A later launch tries again: the registry may be back.
		d.mu.Lock()
		if d.pulled[image] == po {
			delete(d.pulled, image)
		}
		d.mu.Unlock()
	}
	return po.err
}

// removeOwned force-removes the containers labelled with the owner.
func (d *DockerLauncher) removeOwned(ctx context.Context) (int, error) {
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelDockerOwner+"="+d.owner)})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, c := range list.Items {
		if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return len(list.Items), errors.Join(errs...)
}

// containerProcess is one environment's container.
type containerProcess struct {
	d      *DockerLauncher
	id     string
	pid    int
	copied chan struct{}
}

func (p *containerProcess) Pid() int { return p.pid }

// Wait blocks until the container has stopped and its output is copied;
// a non-zero exit reads as exec's does ("exit status N").
func (p *containerProcess) Wait() error {
	w := p.d.cli.ContainerWait(context.Background(), p.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var err error
	select {
	case r := <-w.Result:
		switch {
		case r.Error != nil && r.Error.Message != "":
			err = errors.New(r.Error.Message)
		case r.StatusCode != 0:
			err = fmt.Errorf("exit status %d", r.StatusCode)
		}
	case werr := <-w.Error:
		if !cerrdefs.IsNotFound(werr) {
			err = fmt.Errorf("waiting for container %s: %w", short(p.id), werr)
		}
	}
	if p.copied != nil {
		<-p.copied
	}
	return err
}

// Kill removes the container (killing it first); removing one that is
// gone already is no error.
func (p *containerProcess) Kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.d.cli.ContainerRemove(ctx, p.id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("lambda: removing container %s: %w", short(p.id), err)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
