package lambda

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/lambda/runtimeapi"
)

// initTimeout is how long a runtime may take to ask for its first
// invocation (AWS's init phase limit for on-demand functions).
const initTimeout = 10 * time.Second

// environment is one execution environment: a process running a
// function version's bootstrap against its own Runtime API. It serves one
// invocation at a time; the pool it belongs to guarantees that.
type environment struct {
	s      *Service
	id     string
	cfg    funcConfig
	dir    string
	api    *runtimeapi.Server
	out    *logPipe
	proc   Process
	exited chan struct{}
	exitEr error

	started      time.Time
	initDone     bool
	initTook     time.Duration
	launchErr    error     // set when the process could not start; every invocation reports it
	lastUsed     time.Time // guarded by the pool's lock
	reportedInit bool
	stopOnce     sync.Once
}

// startEnvironment prepares the task root and starts the process. An error
// the invoker must see as the function's failure (a missing bootstrap)
// does not fail the start: the environment reports it on invoke.
func (s *Service) startEnvironment(ctx context.Context, cfg *funcConfig) (*environment, error) {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	e := &environment{s: s, id: id, cfg: *cfg, dir: filepath.Join(s.dataDir, "run", id),
		exited: make(chan struct{}), started: s.clock.Now()}
	fail := func(err error) (*environment, error) {
		e.stop()
		return nil, err
	}
	task := filepath.Join(e.dir, "task")
	if err := os.MkdirAll(task, 0o755); err != nil {
		return fail(fmt.Errorf("lambda: creating %s: %w", task, err))
	}
	var launcher Launcher = s.processes
	if cfg.PackageType == "Image" {
		launcher = s.images
	} else if err := s.code.extract(cfg.Blob, task); err != nil {
		return fail(err)
	}
	api, err := runtimeapi.Listen(s.log)
	if err != nil {
		return fail(err)
	}
	e.api = api
	if e.out, err = newLogPipe(); err != nil {
		return fail(err)
	}
	if launcher == nil {
		return fail(errNoImages)
	}
	proc, err := launcher.Launch(ctx, LaunchSpec{
		FunctionName: cfg.Name, Version: cfg.Version, Dir: task, Image: cfg.ImageURI,
		Env: s.environ(cfg, task, api.Addr(), id), RuntimeAPI: api.Addr(), MemoryMB: cfg.MemorySize, Output: e.out.w,
	})
	if err != nil {
		var ee *entrypointError
		if !errors.As(err, &ee) {
			return fail(err)
		}
		e.launchErr = err
		close(e.exited)
		return e, nil
	}
	e.proc = proc
	go func() {
		e.exitEr = proc.Wait()
		close(e.exited)
	}()
	return e, nil
}

// environ is the environment AWS gives a function, then its own variables.
func (s *Service) environ(cfg *funcConfig, task, api, id string) []string {
	now := s.clock.Now().UTC()
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + api,
		"AWS_LAMBDA_FUNCTION_NAME=" + cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=" + cfg.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cfg.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + cfg.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + now.Format("2006/01/02") + "/[" + cfg.Version + "]" + id,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + s.region,
		"AWS_DEFAULT_REGION=" + s.region,
		"_HANDLER=" + cfg.Handler,
		"LAMBDA_TASK_ROOT=" + task,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
	if s.keyID != "" {
		env = append(env, "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret)
	}
	if s.endpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL="+s.endpoint)
	}
	for k, v := range cfg.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// outcome is what one invocation produced.
type outcome struct {
	payload []byte
	failed  bool // X-Amz-Function-Error: Unhandled
	discard bool // the environment must not serve again
	log     []byte
}

// invoke runs one invocation: it waits for the runtime to finish its init
// phase when the environment is new, hands over the event and waits for
// the answer, the function's timeout, or the process's end.
func (e *environment) invoke(ctx context.Context, inv runtimeapi.Invocation, invokedVersion string) (outcome, error) {
	clk := e.s.clock
	begin := clk.Now()
	var o outcome
	status := ""
	if e.launchErr != nil {
		o = e.failure("Runtime.InvalidEntrypoint", inv.RequestID, e.launchErr)
		return e.finish(o, inv, begin, "error"), nil
	}
	if !e.initDone {
		t := clk.NewTimer(initTimeout)
		select {
		case <-e.api.Ready():
			t.Stop()
			e.initDone = true
			e.initTook = clk.Now().Sub(e.started)
		case ie := <-e.api.InitErrors():
			t.Stop()
			o = outcome{payload: ie.Body, failed: true, discard: true}
			return e.finish(o, inv, begin, "error"), nil
		case <-e.exited:
			t.Stop()
			if ie, ok := e.pendingInitError(); ok {
				o = outcome{payload: ie.Body, failed: true, discard: true}
			} else {
				o = e.exitFailure(inv.RequestID)
			}
			return e.finish(o, inv, begin, "error"), nil
		case <-t.C():
			o = outcome{payload: runtimeapi.ErrorDoc("Runtime.InitError", "RequestId: "+inv.RequestID+" Error: init phase did not complete within 10 seconds"), failed: true, discard: true}
			return e.finish(o, inv, begin, "timeout"), nil
		case <-ctx.Done():
			t.Stop()
			e.stop()
			return outcome{}, ctx.Err()
		case <-e.s.quit:
			t.Stop()
			e.stop()
			return outcome{}, errClosed
		}
	}
	select {
	case <-e.api.Polls(): // the poll that is waiting now, not a future one
	default:
	}
	results, err := e.api.Deliver(inv)
	if err != nil {
		return outcome{}, err
	}
	timeout := time.Duration(e.cfg.Timeout) * time.Second
	t := clk.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-results:
		o = outcome{payload: r.Payload, failed: r.Error, discard: !e.backToNext()}
		if r.Error {
			status = "error"
		}
	case <-e.exited:
		select {
		case r := <-results: // answered, then exited
			o = outcome{payload: r.Payload, failed: r.Error, discard: true}
		default:
			o = e.exitFailure(inv.RequestID)
			status = "error"
		}
	case <-t.C():
		msg := fmt.Sprintf("%s %s Task timed out after %.2f seconds", clk.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.RequestID, timeout.Seconds())
		doc, _ := json.Marshal(map[string]string{"errorMessage": msg})
		o = outcome{payload: doc, failed: true, discard: true, log: []byte(msg + "\n")}
		status = "timeout"
	case <-ctx.Done():
		e.stop()
		return outcome{}, ctx.Err()
	case <-e.s.quit:
		e.stop()
		return outcome{}, errClosed
	}
	return e.finish(o, inv, begin, status), nil
}

