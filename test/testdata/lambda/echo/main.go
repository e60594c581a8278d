// Command echo is a Lambda function written with aws-lambda-go, built as a
// provided.al2023 bootstrap by cutover's lambda tests. What it does is
// chosen by the event ("mode") and, for its init phase, by the function's
// environment (ECHO_INIT), so that one binary exercises every path of the
// execution environment: answers, errors, panics, exits, timeouts and logs.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Mode    string `json:"mode"`
	Message string `json:"message"`
	// Sleep is how long the "sleep" mode blocks; zero blocks until the
	// invocation's deadline and past it.
	Sleep string `json:"sleep"`
	Log   string `json:"log"`
	Size  int    `json:"size"`
}

type reply struct {
	PID       int               `json:"pid"`
	Version   string            `json:"version"`
	RequestID string            `json:"requestId"`
	ARN       string            `json:"arn"`
	Event     event             `json:"event"`
	Env       map[string]string `json:"env"`
	Deadline  int64             `json:"deadlineMs"`
	Blob      string            `json:"blob,omitempty"`
}

// invocations counts calls in this process, to show warm reuse.
var invocations int

func handle(ctx context.Context, ev event) (reply, error) {
	invocations++
	lc, _ := lambdacontext.FromContext(ctx)
	if ev.Log != "" {
		fmt.Println(ev.Log)
		fmt.Fprintln(os.Stderr, "stderr:"+ev.Log)
	}
	if path := os.Getenv("ECHO_RECORD"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %s\n", lc.AwsRequestID, os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"), ev.Mode)
			f.Close()
		}
	}
	switch ev.Mode {
	case "error":
		return reply{}, errors.New(ev.Message)
	case "panic":
		panic(ev.Message)
	case "exit":
		os.Exit(3)
	case "sleep":
		d, _ := time.ParseDuration(ev.Sleep)
		if d == 0 {
			select {}
		}
		time.Sleep(d)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "LAMBDA_") || strings.HasPrefix(k, "ECHO_") || k == "_HANDLER" || k == "TZ" {
			env[k] = v
		}
	}
	dl, _ := ctx.Deadline()
	r := reply{PID: os.Getpid(), Version: os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"), RequestID: lc.AwsRequestID,
		ARN: lc.InvokedFunctionArn, Event: ev, Env: env, Deadline: dl.UnixMilli()}
	if ev.Size > 0 {
		r.Blob = strings.Repeat("x", ev.Size)
	}
	return r, nil
}

func main() {
	switch os.Getenv("ECHO_INIT") {
	case "exit":
		fmt.Println("init: exiting")
		os.Exit(2)
	case "error":
		body := `{"errorType":"Echo.InitFailed","errorMessage":"init refused by ECHO_INIT"}`
		resp, err := http.Post("http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	lambda.Start(handle)
}
