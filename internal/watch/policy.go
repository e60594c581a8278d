package watch

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Policy kinds: which tag of a repository a rule follows.
const (
	PolicyDigest = "digest" // one mutable tag; a new digest behind it is a new image
	PolicySemver = "semver" // the highest version tag within a constraint
	PolicyRegex  = "regex"  // the last matching tag in the chosen order
	PolicyGlob   = "glob"   // like regex, with a shell pattern
)

// Orders for regex and glob policies.
const (
	OrderAlphabetical = "alphabetical"
	OrderNumerical    = "numerical"
)

// Policy says which tag a rule follows.
type Policy struct {
	Kind string `json:"kind"`
	// Tag is the mutable tag of a digest policy.
	Tag string `json:"tag,omitempty"`
	// Constraint is a semver constraint ("^1.4", ">=1.2 <2").
	Constraint string `json:"constraint,omitempty"`
	// Prereleases lets a semver policy pick pre-release versions; off by
	// default so that a 2.0.0-rc1 never reaches production by accident.
	Prereleases bool `json:"prereleases,omitempty"`
	// Expression is the regular expression or glob of a regex/glob policy.
	Expression string `json:"expression,omitempty"`
	// Order ranks regex/glob matches: alphabetical (default) or numerical,
	// which compares the first capture group (or the whole tag) as a number.
	Order string `json:"order,omitempty"`
	// Exclude drops tags matching any of these regular expressions.
	Exclude []string `json:"exclude,omitempty"`
}

// ParsePolicy reads the CLI's compact form: digest:TAG, semver:CONSTRAINT,
// regex:EXPR or glob:PATTERN.
func ParsePolicy(s string) (Policy, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok || arg == "" {
		return Policy{}, fmt.Errorf("policy %q: want digest:TAG, semver:CONSTRAINT, regex:EXPR or glob:PATTERN", s)
	}
	p := Policy{Kind: kind}
	switch kind {
	case PolicyDigest:
		p.Tag = arg
	case PolicySemver:
		p.Constraint = arg
	case PolicyRegex, PolicyGlob:
		p.Expression = arg
	default:
		return Policy{}, fmt.Errorf("policy %q: unknown kind %q (digest, semver, regex or glob)", s, kind)
	}
	return p, p.Validate()
}

// String is the compact form ParsePolicy reads.
func (p Policy) String() string {
	switch p.Kind {
	case PolicyDigest:
		return "digest:" + p.Tag
	case PolicySemver:
		return "semver:" + p.Constraint
	default:
		return p.Kind + ":" + p.Expression
	}
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// Validate reports the first thing wrong with p.
func (p Policy) Validate() error {
	_, err := p.compile()
	return err
}

// compiled is a policy ready to rank tags.
type compiled struct {
	p          Policy
	constraint *semver.Constraints
	match      func(string) (key string, ok bool)
	exclude    []*regexp.Regexp
}

func (p Policy) compile() (*compiled, error) {
	c := &compiled{p: p}
	for _, x := range p.Exclude {
		re, err := regexp.Compile(x)
		if err != nil {
			return nil, fmt.Errorf("exclusion %q is not a valid regular expression: %w", x, err)
		}
		c.exclude = append(c.exclude, re)
	}
	switch p.Order {
	case "", OrderAlphabetical, OrderNumerical:
	default:
		return nil, fmt.Errorf("order %q: want %s or %s", p.Order, OrderAlphabetical, OrderNumerical)
	}
	if p.Order != "" && p.Kind != PolicyRegex && p.Kind != PolicyGlob {
		return nil, fmt.Errorf("order applies only to regex and glob policies")
	}
	switch p.Kind {
	case PolicyDigest:
		if !tagPattern.MatchString(p.Tag) {
			return nil, fmt.Errorf("tag %q is not a valid image tag", p.Tag)
		}
		if len(p.Exclude) > 0 {
			return nil, fmt.Errorf("exclusions apply only to semver, regex and glob policies")
		}
	case PolicySemver:
		cs, err := semver.NewConstraint(p.Constraint)
		if err != nil {
			return nil, fmt.Errorf("semver constraint %q: %w", p.Constraint, err)
		}
		c.constraint = cs
	case PolicyRegex:
		re, err := regexp.Compile(p.Expression)
		if err != nil {
			return nil, fmt.Errorf("regular expression %q: %w", p.Expression, err)
		}
		c.match = func(tag string) (string, bool) {
			m := re.FindStringSubmatch(tag)
			if m == nil {
				return "", false
			}
			if len(m) > 1 {
				return m[1], true
			}
			return tag, true
		}
	case PolicyGlob:
		if _, err := path.Match(p.Expression, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %w", p.Expression, err)
		}
		c.match = func(tag string) (string, bool) {
			ok, _ := path.Match(p.Expression, tag)
			return tag, ok
		}
	default:
		return nil, fmt.Errorf("policy kind %q: want digest, semver, regex or glob", p.Kind)
	}
	return c, nil
}

// ListsTags reports whether the policy needs the repository's tag list
// (every policy but digest, which only asks for one manifest).
func (p Policy) ListsTags() bool { return p.Kind != PolicyDigest }

// Select returns the tag the policy follows among tags, or "" when none
// qualifies.
func (p Policy) Select(tags []string) (string, error) {
	c, err := p.compile()
	if err != nil {
		return "", err
	}
	if p.Kind == PolicyDigest {
		return p.Tag, nil
	}
	type cand struct {
		tag string
		ver *semver.Version
		num float64
		key string
	}
	var cands []cand
	for _, tag := range tags {
		if c.excluded(tag) {
			continue
		}
		switch p.Kind {
		case PolicySemver:
			v, err := semver.NewVersion(tag)
			if err != nil {
				continue
			}
			if v.Prerelease() != "" && !p.Prereleases {
				continue
			}
			if !c.constraint.Check(v) {
				// Masterminds refuses pre-releases for constraints without
				// one; opting in means the bare version is what counts.
				if v.Prerelease() == "" || !p.Prereleases {
					continue
				}
				base, _ := v.SetPrerelease("")
				if !c.constraint.Check(&base) {
					continue
				}
			}
			cands = append(cands, cand{tag: tag, ver: v})
		default:
			key, ok := c.match(tag)
			if !ok {
				continue
			}
			cd := cand{tag: tag, key: key}
			if p.Order == OrderNumerical {
				n, err := strconv.ParseFloat(key, 64)
				if err != nil {
					continue
				}
				cd.num = n
			}
			cands = append(cands, cd)
		}
	}
	if len(cands) == 0 {
		return "", nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		switch {
		case a.ver != nil:
			if c := a.ver.Compare(b.ver); c != 0 {
				return c < 0
			}
		case p.Order == OrderNumerical:
			if a.num != b.num {
				return a.num < b.num
			}
		default:
			if a.key != b.key {
				return a.key < b.key
			}
		}
		// Equal rank (1.5 and v1.5.0): the tag itself decides, so the
		// choice does not depend on the registry's listing order.
		return a.tag < b.tag
	})
	return cands[len(cands)-1].tag, nil
}

func (c *compiled) excluded(tag string) bool {
	for _, re := range c.exclude {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}
