// Command deploy benchmarks whole ECS blue/green deployments on real parts:
// how long from CreateDeployment to Succeeded.
//
//	go run ./bench/deploy [-n 5] [-groups 50] [-runtimes process,docker] [-time-scale 1] [-alarm-runs 0]
//
// For each runtime it starts its own `cutover server` (built from this
// module; fresh data dir; the docker one pulls FROM-scratch images of the
// versionserver from a registry on 127.0.0.1) and, with the Go SDK, sets up
// -groups ECS services (desired count 1), each with its own pair of target
// groups and production and test listeners (25 services per load balancer),
// and one CodeDeploy deployment group per service with
// CodeDeployDefault.ECSAllAtOnce, no hooks and a termination wait of 0.
//
//   - single: -n deployments of group 0, one after another (alternating
//     v2 and v1): median and max time from the CreateDeployment call to
//     the first GetDeployment that says Succeeded (polled every 10 ms);
//   - concurrent: one deployment of every group at once: wall time until
//     all Succeeded, and p50/p99 of each deployment's own time (polled
//     every 250 ms, so within 250 ms; the server's own createTime →
//     completeTime is in the last column).
//
// With -alarm-runs N it then times N alarm rollbacks of group 0 (see
// alarm.go): from the first 5xx a client sees to production being back on
// the original task set.
//
// It prints markdown tables, the time each lifecycle event took (median
// over the single runs, from the deployment target's event times), and
// cleans up everything it started. Target groups use ELB's minimum health
// check (5 s interval, 2 healthy checks), so a new task is routable about
// 5 s after it starts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

var (
	flagN         = flag.Int("n", 5, "sequential deployments of one group per runtime")
	flagGroups    = flag.Int("groups", 50, "services (and deployment groups) deploying at once; 0 skips")
	flagRuntimes  = flag.String("runtimes", "process,docker", "runtimes to measure")
	flagTimeScale = flag.Float64("time-scale", 1, "the server's --time-scale (the engine's 1 s poll interval is clock time)")
	flagKeep      = flag.Bool("keep", false, "keep the work folder (server logs) and print its path")
)

type row struct {
	runtime, what               string
	count                       int
	median, max, p50, p99, wall time.Duration
	serverMedian                time.Duration
	note                        string
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	work, err := os.MkdirTemp("", "cutover-bench-deploy-")
	if err != nil {
		log.Fatal(err)
	}
	b := &bench{work: work}
	// Clean up on Ctrl-C too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		b.cleanup()
		os.Exit(130)
	}()
	defer func() {
		b.cleanup()
		if !*flagKeep {
			os.RemoveAll(work)
		} else {
			fmt.Fprintf(os.Stderr, "work folder (server logs): %s\n", work)
		}
	}()
	if err := b.run(); err != nil {
		b.cleanup()
		log.Fatal(err)
	}
}

type bench struct {
	work    string
	bins    ecstest.Bins
	mu      sync.Mutex
	servers []*ecstest.Server
	reg     *ecstest.Registry
	rows    []row
	alarms  []alarmRow
	events  map[string]map[string]time.Duration // runtime → event → median
}

func (b *bench) cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.servers {
		s.Stop(10 * time.Second)
	}
	b.servers = nil
	if b.bins.VersionServer != "" {
		ecstest.KillProcessesOf(b.bins.VersionServer)
	}
	if b.reg != nil {
		ecstest.RemoveContainers(b.reg.Host)
		ecstest.RemoveImages(b.reg.Host)
		b.reg.Close()
		b.reg = nil
	}
}

func (b *bench) run() error {
	fmt.Fprintln(os.Stderr, "building cutover and the versionserver")
	bins, err := ecstest.Build(b.work)
	if err != nil {
		return err
	}
	b.bins = bins
	b.events = map[string]map[string]time.Duration{}
	for _, rt := range strings.Split(*flagRuntimes, ",") {
		rt = strings.TrimSpace(rt)
		if rt == "docker" && !ecstest.DockerAnswers() {
			fmt.Fprintln(os.Stderr, "no Docker daemon answers (test/dockerd.sh starts one): skipping the docker runtime")
			continue
		}
		if err := b.runtime(rt); err != nil {
			return fmt.Errorf("%s runtime: %w", rt, err)
		}
	}
	b.print()
	b.printAlarms()
	return nil
}

