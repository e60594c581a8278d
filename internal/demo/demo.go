// Package demo shows a newcomer a real deployment: against a running
// cutover server it sets up a small ECS service behind the built-in load
// balancer (tasks run as host processes) and deploys a new version of it
// with a canary, printing what happens as it happens.
//
// It is a client like any other: it talks to the server's own endpoint
// with the Go SDK and the root key pair, through the same ELBv2, ECS and
// CodeDeploy calls a user would make, so what the demo does can be done by
// hand with the AWS CLI (test/e2e/ecs_bluegreen.sh does exactly that).
//
// Running it twice on one data directory reuses what exists (every
// resource has a fixed name and is looked up before it is made) and deploys
// the next version: v1 → v2 the first time, v2 → v3 the next, and so on.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/deploywatch"
)

// The demo's resource names. One name for everything keeps the printed
// commands short; the config name says what it does.
const (
	Name          = "cutover-demo"
	BlueTG        = "cutover-demo-blue"
	GreenTG       = "cutover-demo-green"
	ConfigName    = "cutover-demo.Canary20Percent1Minute"
	containerName = "web"
	containerPort = 8080
)

// CanaryInterval is the demo config's canary interval (clock time).
const CanaryInterval = time.Minute

// TimeScale is the --time-scale `server --demo` runs with unless told
// otherwise: the one-minute canary interval passes in 15 s, so the whole
// demo ends within about a minute.
const TimeScale = float64(CanaryInterval / (15 * time.Second))

// Config says where the server is and how to reach what the demo makes.
type Config struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// LBHost is the address the load balancer's listeners are reached on
	// (the server's --lb-bind, with a wildcard made loopback).
	LBHost string
	// AppCommand is the task's entry point; default: this executable with
	// the demo-app subcommand.
	AppCommand []string
	// Dir is where the demo writes the AppSpec it deploys, so the user can
	// deploy it again by hand; "" writes nothing.
	Dir string
	Out io.Writer
	// PollInterval is how often progress is polled; default 1s.
	PollInterval time.Duration
	// ServeTimeout bounds the wait for the first version to serve; default 2m.
	ServeTimeout time.Duration
	// SampleRequests is how many requests each traffic sample sends;
	// default 50.
	SampleRequests int
}

// Result is what the demo did.
type Result struct {
	DeploymentID string
	ProdURL      string
	TestURL      string
	From, To     string
	Watch        deploywatch.Result
}

type demo struct {
	cfg  Config
	elb  *elbv2.Client
	ecs  *ecs.Client
	cd   *codedeploy.Client
	http *http.Client

	blueTG, greenTG string
	lbARN           string
	prod, test      listener
}

type listener struct {
	arn  string
	port int32
}

// Env is the demo's set-up: a service behind a load balancer and the
// CodeDeploy application and group that deploy it. Tests and the demo
// itself drive deployments through it.
type Env struct {
	d *demo
	// ProdURL and TestURL are the production and test listeners.
	ProdURL, TestURL string
}

