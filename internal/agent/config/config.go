// Package config reads the host agent's two files: the on-premises identity
// file in AWS's own format (codedeploy.onpremises.yml) and the agent's
// settings (codedeployagent.yml keys, with or without the leading colon the
// Ruby agent's symbol keys carry), so a host set up for AWS's agent can run
// cutover's agent unchanged.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of AWS's agent (codedeployagent.yml and its code defaults).
const (
	DefaultRootDir          = "/opt/codedeploy-agent/deployment-root"
	DefaultLogDir           = "/var/log/aws/codedeploy-agent"
	DefaultOnPremisesFile   = "/etc/codedeploy-agent/conf/codedeploy.onpremises.yml"
	DefaultMaxRevisions     = 5
	DefaultWaitBetweenRuns  = 30 * time.Second
	DefaultHTTPReadTimeout  = 80 * time.Second
	DefaultShutdownGrace    = 60 * time.Second
	DefaultSettingsFileName = "/etc/codedeploy-agent/conf/codedeployagent.yml"
)

// FieldError names the file and field a bad value came from.
type FieldError struct {
	File  string
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// OnPremises is the identity of an on-premises instance: either a static
// key bound to an IAM user, or an IAM session whose temporary keys are
// refreshed in a shared-credentials file by something else.
type OnPremises struct {
	AccessKeyID     string
	SecretAccessKey string
	IAMUserARN      string
	IAMSessionARN   string
	CredentialsFile string
	Region          string
}

// HostIdentifier is what the agent sends as HostIdentifier: the user or
// session ARN.
func (o *OnPremises) HostIdentifier() string {
	if o.IAMSessionARN != "" {
		return o.IAMSessionARN
	}
	return o.IAMUserARN
}

var onPremKeys = []string{"aws_access_key_id", "aws_secret_access_key", "iam_user_arn", "iam_session_arn", "aws_credentials_file", "region"}

// LoadOnPremises reads and validates an on-premises config file.
func LoadOnPremises(path string) (*OnPremises, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read on-premises config: %w", err)
	}
	return ParseOnPremises(path, raw)
}

// ParseOnPremises validates the content of an on-premises config file; name
// is only used in errors.
func ParseOnPremises(name string, raw []byte) (*OnPremises, error) {
	m, err := scalars(name, raw)
	if err != nil {
		return nil, err
	}
	bad := func(field, format string, args ...any) error {
		return &FieldError{File: name, Field: field, Err: fmt.Errorf(format, args...)}
	}
	for k := range m {
		if !slices.Contains(onPremKeys, k) {
			return nil, bad(k, "unknown key; the file takes %s", strings.Join(onPremKeys, ", "))
		}
	}
	o := &OnPremises{
		AccessKeyID:     m["aws_access_key_id"],
		SecretAccessKey: m["aws_secret_access_key"],
		IAMUserARN:      m["iam_user_arn"],
		IAMSessionARN:   m["iam_session_arn"],
		CredentialsFile: m["aws_credentials_file"],
		Region:          m["region"],
	}
	if o.Region == "" {
		return nil, bad("region", "missing; the agent signs its calls for this region")
	}
	switch {
	case o.IAMUserARN != "" && o.IAMSessionARN != "":
		return nil, bad("iam_session_arn", "set together with iam_user_arn; use one: a user with a key, or a session with aws_credentials_file")
	case o.IAMUserARN != "":
		if o.AccessKeyID == "" {
			return nil, bad("aws_access_key_id", "missing; iam_user_arn needs the user's access key")
		}
		if o.SecretAccessKey == "" {
			return nil, bad("aws_secret_access_key", "missing; iam_user_arn needs the user's secret key")
		}
		if o.CredentialsFile != "" {
			return nil, bad("aws_credentials_file", "only goes with iam_session_arn, not with iam_user_arn")
		}
		if err := checkARN(o.IAMUserARN); err != nil {
			return nil, bad("iam_user_arn", "%v", err)
		}
	case o.IAMSessionARN != "":
		if o.CredentialsFile == "" {
			return nil, bad("aws_credentials_file", "missing; iam_session_arn needs the shared-credentials file its keys are refreshed in")
		}
		if o.AccessKeyID != "" || o.SecretAccessKey != "" {
			return nil, bad("aws_access_key_id", "only goes with iam_user_arn; a session's keys come from aws_credentials_file")
		}
		if err := checkARN(o.IAMSessionARN); err != nil {
			return nil, bad("iam_session_arn", "%v", err)
		}
	default:
		return nil, bad("iam_user_arn", "missing; give iam_user_arn (with a key) or iam_session_arn (with aws_credentials_file)")
	}
	return o, nil
}

