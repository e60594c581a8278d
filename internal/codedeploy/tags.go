package codedeploy

import (
	"context"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// taggable is a resource named by a CodeDeploy ARN.
type taggable struct {
	kind, key string
	// missing is the error for a resource that does not exist.
	missing error
}

// resolveArn maps a resource ARN to its record, or answers the AWS error:
// ResourceArnRequired, InvalidArn for a malformed ARN or one of another
// region or account, ArnNotSupported for ARNs of other services or of
// resources that cannot be tagged.
func (s *Service) resolveArn(arn *string) (taggable, error) {
	if arn == nil || *arn == "" {
		return taggable{}, awsproto.Errorf("ResourceArnRequiredException", "A resource ARN is required.")
	}
	a := *arn
	parts := strings.SplitN(a, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || len(a) > 1011 {
		return taggable{}, awsproto.Errorf("InvalidArnException", "%s is not a valid ARN.", a)
	}
	if parts[2] != "codedeploy" {
		return taggable{}, awsproto.Errorf("ArnNotSupportedException", "The ARN %s is not supported: only CodeDeploy applications, deployment groups and deployment configurations can be tagged.", a)
	}
	if parts[3] != s.region || parts[4] != s.account {
		return taggable{}, awsproto.Errorf("InvalidArnException", "The ARN %s is not in this region (%s) and account (%s).", a, s.region, s.account)
	}
	typ, name, ok := strings.Cut(parts[5], ":")
	if !ok {
		return taggable{}, awsproto.Errorf("ArnNotSupportedException", "The ARN %s is not supported: only CodeDeploy applications, deployment groups and deployment configurations can be tagged.", a)
	}
	invalid := awsproto.Errorf("InvalidArnException", "The ARN %s does not name a valid %s.", a, typ)
	switch typ {
	case "application":
		if !nameRe.MatchString(name) {
			return taggable{}, invalid
		}
		return taggable{kindApplication, name, awsproto.Errorf("ApplicationDoesNotExistException", "No application found for name: %s", name)}, nil
	case "deploymentgroup":
		app, group, ok := strings.Cut(name, "/")
		if !ok || !nameRe.MatchString(app) || !nameRe.MatchString(group) {
			return taggable{}, invalid
		}
		return taggable{kindGroup, groupKey(app, group), awsproto.Errorf("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s", group)}, nil
	case "deploymentconfig":
		if !nameRe.MatchString(name) {
			return taggable{}, invalid
		}
		if strings.HasPrefix(name, reservedConfigPrefix) {
			return taggable{}, awsproto.Errorf("ArnNotSupportedException", "The predefined deployment configuration %s cannot be tagged.", name)
		}
		return taggable{kindConfig, name, awsproto.Errorf("DeploymentConfigDoesNotExistException", "No deployment configuration found for name: %s", name)}, nil
	}
	return taggable{}, awsproto.Errorf("ArnNotSupportedException", "The ARN %s is not supported: only CodeDeploy applications, deployment groups and deployment configurations can be tagged.", a)
}

// editResourceTags applies edit to the tags of the resource at arn.
func (s *Service) editResourceTags(ctx context.Context, t taggable, edit func([]Tag) ([]Tag, error)) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		if t.kind == kindGroup {
			// A group ARN names an application first; AWS reports a
			// missing application before a missing group.
			app, _, _ := strings.Cut(t.key, "/")
			if _, _, err := loadApp(tx, app); err != nil {
				return err
			}
		}
		switch t.kind {
		case kindApplication:
			var v Application
			return editTagsOf(tx, t, &v, &v.Tags, edit)
		case kindGroup:
			var v DeploymentGroup
			return editTagsOf(tx, t, &v, &v.Tags, edit)
		default:
			var v DeploymentConfig
			return editTagsOf(tx, t, &v, &v.Tags, edit)
		}
	})
}

func editTagsOf(tx store.Tx, t taggable, v any, tags *[]Tag, edit func([]Tag) ([]Tag, error)) error {
	rec, err := getJSON(tx, t.kind, t.key, v)
	if isNotFound(err) {
		return t.missing
	}
	if err != nil {
		return err
	}
	next, err := edit(*tags)
	if err != nil {
		return err
	}
	if next == nil {
		return nil // read only
	}
	*tags = next
	return putJSON(tx, rec, v)
}

type tagResourceInput struct {
	ResourceArn *string `json:"ResourceArn"`
	Tags        []Tag   `json:"Tags"`
}

