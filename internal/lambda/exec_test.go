package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// echoReply is what the echo function answers.
type echoReply struct {
	PID       int               `json:"pid"`
	Version   string            `json:"version"`
	RequestID string            `json:"requestId"`
	ARN       string            `json:"arn"`
	Env       map[string]string `json:"env"`
	Deadline  int64             `json:"deadlineMs"`
	Event     struct {
		Mode, Message string
	} `json:"event"`
}

type errorDoc struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
	StackTrace   []any  `json:"stackTrace"`
}

func (e *env) invoke(fn, qualifier, payload string) *InvokeResult {
	e.t.Helper()
	res, err := e.svc.Invoke(e.ctx, fn, qualifier, []byte(payload))
	if err != nil {
		e.t.Fatalf("Invoke %s:%s: %v", fn, qualifier, err)
	}
	return res
}

func reply(t testing.TB, res *InvokeResult) echoReply {
	t.Helper()
	if res.FunctionError != "" {
		t.Fatalf("function failed: %s", res.Payload)
	}
	var r echoReply
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("decoding %s: %v", res.Payload, err)
	}
	return r
}

func failure(t testing.TB, res *InvokeResult) errorDoc {
	t.Helper()
	if res.FunctionError != "Unhandled" {
		t.Fatalf("want a function error, got %q: %s", res.FunctionError, res.Payload)
	}
	var d errorDoc
	if err := json.Unmarshal(res.Payload, &d); err != nil {
		t.Fatalf("decoding %s: %v", res.Payload, err)
	}
	return d
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestInvokeRunsTheFunctionWithAWSEnvironment(t *testing.T) {
	e := newEnv(t)
	// This one function is uploaded as ZipFile, the way most clients do.
	e.createEcho("echo", withEnv("ECHO_GREETING", "hi"), withZip(echoZip(t)))
	out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"mode":"echo","message":"m1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "$LATEST" || out.FunctionError != nil {
		t.Fatalf("Invoke: %d %s %v", out.StatusCode, aws.ToString(out.ExecutedVersion), out.FunctionError)
	}
	var r echoReply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "echo", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"_HANDLER": "bootstrap", "AWS_REGION": testRegion, "AWS_DEFAULT_REGION": testRegion, "TZ": ":UTC",
		"AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/echo", "AWS_ACCESS_KEY_ID": "AKIDFUNCTION", "AWS_SECRET_ACCESS_KEY": "function-secret",
		"AWS_ENDPOINT_URL": "http://cutover.test:8080", "ECHO_GREETING": "hi",
	}
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Env[k], v)
		}
	}
	if !strings.HasPrefix(r.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") || !strings.Contains(r.Env["AWS_LAMBDA_LOG_STREAM_NAME"], "[$LATEST]") ||
		!strings.HasPrefix(r.Env["LAMBDA_TASK_ROOT"], filepath.Join(e.dataDir, "run")) {
		t.Errorf("runtime env: %v", r.Env)
	}
	if r.ARN != e.arn("echo") || r.Event.Message != "m1" || r.RequestID == "" {
		t.Errorf("reply: %+v", r)
	}
	if dl := time.UnixMilli(r.Deadline); !dl.Equal(e.clk.Now().Add(3 * time.Second)) {
		t.Errorf("deadline %v, want now+3s (%v)", dl, e.clk.Now().Add(3*time.Second))
	}
	// An empty payload is the empty event.
	if out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo")}); err != nil || out.FunctionError != nil {
		t.Fatalf("empty payload: %v %s", err, out.Payload)
	}
	// DryRun checks and runs nothing.
	dry, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || dry.StatusCode != 204 {
		t.Fatalf("DryRun: %v", err)
	}
}

func TestWarmEnvironmentIsReused(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo")
	first := reply(t, e.invoke("echo", "", `{}`))
	second := reply(t, e.invoke("echo", "", `{}`))
	if first.PID != second.PID || first.RequestID == second.RequestID {
		t.Fatalf("pids %d and %d: a warm environment was not reused", first.PID, second.PID)
	}
	// Changing $LATEST retires the environment: the next call runs the new configuration.
	if _, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("echo"),
		Environment: &types.Environment{Variables: map[string]string{"ECHO_V": "2"}}}); err != nil {
		t.Fatal(err)
	}
	third := reply(t, e.invoke("echo", "", `{}`))
	if third.PID == first.PID || third.Env["ECHO_V"] != "2" {
		t.Fatalf("after update: pid %d (was %d), env %v", third.PID, first.PID, third.Env)
	}
	waitFor(t, func() bool { return !alive(first.PID) }, "the old environment to stop")
}

