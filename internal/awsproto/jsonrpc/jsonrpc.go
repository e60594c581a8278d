// Package jsonrpc is the AWS JSON RPC protocol (versions 1.0 and 1.1):
// POST / with X-Amz-Target "<prefix>.<Operation>", a JSON object body, JSON
// answers and errors as {"__type": ..., "message": ...}.
package jsonrpc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

type operation func(ctx context.Context, body []byte) (any, error)

// defaultMaxBody bounds a body (after decompression) when the service is
// used without Register, as in tests and in-process callers.
const defaultMaxBody = 10 << 20

// Service dispatches the operations of one AWS JSON service.
type Service struct {
	log         *slog.Logger
	contentType string
	prefixes    []string
	ops         map[string]operation
	maxBody     int64
}

// New returns a service speaking JSON version "1.0" or "1.1" for the given
// X-Amz-Target prefixes (several when AWS serves one API under more than
// one name, as the agent command service does).
func New(log *slog.Logger, jsonVersion string, targetPrefixes ...string) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		log:         log,
		contentType: "application/x-amz-json-" + jsonVersion,
		prefixes:    targetPrefixes,
		ops:         map[string]operation{},
		maxBody:     defaultMaxBody,
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
	return s.hasPrefix(prefix)
}

func (s *Service) hasPrefix(prefix string) bool {
	for _, p := range s.prefixes {
		if p == prefix {
			return true
		}
	}
	return false
}

func serializationError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("SerializationException", format, args...)
}

// decode reads a JSON object into v. AWS answers SerializationException
// for anything that is not one, and names the member whose type is wrong.
func decode(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return serializationError("The request body must be a JSON object.")
	}
	err := json.Unmarshal(trimmed, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return serializationError("The request body must be a JSON object.")
		}
		return serializationError("Unexpected value type in payload for member '%s': expected %s, got JSON %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return serializationError("Malformed JSON in the request body at offset %d.", se.Offset)
	}
	// Errors from custom unmarshalers carry Go text; say only which kind of
	// problem it was.
	return serializationError("The request body contains a value that is not valid for its member.")
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return "another type"
}

// acceptedContentType reports whether the request declares an AWS JSON
// body. Real AWS JSON services answer UnknownOperationException to any
// other media type (seen from Kinesis for application/octet-stream,
// disneystreaming/smithy4s#167), so a missing or wrong Content-Type is
// treated as an operation this service does not know.
func acceptedContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/x-amz-json-1.1" || mt == "application/x-amz-json-1.0"
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix, opName, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	op, ok := s.ops[opName]
	if r.Method != http.MethodPost || !ok || !s.hasPrefix(prefix) || !acceptedContentType(r.Header.Get("Content-Type")) {
		s.WriteError(w, r, &awsproto.Error{Code: "UnknownOperationException"})
		return
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
	b, err := json.Marshal(out)
	if err != nil {
		s.log.ErrorContext(r.Context(), "encoding response", "operation", opName, "err", err, "request_id", awsproto.RequestID(r.Context()))
		s.WriteError(w, r, awsproto.Internal)
		return
	}
	s.write(w, http.StatusOK, b)
}

// readBody reads the body, decompressing gzip (newer SDKs compress large
// requests), and bounds the decompressed size as well as the wire size.
func (s *Service) readBody(r *http.Request) ([]byte, *awsproto.Error) {
	if r.Body == nil {
		return nil, nil
	}
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, serializationError("The request body is not valid gzip.")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, serializationError("Unsupported Content-Encoding: %s.", quoteShort(enc))
	}
	body, err := io.ReadAll(io.LimitReader(src, s.maxBody+1))
	if err != nil {
		if src != r.Body {
			return nil, serializationError("The request body is not valid gzip.")
		}
		s.log.Debug("reading request body", "err", err, "request_id", awsproto.RequestID(r.Context()))
		return nil, serializationError("The request body could not be read.")
	}
	if int64(len(body)) > s.maxBody {
		return nil, s.TooLarge(s.maxBody)
	}
	return body, nil
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

func (s *Service) write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", s.contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// WriteError implements awsproto.Protocol.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	b, err := json.Marshal(errorBody{e.Code, e.Message})
	if err != nil {
		b = []byte(`{"__type":"InternalFailure"}`)
	}
	w.Header().Set("X-Amzn-ErrorType", e.Code)
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

// AuthError implements awsproto.Protocol with the names AWS JSON services use.
func (s *Service) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	code, ok := authCodes[f]
	if !ok {
		code = "InvalidSignatureException"
	}
	return &awsproto.Error{Code: code, Message: msg}
}

// TooLarge implements awsproto.Protocol.
func (s *Service) TooLarge(limit int64) *awsproto.Error {
	return &awsproto.Error{Code: "SerializationException",
		Message: fmt.Sprintf("The request body is larger than the limit of %d bytes.", limit),
		Status:  http.StatusRequestEntityTooLarge}
}

// Register wires the service into a router under its signing names. The
// same limit then bounds the body after decompression.
func (s *Service) Register(rt *awsproto.Router, maxBody int64, signingNames ...string) {
	if maxBody > 0 {
		s.maxBody = maxBody
	}
	rt.Register(&awsproto.Service{Names: signingNames, Protocol: s, Handler: s, MaxBody: maxBody, Claims: s.Claims})
}
