// Package awsproto holds what every AWS wire protocol served by cutover
// shares: the application error that carries an AWS exception name, epoch
// timestamps, ARNs, paging tokens and the router that authenticates a request
// and hands it to the service it was signed for. Each protocol's codec lives
// in a subpackage (jsonrpc, query, ...) and plugs into the router beside the
// others.
package awsproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is an error a client is meant to see. Code is the AWS exception or
// error code exactly as AWS spells it on the wire for that service
// ("ApplicationDoesNotExistException", "ValidationError", ...). Any other
// error reaching a protocol codec is reported as an internal failure and its
// text goes only to the log.
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status; zero means 400, the status AWS uses for
	// every modelled client error.
	Status int
	// Sender says whose fault it is, for protocols that carry it (Query's
	// <Type>Sender</Type>); false means Sender, true means Receiver.
	Receiver bool
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// HTTPStatus is the status to answer with.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Errorf builds a client error with AWS's exception name and a message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the client-facing error inside err, or nil when err is an
// internal failure that must not be shown to the client.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Internal is what a client sees for any failure that is not its own; the
// cause is logged by the codec, never sent.
var Internal = &Error{Code: "InternalFailure", Message: "An internal error occurred. Please try again.", Status: http.StatusInternalServerError, Receiver: true}

// ClientError is what a codec answers when operation op failed with err:
// the application error inside it, or — for any other failure — Internal,
// after logging the cause, which never reaches the client.
func ClientError(ctx context.Context, log *slog.Logger, op string, err error) *Error {
	if e := AsError(err); e != nil {
		return e
	}
	log.ErrorContext(ctx, "operation failed", "operation", op, "err", err, "request_id", RequestID(ctx))
	return Internal
}
