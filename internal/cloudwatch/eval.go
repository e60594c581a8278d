package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// Evaluation follows CloudWatch's documented rules:
//
//   - An alarm is evaluated at the end of each of its periods (every 10 s
//     tick checks which alarms are due), over the last EvaluationPeriods
//     complete periods.
//   - ALARM when at least DatapointsToAlarm (M) of those N datapoints breach.
//   - TreatMissingData: breaching / notBreaching substitute a breaching or
//     a good datapoint for each missing one; missing and ignore count only
//     the datapoints present; when none are present, missing goes to
//     INSUFFICIENT_DATA and ignore keeps the current state.
//   - Otherwise OK.
//   - A state set by SetAlarmState stays until an evaluation yields a
//     different state.

// tick is how often the loop looks for due alarms: the shortest alarm
// period (10 s) so high-resolution alarms are evaluated on time.
const tick = 10 * time.Second

// Run reads the metric sources and evaluates alarms at every 10-second
// boundary of the clock, and snapshots metrics, until ctx ends. Reading
// the sources at the boundary, just before evaluating, is what makes an
// alarm on load balancer metrics fire as soon as its period closes: the
// counts up to the boundary are in the period they belong to, not in the
// next one.
func (s *Service) Run(ctx context.Context) error {
	lastSave := s.now()
	for {
		boundary := s.now().Truncate(tick)
		s.collect(boundary)
		if err := s.EvaluateOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("evaluating alarms", "err", err)
		}
		if now := s.now(); now.Sub(lastSave) >= SnapshotInterval {
			lastSave = now
			if err := s.SaveMetrics(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("saving metrics", "err", err)
			}
		}
		t := s.clk.NewTimer(boundary.Add(tick).Sub(s.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			// The last snapshot outlives the cancelled context.
			if err := s.SaveMetrics(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("saving metrics on stop", "err", err)
			}
			return nil
		case <-t.C():
		}
	}
}

