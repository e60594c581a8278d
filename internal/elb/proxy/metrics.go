package proxy

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CloudWatch namespaces of the samples.
const (
	NamespaceALB = "AWS/ApplicationELB"
	NamespaceNLB = "AWS/NetworkELB"
)

// Sample is one metric value in CloudWatch's terms, for the alarm evaluator.
//
// Counters (Cumulative true) hold the total since the proxy started; the
// evaluator takes the difference between two snapshots for a period's Sum.
// Gauges hold the current value. TargetResponseTime is cumulative too:
// Value is the sum of response times in seconds and Count the number of
// responses, so a period's Average is ΔValue/ΔCount.
type Sample struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string // "LoadBalancer", and "TargetGroup" where AWS has it
	Value      float64
	Count      float64
	Cumulative bool
	Time       time.Time
}

// Response time histogram bounds, in seconds.
var rtBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var rtBoundsNanos = func() []int64 {
	out := make([]int64, len(rtBounds))
	for i, b := range rtBounds {
		out[i] = int64(b * 1e9)
	}
	return out
}()

// lbStats are a load balancer's counters; the hot path holds a pointer
// resolved at Apply time, so counting is a handful of atomic adds.
type lbStats struct {
	lb      string
	network bool

	requests atomic.Uint64 // every request, RequestCount
	direct   atomic.Uint64 // requests not forwarded to a target group
	elb3xx   atomic.Uint64
	elb4xx   atomic.Uint64
	elb5xx   atomic.Uint64
	elb500   atomic.Uint64
	elb502   atomic.Uint64
	elb503   atomic.Uint64
	elb504   atomic.Uint64

	active   atomic.Int64 // ActiveConnectionCount / ActiveFlowCount
	newConns atomic.Uint64
	bytes    atomic.Uint64 // ProcessedBytes (NLB)
}

func (s *lbStats) countELB(code int) {
	switch {
	case code >= 500:
		s.elb5xx.Add(1)
		switch code {
		case 500:
			s.elb500.Add(1)
		case 502:
			s.elb502.Add(1)
		case 503:
			s.elb503.Add(1)
		case 504:
			s.elb504.Add(1)
		}
	case code >= 400:
		s.elb4xx.Add(1)
	case code >= 300:
		s.elb3xx.Add(1)
	}
}

// tgStats are the counters of one (load balancer, target group) pair.
type tgStats struct {
	lb, tg  string
	network bool

	requests  atomic.Uint64
	t2xx      atomic.Uint64
	t3xx      atomic.Uint64
	t4xx      atomic.Uint64
	t5xx      atomic.Uint64
	rtSum     atomic.Int64 // nanoseconds
	rtCount   atomic.Uint64
	rtBuckets [16]atomic.Uint64 // len(rtBounds)+1, the last is +Inf
}

func (s *tgStats) countTarget(code int, rt time.Duration) {
	switch {
	case code >= 500:
		s.t5xx.Add(1)
	case code >= 400:
		s.t4xx.Add(1)
	case code >= 300:
		s.t3xx.Add(1)
	case code >= 200:
		s.t2xx.Add(1)
	}
	n := int64(rt)
	s.rtSum.Add(n)
	s.rtCount.Add(1)
	i := 0
	for i < len(rtBoundsNanos) && n > rtBoundsNanos[i] {
		i++
	}
	s.rtBuckets[i].Add(1)
}

// Metrics holds the proxy's counters. It is a prometheus.Collector and
// offers Snapshot for the alarm evaluator.
type Metrics struct {
	p  *Proxy
	mu sync.Mutex
	// Counters live as long as the proxy, so totals never go backwards
	// when a listener or group is removed and added again.
	lbs   map[string]*lbStats
	tgs   map[[2]string]*tgStats
	pairs []pair // (load balancer, target group) pairs in the current config
}

type pair struct {
	lb, tg  string
	network bool
	g       *group
}

func newMetrics(p *Proxy) *Metrics {
	return &Metrics{p: p, lbs: map[string]*lbStats{}, tgs: map[[2]string]*tgStats{}}
}

