// Command agents benchmarks one `cutover server` against a fleet of
// simulated host agents.
//
//	go run ./bench/agents [-agents 2000] [-idle 10s] [-runs 1]
//
// It starts a server (built from this module, fresh data dir, log level
// info) whose credentials file binds one access key per agent to its IAM
// user ARN, registers every agent as an on-premises instance tagged
// fleet=bench, and starts one goroutine per agent speaking the agent
// protocol (JSON 1.1, SigV4 service codedeploy-commands): PollHostCommand
// in a loop (the server holds each poll up to 60 s), and for a command
// GetDeploymentSpecification, PutHostCommandAcknowledgement (a no-op) and
// PutHostCommandComplete Succeeded.
//
// It reports, as a markdown table:
//   - idle: the server's CPU (utime+stime from /proc/<pid>/stat over
//     -idle, as a share of one core) and RSS while every agent long-polls;
//   - deployment: the time from CreateDeployment of a no-op revision with
//     CodeDeployDefault.AllAtOnce across all agents to Succeeded (7
//     lifecycle commands per agent);
//   - dispatch latency: for every command after a host's first, the time
//     from the host completing its previous command (its turn for the
//     next) to the next one arriving in its poll, p50/p99/max.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

const (
	region      = "us-east-1"
	target      = "CodeDeployCommandService_v20141006."
	signingName = "codedeploy-commands"
)

func main() {
	n := flag.Int("agents", 2000, "simulated agents")
	idle := flag.Duration("idle", 10*time.Second, "how long idle CPU is measured")
	runs := flag.Int("runs", 1, "AllAtOnce deployments to time")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*n, *idle, *runs); err != nil {
		log.Fatal(err)
	}
}

type agent struct {
	name, arn, key, secret string
	// done is when the agent completed its last command; zero before the
	// first. Only the agent's goroutine touches it.
	done time.Time
}

type fleet struct {
	endpoint string
	client   *http.Client
	signer   *v4.Signer
	lat      []time.Duration
	latMu    sync.Mutex
	commands atomic.Int64
	errors   atomic.Int64
	lastErr  atomic.Value
}

func run(n int, idle time.Duration, runs int) error {
	tmp, err := os.MkdirTemp("", "cutover-bench-agents-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log.Printf("building cutover")
	bins, err := ecstest.Build(tmp)
	if err != nil {
		return err
	}
	account := ecstest.RandomAccountID()
	agents := make([]*agent, n)
	var creds strings.Builder
	for i := range agents {
		a := &agent{name: fmt.Sprintf("host-%04d", i), key: fmt.Sprintf("AKIABENCH%07d", i), secret: ecstest.RandomHex(20)}
		a.arn = "arn:aws:iam::" + account + ":user/" + a.name
		fmt.Fprintf(&creds, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\niam_user_arn = %s\n\n", a.name, a.key, a.secret, a.arn)
		agents[i] = a
	}
	dataDir := filepath.Join(tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "credentials"), []byte(creds.String()), 0o600); err != nil {
		return err
	}
	ctx := context.Background()
	srv, err := ecstest.StartServer(ctx, ecstest.ServerOptions{Bin: bins.Cutover, DataDir: dataDir, Runtime: "none", AccountID: account, LogLevel: "warn"})
	if err != nil {
		return err
	}
	defer srv.Stop(15 * time.Second)
	cd := codedeploy.NewFromConfig(srv.AWSConfig(), func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })

	log.Printf("registering %d on-premises instances", n)
	if err := parallel(16, agents, func(a *agent) error {
		if _, err := cd.RegisterOnPremisesInstance(ctx, &codedeploy.RegisterOnPremisesInstanceInput{InstanceName: aws.String(a.name), IamUserArn: aws.String(a.arn)}); err != nil {
			return err
		}
		_, err := cd.AddTagsToOnPremisesInstances(ctx, &codedeploy.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{a.name},
			Tags: []cdtypes.Tag{{Key: aws.String("fleet"), Value: aws.String("bench")}}})
		return err
	}); err != nil {
		return err
	}
	if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("bench"), ComputePlatform: cdtypes.ComputePlatformServer}); err != nil {
		return err
	}
	if _, err := cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String("fleet"),
		ServiceRoleArn:               aws.String("arn:aws:iam::" + account + ":role/CodeDeploy"),
		DeploymentConfigName:         aws.String("CodeDeployDefault.AllAtOnce"),
		OnPremisesInstanceTagFilters: []cdtypes.TagFilter{{Key: aws.String("fleet"), Value: aws.String("bench"), Type: cdtypes.TagFilterTypeKeyAndValue}},
	}); err != nil {
		return err
	}
	f := &fleet{endpoint: srv.Endpoint, signer: v4.NewSigner(), client: &http.Client{
		Timeout: 90 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: n + 16, MaxIdleConns: n + 16, IdleConnTimeout: 5 * time.Minute,
			DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext},
	}}
	if err := f.putBundle(ctx, srv); err != nil {
		return err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.loop(a, stop)
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	// Let every agent's first poll arrive and settle before measuring.
	time.Sleep(5 * time.Second)
	cpu0, _ := cpuTicks(srv.Pid())
	t0 := time.Now()
	time.Sleep(idle)
	cpu1, _ := cpuTicks(srv.Pid())
	idleCores := float64(cpu1-cpu0) / clockTicks / time.Since(t0).Seconds()
	rssIdle, _ := rss(srv.Pid())

	var deployTimes []time.Duration
	for r := 0; r < runs; r++ {
		f.latMu.Lock()
		f.lat = f.lat[:0]
		f.latMu.Unlock()
		start := time.Now()
		out, err := cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String("fleet"),
			Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3, S3Location: &cdtypes.S3Location{
				Bucket: aws.String("bundles"), Key: aws.String("noop.tgz"), BundleType: cdtypes.BundleTypeTarGZip}}})
		if err != nil {
			return err
		}
		for {
			d, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: out.DeploymentId})
			if err != nil {
				return err
			}
			st := d.DeploymentInfo.Status
			if st == cdtypes.DeploymentStatusSucceeded {
				break
			}
			if st == cdtypes.DeploymentStatusFailed || st == cdtypes.DeploymentStatusStopped {
				return fmt.Errorf("deployment %s ended %s: %+v (agent errors %d, last %v)", *out.DeploymentId, st, d.DeploymentInfo.ErrorInformation, f.errors.Load(), f.lastErr.Load())
			}
			if time.Since(start) > 10*time.Minute {
				return fmt.Errorf("deployment %s still %s after 10 minutes: %+v", *out.DeploymentId, st, d.DeploymentInfo.DeploymentOverview)
			}
			time.Sleep(100 * time.Millisecond)
		}
		deployTimes = append(deployTimes, time.Since(start))
		for _, a := range agents {
			a.done = time.Time{}
		}
	}
	rssAfter, _ := rss(srv.Pid())
	f.latMu.Lock()
	lat := slices.Clone(f.lat)
	f.latMu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("\n| agents | idle CPU (share of one core) | idle RSS | AllAtOnce no-op deployment | commands | dispatch p50 | dispatch p99 | dispatch max | RSS after |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	var dts []string
	for _, d := range deployTimes {
		dts = append(dts, d.Round(10*time.Millisecond).String())
	}
	fmt.Printf("| %d | %.3f | %d MiB | %s | %d | %v | %v | %v | %d MiB |\n", n, idleCores, rssIdle>>20, strings.Join(dts, ", "), f.commands.Load(),
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), rssAfter>>20)
	if e := f.errors.Load(); e > 0 {
		fmt.Printf("\n%d agent calls failed (last: %v)\n", e, f.lastErr.Load())
	}
	return nil
}

