// Package hooks runs an AppSpec lifecycle event's scripts as AWS's agent
// does on Linux: in order, each in its own process group with its timeout,
// its output captured line by line as [stdout]/[stderr] into a log whose
// last ~2 KB go back to the service as the diagnostics' log.
package hooks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/clock"
)

// Error codes of the diagnostics (hook_executor.rb), 0-5 matching the public
// LifecycleErrorCode values.
const (
	CodeSucceeded           = 0
	CodeScriptMissing       = 1
	CodeScriptNotExecutable = 2
	CodeScriptTimedOut      = 3
	CodeScriptFailed        = 4
	CodeUnknownError        = 5
	CodeOutputsLeftOpen     = 6
	CodeFailedAfterRestart  = 7
)

// logLimit is how much of the script log the diagnostics carry.
const logLimit = 2048

// Log keeps the tail of a command's script output, as AWS's ScriptLog:
// whole entries (lines), the newest that fit in about 2 KB.
type Log struct {
	mu      sync.Mutex
	entries []string
}

// Append adds one entry and drops the oldest beyond the limit.
func (l *Log) Append(entry string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry)
	// Keep the newest entries whose total stays under the limit (the
	// newest one is kept even when it alone is larger).
	total, i := 0, len(l.entries)
	for i > 0 && total+len(l.entries[i-1]) < logLimit {
		total += len(l.entries[i-1])
		i--
	}
	if i == len(l.entries) {
		i--
	}
	l.entries = l.entries[i:]
}

// String is the log as the diagnostics carry it.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, "")
}

// ScriptError is a failed script, with the diagnostics AWS's agent sends.
type ScriptError struct {
	Code    int
	Script  string
	Message string
}

func (e *ScriptError) Error() string { return e.Message }

// ErrAbandoned is returned when the context ended while a script ran: the
// script was killed and the command is left unfinished.
var ErrAbandoned = errors.New("script abandoned: the agent is stopping")

// Event is one lifecycle event to run.
type Event struct {
	Name       string
	ArchiveDir string // the bundle root scripts are relative to
	Scripts    []appspec.Script
	// Env is added to the agent's environment for the scripts.
	Env map[string]string
	// ScriptLog is the deployment's logs/scripts.log ("" for none).
	ScriptLog string
}

// Runner runs scripts.
type Runner struct {
	Clock clock.Clock
	Log   *slog.Logger
	// AsRoot says whether the agent runs as root (runas needs it).
	AsRoot bool
	// KillGrace is how long a script has after SIGTERM before SIGKILL.
	KillGrace time.Duration
}

