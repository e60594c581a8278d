package lambda

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// maxRequest bounds a request body: a 50 MB zip, base64 encoded in JSON,
// as AWS's own limit for direct uploads.
const maxRequest = 70167211

// protocol is Lambda's REST-JSON error codec: the exception name in
// X-Amzn-ErrorType and a small JSON body.
type protocol struct{ s *Service }

var _ awsproto.Protocol = protocol{}

func (p protocol) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *awsproto.Error) {
	h := w.Header()
	h.Set("X-Amzn-ErrorType", e.Code)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.HTTPStatus())
	json.NewEncoder(w).Encode(errorBody(e))
}

var authFailures = map[awsproto.AuthFailure]string{
	awsproto.AuthMissing:         "MissingAuthenticationTokenException",
	awsproto.AuthIncomplete:      "IncompleteSignatureException",
	awsproto.AuthUnknownKey:      "UnrecognizedClientException",
	awsproto.AuthBadSignature:    "InvalidSignatureException",
	awsproto.AuthExpired:         "InvalidSignatureException",
	awsproto.AuthBadScope:        "InvalidSignatureException",
	awsproto.AuthPayloadMismatch: "InvalidSignatureException",
}

// AuthError names a failure as Lambda does; every one is a 403.
func (protocol) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	code, ok := authFailures[f]
	if !ok {
		code = "InvalidSignatureException"
	}
	if f == awsproto.AuthUnknownKey {
		msg = "The security token included in the request is invalid."
	}
	return &awsproto.Error{Code: code, Message: msg, Status: http.StatusForbidden}
}

func (protocol) TooLarge(limit int64) *awsproto.Error {
	return errf(http.StatusRequestEntityTooLarge, "RequestTooLargeException",
		"Request must be smaller than %d bytes for the operation", limit)
}

// Register serves the API on rt under signing name "lambda".
func (s *Service) Register(rt *awsproto.Router) {
	rt.Register(&awsproto.Service{
		Names:    []string{"lambda"},
		Protocol: protocol{s},
		Handler:  s.handler,
		MaxBody:  maxRequest,
		Claims:   Claims,
	})
}

// Claims reports whether an unsigned request was meant for Lambda, so that
// it is refused in Lambda's terms.
func Claims(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") == "" &&
		(strings.HasPrefix(r.URL.Path, "/2015-03-31/") || strings.HasPrefix(r.URL.Path, "/2017-03-31/tags/"))
}

// Handler is the REST API without the router, for callers that
// authenticate requests themselves.
func (s *Service) Handler() http.Handler { return s.handler }

// opFunc runs one operation; it answers status and a JSON document, or an
// error for the codec.
type opFunc func(r *http.Request) (int, any, error)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, fn opFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status, out, err := fn(r)
			if err != nil {
				writeError(w, awsproto.ClientError(r.Context(), s.log, name, err))
				return
			}
			if out == nil {
				w.WriteHeader(status)
				return
			}
			b, err := json.Marshal(out)
			if err != nil {
				writeError(w, awsproto.ClientError(r.Context(), s.log, name, fmt.Errorf("encoding %s answer: %w", name, err)))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(b)
		})
	}
	const fns = "/2015-03-31/functions"
	handle("POST "+fns, "CreateFunction", s.createFunction)
	handle("GET "+fns, "ListFunctions", s.listFunctions)
	handle("GET "+fns+"/", "ListFunctions", s.listFunctions)
	handle("GET "+fns+"/{FunctionName}", "GetFunction", s.getFunction)
	handle("DELETE "+fns+"/{FunctionName}", "DeleteFunction", s.deleteFunction)
	handle("GET "+fns+"/{FunctionName}/configuration", "GetFunctionConfiguration", s.getFunctionConfiguration)
	handle("PUT "+fns+"/{FunctionName}/configuration", "UpdateFunctionConfiguration", s.updateFunctionConfiguration)
	handle("PUT "+fns+"/{FunctionName}/code", "UpdateFunctionCode", s.updateFunctionCode)
	handle("POST "+fns+"/{FunctionName}/versions", "PublishVersion", s.publishVersion)
	handle("GET "+fns+"/{FunctionName}/versions", "ListVersionsByFunction", s.listVersions)
	handle("POST "+fns+"/{FunctionName}/aliases", "CreateAlias", s.createAlias)
	handle("GET "+fns+"/{FunctionName}/aliases", "ListAliases", s.listAliases)
	handle("GET "+fns+"/{FunctionName}/aliases/{Name}", "GetAlias", s.getAlias)
	handle("PUT "+fns+"/{FunctionName}/aliases/{Name}", "UpdateAlias", s.updateAlias)
	handle("DELETE "+fns+"/{FunctionName}/aliases/{Name}", "DeleteAlias", s.deleteAlias)
	mux.HandleFunc("POST "+fns+"/{FunctionName}/invocations", s.serveInvoke)
	handle("POST /2017-03-31/tags/{Resource}", "TagResource", s.tagResource)
	handle("DELETE /2017-03-31/tags/{Resource}", "UntagResource", s.untagResource)
	handle("GET /2017-03-31/tags/{Resource}", "ListTags", s.listTags)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "UnknownOperationException", "Unknown operation %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// decodeBody reads a JSON request document into v. An empty body is an
// empty document; unknown members are ignored, as AWS does.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return errRequestContent("Could not read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return errRequestContent("Could not parse request body into json: Could not parse payload into json: Unexpected type for field %s", te.Field)
		}
		return errRequestContent("Could not parse request body into json: %v", err)
	}
	return nil
}

// listParams reads Marker and MaxItems (1..10000, default 50).
func listParams(r *http.Request) (marker string, max int, err error) {
	q := r.URL.Query()
	marker = q.Get("Marker")
	max = 50
	if v := q.Get("MaxItems"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return "", 0, errInvalidParam("Invalid value for MaxItems: %s", v)
		}
		if n < 1 || n > 10000 {
			return "", 0, validation("maxItems", v, "Member must have value between 1 and 10000")
		}
		max = n
	}
	return marker, max, nil
}
