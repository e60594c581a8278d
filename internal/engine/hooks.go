package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// HTTPHooks calls URL hooks (a cutover extension): it POSTs
// {"DeploymentId", "LifecycleEventHookExecutionId"} as JSON, the payload a
// Lambda hook function gets, and any 2xx answer means the hook took the
// call. The hook reports its result later through
// PutLifecycleEventHookExecutionStatus.
type HTTPHooks struct {
	Client *http.Client // nil: a client with a 10-second timeout
}

func (h *HTTPHooks) InvokeHook(ctx context.Context, req HookRequest) error {
	body, _ := json.Marshal(map[string]string{"DeploymentId": req.DeploymentID, "LifecycleEventHookExecutionId": req.ExecutionID})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("hook URL %s: %w", req.Target, err)
	}
	r.Header.Set("Content-Type", "application/json")
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(r)
	if err != nil {
		// Refused connections, resets and timeouts: the hook may come up
		// within its time, so try again.
		return fmt.Errorf("calling hook %s: %w: %w", req.Target, ErrHookRetry, err)
	}
	defer resp.Body.Close()
	tail, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusBadGateway ||
		resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		return fmt.Errorf("hook %s answered %s: %w", req.Target, resp.Status, ErrHookRetry)
	}
	return fmt.Errorf("hook %s answered %s: %s", req.Target, resp.Status, strings.TrimSpace(string(tail)))
}

// Hooks chooses the invoker by target: http(s) URLs go to HTTP, anything
// else is a Lambda function and goes to Lambda. Until the Lambda service
// is wired, Lambda is nil and a function hook fails its lifecycle event
// with a message saying so, rather than being skipped.
type Hooks struct {
	HTTP   HookInvoker
	Lambda HookInvoker
}

func (h *Hooks) InvokeHook(ctx context.Context, req HookRequest) error {
	l := strings.ToLower(req.Target)
	if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
		inv := h.HTTP
		if inv == nil {
			inv = &HTTPHooks{}
		}
		return inv.InvokeHook(ctx, req)
	}
	if h.Lambda == nil {
		return fmt.Errorf("lifecycle hook %s names the Lambda function %q, but Lambda hook functions are not available yet in cutover; use an http(s) URL hook", req.Event, req.Target)
	}
	return h.Lambda.InvokeHook(ctx, req)
}

// AsyncInvoker invokes a function asynchronously (InvocationType Event).
// *lambda.Service satisfies it.
type AsyncInvoker interface {
	InvokeAsync(ctx context.Context, function, qualifier string, payload []byte) error
}

// FunctionHooks calls hook functions as CodeDeploy does: an asynchronous
// invocation with {"DeploymentId", "LifecycleEventHookExecutionId"}. The
// function reports through PutLifecycleEventHookExecutionStatus. A target
// may carry a qualifier (name:alias) or be an ARN; Lambda resolves it.
type FunctionHooks struct {
	Functions AsyncInvoker
}

func (h *FunctionHooks) InvokeHook(ctx context.Context, req HookRequest) error {
	body, _ := json.Marshal(map[string]string{"DeploymentId": req.DeploymentID, "LifecycleEventHookExecutionId": req.ExecutionID})
	err := h.Functions.InvokeAsync(ctx, req.Target, "", body)
	if err == nil {
		return nil
	}
	if ae := awsproto.AsError(err); ae != nil {
		// No such function, a bad qualifier, a payload refused: calling
		// again cannot help.
		return fmt.Errorf("the %s hook function %s could not be invoked: %s: %s", req.Event, req.Target, ae.Code, ae.Message)
	}
	return fmt.Errorf("invoking hook function %s: %w: %w", req.Target, ErrHookRetry, err)
}
