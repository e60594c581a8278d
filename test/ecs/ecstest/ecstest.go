// Package ecstest is the harness of cutover's end-to-end ECS tests and of
// the deployment benchmark: it builds the real binaries, starts `cutover
// server` processes on free loopback ports, serves an OCI registry on
// 127.0.0.1 with FROM-scratch images of the versionserver, drives the AWS
// CLI, and generates bounded keep-alive load on a listener.
//
// Everything it starts is stopped by PID: servers by Stop, the registry by
// Close, and the task processes or containers a server leaves behind by
// KillProcessesOf and RemoveContainers.
package ecstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cutover/cutover/internal/awscli"
)

// Bins are the built binaries.
type Bins struct {
	Cutover string
	// VersionServer is static (CGO_ENABLED=0), so it is also the only file
	// of the FROM-scratch test image.
	VersionServer string
}

// ModuleRoot is the folder of cutover's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the cutover module")
	}
	return filepath.Dir(mod), nil
}

// Build builds ./cmd/cutover and the versionserver into dir.
func Build(dir string) (Bins, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Bins{}, err
	}
	b := Bins{Cutover: filepath.Join(dir, "cutover"), VersionServer: filepath.Join(dir, "versionserver")}
	for _, c := range []struct{ out, pkg string }{{b.Cutover, "./cmd/cutover"}, {b.VersionServer, "./test/testdata/versionserver"}} {
		cmd := exec.Command("go", "build", "-o", c.out, c.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Bins{}, fmt.Errorf("go build %s: %v\n%s", c.pkg, err, out)
		}
	}
	return b, nil
}

// RandomHex returns n random bytes as hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomAccountID is a 12-digit account id. Servers that share one Docker
// daemon must differ in account (see the report on the docker runtime's
// owner label): a server's scheduler removes containers whose task ARN is
// in its own account and region but not in its store.
func RandomAccountID() string {
	b := make([]byte, 8)
	rand.Read(b)
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return fmt.Sprintf("1%011d", n%100_000_000_000)
}

// ServerOptions configure StartServer.
type ServerOptions struct {
	Bin       string // the cutover binary
	DataDir   string // created if missing
	Runtime   string // process, docker or none
	TimeScale float64
	AccountID string // default: random
	LogLevel  string // default debug
	// LogPath receives stderr (default DataDir/../server-<random>.log).
	LogPath string
}

// Server is a running `cutover server` process.
type Server struct {
	Endpoint          string
	AccessKey, Secret string
	AccountID         string
	Region            string
	DataDir, LogPath  string
	cmd               *exec.Cmd
	done              chan error
}

// StartServer starts a server on free loopback ports (HTTP only) with a
// key pair of its own, and waits for its banner.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.AccountID == "" {
		o.AccountID = RandomAccountID()
	}
	if o.LogLevel == "" {
		o.LogLevel = "debug"
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	if o.LogPath == "" {
		o.LogPath = filepath.Join(filepath.Dir(o.DataDir), "server-"+RandomHex(3)+".log")
	}
	logf, err := os.Create(o.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &Server{
		AccessKey: "AKIA" + strings.ToUpper(RandomHex(8)), Secret: RandomHex(20),
		AccountID: o.AccountID, Region: "us-east-1", DataDir: o.DataDir, LogPath: o.LogPath, done: make(chan error, 1),
	}
	cmd := exec.Command(o.Bin, "server", "--addr", "127.0.0.1:0", "--tls-addr", "", "--data-dir", o.DataDir,
		"--runtime", o.Runtime, "--time-scale", strconv.FormatFloat(o.TimeScale, 'f', -1, 64),
		"--account-id", o.AccountID, "--region", s.Region, "--log-level", o.LogLevel, "--shutdown-timeout", "5s")
	cmd.Env = append(os.Environ(), "CUTOVER_ACCESS_KEY_ID="+s.AccessKey, "CUTOVER_SECRET_ACCESS_KEY="+s.Secret)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if !sent && len(f) == 2 && f[0] == "endpoint:" {
				endpoint <- f[1]
				sent = true
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.Endpoint = <-endpoint:
		return s, nil
	case err := <-s.done:
		s.done <- err
		log, _ := os.ReadFile(o.LogPath)
		return nil, fmt.Errorf("cutover server exited before serving (%v):\n%s", err, tail(log, 30))
	case <-time.After(30 * time.Second):
		s.Stop(5 * time.Second)
		return nil, errors.New("cutover server printed no endpoint within 30s")
	case <-ctx.Done():
		s.Stop(5 * time.Second)
		return nil, ctx.Err()
	}
}

// Stop sends SIGTERM and waits up to timeout, then kills. It returns the
// exit error (nil on exit 0). Calling it again is harmless.
func (s *Server) Stop(timeout time.Duration) error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return fmt.Errorf("server did not stop within %v after SIGTERM; killed: %v", timeout, err)
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// AWSConfig is an SDK configuration signed with the server's key pair; set
// BaseEndpoint on each client to s.Endpoint.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:           s.Region,
		Credentials:      awscreds.NewStaticCredentialsProvider(s.AccessKey, s.Secret, ""),
		RetryMaxAttempts: 1,
	}
}

// CLIError is a failed AWS CLI call.
type CLIError = awscli.Error

// CLI runs the AWS CLI (the `aws` on PATH, v1 from pip here) against the
// server with its key pair and nothing from the user's configuration.
func (s *Server) CLI(ctx context.Context, args ...string) (string, error) {
	return awscli.CLI{Endpoint: s.Endpoint, Region: s.Region, AccessKeyID: s.AccessKey, SecretAccessKey: s.Secret}.Run(ctx, args...)
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.LogPath)
	return tail(b, n)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// KillProcessesOf kills (SIGKILL) every process whose executable is exe, by
// PID, and returns how many it found: the process runtime's tasks outlive
// the server on purpose (a restarted server adopts them).
func KillProcessesOf(exe string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
			syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n
}

// ProcessesOf counts the live processes whose executable is exe.
func ProcessesOf(exe string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !bytes.Contains(st, []byte(") Z ")) {
				n++
			}
		}
	}
	return n
}

// Main runs an end-to-end test package: unless -short, build gets a fresh
// folder to build its binaries into (ecstest.Build, say); after the tests,
// every process still running one of those binaries (task processes outlive
// their server on purpose) is killed and the folder removed. It exits with
// the tests' code.
func Main(m *testing.M, name string, build func(dir string)) {
	flag.Parse()
	var dir string
	if !testing.Short() {
		var err error
		if dir, err = os.MkdirTemp("", "cutover-"+strings.ReplaceAll(name, "/", "-")+"-bin-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		build(dir)
	}
	code := m.Run()
	if dir != "" {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if n := KillProcessesOf(filepath.Join(dir, e.Name())); n > 0 {
				fmt.Fprintf(os.Stderr, "%s: killed %d leftover %s processes\n", name, n, e.Name())
			}
		}
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// FreePorts returns n loopback ports that were free a moment ago (all held
// at once, so they differ), for listeners a test asks the server to bind.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
