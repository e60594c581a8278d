// Command backend is the benchmark's target: a minimal HTTP server that
// answers every request with its name, so a run can tell which upstream
// served it.
package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	name := flag.String("name", "a", "name to answer with")
	flag.Parse()
	body := []byte("backend " + *name + "\n")
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Header()["Content-Length"] = []string{length}
		w.Write(body)
	})
	if err := http.ListenAndServe(*addr, h); err != nil {
		slog.Error("backend stopped", "err", err)
		os.Exit(1)
	}
}