// Setup finds or makes every resource of the demo and says what it did.
func Setup(ctx context.Context, cfg Config) (*Env, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.LBHost == "" {
		cfg.LBHost = "127.0.0.1"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.ServeTimeout <= 0 {
		cfg.ServeTimeout = 2 * time.Minute
	}
	if cfg.SampleRequests <= 0 {
		cfg.SampleRequests = 50
	}
	if len(cfg.AppCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("demo: finding the cutover binary for the demo app: %w", err)
		}
		cfg.AppCommand = []string{exe, AppCommand}
	}
	creds := credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	ep := aws.String(cfg.Endpoint)
	d := &demo{
		cfg: cfg,
		elb: elbv2.New(elbv2.Options{Region: cfg.Region, Credentials: creds, BaseEndpoint: ep}),
		ecs: ecs.New(ecs.Options{Region: cfg.Region, Credentials: creds, BaseEndpoint: ep}),
		cd:  codedeploy.New(codedeploy.Options{Region: cfg.Region, Credentials: creds, BaseEndpoint: ep}),
		// A new connection per request: the load balancer picks a target
		// group per connection as well as per request, and a sample over
		// one kept-alive connection would not show the split.
		http: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if err := d.setUp(ctx); err != nil {
		return nil, err
	}
	return &Env{d: d, ProdURL: d.url(d.prod.port), TestURL: d.url(d.test.port)}, nil
}

// WaitServing waits until the production listener answers and returns the
// version that does.
func (e *Env) WaitServing(ctx context.Context) (string, error) { return e.d.waitServing(ctx) }

// Serving is the version answering on the production listener now, or "".
func (e *Env) Serving(ctx context.Context) string { return e.d.get(ctx, e.d.prod.port) }

// RegisterVersion registers a task definition revision of the demo app
// that reports version, and returns its ARN.
func (e *Env) RegisterVersion(ctx context.Context, version string) (string, error) {
	return e.d.registerTaskDefinition(ctx, version)
}

// Cleanup deletes the demo's ECS service and waits until its tasks have
// stopped, so no demo app process outlives the caller.
func (e *Env) Cleanup(ctx context.Context) error { return e.d.cleanup(ctx) }

// Run sets the demo up (or finds it set up), waits until the service
// serves, and deploys its next version, following the deployment to its
// end.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "\n=== cutover demo: a canary deployment of an ECS service (tasks run as host processes)\n")
	}
	env, err := Setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return env.d.run(ctx, start)
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.cfg.Out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context, start time.Time) (*Result, error) {
	res := &Result{ProdURL: d.url(d.prod.port), TestURL: d.url(d.test.port)}
	d.say("waiting for the service to answer on %s ...", res.ProdURL)
	from, err := d.waitServing(ctx)
	if err != nil {
		return nil, err
	}
	res.From, res.To = from, nextVersion(from)
	d.say("%s serves production traffic (%s after start)", from, time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(d.cfg.Out, "\n    Try it:  curl %s        (production listener)\n", res.ProdURL)
	fmt.Fprintf(d.cfg.Out, "             curl %s        (test listener: the new version before it takes traffic)\n\n", res.TestURL)

	td, err := d.registerTaskDefinition(ctx, res.To)
	if err != nil {
		return nil, err
	}
	spec := AppSpec(td, nil)
	specFile := ""
	if d.cfg.Dir != "" {
		if err := os.MkdirAll(d.cfg.Dir, 0o755); err == nil {
			specFile = filepath.Join(d.cfg.Dir, "appspec-"+res.To+".yaml")
			if err := os.WriteFile(specFile, []byte(spec), 0o644); err != nil {
				specFile = ""
			}
		}
	}
	out, err := d.cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
		ApplicationName: aws.String(Name), DeploymentGroupName: aws.String(Name),
		Description: aws.String(fmt.Sprintf("cutover demo: %s to %s, canary 20%% then 100%%", res.From, res.To)),
		Revision:    appSpecRevision(spec),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: creating the deployment: %w", err)
	}
	res.DeploymentID = aws.ToString(out.DeploymentId)
	d.say("created deployment %s: %s → %s with %s (20%% of traffic for the canary interval, then all)", res.DeploymentID, res.From, res.To, ConfigName)
	if specFile != "" {
		fmt.Fprintf(d.cfg.Out, "\n    The same by hand:  cutover deploy --application %s --deployment-group %s --appspec %s --wait\n", Name, Name, specFile)
	}
	fmt.Fprintf(d.cfg.Out, "    Watch it from another shell:  cutover deploy watch %s   (or cutover deployments)\n\n", res.DeploymentID)

	w := &deploywatch.Watcher{Client: d.cd, Out: d.cfg.Out, Interval: d.cfg.PollInterval, FollowRollback: true, OnChange: d.sampleOnShift}
	res.Watch, err = w.Watch(ctx, res.DeploymentID)
	if err != nil {
		return res, err
	}
	if !res.Watch.Succeeded() {
		return res, fmt.Errorf("demo: deployment %s ended %s: %s %s", res.DeploymentID, res.Watch.Final.Status, res.Watch.Final.ErrorCode, res.Watch.Final.ErrorMsg)
	}
	fmt.Fprintf(d.cfg.Out, "\n=== %s now serves %s (the demo took %s).\n", res.ProdURL, res.To, time.Since(start).Round(time.Second))
	fmt.Fprintf(d.cfg.Out, "    curl %s\n", res.ProdURL)
	fmt.Fprintf(d.cfg.Out, "    cutover deployments                       # list deployments\n")
	fmt.Fprintf(d.cfg.Out, "    cutover deploy watch %s          # replay this one's outcome\n", res.DeploymentID)
	fmt.Fprintf(d.cfg.Out, "    Run --demo again on this data dir to deploy %s.\n", nextVersion(res.To))
	fmt.Fprintf(d.cfg.Out, "    The server keeps running (Ctrl-C stops it). Its tasks keep running too, for the next start to adopt;\n")
	fmt.Fprintf(d.cfg.Out, "    remove them with: aws ecs delete-service --cluster %s --service %s --force --endpoint-url %s\n\n", Name, Name, d.cfg.Endpoint)
	return res, nil
}