func (s *Service) tagResource(ctx context.Context, in *tagResourceInput) (*empty, error) {
	t, err := s.resolveArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, awsproto.Errorf("TagRequiredException", "At least one tag is required.")
	}
	if err := checkTags(in.Tags, "InvalidTagsToAddException", maxResourceTags); err != nil {
		return nil, err
	}
	err = s.editResourceTags(ctx, t, func(have []Tag) ([]Tag, error) {
		next := mergeTags(have, in.Tags)
		if len(next) > maxResourceTags {
			return nil, awsproto.Errorf("InvalidTagsToAddException", "A resource can have at most %d tags; this would make %d.", maxResourceTags, len(next))
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "resource tagged", "arn", *in.ResourceArn)
	return &empty{}, nil
}

type untagResourceInput struct {
	ResourceArn *string   `json:"ResourceArn"`
	TagKeys     []*string `json:"TagKeys"`
}

func (s *Service) untagResource(ctx context.Context, in *untagResourceInput) (*empty, error) {
	t, err := s.resolveArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, awsproto.Errorf("TagRequiredException", "At least one tag key is required.")
	}
	keys := make([]string, 0, len(in.TagKeys))
	for _, k := range in.TagKeys {
		if err := checkTag(Tag{Key: k}, "InvalidTagsToAddException"); err != nil {
			return nil, err
		}
		keys = append(keys, *k)
	}
	err = s.editResourceTags(ctx, t, func(have []Tag) ([]Tag, error) {
		next := slices.DeleteFunc(slices.Clone(have), func(h Tag) bool { return slices.Contains(keys, str(h.Key)) })
		if next == nil {
			next = []Tag{}
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "resource untagged", "arn", *in.ResourceArn)
	return &empty{}, nil
}

type listTagsForResourceInput struct {
	ResourceArn *string `json:"ResourceArn"`
	NextToken   *string `json:"NextToken"`
}

type listTagsForResourceOutput struct {
	Tags      []Tag  `json:"Tags"`
	NextToken string `json:"NextToken,omitempty"`
}

// listTagsForResource answers all tags in one page: a resource has at most
// 50, well under a page.
func (s *Service) listTagsForResource(ctx context.Context, in *listTagsForResourceInput) (*listTagsForResourceOutput, error) {
	t, err := s.resolveArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	out := &listTagsForResourceOutput{Tags: []Tag{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if t.kind == kindGroup {
			app, _, _ := strings.Cut(t.key, "/")
			if _, _, err := loadApp(tx, app); err != nil {
				return err
			}
		}
		read := func(have []Tag) ([]Tag, error) {
			out.Tags = append(out.Tags, have...)
			return nil, nil
		}
		switch t.kind {
		case kindApplication:
			var v Application
			return editTagsOf(tx, t, &v, &v.Tags, read)
		case kindGroup:
			var v DeploymentGroup
			return editTagsOf(tx, t, &v, &v.Tags, read)
		default:
			var v DeploymentConfig
			return editTagsOf(tx, t, &v, &v.Tags, read)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GitHub connections are made through the AWS console's OAuth flow, which
// cutover does not have, so there are never any tokens.

type listGitHubAccountTokenNamesOutput struct {
	TokenNameList []string `json:"tokenNameList"`
	NextToken     string   `json:"nextToken,omitempty"`
}

func (s *Service) listGitHubAccountTokenNames(ctx context.Context, in *nextTokenInput) (*listGitHubAccountTokenNamesOutput, error) {
	if in.NextToken != nil && *in.NextToken != "" {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", *in.NextToken)
	}
	return &listGitHubAccountTokenNamesOutput{TokenNameList: []string{}}, nil
}

type deleteGitHubAccountTokenInput struct {
	TokenName *string `json:"tokenName"`
}

type deleteGitHubAccountTokenOutput struct {
	TokenName string `json:"tokenName,omitempty"`
}

func (s *Service) deleteGitHubAccountToken(ctx context.Context, in *deleteGitHubAccountTokenInput) (*deleteGitHubAccountTokenOutput, error) {
	if in.TokenName == nil || *in.TokenName == "" {
		return nil, awsproto.Errorf("GitHubAccountTokenNameRequiredException", "A GitHub account connection name is required.")
	}
	if !nameRe.MatchString(*in.TokenName) {
		return nil, awsproto.Errorf("InvalidGitHubAccountTokenNameException", "GitHub account connection name %q is invalid.", *in.TokenName)
	}
	return nil, awsproto.Errorf("GitHubAccountTokenDoesNotExistException", "No GitHub account connection exists with the name %s.", *in.TokenName)
}

type deleteResourcesByExternalIDInput struct {
	ExternalID *string `json:"externalId"`
}

// deleteResourcesByExternalID is for CloudFormation-created resources;
// cutover creates none, so there is never anything to delete.
func (s *Service) deleteResourcesByExternalID(ctx context.Context, in *deleteResourcesByExternalIDInput) (*empty, error) {
	return &empty{}, nil
}
