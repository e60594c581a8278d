// Package cbor is the Smithy RPC v2 CBOR protocol: POST
// /service/<ServiceName>/operation/<Operation> with "smithy-protocol:
// rpc-v2-cbor", a CBOR map body (Content-Type application/cbor), CBOR map
// answers and errors as a map with "__type" and "message". CloudWatch's
// current SDKs speak it. Like jsonrpc, operations are Go functions over Go
// structs; struct fields are named by their `cbor` tag or, failing that, their
// `json` tag, so one type can serve both protocols.
package cbor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	fxcbor "github.com/fxamacker/cbor/v2"

	"github.com/cutover/cutover/internal/awsproto"
)

type operation func(ctx context.Context, body []byte) (any, error)

const defaultMaxBody = 10 << 20

// ContentType is the media type of requests and answers.
const ContentType = "application/cbor"

// decMode bounds what a hostile body can make the decoder allocate; the
// limits are far above any AWS shape (the largest lists are 1000 metric data
// with 150 values each).
var decMode = func() fxcbor.DecMode {
	m, err := fxcbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 100_000,
		MaxMapPairs:      100_000,
		IndefLength:      fxcbor.IndefLengthAllowed,
		DupMapKey:        fxcbor.DupMapKeyQuiet,
		// Smithy sends timestamps as tag 1; anything else tagged is refused by
		// the target type rather than guessed at.
		TimeTag:        fxcbor.DecTagOptional,
		DefaultMapType: nil,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

var encMode = func() fxcbor.EncMode {
	m, err := fxcbor.EncOptions{
		// Definite lengths and float64 kept as float64: every Smithy decoder
		// reads them, and no precision is lost.
		Sort:       fxcbor.SortNone,
		NaNConvert: fxcbor.NaNConvertNone,
		InfConvert: fxcbor.InfConvertNone,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Marshal encodes v as this protocol does.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes a CBOR item into v with the protocol's limits.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// EncodeTime is a Smithy timestamp: tag 1 around epoch seconds as a float, so
// milliseconds survive.
func EncodeTime(t time.Time) ([]byte, error) {
	secs := float64(t.UnixNano()) / 1e9
	return encMode.Marshal(fxcbor.Tag{Number: 1, Content: secs})
}

// DecodeTime reads a timestamp: tag 1 around an integer or a float (clients
// send either), or an untagged number, which lenient decoders accept too.
func DecodeTime(b []byte) (time.Time, error) {
	var raw any
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return time.Time{}, err
	}
	if tg, ok := raw.(fxcbor.Tag); ok {
		if tg.Number != 1 {
			return time.Time{}, fmt.Errorf("timestamp has tag %d, want 1", tg.Number)
		}
		raw = tg.Content
	}
	// fxamacker turns tag 1 into time.Time itself when decoding into any.
	// Float seconds carry binary noise below the microsecond; drop it.
	if t, ok := raw.(time.Time); ok {
		return t.Round(time.Microsecond).UTC(), nil
	}
	var secs float64
	switch n := raw.(type) {
	case uint64:
		secs = float64(n)
	case int64:
		secs = float64(n)
	case float64:
		secs = n
	case float32:
		secs = float64(n)
	default:
		return time.Time{}, fmt.Errorf("timestamp is a %T, want a number", raw)
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > 1e12 {
		return time.Time{}, errors.New("timestamp out of range")
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3).UTC(), nil
}

// Service dispatches the operations of one RPC v2 CBOR service.
type Service struct {
	log     *slog.Logger
	name    string // the service shape's name, as in the path
	ops     map[string]operation
	maxBody int64
	// ErrorHook, when set, may rewrite an error before it is written (a
	// service with awsQueryCompatible names its errors differently per
	// protocol and adds x-amzn-query-error).
	ErrorHook func(w http.ResponseWriter, e *awsproto.Error) *awsproto.Error
}

// New returns a service for the path /service/<serviceName>/operation/...
// (CloudWatch: "GraniteServiceVersion20100801").
func New(log *slog.Logger, serviceName string) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{log: log, name: serviceName, ops: map[string]operation{}, maxBody: defaultMaxBody}
}

// Handle registers an operation. In is decoded from the body (unknown
// members ignored, wrong types a SerializationException); a nil *Out answers
// an empty map.
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
			return map[string]any{}, nil
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

func serializationError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("SerializationException", format, args...)
}

// decode reads a CBOR map into v. An empty body is an empty input, as the
// spec allows for operations without input members.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	// Major type 5 (map) is the only valid top level.
	if body[0]>>5 != 5 {
		return serializationError("The request body must be a CBOR map.")
	}
	err := decMode.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *fxcbor.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.StructFieldName != "" {
			return serializationError("Unexpected value type in payload for member '%s': got CBOR %s.", te.StructFieldName, te.CBORType)
		}
		return serializationError("Unexpected value type in payload: got CBOR %s.", te.CBORType)
	}
	// Anything else (truncated, malformed, over a limit, an unmarshaler's
	// complaint) is reported without Go's text.
	return serializationError("The request body is not valid CBOR for this operation.")
}