// Run runs ev's scripts in order, appending their output to log. The first
// failure stops the event.
func (r *Runner) Run(ctx context.Context, ev Event, log *Log) error {
	if len(ev.Scripts) == 0 {
		return nil
	}
	var file *os.File
	if ev.ScriptLog != "" {
		if err := os.MkdirAll(filepath.Dir(ev.ScriptLog), 0o755); err == nil {
			file, _ = os.OpenFile(ev.ScriptLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		}
		if file != nil {
			defer file.Close()
		}
	}
	out := &sink{log: log, file: file, clock: r.Clock}
	out.write("LifecycleEvent - " + ev.Name + "\n")
	for _, s := range ev.Scripts {
		if err := r.runScript(ctx, ev, s, out); err != nil {
			return err
		}
	}
	return nil
}

// sink writes a script line to the diagnostics log and the scripts.log
// file, one line at a time.
type sink struct {
	mu    sync.Mutex
	log   *Log
	file  *os.File
	clock clock.Clock
}

func (s *sink) write(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Append(line)
	if s.file != nil {
		_, _ = s.file.WriteString(s.clock.Now().Format("2006-01-02 15:04:05") + " " + line)
	}
}

func (r *Runner) runScript(ctx context.Context, ev Event, s appspec.Script, out *sink) error {
	abs, err := scriptPath(ev.ArchiveDir, s.Location)
	if err != nil {
		return &ScriptError{Code: CodeScriptMissing, Script: s.Location, Message: err.Error()}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return &ScriptError{Code: CodeScriptMissing, Script: s.Location, Message: "Script does not exist at specified location: " + s.Location}
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		r.Log.Warn("Script at specified location: " + s.Location + " is not executable.  Trying to make it executable.")
		if !fi.Mode().IsRegular() {
			return &ScriptError{Code: CodeScriptNotExecutable, Script: s.Location, Message: "Unable to set script at specified location: " + s.Location + " as executable"}
		}
		if err := os.Chmod(abs, fi.Mode().Perm()|0o111); err != nil {
			return &ScriptError{Code: CodeScriptNotExecutable, Script: s.Location, Message: "Unable to set script at specified location: " + s.Location + " as executable"}
		}
	}
	out.write("Script - " + s.Location + "\n")

	cmd, err := r.command(abs, s)
	if err != nil {
		return &ScriptError{Code: CodeUnknownError, Script: s.Location, Message: err.Error()}
	}
	cmd.Env = os.Environ()
	for k, v := range ev.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outR, outW, err := os.Pipe()
	if err != nil {
		return &ScriptError{Code: CodeUnknownError, Script: s.Location, Message: err.Error()}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return &ScriptError{Code: CodeUnknownError, Script: s.Location, Message: err.Error()}
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	start := cmd.Start()
	outW.Close()
	errW.Close()
	if start != nil {
		outR.Close()
		errR.Close()
		return &ScriptError{Code: CodeScriptFailed, Script: s.Location, Message: "Script at specified location: " + s.Location + " failed to start: " + start.Error()}
	}
	pgid := cmd.Process.Pid

	var readers sync.WaitGroup
	for _, p := range []struct {
		r      io.ReadCloser
		prefix string
	}{{outR, "[stdout]"}, {errR, "[stderr]"}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readLines(p.r, p.prefix, out)
		}()
	}
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	closeReaders := func() { outR.Close(); errR.Close() }

	timer := r.Clock.NewTimer(s.Timeout())
	defer timer.Stop()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-timer.C():
		r.kill(pgid, exited)
		r.drain(readersDone)
		closeReaders()
		return &ScriptError{Code: CodeScriptTimedOut, Script: s.Location,
			Message: fmt.Sprintf("Script at specified location: %s failed to complete in %d seconds", s.Location, int(s.Timeout()/time.Second))}
	case <-ctx.Done():
		r.kill(pgid, exited)
		closeReaders()
		return fmt.Errorf("%s: %w", s.Location, ErrAbandoned)
	}
	// The script is gone; a child it left behind may still hold its output
	// open. Wait for that only as long as the script's timeout allows.
	select {
	case <-readersDone:
	case <-timer.C():
		closeReaders()
		return &ScriptError{Code: CodeOutputsLeftOpen, Script: s.Location,
			Message: "Script at specified location: " + s.Location + " failed to close STDOUT or STDERR: a process it started still holds them open"}
	case <-ctx.Done():
		closeReaders()
		return fmt.Errorf("%s: %w", s.Location, ErrAbandoned)
	}
	closeReaders()
	if waitErr != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		msg := "Script at specified location: " + s.Location + " failed with exit code " + strconv.Itoa(code)
		if s.Runas != "" {
			msg = "Script at specified location: " + s.Location + " run as user " + s.Runas + " failed with exit code " + strconv.Itoa(code)
		}
		return &ScriptError{Code: CodeScriptFailed, Script: s.Location, Message: msg}
	}
	return nil
}

// kill ends the script's process group: SIGTERM as AWS's agent sends, then
// SIGKILL when it has not exited within the grace period.
func (r *Runner) kill(pgid int, exited <-chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := r.Clock.NewTimer(r.grace())
	defer t.Stop()
	select {
	case <-exited:
		// Children that ignored SIGTERM go too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	case <-t.C():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
}

// drain lets the readers take in what a killed script wrote, for as long
// as the kill grace.
func (r *Runner) drain(done <-chan struct{}) {
	t := r.Clock.NewTimer(r.grace())
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
	}
}

func (r *Runner) grace() time.Duration {
	if r.KillGrace <= 0 {
		return 10 * time.Second
	}
	return r.KillGrace
}

func (r *Runner) command(abs string, s appspec.Script) (*exec.Cmd, error) {
	switch {
	case s.Runas != "":
		if !r.AsRoot {
			return nil, fmt.Errorf("Script at specified location: %s asks to run as user %s, which needs the agent to run as root", s.Location, s.Runas)
		}
		if p, err := exec.LookPath("runuser"); err == nil {
			return exec.Command(p, "-u", s.Runas, "--", abs), nil
		}
		return exec.Command("su", s.Runas, "-s", "/bin/sh", "-c", shellQuote(abs)), nil
	case s.Sudo && !r.AsRoot:
		return exec.Command("sudo", "-E", abs), nil
	}
	return exec.Command(abs), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// scriptPath joins a script location onto the archive directory and
// refuses one that leaves it, through ../ or a link.
func scriptPath(archive, location string) (string, error) {
	rel := filepath.Clean("/" + location)[1:]
	if rel == "" {
		return "", fmt.Errorf("Script does not exist at specified location: %s", location)
	}
	root, err := os.OpenRoot(archive)
	if err != nil {
		return "", fmt.Errorf("Script does not exist at specified location: %s", location)
	}
	defer root.Close()
	if _, err := root.Stat(rel); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
			return "", fmt.Errorf("Script at specified location: %s resolves outside the bundle", location)
		}
	}
	return filepath.Join(archive, rel), nil
}

func readLines(r io.Reader, prefix string, out *sink) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			out.write(prefix + line)
		}
		if err != nil {
			return
		}
	}
}
