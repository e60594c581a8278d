// Package query is the AWS Query protocol: parameters form-encoded
// (Action=...&Version=...&Names.member.1=...) in a POST body or a GET query
// string, answers as XML in <ActionResponse><ActionResult>, errors as
// <ErrorResponse><Error><Type>Sender</Type><Code>...</Code>. ELBv2 speaks it;
// so do SNS and CloudWatch, which is why nothing here knows about ELB.
//
// Inputs are decoded by Decode along `query` struct tags; outputs are encoded
// with encoding/xml, so output types use `xml` tags, with lists spelled
// `xml:"Names>member"` as Query wraps every list element in <member>.
package query

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

type operation func(ctx context.Context, form url.Values) (any, error)

// Service dispatches the actions of one AWS Query service.
type Service struct {
	log     *slog.Logger
	xmlns   string
	version string
	ops     map[string]operation
	// maxBody bounds what Claims reads from an unsigned POST body.
	maxBody int64
}

// New returns a service answering in the XML namespace xmlns for API version
// version (ELBv2: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
// "2015-12-01").
func New(log *slog.Logger, xmlns, version string) *Service {
	return &Service{log: log, xmlns: xmlns, version: version, ops: map[string]operation{}, maxBody: 1 << 20}
}

// Handle registers an action. In is decoded from the form by Decode; Out is
// encoded inside <ActionResult>, and a nil *Out gives an empty result.
func Handle[In, Out any](s *Service, action string, fn func(ctx context.Context, in *In) (*Out, error)) {
	s.ops[action] = func(ctx context.Context, form url.Values) (any, error) {
		in := new(In)
		if err := Decode(form, in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, nil
		}
		return out, nil
	}
}

