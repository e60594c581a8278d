// Command cutoverlb runs cutover's load balancer data plane on its own, for
// the benchmark: one HTTP listener forwarding 90/10 to two target groups of
// one target each, with health checks on, as the nginx configuration in
// run.sh does with weight=9/weight=1.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/elb/proxy"
)

func main() {
	port := flag.Int("port", 18080, "listener port")
	a := flag.String("a", "127.0.0.1:18081", "target of group a (weight 90)")
	b := flag.String("b", "127.0.0.1:18082", "target of group b (weight 10)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	memprofile := flag.String("memprofile", "", "write an allocation profile to this file at exit")
	noIOUring := flag.Bool("no-io-uring", false, "serve with a goroutine per connection, as cutover server --lb-no-io-uring")
	flag.Parse()
	if *memprofile != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(*memprofile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	group := func(name, addr string) (proxy.TargetGroup, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return proxy.TargetGroup{}, err
		}
		portN, err := strconv.Atoi(p)
		if err != nil {
			return proxy.TargetGroup{}, err
		}
		return proxy.TargetGroup{
			ARN: "arn:aws:elasticloadbalancing:local:000000000000:targetgroup/" + name + "/1", Name: "targetgroup/" + name + "/1",
			Protocol: "HTTP", Port: portN, Targets: []proxy.Target{{ID: host, Host: host}},
			Health: proxy.HealthCheck{Enabled: true, Protocol: "HTTP", Path: "/", Port: "traffic-port", Matcher: "200",
				Interval: 2 * time.Second, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2},
			DeregistrationDelay: 30 * time.Second,
		}, nil
	}
	ga, err := group("a", *a)
	if err == nil {
		var gb proxy.TargetGroup
		gb, err = group("b", *b)
		if err == nil {
			err = run(log, proxy.Options{BindAddr: "127.0.0.1", Log: log, NoIOUring: *noIOUring}, *port, ga, gb)
		}
	}
	if err != nil {
		log.Error("cutoverlb", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, opts proxy.Options, port int, ga, gb proxy.TargetGroup) error {
	p := proxy.New(opts)
	defer p.Close()
	cfg := &proxy.Config{
		Listeners: []proxy.Listener{{
			ARN: "arn:aws:elasticloadbalancing:local:000000000000:listener/app/bench/1/1", LoadBalancer: "app/bench/1",
			Port: port, Protocol: "HTTP",
			Rules: []proxy.Rule{{Action: proxy.Action{Forward: &proxy.Forward{Groups: []proxy.WeightedGroup{
				{TargetGroupARN: ga.ARN, Weight: 90}, {TargetGroupARN: gb.ARN, Weight: 10},
			}}}}},
		}},
		TargetGroups: []proxy.TargetGroup{ga, gb},
	}
	if err := p.Apply(cfg); err != nil {
		return err
	}
	// Wait for both groups to pass their health checks so the benchmark
	// measures the normal path, not fail-open.
	deadline := time.Now().Add(30 * time.Second)
	for _, tg := range []string{ga.ARN, gb.ARN} {
		for {
			th := p.TargetHealth(tg)
			if len(th) == 1 && th[0].State == proxy.StateHealthy {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("target group %s not healthy: %+v", tg, th)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}
