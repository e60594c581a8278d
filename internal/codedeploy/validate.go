package codedeploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
)

// nameRe is the character set AWS allows in application, deployment group
// and deployment configuration names.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9._+=,@-]{1,100}$`)

// checkName applies the rules shared by application, group and config
// names: required, 1..100 characters from nameRe.
func checkName(v *string, what, requiredExc, invalidExc string) (string, error) {
	if v == nil || *v == "" {
		return "", awsproto.Errorf(requiredExc, "%s is required.", what)
	}
	if len(*v) > 100 {
		return "", awsproto.Errorf(invalidExc, "%s %q is too long: the maximum length is 100 characters.", what, *v)
	}
	if !nameRe.MatchString(*v) {
		return "", awsproto.Errorf(invalidExc, "%s %q is invalid: it may only contain letters, digits and the characters . _ + = , @ -.", what, *v)
	}
	return *v, nil
}

func appName(v *string) (string, error) {
	return checkName(v, "Application name", "ApplicationNameRequiredException", "InvalidApplicationNameException")
}

func groupName(v *string) (string, error) {
	return checkName(v, "Deployment group name", "DeploymentGroupNameRequiredException", "InvalidDeploymentGroupNameException")
}

func configName(v *string) (string, error) {
	return checkName(v, "Deployment config name", "DeploymentConfigNameRequiredException", "InvalidDeploymentConfigNameException")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// oneOf reports whether v is one of the enum's wire values.
func oneOf(v string, values ...string) bool { return slices.Contains(values, v) }

var (
	computePlatforms = []string{PlatformServer, PlatformLambda, PlatformECS}
	tagFilterTypes   = []string{"KEY_ONLY", "VALUE_ONLY", "KEY_AND_VALUE"}
)

// checkTags validates resource tags: Key 1..128, Value ≤256, at most max.
func checkTags(tags []Tag, exc string, max int) error {
	if len(tags) > max {
		return awsproto.Errorf(exc, "A resource can have at most %d tags; %d were given.", max, len(tags))
	}
	for _, t := range tags {
		if err := checkTag(t, exc); err != nil {
			return err
		}
	}
	return nil
}

func checkTag(t Tag, exc string) error {
	k := str(t.Key)
	if k == "" {
		return awsproto.Errorf(exc, "A tag key is required.")
	}
	if len(k) > 128 {
		return awsproto.Errorf(exc, "Tag key %q is longer than 128 characters.", k)
	}
	if len(str(t.Value)) > 256 {
		return awsproto.Errorf(exc, "The value of tag %q is longer than 256 characters.", k)
	}
	return nil
}

// mergeTags adds or replaces tags by key, keeping the existing order.
func mergeTags(have, add []Tag) []Tag {
	out := slices.Clone(have)
	for _, t := range add {
		i := slices.IndexFunc(out, func(h Tag) bool { return str(h.Key) == str(t.Key) })
		if i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}

// Paging. A nextToken is awsproto's signed opaque token carrying where the
// next page starts; its scope names the listing so that a token from one
// list (or one application) is refused by another.
type pageToken struct {
	After  string `json:"a,omitempty"`
	Offset int    `json:"o,omitempty"`
}

func encodeToken(scope string, t pageToken) string {
	return awsproto.TokenScope("codedeploy/" + scope).Encode(t)
}

func decodeToken(scope string, tok *string) (pageToken, error) {
	var t pageToken
	if tok == nil || *tok == "" {
		return t, nil
	}
	err := awsproto.TokenScope("codedeploy/"+scope).Decode(*tok, &t)
	if err != nil || t.Offset < 0 || (t.After == "" && t.Offset == 0) {
		return pageToken{}, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", *tok)
	}
	return t, nil
}

// arnPrefix is the start of every CodeDeploy ARN this service hands out.
func (s *Service) arnPrefix() string {
	return fmt.Sprintf("arn:aws:codedeploy:%s:%s:", s.region, s.account)
}

func (s *Service) applicationArn(app string) string { return s.arnPrefix() + "application:" + app }
func (s *Service) groupArn(app, group string) string {
	return s.arnPrefix() + "deploymentgroup:" + app + "/" + group
}
func (s *Service) configArn(name string) string   { return s.arnPrefix() + "deploymentconfig:" + name }
func (s *Service) instanceArn(name string) string { return s.arnPrefix() + "instance/" + name }

// roleArnRe is an IAM role ARN in any partition.
var roleArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9/+=,.@_-]{1,512}$`)

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }
