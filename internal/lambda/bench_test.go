package lambda

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"

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

// BenchmarkInvokeWarm measures a warm invocation through an alias, in
// process and through the HTTP API with the Go SDK, against the same
// handler's process called directly over the Runtime API; the alias
// sub-benchmarks report their overhead over the direct call.
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
	var directNs float64
	b.Run("direct-runtime-api", func(b *testing.B) {
		n := 0
		for b.Loop() {
			d.invoke(b, n)
			n++
		}
		directNs = float64(b.Elapsed().Nanoseconds()) / float64(n)
	})
	overhead := func(b *testing.B, n int) {
		per := float64(b.Elapsed().Nanoseconds()) / float64(n)
		b.ReportMetric(directNs, "direct-ns/op")
		b.ReportMetric(per-directNs, "overhead-ns/op")
	}
	b.Run("in-process-alias", func(b *testing.B) {
		n := 0
		for b.Loop() {
			res, err := e.svc.Invoke(e.ctx, "bench", "live", []byte(`{}`))
			if err != nil || res.FunctionError != "" {
				b.Fatalf("invoke: %v", err)
			}
			n++
		}
		overhead(b, n)
	})
	b.Run("api-alias", func(b *testing.B) {
		n := 0
		for b.Loop() {
			out, err := e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("bench"), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
			if err != nil || out.FunctionError != nil {
				b.Fatalf("invoke: %v", err)
			}
			n++
		}
		overhead(b, n)
	})
}