// Operations lists the registered action names, sorted.
func (s *Service) Operations() []string {
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Version is the API version the service answers for.
func (s *Service) Version() string { return s.version }

// readForm returns the request's parameters: the query string, plus the body
// when it is form-encoded. It leaves r.Body readable again, because Claims
// runs before the router reads and hashes the body.
func readForm(r *http.Request, limit int64) (url.Values, error) {
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Body == nil || r.Method == http.MethodGet {
		return form, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" && ct != "" {
		return form, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	bf, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for k, v := range bf {
		form[k] = append(form[k], v...)
	}
	return form, nil
}

var errTooLarge = &awsproto.Error{Code: "ValidationError", Message: "Request body too large", Status: http.StatusRequestEntityTooLarge}

// Claims reports whether an unsigned or unreadable request was meant for this
// service: its Version is this service's API version. Action names overlap
// between Query services (AddTags, ListTagsForResource...), versions do not.
func (s *Service) Claims(r *http.Request) bool {
	form, err := readForm(r, s.maxBody)
	if err != nil {
		return false
	}
	return form.Get("Version") == s.version
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.WriteError(w, r, &awsproto.Error{Code: "InvalidAction", Message: "Query requests use GET or POST"})
		return
	}
	form, err := readForm(r, s.maxBody)
	if err != nil {
		if e := awsproto.AsError(err); e != nil {
			s.WriteError(w, r, e)
			return
		}
		// AWS answers a query string it cannot parse with 404 MalformedQueryString.
		s.WriteError(w, r, &awsproto.Error{Code: "MalformedQueryString", Message: "The query string contains a syntax error.", Status: http.StatusNotFound})
		return
	}
	action := form.Get("Action")
	if action == "" {
		s.WriteError(w, r, awsproto.Errorf("MissingAction", "The request must contain the parameter Action."))
		return
	}
	op, ok := s.ops[action]
	// A missing Version is tolerated; a different one names an API this
	// service does not speak, which AWS reports as an unknown operation.
	if v := form.Get("Version"); !ok || (v != "" && v != s.version) {
		ver := form.Get("Version")
		if ver == "" {
			ver = s.version
		}
		s.WriteError(w, r, awsproto.Errorf("InvalidAction", "Could not find operation %s for version %s", truncate(action), truncate(ver)))
		return
	}
	out, err := op(r.Context(), form)
	if err != nil {
		s.WriteError(w, r, awsproto.ClientError(r.Context(), s.log, action, err))
		return
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	resp := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: s.xmlns}}}
	result := xml.StartElement{Name: xml.Name{Local: action + "Result"}}
	err = enc.EncodeToken(resp)
	if err == nil {
		if out != nil {
			err = enc.EncodeElement(out, result)
		} else {
			err = enc.EncodeElement(struct{}{}, result)
		}
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: requestID(w, r)}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(resp.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		s.log.Error("encoding response", "action", action, "err", err)
		s.WriteError(w, r, awsproto.Internal)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// requestID is the router's id, or a fresh one when the service is called
// directly (tests, in-process callers), so every answer carries one.
func requestID(w http.ResponseWriter, r *http.Request) string {
	if id := awsproto.RequestID(r.Context()); id != "" {
		return id
	}
	if id := w.Header().Get("x-amzn-RequestId"); id != "" {
		return id
	}
	id := awsproto.NewRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	return id
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorBody
	RequestID string `xml:"RequestId"`
}

type errorBody struct {
	Type    string
	Code    string
	Message string `xml:",omitempty"`
}

// WriteError implements awsproto.Protocol.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	typ := "Sender"
	if e.Receiver {
		typ = "Receiver"
	}
	b, err := xml.Marshal(errorResponse{Xmlns: s.xmlns, Error: errorBody{Type: typ, Code: e.Code, Message: e.Message}, RequestID: requestID(w, r)})
	if err != nil {
		// Marshal of strings cannot fail; log in case that ever changes.
		s.log.Error("encoding error response", "err", err)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.HTTPStatus())
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// AuthError implements awsproto.Protocol with the names AWS Query services
// use (their "Common Errors" pages, and STS/IAM's answers to bad signatures).
func (s *Service) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	switch f {
	case awsproto.AuthMissing:
		return &awsproto.Error{Code: "MissingAuthenticationToken", Message: msg, Status: http.StatusForbidden}
	case awsproto.AuthIncomplete:
		return &awsproto.Error{Code: "IncompleteSignature", Message: msg, Status: http.StatusBadRequest}
	case awsproto.AuthUnknownKey:
		return &awsproto.Error{Code: "InvalidClientTokenId", Message: msg, Status: http.StatusForbidden}
	case awsproto.AuthExpired:
		return &awsproto.Error{Code: "RequestExpired", Message: msg, Status: http.StatusBadRequest}
	case awsproto.AuthBadScope:
		return &awsproto.Error{Code: "IncompleteSignature", Message: msg, Status: http.StatusBadRequest}
	default: // AuthBadSignature, AuthPayloadMismatch
		return &awsproto.Error{Code: "SignatureDoesNotMatch", Message: msg, Status: http.StatusForbidden}
	}
}

// TooLarge implements awsproto.Protocol.
func (s *Service) TooLarge(limit int64) *awsproto.Error {
	return &awsproto.Error{Code: "ValidationError", Message: "Request body too large", Status: http.StatusRequestEntityTooLarge}
}

// Register wires the service into a router under its signing names. maxBody
// also bounds what Claims reads from unsigned requests.
func (s *Service) Register(rt *awsproto.Router, maxBody int64, signingNames ...string) {
	if maxBody > 0 {
		s.maxBody = maxBody
	}
	rt.Register(&awsproto.Service{Names: signingNames, Protocol: s, Handler: s, MaxBody: maxBody, Claims: s.Claims})
}

// Time is a Query/XML timestamp: ISO 8601 in UTC with milliseconds, the form
// AWS sends and every SDK parses.
type Time struct{ time.Time }

func (t Time) MarshalText() ([]byte, error) {
	return []byte(t.UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

func (t *Time) UnmarshalText(b []byte) error {
	p, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	t.Time = p
	return nil
}
