package awsproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Principal is who signed a request.
type Principal struct {
	AccessKeyID string
	// ARN is the IAM identity the key is bound to (an on-premises instance's
	// iam_user_arn); empty for the root key.
	ARN string
	// Root keys may act for any identity.
	Root bool
}

// AuthFailure says why a request was not authenticated. Each protocol names
// these failures differently (UnrecognizedClientException on JSON,
// InvalidClientTokenId on Query, InvalidAccessKeyId on S3, ...).
type AuthFailure int

const (
	AuthMissing         AuthFailure = iota // no Authorization header or presigned query
	AuthIncomplete                         // malformed Authorization header or query parameters
	AuthUnknownKey                         // the access key is not known
	AuthBadSignature                       // the signature does not match
	AuthExpired                            // the date is outside the allowed skew, or a presigned URL expired
	AuthBadScope                           // wrong region or service in the credential scope
	AuthPayloadMismatch                    // X-Amz-Content-Sha256 differs from the body's hash
)

// AuthError is returned by a Verifier.
type AuthError struct {
	Failure AuthFailure
	Message string
}

func (e *AuthError) Error() string { return e.Message }

// Verifier checks AWS Signature Version 4. It is implemented by package sigv4.
type Verifier interface {
	// SigningService returns the service name of the request's credential
	// scope, or "" when the request carries no readable signature.
	SigningService(r *http.Request) string
	// Verify checks the signature, given the hex SHA-256 of the payload as the
	// client must have signed it.
	Verify(r *http.Request, payloadHash string) (Principal, error)
}

// Protocol writes errors as one wire protocol does.
type Protocol interface {
	WriteError(w http.ResponseWriter, r *http.Request, err *Error)
	// AuthError names an authentication failure in this protocol's terms.
	AuthError(f AuthFailure, message string) *Error
	// TooLarge is the error for a body over the service's limit.
	TooLarge(limit int64) *Error
}

// Service is one AWS service served by cutover.
type Service struct {
	// Names are the SigV4 signing names that reach this service.
	Names    []string
	Protocol Protocol
	// Handler receives authenticated requests; PrincipalFrom and RequestID
	// read what the router put in the context.
	Handler http.Handler
	// MaxBody is the largest body read (and hashed) before the signature is
	// checked. Zero means the handler streams the body itself and must check
	// the payload against X-Amz-Content-Sha256 (S3 uploads).
	MaxBody int64
	// Claims reports whether an unsigned or unreadable request was meant for
	// this service, so that its error is written in the right protocol.
	Claims func(*http.Request) bool
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// PrincipalFrom returns the signer of the request being served.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// WithPrincipal is for tests and in-process callers that bypass the router.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// RequestID returns the request id the router assigned (x-amzn-RequestId).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Router authenticates AWS requests and dispatches them by signing service.
type Router struct {
	verifier Verifier
	log      *slog.Logger
	byName   map[string]*Service
	services []*Service
	// Fallback serves requests that no AWS service claims (health, metrics,
	// the dashboard, the agent's TLS probe).
	Fallback http.Handler
}

// NewRouter returns a router that checks signatures with v.
func NewRouter(v Verifier, log *slog.Logger) *Router {
	return &Router{verifier: v, log: log, byName: map[string]*Service{}}
}

// Register adds a service. It panics on a duplicate signing name: that is a
// wiring bug, not a runtime condition.
func (rt *Router) Register(s *Service) {
	for _, n := range s.Names {
		if _, dup := rt.byName[n]; dup {
			panic("awsproto: signing name registered twice: " + n)
		}
		rt.byName[n] = s
	}
	rt.services = append(rt.services, s)
}

func (rt *Router) claimant(r *http.Request) *Service {
	for _, s := range rt.services {
		if s.Claims != nil && s.Claims(r) {
			return s
		}
	}
	return nil
}

// NewRequestID returns an id in the form AWS uses for x-amzn-RequestId.
func NewRequestID() string { return uuid.NewString() }

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := NewRequestID()
	ctx := context.WithValue(r.Context(), requestIDKey, reqID)
	r = r.WithContext(ctx)
	w.Header().Set("x-amzn-RequestId", reqID)

	name := rt.verifier.SigningService(r)
	svc := rt.byName[name]
	if svc == nil {
		svc = rt.claimant(r)
	}
	if svc == nil {
		if name == "" && rt.Fallback != nil {
			rt.Fallback.ServeHTTP(w, r)
			return
		}
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	if name == "" {
		rt.writeUnsigned(w, r, svc)
		return
	}
	if rt.byName[name] != svc {
		svc.Protocol.WriteError(w, r, svc.Protocol.AuthError(AuthBadScope,
			"Credential should be scoped to correct service: '"+svc.Names[0]+"'."))
		return
	}

	// Refuse a declared oversized body before reading any of it.
	if svc.MaxBody > 0 && r.ContentLength > svc.MaxBody {
		svc.Protocol.WriteError(w, r, svc.Protocol.TooLarge(svc.MaxBody))
		return
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if svc.MaxBody > 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, svc.MaxBody+1))
		if err != nil {
			rt.log.Debug("reading request body", "err", err, "request_id", reqID)
			svc.Protocol.WriteError(w, r, &Error{Code: "SerializationException", Message: "could not read request body"})
			return
		}
		if int64(len(body)) > svc.MaxBody {
			svc.Protocol.WriteError(w, r, svc.Protocol.TooLarge(svc.MaxBody))
			return
		}
		sum := sha256.Sum256(body)
		computed := hex.EncodeToString(sum[:])
		if payloadHash != "" && payloadHash != "UNSIGNED-PAYLOAD" && !strings.EqualFold(payloadHash, computed) {
			svc.Protocol.WriteError(w, r, svc.Protocol.AuthError(AuthPayloadMismatch,
				"The provided 'x-amz-content-sha256' header does not match what was computed."))
			return
		}
		if payloadHash != "UNSIGNED-PAYLOAD" {
			payloadHash = computed
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	} else if payloadHash == "" {
		payloadHash = "UNSIGNED-PAYLOAD"
	}

	p, err := rt.verifier.Verify(r, payloadHash)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			svc.Protocol.WriteError(w, r, svc.Protocol.AuthError(ae.Failure, ae.Message))
			return
		}
		rt.log.Error("verifying signature", "err", err, "request_id", reqID)
		svc.Protocol.WriteError(w, r, Internal)
		return
	}
	svc.Handler.ServeHTTP(w, r.WithContext(context.WithValue(ctx, principalKey, p)))
}

// writeUnsigned answers a request whose signature could not be read: a
// request that tried to sign gets the verifier's account of what is wrong
// with it (IncompleteSignature...), one that did not gets MissingAuthentication.
func (rt *Router) writeUnsigned(w http.ResponseWriter, r *http.Request, svc *Service) {
	if r.Header.Get("Authorization") != "" || r.URL.Query().Get("X-Amz-Credential") != "" {
		_, err := rt.verifier.Verify(r, "")
		var ae *AuthError
		if errors.As(err, &ae) {
			svc.Protocol.WriteError(w, r, svc.Protocol.AuthError(ae.Failure, ae.Message))
			return
		}
	}
	svc.Protocol.WriteError(w, r, svc.Protocol.AuthError(AuthMissing, "Missing Authentication Token"))
}
