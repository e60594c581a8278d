// Command watch benchmarks the registry watcher on real parts in one
// process: go-containerregistry's registry served over HTTP on 127.0.0.1,
// the real RemoteRegistry client, a real SQLite store, cutover's real ECS
// service (reached through its wire API in process) for the task
// definition clone, and the real clock. CodeDeploy is a recorder: the
// measure ends when the watcher calls CreateDeployment (bench/deploy times
// deployments themselves).
//
//		go run ./bench/watch [-n 20] [-interval 5s] [-polls 5] [-rules 500] [-rules-for 30s]
//
//	  - notification: push a new `latest`, POST the registry's notification
//	    envelope to the notification endpoint (over HTTP), and time from the
//	    end of the push to CreateDeployment (rule interval 1 h, so only the
//	    notification can explain the reaction); -n runs.
//	  - polling: push a new `latest` at a random point of the poll cycle and
//	    time from the end of the push to CreateDeployment; -polls runs. The
//	    bound is the interval plus its 10 % jitter plus the check itself.
//	  - many rules: -rules digest rules (interval 10 s) on one registry, one
//	    repository each, for -rules-for: registry requests per second, store
//	    writes per second, and the process's CPU use.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cutover/cutover/internal/awsproto"
	ecssvc "github.com/cutover/cutover/internal/ecs"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
	"github.com/cutover/cutover/internal/watch"
	"github.com/cutover/cutover/internal/watch/awsapi"
)

var (
	runs     = flag.Int("n", 20, "notification runs")
	interval = flag.Duration("interval", 5*time.Second, "poll interval of the polling runs")
	polls    = flag.Int("polls", 5, "polling runs")
	nRules   = flag.Int("rules", 500, "rules in the many-rules run")
	rulesFor = flag.Duration("rules-for", 30*time.Second, "length of the many-rules run")
)

// recorder is CodeDeploy as far as the watcher sees it: every deployment
// is created and has succeeded at once.
type recorder struct {
	mu      sync.Mutex
	created chan time.Time
	n       int
}

func (r *recorder) GetDeploymentGroup(context.Context, string, string) (*watch.DeploymentGroup, error) {
	return &watch.DeploymentGroup{ComputePlatform: "ECS", ECSServices: []watch.ECSServiceRef{{Cluster: "default", Service: "web"}}}, nil
}

func (r *recorder) CreateDeployment(context.Context, string, string, string, string) (string, error) {
	now := time.Now()
	r.mu.Lock()
	r.n++
	id := fmt.Sprintf("d-%09d", r.n)
	r.mu.Unlock()
	select {
	case r.created <- now:
	default:
	}
	return id, nil
}

func (r *recorder) DeploymentStatus(context.Context, string) (string, error) { return "Succeeded", nil }

// countingTransport counts registry requests.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

