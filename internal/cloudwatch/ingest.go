package cloudwatch

import (
	"sort"
	"strings"
	"time"
)

// Sample mirrors internal/elb/proxy.Sample, so the server can pass the load
// balancer's snapshot through with a plain conversion and this package
// stays independent of the proxy.
//
// Counters (Cumulative true) hold the total since the proxy started; Ingest
// stores the difference from the previous snapshot. TargetResponseTime is
// cumulative with Value the sum of seconds and Count the number of
// responses, so a period's Average is ΔValue/ΔCount. Gauges hold the current
// value.
type Sample struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Value      float64
	Count      float64
	Cumulative bool
	Time       time.Time
}

type cumulative struct {
	value, count float64
}

func sampleKey(s Sample) string {
	keys := make([]string, 0, len(s.Dimensions))
	for k := range s.Dimensions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Namespace + "\x00" + s.MetricName)
	for _, k := range keys {
		b.WriteString("\x00" + k + "\x01" + s.Dimensions[k])
	}
	return b.String()
}

// Ingest stores samples from the load balancer (namespaces AWS/ApplicationELB
// and AWS/NetworkELB, which PutMetricData refuses to clients). A counter's
// first sample only sets the baseline; a counter that went down (proxy
// restarted) starts a new baseline from zero. Like AWS, a counter with no
// change between snapshots is not reported at all: AWS's load balancers
// publish a metric only when there is data for it, so an alarm on
// HTTPCode_Target_5XX_Count with no errors sees missing data, and its
// TreatMissingData decides (notBreaching is the usual choice).
func (s *Service) Ingest(samples []Sample) {
	now := s.now()
	points := make([]point, 0, len(samples))
	s.ingestMu.Lock()
	for _, sm := range samples {
		t := sm.Time
		if t.IsZero() {
			t = now
		}
		dims := make([]Dimension, 0, len(sm.Dimensions))
		for k, v := range sm.Dimensions {
			dims = append(dims, Dimension{Name: k, Value: v})
		}
		p := point{ns: sm.Namespace, name: sm.MetricName, dims: dims, t: t, res: 60}
		if sm.Cumulative {
			k := sampleKey(sm)
			prev, seen := s.lastCum[k]
			s.lastCum[k] = cumulative{sm.Value, sm.Count}
			if !seen {
				continue
			}
			dv, dc := sm.Value-prev.value, sm.Count-prev.count
			if dv < 0 || dc < 0 {
				dv, dc = sm.Value, sm.Count
			}
			if sm.MetricName == "TargetResponseTime" || sm.Count != 0 {
				// A sum over dc responses: the period's Average is ΔValue/ΔCount.
				if dc == 0 {
					continue
				}
				avg := dv / dc
				p.b = bucket{count: dc, sum: dv, min: avg, max: avg, unit: "Seconds"}
			} else {
				if dv == 0 {
					continue
				}
				p.b = bucket{count: 1, sum: dv, min: dv, max: dv, values: []float64{dv}, weights: []float64{1}, unit: unitOf(sm.MetricName)}
			}
		} else {
			p.b = bucket{count: 1, sum: sm.Value, min: sm.Value, max: sm.Value, values: []float64{sm.Value}, weights: []float64{1}, unit: unitOf(sm.MetricName)}
		}
		points = append(points, p)
	}
	s.ingestMu.Unlock()
	if len(points) == 0 {
		return
	}
	if err := s.metrics.put(points, now); err != nil {
		s.log.Warn("dropping load balancer metrics: metric store full", "samples", len(points), "max_metrics", s.metrics.limits.MaxMetrics)
	}
}

// AddSource registers a function Run reads at every 10-second boundary of
// the clock (the server passes the load balancer's Metrics().Snapshot).
// Samples are stamped just before the boundary, in the period during
// which they were counted, on this service's clock (the source's own clock
// may not be scaled as --time-scale scales this one).
func (s *Service) AddSource(source func() []Sample) {
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	s.sources = append(s.sources, source)
}

func (s *Service) collect(boundary time.Time) {
	s.ingestMu.Lock()
	sources := append([]func() []Sample(nil), s.sources...)
	s.ingestMu.Unlock()
	at := boundary.Add(-time.Millisecond)
	for _, src := range sources {
		samples := src()
		for i := range samples {
			samples[i].Time = at
		}
		s.Ingest(samples)
	}
}

// unitOf is the unit AWS publishes a load balancer metric with.
func unitOf(metric string) string {
	switch metric {
	case "ProcessedBytes":
		return "Bytes"
	case "TargetResponseTime":
		return "Seconds"
	}
	return "Count"
}