func TestIdleEnvironmentsAreReaped(t *testing.T) {
	e := newEnv(t, envOpts{idle: time.Minute})
	e.createEcho("echo")
	pid := reply(t, e.invoke("echo", "", `{}`)).PID
	e.clk.Advance(2 * time.Minute)
	waitFor(t, func() bool { return !alive(pid) && e.runDirs() == 0 }, "the idle environment to be reaped")
	if again := reply(t, e.invoke("echo", "", `{}`)).PID; again == pid {
		t.Fatal("a reaped environment served again")
	}
}

// waitFor polls a condition that another goroutine makes true (a process
// exiting); it fails after a generous bound.
func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentInvocationsScaleOutUpToTheLimit(t *testing.T) {
	e := newEnv(t, envOpts{maxEnv: 2})
	e.createEcho("echo")
	const n = 5
	var wg sync.WaitGroup
	pids := make([]int, n)
	for i := range n {
		wg.Go(func() {
			res, err := e.svc.Invoke(e.ctx, "echo", "", []byte(`{"mode":"sleep","sleep":"150ms"}`))
			if err != nil || res.FunctionError != "" {
				t.Errorf("invoke %d: %v %s", i, err, res.Payload)
				return
			}
			var r echoReply
			json.Unmarshal(res.Payload, &r)
			pids[i] = r.PID
		})
	}
	maxSeen := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			for _, p := range e.svc.snapshotPools() {
				if total, _ := p.size(); total > maxSeen {
					maxSeen = total
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
	distinct := map[int]bool{}
	for _, p := range pids {
		distinct[p] = true
	}
	if len(distinct) != 2 || maxSeen > 2 {
		t.Fatalf("%d distinct environments (max %d at once), want 2 with 5 concurrent calls and a limit of 2", len(distinct), maxSeen)
	}
}

func TestTimeoutKillsTheEnvironment(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo", withTimeout(2))
	pid := reply(t, e.invoke("echo", "", `{}`)).PID // warm: no init timer pending
	base := e.clk.Waiters()
	type result struct {
		res *InvokeResult
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := e.svc.Invoke(e.ctx, "echo", "", []byte(`{"mode":"sleep"}`))
		ch <- result{res, err}
	}()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if err := e.clk.BlockUntil(ctx, base+1); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Second)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	d := failure(t, r.res)
	if !strings.HasSuffix(d.ErrorMessage, " Task timed out after 2.00 seconds") || !strings.Contains(d.ErrorMessage, r.res.RequestID) || d.ErrorType != "" {
		t.Fatalf("timeout answer: %s", r.res.Payload)
	}
	if !strings.Contains(string(r.res.Log), "Status: timeout") {
		t.Fatalf("log: %s", r.res.Log)
	}
	if alive(pid) {
		t.Fatal("the timed-out environment is still running")
	}
	if next := reply(t, e.invoke("echo", "", `{}`)).PID; next == pid {
		t.Fatal("the timed-out environment served again")
	}
}

func TestFunctionFailures(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo")
	t.Run("error", func(t *testing.T) {
		pid := reply(t, e.invoke("echo", "", `{}`)).PID
		d := failure(t, e.invoke("echo", "", `{"mode":"error","message":"bad thing"}`))
		if d.ErrorType != "errorString" || d.ErrorMessage != "bad thing" {
			t.Fatalf("error document: %+v", d)
		}
		// A reported error does not end the environment.
		if again := reply(t, e.invoke("echo", "", `{}`)).PID; again != pid {
			t.Fatal("a function error replaced the environment")
		}
	})
	t.Run("panic", func(t *testing.T) {
		d := failure(t, e.invoke("echo", "", `{"mode":"panic","message":"boom"}`))
		if d.ErrorMessage != "boom" || len(d.StackTrace) == 0 {
			t.Fatalf("panic document: %+v", d)
		}
	})
	t.Run("crash", func(t *testing.T) {
		pid := reply(t, e.invoke("echo", "", `{}`)).PID
		res := e.invoke("echo", "", `{"mode":"exit"}`)
		d := failure(t, res)
		if d.ErrorType != "Runtime.ExitError" || !strings.Contains(d.ErrorMessage, "RequestId: "+res.RequestID) || !strings.Contains(d.ErrorMessage, "exit status 3") {
			t.Fatalf("crash document: %+v", d)
		}
		if next := reply(t, e.invoke("echo", "", `{}`)).PID; next == pid {
			t.Fatal("a crashed environment served again")
		}
	})
}

func TestInitFailures(t *testing.T) {
	e := newEnv(t)
	e.createEcho("initexit", withEnv("ECHO_INIT", "exit"))
	e.createEcho("initerror", withEnv("ECHO_INIT", "error"))
	e.createEcho("nobootstrap", withZip(makeZip(map[string][]byte{"main": []byte("x")}, 0o755)))
	d := failure(t, e.invoke("initexit", "", `{}`))
	if d.ErrorType != "Runtime.ExitError" || !strings.Contains(d.ErrorMessage, "exit status 2") {
		t.Fatalf("exit during init: %+v", d)
	}
	res := e.invoke("initerror", "", `{}`)
	d = failure(t, res)
	if d.ErrorType != "Echo.InitFailed" || d.ErrorMessage != "init refused by ECHO_INIT" {
		t.Fatalf("posted init error: %s", res.Payload)
	}
	d = failure(t, e.invoke("nobootstrap", "", `{}`))
	if d.ErrorType != "Runtime.InvalidEntrypoint" || !strings.Contains(d.ErrorMessage, "bootstrap") {
		t.Fatalf("no bootstrap: %+v", d)
	}
	waitFor(t, func() bool { return e.runDirs() == 0 }, "failed environments to be removed")
}

func TestLogTypeTail(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo")
	out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), LogType: types.LogTypeTail,
		Payload: []byte(`{"log":"hello-from-the-function"}`)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatal(err)
	}
	var r echoReply
	json.Unmarshal(out.Payload, &r)
	log := string(raw)
	for _, want := range []string{"START RequestId: " + r.RequestID + " Version: $LATEST", "hello-from-the-function", "stderr:hello-from-the-function",
		"END RequestId: " + r.RequestID, "REPORT RequestId: " + r.RequestID, "Init Duration:"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log tail lacks %q:\n%s", want, log)
		}
	}
	// The next invocation's log holds only its own output.
	out, err = e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), LogType: types.LogTypeTail, Payload: []byte(`{"log":"second"}`)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if strings.Contains(string(raw), "hello-from-the-function") || !strings.Contains(string(raw), "second") || strings.Contains(string(raw), "Init Duration") {
		t.Fatalf("second log:\n%s", raw)
	}
	// A long log is cut to its last 4 KB.
	big := strings.Repeat("y", 6000)
	res := e.invoke("echo", "", `{"log":"`+big+`"}`)
	if len(res.LogTail()) != 4096 || !strings.HasSuffix(string(res.LogTail()), "\n") || !strings.Contains(string(res.LogTail()), "REPORT") {
		t.Fatalf("tail of %d bytes", len(res.LogTail()))
	}
	file, err := os.ReadFile(filepath.Join(e.dataDir, "logs", "echo.log"))
	if err != nil || !strings.Contains(string(file), "hello-from-the-function") || !strings.Contains(string(file), big) {
		t.Fatalf("function log file: %v", err)
	}
}

