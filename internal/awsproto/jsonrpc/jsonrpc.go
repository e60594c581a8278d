// Package jsonrpc is the AWS JSON RPC protocol (versions 1.0 and 1.1):
// POST / with X-Amz-Target "<prefix>.<Operation>", a JSON object body, JSON
// answers and errors as {"__type": ..., "message": ...}.
package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

type operation func(ctx context.Context, body []byte) (any, error)

// Service dispatches the operations of one AWS JSON service.
type Service struct {
	log         *slog.Logger
	contentType string
	prefixes    []string
	ops         map[string]operation
}

// New returns a service speaking JSON version "1.0" or "1.1" for the given
// X-Amz-Target prefixes (several when AWS serves one API under more than
// one name, as the agent command service does).
func New(log *slog.Logger, jsonVersion string, targetPrefixes ...string) *Service {
	return &Service{
		log:         log,
		contentType: "application/x-amz-json-" + jsonVersion,
		prefixes:    targetPrefixes,
		ops:         map[string]operation{},
	}
}

// Handle registers an operation. In is decoded from the body (unknown
// members are ignored, as AWS does; wrong types are a SerializationException);
// Out is encoded as the answer, and a nil *Out answers "{}".
func Handle[In, Out any](s *Service, op string, fn func(ctx context.Context, in *In) (*Out, error)) {
	s.ops[op] = func(ctx context.Context, body []byte) (any, error) {
		in := new(In)
		if err := decode(body, in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return struct{}{}, nil
		}
		return out, nil
	}
}

// Operations lists the registered operation names, sorted.
func (s *Service) Operations() []string {
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Claims reports whether an X-Amz-Target names this service.
func (s *Service) Claims(r *http.Request) bool {
	prefix, _, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	for _, p := range s.prefixes {
		if p == prefix {
			return true
		}
	}
	return false
}

func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return awsproto.Errorf("SerializationException", "Unexpected value type in payload for field %s", te.Field)
		}
		return awsproto.Errorf("SerializationException", "Start of structure or map found where not expected.")
	}
	return nil
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.WriteError(w, r, &awsproto.Error{Code: "UnknownOperationException", Status: http.StatusNotFound})
		return
	}
	prefix, opName, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	op, ok := s.ops[opName]
	if !ok || !s.Claims(r) {
		s.WriteError(w, r, &awsproto.Error{Code: "UnknownOperationException"})
		return
	}
	_ = prefix
	var body []byte
	if r.Body != nil {
		buf := new(strings.Builder)
		if _, err := copyBody(buf, r); err != nil {
			s.WriteError(w, r, awsproto.Errorf("SerializationException", "could not read request body"))
			return
		}
		body = []byte(buf.String())
	}
	out, err := op(r.Context(), body)
	if err != nil {
		e := awsproto.AsError(err)
		if e == nil {
			s.log.Error("operation failed", "operation", opName, "err", err, "request_id", awsproto.RequestID(r.Context()))
			e = awsproto.Internal
		}
		s.WriteError(w, r, e)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.log.Error("encoding response", "operation", opName, "err", err)
		s.WriteError(w, r, awsproto.Internal)
		return
	}
	w.Header().Set("Content-Type", s.contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// WriteError implements awsproto.Protocol.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	w.Header().Set("Content-Type", s.contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.HTTPStatus())
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.Code, e.Message})
	w.Write(b)
}

// AuthError implements awsproto.Protocol with the names AWS JSON services use.
func (s *Service) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	code := map[awsproto.AuthFailure]string{
		awsproto.AuthMissing:         "MissingAuthenticationTokenException",
		awsproto.AuthIncomplete:      "IncompleteSignatureException",
		awsproto.AuthUnknownKey:      "UnrecognizedClientException",
		awsproto.AuthBadSignature:    "InvalidSignatureException",
		awsproto.AuthExpired:         "InvalidSignatureException",
		awsproto.AuthBadScope:        "InvalidSignatureException",
		awsproto.AuthPayloadMismatch: "InvalidSignatureException",
	}[f]
	return &awsproto.Error{Code: code, Message: msg}
}

// TooLarge implements awsproto.Protocol.
func (s *Service) TooLarge(limit int64) *awsproto.Error {
	return &awsproto.Error{Code: "SerializationException", Message: "Request body too large", Status: http.StatusRequestEntityTooLarge}
}

// Register wires the service into a router under its signing names.
func (s *Service) Register(rt *awsproto.Router, maxBody int64, signingNames ...string) {
	rt.Register(&awsproto.Service{Names: signingNames, Protocol: s, Handler: s, MaxBody: maxBody, Claims: s.Claims})
}

func copyBody(dst *strings.Builder, r *http.Request) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	for {
		m, err := r.Body.Read(buf)
		dst.Write(buf[:m])
		n += int64(m)
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}