// world is one server with its services.
type world struct {
	b      *bench
	rt     string
	srv    *ecstest.Server
	cd     *codedeploy.Client
	ecs    *ecs.Client
	elb    *elbv2.Client
	images map[string]string
	td     map[string]string // version → task definition ARN
	urls   []string          // production listener URL per service
}

func (b *bench) runtime(rt string) error {
	ctx := context.Background()
	w := &world{b: b, rt: rt, images: map[string]string{}, td: map[string]string{}}
	if rt == "docker" {
		reg, err := ecstest.StartRegistry()
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.reg = reg
		b.mu.Unlock()
		for _, v := range []string{"v1", "v2"} {
			ref, err := reg.PushVersionServer(b.bins.VersionServer, "versionserver", v, map[string]string{"VERSION": v})
			if err != nil {
				return err
			}
			w.images[v] = ref
		}
	}
	srv, err := ecstest.StartServer(ctx, ecstest.ServerOptions{
		Bin: b.bins.Cutover, DataDir: filepath.Join(b.work, rt, "data"), Runtime: rt, TimeScale: *flagTimeScale,
		LogPath: filepath.Join(b.work, rt, "server.log"),
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.servers = append(b.servers, srv)
	b.mu.Unlock()
	w.srv = srv
	cfg := srv.AWSConfig()
	cfg.RetryMaxAttempts = 3
	w.cd = codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	w.ecs = ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	w.elb = elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })

	groups := max(*flagGroups, 1)
	fmt.Fprintf(os.Stderr, "%s: setting up %d services\n", rt, groups)
	start := time.Now()
	if err := w.setUp(ctx, groups); err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, srv.LogTail(30))
	}
	fmt.Fprintf(os.Stderr, "%s: %d services serve v1 after %v\n", rt, groups, time.Since(start).Round(time.Millisecond))

	// Sequential single deployments of group 0.
	var client, server []time.Duration
	events := map[string][]time.Duration{}
	for i := 0; i < *flagN; i++ {
		v := []string{"v2", "v1"}[i%2]
		r, err := w.deploy(ctx, 0, v, 10*time.Millisecond)
		if err != nil {
			return fmt.Errorf("%w\nserver log:\n%s", err, srv.LogTail(30))
		}
		fmt.Fprintf(os.Stderr, "%s: single %d: %v (server %v) %s\n", rt, i+1, r.client.Round(time.Millisecond), r.server.Round(time.Millisecond), r.breakdown)
		client = append(client, r.client)
		server = append(server, r.server)
		for ev, d := range r.events {
			events[ev] = append(events[ev], d)
		}
	}
	b.events[rt] = map[string]time.Duration{}
	for ev, ds := range events {
		b.events[rt][ev] = quantile(ds, 0.5)
	}
	b.rows = append(b.rows, row{runtime: rt, what: "one deployment (ECSAllAtOnce)", count: len(client),
		median: quantile(client, 0.5), max: quantile(client, 1), serverMedian: quantile(server, 0.5)})

	if *flagGroups > 0 {
		// Every group at once, to v2 or back to v1 as group 0 needs.
		target := []string{"v2", "v1"}[*flagN%2]
		var wg sync.WaitGroup
		results := make([]deployResult, groups)
		errs := make([]error, groups)
		first := time.Now()
		for i := 0; i < groups; i++ {
			v := "v2"
			if i == 0 {
				v = target
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Poll gently: 50 pollers at 10 ms would load the server.
				results[i], errs[i] = w.deploy(ctx, i, v, 250*time.Millisecond)
			}()
		}
		wg.Wait()
		wall := time.Since(first)
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("concurrent deployments: %w\nserver log:\n%s", err, srv.LogTail(30))
		}
		var per, perServer []time.Duration
		for _, r := range results {
			per = append(per, r.client)
			perServer = append(perServer, r.server)
		}
		b.rows = append(b.rows, row{runtime: rt, what: fmt.Sprintf("%d groups at once", groups), count: groups,
			wall: wall, p50: quantile(per, 0.5), p99: quantile(per, 0.99), max: quantile(per, 1), serverMedian: quantile(perServer, 0.5)})
		fmt.Fprintf(os.Stderr, "%s: %d at once: wall %v, p50 %v, p99 %v\n", rt, groups, wall.Round(time.Millisecond), quantile(per, 0.5).Round(time.Millisecond), quantile(per, 0.99).Round(time.Millisecond))
	}

	if *flagAlarmRuns > 0 {
		rows, err := w.alarmRollbacks(ctx, *flagAlarmRuns)
		if err != nil {
			return fmt.Errorf("alarm rollbacks: %w\nserver log:\n%s", err, srv.LogTail(30))
		}
		b.alarms = append(b.alarms, rows...)
	}

	// Clean up this runtime before the next one.
	for i := 0; i < groups; i++ {
		w.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("bench"), Service: aws.String(fmt.Sprintf("svc-%02d", i)), Force: aws.Bool(true)})
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, err := w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("bench"), DesiredStatus: ecstypes.DesiredStatusRunning})
		if err != nil || len(out.TaskArns) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	srv.Stop(10 * time.Second)
	b.cleanup()
	return nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// taskDef registers the versionserver at version v, with extra