// Match reports whether r is addressed to this service in this protocol:
// the path names it and the smithy-protocol header says rpc-v2-cbor.
func (s *Service) Match(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		return false
	}
	svc, _, ok := s.split(r.URL.Path)
	return ok && svc == s.name
}

// split cuts "/service/<svc>/operation/<op>", tolerating a path prefix as the
// spec does (clients may be configured with an endpoint path).
func (s *Service) split(path string) (svc, op string, ok bool) {
	i := strings.LastIndex(path, "/service/")
	if i < 0 {
		return "", "", false
	}
	rest := path[i+len("/service/"):]
	svc, rest, ok = strings.Cut(rest, "/operation/")
	if !ok || strings.Contains(rest, "/") {
		return "", "", false
	}
	return svc, rest, true
}

// Claims reports whether an unsigned request was meant for this service.
func (s *Service) Claims(r *http.Request) bool { return s.Match(r) }

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	svc, opName, ok := s.split(r.URL.Path)
	op := s.ops[opName]
	if r.Method != http.MethodPost || !ok || svc != s.name || op == nil {
		s.WriteError(w, r, &awsproto.Error{Code: "UnknownOperationException", Status: http.StatusNotFound})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != ContentType {
			s.WriteError(w, r, &awsproto.Error{Code: "UnknownOperationException", Message: "Content-Type must be application/cbor.", Status: http.StatusUnsupportedMediaType})
			return
		}
	}
	body, aerr := s.readBody(r)
	if aerr != nil {
		s.WriteError(w, r, aerr)
		return
	}
	out, err := op(r.Context(), body)
	if err != nil {
		s.WriteError(w, r, awsproto.ClientError(r.Context(), s.log, opName, err))
		return
	}
	b, err := encMode.Marshal(out)
	if err != nil {
		s.log.ErrorContext(r.Context(), "encoding response", "operation", opName, "err", err, "request_id", awsproto.RequestID(r.Context()))
		s.WriteError(w, r, awsproto.Internal)
		return
	}
	s.write(w, http.StatusOK, b)
}

func (s *Service) readBody(r *http.Request) ([]byte, *awsproto.Error) {
	if r.Body == nil {
		return nil, nil
	}
	if enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc != "" && enc != "identity" {
		// Request compression is opt-in per operation in Smithy and
		// CloudWatch's model asks for gzip on PutMetricData only with the
		// JSON/Query SDKs; refuse clearly rather than misread bytes.
		if enc != "gzip" {
			return nil, serializationError("Unsupported Content-Encoding: %s.", strconv.Quote(truncate(enc)))
		}
		return readGzip(r.Body, s.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		return nil, serializationError("The request body could not be read.")
	}
	if int64(len(body)) > s.maxBody {
		return nil, s.TooLarge(s.maxBody)
	}
	return body, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (s *Service) write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type errorBody struct {
	Type    string `cbor:"__type"`
	Message string `cbor:"message,omitempty"`
}

// WriteError implements awsproto.Protocol.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	if s.ErrorHook != nil {
		e = s.ErrorHook(w, e)
	}
	b, err := encMode.Marshal(errorBody{e.Code, e.Message})
	if err != nil {
		s.log.Error("encoding error response", "err", err)
		b, _ = encMode.Marshal(errorBody{Type: "InternalFailure"})
	}
	s.write(w, e.HTTPStatus(), b)
}

var authCodes = map[awsproto.AuthFailure]string{
	awsproto.AuthMissing:         "MissingAuthenticationTokenException",
	awsproto.AuthIncomplete:      "IncompleteSignatureException",
	awsproto.AuthUnknownKey:      "UnrecognizedClientException",
	awsproto.AuthBadSignature:    "InvalidSignatureException",
	awsproto.AuthExpired:         "InvalidSignatureException",
	awsproto.AuthBadScope:        "InvalidSignatureException",
	awsproto.AuthPayloadMismatch: "InvalidSignatureException",
}

// AuthError implements awsproto.Protocol with the names AWS's JSON and CBOR
// services share.
func (s *Service) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	code, ok := authCodes[f]
	if !ok {
		code = "InvalidSignatureException"
	}
	status := http.StatusBadRequest
	if f == awsproto.AuthMissing || f == awsproto.AuthUnknownKey || f == awsproto.AuthBadSignature {
		status = http.StatusForbidden
	}
	return &awsproto.Error{Code: code, Message: msg, Status: status}
}

// TooLarge implements awsproto.Protocol.
func (s *Service) TooLarge(limit int64) *awsproto.Error {
	return &awsproto.Error{Code: "SerializationException",
		Message: fmt.Sprintf("The request body is larger than the limit of %d bytes.", limit),
		Status:  http.StatusRequestEntityTooLarge}
}

// SetMaxBody bounds a body after decompression.
func (s *Service) SetMaxBody(n int64) {
	if n > 0 {
		s.maxBody = n
	}
}

// Register wires the service into a router under its signing names.
func (s *Service) Register(rt *awsproto.Router, maxBody int64, signingNames ...string) {
	s.SetMaxBody(maxBody)
	rt.Register(&awsproto.Service{Names: signingNames, Protocol: s, Handler: s, MaxBody: maxBody, Claims: s.Claims})
}
