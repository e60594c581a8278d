package runtimeapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runtime plays a function's runtime against the server over HTTP.
type runtime struct {
	t    *testing.T
	base string
}

func (r runtime) next() (string, http.Header, string) {
	r.t.Helper()
	resp, err := http.Get(r.base + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Header.Get("Lambda-Runtime-Aws-Request-Id"), resp.Header, string(b)
}

func (r runtime) post(path, body string, header ...string) int {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.base+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRuntimeAPIRoundTrips(t *testing.T) {
	s, err := Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rt := runtime{t: t, base: "http://" + s.Addr()}
	deadline := time.UnixMilli(1_900_000_000_123)
	tests := []struct {
		name      string
		answer    func(id string) int
		status    int
		wantError bool
		payload   string
	}{
		{"response", func(id string) int { return rt.post("/2018-06-01/runtime/invocation/"+id+"/response", `{"ok":true}`) }, 202, false, `{"ok":true}`},
		{"error with type header", func(id string) int {
			return rt.post("/2018-06-01/runtime/invocation/"+id+"/error", `{"errorMessage":"m"}`, "Lambda-Runtime-Function-Error-Type", "Custom.Err")
		}, 202, true, `{"errorMessage":"m","errorType":"Custom.Err"}`},
		{"error passes through", func(id string) int {
			return rt.post("/2018-06-01/runtime/invocation/"+id+"/error", `{"errorType":"T","errorMessage":"m","stackTrace":["a"]}`)
		}, 202, true, `{"errorType":"T","errorMessage":"m","stackTrace":["a"]}`},
		{"error not json", func(id string) int {
			return rt.post("/2018-06-01/runtime/invocation/"+id+"/error", `plain`)
		}, 202, true, `{"errorType":"Runtime.Unknown","errorMessage":"plain"}`},
		{"oversized response", func(id string) int {
			return rt.post("/2018-06-01/runtime/invocation/"+id+"/response", strings.Repeat("x", MaxResponse+1))
		}, 413, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "req-" + tc.name
			ch, err := s.Deliver(Invocation{RequestID: id, Payload: []byte(`{"n":1}`), Deadline: deadline, FunctionARN: "arn:f", TraceID: "Root=1"})
			if err != nil {
				t.Fatal(err)
			}
			got, h, body := rt.next()
			if got != id || h.Get("Lambda-Runtime-Deadline-Ms") != "1900000000123" || h.Get("Lambda-Runtime-Invoked-Function-Arn") != "arn:f" ||
				h.Get("Lambda-Runtime-Trace-Id") != "Root=1" || body != `{"n":1}` {
				t.Fatalf("next: %s %v %s", got, h, body)
			}
			if status := tc.answer(id); status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := Wait(ctx, ch)
			if err != nil || r.Error != tc.wantError {
				t.Fatalf("result %+v %v", r, err)
			}
			if tc.payload != "" && !jsonEqual(string(r.Payload), tc.payload) {
				t.Fatalf("payload %s, want %s", r.Payload, tc.payload)
			}
			if tc.name == "oversized response" && !strings.Contains(string(r.Payload), "Function.ResponseSizeTooLarge") {
				t.Fatalf("payload %s", r.Payload)
			}
			// A second answer for the same invocation is refused.
			if status := tc.answer(id); status != 400 {
				t.Fatalf("second answer: %d", status)
			}
		})
	}
	if status := rt.post("/2018-06-01/runtime/init/error", `{"errorMessage":"x"}`); status != 202 {
		t.Fatalf("init error: %d", status)
	}
	ie := <-s.InitErrors()
	if !jsonEqual(string(ie.Body), `{"errorType":"Runtime.InitError","errorMessage":"x"}`) {
		t.Fatalf("init error body %s", ie.Body)
	}
}

func TestNextEndsAtClose(t *testing.T) {
	s, err := Listen(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + s.Addr() + "/2018-06-01/runtime/invocation/next")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-s.Ready()
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting /next outlived Close")
	}
	if _, err := s.Deliver(Invocation{RequestID: "x"}); err == nil {
		t.Fatal("Deliver after Close succeeded")
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