func (d *demo) url(port int32) string {
	return "http://" + net.JoinHostPort(d.cfg.LBHost, strconv.Itoa(int(port))) + "/"
}

// sampleOnShift sends a bounded number of requests to the production
// listener whenever the traffic split moves, and says which versions
// answered: the canary made visible.
func (d *demo) sampleOnShift(ctx context.Context, prev, cur deploywatch.State) []string {
	split := deploywatch.Split(cur.TaskSets)
	if split == deploywatch.Split(prev.TaskSets) || !strings.Contains(split, "Green") && !deploywatch.Terminal(cur.Status) {
		return nil
	}
	counts := map[string]int{}
	var order []string
	for range d.cfg.SampleRequests {
		v := d.get(ctx, d.prod.port)
		if v == "" {
			v = "error"
		}
		if counts[v] == 0 {
			order = append(order, v)
		}
		counts[v]++
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%s %d%%", v, counts[v]*100/d.cfg.SampleRequests))
	}
	return []string{fmt.Sprintf("prod traffic sample: %s (%d requests)", strings.Join(parts, " "), d.cfg.SampleRequests)}
}

// get asks a listener which version answers; "" when none does.
func (d *demo) get(ctx context.Context, port int32) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url(port), nil)
	if err != nil {
		return ""
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get(VersionHeader)
}

// waitServing waits until the production listener answers and returns the
// version that does.
func (d *demo) waitServing(ctx context.Context) (string, error) {
	deadline := time.Now().Add(d.cfg.ServeTimeout)
	for {
		if v := d.get(ctx, d.prod.port); v != "" {
			return v, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("demo: the service did not answer on %s within %v (see the server log)", d.url(d.prod.port), d.cfg.ServeTimeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nextVersion turns v1 into v2; anything unexpected restarts at v2.
func nextVersion(v string) string {
	if n, err := strconv.Atoi(strings.TrimPrefix(v, "v")); err == nil && strings.HasPrefix(v, "v") && n >= 0 {
		return "v" + strconv.Itoa(n+1)
	}
	return "v2"
}

// Hook is one AppSpec hook: a lifecycle event and its target (a URL, in
// cutover).
type Hook struct{ Event, Target string }

// AppSpec is the YAML AppSpec that deploys a task definition of the demo
// service, with optional hooks.
func AppSpec(taskDefinitionARN string, hooks []Hook) string {
	s := fmt.Sprintf(`version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: %q
        LoadBalancerInfo:
          ContainerName: %s
          ContainerPort: %d
`, taskDefinitionARN, containerName, containerPort)
	if len(hooks) > 0 {
		s += "Hooks:\n"
		for _, h := range hooks {
			s += fmt.Sprintf("  - %s: %q\n", h.Event, h.Target)
		}
	}
	return s
}

func appSpecRevision(spec string) *cdtypes.RevisionLocation {
	return &cdtypes.RevisionLocation{
		RevisionType:   cdtypes.RevisionLocationTypeAppSpecContent,
		AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(spec), Sha256: aws.String(sha256Hex(spec))},
	}
}

// errorCode is the AWS error name of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
