package lambda

import (
	"net/http"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

const taggableResourcePattern = `arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|...)`

// taggedFunction returns the function a tag operation's resource ARN names.
// Only functions carry tags; versions and aliases do not.
func (s *Service) taggedFunction(raw string) (string, error) {
	bad := validation("resource", raw, "Member must satisfy regular expression pattern: "+taggableResourcePattern)
	a, err := awsproto.ParseARN(raw)
	if err != nil || a.Service != "lambda" || !regionRe.MatchString(a.Region) || !accountRe.MatchString(a.AccountID) {
		return "", bad
	}
	rest, ok := strings.CutPrefix(a.Resource, "function:")
	if !ok {
		return "", bad
	}
	name, qual, qualified := strings.Cut(rest, ":")
	if !bareName.MatchString(name) {
		return "", bad
	}
	if qualified && qual != "" {
		return "", errInvalidParam("Tags on function aliases and versions are not supported. Please specify a function ARN.")
	}
	if a.Region != s.region || a.AccountID != s.account {
		return "", errNotFound("Function not found: %s", raw)
	}
	return name, nil
}

type tagResourceInput struct {
	Tags map[string]string `json:"Tags"`
}

func (s *Service) changeTags(r *http.Request, change func(tags map[string]string) error) error {
	name, err := s.taggedFunction(r.PathValue("Resource"))
	if err != nil {
		return err
	}
	return s.update(r.Context(), func(tx store.Tx) error {
		fn, rec, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		if fn.Tags == nil {
			fn.Tags = map[string]string{}
		}
		if err := change(fn.Tags); err != nil {
			return err
		}
		if len(fn.Tags) == 0 {
			fn.Tags = nil
		}
		return store.PutJSON(tx, rec, fn)
	})
}

func (s *Service) tagResource(r *http.Request) (int, any, error) {
	var in tagResourceInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Tags == nil {
		return 0, nil, validation("tags", "null", "Member must not be null")
	}
	if err := validateTags(in.Tags); err != nil {
		return 0, nil, err
	}
	err := s.changeTags(r, func(tags map[string]string) error {
		for k, v := range in.Tags {
			tags[k] = v
		}
		return validateTags(tags)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Service) untagResource(r *http.Request) (int, any, error) {
	keys := r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		return 0, nil, validation("tagKeys", "null", "Member must not be null")
	}
	err := s.changeTags(r, func(tags map[string]string) error {
		for _, k := range keys {
			delete(tags, k)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

type listTagsOutput struct {
	Tags map[string]string `json:"Tags"`
}

func (s *Service) listTags(r *http.Request) (int, any, error) {
	name, err := s.taggedFunction(r.PathValue("Resource"))
	if err != nil {
		return 0, nil, err
	}
	var fn *functionRec
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		fn, _, err = s.getFunctionRec(tx, name)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out := listTagsOutput{Tags: fn.Tags}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return http.StatusOK, out, nil
}
