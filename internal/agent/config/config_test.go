package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseOnPremises(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		field      string // the field a bad file's error names; "" when valid
		host       string
	}{
		{"user", "aws_access_key_id: AKID\naws_secret_access_key: s\niam_user_arn: arn:aws:iam::123456789012:user/h\nregion: us-east-1\n", "", "arn:aws:iam::123456789012:user/h"},
		{"ruby symbol keys", ":aws_access_key_id: AKID\n:aws_secret_access_key: s\n:iam_user_arn: arn:aws:iam::123456789012:user/h\n:region: us-east-1\n", "", "arn:aws:iam::123456789012:user/h"},
		{"session", "iam_session_arn: arn:aws:sts::123456789012:assumed-role/R/s\naws_credentials_file: /etc/creds\nregion: eu-west-1\n", "", "arn:aws:sts::123456789012:assumed-role/R/s"},
		{"no region", "aws_access_key_id: A\naws_secret_access_key: s\niam_user_arn: arn:aws:iam::1:user/h\n", "region", ""},
		{"no key", "aws_secret_access_key: s\niam_user_arn: arn:aws:iam::123456789012:user/h\nregion: r\n", "aws_access_key_id", ""},
		{"no secret", "aws_access_key_id: A\niam_user_arn: arn:aws:iam::123456789012:user/h\nregion: r\n", "aws_secret_access_key", ""},
		{"no identity", "aws_access_key_id: A\naws_secret_access_key: s\nregion: r\n", "iam_user_arn", ""},
		{"both identities", "iam_user_arn: arn:aws:iam::1:user/h\niam_session_arn: arn:aws:sts::1:assumed-role/R/s\nregion: r\n", "iam_session_arn", ""},
		{"session without file", "iam_session_arn: arn:aws:sts::123456789012:assumed-role/R/s\nregion: r\n", "aws_credentials_file", ""},
		{"bad arn", "aws_access_key_id: A\naws_secret_access_key: s\niam_user_arn: host1\nregion: r\n", "iam_user_arn", ""},
		{"unknown key", "aws_access_key: A\nregion: r\n", "aws_access_key", ""},
		{"nested value", "region:\n  - a\n", "region", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOnPremises("onprem.yml", []byte(tc.body))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.HostIdentifier() != tc.host {
					t.Errorf("host = %q", o.HostIdentifier())
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), "onprem.yml: "+tc.field) {
				t.Fatalf("err = %v, want one naming %s", err, tc.field)
			}
		})
	}
	if _, err := ParseOnPremises("x", []byte("{{{")); err == nil {
		t.Error("broken YAML accepted")
	}
}

func TestLoadSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "codedeployagent.yml")
	os.WriteFile(file, []byte(":log_aws_wire: false\n:root_dir: '/var/lib/cutover-agent'\n:wait_between_runs: 1\n:max_revisions: 3\n:deploy_control_endpoint: 'https://cd.internal:8443'\nhttp_read_timeout: 45s\n:verbose: false\n"), 0o644)
	s, err := LoadSettings(file)
	if err != nil {
		t.Fatal(err)
	}
	if s.RootDir != "/var/lib/cutover-agent" || s.WaitBetweenRuns != time.Second || s.MaxRevisions != 3 || s.HTTPReadTimeout != 45*time.Second || s.Endpoint != "https://cd.internal:8443" {
		t.Errorf("settings = %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	d := DefaultSettings()
	if d.MaxRevisions != 5 || d.HTTPReadTimeout != 80*time.Second {
		t.Errorf("defaults = %+v", d)
	}

	for _, tc := range []struct{ body, field string }{
		{"max_revisions: 0\n", "max_revisions"},
		{"max_revisions: many\n", "max_revisions"},
		{"wait_between_runs: soon\n", "wait_between_runs"},
		{"http_read_timeout: 0\n", "http_read_timeout"},
		{"no_such_setting: 1\n", "no_such_setting"},
	} {
		os.WriteFile(file, []byte(tc.body), 0o644)
		_, err := LoadSettings(file)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.File != file {
			t.Errorf("%q: err = %v, want one naming %s in %s", tc.body, err, tc.field, file)
		}
	}
}

func TestValidate(t *testing.T) {
	base := DefaultSettings()
	base.Endpoint = "https://cd.internal:8443"
	for _, tc := range []struct {
		field  string
		mutate func(*Settings)
	}{
		{KeyEndpoint, func(s *Settings) { s.Endpoint = "" }},
		{KeyEndpoint, func(s *Settings) { s.Endpoint = "cd.internal:8443" }},
		{KeyS3Endpoint, func(s *Settings) { s.S3Endpoint = "ftp://x" }},
		{KeyRootDir, func(s *Settings) { s.RootDir = "relative" }},
		{KeyCAFile, func(s *Settings) { s.CAFile = "/nonexistent/ca.pem" }},
	} {
		s := base
		tc.mutate(&s)
		err := s.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("err = %v, want one naming %s", err, tc.field)
		}
	}
}