func (m *Metrics) lb(name string, network bool) *lbStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.lbs[name]
	if s == nil {
		s = &lbStats{lb: name, network: network}
		m.lbs[name] = s
	}
	return s
}

func (m *Metrics) tg(lb, tg string, network bool) *tgStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{lb, tg}
	s := m.tgs[k]
	if s == nil {
		s = &tgStats{lb: lb, tg: tg, network: network}
		m.tgs[k] = s
	}
	return s
}

func (m *Metrics) setPairs(cfg *Config, groups map[string]*group) {
	names := map[string]string{}
	for _, tg := range cfg.TargetGroups {
		names[tg.ARN] = tg.Name
	}
	seen := map[[2]string]bool{}
	var ps []pair
	for _, l := range cfg.Listeners {
		for _, r := range l.Rules {
			if r.Action.Forward == nil {
				continue
			}
			for _, wg := range r.Action.Forward.Groups {
				k := [2]string{l.LoadBalancer, names[wg.TargetGroupARN]}
				if seen[k] {
					continue
				}
				seen[k] = true
				ps = append(ps, pair{lb: k[0], tg: k[1], network: l.Protocol == "TCP", g: groups[wg.TargetGroupARN]})
			}
		}
	}
	m.mu.Lock()
	m.pairs = ps
	m.mu.Unlock()
}

