package lambda

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/lambda/runtimeapi"
)

// Payload limits, as AWS: 6 MB for a synchronous invocation, 256 KB for an
// asynchronous one.
const (
	maxSyncPayload  = 6291456
	maxAsyncPayload = 262144
	// logTail is how much of an invocation's log LogType Tail returns.
	logTail = 4096
)

// InvokeResult is the outcome of a synchronous invocation.
type InvokeResult struct {
	// StatusCode is 200 for RequestResponse (whether or not the function
	// failed).
	StatusCode int
	// Payload is the function's response, or its error document when
	// FunctionError is set.
	Payload []byte
	// FunctionError is "Unhandled" when the function failed (an error it
	// reported, a timeout, a crash); empty on success.
	FunctionError string
	// ExecutedVersion is the version that ran (an alias may route to one
	// of two).
	ExecutedVersion string
	// RequestID is the invocation's id (Lambda-Runtime-Aws-Request-Id).
	RequestID string
	// Log is the invocation's whole log (START ... REPORT).
	Log []byte
}

// LogTail is the last 4 KB of the log, as X-Amz-Log-Result carries it
// (before base64).
func (r *InvokeResult) LogTail() []byte {
	if len(r.Log) > logTail {
		return r.Log[len(r.Log)-logTail:]
	}
	return r.Log
}

// target is a resolved invocation target: the configuration that runs and
// the ARN the caller invoked it by.
type target struct {
	config     *funcConfig
	invokedARN string
}

// target resolves a function and qualifier, choosing between an alias's
// versions by their weights.
func (s *Service) target(ctx context.Context, function, qualifier string) (*target, error) {
	ref, err := s.parseName(function)
	if err != nil {
		return nil, err
	}
	q, err := qualified(ref, qualifier)
	if err != nil {
		return nil, err
	}
	t := &target{invokedARN: s.functionARN(ref.Name)}
	if q != "" {
		t.invokedARN += ":" + q
	}
	res, err := s.resolveTarget(ctx, ref.Name, q)
	if err != nil {
		return nil, err
	}
	t.config = res.config
	if len(res.weights) > 0 {
		r, acc := s.pick(), 0.0
		for _, v := range res.versions {
			acc += res.weights[v]
			if r < acc {
				t.config = res.configs[v]
				break
			}
		}
	}
	return t, nil
}

// checkPayload applies AWS's size limit and its rule that an event is JSON.
func checkPayload(payload []byte, limit int, op string) ([]byte, error) {
	if len(payload) > limit {
		return nil, errTooLarge(limit, op)
	}
	if len(payload) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(payload) {
		return nil, errRequestContent("Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value")
	}
	return payload, nil
}

// Invoke runs a function synchronously (RequestResponse) and returns its
// outcome; a failure of the function itself is in the result
// (FunctionError), not in err. qualifier may be a version, an alias,
// $LATEST or empty. Errors are *awsproto.Error for bad requests.
func (s *Service) Invoke(ctx context.Context, function, qualifier string, payload []byte) (*InvokeResult, error) {
	payload, err := checkPayload(payload, maxSyncPayload, "Invoke")
	if err != nil {
		return nil, err
	}
	return s.invoke(ctx, function, qualifier, payload, "")
}

func (s *Service) invoke(ctx context.Context, function, qualifier string, payload []byte, clientContext string) (*InvokeResult, error) {
	// A pool retired while we waited (the version changed or was deleted)
	// sends us back to resolve again.
	for attempt := 0; ; attempt++ {
		t, err := s.target(ctx, function, qualifier)
		if err != nil {
			return nil, err
		}
		res, err := s.run(ctx, t, payload, clientContext)
		if errors.Is(err, errPoolClosed) && attempt < 3 {
			continue
		}
		return res, err
	}
}

// errNoImageLauncher answers the invocation of an Image function when no
// launcher for images is configured.
func errNoImageLauncher(name string) *awsproto.Error {
	return errf(http.StatusBadGateway, "InvalidRuntimeException",
		"Function %s has PackageType Image, and %v.", name, errNoImages)
}

// run executes one invocation in an environment of the target's pool.
func (s *Service) run(ctx context.Context, t *target, payload []byte, clientContext string) (*InvokeResult, error) {
	cfg := t.config
	if cfg.PackageType == "Image" && s.images == nil {
		return nil, errNoImageLauncher(cfg.Name)
	}
	p, err := s.poolFor(cfg)
	if err != nil {
		return nil, err
	}
	env, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	inv := runtimeapi.Invocation{
		RequestID:     uuid.NewString(),
		Payload:       payload,
		Deadline:      s.clock.Now().Add(timeoutOf(cfg)),
		FunctionARN:   t.invokedARN,
		TraceID:       traceID(s.clock.Now().Unix()),
		ClientContext: clientContext,
	}
	o, err := env.invoke(ctx, inv, cfg.Version)
	p.release(env, err == nil && !o.discard)
	if err != nil {
		return nil, err
	}
	if err := s.logs.append(cfg.Name, o.log); err != nil {
		s.log.Warn("lambda: writing invocation log", "function", cfg.Name, "err", err)
	}
	res := &InvokeResult{StatusCode: http.StatusOK, Payload: o.payload, ExecutedVersion: cfg.Version, RequestID: inv.RequestID, Log: o.log}
	if o.failed {
		res.FunctionError = "Unhandled"
	}
	return res, nil
}

// traceID is an X-Ray trace header as Lambda passes it to the runtime.
func traceID(epoch int64) string {
	b := make([]byte, 20)
	rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", epoch, hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}

func sha256Base64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (s *Service) serveInvoke(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		writeError(w, awsproto.ClientError(r.Context(), s.log, "Invoke", err))
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = "RequestResponse"
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	switch {
	case typ != "RequestResponse" && typ != "Event" && typ != "DryRun":
		fail(validation("invocationType", typ, "Member must satisfy enum value set: [Event, RequestResponse, DryRun]"))
		return
	case logType != "" && logType != "None" && logType != "Tail":
		fail(validation("logType", logType, "Member must satisfy enum value set: [None, Tail]"))
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		fail(errRequestContent("Could not read request body: %v", err))
		return
	}
	function, qualifier := r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier")
	switch typ {
	case "DryRun":
		if _, err := s.target(r.Context(), function, qualifier); err != nil {
			fail(err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		if err := s.InvokeAsync(r.Context(), function, qualifier, payload); err != nil {
			fail(err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		payload, err := checkPayload(payload, maxSyncPayload, "Invoke")
		if err != nil {
			fail(err)
			return
		}
		cc := r.Header.Get("X-Amz-Client-Context")
		if cc != "" {
			raw, err := base64.StdEncoding.DecodeString(cc)
			if err != nil || !json.Valid(raw) {
				fail(errInvalidParam("Client context must be a valid Base64-encoded JSON object."))
				return
			}
			cc = string(raw)
		}
		res, err := s.invoke(r.Context(), function, qualifier, payload, cc)
		if err != nil {
			fail(err)
			return
		}
		h := w.Header()
		h.Set("X-Amz-Executed-Version", res.ExecutedVersion)
		if res.FunctionError != "" {
			h.Set("X-Amz-Function-Error", res.FunctionError)
		}
		if logType == "Tail" {
			h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(res.LogTail()))
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(res.Payload)))
		w.WriteHeader(res.StatusCode)
		w.Write(res.Payload)
	}
}

func timeoutOf(cfg *funcConfig) time.Duration {
	return time.Duration(cfg.Timeout) * time.Second
}
