// Command api benchmarks cutover's CodeDeploy API against a floor and, when
// installed, moto.
//
//	go run ./bench/api [-rounds 3] [-duration 3s] [-concurrency 8] [-apps 50]
//
// Targets, each a separate process so that none shares the benchmark's
// scheduler or garbage collector:
//
//   - cutover: the real `cutover server` binary (built from this module
//     unless -cutover-bin is given) with a fresh data dir, SQLite durable as
//     shipped, signature verification on, logging at its default level;
//   - floor: this same program re-executed with -serve-floor, answering
//     every POST with a constant, valid body for the operation. It does no
//     signature check and no storage, so it measures what any server must
//     cost: the Go SDK's signing and serialisation plus a loopback HTTP round
//     trip. cutover's throughput is reported as a share of it;
//   - moto (python3 -m moto.server), when python3 has moto installed.
//
// For each operation, -rounds rounds measure every target in turn (the
// order rotates each round), so that a change in what else the machine is
// doing hits all targets alike; the table reports the median round's
// throughput, latency percentiles over all rounds, and cutover's share of
// the floor per round. In each measurement -concurrency workers, each with
// its own SDK client and connection pool, call the operation in a loop for
// -duration after a warm-up. GetApplication reads one of -apps applications;
// ListApplications lists them all (one page); CreateApplication uses unique
// names and, where the target supports it, each create is followed by a
// DeleteApplication (both are counted) so that the run stays under AWS's
// quota of 1000 applications, which cutover enforces.
//
// On a shared 2-core machine the benchmark, the target and the SDK compete
// for the same cores: compare the ratios of one run, not absolute numbers
// across runs.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/smithy-go"
)

var ops = []string{"GetApplication", "ListApplications", "CreateApplication"}

func main() {
	var (
		rounds      = flag.Int("rounds", 3, "rounds per operation, each measuring every target once")
		duration    = flag.Duration("duration", 3*time.Second, "measured time per target, operation and round")
		warmup      = flag.Duration("warmup", 500*time.Millisecond, "unmeasured calls before each measurement")
		concurrency = flag.Int("concurrency", 8, "concurrent SDK clients")
		apps        = flag.Int("apps", 50, "applications created before measuring (ListApplications lists them)")
		cutoverBin  = flag.String("cutover-bin", "", "cutover binary (default: built from this module)")
		withMoto    = flag.Bool("moto", true, "also benchmark moto when python3 has it")
		onlyOps     = flag.String("ops", strings.Join(ops, ","), "operations to measure, comma-separated")
		debugAddr   = flag.String("debug-addr", "", "pass --debug-addr to cutover, to profile it while it is measured")
		serveFloor  = flag.String("serve-floor", "", "internal: serve the floor on this address")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if *serveFloor != "" {
		runFloor(*serveFloor, *apps)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{duration: *duration, warmup: *warmup, concurrency: *concurrency, apps: *apps, debugAddr: *debugAddr, rounds: max(1, *rounds),
		ops: strings.Split(*onlyOps, ",")}
	err := b.run(ctx, *cutoverBin, *withMoto)
	b.stopAll()
	if err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	duration, warmup time.Duration
	concurrency      int
	rounds           int
	apps             int
	debugAddr        string
	ops              []string
	work             string
	procs            []*exec.Cmd
}

type target struct {
	name      string
	endpoint  string
	creds     aws.Credentials
	canDelete bool
}

type result struct {
	target, op string
	round      int
	calls      int
	errs       int
	firstErr   error
	elapsed    time.Duration
	latencies  []time.Duration // sorted
}

func (r result) throughput() float64 { return float64(r.calls) / r.elapsed.Seconds() }

func (b *bench) run(ctx context.Context, cutoverBin string, withMoto bool) error {
	var err error
	b.work, err = os.MkdirTemp("", "cutover-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.work)

	if cutoverBin == "" {
		cutoverBin = filepath.Join(b.work, "cutover")
		log.Printf("building cutover")
		build := exec.CommandContext(ctx, "go", "build", "-o", cutoverBin, "./cmd/cutover")
		build.Dir, err = moduleRoot()
		if err != nil {
			return err
		}
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building cutover: %w", err)
		}
	}

	var targets []target
	cut, err := b.startCutover(ctx, cutoverBin)
	if err != nil {
		return err
	}
	targets = append(targets, cut)
	floor, err := b.startFloor(ctx)
	if err != nil {
		return err
	}
	targets = append(targets, floor)
	if withMoto {
		if m, err := b.startMoto(ctx); err != nil {
			log.Printf("moto skipped: %v", err)
		} else {
			targets = append(targets, m)
		}
	}

	for _, t := range targets {
		if err := b.seed(ctx, t); err != nil {
			log.Printf("%s: seeding applications: %v", t.name, err)
		}
	}
	var results []result
	for _, op := range b.ops {
		for round := range b.rounds {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Printf("%s %s, round %d", t.name, op, round+1)
				r := b.measure(ctx, t, op)
				r.round = round
				results = append(results, r)
			}
		}
	}
	printTable(os.Stdout, results, b)
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the cutover module, or pass -cutover-bin")
	}
	return filepath.Dir(mod), nil
}

