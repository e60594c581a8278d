package cloudwatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// Metric data is kept in memory and written to the store as snapshots: one
// record per metric, rewritten only when the metric changed since the last
// snapshot. Run snapshots every SnapshotInterval and once more when it
// stops, so a crash loses at most that interval of data; New loads the
// snapshots back.

const (
	kindMetrics = "cloudwatch.metric"
	// SnapshotInterval is how often Run writes changed metrics.
	SnapshotInterval = time.Minute
)

type bucketSnap struct {
	Start   int64     `json:"s"`
	Res     int64     `json:"r"`
	Count   float64   `json:"c"`
	Sum     float64   `json:"sum"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Unit    string    `json:"u,omitempty"`
	Values  []float64 `json:"v,omitempty"`
	Weights []float64 `json:"w,omitempty"`
}

type seriesSnap struct {
	Namespace  string       `json:"ns"`
	MetricName string       `json:"name"`
	Dimensions []Dimension  `json:"dims,omitempty"`
	Last       time.Time    `json:"last"`
	Buckets    []bucketSnap `json:"buckets"`
}

func snapKey(seriesKey string) string {
	h := sha256.Sum256([]byte(seriesKey))
	return hex.EncodeToString(h[:16])
}

func (m *metricStore) markDirty(k string) {
	if m.dirty == nil {
		m.dirty = map[string]bool{}
	}
	m.dirty[k] = true
}

// takeDirty returns copies of the changed series (nil value: deleted) and
// forgets that they changed.
func (m *metricStore) takeDirty() map[string]*seriesSnap {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*seriesSnap, len(m.dirty))
	for k := range m.dirty {
		s := m.series[k]
		if s == nil {
			out[k] = nil
			continue
		}
		snap := &seriesSnap{Namespace: s.ns, MetricName: s.name, Dimensions: s.dims, Last: s.last}
		for _, b := range s.buckets {
			snap.Buckets = append(snap.Buckets, bucketSnap{Start: b.start, Res: b.res, Count: b.count, Sum: b.sum, Min: b.min, Max: b.max,
				Unit: b.unit, Values: append([]float64(nil), b.values...), Weights: append([]float64(nil), b.weights...)})
		}
		out[k] = snap
	}
	m.dirty = nil
	return out
}

// SaveMetrics writes the metrics changed since the last call to the store.
func (s *Service) SaveMetrics(ctx context.Context) error {
	dirty := s.metrics.takeDirty()
	if len(dirty) == 0 {
		return nil
	}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		for k, snap := range dirty {
			key := snapKey(k)
			rec, err := tx.Get(kindMetrics, key)
			if errors.Is(err, store.ErrNotFound) {
				rec, err = &store.Record{Kind: kindMetrics, Key: key}, nil
			}
			if err != nil {
				return err
			}
			if snap == nil {
				if rec.Version > 0 {
					if err := tx.Delete(kindMetrics, key, -1); err != nil {
						return err
					}
				}
				continue
			}
			if err := store.PutJSON(tx, rec, snap); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Mark them again so the next snapshot retries.
		s.metrics.mu.Lock()
		for k := range dirty {
			s.metrics.markDirty(k)
		}
		s.metrics.mu.Unlock()
		return fmt.Errorf("cloudwatch: saving metrics: %w", err)
	}
	return nil
}

// loadMetrics restores the snapshots, within the current limits.
func (s *Service) loadMetrics(ctx context.Context) error {
	var snaps []*seriesSnap
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		snaps, _, err = store.ListJSON[seriesSnap](tx, kindMetrics, store.ListOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("cloudwatch: loading metrics: %w", err)
	}
	m := s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	now := s.now()
	for _, sn := range snaps {
		if len(m.series) >= m.limits.MaxMetrics {
			s.log.Warn("metric snapshot over the metric cap; dropping the rest", "max_metrics", m.limits.MaxMetrics)
			break
		}
		dims := sortDims(sn.Dimensions)
		k := seriesKey(sn.Namespace, sn.MetricName, dims)
		sr := &series{ns: sn.Namespace, name: sn.MetricName, dims: dims, last: sn.Last, buckets: map[int64]*bucket{}}
		for _, b := range sn.Buckets {
			if len(b.Values) != len(b.Weights) || (b.Res != 1 && b.Res != 60) {
				continue
			}
			key := b.Start
			if old := sr.buckets[key]; old != nil && old.res != b.Res {
				key = -key - 1
			}
			sr.buckets[key] = &bucket{start: b.Start, res: b.Res, count: b.Count, sum: b.Sum, min: b.Min, max: b.Max, unit: b.Unit, values: b.Values, weights: b.Weights}
		}
		m.trim(sr, now)
		m.series[k] = sr
	}
	return nil
}
