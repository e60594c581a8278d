package watch

import "testing"

func TestPolicySelect(t *testing.T) {
	tags := []string{"latest", "1.4.0", "1.4.2", "1.5.0", "2.0.0-rc1", "1.6.0-beta.1", "v1.5.1", "build-9", "build-10", "build-2", "nightly-x", "1.5.0-debug"}
	tests := []struct {
		name   string
		policy Policy
		tags   []string
		want   string
	}{
		{"digest follows its tag", Policy{Kind: PolicyDigest, Tag: "latest"}, tags, "latest"},
		{"semver caret takes highest in range", Policy{Kind: PolicySemver, Constraint: "^1.4"}, tags, "v1.5.1"},
		{"semver ignores prereleases by default", Policy{Kind: PolicySemver, Constraint: ">=1.4"}, tags, "v1.5.1"},
		{"semver prereleases opt in", Policy{Kind: PolicySemver, Constraint: ">=1.4", Prereleases: true}, tags, "2.0.0-rc1"},
		{"semver exclusion", Policy{Kind: PolicySemver, Constraint: "^1.4", Exclude: []string{`^v`}}, tags, "1.5.0"},
		{"semver tilde", Policy{Kind: PolicySemver, Constraint: "~1.4"}, tags, "1.4.2"},
		{"semver nothing in range", Policy{Kind: PolicySemver, Constraint: "^3"}, tags, ""},
		{"regex alphabetical", Policy{Kind: PolicyRegex, Expression: `^build-\d+$`}, tags, "build-9"},
		{"regex numerical on capture", Policy{Kind: PolicyRegex, Expression: `^build-(\d+)$`, Order: OrderNumerical}, tags, "build-10"},
		{"regex numerical skips non-numbers", Policy{Kind: PolicyRegex, Expression: `^(?:build|nightly)-(\w+)$`, Order: OrderNumerical}, tags, "build-10"},
		{"regex exclusion", Policy{Kind: PolicyRegex, Expression: `^build-(\d+)$`, Order: OrderNumerical, Exclude: []string{`-10$`}}, tags, "build-9"},
		{"glob", Policy{Kind: PolicyGlob, Expression: "nightly-*"}, tags, "nightly-x"},
		{"no tags", Policy{Kind: PolicySemver, Constraint: "*"}, nil, ""},
		{"equal versions pick by tag", Policy{Kind: PolicySemver, Constraint: "1.5.0"}, []string{"v1.5.0", "1.5.0"}, "v1.5.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.policy.Select(tc.tags)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Select = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{in: "digest:latest", want: Policy{Kind: PolicyDigest, Tag: "latest"}},
		{in: "semver:^1.4", want: Policy{Kind: PolicySemver, Constraint: "^1.4"}},
		{in: "regex:^v(\\d+)$", want: Policy{Kind: PolicyRegex, Expression: "^v(\\d+)$"}},
		{in: "glob:rel-*", want: Policy{Kind: PolicyGlob, Expression: "rel-*"}},
		{in: "digest:", wantErr: true},
		{in: "digest:bad tag", wantErr: true},
		{in: "semver:not a constraint!", wantErr: true},
		{in: "regex:(", wantErr: true},
		{in: "glob:[", wantErr: true},
		{in: "latest", wantErr: true},
		{in: "newest:x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePolicy(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParsePolicy(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.in || got.Kind != tc.want.Kind || got.Tag != tc.want.Tag || got.Constraint != tc.want.Constraint || got.Expression != tc.want.Expression {
				t.Fatalf("ParsePolicy(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := []Policy{
		{Kind: PolicyDigest, Tag: "latest", Exclude: []string{"x"}},
		{Kind: PolicySemver, Constraint: "^1", Order: OrderNumerical},
		{Kind: PolicyRegex, Expression: ".*", Order: "random"},
		{Kind: PolicyRegex, Expression: ".*", Exclude: []string{"("}},
		{Kind: ""},
	}
	for _, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", p)
		}
	}
}