// start runs a target process and returns it; stopAll ends it.
func (b *bench) start(ctx context.Context, name string, args []string, logFile string) (*exec.Cmd, io.Reader, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lf, err := os.Create(filepath.Join(b.work, logFile))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = lf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting %s: %w", name, err)
	}
	b.procs = append(b.procs, cmd)
	return cmd, stdout, nil
}

// stopAll asks every started process to stop, then kills what is left.
func (b *bench) stopAll() {
	for _, p := range b.procs {
		// Signal the process group: moto's server forks workers.
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	}
	for _, p := range b.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	b.procs = nil
}

func (b *bench) startCutover(ctx context.Context, bin string) (target, error) {
	args := []string{"server", "--addr", "127.0.0.1:0", "--tls-addr", "",
		"--data-dir", filepath.Join(b.work, "cutover-data")}
	if b.debugAddr != "" {
		args = append(args, "--debug-addr", b.debugAddr)
	}
	_, stdout, err := b.start(ctx, bin, args, "cutover.log")
	if err != nil {
		return target{}, err
	}
	t := target{name: "cutover", canDelete: true}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(30 * time.Second)
	for t.endpoint == "" || t.creds.SecretAccessKey == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return t, fmt.Errorf("cutover exited; see its log in %s", b.work)
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "endpoint:":
				t.endpoint = f[1]
			case len(f) == 2 && strings.HasPrefix(f[1], "AWS_ACCESS_KEY_ID="):
				t.creds.AccessKeyID = strings.TrimPrefix(f[1], "AWS_ACCESS_KEY_ID=")
			case len(f) == 2 && strings.HasPrefix(f[1], "AWS_SECRET_ACCESS_KEY="):
				t.creds.SecretAccessKey = strings.TrimPrefix(f[1], "AWS_SECRET_ACCESS_KEY=")
			}
		case <-deadline:
			return t, errors.New("cutover did not print its endpoint and key pair within 30s")
		case <-ctx.Done():
			return t, ctx.Err()
		}
	}
	go func() {
		for range lines {
		}
	}()
	return t, nil
}

func (b *bench) startFloor(ctx context.Context) (target, error) {
	self, err := os.Executable()
	if err != nil {
		return target{}, err
	}
	_, stdout, err := b.start(ctx, self, []string{"-serve-floor", "127.0.0.1:0", "-apps", fmt.Sprint(b.apps)}, "floor.log")
	if err != nil {
		return target{}, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return target{}, fmt.Errorf("floor server did not start: %w", err)
	}
	return target{name: "floor", endpoint: strings.TrimSpace(line), canDelete: true,
		creds: aws.Credentials{AccessKeyID: "AKIAFLOOR", SecretAccessKey: "floor"}}, nil
}

func (b *bench) startMoto(ctx context.Context) (target, error) {
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		return target{}, errors.New("python3 with moto[server] is not installed")
	}
	port, err := freePort()
	if err != nil {
		return target{}, err
	}
	if _, _, err := b.start(ctx, "python3", []string{"-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port)}, "moto.log"); err != nil {
		return target{}, err
	}
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		resp, err := http.Get(ep + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 300 {
			return target{}, errors.New("moto did not answer within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// moto has no DeleteApplication, so its creates accumulate.
	return target{name: "moto", endpoint: ep, creds: aws.Credentials{AccessKeyID: "AKIAMOTO", SecretAccessKey: "moto"}}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func newClient(t target) *codedeploy.Client {
	return codedeploy.New(codedeploy.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(t.endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: t.creds},
		// Each worker its own pool, as separate SDK clients would have.
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}},
		// No retries: a refused or failed call counts as an error.
		RetryMaxAttempts: 1,
	})
}

func appName(i int) string { return fmt.Sprintf("bench-app-%03d", i) }

func (b *bench) seed(ctx context.Context, t target) error {
	c := newClient(t)
	for i := range b.apps {
		_, err := c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(appName(i))})
		if err != nil {
			return err
		}
	}
	return nil
}

