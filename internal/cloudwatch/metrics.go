package cloudwatch

import (
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metric storage is in memory and bounded; what is kept, and for how long:
//
//   - Raw buckets: a datum is folded into a bucket of its storage resolution
//     (1 s for high-resolution data, 60 s otherwise). 1-second buckets are
//     kept for HighResRetention (3 hours, as AWS keeps sub-minute data),
//     then merged into 1-minute buckets.
//   - 1-minute buckets are kept for Retention (15 days, AWS's retention of
//     1-minute data) and at most MaxPointsPerMetric per metric; the oldest
//     go first.
//   - At most MaxMetrics metrics exist; a datum for a new metric beyond that
//     is refused with LimitExceeded (PutMetricData) or dropped and logged
//     (Ingest), so that no client can grow memory without end.
//   - Each bucket keeps SampleCount, Sum, Minimum and Maximum exactly, and up
//     to maxBucketValues raw values for percentiles, so pNN statistics are
//     exact for sparse data and approximate (from the first values of a
//     bucket) for dense data.
//
// Metrics are snapshotted to the store (snapshot.go) every minute and when
// Run stops, so a restart keeps them and a crash loses at most a minute;
// alarm definitions, state and history are written through on every change.

const maxBucketValues = 256

// Limits bounds the metric store; zero fields take the defaults.
type Limits struct {
	MaxMetrics         int
	MaxPointsPerMetric int
	Retention          time.Duration
	HighResRetention   time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMetrics <= 0 {
		l.MaxMetrics = 10_000
	}
	if l.MaxPointsPerMetric <= 0 {
		l.MaxPointsPerMetric = 15 * 24 * 60
	}
	if l.Retention <= 0 {
		l.Retention = 15 * 24 * time.Hour
	}
	if l.HighResRetention <= 0 {
		l.HighResRetention = 3 * time.Hour
	}
	return l
}

type bucket struct {
	start  int64 // unix seconds
	res    int64 // 1 or 60
	count  float64
	sum    float64
	min    float64
	max    float64
	values []float64
	// weights parallels values when a datum came with Counts.
	weights []float64
	unit    string
}

func (b *bucket) add(o *bucket) {
	if b.count == 0 {
		b.min, b.max = o.min, o.max
	} else {
		b.min = math.Min(b.min, o.min)
		b.max = math.Max(b.max, o.max)
	}
	b.count += o.count
	b.sum += o.sum
	for i, v := range o.values {
		if len(b.values) >= maxBucketValues {
			break
		}
		b.values = append(b.values, v)
		b.weights = append(b.weights, o.weights[i])
	}
	if b.unit == "" {
		b.unit = o.unit
	}
}

type series struct {
	ns, name string
	dims     []Dimension // sorted by name
	buckets  map[int64]*bucket
	last     time.Time // last datum received, for RecentlyActive
}

type metricStore struct {
	mu     sync.Mutex
	limits Limits
	series map[string]*series
	// dirty names the series changed since the last snapshot.
	dirty map[string]bool
}

func newMetricStore(l Limits) *metricStore {
	return &metricStore{limits: l.withDefaults(), series: map[string]*series{}}
}

func sortDims(d []Dimension) []Dimension {
	out := append([]Dimension(nil), d...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// seriesKey identifies a metric: AWS treats each distinct combination of
// namespace, name and dimensions as its own metric.
func seriesKey(ns, name string, dims []Dimension) string {
	var b strings.Builder
	b.WriteString(ns)
	b.WriteByte(0)
	b.WriteString(name)
	for _, d := range dims {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
	return b.String()
}

// point is one datum ready to store.
type point struct {
	ns, name string
	dims     []Dimension
	t        time.Time
	res      int64
	b        bucket
}

var errTooManyMetrics = limitExceededErr{}

type limitExceededErr struct{}

func (limitExceededErr) Error() string { return "metric store full" }

// put stores points; it returns errTooManyMetrics, storing nothing, when a
// point would create a metric past the cap.
func (m *metricStore) put(points []point, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	newKeys := map[string]bool{}
	for i := range points {
		p := &points[i]
		p.dims = sortDims(p.dims)
		k := seriesKey(p.ns, p.name, p.dims)
		if m.series[k] == nil {
			newKeys[k] = true
		}
	}
	if len(m.series)+len(newKeys) > m.limits.MaxMetrics {
		return errTooManyMetrics
	}
	for i := range points {
		p := &points[i]
		k := seriesKey(p.ns, p.name, p.dims)
		s := m.series[k]
		if s == nil {
			s = &series{ns: p.ns, name: p.name, dims: p.dims, buckets: map[int64]*bucket{}}
			m.series[k] = s
		}
		res := p.res
		// Data older than the high-resolution window is stored at 1 minute,
		// as it would have been merged already.
		if res == 1 && now.Sub(p.t) > m.limits.HighResRetention {
			res = 60
		}
		start := p.t.Unix() - mod(p.t.Unix(), res)
		b := s.buckets[start]
		if b == nil || b.res != res {
			if b != nil {
				// A 1-second and a 1-minute bucket can share a start; keep
				// high-resolution data in its own key space.
				start = -start - 1
				b = s.buckets[start]
			}
			if b == nil {
				b = &bucket{start: p.t.Unix() - mod(p.t.Unix(), res), res: res}
				s.buckets[start] = b
			}
		}
		b.add(&p.b)
		m.markDirty(k)
		if now.After(s.last) || s.last.IsZero() {
			s.last = now
		}
		m.trim(s, now)
	}
	return nil
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// trim enforces retention on one series: old 1-second buckets merge into
// minutes, expired buckets go, and the per-metric cap drops the oldest.
func (m *metricStore) trim(s *series, now time.Time) (changed bool) {
	hrCut := now.Add(-m.limits.HighResRetention).Unix()
	cut := now.Add(-m.limits.Retention).Unix()
	for k, b := range s.buckets {
		if b.start < cut {
			delete(s.buckets, k)
			changed = true
			continue
		}
		if b.res == 1 && b.start < hrCut {
			delete(s.buckets, k)
			changed = true
			ms := b.start - mod(b.start, 60)
			mb := s.buckets[ms]
			if mb == nil || mb.res != 60 {
				mb = &bucket{start: ms, res: 60}
				s.buckets[ms] = mb
			}
			b.res = 60
			mb.add(b)
		}
	}
	if over := len(s.buckets) - m.limits.MaxPointsPerMetric; over > 0 {
		keys := make([]int64, 0, len(s.buckets))
		for k := range s.buckets {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return s.buckets[keys[i]].start < s.buckets[keys[j]].start })
		for _, k := range keys[:over] {
			delete(s.buckets, k)
		}
		changed = true
	}
	return changed
}

// sweep trims every series and drops the ones left empty; the evaluator
// calls it so that retention holds even for metrics nobody writes to.
func (m *metricStore) sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.series {
		if m.trim(s, now) {
			m.markDirty(k)
		}
		if len(s.buckets) == 0 {
			delete(m.series, k)
			m.markDirty(k)
		}
	}
}

// aggregate folds the buckets of one metric into periods of period seconds
// starting at start (aligned to start), for [start, end). unit filters when
// non-empty. It returns the periods that have data, keyed by period start.
func (m *metricStore) aggregate(ns, name string, dims []Dimension, unit string, start, end time.Time, period int64) map[int64]*bucket {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[seriesKey(ns, name, sortDims(dims))]
	out := map[int64]*bucket{}
	if s == nil {
		return out
	}
	from, to := start.Unix(), end.Unix()
	for _, b := range s.buckets {
		if b.start < from || b.start >= to {
			continue
		}
		if unit != "" && b.unit != unit && !(b.unit == "" && unit == "None") {
			continue
		}
		p := from + (b.start-from)/period*period
		agg := out[p]
		if agg == nil {
			agg = &bucket{start: p, res: period}
			out[p] = agg
		}
		agg.add(b)
	}
	return out
}

// list returns the series matching the filters, sorted by key.
func (m *metricStore) list(ns, name string, filters []DimensionFilter, activeSince time.Time) []*series {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*series
	for _, s := range m.series {
		if ns != "" && s.ns != ns || name != "" && s.name != name {
			continue
		}
		if !activeSince.IsZero() && s.last.Before(activeSince) {
			continue
		}
		ok := true
		for _, f := range filters {
			found := false
			for _, d := range s.dims {
				if d.Name == f.Name && (f.Value == nil || *f.Value == d.Value) {
					found = true
					break
				}
			}
			if !found {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return seriesKey(out[i].ns, out[i].name, out[i].dims) < seriesKey(out[j].ns, out[j].name, out[j].dims)
	})
	return out
}

func (m *metricStore) counts() (metrics, points int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		points += len(s.buckets)
	}
	return len(m.series), points
}

// statistic computes one statistic of an aggregated bucket; ok is false for
// a percentile with no raw values (statistic sets carry none).
func statistic(b *bucket, stat string) (float64, bool) {
	switch stat {
	case "SampleCount":
		return b.count, true
	case "Sum":
		return b.sum, true
	case "Average":
		if b.count == 0 {
			return 0, false
		}
		return b.sum / b.count, true
	case "Minimum":
		return b.min, true
	case "Maximum":
		return b.max, true
	}
	if p, ok := parsePercentile(stat); ok {
		return percentile(b, p)
	}
	return 0, false
}

// parsePercentile reads "p99" or "p99.9".
func parsePercentile(s string) (float64, bool) {
	if len(s) < 2 || s[0] != 'p' {
		return 0, false
	}
	var v float64
	if _, err := fmtSscan(s[1:], &v); err != nil || v < 0 || v > 100 {
		return 0, false
	}
	return v, true
}

func percentile(b *bucket, p float64) (float64, bool) {
	if len(b.values) == 0 {
		return 0, false
	}
	type vw struct{ v, w float64 }
	vs := make([]vw, len(b.values))
	total := 0.0
	for i, v := range b.values {
		vs[i] = vw{v, b.weights[i]}
		total += b.weights[i]
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].v < vs[j].v })
	// Nearest rank: the smallest value with at least p% of the weight at or
	// below it.
	need := p / 100 * total
	acc := 0.0
	for _, x := range vs {
		acc += x.w
		if acc >= need {
			return x.v, true
		}
	}
	return vs[len(vs)-1].v, true
}
