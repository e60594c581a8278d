package ecstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Result is one request of a load run.
type Result struct {
	Start, End time.Time
	Client     int
	Status     int    // 0 on a transport error
	Version    string // from the versionserver's JSON answer
	Err        string
}

// OK says the request got a 2xx answer.
func (r Result) OK() bool { return r.Err == "" && r.Status/100 == 2 }

// Load is a bounded load loop: clients keep-alive HTTP clients, each
// sending GET url one after another (at most one request per pace), until
// Stop, maxDuration or maxRequests in all.
type Load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []Result
}

// StartLoad starts the loop.
func StartLoad(url string, clients int, pace, maxDuration time.Duration, maxRequests int) *Load {
	ctx, cancel := context.WithTimeout(context.Background(), maxDuration)
	l := &Load{cancel: cancel}
	per := maxRequests / clients
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 1,
				DisableCompression:  true,
			}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for i := 0; i < per && ctx.Err() == nil; i++ {
				start := time.Now()
				r := Get(cl, url)
				r.Client = c
				if ctx.Err() != nil && !r.OK() {
					break // cut off by Stop, not a failure
				}
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				if d := pace - time.Since(start); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
			}
		}()
	}
	return l
}

// Stop ends the loop and returns every result in completion order.
func (l *Load) Stop() []Result {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results
}

// Get sends one GET and reads the versionserver's answer.
func Get(cl *http.Client, url string) Result {
	r := Result{Start: time.Now()}
	resp, err := cl.Get(url)
	if err != nil {
		r.End, r.Err = time.Now(), err.Error()
		return r
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r.End, r.Status = time.Now(), resp.StatusCode
	if err != nil {
		r.Err = err.Error()
		return r
	}
	var v struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(body, &v) == nil {
		r.Version = v.Version
	} else if r.Status/100 == 2 {
		r.Err = fmt.Sprintf("not a versionserver answer: %.100q", body)
	}
	return r
}

// Versions sends n sequential requests on one keep-alive connection and
// counts the versions answered ("" counts failures); it also returns the
// first failure.
func Versions(url string, n int) (map[string]int, string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	out := map[string]int{}
	first := ""
	for i := 0; i < n; i++ {
		r := Get(cl, url)
		if !r.OK() {
			out[""]++
			if first == "" {
				first = fmt.Sprintf("status %d %s", r.Status, r.Err)
			}
			continue
		}
		out[r.Version]++
	}
	return out, first
}

// Summarize counts load results: failures (non-2xx or transport errors)
// with the first few described, and the versions that answered.
func Summarize(rs []Result) (failed int, examples []string, versions map[string]int) {
	versions = map[string]int{}
	for _, r := range rs {
		if !r.OK() {
			failed++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("%s client %d: status %d %s", r.Start.Format("15:04:05.000"), r.Client, r.Status, r.Err))
			}
			continue
		}
		versions[r.Version]++
	}
	return failed, examples, versions
}