func checkARN(s string) error {
	if !strings.HasPrefix(s, "arn:") || strings.Count(s, ":") < 5 {
		return fmt.Errorf("%q is not an ARN (arn:aws:iam::123456789012:user/name)", s)
	}
	return nil
}

// Settings are the agent's own settings.
type Settings struct {
	// Endpoint is the command service's URL (deploy_control_endpoint).
	Endpoint string
	// CAFile is a PEM bundle trusted for the endpoint and S3, in addition
	// to the system roots.
	CAFile string
	// S3Endpoint is where S3 revisions are downloaded from, path-style
	// (s3_endpoint_override).
	S3Endpoint           string
	RootDir              string
	LogDir               string
	OnPremisesConfigFile string
	MaxRevisions         int
	WaitBetweenRuns      time.Duration
	HTTPReadTimeout      time.Duration
	// ShutdownGrace is how long a stopping agent lets a running command
	// finish before it kills the script and leaves the command to be
	// failed at the next start.
	ShutdownGrace time.Duration
	// SpecCAFile, when set, is the CA the deployment specification's
	// signer must chain to; without it the signature is still checked
	// against the certificate the envelope carries.
	SpecCAFile string
}

// DefaultSettings returns AWS's agent defaults.
func DefaultSettings() Settings {
	return Settings{
		RootDir:              DefaultRootDir,
		LogDir:               DefaultLogDir,
		OnPremisesConfigFile: DefaultOnPremisesFile,
		MaxRevisions:         DefaultMaxRevisions,
		WaitBetweenRuns:      DefaultWaitBetweenRuns,
		HTTPReadTimeout:      DefaultHTTPReadTimeout,
		ShutdownGrace:        DefaultShutdownGrace,
	}
}

// Setting keys as AWS's codedeployagent.yml spells them (without the colon).
const (
	KeyEndpoint        = "deploy_control_endpoint"
	KeyCAFile          = "ca_file"
	KeyS3Endpoint      = "s3_endpoint_override"
	KeyRootDir         = "root_dir"
	KeyLogDir          = "log_dir"
	KeyOnPremises      = "on_premises_config_file"
	KeyMaxRevisions    = "max_revisions"
	KeyWaitBetweenRuns = "wait_between_runs"
	KeyHTTPReadTimeout = "http_read_timeout"
	KeyShutdownGrace   = "shutdown_grace"
	KeySpecCAFile      = "deployment_spec_ca_file"
)

// ignoredKeys are AWS agent settings that have no meaning here; they are
// accepted so AWS's own file loads.
var ignoredKeys = []string{
	"log_aws_wire", "program_name", "pid_dir", "kill_agent_max_wait_time_seconds",
	"verbose", "proxy_uri", "max_revisions_per_group", "use_fips_mode", "enable_auth_policy",
	"disable_imds_v1", "enable_deployments_log", "codedeploy_test_profile", "ongoing_deployment_tracking",
	"children", "wait_after_error", "instance_service_region", "instance_service_endpoint",
	"instance_service_port", "use_mock_command_service", "on_premises_config_file_override",
}