// loop is one agent: poll, and run what comes.
func (f *fleet) loop(a *agent, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		var poll struct {
			HostCommand *struct {
				HostCommandIdentifier string
				DeploymentExecutionId string
				CommandName           string
			}
		}
		if err := f.call(a, "PollHostCommand", map[string]any{"HostIdentifier": a.arn}, &poll); err != nil {
			f.fail(err)
			time.Sleep(time.Second)
			continue
		}
		hc := poll.HostCommand
		if hc == nil {
			continue
		}
		if !a.done.IsZero() {
			f.latMu.Lock()
			f.lat = append(f.lat, time.Since(a.done))
			f.latMu.Unlock()
		}
		if err := f.call(a, "GetDeploymentSpecification", map[string]any{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": a.arn}, nil); err != nil {
			f.fail(err)
		}
		ack := map[string]any{"HostCommandIdentifier": hc.HostCommandIdentifier, "Diagnostics": map[string]string{"Format": "JSON", "Payload": `{"IsCommandNoop":true}`}}
		if err := f.call(a, "PutHostCommandAcknowledgement", ack, nil); err != nil {
			f.fail(err)
		}
		done := map[string]any{"HostCommandIdentifier": hc.HostCommandIdentifier, "CommandStatus": "Succeeded",
			"Diagnostics": map[string]string{"Format": "JSON", "Payload": `{"error_code":0,"script_name":"","message":"Succeeded","log":""}`}}
		if err := f.call(a, "PutHostCommandComplete", done, nil); err != nil {
			f.fail(err)
		}
		a.done = time.Now()
		f.commands.Add(1)
	}
}

func (f *fleet) fail(err error) {
	f.errors.Add(1)
	f.lastErr.Store(err.Error())
}

// call makes one signed JSON 1.1 call of the agent protocol.
func (f *fleet) call(a *agent, op string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequest(http.MethodPost, f.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target+op)
	sum := sha256.Sum256(body)
	if err := f.signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: a.key, SecretAccessKey: a.secret}, req,
		hex.EncodeToString(sum[:]), signingName, region, time.Now()); err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", op, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// putBundle stores a small object as the revision (S3, signed with the
// root key), for a server that checks revisions against its bundles.
func (f *fleet) putBundle(ctx context.Context, srv *ecstest.Server) error {
	root := aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.Secret}
	for _, p := range []struct {
		path string
		body []byte
	}{{"/bundles", nil}, {"/bundles/noop.tgz", []byte("not really a tgz: the simulated agents never download it")}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.Endpoint+p.path, bytes.NewReader(p.body))
		sum := sha256.Sum256(p.body)
		h := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", h)
		if err := f.signer.SignHTTP(ctx, root, req, h, "s3", region, time.Now()); err != nil {
			return err
		}
		resp, err := f.client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: %s: %s", p.path, resp.Status, b)
		}
	}
	return nil
}

func parallel(workers int, agents []*agent, fn func(*agent) error) error {
	ch := make(chan *agent)
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				if err := fn(a); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for _, a := range agents {
		ch <- a
	}
	close(ch)
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// cpuTicks is utime+stime of a process, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, nil
}

// rss is the resident set size in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
