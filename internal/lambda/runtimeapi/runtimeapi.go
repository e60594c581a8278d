// Package runtimeapi serves the Lambda Runtime API (version 2018-06-01) to
// one execution environment: the function's runtime long-polls
// /runtime/invocation/next for work and posts the outcome back. One Server
// belongs to one environment, because AWS_LAMBDA_RUNTIME_API is only a
// host:port and an environment handles one invocation at a time; a listener
// per environment is what tells the callers apart.
package runtimeapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxResponse is the largest response or error body a function may return
// from a synchronous invocation (6 MB, as AWS).
const MaxResponse = 6 << 20

// Invocation is one event handed to the runtime.
type Invocation struct {
	RequestID     string
	Payload       []byte
	Deadline      time.Time
	FunctionARN   string
	TraceID       string
	ClientContext string
}

// Result is what the runtime answered for an invocation.
type Result struct {
	// Payload is the response body, or the error document when Error is true.
	Payload []byte
	// Error is true when the runtime posted to .../error (or the response
	// could not be accepted); Payload then holds a JSON object with
	// errorType and errorMessage.
	Error bool
}

// InitError is what the runtime posted to /runtime/init/error.
type InitError struct {
	// Body is a JSON object with errorType and errorMessage.
	Body []byte
}

// Server is the Runtime API of one execution environment, listening on
// 127.0.0.1.
type Server struct {
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	work chan *pending

	mu       sync.Mutex
	inflight map[string]*pending
	ready    chan struct{}
	polls    chan struct{}
	initErr  chan InitError
	quit     chan struct{}
	closed   bool
}

type pending struct {
	inv  Invocation
	done chan Result // buffered 1
}

// Listen starts a Runtime API on a free port of 127.0.0.1.
func Listen(log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtimeapi: listening: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:      log,
		ln:       ln,
		work:     make(chan *pending, 1),
		inflight: map[string]*pending{},
		ready:    make(chan struct{}),
		polls:    make(chan struct{}, 1),
		initErr:  make(chan InitError, 1),
		quit:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, "InvalidRequest", "unknown Runtime API path "+r.URL.Path)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is the host:port for AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Ready is closed when the runtime first asks for work: its init phase is over.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Polls signals each call to /next: the runtime finished what it was doing
// and waits for work. A caller drains it before delivering an invocation
// and waits on it afterwards to know the runtime is back (AWS counts an
// invocation complete only when the runtime asks for the next one).
func (s *Server) Polls() <-chan struct{} { return s.polls }

// InitErrors delivers a report posted to /runtime/init/error.
func (s *Server) InitErrors() <-chan InitError { return s.initErr }

// Deliver queues inv for the runtime's next call to /next and returns the
// channel its result arrives on. The environment hands out one invocation
// at a time, so a second Deliver before the first result is a caller bug.
func (s *Server) Deliver(inv Invocation) (<-chan Result, error) {
	p := &pending{inv: inv, done: make(chan Result, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("runtimeapi: server closed")
	}
	select {
	case s.work <- p:
		return p.done, nil
	default:
		return nil, errors.New("runtimeapi: an invocation is already waiting for the runtime")
	}
}

// Close stops the listener and ends every waiting long poll.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.mu.Unlock()
	return s.srv.Close()
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.mu.Unlock()
	select {
	case s.polls <- struct{}{}:
	default:
	}
	var p *pending
	select {
	case p = <-s.work:
	case <-s.quit:
		writeStatus(w, http.StatusGone, "ServerClosed", "the execution environment is shutting down")
		return
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.inflight[p.inv.RequestID] = p
	s.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", p.inv.RequestID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(p.inv.Deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", p.inv.FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", p.inv.TraceID)
	if p.inv.ClientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", p.inv.ClientContext)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(p.inv.Payload)
}

// take removes the in-flight invocation id, so that it is answered once.
func (s *Server) take(w http.ResponseWriter, id string) *pending {
	s.mu.Lock()
	p := s.inflight[id]
	delete(s.inflight, id)
	s.mu.Unlock()
	if p == nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in flight has request id "+strconv.Quote(id))
	}
	return p
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	p := s.take(w, r.PathValue("id"))
	if p == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	switch {
	case err != nil:
		p.done <- Result{Error: true, Payload: errorDoc("Runtime.ResponseError", "reading the function response: "+err.Error())}
		writeStatus(w, http.StatusBadRequest, "InvalidRequest", "could not read the response body")
		return
	case len(body) > MaxResponse:
		p.done <- Result{Error: true, Payload: errorDoc("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponse))}
		writeStatus(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload too large")
		return
	}
	// aws-lambda-go reports a failure while streaming its response in
	// trailers, after the body.
	if typ := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		doc, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		p.done <- Result{Error: true, Payload: normalizeError(doc, typ)}
	} else {
		p.done <- Result{Payload: body}
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	p := s.take(w, r.PathValue("id"))
	if p == nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponse))
	p.done <- Result{Error: true, Payload: normalizeError(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponse))
	typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
	if typ == "" {
		typ = "Runtime.InitError"
	}
	select {
	case s.initErr <- InitError{Body: normalizeError(body, typ)}:
	default: // one report is enough; the environment is being torn down
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

// normalizeError keeps a runtime's error document as it was posted when it
// is a JSON object (errorType, errorMessage and stackTrace pass through),
// and otherwise wraps whatever was posted into one.
func normalizeError(body []byte, typ string) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		if _, ok := doc["errorType"]; !ok && typ != "" {
			t, _ := json.Marshal(typ)
			doc["errorType"] = t
			out, _ := json.Marshal(doc)
			return out
		}
		return bytes.TrimSpace(body)
	}
	if typ == "" {
		typ = "Runtime.Unknown"
	}
	return errorDoc(typ, string(body))
}

func errorDoc(typ, msg string) []byte {
	out, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{typ, msg})
	return out
}

// ErrorDoc builds the error document AWS returns for failures the runtime
// itself did not report (timeouts, exits, missing bootstrap).
func ErrorDoc(typ, msg string) []byte { return errorDoc(typ, msg) }

func writeStatus(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(errorDoc(typ, msg))
}

// Wait is a convenience for callers that block on a Deliver result with a
// context, used by tests and the benchmark's direct path.
func Wait(ctx context.Context, c <-chan Result) (Result, error) {
	select {
	case r := <-c:
		return r, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}
