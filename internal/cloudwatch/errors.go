package cloudwatch

import (
	"net/http"

	"github.com/cutover/cutover/internal/awsproto"
)

// Errors are built with the Query error codes (the awsQueryError codes of
// the model), because that is what every CloudWatch client finally reports
// as the error code: Query carries it in <Code>, and the JSON and CBOR
// codecs, which name the error shape in __type, add it in
// x-amzn-query-error (the model is awsQueryCompatible).

// shapeOf maps a Query code to the error shape's name for __type.
var shapeOf = map[string]string{
	"InvalidParameterValue":       "InvalidParameterValueException",
	"MissingParameter":            "MissingRequiredParameterException",
	"InvalidParameterCombination": "InvalidParameterCombinationException",
	"ResourceNotFound":            "ResourceNotFound",
	"InvalidNextToken":            "InvalidNextToken",
	"LimitExceeded":               "LimitExceededFault",
	"InvalidFormat":               "InvalidFormatFault",
	"InternalServiceError":        "InternalServiceFault",
}

// queryCodeOf is shapeOf reversed, for the x-amzn-query-error header.
var queryCodeOf = func() map[string]string {
	m := make(map[string]string, len(shapeOf))
	for q, s := range shapeOf {
		m[s] = q
	}
	return m
}()

func invalidParam(format string, args ...any) error {
	return awsproto.Errorf("InvalidParameterValue", format, args...)
}

func missingParam(name string) error {
	return awsproto.Errorf("MissingParameter", "The parameter %s is required.", name)
}

func invalidCombination(format string, args ...any) error {
	return awsproto.Errorf("InvalidParameterCombination", format, args...)
}

func notFound(format string, args ...any) error {
	e := awsproto.Errorf("ResourceNotFound", format, args...)
	e.Status = http.StatusNotFound
	return e
}

func invalidToken() error {
	return awsproto.Errorf("InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
}

func limitExceeded(format string, args ...any) error {
	return awsproto.Errorf("LimitExceeded", format, args...)
}

func invalidFormat(format string, args ...any) error {
	return awsproto.Errorf("InvalidFormat", format, args...)
}

// toShape rewrites a client error for the JSON and CBOR protocols; the
// Query code stays available through queryCodeOf.
func toShape(err error) error {
	e := awsproto.AsError(err)
	if e == nil {
		return err
	}
	if s, ok := shapeOf[e.Code]; ok {
		c := *e
		c.Code = s
		return &c
	}
	return err
}
