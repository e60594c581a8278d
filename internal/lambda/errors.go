package lambda

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// The exceptions Lambda answers with, at the statuses its model gives them.
func errf(status int, code, format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func errInvalidParam(format string, args ...any) *awsproto.Error {
	return errf(http.StatusBadRequest, "InvalidParameterValueException", format, args...)
}

func errNotFound(format string, args ...any) *awsproto.Error {
	return errf(http.StatusNotFound, "ResourceNotFoundException", format, args...)
}

func errConflict(format string, args ...any) *awsproto.Error {
	return errf(http.StatusConflict, "ResourceConflictException", format, args...)
}

func errPrecondition() *awsproto.Error {
	return errf(http.StatusPreconditionFailed, "PreconditionFailedException",
		"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}

func errTooLarge(limit int, op string) *awsproto.Error {
	return errf(http.StatusRequestEntityTooLarge, "RequestTooLargeException",
		"Request must be smaller than %d bytes for the %s operation", limit, op)
}

func errRequestContent(format string, args ...any) *awsproto.Error {
	return errf(http.StatusBadRequest, "InvalidRequestContentException", format, args...)
}

// validation is AWS's modelled-constraint failure ("1 validation error
// detected: ..."), which Lambda sends without a Type.
func validation(field, value, constraint string) *awsproto.Error {
	return errf(http.StatusBadRequest, "ValidationException",
		"1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", quoteValue(value), field, constraint)
}

func quoteValue(v string) string {
	if v == "null" {
		return v
	}
	const max = 256
	if len(v) > max {
		v = v[:max] + "..."
	}
	return "'" + v + "'"
}

// errorMembers maps an exception to the casing of its message member in
// Lambda's model; SDKs decode the member by that exact name.
var capitalMessage = map[string]bool{
	"ResourceNotFoundException": true,
	"ServiceException":          true,
	"InvalidZipFileException":   true,
	"InvalidRuntimeException":   true,
}

// errorBody is what Lambda sends: {"Type":"User","message":...} for the
// modelled exceptions, {"message":...} for validation and auth failures.
func errorBody(e *awsproto.Error) map[string]string {
	body := map[string]string{}
	key := "message"
	if capitalMessage[e.Code] {
		key = "Message"
	}
	body[key] = e.Message
	if strings.HasSuffix(e.Code, "Exception") && e.Code != "ValidationException" && !authCodes[e.Code] {
		if e.HTTPStatus() >= 500 {
			body["Type"] = "Service"
		} else {
			body["Type"] = "User"
		}
	}
	return body
}

var authCodes = map[string]bool{
	"MissingAuthenticationTokenException": true,
	"IncompleteSignatureException":        true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
}