func TestWeightedAliasRouting(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo", withEnv("ECHO_V", "1"))
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("echo")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("echo"),
		Environment: &types.Environment{Variables: map[string]string{"ECHO_V": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("echo")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("echo"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.3}}}); err != nil {
		t.Fatal(err)
	}
	const n = 400
	counts := map[string]int{}
	for range n {
		res := e.invoke("echo", "live", `{}`)
		r := reply(t, res)
		if r.Version != res.ExecutedVersion || r.Env["ECHO_V"] != res.ExecutedVersion || r.ARN != e.arn("echo")+":live" {
			t.Fatalf("ran %s (env %s, arn %s) but reported %s", r.Version, r.Env["ECHO_V"], r.ARN, res.ExecutedVersion)
		}
		counts[res.ExecutedVersion]++
	}
	// 0.3 of 400 is 120, with a standard deviation of about 9.2: ±40 is
	// more than four of them.
	if c := counts["2"]; c < 80 || c > 160 || counts["1"]+c != n {
		t.Fatalf("version 2 ran %d of %d times, want about 120 (%v)", c, n, counts)
	}
	// Through the API, the executed version comes back in a header.
	out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), Qualifier: aws.String("live")})
	if err != nil || (aws.ToString(out.ExecutedVersion) != "1" && aws.ToString(out.ExecutedVersion) != "2") {
		t.Fatalf("Invoke alias: %v", err)
	}
	// All traffic to version 2.
	if err := e.svc.SetAliasRouting(e.ctx, "echo", "live", "2", nil); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if v := e.invoke("echo", "live", `{}`).ExecutedVersion; v != "2" {
			t.Fatalf("after the shift version %s ran", v)
		}
	}
}

func TestInvokeRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo")
	tests := []struct {
		name string
		in   lsdk.InvokeInput
		code string
	}{
		{"oversized sync payload", lsdk.InvokeInput{Payload: []byte(`"` + strings.Repeat("x", maxSyncPayload) + `"`)}, "RequestTooLargeException"},
		{"oversized async payload", lsdk.InvokeInput{InvocationType: types.InvocationTypeEvent, Payload: []byte(`"` + strings.Repeat("x", maxAsyncPayload) + `"`)}, "RequestTooLargeException"},
		{"not json", lsdk.InvokeInput{Payload: []byte(`hello`)}, "InvalidRequestContentException"},
		{"unknown version", lsdk.InvokeInput{Qualifier: aws.String("7")}, "ResourceNotFoundException"},
		{"unknown alias", lsdk.InvokeInput{Qualifier: aws.String("nolias")}, "ResourceNotFoundException"},
		{"unknown function dry run", lsdk.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeDryRun}, "ResourceNotFoundException"},
		{"bad invocation type", lsdk.InvokeInput{InvocationType: "Sometimes"}, "ValidationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.FunctionName == nil {
				in.FunctionName = aws.String("echo")
			}
			_, err := e.client.Invoke(e.ctx, &in)
			wantCode(t, err, tc.code)
		})
	}
	resp, _ := e.raw("POST", "/2015-03-31/functions/echo/invocations", []byte(`"`+strings.Repeat("x", maxSyncPayload)+`"`))
	if resp.StatusCode != 413 {
		t.Fatalf("oversized payload status %d", resp.StatusCode)
	}
	if e.runDirs() != 0 {
		t.Fatal("a refused invocation started an environment")
	}
}

func TestEventInvocationsRunInTheBackgroundAndRetry(t *testing.T) {
	e := newEnv(t)
	outcomes := make(chan asyncOutcome, 10)
	e.svc.onAsync = func(o asyncOutcome) { outcomes <- o }
	e.createEcho("echo")
	out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"message":"bg"}`)})
	if err != nil || out.StatusCode != 202 || len(out.Payload) != 0 {
		t.Fatalf("Event invoke: %v", err)
	}
	o := next(t, outcomes)
	if o.Err != nil || o.Result.FunctionError != "" || o.Attempt != 1 || !strings.Contains(string(o.Result.Payload), `"bg"`) {
		t.Fatalf("background run: %+v", o)
	}
	// A failing function is retried twice, one and then two minutes later.
	if err := e.svc.InvokeAsync(e.ctx, "echo", "", []byte(`{"mode":"error","message":"again"}`)); err != nil {
		t.Fatal(err)
	}
	base := e.clk.Waiters()
	for attempt, wait := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		if wait > 0 {
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			if err := e.clk.BlockUntil(ctx, base+1); err != nil {
				t.Fatal(err)
			}
			cancel()
			e.clk.Advance(wait)
		}
		o := next(t, outcomes)
		if o.Attempt != attempt+1 || o.Result == nil || o.Result.FunctionError != "Unhandled" {
			t.Fatalf("attempt %d: %+v", attempt+1, o)
		}
	}
	e.clk.Advance(time.Hour)
	select {
	case o := <-outcomes:
		t.Fatalf("a fourth attempt ran: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
	err = e.svc.InvokeAsync(e.ctx, "nope", "", nil)
	if ae := awsAPIError(err); ae == nil || ae.Code != "ResourceNotFoundException" {
		t.Fatalf("InvokeAsync of a missing function: %v", err)
	}
}

func next(t testing.TB, ch <-chan asyncOutcome) asyncOutcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no Event invocation ran")
		return asyncOutcome{}
	}
}

func TestDeleteAndCloseStopEnvironments(t *testing.T) {
	e := newEnv(t)
	e.createEcho("echo")
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("echo")}); err != nil {
		t.Fatal(err)
	}
	latestPID := reply(t, e.invoke("echo", "", `{}`)).PID
	v1PID := reply(t, e.invoke("echo", "1", `{}`)).PID
	if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("echo"), Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !alive(v1PID) }, "version 1's environment to stop")
	if !alive(latestPID) {
		t.Fatal("deleting version 1 stopped $LATEST's environment")
	}
	if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("echo")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !alive(latestPID) && e.runDirs() == 0 }, "the function's environments to stop")

	// Close ends busy and idle environments and leaves nothing behind.
	e.createEcho("other")
	pid := reply(t, e.invoke("other", "", `{}`)).PID
	busy := make(chan error, 1)
	go func() {
		_, err := e.svc.Invoke(e.ctx, "other", "", []byte(`{"mode":"sleep"}`))
		busy <- err
	}()
	waitFor(t, func() bool {
		for _, p := range e.svc.snapshotPools() {
			if total, idle := p.size(); total == 1 && idle == 0 {
				return true
			}
		}
		return false
	}, "the environment to be busy")
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-busy; !errors.Is(err, errClosed) {
		t.Fatalf("busy invocation at Close: %v", err)
	}
	if alive(pid) || e.runDirs() != 0 {
		t.Fatalf("after Close: pid alive %v, %d environment dirs", alive(pid), e.runDirs())
	}
	if _, err := e.svc.Invoke(e.ctx, "other", "", nil); err == nil {
		t.Fatal("Invoke after Close succeeded")
	}
}

// snapshotPools lists the live pools, for tests that watch scale-out.
func (s *Service) snapshotPools() []*pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p)
	}
	return out
}
