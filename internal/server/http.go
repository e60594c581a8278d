package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cutover/cutover/internal/store"
)

// fallback serves what is not an AWS API: health, metrics and the root page.
func (s *Server) fallback() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
	// AWS's agent probes GET / over TLS at start-up and accepts any answer;
	// people who open the endpoint in a browser get told what it is.
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("cutover " + s.cfg.Version + ": AWS CodeDeploy-compatible deployment service.\n" +
			"Point AWS clients here with --endpoint-url; see /healthz and /metrics.\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	})
	return mux
}

// healthz reports whether the store answers; it is what a load balancer or
// a supervisor probes.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := s.store.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get("cutover.health", "probe")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	body := map[string]any{"status": "ok", "version": s.cfg.Version, "checks": map[string]any{
		"store": map[string]any{"status": "ok", "latency_ms": float64(time.Since(start).Microseconds()) / 1000},
	}}
	if err != nil {
		s.log.Warn("health check: store unreachable", "err", err)
		body["status"] = "unavailable"
		body["checks"] = map[string]any{"store": map[string]any{"status": "unavailable", "error": err.Error()}}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

// metrics are the API counters; the registry is owned by the server, so two
// servers in one test process do not collide.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// known limits the operation label to implemented operations, so a
	// client cannot grow the label set with made-up targets.
	known map[string]bool
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

func (s *Server) newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_api_requests_total",
			Help: "AWS API requests served, by operation and HTTP status.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cutover_api_request_duration_seconds",
			Help:    "Time to serve AWS API requests, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"operation"}),
		known: map[string]bool{},
	}
	for _, svc := range s.jsonServices {
		for _, op := range svc.Operations() {
			m.known[op] = true
		}
	}
	s.registry.MustRegister(m.requests, m.duration)
	return m
}

// instrument counts and times every request and logs one line per API call
// at debug level.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.newMetrics()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		elapsed := time.Since(start)

		target := r.Header.Get("X-Amz-Target")
		if target == "" {
			// Not a JSON API call (health, metrics, a Query or REST API):
			// the request log still records it, the API metrics do not.
			s.logRequest(r, rw, "", elapsed)
			return
		}
		_, op, _ := strings.Cut(target, ".")
		label := op
		if !m.known[op] {
			label = "other"
		}
		m.requests.WithLabelValues(label, strconv.Itoa(rw.status)).Inc()
		m.duration.WithLabelValues(label).Observe(elapsed.Seconds())
		s.logRequest(r, rw, op, elapsed)
	})
}

func (s *Server) logRequest(r *http.Request, rw *statusWriter, op string, elapsed time.Duration) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rw.status),
		slog.Duration("duration", elapsed),
		slog.String("remote", r.RemoteAddr),
	}
	if op != "" {
		attrs = append(attrs, slog.String("operation", op))
	}
	if code := rw.Header().Get("X-Amzn-ErrorType"); code != "" {
		attrs = append(attrs, slog.String("error", code))
	}
	if id := rw.Header().Get("x-amzn-RequestId"); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
}

// statusWriter remembers the status written; Unwrap lets
// http.ResponseController reach Flush and deadlines for long polls.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
