// Package awscli runs the AWS CLI against a cutover endpoint, cut off from
// the user's own AWS configuration, for tests and benchmarks that drive
// cutover the way its users do.
package awscli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// CLI is one AWS CLI pointed at one endpoint with one key pair.
type CLI struct {
	// Bin is the CLI to run; "" means the `aws` on PATH.
	Bin                          string
	Endpoint                     string
	Region                       string
	AccessKeyID, SecretAccessKey string
	// Env is added to the environment (for example AWS_ENDPOINT_URL for
	// commands that make their own clients, as `aws deploy push` does).
	Env []string
}

// Installed lists the AWS CLIs on this machine by name: "pip-v1" for the
// `aws` on PATH when it is not Debian's, "debian-v2" for /usr/bin/aws.
func Installed() map[string]string {
	clis := map[string]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["debian-v2"] = "/usr/bin/aws"
	}
	if p, err := exec.LookPath("aws"); err == nil && p != "/usr/bin/aws" {
		clis["pip-v1"] = p
	}
	return clis
}

// Error is a failed CLI call.
type Error struct {
	Args   []string
	Code   int // exit code, -1 when the CLI did not run
	Stderr string
}

func (e *Error) Error() string {
	return fmt.Sprintf("aws %s: exit %d: %s", strings.Join(e.Args, " "), e.Code, strings.TrimSpace(e.Stderr))
}

// Run runs `aws <args> --endpoint-url <endpoint>` with output in JSON
// unless args choose otherwise, and returns its trimmed standard output.
// No retries, no pager, no configuration or credentials file is read.
func (c CLI) Run(ctx context.Context, args ...string) (string, error) {
	bin := c.Bin
	if bin == "" {
		bin = "aws"
	}
	full := append(append([]string{}, args...), "--endpoint-url", c.Endpoint)
	cmd := exec.CommandContext(ctx, bin, full...)
	env := []string{}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_DEFAULT_REGION="+c.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "AWS_DEFAULT_OUTPUT=json", "PYTHONWARNINGS=ignore"), c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e := &Error{Args: args, Code: -1, Stderr: stderr.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			e.Code = ee.ExitCode()
		} else {
			e.Stderr += err.Error()
		}
		return stdout.String(), e
	}
	return strings.TrimSpace(stdout.String()), nil
}
