package appspec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Lambda is a parsed Lambda AppSpec.
type Lambda struct {
	Function LambdaFunction
	Hooks    []Hook
}

// LambdaFunction is the one AWS::Lambda::Function resource. Versions are
// kept as Lambda spells them, decimal strings ("1").
type LambdaFunction struct {
	LogicalName    string
	Name           string // function name, partial ARN or ARN
	Alias          string
	CurrentVersion string
	TargetVersion  string
}

// Hook returns the hook for event, if the AppSpec has one.
func (l *Lambda) Hook(event string) (Hook, bool) { return findHook(l.Hooks, event) }

// ErrSameVersion is returned by CheckVersions for a traffic-shifting
// deployment whose CurrentVersion equals its TargetVersion.
var ErrSameVersion = errors.New("CurrentVersion and TargetVersion are the same; a canary or linear deployment needs a different target version")

// CheckVersions applies the one rule that depends on the deployment
// configuration: CodeDeploy fails a canary or linear deployment whose
// current and target versions are equal ("the AppSpec file ... has an
// invalid configuration"), but an all-at-once deployment of the same
// version succeeds (terraform-aws-modules/terraform-aws-lambda#82 and #85).
// So ParseLambda accepts equal versions and the engine calls this with the
// configuration in hand.
func (l *Lambda) CheckVersions(allAtOnce bool) error {
	if !allAtOnce && l.Function.CurrentVersion == l.Function.TargetVersion {
		return &Error{Path: "Resources[0].Properties.TargetVersion", Msg: ErrSameVersion.Error()}
	}
	return nil
}

// Lambda's alias name pattern (and it may not be all digits, which would be
// a version).
var aliasRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func checkFunctionName(s string) error {
	if len(s) > 140 || !functionNameRE.MatchString(s) {
		return fmt.Errorf("%q is not a Lambda function name or ARN", s)
	}
	return nil
}

func checkAlias(s string) error {
	if !aliasRE.MatchString(s) || isDigits(s) {
		return fmt.Errorf("%q is not a Lambda alias name (letters, digits, - and _, not all digits, up to 128)", s)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkLambdaVersion: the guide says a version "must be a valid positive
// integer". It is written as a string in the examples; a bare number is
// taken too.
func checkLambdaVersion(s string) error {
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil || v == 0 || strconv.FormatUint(v, 10) != s {
		return fmt.Errorf("must be a published version number (a positive integer), found %q", s)
	}
	return nil
}

func lambdaVersion(n *yaml.Node, path string) (string, error) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!int") {
		s := strings.TrimSpace(n.Value)
		if n.ShortTag() == "!!int" {
			v, err := integer(n, path, false)
			if err != nil {
				return "", err
			}
			s = strconv.FormatInt(v, 10)
		}
		if err := checkLambdaVersion(s); err != nil {
			return "", locate(n, path, err)
		}
		return s, nil
	}
	return "", errAt(n, path, "must be a published version number such as \"2\", found %s", describe(n))
}

// ParseLambda parses and validates a Lambda AppSpec, YAML or JSON.
func ParseLambda(content []byte) (*Lambda, error) {
	d, err := parseResourceDoc(content, "a Lambda", typeLambdaFunction)
	if err != nil {
		return nil, err
	}
	spec := &Lambda{Function: LambdaFunction{LogicalName: d.name}}
	if err := parseLambdaProperties(d.props, d.propPath, &spec.Function); err != nil {
		return nil, err
	}
	if spec.Hooks, err = d.parseHooks(LambdaHookEvents(), "Lambda"); err != nil {
		return nil, err
	}
	return spec, nil
}

// parseLambdaProperties reads Name, Alias, CurrentVersion and TargetVersion.
// The guide's examples capitalise them and its structure section writes them
// in lower case (name, currentversion); keys are compared without case so
// both work.
func parseLambdaProperties(n *yaml.Node, path string, fn *LambdaFunction) error {
	fs, err := fields(n, path, true)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, f := range fs {
		k := strings.ToLower(f.key)
		switch k {
		case "name":
			s, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return err
			}
			s = strings.TrimSpace(s)
			if err := checkFunctionName(s); err != nil {
				return locate(f.val, f.path, err)
			}
			fn.Name = s
		case "alias":
			s, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return err
			}
			s = strings.TrimSpace(s)
			if err := checkAlias(s); err != nil {
				return locate(f.val, f.path, err)
			}
			fn.Alias = s
		case "currentversion":
			if fn.CurrentVersion, err = lambdaVersion(f.val, f.path); err != nil {
				return err
			}
		case "targetversion":
			if fn.TargetVersion, err = lambdaVersion(f.val, f.path); err != nil {
				return err
			}
		default:
			return errAt(f.kn, f.path, "unknown property; an AWS::Lambda::Function has Name, Alias, CurrentVersion and TargetVersion")
		}
		have[k] = true
	}
	for _, req := range []string{"Name", "Alias", "CurrentVersion", "TargetVersion"} {
		if !have[strings.ToLower(req)] {
			return errAt(n, joinPath(path, req), "missing; Name, Alias, CurrentVersion and TargetVersion are all required")
		}
	}
	return nil
}

// Validate checks a parsed (or hand-built) Lambda AppSpec against the same
// rules ParseLambda applies.
func (l *Lambda) Validate() error {
	f := &l.Function
	const p = "Resources[0].Properties"
	if f.LogicalName == "" {
		return &Error{Path: "Resources[0]", Msg: "the resource needs a logical name"}
	}
	if err := checkFunctionName(f.Name); err != nil {
		return atPath(p+".Name", err)
	}
	if err := checkAlias(f.Alias); err != nil {
		return atPath(p+".Alias", err)
	}
	if err := checkLambdaVersion(f.CurrentVersion); err != nil {
		return atPath(p+".CurrentVersion", err)
	}
	if err := checkLambdaVersion(f.TargetVersion); err != nil {
		return atPath(p+".TargetVersion", err)
	}
	return checkHooks(l.Hooks, LambdaHookEvents(), "Lambda")
}
