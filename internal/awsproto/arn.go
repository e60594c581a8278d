package awsproto

import (
	"errors"
	"strings"
)

// ARN is an Amazon Resource Name:
// arn:partition:service:region:account-id:resource. The resource keeps
// whatever ':' and '/' it contains ("deploymentgroup:app/group",
// "function:name:alias").
type ARN struct {
	Partition string
	Service   string
	Region    string
	AccountID string
	Resource  string
}

// ErrInvalidARN is wrapped by every ParseARN error.
var ErrInvalidARN = errors.New("invalid ARN")

// ParseARN splits an ARN. Region and account may be empty (IAM, S3);
// partition, service and resource may not.
func ParseARN(s string) (ARN, error) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return ARN{}, arnErr("does not start with \"arn:\"", s)
	}
	parts := strings.SplitN(rest, ":", 5)
	if len(parts) != 5 {
		return ARN{}, arnErr("has fewer than 6 ':'-separated sections", s)
	}
	a := ARN{Partition: parts[0], Service: parts[1], Region: parts[2], AccountID: parts[3], Resource: parts[4]}
	switch {
	case a.Partition == "":
		return ARN{}, arnErr("has no partition", s)
	case a.Service == "":
		return ARN{}, arnErr("has no service", s)
	case a.Resource == "":
		return ARN{}, arnErr("has no resource", s)
	}
	return a, nil
}

func arnErr(why, s string) error {
	return &arnError{why: why, arn: s}
}

type arnError struct{ why, arn string }

func (e *arnError) Error() string { return "invalid ARN " + quoteShort(e.arn) + ": " + e.why }
func (e *arnError) Unwrap() error { return ErrInvalidARN }

// quoteShort keeps error texts bounded whatever a client sends.
func quoteShort(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "\"" + s + "\""
}

func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.AccountID + ":" + a.Resource
}
