package lambda

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// LaunchSpec is what one execution environment runs.
type LaunchSpec struct {
	FunctionName string
	Version      string
	// Dir is the task root with the unzipped code (Zip functions); it is
	// also LAMBDA_TASK_ROOT and the working directory.
	Dir string
	// Image is the container image (Image functions).
	Image string
	// Env is the complete environment ("KEY=value"), the function's own
	// variables and AWS_LAMBDA_RUNTIME_API included.
	Env []string
	// RuntimeAPI is the host:port of the environment's Runtime API on
	// 127.0.0.1; a launcher that runs the function elsewhere (a container
	// on a bridge network) must make it reachable and rewrite
	// AWS_LAMBDA_RUNTIME_API in Env accordingly.
	RuntimeAPI string
	MemoryMB   int
	// Output receives the function's stdout and stderr.
	Output *os.File
}

// Launcher starts the process of an execution environment. Zip functions
// run as host processes; Image functions need a launcher wired in
// Config.Images (Docker, later).
type Launcher interface {
	Launch(ctx context.Context, spec LaunchSpec) (Process, error)
}

// Process is a running execution environment.
type Process interface {
	// Pid identifies the process (for memory accounting; 0 when unknown).
	Pid() int
	// Wait blocks until the process has exited.
	Wait() error
	// Kill ends the process and everything it started.
	Kill() error
}

// entrypointError is a launch failure AWS reports to the invoker as
// Runtime.InvalidEntrypoint (no bootstrap, not executable).
type entrypointError struct{ msg string }

func (e *entrypointError) Error() string { return e.msg }

// processLauncher runs a Zip function's bootstrap as a host process in its
// own process group, so that Kill also ends whatever it spawned.
type processLauncher struct{}

func (processLauncher) Launch(ctx context.Context, spec LaunchSpec) (Process, error) {
	path := filepath.Join(spec.Dir, "bootstrap")
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return nil, &entrypointError{msg: fmt.Sprintf("Couldn't find valid bootstrap(s): [%s]", path)}
	}
	cmd := exec.Command(path)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
			return nil, &entrypointError{msg: fmt.Sprintf("Couldn't find valid bootstrap(s): [%s]: %v", path, err)}
		}
		return nil, fmt.Errorf("lambda: starting %s: %w", path, err)
	}
	return &hostProcess{cmd: cmd}, nil
}

type hostProcess struct{ cmd *exec.Cmd }

func (p *hostProcess) Pid() int    { return p.cmd.Process.Pid }
func (p *hostProcess) Wait() error { return p.cmd.Wait() }

func (p *hostProcess) Kill() error {
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// errNoImages is the answer for an Image function when no launcher for
// images is wired.
var errNoImages = errors.New("no container launcher is configured for PackageType Image functions")
