// Package cloudwatch is a CloudWatch subset: metrics (PutMetricData,
// GetMetricStatistics, GetMetricData, ListMetrics) kept in a bounded
// in-memory store, and metric alarms with CloudWatch's evaluation semantics,
// stored durably, evaluated continuously on an injected clock. One set of
// operations is served in the three protocols CloudWatch clients use: Smithy
// RPC v2 CBOR (current SDKs), AWS JSON 1.0 and Query.
package cloudwatch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/cbor"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/awsproto/query"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

const (
	// SigningName is the SigV4 service name of CloudWatch.
	SigningName = "monitoring"
	// TargetPrefix names the service in X-Amz-Target and in the CBOR path.
	TargetPrefix = "GraniteServiceVersion20100801"
	// XMLNamespace and APIVersion are Query's.
	XMLNamespace = "http://monitoring.amazonaws.com/doc/2010-08-01/"
	APIVersion   = "2010-08-01"
)

// Config configures a Service.
type Config struct {
	Region    string
	AccountID string
	Store     store.Store
	Clock     clock.Clock
	Log       *slog.Logger
	Limits    Limits
}

// Service is the CloudWatch API and its alarm evaluator.
type Service struct {
	region, account string
	db              store.Store
	clk             clock.Clock
	log             *slog.Logger
	metrics         *metricStore

	cb *cbor.Service
	js *jsonrpc.Service
	q  *query.Service

	// mu serialises alarm writes in this process (the store's versions
	// guard against other replicas).
	mu       sync.Mutex
	hooks    []func(alarm MetricAlarm, oldState, newState string)
	watchers []func(alarm, oldState, newState string)

	histSeq atomic.Int64

	ingestMu sync.Mutex
	lastCum  map[string]cumulative
	sources  []func() []Sample
}

// New returns the service. Call Run to evaluate alarms.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("cloudwatch: a store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	s := &Service{
		region: cfg.Region, account: cfg.AccountID, db: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		metrics: newMetricStore(cfg.Limits),
		cb:      cbor.New(cfg.Log, TargetPrefix),
		js:      jsonrpc.New(cfg.Log, "1.0", TargetPrefix),
		q:       query.New(cfg.Log, XMLNamespace, APIVersion),
		lastCum: map[string]cumulative{},
	}
	s.histSeq.Store(time.Now().UnixNano())
	s.cb.ErrorHook = func(w http.ResponseWriter, e *awsproto.Error) *awsproto.Error {
		setQueryErrorHeader(w, e)
		return e
	}
	register(s, "PutMetricData", s.PutMetricData)
	register(s, "GetMetricStatistics", s.GetMetricStatistics)
	register(s, "GetMetricData", s.GetMetricData)
	register(s, "ListMetrics", s.ListMetrics)
	register(s, "PutMetricAlarm", s.PutMetricAlarm)
	register(s, "DescribeAlarms", s.DescribeAlarms)
	register(s, "DescribeAlarmHistory", s.DescribeAlarmHistory)
	register(s, "DeleteAlarms", s.DeleteAlarms)
	register(s, "SetAlarmState", s.SetAlarmState)
	register(s, "EnableAlarmActions", s.EnableAlarmActions)
	register(s, "DisableAlarmActions", s.DisableAlarmActions)
	if err := s.loadMetrics(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

type empty struct{}

// register serves one operation in the three protocols; JSON and CBOR name
// errors by shape, Query by code.
func register[In, Out any](s *Service, op string, fn func(context.Context, *In) (*Out, error)) {
	shaped := func(ctx context.Context, in *In) (*Out, error) {
		out, err := fn(ctx, in)
		return out, toShape(err)
	}
	cbor.Handle(s.cb, op, shaped)
	jsonrpc.Handle(s.js, op, shaped)
	query.Handle(s.q, op, fn)
}

func setQueryErrorHeader(w http.ResponseWriter, e *awsproto.Error) {
	code, ok := queryCodeOf[e.Code]
	if !ok {
		return
	}
	fault := "Sender"
	if e.Receiver || e.HTTPStatus() >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("x-amzn-query-error", code+";"+fault)
}

type proto int

const (
	protoQuery proto = iota
	protoJSON
	protoCBOR
)

func (s *Service) protocolOf(r *http.Request) proto {
	switch {
	case strings.Contains(r.URL.Path, "/service/") && strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor"):
		return protoCBOR
	case r.Header.Get("X-Amz-Target") != "":
		return protoJSON
	}
	return protoQuery
}

func (s *Service) codec(r *http.Request) awsproto.Protocol {
	switch s.protocolOf(r) {
	case protoCBOR:
		return s.cb
	case protoJSON:
		return jsonErrors{s.js}
	}
	return s.q
}

// jsonErrors adds x-amzn-query-error to JSON errors.
type jsonErrors struct{ *jsonrpc.Service }

func (j jsonErrors) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	setQueryErrorHeader(w, e)
	j.Service.WriteError(w, r, e)
}

// queryErrorWriter adds x-amzn-query-error to errors the JSON codec writes
// after an operation failed (their code is already the shape name).
type queryErrorWriter struct{ http.ResponseWriter }

func (w queryErrorWriter) WriteHeader(code int) {
	if code >= 400 {
		if t := w.Header().Get("X-Amzn-ErrorType"); t != "" {
			setQueryErrorHeader(w.ResponseWriter, &awsproto.Error{Code: t, Status: code})
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP picks the codec the request was written in.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch s.protocolOf(r) {
	case protoCBOR:
		s.cb.ServeHTTP(w, r)
	case protoJSON:
		s.js.ServeHTTP(queryErrorWriter{w}, r)
	default:
		s.q.ServeHTTP(w, r)
	}
}

// authMarker carries an authentication failure from AuthError (which has no
// request) to WriteError (which does), where the request's own protocol
// names it.
const authMarker = "\x00auth"

type protocolMux struct{ s *Service }

func (p protocolMux) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	c := p.s.codec(r)
	if e.Code == authMarker {
		e = c.AuthError(awsproto.AuthFailure(e.Status), e.Message)
	} else if e.Code == authMarker+"large" {
		e = c.TooLarge(int64(e.Status))
	}
	c.WriteError(w, r, e)
}

func (p protocolMux) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	return &awsproto.Error{Code: authMarker, Message: msg, Status: int(f)}
}

func (p protocolMux) TooLarge(limit int64) *awsproto.Error {
	return &awsproto.Error{Code: authMarker + "large", Status: int(limit)}
}

// Claims reports whether an unsigned request was meant for CloudWatch in
// any of its protocols.
func (s *Service) Claims(r *http.Request) bool {
	return s.cb.Claims(r) || s.js.Claims(r) || s.q.Claims(r)
}

// Register wires the service into a router under "monitoring".
func (s *Service) Register(rt *awsproto.Router, maxBody int64) {
	s.cb.SetMaxBody(maxBody)
	rt.Register(&awsproto.Service{Names: []string{SigningName}, Protocol: protocolMux{s}, Handler: s, MaxBody: maxBody, Claims: s.Claims})
}

func (s *Service) now() time.Time { return s.clk.Now().UTC() }