func hostCounts(g *group) (healthy, unhealthy int) {
	if g == nil {
		return 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.order {
		switch {
		case isRoutable(t.state):
			healthy++
		case t.state == StateUnhealthy:
			unhealthy++
		}
	}
	return healthy, unhealthy
}

// Snapshot returns every metric's current value, sorted by namespace,
// name and dimensions so that consecutive snapshots line up.
func (m *Metrics) Snapshot() []Sample {
	now := m.p.now()
	m.mu.Lock()
	lbs := make([]*lbStats, 0, len(m.lbs))
	for _, s := range m.lbs {
		lbs = append(lbs, s)
	}
	tgs := make([]*tgStats, 0, len(m.tgs))
	for _, s := range m.tgs {
		tgs = append(tgs, s)
	}
	pairs := m.pairs
	m.mu.Unlock()

	var out []Sample
	add := func(network bool, name string, dims map[string]string, v, count float64, cumulative bool) {
		ns := NamespaceALB
		if network {
			ns = NamespaceNLB
		}
		out = append(out, Sample{Namespace: ns, MetricName: name, Dimensions: dims, Value: v, Count: count, Cumulative: cumulative, Time: now})
	}
	type agg struct{ t2, t3, t4, t5, rtSum, rtCount float64 }
	perLB := map[string]*agg{}
	for _, s := range tgs {
		if s.network {
			continue
		}
		d := map[string]string{"LoadBalancer": s.lb, "TargetGroup": s.tg}
		a := perLB[s.lb]
		if a == nil {
			a = &agg{}
			perLB[s.lb] = a
		}
		t2, t3, t4, t5 := float64(s.t2xx.Load()), float64(s.t3xx.Load()), float64(s.t4xx.Load()), float64(s.t5xx.Load())
		rs, rc := float64(s.rtSum.Load())/1e9, float64(s.rtCount.Load())
		a.t2, a.t3, a.t4, a.t5, a.rtSum, a.rtCount = a.t2+t2, a.t3+t3, a.t4+t4, a.t5+t5, a.rtSum+rs, a.rtCount+rc
		add(false, "RequestCount", d, float64(s.requests.Load()), 0, true)
		add(false, "HTTPCode_Target_2XX_Count", d, t2, 0, true)
		add(false, "HTTPCode_Target_3XX_Count", d, t3, 0, true)
		add(false, "HTTPCode_Target_4XX_Count", d, t4, 0, true)
		add(false, "HTTPCode_Target_5XX_Count", d, t5, 0, true)
		add(false, "TargetResponseTime", d, rs, rc, true)
	}
	for _, s := range lbs {
		d := map[string]string{"LoadBalancer": s.lb}
		if s.network {
			add(true, "ActiveFlowCount", d, float64(s.active.Load()), 0, false)
			add(true, "NewFlowCount", d, float64(s.newConns.Load()), 0, true)
			add(true, "ProcessedBytes", d, float64(s.bytes.Load()), 0, true)
			continue
		}
		add(false, "RequestCount", d, float64(s.requests.Load()), 0, true)
		add(false, "ActiveConnectionCount", d, float64(s.active.Load()), 0, false)
		add(false, "NewConnectionCount", d, float64(s.newConns.Load()), 0, true)
		add(false, "HTTPCode_ELB_3XX_Count", d, float64(s.elb3xx.Load()), 0, true)
		add(false, "HTTPCode_ELB_4XX_Count", d, float64(s.elb4xx.Load()), 0, true)
		add(false, "HTTPCode_ELB_5XX_Count", d, float64(s.elb5xx.Load()), 0, true)
		add(false, "HTTPCode_ELB_500_Count", d, float64(s.elb500.Load()), 0, true)
		add(false, "HTTPCode_ELB_502_Count", d, float64(s.elb502.Load()), 0, true)
		add(false, "HTTPCode_ELB_503_Count", d, float64(s.elb503.Load()), 0, true)
		add(false, "HTTPCode_ELB_504_Count", d, float64(s.elb504.Load()), 0, true)
		a := perLB[s.lb]
		if a == nil {
			a = &agg{}
		}
		add(false, "HTTPCode_Target_2XX_Count", d, a.t2, 0, true)
		add(false, "HTTPCode_Target_3XX_Count", d, a.t3, 0, true)
		add(false, "HTTPCode_Target_4XX_Count", d, a.t4, 0, true)
		add(false, "HTTPCode_Target_5XX_Count", d, a.t5, 0, true)
		add(false, "TargetResponseTime", d, a.rtSum, a.rtCount, true)
	}
	for _, pr := range pairs {
		h, u := hostCounts(pr.g)
		d := map[string]string{"LoadBalancer": pr.lb, "TargetGroup": pr.tg}
		add(pr.network, "HealthyHostCount", d, float64(h), 0, false)
		add(pr.network, "UnHealthyHostCount", d, float64(u), 0, false)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.MetricName != b.MetricName {
			return a.MetricName < b.MetricName
		}
		if a.Dimensions["LoadBalancer"] != b.Dimensions["LoadBalancer"] {
			return a.Dimensions["LoadBalancer"] < b.Dimensions["LoadBalancer"]
		}
		return a.Dimensions["TargetGroup"] < b.Dimensions["TargetGroup"]
	})
	return out
}

