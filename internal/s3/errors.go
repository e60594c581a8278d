package s3

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// s3Error is the XML body S3 answers every failure with. Key and BucketName
// are extra elements S3 adds for some codes (NoSuchKey, NoSuchBucket...),
// which SDKs surface on their typed errors.
type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	Key        string `xml:",omitempty"`
	BucketName string `xml:",omitempty"`
	UploadID   string `xml:"UploadId,omitempty"`
	Resource   string
	RequestID  string `xml:"RequestId"`
	HostID     string `xml:"HostId"`
}

// apiError is an awsproto.Error with S3's extra elements; handlers return
// it so that the codec can write Key and BucketName.
type apiError struct {
	err                   *awsproto.Error
	Key, Bucket, UploadID string
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errf(status int, code, msg string) *awsproto.Error {
	return &awsproto.Error{Code: code, Message: msg, Status: status}
}

// The errors S3 answers with; messages are S3's own text.
func errNoSuchBucket(bucket string) error {
	return &apiError{err: errf(404, "NoSuchBucket", "The specified bucket does not exist"), Bucket: bucket}
}

func errNoSuchKey(key string) error {
	return &apiError{err: errf(404, "NoSuchKey", "The specified key does not exist."), Key: key}
}

func errNoSuchUpload(id string) error {
	return &apiError{err: errf(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."), UploadID: id}
}

func errInvalidArgument(msg string) error { return errf(400, "InvalidArgument", msg) }
func errInvalidRequest(msg string) error  { return errf(400, "InvalidRequest", msg) }

var (
	errMalformedXML = errf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	errBadDigest    = errf(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	errInvalidMD5   = errf(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
	errSHAMismatch  = errf(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errIncomplete   = errf(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
	errNoLength     = errf(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	errTooLarge     = errf(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	errChunkSig     = errf(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errPrecondition = errf(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	errNotModified  = errf(304, "NotModified", "Not Modified")
	errNotImpl      = errf(501, "NotImplemented", "A header or query you provided implies functionality that is not implemented.")
	errMethod       = errf(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
)

// protocol implements awsproto.Protocol with S3's XML errors.
type protocol struct{ s *Service }

var _ awsproto.Protocol = protocol{}

func (p protocol) WriteError(w http.ResponseWriter, r *http.Request, e *awsproto.Error) {
	p.s.writeErr(w, r, e)
}

// AuthError names failures the way S3 does: S3 has no
// MissingAuthenticationToken; an anonymous request to a private resource
// is simply denied.
func (protocol) AuthError(f awsproto.AuthFailure, msg string) *awsproto.Error {
	switch f {
	case awsproto.AuthMissing:
		return errf(403, "AccessDenied", "Access Denied")
	case awsproto.AuthUnknownKey:
		return errf(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	case awsproto.AuthBadSignature:
		return errf(403, "SignatureDoesNotMatch", msg)
	case awsproto.AuthExpired:
		if strings.Contains(msg, "expired") && !strings.HasPrefix(msg, "Signature") {
			// A presigned URL past its X-Amz-Expires.
			return errf(403, "AccessDenied", "Request has expired")
		}
		return errf(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
	case awsproto.AuthPayloadMismatch:
		return errSHAMismatch
	default: // AuthIncomplete, AuthBadScope
		return errf(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; "+msg)
	}
}

func (protocol) TooLarge(limit int64) *awsproto.Error { return errTooLarge }

// writeErr writes any error as S3 XML; errors that are not client errors
// are logged and answered with InternalError.
func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	body := s3Error{Resource: r.URL.Path, RequestID: awsproto.RequestID(r.Context())}
	var ae *apiError
	e := awsproto.AsError(err)
	if errors.As(err, &ae) {
		body.Key, body.BucketName, body.UploadID = ae.Key, ae.Bucket, ae.UploadID
	}
	if e == nil || e == awsproto.Internal {
		s.log.Error("s3 request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", body.RequestID)
		e = errf(500, "InternalError", "We encountered an internal error. Please try again.")
	}
	body.Code, body.Message = e.Code, e.Message
	status := e.HTTPStatus()
	h := w.Header()
	h.Set("x-amz-request-id", body.RequestID)
	// A request whose body was not read to the end must not leave the
	// connection in an unknown state; Go closes it, which is what S3 does
	// for refused uploads too.
	if status == http.StatusNotModified || r.Method == http.MethodHead {
		// HEAD and 304 carry no body; clients read the code from the status.
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	out, _ := xml.Marshal(body)
	w.Write([]byte(xml.Header))
	w.Write(out)
}
