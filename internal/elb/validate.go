package elb

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

func validationf(format string, args ...any) error {
	return awsproto.Errorf("ValidationError", format, args...)
}

func configf(format string, args ...any) error {
	return awsproto.Errorf("InvalidConfigurationRequest", format, args...)
}

// resourceName checks a load balancer or target group name: 1 to 32
// alphanumerics or hyphens, not starting or ending with a hyphen.
var resourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

func checkName(what, name string) error {
	if len(name) > 32 {
		return validationf("%s name '%s' cannot be longer than '32' characters", what, name)
	}
	if !resourceNameRE.MatchString(name) {
		return validationf("%s name '%s' can only contain characters that are alphanumeric characters or hyphens(-), and must not begin or end with a hyphen", what, name)
	}
	return nil
}

var hostnameLabelRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !hostnameLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func oneOf(what, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, what, strings.Join(allowed, ", "))
	}
	return nil
}

// Tags.

var tagRE = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

const maxTags = 50

func checkTags(tags []Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 || !tagRE.MatchString(t.Key) {
			return validationf("Tag key '%s' must be 1 to 128 characters of letters, digits, spaces and _.:/=+-@", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return validationf("Tag keys starting with 'aws:' are reserved for internal use")
		}
		if v := deref(t.Value); utf8.RuneCountInString(v) > 256 || !tagRE.MatchString(v) {
			return validationf("Tag value '%s' must be at most 256 characters of letters, digits, spaces and _.:/=+-@", v)
		}
		if seen[t.Key] {
			return awsproto.Errorf("DuplicateTagKeys", "Tag key '%s' is duplicated", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > maxTags {
		return awsproto.Errorf("TooManyTags", "A resource can have at most %d tags", maxTags)
	}
	return nil
}

// mergeTags adds or replaces tags by key.
func mergeTags(have, add []Tag) []Tag {
	out := slices.Clone(have)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}

// Actions.

const (
	maxForwardGroups = 5
	maxWeight        = 999
	maxStickiness    = 604800
)

// actionContext is what validating an action needs to know about where it
// is used.
type actionContext struct {
	tx       store.Tx
	protocol string // the listener's: HTTP or TCP
	lbArn    string
}

var fixedStatusRE = regexp.MustCompile(`^[245]\d\d$`)

// normalizeActions validates actions and returns them in the form Describe
// reports: forward actions always with a ForwardConfig (and TargetGroupArn
// when there is exactly one group), redirects with every default spelled
// out.
func normalizeActions(ac actionContext, actions []Action) ([]Action, error) {
	if len(actions) == 0 {
		return nil, validationf("At least one action must be specified")
	}
	if len(actions) > 1 {
		// Only authenticate-* actions may precede a terminal action, and
		// cutover does not offer them.
		return nil, awsproto.Errorf("InvalidLoadBalancerAction", "Only one action can be specified: cutover supports the terminal actions forward, redirect and fixed-response")
	}
	a := actions[0]
	out := Action{Type: a.Type, Order: a.Order}
	switch a.Type {
	case "forward":
		fc, err := normalizeForward(ac, a)
		if err != nil {
			return nil, err
		}
		out.ForwardConfig = fc
		if len(fc.TargetGroups) == 1 {
			out.TargetGroupArn = fc.TargetGroups[0].TargetGroupArn
		}
	case "fixed-response":
		if ac.protocol != "HTTP" {
			return nil, awsproto.Errorf("InvalidLoadBalancerAction", "Fixed-response actions are only supported on HTTP listeners")
		}
		f := a.FixedResponseConfig
		if f == nil {
			return nil, validationf("A fixed-response action requires FixedResponseConfig")
		}
		if !fixedStatusRE.MatchString(f.StatusCode) {
			return nil, validationf("1 validation error detected: Value '%s' at 'fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$", f.StatusCode)
		}
		if f.ContentType != nil {
			if err := oneOf("fixedResponseConfig.contentType", *f.ContentType, "text/plain", "text/css", "text/html", "application/javascript", "application/json"); err != nil {
				return nil, err
			}
		}
		if len(deref(f.MessageBody)) > 1024 {
			return nil, validationf("The fixed-response message body cannot be longer than 1024 characters")
		}
		out.FixedResponseConfig = &FixedResponseActionConfig{StatusCode: f.StatusCode, ContentType: f.ContentType, MessageBody: f.MessageBody}
	case "redirect":
		if ac.protocol != "HTTP" {
			return nil, awsproto.Errorf("InvalidLoadBalancerAction", "Redirect actions are only supported on HTTP listeners")
		}
		r, err := normalizeRedirect(a.RedirectConfig)
		if err != nil {
			return nil, err
		}
		out.RedirectConfig = r
	case "authenticate-oidc", "authenticate-cognito", "jwt-validation":
		return nil, awsproto.Errorf("InvalidLoadBalancerAction", "Action type '%s' is not supported by cutover", a.Type)
	default:
		return nil, oneOf("actions.member.1.type", a.Type, "forward", "authenticate-oidc", "authenticate-cognito", "redirect", "fixed-response", "jwt-validation")
	}
	return []Action{out}, nil
}

func normalizeForward(ac actionContext, a Action) (*ForwardActionConfig, error) {
	var groups []TargetGroupTuple
	var sticky *TargetGroupStickinessConfig
	if a.ForwardConfig != nil {
		groups = a.ForwardConfig.TargetGroups
		sticky = a.ForwardConfig.TargetGroupStickinessConfig
	}
	if a.TargetGroupArn != nil {
		if len(groups) == 0 {
			groups = []TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn}}
		} else if len(groups) != 1 || deref(groups[0].TargetGroupArn) != *a.TargetGroupArn {
			return nil, validationf("You cannot specify both a target group ARN and a forward config with a different target group")
		}
	}
	if len(groups) == 0 {
		return nil, validationf("A forward action requires a target group ARN or a forward config with at least one target group")
	}
	limit := maxForwardGroups
	if ac.protocol == "TCP" {
		limit = 1
	}
	if len(groups) > limit {
		return nil, awsproto.Errorf("TooManyTargetGroups", "A forward action on a %s listener can have at most %d target groups", ac.protocol, limit)
	}
	out := &ForwardActionConfig{}
	seen := map[string]bool{}
	for _, g := range groups {
		arn := deref(g.TargetGroupArn)
		if arn == "" {
			return nil, validationf("A target group ARN must be specified for each target group of a forward config")
		}
		if seen[arn] {
			return nil, validationf("Target group '%s' is specified more than once in the forward config", arn)
		}
		seen[arn] = true
		w := int32(1)
		if g.Weight != nil {
			w = *g.Weight
		}
		if w < 0 || w > maxWeight {
			return nil, validationf("Target group weight '%d' must be between 0 and %d", w, maxWeight)
		}
		if err := checkForwardTarget(ac, arn); err != nil {
			return nil, err
		}
		out.TargetGroups = append(out.TargetGroups, TargetGroupTuple{TargetGroupArn: ptr(arn), Weight: ptr(w)})
	}
	stick := TargetGroupStickinessConfig{Enabled: ptr(false)}
	if sticky != nil && deref(sticky.Enabled) {
		if ac.protocol != "HTTP" {
			return nil, configf("Target group stickiness is not supported on %s listeners", ac.protocol)
		}
		d := deref(sticky.DurationSeconds)
		if d < 1 || d > maxStickiness {
			return nil, validationf("Target group stickiness duration must be between 1 and %d seconds", maxStickiness)
		}
		stick = TargetGroupStickinessConfig{Enabled: ptr(true), DurationSeconds: ptr(d)}
	}
	out.TargetGroupStickinessConfig = &stick
	return out, nil
}

// checkForwardTarget checks that a target group exists, speaks the
// listener's protocol and is not bound to another load balancer.
func checkForwardTarget(ac actionContext, arn string) error {
	tg, _, err := get[tgRecord](ac.tx, kindTG, arn)
	if notFound(err) {
		return awsproto.Errorf("TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	if err != nil {
		return err
	}
	if tg.Protocol != ac.protocol {
		return awsproto.Errorf("IncompatibleProtocols", "Target group '%s' uses protocol %s, which is incompatible with the %s listener", arn, tg.Protocol, ac.protocol)
	}
	lbs, err := targetGroupLoadBalancers(ac.tx, arn)
	if err != nil {
		return err
	}
	for _, lb := range lbs {
		if lb != ac.lbArn {
			return awsproto.Errorf("TargetGroupAssociationLimit", "The target group '%s' is already associated with load balancer '%s'", arn, lb)
		}
	}
	return nil
}

func normalizeRedirect(r *RedirectActionConfig) (*RedirectActionConfig, error) {
	if r == nil {
		return nil, validationf("A redirect action requires RedirectConfig")
	}
	if err := oneOf("redirectConfig.statusCode", r.StatusCode, "HTTP_301", "HTTP_302"); err != nil {
		return nil, err
	}
	out := &RedirectActionConfig{
		Protocol: ptr("#{protocol}"), Port: ptr("#{port}"), Host: ptr("#{host}"),
		Path: ptr("/#{path}"), Query: ptr("#{query}"), StatusCode: r.StatusCode,
	}
	if r.Protocol != nil {
		if err := oneOf("redirectConfig.protocol", *r.Protocol, "HTTP", "HTTPS", "#{protocol}"); err != nil {
			return nil, err
		}
		out.Protocol = r.Protocol
	}
	if r.Port != nil {
		if *r.Port != "#{port}" {
			if p, err := strconv.Atoi(*r.Port); err != nil || p < 1 || p > 65535 {
				return nil, validationf("Redirect port '%s' must be #{port} or a number from 1 to 65535", *r.Port)
			}
		}
		out.Port = r.Port
	}
	if r.Host != nil {
		if n := len(*r.Host); n < 1 || n > 128 {
			return nil, validationf("Redirect host must be 1 to 128 characters")
		}
		out.Host = r.Host
	}
	if r.Path != nil {
		if n := len(*r.Path); n < 1 || n > 128 || !strings.HasPrefix(*r.Path, "/") {
			return nil, validationf("Redirect path must be 1 to 128 characters and start with '/'")
		}
		out.Path = r.Path
	}
	if r.Query != nil {
		if len(*r.Query) > 128 {
			return nil, validationf("Redirect query cannot be longer than 128 characters")
		}
		out.Query = r.Query
	}
	if *out.Protocol == "#{protocol}" && *out.Port == "#{port}" && *out.Host == "#{host}" && *out.Path == "/#{path}" && *out.Query == "#{query}" {
		return nil, awsproto.Errorf("InvalidLoadBalancerAction", "The redirect must change at least one of protocol, port, host, path or query, or it would loop")
	}
	return out, nil
}

// Conditions.

const (
	maxConditionValues = 5 // per rule, across conditions
	maxWildcards       = 5 // per rule
)

var (
	pathPatternRE = regexp.MustCompile(`^[A-Za-z0-9_\-.$/~"'@:+&*?]{1,128}$`)
	hostPatternRE = regexp.MustCompile(`^[A-Za-z0-9\-.*?]{1,128}$`)
	headerNameRE  = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]{1,40}$`)
	methodRE      = regexp.MustCompile(`^[A-Z_\-]{1,40}$`)
)

// normalizeConditions validates a rule's conditions against ELBv2's limits
// and returns them as Describe reports them: host-header and path-pattern
// with both Values and their Config, the others with their Config only.
func normalizeConditions(conds []RuleCondition) ([]RuleCondition, error) {
	if len(conds) == 0 {
		return nil, validationf("A rule must have at least one condition")
	}
	once := map[string]bool{}
	values, wildcards := 0, 0
	out := make([]RuleCondition, 0, len(conds))
	for _, c := range conds {
		field := deref(c.Field)
		if len(c.RegexValues) > 0 {
			return nil, configf("Regular expression conditions are not supported by cutover")
		}
		switch field {
		case "host-header", "path-pattern", "http-request-method", "source-ip":
			if once[field] {
				return nil, validationf("A rule can contain at most one '%s' condition", field)
			}
			once[field] = true
		}
		var n RuleCondition
		n.Field = ptr(field)
		var vals []string
		var err error
		switch field {
		case "path-pattern":
			vals, err = legacyOrConfig(c, c.PathPatternConfig, field)
			if err == nil {
				for _, v := range vals {
					if !pathPatternRE.MatchString(v) {
						err = validationf("Path pattern '%s' must be 1 to 128 characters of A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ?", v)
						break
					}
				}
			}
			n.Values = vals
			n.PathPatternConfig = &ValuesConditionConfig{Values: vals}
		case "host-header":
			vals, err = legacyOrConfig(c, c.HostHeaderConfig, field)
			if err == nil {
				for _, v := range vals {
					if !hostPatternRE.MatchString(v) {
						err = validationf("Host header '%s' must be 1 to 128 characters of A-Z a-z 0-9 - . * ?", v)
						break
					}
				}
			}
			n.Values = vals
			n.HostHeaderConfig = &ValuesConditionConfig{Values: vals}
		case "http-header":
			h := c.HttpHeaderConfig
			if h == nil || len(c.Values) > 0 {
				return nil, validationf("An http-header condition requires HttpHeaderConfig and no Values")
			}
			if !headerNameRE.MatchString(deref(h.HttpHeaderName)) {
				return nil, validationf("HTTP header name '%s' must be 1 to 40 token characters", deref(h.HttpHeaderName))
			}
			if len(h.RegexValues) > 0 {
				return nil, configf("Regular expression conditions are not supported by cutover")
			}
			vals = h.Values
			if len(vals) == 0 {
				return nil, validationf("An http-header condition requires at least one value")
			}
			for _, v := range vals {
				if len(v) < 1 || len(v) > 128 {
					return nil, validationf("HTTP header value '%s' must be 1 to 128 characters", v)
				}
			}
			n.HttpHeaderConfig = &HttpHeaderConditionConfig{HttpHeaderName: h.HttpHeaderName, Values: vals}
		case "query-string":
			q := c.QueryStringConfig
			if q == nil || len(c.Values) > 0 || len(q.Values) == 0 {
				return nil, validationf("A query-string condition requires QueryStringConfig with at least one key/value pair, and no Values")
			}
			var pairs []QueryStringKeyValuePair
			for _, kv := range q.Values {
				if kv.Value == nil || len(*kv.Value) < 1 || len(*kv.Value) > 128 || len(deref(kv.Key)) > 128 {
					return nil, validationf("Query string values must be 1 to 128 characters and keys at most 128")
				}
				if kv.Key != nil && *kv.Key == "" {
					kv.Key = nil
				}
				pairs = append(pairs, kv)
				vals = append(vals, deref(kv.Key)+*kv.Value)
			}
			n.QueryStringConfig = &QueryStringConditionConfig{Values: pairs}
		case "http-request-method":
			if c.HttpRequestMethodConfig == nil || len(c.Values) > 0 || len(c.HttpRequestMethodConfig.Values) == 0 {
				return nil, validationf("An http-request-method condition requires HttpRequestMethodConfig with at least one value, and no Values")
			}
			vals = c.HttpRequestMethodConfig.Values
			for _, v := range vals {
				if !methodRE.MatchString(v) {
					return nil, validationf("HTTP request method '%s' must be 1 to 40 characters of A-Z, '_' and '-'", v)
				}
			}
			n.HttpRequestMethodConfig = &ValuesConditionConfig{Values: vals}
		case "source-ip":
			if c.SourceIpConfig == nil || len(c.Values) > 0 || len(c.SourceIpConfig.Values) == 0 {
				return nil, validationf("A source-ip condition requires SourceIpConfig with at least one CIDR, and no Values")
			}
			vals = c.SourceIpConfig.Values
			for _, v := range vals {
				if _, perr := netip.ParsePrefix(v); perr != nil {
					return nil, validationf("Source IP '%s' must be a CIDR block such as 192.0.2.0/24", v)
				}
			}
			n.SourceIpConfig = &ValuesConditionConfig{Values: vals}
		default:
			return nil, oneOf("conditions.field", field, "http-header", "http-request-method", "host-header", "path-pattern", "query-string", "source-ip")
		}
		if err != nil {
			return nil, err
		}
		values += len(vals)
		if field != "source-ip" && field != "http-request-method" {
			for _, v := range vals {
				wildcards += strings.Count(v, "*") + strings.Count(v, "?")
			}
		}
		out = append(out, n)
	}
	if values > maxConditionValues {
		return nil, validationf("A rule can contain at most %d condition values in total", maxConditionValues)
	}
	if wildcards > maxWildcards {
		return nil, validationf("A rule can contain at most %d wildcards in total", maxWildcards)
	}
	return out, nil
}

// legacyOrConfig reads host-header and path-pattern values, given either in
// the legacy Values member (one value) or in the Config (several).
func legacyOrConfig(c RuleCondition, cfg *ValuesConditionConfig, field string) ([]string, error) {
	if cfg != nil && len(cfg.RegexValues) > 0 {
		return nil, configf("Regular expression conditions are not supported by cutover")
	}
	switch {
	case len(c.Values) > 0 && cfg != nil:
		return nil, validationf("A '%s' condition cannot specify both Values and its config", field)
	case len(c.Values) > 1:
		return nil, validationf("A '%s' condition can specify only one value in Values; use the config for more", field)
	case len(c.Values) == 1:
		return c.Values, nil
	case cfg != nil && len(cfg.Values) > 0:
		return cfg.Values, nil
	}
	return nil, validationf("A '%s' condition requires at least one value", field)
}
