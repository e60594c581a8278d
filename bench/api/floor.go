package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// runFloor serves constant, valid CodeDeploy answers: the cheapest server
// that still lets the Go SDK complete every call. Its throughput is the
// ceiling set by the client and the loopback, against which cutover is
// measured.
func runFloor(addr string, apps int) {
	names := make([]string, apps)
	for i := range names {
		names[i] = appName(i)
	}
	bodies := map[string][]byte{
		"GetApplication": mustJSON(map[string]any{"application": map[string]any{
			"applicationId": "0b6a6f0e-3b8e-4a55-9a0c-000000000000", "applicationName": appName(0),
			"createTime": 1700000000.123, "linkedToGitHub": false, "computePlatform": "Server",
		}}),
		"ListApplications":  mustJSON(map[string]any{"applications": names}),
		"CreateApplication": mustJSON(map[string]any{"applicationId": "0b6a6f0e-3b8e-4a55-9a0c-000000000001"}),
		"DeleteApplication": []byte("{}"),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	// The parent reads the endpoint from the first line.
	fmt.Fprintf(os.Stdout, "http://%s\n", ln.Addr())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body as a real server must before answering.
		io.Copy(io.Discard, r.Body)
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		body, ok := bodies[op]
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"UnknownOperationException"}`))
			return
		}
		w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