// Prometheus descriptions. Label "target_group" is empty on request counts
// of requests the load balancer answered itself (fixed responses,
// redirects, errors before a group was chosen); summing by load_balancer
// gives AWS's RequestCount.
var (
	lbLabels   = []string{"load_balancer"}
	pairLabels = []string{"load_balancer", "target_group"}

	descRequests   = prometheus.NewDesc("cutover_elb_request_count_total", "HTTP requests received (AWS RequestCount).", pairLabels, nil)
	descTarget2xx  = prometheus.NewDesc("cutover_elb_httpcode_target_2xx_count_total", "2XX responses from targets.", pairLabels, nil)
	descTarget3xx  = prometheus.NewDesc("cutover_elb_httpcode_target_3xx_count_total", "3XX responses from targets.", pairLabels, nil)
	descTarget4xx  = prometheus.NewDesc("cutover_elb_httpcode_target_4xx_count_total", "4XX responses from targets.", pairLabels, nil)
	descTarget5xx  = prometheus.NewDesc("cutover_elb_httpcode_target_5xx_count_total", "5XX responses from targets.", pairLabels, nil)
	descRT         = prometheus.NewDesc("cutover_elb_target_response_time_seconds", "Time from sending a request to a target until its response headers arrive.", pairLabels, nil)
	descELB3xx     = prometheus.NewDesc("cutover_elb_httpcode_elb_3xx_count_total", "3XX responses generated by the load balancer.", lbLabels, nil)
	descELB4xx     = prometheus.NewDesc("cutover_elb_httpcode_elb_4xx_count_total", "4XX responses generated by the load balancer.", lbLabels, nil)
	descELB5xx     = prometheus.NewDesc("cutover_elb_httpcode_elb_5xx_count_total", "5XX responses generated by the load balancer.", lbLabels, nil)
	descActiveConn = prometheus.NewDesc("cutover_elb_active_connection_count", "Open client connections.", lbLabels, nil)
	descNewConn    = prometheus.NewDesc("cutover_elb_new_connection_count_total", "Client connections accepted.", lbLabels, nil)
	descActiveFlow = prometheus.NewDesc("cutover_elb_active_flow_count", "Open TCP flows (network load balancer).", lbLabels, nil)
	descNewFlow    = prometheus.NewDesc("cutover_elb_new_flow_count_total", "TCP flows accepted (network load balancer).", lbLabels, nil)
	descBytes      = prometheus.NewDesc("cutover_elb_processed_bytes_total", "Bytes proxied in both directions (network load balancer).", lbLabels, nil)
	descHealthy    = prometheus.NewDesc("cutover_elb_healthy_host_count", "Targets considered healthy.", pairLabels, nil)
	descUnhealthy  = prometheus.NewDesc("cutover_elb_unhealthy_host_count", "Targets considered unhealthy.", pairLabels, nil)
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descTarget2xx, descTarget3xx, descTarget4xx, descTarget5xx, descRT,
		descELB3xx, descELB4xx, descELB5xx, descActiveConn, descNewConn, descActiveFlow, descNewFlow, descBytes, descHealthy, descUnhealthy} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	lbs := make([]*lbStats, 0, len(m.lbs))
	for _, s := range m.lbs {
		lbs = append(lbs, s)
	}
	tgs := make([]*tgStats, 0, len(m.tgs))
	for _, s := range m.tgs {
		tgs = append(tgs, s)
	}
	pairs := m.pairs
	m.mu.Unlock()

	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, s := range lbs {
		if s.network {
			gauge(descActiveFlow, s.active.Load(), s.lb)
			counter(descNewFlow, s.newConns.Load(), s.lb)
			counter(descBytes, s.bytes.Load(), s.lb)
			continue
		}
		counter(descRequests, s.direct.Load(), s.lb, "")
		counter(descELB3xx, s.elb3xx.Load(), s.lb)
		counter(descELB4xx, s.elb4xx.Load(), s.lb)
		counter(descELB5xx, s.elb5xx.Load(), s.lb)
		gauge(descActiveConn, s.active.Load(), s.lb)
		counter(descNewConn, s.newConns.Load(), s.lb)
	}
	for _, s := range tgs {
		if s.network {
			continue
		}
		counter(descRequests, s.requests.Load(), s.lb, s.tg)
		counter(descTarget2xx, s.t2xx.Load(), s.lb, s.tg)
		counter(descTarget3xx, s.t3xx.Load(), s.lb, s.tg)
		counter(descTarget4xx, s.t4xx.Load(), s.lb, s.tg)
		counter(descTarget5xx, s.t5xx.Load(), s.lb, s.tg)
		buckets := make(map[float64]uint64, len(rtBounds))
		var cum uint64
		for i, b := range rtBounds {
			cum += s.rtBuckets[i].Load()
			buckets[b] = cum
		}
		cum += s.rtBuckets[len(rtBounds)].Load()
		ch <- prometheus.MustNewConstHistogram(descRT, cum, float64(s.rtSum.Load())/1e9, buckets, s.lb, s.tg)
	}
	for _, pr := range pairs {
		h, u := hostCounts(pr.g)
		gauge(descHealthy, int64(h), pr.lb, pr.tg)
		gauge(descUnhealthy, int64(u), pr.lb, pr.tg)
	}
}
