package agentcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/clock"
)

// waiting counts the long polls parked in this process.
func (h *hub) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.hosts {
		n += e.waiters
	}
	return n
}

// BenchmarkPoll2000 parks 2,000 hosts in long polls over real HTTP with
// SigV4, then issues commands round-robin and measures the time from
// Issue to the command arriving at its host (reported as p50/p99, with
// allocations per dispatch across server and clients). Each host
// acknowledges and completes its command and polls again, as the agent does.
func BenchmarkPoll2000(b *testing.B) {
	const hosts = 2000
	e := newEnv(b, func(c *Config) { c.Clock = clock.Real{}; c.LongPoll = 60 * time.Second })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = hosts+100, hosts+100
	e.http = &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	names := make([]string, hosts)
	for i := range names {
		names[i] = fmt.Sprintf("arn:aws:iam::123456789012:user/bench/host-%04d", i)
	}
	type arrival struct {
		hc string
		at time.Time
	}
	arrived := make(chan arrival, hosts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	root := e.as(rootKey)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(`{"HostIdentifier":"` + name + `"}`)
			for ctx.Err() == nil {
				r, err := root.do(ctx, "PollHostCommand", body)
				var out struct{ HostCommand *wireCommand }
				if err != nil || r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
					continue
				}
				if out.HostCommand == nil {
					continue
				}
				arrived <- arrival{out.HostCommand.HostCommandIdentifier, time.Now()}
				ab, _ := json.Marshal(ack(out.HostCommand.HostCommandIdentifier, false))
				root.do(ctx, "PutHostCommandAcknowledgement", ab)
				cb, _ := json.Marshal(complete(out.HostCommand.HostCommandIdentifier, "Succeeded", 0, "", "Succeeded: ", ""))
				root.do(ctx, "PutHostCommandComplete", cb)
			}
		}()
	}
	defer func() {
		cancel()
		e.svc.Close()
		wg.Wait()
	}()
	for deadline := time.Now().Add(60 * time.Second); e.svc.hub.waiting() < hosts; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d hosts polling", e.svc.hub.waiting(), hosts)
		}
		time.Sleep(10 * time.Millisecond)
	}

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := cmd("d-BENCH0001", names[i%hosts], "ApplicationStart")
		c.ID = fmt.Sprintf("bench/%d", i)
		start := time.Now()
		if err := e.svc.Issue(e.ctx, c); err != nil {
			b.Fatal(err)
		}
		want := HostCommandID(c.ID)
		for {
			a := <-arrived
			if a.hc == want {
				lat = append(lat, a.at.Sub(start))
				break
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