// countingStore counts durable writes.
type countingStore struct {
	store.Store
	writes atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	c.writes.Add(1)
	return c.Store.Update(ctx, fn)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(ln, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host := ln.Addr().String()

	dir, err := os.MkdirTemp("", "cutover-bench-watch-")
	check(err)
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "cutover.db"), quiet)
	check(err)
	defer db.Close()
	st := &countingStore{Store: db}

	// The real ECS service with one service running the first image.
	es, err := ecssvc.New(ecssvc.Config{Region: "us-east-1", AccountID: "123456789012", Store: db, Log: quiet})
	check(err)
	ec := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://in-process"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:  awsapi.HandlerClient(es.JSON(), awsproto.Principal{AccessKeyID: "AKID", Root: true})})
	_, err = ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")})
	check(err)
	td, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []ecstypes.ContainerDefinition{
		{Name: aws.String("web"), Image: aws.String(host + "/app:latest"), Memory: aws.Int32(64), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	check(err)
	_, err = ec.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String("web"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
		DesiredCount: aws.Int32(0), DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}}})
	check(err)

	reg := &countingTransport{}
	rec := &recorder{created: make(chan time.Time, 1)}
	svc, err := watch.New(watch.Config{Store: st, Log: quiet, Registry: &watch.RemoteRegistry{Transport: reg},
		ECS: awsapi.ECS{Client: ec}, CodeDeploy: rec, NotificationToken: "bench", Workers: 16})
	check(err)
	notify := httptest.NewServer(svc.NotificationHandler())
	defer notify.Close()
	go svc.Run(ctx)

	api := func(op string, in any) {
		w := httptest.NewRecorder()
		b := strings.NewReader(mustJSON(in))
		req := httptest.NewRequest(http.MethodPost, "/", b)
		req.Header.Set("X-Amz-Target", watch.TargetPrefix+"."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		svc.JSON().ServeHTTP(w, req)
		if w.Code != 200 {
			log.Fatalf("%s: %d %s", op, w.Code, w.Body)
		}
	}
	target := map[string]any{"kind": watch.TargetCodeDeployECS, "applicationName": "web", "deploymentGroupName": "web-bg"}
	push := func(repo string) string {
		img, err := random.Image(256, 1)
		check(err)
		ref, _ := name.NewTag(host + "/" + repo + ":latest")
		check(remote.Write(ref, img))
		d, _ := img.Digest()
		return d.String()
	}
	drain := func() {
		for {
			select {
			case <-rec.created:
			default:
				return
			}
		}
	}
	wait := func(d time.Duration) (time.Time, bool) {
		select {
		case t := <-rec.created:
			return t, true
		case <-time.After(d):
			return time.Time{}, false
		}
	}

	// Notification.
	push("app")
	api("CreateWatchRule", map[string]any{"name": "notified", "image": host + "/app", "policyExpression": "digest:latest", "intervalSeconds": 3600, "target": target})
	if _, ok := wait(10 * time.Second); !ok {
		log.Fatal("the first check deployed nothing")
	}
	var lat []time.Duration
	for range *runs {
		drain()
		d := push("app")
		pushed := time.Now()
		env := fmt.Sprintf(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":"app","tag":"latest"},"request":{"host":%q}}]}`, d, host)
		resp, err := http.Post(notify.URL+watch.PathDistribution+"?token=bench", "application/json", strings.NewReader(env))
		check(err)
		resp.Body.Close()
		t, ok := wait(10 * time.Second)
		if !ok {
			log.Fatal("a notification led to no deployment within 10 s")
		}
		lat = append(lat, t.Sub(pushed))
	}
	api("DeleteWatchRule", map[string]any{"name": "notified"})
	fmt.Printf("| push → CreateDeployment, notification | %d runs | median %s | max %s |\n", len(lat), ms(median(lat)), ms(slicesMax(lat)))

	// Polling.
	push("polled")
	api("CreateWatchRule", map[string]any{"name": "polled", "image": host + "/polled", "policyExpression": "digest:latest",
		"intervalSeconds": int64(*interval / time.Second), "target": target})
	if _, ok := wait(10 * time.Second); !ok {
		log.Fatal("the first check deployed nothing")
	}
	lat = lat[:0]
	for range *polls {
		time.Sleep(time.Duration(rand.Int64N(int64(*interval))))
		drain()
		push("polled")
		pushed := time.Now()
		t, ok := wait(*interval*2 + 5*time.Second)
		if !ok {
			log.Fatal("a push was not deployed within two intervals")
		}
		lat = append(lat, t.Sub(pushed))
	}
	api("DeleteWatchRule", map[string]any{"name": "polled"})
	fmt.Printf("| push → CreateDeployment, polling every %s | %d runs | median %s | max %s |\n", *interval, len(lat), ms(median(lat)), ms(slicesMax(lat)))

	// Many rules on one registry.
	for i := range *nRules {
		push(fmt.Sprintf("r%d", i))
	}
	reg.n.Store(0)
	st.writes.Store(0)
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := range *nRules {
		api("CreateWatchRule", map[string]any{"name": fmt.Sprintf("r%d", i), "image": fmt.Sprintf("%s/r%d", host, i), "policyExpression": "digest:latest",
			"intervalSeconds": 10, "target": target})
	}
	time.Sleep(*rulesFor)
	el := time.Since(start)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)
	fmt.Printf("| %d rules, interval 10 s, one registry | %s | %.0f registry requests/s | %.0f store writes/s | CPU %.1f%% of one core (registry included) |\n",
		*nRules, el.Round(time.Second), float64(reg.n.Load())/el.Seconds(), float64(st.writes.Load())/el.Seconds(), 100*cpu.Seconds()/el.Seconds())
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	check(err)
	return string(b)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
