package lambda

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/cutover/cutover/internal/lambda/runtimeapi"
)

// direct runs the echo bootstrap against a bare Runtime API: the floor
// that any invocation through the service is compared with.
type direct struct {
	api *runtimeapi.Server
	cmd *exec.Cmd
}

func startDirect(b *testing.B) *direct {
	api, err := runtimeapi.Listen(nil)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(echoBootstrap(b))
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+api.Addr(), "AWS_LAMBDA_FUNCTION_NAME=direct", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		api.Close()
	})
	return &direct{api: api, cmd: cmd}
}

func (d *direct) invoke(b *testing.B, i int) {
	ch, err := d.api.Deliver(runtimeapi.Invocation{RequestID: "req-" + strconv.Itoa(i), Payload: []byte(`{}`), Deadline: time.Now().Add(3 * time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := runtimeapi.Wait(ctx, ch); err != nil || r.Error {
		b.Fatalf("direct invoke: %v %s", err, r.Payload)
	}
}

// latencies records the duration of each operation of a benchmark and
// reports its percentiles in microseconds.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (l latencies) report(b *testing.B) {
	b.ReportMetric(us(l.percentile(0.50)), "p50-µs")
	b.ReportMetric(us(l.percentile(0.99)), "p99-µs")
}

// BenchmarkInvokeWarm measures a warm invocation through an alias, in
// process and through the HTTP API with the Go SDK, against the same
// handler's process called directly over the Runtime API. Each reports
// its p50 and p99 latency; the alias sub-benchmarks also report their
// overhead over the direct call at p50 (target: under 1 ms).
func BenchmarkInvokeWarm(b *testing.B) {
	e := newEnv(b)
	e.createEcho("bench")
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("bench"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		b.Fatal(err)
	}
	reply(b, e.invoke("bench", "live", `{}`)) // start the environment

	d := startDirect(b)
	var directP50 time.Duration
	b.Run("direct-runtime-api", func(b *testing.B) {
		var l latencies
		n := 0
		for b.Loop() {
			l.time(func() { d.invoke(b, n) })
			n++
		}
		l.report(b)
		directP50 = l.percentile(0.50)
	})
	overhead := func(b *testing.B, l latencies) {
		l.report(b)
		b.ReportMetric(us(directP50), "direct-p50-µs")
		b.ReportMetric(us(l.percentile(0.50)-directP50), "overhead-p50-µs")
	}
	b.Run("in-process-alias", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			l.time(func() {
				res, err := e.svc.Invoke(e.ctx, "bench", "live", []byte(`{}`))
				if err != nil || res.FunctionError != "" {
					b.Fatalf("invoke: %v", err)
				}
			})
		}
		overhead(b, l)
	})
	b.Run("api-alias", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			l.time(func() {
				out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("bench"), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
				if err != nil || out.FunctionError != nil {
					b.Fatalf("invoke: %v", err)
				}
			})
		}
		overhead(b, l)
	})
}

// BenchmarkColdStart measures the first invocation of a newly published
// version: a new environment (task root extracted from the stored zip,
// Runtime API listener, process start, the runtime's init) and the
// invocation itself. Publishing before and deleting the version after
// each invocation are not timed.
func BenchmarkColdStart(b *testing.B) {
	e := newEnv(b)
	e.createEcho("cold")
	var l latencies
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		if _, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("cold"),
			Environment: &types.Environment{Variables: map[string]string{"ECHO_N": strconv.Itoa(i)}}}); err != nil {
			b.Fatal(err)
		}
		out, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("cold")})
		if err != nil {
			b.Fatal(err)
		}
		version := aws.ToString(out.Version)
		b.StartTimer()
		l.time(func() {
			res, err := e.svc.Invoke(e.ctx, "cold", version, []byte(`{}`))
			if err != nil || res.FunctionError != "" {
				b.Fatalf("invoke: %v %s", err, res.Payload)
			}
		})
		b.StopTimer()
		if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("cold"), Qualifier: aws.String(version)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(l.percentile(0.50))/float64(time.Millisecond), "cold-p50-ms")
	b.ReportMetric(float64(l.percentile(0.99))/float64(time.Millisecond), "cold-p99-ms")
}

// BenchmarkInvokeConcurrent measures throughput with 8 callers invoking
// one alias at once (up to MaxEnvironmentsPerFunction environments, 10 by
// default), in process and through the HTTP API.
func BenchmarkInvokeConcurrent(b *testing.B) {
	e := newEnv(b)
	e.createEcho("conc")
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("conc")}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("conc"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		b.Fatal(err)
	}
	const callers = 8
	run := func(b *testing.B, invoke func() error) {
		b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := invoke(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "invokes/s")
	}
	b.Run("in-process-alias", func(b *testing.B) {
		run(b, func() error {
			res, err := e.svc.Invoke(e.ctx, "conc", "live", []byte(`{}`))
			if err == nil && res.FunctionError != "" {
				err = fmt.Errorf("function error: %s", res.Payload)
			}
			return err
		})
	})
	b.Run("api-alias", func(b *testing.B) {
		run(b, func() error {
			out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("conc"), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
			if err == nil && out.FunctionError != nil {
				err = fmt.Errorf("function error: %s", out.Payload)
			}
			return err
		})
	})
}