// environment.
func (w *world) taskDef(ctx context.Context, v string, extra map[string]string) (string, error) {
	image := "process:" + w.b.bins.VersionServer
	var env []ecstypes.KeyValuePair
	if w.rt == "docker" {
		image = w.images[v]
	} else {
		env = append(env, ecstypes.KeyValuePair{Name: aws.String("VERSION"), Value: aws.String(v)})
	}
	for k, val := range extra {
		env = append(env, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(val)})
	}
	out, err := w.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("bench"), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true), Memory: aws.Int32(64), StopTimeout: aws.Int32(5),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: ecstypes.TransportProtocolTcp}},
			Environment:  env,
		}},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

func (w *world) setUp(ctx context.Context, n int) error {
	if _, err := w.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bench")}); err != nil {
		return err
	}
	for _, v := range []string{"v1", "v2"} {
		arn, err := w.taskDef(ctx, v, nil)
		if err != nil {
			return err
		}
		w.td[v] = arn
	}
	if _, err := w.cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("bench"), ComputePlatform: cdtypes.ComputePlatformEcs}); err != nil {
		return err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	var lbs []string
	for i := 0; i < (n+24)/25; i++ {
		out, err := w.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(fmt.Sprintf("bench-%d", i)), Subnets: []string{"subnet-a", "subnet-b"}})
		if err != nil {
			return err
		}
		lbs = append(lbs, aws.ToString(out.LoadBalancers[0].LoadBalancerArn))
	}
	w.urls = make([]string, n)
	listenersOf := make([][2]string, n)
	tgsOf := make([][2]string, n)
	for i := 0; i < n; i++ {
		var tgs [2]string
		for j, side := range []string{"a", "b"} {
			out, err := w.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
				Name: aws.String(fmt.Sprintf("tg-%02d-%s", i, side)), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080),
				TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-local"), HealthCheckPath: aws.String("/health"),
				HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
				HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
			})
			if err != nil {
				return err
			}
			tgs[j] = aws.ToString(out.TargetGroups[0].TargetGroupArn)
			if _, err := w.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(tgs[j]),
				Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("0")}}}); err != nil {
				return err
			}
		}
		var listeners [2]string
		for j := range 2 {
			out, err := w.elb.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: aws.String(lbs[i/25]), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(int32(ports[2*i+j])),
				DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgs[j])}},
			})
			if err != nil {
				return err
			}
			listeners[j] = aws.ToString(out.Listeners[0].ListenerArn)
		}
		tgsOf[i] = tgs
		w.urls[i] = fmt.Sprintf("http://127.0.0.1:%d/", ports[2*i])
		listenersOf[i] = listeners
	}
	// Services start tasks, which take ports of their own: only once every
	// listener holds its port.
	for i := 0; i < n; i++ {
		listeners, tgs := listenersOf[i], tgsOf[i]
		svc := fmt.Sprintf("svc-%02d", i)
		if _, err := w.ecs.CreateService(ctx, &ecs.CreateServiceInput{
			Cluster: aws.String("bench"), ServiceName: aws.String(svc), TaskDefinition: aws.String(w.td["v1"]), DesiredCount: aws.Int32(1),
			LaunchType: ecstypes.LaunchTypeFargate, DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
			LoadBalancers:        []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tgs[0]), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}},
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}},
		}); err != nil {
			return err
		}
		if _, err := w.cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{
			ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(svc),
			ServiceRoleArn:       aws.String("arn:aws:iam::" + w.srv.AccountID + ":role/CodeDeploy"),
			DeploymentConfigName: aws.String("CodeDeployDefault.ECSAllAtOnce"),
			DeploymentStyle:      &cdtypes.DeploymentStyle{DeploymentType: cdtypes.DeploymentTypeBlueGreen, DeploymentOption: cdtypes.DeploymentOptionWithTrafficControl},
			EcsServices:          []cdtypes.ECSService{{ClusterName: aws.String("bench"), ServiceName: aws.String(svc)}},
			LoadBalancerInfo: &cdtypes.LoadBalancerInfo{TargetGroupPairInfoList: []cdtypes.TargetGroupPairInfo{{
				TargetGroups:     []cdtypes.TargetGroupInfo{{Name: aws.String(fmt.Sprintf("tg-%02d-a", i))}, {Name: aws.String(fmt.Sprintf("tg-%02d-b", i))}},
				ProdTrafficRoute: &cdtypes.TrafficRoute{ListenerArns: []string{listeners[0]}},
				TestTrafficRoute: &cdtypes.TrafficRoute{ListenerArns: []string{listeners[1]}},
			}}},
			BlueGreenDeploymentConfiguration: &cdtypes.BlueGreenDeploymentConfiguration{
				DeploymentReadyOption:                     &cdtypes.DeploymentReadyOption{ActionOnTimeout: cdtypes.DeploymentReadyActionContinueDeployment},
				TerminateBlueInstancesOnDeploymentSuccess: &cdtypes.BlueInstanceTerminationOption{Action: cdtypes.InstanceActionTerminate, TerminationWaitTimeInMinutes: 0},
			},
		}); err != nil {
			return err
		}
	}
	// Every production listener serves v1.
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < n; i++ {
		for {
			got, _ := ecstest.Versions(w.urls[i], 3)
			if got["v1"] == 3 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("service %d does not serve v1: %v", i, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

type deployResult struct {
	client, server time.Duration
	events         map[string]time.Duration
	breakdown      string
}

// deploy deploys version v to group i and waits for Succeeded.
func (w *world) deploy(ctx context.Context, i int, v string, poll time.Duration) (deployResult, error) {
	svc := fmt.Sprintf("svc-%02d", i)
	content := fmt.Sprintf(`{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service","Properties":{"TaskDefinition":%q,"LoadBalancerInfo":{"ContainerName":"web","ContainerPort":8080}}}}]}`, w.td[v])
	start := time.Now()
	out, err := w.cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
		ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(svc),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent, AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content)}},
	})
	if err != nil {
		return deployResult{}, fmt.Errorf("CreateDeployment %s: %w", svc, err)
	}
	id := aws.ToString(out.DeploymentId)
	deadline := start.Add(5 * time.Minute)
	for {
		g, err := w.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err == nil {
			d := g.DeploymentInfo
			switch d.Status {
			case cdtypes.DeploymentStatusSucceeded:
				r := deployResult{client: time.Since(start)}
				if d.CreateTime != nil && d.CompleteTime != nil {
					r.server = d.CompleteTime.Sub(*d.CreateTime)
				}
				r.events, r.breakdown = w.events(ctx, id, svc, d)
				return r, nil
			case cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
				msg := ""
				if d.ErrorInformation != nil {
					msg = aws.ToString(d.ErrorInformation.Message)
				}
				return deployResult{}, fmt.Errorf("deployment %s of %s: %s: %s", id, svc, d.Status, msg)
			}
		}
		if time.Now().After(deadline) {
			return deployResult{}, fmt.Errorf("deployment %s of %s did not end within 5 minutes", id, svc)
		}
		time.Sleep(poll)
	}
}

