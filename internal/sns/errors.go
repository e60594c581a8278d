package sns

import (
	"fmt"
	"net/http"

	"github.com/cutover/cutover/internal/awsproto"
)

// SNS's Query error codes and statuses, as its model declares them.

func invalidParam(format string, args ...any) error {
	return awsproto.Errorf("InvalidParameter", "Invalid parameter: "+format, args...)
}

// invalidValue is ParameterValueInvalid, SNS's code for bad message
// attributes.
func invalidValue(format string, args ...any) error {
	return awsproto.Errorf("ParameterValueInvalid", format, args...)
}

func notFound(what string) error {
	return &awsproto.Error{Code: "NotFound", Message: what + " does not exist", Status: http.StatusNotFound}
}

func resourceNotFound() error {
	return &awsproto.Error{Code: "ResourceNotFound", Message: "Resource does not exist", Status: http.StatusNotFound}
}

func authorizationError(format string, args ...any) error {
	return &awsproto.Error{Code: "AuthorizationError", Message: fmt.Sprintf(format, args...), Status: http.StatusForbidden}
}

func tagLimit() error {
	return awsproto.Errorf("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
}

func topicLimit() error {
	return &awsproto.Error{Code: "TopicLimitExceeded", Message: "Topic already exists or the topic quota was reached", Status: http.StatusForbidden}
}

func subscriptionLimit() error {
	return &awsproto.Error{Code: "SubscriptionLimitExceeded", Message: "Subscription quota of the topic was reached", Status: http.StatusForbidden}
}

// truncate keeps hostile input from filling an error message.
func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