// EvaluateOnce evaluates every alarm that is due, enforces metric
// retention, and prunes history older than 30 days.
func (s *Service) EvaluateOnce(ctx context.Context) error {
	now := s.now()
	s.metrics.sweep(now)
	var alarms []*alarm
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		alarms, _, err = store.ListJSON[alarm](tx, kindAlarm, store.ListOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("cloudwatch: listing alarms: %w", err)
	}
	var errs []error
	for _, a := range alarms {
		if now.Before(a.NextEval) {
			continue
		}
		if _, err := s.transition(ctx, a.Name, func(cur *alarm) (string, string, string, bool) {
			return s.evaluate(cur, now)
		}); err != nil {
			errs = append(errs, fmt.Errorf("alarm %q: %w", a.Name, err))
		}
	}
	if err := s.pruneHistory(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// periodEnd is the end of the last complete period at now.
func periodEnd(now time.Time, period int64) time.Time {
	u := now.Unix()
	return time.Unix(u-mod(u, period), 0).UTC()
}

// evaluate computes the state an alarm should be in at now, and schedules
// its next evaluation. change is false when the state stays.
func (s *Service) evaluate(a *alarm, now time.Time) (state, reason, data string, change bool) {
	period := int64(a.Period)
	end := periodEnd(now, period)
	a.NextEval = end.Add(time.Duration(period) * time.Second)
	n := int64(a.EvaluationPeriods)
	start := end.Add(-time.Duration(n*period) * time.Second)
	stat := a.Statistic
	if stat == "" {
		stat = a.ExtendedStatistic
	}
	aggs := s.metrics.aggregate(a.Namespace, a.MetricName, a.Dimensions, a.Unit, start, end, period)

	dps := make([]dp, 0, n) // newest first, as AWS lists them
	for i := int64(1); i <= n; i++ {
		t := end.Add(-time.Duration(i*period) * time.Second)
		d := dp{t: t}
		if b := aggs[t.Unix()]; b != nil {
			if v, ok := statistic(b, stat); ok {
				d.v, d.count, d.present = v, b.count, true
				d.breaches = crosses(a.ComparisonOperator, v, a.Threshold)
			}
		}
		dps = append(dps, d)
	}
	present, breaching := 0, 0
	for _, d := range dps {
		if d.present {
			present++
			if d.breaches {
				breaching++
			}
		}
	}
	missing := int(n) - present
	m := int(a.DatapointsToAlarm)
	op := staticOperators[a.ComparisonOperator]
	thr := javaDouble(a.Threshold)

	list := func(keep func(dp) bool) string {
		var parts []string
		for _, d := range dps {
			if d.present && keep(d) {
				parts = append(parts, fmt.Sprintf("%s (%s)", javaDouble(d.v), d.t.Format("02/01/06 15:04:05")))
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	plural := func(k int, one, many string) string {
		if k == 1 {
			return one
		}
		return many
	}

	switch a.TreatMissingData {
	case "breaching":
		breaching += missing
	case "notBreaching":
	default:
		if present == 0 {
			if a.TreatMissingData == "ignore" {
				return a.State, "", "", false
			}
			reason = fmt.Sprintf("Insufficient Data: %d %s unknown.", n, plural(int(n), "datapoint was", "datapoints were"))
			return StateInsufficientData, reason, s.reasonData(a, now, start, stat, toEvaluated(dps)), true
		}
	}
	rd := s.reasonData(a, now, start, stat, toEvaluated(dps))
	if breaching >= m {
		state = StateAlarm
		if present == 0 {
			reason = fmt.Sprintf("Threshold Crossed: no datapoints were received for %d %s and %d missing %s treated as [Breaching].",
				n, plural(int(n), "period", "periods"), missing, plural(missing, "datapoint was", "datapoints were"))
		} else {
			shown := breaching
			if a.TreatMissingData == "breaching" {
				shown = breaching - missing
			}
			reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints %s %s %s the threshold (%s) (minimum %d %s for %s -> ALARM transition).",
				breaching, n, list(func(d dp) bool { return d.breaches }), plural(shown, "was", "were"), op, thr, m, plural(m, "datapoint", "datapoints"), a.State)
		}
	} else {
		state = StateOK
		good := present - breaching
		if a.TreatMissingData == "breaching" {
			good = present - (breaching - missing)
		}
		if present == 0 {
			reason = fmt.Sprintf("Threshold Crossed: no datapoints were received for %d %s and %d missing %s treated as [NonBreaching].",
				n, plural(int(n), "period", "periods"), missing, plural(missing, "datapoint was", "datapoints were"))
		} else {
			reason = fmt.Sprintf("Threshold Crossed: %d %s %s %s not %s the threshold (%s).",
				good, plural(good, "datapoint", "datapoints"), list(func(d dp) bool { return !d.breaches }), plural(good, "was", "were"), op, thr)
		}
	}
	return state, reason, rd, state != a.State
}

// dp is one evaluated period.
type dp struct {
	t        time.Time
	v        float64
	count    float64
	present  bool
	breaches bool
}

func toEvaluated(dps []dp) []evaluated {
	out := make([]evaluated, 0, len(dps))
	for _, d := range dps {
		e := evaluated{Timestamp: isoJava(d.t)}
		if d.present {
			v, c := d.v, d.count
			e.Value, e.SampleCount = &v, &c
		}
		out = append(out, e)
	}
	return out
}

type evaluated struct {
	Timestamp   string   `json:"timestamp"`
	SampleCount *float64 `json:"sampleCount,omitempty"`
	Value       *float64 `json:"value,omitempty"`
}

func isoJava(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }

// reasonData is StateReasonData in AWS's format.
func (s *Service) reasonData(a *alarm, now, start time.Time, stat string, ev []evaluated) string {
	recent := []float64{}
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Value != nil {
			recent = append(recent, *ev[i].Value)
		}
	}
	d := map[string]any{
		"version": "1.0", "queryDate": isoJava(now), "startDate": isoJava(start),
		"period": a.Period, "recentDatapoints": recent, "threshold": a.Threshold, "evaluatedDatapoints": ev,
	}
	if a.Statistic != "" {
		d["statistic"] = stat
	} else {
		d["extendedStatistic"] = stat
	}
	if a.Unit != "" {
		d["unit"] = a.Unit
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// javaDouble prints a number as AWS's (Java) reasons do: 5.0, 0.25, 1.0E9.
func javaDouble(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e7 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	if a := math.Abs(v); a >= 1e-3 && a < 1e7 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

func crosses(op string, v, thr float64) bool {
	switch op {
	case "GreaterThanOrEqualToThreshold":
		return v >= thr
	case "GreaterThanThreshold":
		return v > thr
	case "LessThanThreshold":
		return v < thr
	case "LessThanOrEqualToThreshold":
		return v <= thr
	}
	return false
}

// transition reads the alarm, asks decide for its new state, and when the
// state changes writes it with a StateUpdate history item, then runs the
// hooks (and records Action items) if actions are enabled. It reports
// whether the state changed.
func (s *Service) transition(ctx context.Context, name string, decide func(*alarm) (state, reason, data string, change bool)) (bool, error) {
	now := s.now()
	var (
		changed  bool
		oldState string
		after    *alarm
	)
	s.mu.Lock()
	err := s.db.Update(ctx, func(tx store.Tx) error {
		changed, after = false, nil
		a, rec, err := store.GetJSON[alarm](tx, kindAlarm, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Alarm %s does not exist.", name)
		}
		if err != nil {
			return err
		}
		oldState = a.State
		state, reason, data, change := decide(a)
		if change {
			oldReason := a.StateReason
			a.State, a.StateReason, a.StateReasonData = state, reason, data
			a.StateUpdated = now
			if state != oldState {
				a.StateTransitioned = now
			}
			hd := map[string]any{"version": "1.0",
				"oldState": map[string]any{"stateValue": oldState, "stateReason": oldReason},
				"newState": map[string]any{"stateValue": state, "stateReason": reason}}
			if data != "" && json.Valid([]byte(data)) {
				hd["newState"].(map[string]any)["stateReasonData"] = json.RawMessage(data)
			}
			b, _ := json.Marshal(hd)
			if err := s.addHistory(tx, historyRecord{AlarmName: name, Time: now, Type: "StateUpdate",
				Summary: fmt.Sprintf("Alarm updated from %s to %s", oldState, state), Data: string(b)}); err != nil {
				return err
			}
			// Actions run only on a real change of state (SetAlarmState
			// to the current state runs none, as AWS documents).
			if a.ActionsEnabled && state != oldState {
				for _, arn := range actionsFor(a, state) {
					if err := s.addHistory(tx, historyRecord{AlarmName: name, Time: now, Type: "Action",
						Summary: "Successfully executed action " + arn,
						Data:    fmt.Sprintf(`{"actionState":"Succeeded","notificationResource":%q,"stateUpdateTimestamp":%d}`, arn, now.UnixMilli())}); err != nil {
						return err
					}
				}
			}
			changed = true
		}
		after = a
		// NextEval moved even when the state stays.
		return store.PutJSON(tx, rec, a)
	})
	hooks := append([]func(MetricAlarm, string, string){}, s.hooks...)
	watchers := append([]func(string, string, string){}, s.watchers...)
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	if changed && after.ActionsEnabled && after.State != oldState {
		w := s.wire(after)
		for _, h := range hooks {
			h(w, oldState, after.State)
		}
	}
	if changed && after.State != oldState {
		for _, w := range watchers {
			w(name, oldState, after.State)
		}
	}
	if changed {
		s.log.Info("alarm state changed", "alarm", name, "from", oldState, "to", after.State)
	}
	return changed, nil
}

func actionsFor(a *alarm, state string) []string {
	switch state {
	case StateOK:
		return a.OKActions
	case StateAlarm:
		return a.AlarmActions
	}
	return a.InsufficientDataActions
}

// pruneHistory drops history older than 30 days, oldest first, a bounded
// batch per call.
func (s *Service) pruneHistory(ctx context.Context, now time.Time) error {
	cut := fmt.Sprintf("%020d", now.Add(-historyRetention).UnixNano())
	return s.db.Update(ctx, func(tx store.Tx) error {
		recs, err := tx.List(kindHistory, store.ListOptions{Limit: 500, KeysOnly: true})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Key >= cut {
				break
			}
			if err := tx.Delete(kindHistory, r.Key, -1); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}