// LoadSettings reads a settings file over the defaults. A missing path
// ("") gives the defaults.
func LoadSettings(path string) (Settings, error) {
	s := DefaultSettings()
	if path == "" {
		return s, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read agent settings: %w", err)
	}
	m, err := scalars(path, raw)
	if err != nil {
		return s, err
	}
	for k, v := range m {
		if err := s.Set(k, v); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.File = path
			}
			return s, err
		}
	}
	return s, nil
}

// Set applies one setting from its text, as a file or a flag gives it.
func (s *Settings) Set(key, value string) error {
	bad := func(format string, args ...any) error {
		return &FieldError{Field: key, Err: fmt.Errorf(format, args...)}
	}
	switch key {
	case KeyEndpoint:
		s.Endpoint = value
	case KeyCAFile:
		s.CAFile = value
	case KeyS3Endpoint:
		s.S3Endpoint = value
	case KeyRootDir:
		s.RootDir = value
	case KeyLogDir:
		s.LogDir = value
	case KeyOnPremises:
		s.OnPremisesConfigFile = value
	case KeySpecCAFile:
		s.SpecCAFile = value
	case KeyMaxRevisions:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return bad("must be a whole number of at least 1, found %q", value)
		}
		s.MaxRevisions = n
	case KeyWaitBetweenRuns, KeyHTTPReadTimeout, KeyShutdownGrace:
		d, err := seconds(value)
		if err != nil {
			return bad("%v", err)
		}
		switch key {
		case KeyWaitBetweenRuns:
			s.WaitBetweenRuns = d
		case KeyHTTPReadTimeout:
			if d <= 0 {
				return bad("must be more than 0")
			}
			s.HTTPReadTimeout = d
		default:
			s.ShutdownGrace = d
		}
	default:
		if slices.Contains(ignoredKeys, key) {
			return nil
		}
		return bad("unknown setting")
	}
	return nil
}

// seconds reads a number of seconds (as AWS's file has) or a Go duration.
func seconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("must not be negative, found %q", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("must be a number of seconds or a duration such as 30s, found %q", v)
	}
	return d, nil
}

// Validate checks what the agent needs before it starts.
func (s *Settings) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if s.Endpoint == "" {
		return bad(KeyEndpoint, "missing; give the command service's URL, e.g. https://cutover.internal:8443")
	}
	if err := checkURL(s.Endpoint); err != nil {
		return bad(KeyEndpoint, "%v", err)
	}
	if s.S3Endpoint != "" {
		if err := checkURL(s.S3Endpoint); err != nil {
			return bad(KeyS3Endpoint, "%v", err)
		}
	}
	if s.RootDir == "" || !filepath.IsAbs(s.RootDir) {
		return bad(KeyRootDir, "must be an absolute path, found %q", s.RootDir)
	}
	if s.LogDir != "" && !filepath.IsAbs(s.LogDir) {
		return bad(KeyLogDir, "must be an absolute path, found %q", s.LogDir)
	}
	for _, f := range []struct{ key, path string }{{KeyCAFile, s.CAFile}, {KeySpecCAFile, s.SpecCAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad(f.key, "%v", err)
		}
	}
	if s.MaxRevisions < 1 {
		return bad(KeyMaxRevisions, "must be at least 1")
	}
	return nil
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("must be an http:// or https:// URL with a host, found %q", v)
	}
	return nil
}

// scalars reads a flat YAML mapping of scalars. Keys may carry the leading
// colon of Ruby symbols (":root_dir:"), as AWS's files do.
func scalars(name string, raw []byte) (map[string]string, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a YAML mapping: %w", name, err)
	}
	out := make(map[string]string, len(doc))
	for k, n := range doc {
		key := strings.TrimPrefix(k, ":")
		if n.Kind != yaml.ScalarNode {
			return nil, &FieldError{File: name, Field: key, Err: fmt.Errorf("expected a single value at line %d", n.Line)}
		}
		if n.Tag == "!!null" {
			continue
		}
		out[key] = strings.TrimSpace(n.Value)
	}
	return out, nil
}