// backToNext waits for the runtime to ask for its next invocation after
// answering, and reports whether it did; a runtime that exits instead
// (aws-lambda-go does after a panic) must not be given more work. The
// bound is a guard against a runtime that neither polls nor exits, in
// real time because it is about a process, not about the function's
// clock; such a runtime is still reused, its next invocation waits in
// the queue of the Runtime API.
func (e *environment) backToNext() bool {
	select {
	case <-e.api.Polls():
		return true
	case <-e.exited:
		return false
	case <-time.After(2 * time.Second):
		return true
	}
}

func (e *environment) pendingInitError() (runtimeapi.InitError, bool) {
	select {
	case ie := <-e.api.InitErrors():
		return ie, true
	default:
		return runtimeapi.InitError{}, false
	}
}

func (e *environment) exitFailure(requestID string) outcome {
	<-e.exited
	msg := "Runtime exited without providing a reason"
	if e.exitEr != nil {
		msg = "Runtime exited with error: " + e.exitEr.Error()
	}
	return outcome{payload: runtimeapi.ErrorDoc("Runtime.ExitError", "RequestId: "+requestID+" Error: "+msg), failed: true, discard: true}
}

func (e *environment) failure(typ, requestID string, err error) outcome {
	return outcome{payload: runtimeapi.ErrorDoc(typ, "RequestId: "+requestID+" Error: "+err.Error()), failed: true, discard: true}
}

// finish writes the invocation's log as AWS does: the output around
// START, END and REPORT lines.
func (e *environment) finish(o outcome, inv runtimeapi.Invocation, begin time.Time, status string) outcome {
	var output []byte
	if e.out != nil {
		if o.discard && e.proc != nil {
			// Stop the process before cutting, so that nothing it still
			// writes lands in the next environment's log.
			e.proc.Kill()
			<-e.exited
		}
		output = e.out.cut()
	}
	took := e.s.clock.Now().Sub(begin)
	ms := float64(took) / float64(time.Millisecond)
	var b bytes.Buffer
	fmt.Fprintf(&b, "START RequestId: %s Version: %s\n", inv.RequestID, e.cfg.Version)
	b.Write(output)
	if len(output) > 0 && output[len(output)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.Write(o.log)
	fmt.Fprintf(&b, "END RequestId: %s\n", inv.RequestID)
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		inv.RequestID, ms, int64(ms)+1, e.cfg.MemorySize, e.maxMemoryMB())
	if e.initDone && !e.reportedInit {
		e.reportedInit = true
		fmt.Fprintf(&b, "\tInit Duration: %.2f ms", float64(e.initTook)/float64(time.Millisecond))
	}
	if status != "" {
		b.WriteString("\tStatus: " + status)
	}
	b.WriteByte('\n')
	o.log = b.Bytes()
	return o
}

// maxMemoryMB reads the process's peak resident memory (VmHWM).
func (e *environment) maxMemoryMB() int {
	if e.proc == nil || e.proc.Pid() == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", e.proc.Pid()))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return (kb + 1023) / 1024
		}
	}
	return 0
}

// stop kills the process and removes everything the environment had.
func (e *environment) stop() { e.stopOnce.Do(e.teardown) }

func (e *environment) teardown() {
	if e.proc != nil {
		if err := e.proc.Kill(); err != nil {
			e.s.log.Warn("lambda: killing environment", "function", e.cfg.Name, "env", e.id, "err", err)
		}
		<-e.exited
	}
	if e.api != nil {
		e.api.Close()
	}
	if e.out != nil {
		e.out.close()
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.s.log.Warn("lambda: removing environment directory", "dir", e.dir, "err", err)
	}
}