// events reads how long each lifecycle event took, and the gaps: from
// CreateDeployment to the deployment's start, and from the last event's
// end to completion.
func (w *world) events(ctx context.Context, id, svc string, d *cdtypes.DeploymentInfo) (map[string]time.Duration, string) {
	out, err := w.cd.GetDeploymentTarget(ctx, &codedeploy.GetDeploymentTargetInput{DeploymentId: aws.String(id), TargetId: aws.String("bench:" + svc)})
	if err != nil || out.DeploymentTarget == nil || out.DeploymentTarget.EcsTarget == nil {
		return nil, ""
	}
	m := map[string]time.Duration{}
	var parts []string
	prev := d.CreateTime
	if d.StartTime != nil && d.CreateTime != nil {
		m["(created → started)"] = d.StartTime.Sub(*d.CreateTime)
		prev = d.StartTime
	}
	for _, ev := range out.DeploymentTarget.EcsTarget.LifecycleEvents {
		name := aws.ToString(ev.LifecycleEventName)
		if ev.StartTime != nil && ev.EndTime != nil {
			if prev != nil {
				if gap := ev.StartTime.Sub(*prev); gap > 0 {
					m["(before "+name+")"] = gap
				}
			}
			m[name] = ev.EndTime.Sub(*ev.StartTime)
			parts = append(parts, fmt.Sprintf("%s %v", name, m[name].Round(time.Millisecond)))
			prev = ev.EndTime
		}
	}
	if prev != nil && d.CompleteTime != nil {
		m["(last event → Succeeded)"] = d.CompleteTime.Sub(*prev)
	}
	return m, strings.Join(parts, ", ")
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func (b *bench) print() {
	fmt.Printf("\nECS blue/green deployments, CreateDeployment → Succeeded (CodeDeployDefault.ECSAllAtOnce, no hooks, termination wait 0, --time-scale %g)\n\n", *flagTimeScale)
	fmt.Println("| runtime | what | deployments | median | p50 | p99 | max | wall (all) | server createTime→completeTime, median |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range b.rows {
		fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", r.runtime, r.what, r.count, ms(r.median), ms(r.p50), ms(r.p99), ms(r.max), ms(r.wall), ms(r.serverMedian))
	}
	var rts []string
	names := map[string]bool{}
	for rt, evs := range b.events {
		rts = append(rts, rt)
		for n := range evs {
			names[n] = true
		}
	}
	sort.Strings(rts)
	if len(rts) == 0 {
		return
	}
	order := []string{"(created → started)"}
	for _, ev := range []string{"BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"} {
		order = append(order, "(before "+ev+")", ev)
	}
	order = append(order, "(last event → Succeeded)")
	fmt.Printf("\nWhere the time of one deployment goes (median over the single runs; from the deployment's and its lifecycle events' times)\n\n")
	fmt.Printf("| step | %s |\n|---|%s\n", strings.Join(rts, " | "), strings.Repeat("---:|", len(rts)))
	for _, n := range order {
		if !names[n] {
			continue
		}
		fmt.Printf("| %s |", n)
		for _, rt := range rts {
			fmt.Printf(" %s |", ms(b.events[rt][n]))
		}
		fmt.Println()
	}
}