// measure runs one operation against one target: a warm-up, then the
// measured window.
func (b *bench) measure(ctx context.Context, t target, op string) result {
	res := result{target: t.name, op: op}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	measureFrom := start.Add(b.warmup)
	end := measureFrom.Add(b.duration)
	for w := range b.concurrency {
		wg.Go(func() {
			c := newClient(t)
			var lat []time.Duration
			var errs int
			var firstErr error
			for i := 0; ; i++ {
				now := time.Now()
				if now.After(end) || ctx.Err() != nil {
					break
				}
				measured := now.After(measureFrom)
				calls, err := call(ctx, c, t, op, w, i)
				for _, d := range calls {
					if measured {
						lat = append(lat, d)
					}
				}
				if err != nil && measured {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = b.duration
	res.calls = len(all)
	slices.Sort(all)
	res.latencies = all
	return res
}

// call makes one iteration of an operation and returns the latency of each
// successful call made.
func call(ctx context.Context, c *codedeploy.Client, t target, op string, worker, i int) ([]time.Duration, error) {
	t0 := time.Now()
	var err error
	switch op {
	case "GetApplication":
		_, err = c.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String(appName(i % 50))})
	case "ListApplications":
		_, err = c.ListApplications(ctx, &codedeploy.ListApplicationsInput{})
	case "CreateApplication":
		name := aws.String(fmt.Sprintf("bench-new-%d-%d-%d", worker, i, t0.UnixNano()))
		if _, err = c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: name}); err != nil || !t.canDelete {
			break
		}
		d1 := time.Since(t0)
		t1 := time.Now()
		if _, err = c.DeleteApplication(ctx, &codedeploy.DeleteApplicationInput{ApplicationName: name}); err != nil {
			return []time.Duration{d1}, err
		}
		return []time.Duration{d1, time.Since(t1)}, nil
	}
	if err != nil {
		return nil, err
	}
	return []time.Duration{time.Since(t0)}, nil
}

// summary is one target and operation over all rounds.
type summary struct {
	target, op string
	median     float64 // req/s of the median round
	p50, p99   time.Duration
	errs       int
	firstErr   error
	calls      int
	ratios     []float64 // per round, against the floor's same round
}

func summarize(results []result) []summary {
	var out []summary
	index := map[[2]string]int{}
	floor := map[string]map[int]float64{}
	for _, r := range results {
		if r.target == "floor" {
			if floor[r.op] == nil {
				floor[r.op] = map[int]float64{}
			}
			floor[r.op][r.round] = r.throughput()
		}
	}
	var tputs [][]float64
	var lats [][]time.Duration
	for _, r := range results {
		k := [2]string{r.target, r.op}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, summary{target: r.target, op: r.op})
			tputs = append(tputs, nil)
			lats = append(lats, nil)
		}
		s := &out[i]
		s.errs += r.errs
		s.calls += r.calls
		if s.firstErr == nil {
			s.firstErr = r.firstErr
		}
		tputs[i] = append(tputs[i], r.throughput())
		lats[i] = append(lats[i], r.latencies...)
		if f := floor[r.op][r.round]; f > 0 && r.target != "floor" {
			s.ratios = append(s.ratios, r.throughput()/f)
		}
	}
	for i := range out {
		out[i].median = median(tputs[i])
		if l := lats[i]; len(l) > 0 {
			slices.Sort(l)
			out[i].p50 = l[len(l)*50/100]
			out[i].p99 = l[min(len(l)-1, len(l)*99/100)]
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func printTable(w io.Writer, results []result, b *bench) {
	sums := summarize(results)
	fmt.Fprintf(w, "\n%d concurrent Go SDK clients; %d rounds of %s per target and operation, each after %s warm-up; %d applications\n\n",
		b.concurrency, b.rounds, b.duration, b.warmup, b.apps)
	fmt.Fprintln(w, "| target | operation | req/s (median round) | p50 | p99 | errors | vs floor (median; per round) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	var notes []string
	for _, s := range sums {
		op := s.op
		if s.op == "CreateApplication" {
			if s.target == "moto" {
				op += " (create only)"
			} else {
				op += " (+ Delete)"
			}
		}
		if s.calls == 0 && s.errs > 0 {
			reason := "n/a (every call failed)"
			if isDeserialization(s.firstErr) {
				reason = "n/a (SDK cannot parse moto's response)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | | | %d | |\n", s.target, op, reason, s.errs)
			notes = append(notes, fmt.Sprintf("%s %s: %v", s.target, s.op, s.firstErr))
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %d | %s |\n", s.target, op, s.median, ms(s.p50), ms(s.p99), s.errs, ratios(s.ratios))
		if s.firstErr != nil {
			notes = append(notes, fmt.Sprintf("%s %s: first error: %v", s.target, s.op, s.firstErr))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "floor: constant answers, no signature check, no storage (SDK + loopback HTTP only).")
	fmt.Fprintln(w, "CreateApplication (+ Delete): each create is followed by a delete (AWS's 1000-application quota); req/s and latencies count both calls.")
	for _, s := range sums {
		if s.target != "cutover" || len(s.ratios) == 0 {
			continue
		}
		share := median(s.ratios)
		verdict := "meets"
		if share < 0.70 || s.p99 >= 5*time.Millisecond || s.errs > 0 {
			verdict = "MISSES"
		}
		fmt.Fprintf(w, "target (>=70 %% of floor, p99 < 5 ms) %s for %s: %.0f %%, p99 %s\n", verdict, s.op, 100*share, ms(s.p99))
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func ratios(rs []float64) string {
	if len(rs) == 0 {
		return ""
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.0f", 100*r)
	}
	return fmt.Sprintf("**%.0f %%** (%s)", 100*median(rs), strings.Join(parts, ", "))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// isDeserialization tells a response the SDK could not read (moto's string
// timestamps) from a refused call.
func isDeserialization(err error) bool {
	if err == nil {
		return false
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return true
	}
	var ae smithy.APIError
	return !errors.As(err, &ae) && strings.Contains(err.Error(), "deserializ")
}
