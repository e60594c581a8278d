package appspec

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Hook is one ECS or Lambda lifecycle hook: the event and the Lambda
// function to invoke in it. As a cutover extension Target may instead be an
// http:// or https:// URL (IsURL), which cutover calls with the same payload
// a hook function gets; real CodeDeploy accepts only functions.
type Hook struct {
	Event  string
	Target string
	IsURL  bool
}

// functionNameRE is the FunctionName pattern of Lambda's Invoke API: a name,
// a partial ARN (account:function:name) or a full ARN, each with an optional
// version or alias qualifier.
var functionNameRE = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)

func isURLTarget(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// checkHookTarget validates a hook's function name/ARN or URL.
func checkHookTarget(s string) error {
	if s == "" {
		return errors.New("must name a Lambda function (or, in cutover, an http(s) URL)")
	}
	if isURLTarget(s) {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("%q is not a valid http(s) URL", s)
		}
		return nil
	}
	if len(s) > 170 || !functionNameRE.MatchString(s) {
		return fmt.Errorf("%q is not a Lambda function name, ARN or qualified name (or an http(s) URL)", s)
	}
	return nil
}

// checkHooks validates parsed hooks: known events, no event twice, valid
// targets.
func checkHooks(hooks []Hook, allowed []string, platform string) error {
	seen := map[string]bool{}
	for i, h := range hooks {
		p := indexPath("Hooks", i)
		if !slices.Contains(allowed, h.Event) {
			return atPath(p, unknownHookEvent(h.Event, allowed, platform))
		}
		if seen[h.Event] {
			return atPath(p+"."+h.Event, fmt.Errorf("%s has more than one hook; CodeDeploy runs one function per event", h.Event))
		}
		seen[h.Event] = true
		if err := checkHookTarget(h.Target); err != nil {
			return atPath(p+"."+h.Event, err)
		}
		if h.IsURL != isURLTarget(h.Target) {
			return atPath(p+"."+h.Event, errors.New("IsURL does not match the target"))
		}
	}
	return nil
}

func unknownHookEvent(event string, allowed []string, platform string) error {
	return fmt.Errorf("%q is not a hook event of %s deployments%s; allowed: %s",
		event, platform, suggest(event, allowed), strings.Join(allowed, ", "))
}

// parseFunctionHooks reads the ECS/Lambda Hooks section: a list of
// single-key mappings, event → function.
func parseFunctionHooks(n *yaml.Node, path string, allowed []string, platform string) ([]Hook, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "expected a list of single-key mappings (- BeforeAllowTraffic: MyFunction), found %s", describe(n))
	}
	var hooks []Hook
	first := map[string]int{}
	for i, item := range n.Content {
		ip := indexPath(path, i)
		fs, err := fields(item, ip, false)
		if err != nil {
			return nil, err
		}
		if len(fs) != 1 {
			return nil, errAt(item, ip, "each hook entry must be one event: function pair, found %d keys", len(fs))
		}
		f := fs[0]
		if !slices.Contains(allowed, f.key) {
			return nil, locate(f.kn, ip, unknownHookEvent(f.key, allowed, platform))
		}
		if line, dup := first[f.key]; dup {
			return nil, errAt(f.kn, ip+"."+f.key, "%s has more than one hook (first at line %d); CodeDeploy runs one function per event", f.key, line)
		}
		first[f.key] = f.kn.Line
		target, err := text(f.val, ip+"."+f.key)
		if err != nil {
			return nil, err
		}
		target = strings.TrimSpace(target)
		if err := checkHookTarget(target); err != nil {
			return nil, locate(f.val, ip+"."+f.key, err)
		}
		hooks = append(hooks, Hook{Event: f.key, Target: target, IsURL: isURLTarget(target)})
	}
	return hooks, nil
}

// findHook returns the hook for event.
func findHook(hooks []Hook, event string) (Hook, bool) {
	for _, h := range hooks {
		if h.Event == event {
			return h, true
		}
	}
	return Hook{}, false
}

// versionNode checks the ECS/Lambda version. The user guide's YAML and JSON
// examples write the number 0.0, and AWS also accepts the string "0.0": the
// terraform-aws-lambda deploy module sends {"version":"0.0"} in
// appSpecContent and its deployments succeed (terraform-aws-modules/
// terraform-aws-lambda#82). So both are accepted here — unlike the Server
// AppSpec, whose agent refuses the string.
func versionNode(n *yaml.Node, path string) error {
	if isZeroNumber(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.TrimSpace(n.Value) == "0.0" {
		return nil
	}
	return errAt(n, path, "must be 0.0, the only AppSpec version; found %s", describe(n))
}

// resourceNode reads the one entry of Resources: "- LogicalName: {Type, Properties}".
// It returns the logical name, the Type text and the Properties mapping.
func resourceNode(n *yaml.Node, path, wantType string) (name string, props *yaml.Node, ppath string, err error) {
	if isNull(n) {
		return "", nil, "", errAt(n, path, "must list the %s to deploy", wantType)
	}
	if n.Kind != yaml.SequenceNode {
		return "", nil, "", errAt(n, path, "expected a list with one resource, found %s", describe(n))
	}
	if len(n.Content) != 1 {
		return "", nil, "", errAt(n, path, "must list exactly one resource, found %d", len(n.Content))
	}
	item := n.Content[0]
	ip := indexPath(path, 0)
	fs, err := fields(item, ip, false)
	if err != nil {
		return "", nil, "", err
	}
	if len(fs) != 1 {
		return "", nil, "", errAt(item, ip, "a resource is one mapping from its logical name to {Type, Properties}, found %d keys", len(fs))
	}
	name = fs[0].key
	rp := fs[0].path
	rfs, err := fields(fs[0].val, rp, true)
	if err != nil {
		return "", nil, "", err
	}
	var typ *field
	for i := range rfs {
		f := &rfs[i]
		switch strings.ToLower(f.key) {
		case "type":
			typ = f
		case "properties":
			props, ppath = f.val, f.path
		default:
			return "", nil, "", errAt(f.kn, f.path, "unknown key; a resource has only Type and Properties")
		}
	}
	if typ == nil {
		return "", nil, "", errAt(fs[0].val, rp, "missing Type (%s)", wantType)
	}
	t, err := text(typ.val, typ.path)
	if err != nil {
		return "", nil, "", err
	}
	if t != wantType {
		hint := ""
		switch {
		case strings.EqualFold(t, wantType):
			hint = fmt.Sprintf(" (did you mean %q?)", wantType)
		case t == typeECSService:
			hint = "; this is an ECS AppSpec, but the deployment is for Lambda"
		case t == typeLambdaFunction:
			hint = "; this is a Lambda AppSpec, but the deployment is for ECS"
		}
		return "", nil, "", errAt(typ.val, typ.path, "must be %s, found %q%s", wantType, t, hint)
	}
	if props == nil {
		return "", nil, "", errAt(fs[0].val, rp, "missing Properties")
	}
	return name, props, ppath, nil
}

const (
	typeECSService     = "AWS::ECS::Service"
	typeLambdaFunction = "AWS::Lambda::Function"
)
