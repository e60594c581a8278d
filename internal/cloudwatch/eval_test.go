package cloudwatch

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func (e *env) alarm(name string, mut func(*PutMetricAlarmInput)) {
	e.t.Helper()
	in := &PutMetricAlarmInput{AlarmName: name, Namespace: "App", MetricName: "Errors", Statistic: "Sum",
		Period: ptr[int32](60), EvaluationPeriods: ptr[int32](1), Threshold: ptr(1.0), ComparisonOperator: "GreaterThanThreshold"}
	if mut != nil {
		mut(in)
	}
	if _, err := e.svc.PutMetricAlarm(e.ctx, in); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) describe(name string) MetricAlarm {
	e.t.Helper()
	out, err := e.svc.DescribeAlarms(e.ctx, &DescribeAlarmsInput{AlarmNames: []string{name}})
	if err != nil || len(out.MetricAlarms) != 1 {
		e.t.Fatalf("DescribeAlarms(%s): %+v %v", name, out, err)
	}
	return out.MetricAlarms[0]
}

// TestEvaluation runs one alarm through a sequence of minutes: values[i] is
// the datum of minute i (nil: none), want[i] the state after the
// evaluation at the end of minute i.
func TestEvaluation(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	type step struct {
		value *float64
		want  string
	}
	tests := []struct {
		name  string
		mut   func(*PutMetricAlarmInput)
		steps []step
	}{
		{"missing: no data is insufficient", nil, []step{{nil, StateInsufficientData}, {v(5), StateAlarm}, {v(0), StateOK}, {nil, StateInsufficientData}}},
		{"ignore keeps state", func(in *PutMetricAlarmInput) { in.TreatMissingData = "ignore" }, []step{{v(5), StateAlarm}, {nil, StateAlarm}, {v(0), StateOK}, {nil, StateOK}}},
		{"breaching", func(in *PutMetricAlarmInput) { in.TreatMissingData = "breaching" }, []step{{nil, StateAlarm}, {v(0), StateOK}, {nil, StateAlarm}}},
		{"notBreaching", func(in *PutMetricAlarmInput) { in.TreatMissingData = "notBreaching" }, []step{{nil, StateOK}, {v(5), StateAlarm}, {nil, StateOK}}},
		{"2 of 3", func(in *PutMetricAlarmInput) {
			in.EvaluationPeriods, in.DatapointsToAlarm, in.TreatMissingData = ptr[int32](3), ptr[int32](2), "notBreaching"
		}, []step{{v(5), StateOK}, {v(0), StateOK}, {v(5), StateAlarm}, {v(0), StateOK}, {v(0), StateOK}}},
		{"3 of 3 with missing counts present only", func(in *PutMetricAlarmInput) { in.EvaluationPeriods = ptr[int32](3) },
			[]step{{v(5), StateOK}, {v(5), StateOK}, {v(5), StateAlarm}, {nil, StateOK}}},
		{"GreaterThanOrEqualTo", func(in *PutMetricAlarmInput) { in.ComparisonOperator = "GreaterThanOrEqualToThreshold" }, []step{{v(1), StateAlarm}, {v(0.5), StateOK}}},
		{"LessThan", func(in *PutMetricAlarmInput) { in.ComparisonOperator = "LessThanThreshold" }, []step{{v(0.5), StateAlarm}, {v(1), StateOK}}},
		{"LessThanOrEqualTo", func(in *PutMetricAlarmInput) { in.ComparisonOperator = "LessThanOrEqualToThreshold" }, []step{{v(1), StateAlarm}, {v(1.5), StateOK}}},
		{"percentile", func(in *PutMetricAlarmInput) { in.Statistic, in.ExtendedStatistic = "", "p90" }, []step{{v(5), StateAlarm}, {v(0), StateOK}}},
		{"high resolution 10 s", func(in *PutMetricAlarmInput) { in.Period = ptr[int32](10) }, []step{{v(5), StateAlarm}, {v(0), StateOK}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.alarm("a", tc.mut)
			period := time.Duration(*e.describePeriod("a")) * time.Second
			for i, s := range tc.steps {
				if s.value != nil {
					e.putHR("App", "Errors", *s.value, e.clk.Now().Add(period/2), period < time.Minute)
				}
				e.advance(period)
				if got := e.state("a"); got != s.want {
					a := e.describe("a")
					t.Fatalf("step %d: state %s, want %s (%s)", i, got, s.want, a.StateReason)
				}
			}
		})
	}
}

func (e *env) describePeriod(name string) *int32 {
	p := e.describe(name).Period
	return &p
}

func (e *env) putHR(ns, name string, v float64, at time.Time, hr bool) {
	e.t.Helper()
	d := MetricDatum{MetricName: name, Value: &v, Timestamp: inTime(at.Format(time.RFC3339Nano))}
	if hr {
		d.StorageResolution = ptr[int32](1)
	}
	if _, err := e.svc.PutMetricData(e.ctx, &PutMetricDataInput{Namespace: ns, MetricData: []MetricDatum{d}}); err != nil {
		e.t.Fatal(err)
	}
}

func TestStateReasonFormat(t *testing.T) {
	e := newEnv(t)
	e.alarm("a", nil)
	e.put("App", "Errors", 5, t0.Add(10*time.Second))
	e.advance(time.Minute)
	a := e.describe("a")
	want := "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (25/11/26 10:00:00)] was greater than the threshold (1.0) (minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition)."
	if a.StateReason != want {
		t.Errorf("reason\n got %s\nwant %s", a.StateReason, want)
	}
	var rd struct {
		Version             string    `json:"version"`
		Statistic           string    `json:"statistic"`
		Period              int       `json:"period"`
		RecentDatapoints    []float64 `json:"recentDatapoints"`
		Threshold           float64   `json:"threshold"`
		StartDate           string    `json:"startDate"`
		EvaluatedDatapoints []struct {
			Timestamp   string  `json:"timestamp"`
			SampleCount float64 `json:"sampleCount"`
			Value       float64 `json:"value"`
		} `json:"evaluatedDatapoints"`
	}
	if err := json.Unmarshal([]byte(a.StateReasonData), &rd); err != nil {
		t.Fatal(err)
	}
	if rd.Version != "1.0" || rd.Statistic != "Sum" || rd.Period != 60 || len(rd.RecentDatapoints) != 1 || rd.RecentDatapoints[0] != 5 ||
		rd.StartDate != "2026-11-25T10:00:00.000+0000" || len(rd.EvaluatedDatapoints) != 1 || rd.EvaluatedDatapoints[0].Value != 5 {
		t.Errorf("StateReasonData %s", a.StateReasonData)
	}
	if a.StateTransitionedTimestamp == nil || !a.StateTransitionedTimestamp.Equal(t0.Add(time.Minute)) {
		t.Errorf("transitioned at %v", a.StateTransitionedTimestamp)
	}
	e.put("App", "Errors", 0, t0.Add(70*time.Second))
	e.advance(time.Minute)
	if a := e.describe("a"); a.StateReason != "Threshold Crossed: 1 datapoint [0.0 (25/11/26 10:01:00)] was not greater than the threshold (1.0)." {
		t.Errorf("OK reason %s", a.StateReason)
	}
	e.advance(time.Minute)
	if a := e.describe("a"); a.StateReason != "Insufficient Data: 1 datapoint was unknown." {
		t.Errorf("insufficient reason %s", a.StateReason)
	}
}

func TestSetAlarmStateUntilNextEvaluation(t *testing.T) {
	e := newEnv(t)
	e.alarm("a", func(in *PutMetricAlarmInput) { in.TreatMissingData = "notBreaching" })
	e.advance(time.Minute)
	if s := e.state("a"); s != StateOK {
		t.Fatalf("state %s", s)
	}
	e.clk.Advance(10 * time.Second)
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "a", StateValue: StateAlarm, StateReason: "drill"}); err != nil {
		t.Fatal(err)
	}
	// Ticks before the next period boundary leave the set state alone.
	for range 4 {
		e.advance(10 * time.Second)
		if s := e.state("a"); s != StateAlarm {
			t.Fatalf("state %s before next period", s)
		}
	}
	e.advance(10 * time.Second)
	if s := e.state("a"); s != StateOK {
		t.Fatalf("state %s after next evaluation, want OK", s)
	}
}

func TestRestartKeepsAlarms(t *testing.T) {
	e := newEnv(t)
	e.alarm("a", func(in *PutMetricAlarmInput) { in.TreatMissingData = "breaching" })
	e.advance(time.Minute)
	if s := e.state("a"); s != StateAlarm {
		t.Fatalf("state %s", s)
	}
	e.restart()
	if s := e.state("a"); s != StateAlarm {
		t.Fatalf("state after restart %s", s)
	}
	h, err := e.svc.DescribeAlarmHistory(e.ctx, &DescribeAlarmHistoryInput{AlarmName: "a"})
	if err != nil || len(h.AlarmHistoryItems) != 2 || h.AlarmHistoryItems[0].HistoryItemType != "StateUpdate" || h.AlarmHistoryItems[1].HistoryItemType != "ConfigurationUpdate" {
		t.Fatalf("history after restart %+v %v", h, err)
	}
	// Evaluation goes on from the stored schedule.
	e.alarm("a", func(in *PutMetricAlarmInput) { in.TreatMissingData = "notBreaching" })
	e.advance(time.Minute)
	if s := e.state("a"); s != StateOK {
		t.Fatalf("state %s", s)
	}
}

func TestOnTransitionOnlyWhenActionsEnabled(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []string
	e.svc.OnTransition(func(a MetricAlarm, from, to string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, a.AlarmName+":"+from+"->"+to+":"+strings.Join(a.AlarmActions, ","))
	})
	sns := "arn:aws:sns:us-east-1:123456789012:ops"
	e.alarm("on", func(in *PutMetricAlarmInput) { in.TreatMissingData, in.AlarmActions = "breaching", []string{sns} })
	e.alarm("off", func(in *PutMetricAlarmInput) {
		in.TreatMissingData, in.AlarmActions, in.ActionsEnabled = "breaching", []string{sns}, ptr(false)
	})
	e.advance(time.Minute)
	if len(got) != 1 || got[0] != "on:INSUFFICIENT_DATA->ALARM:"+sns {
		t.Fatalf("hooks %v", got)
	}
	// SetAlarmState to the state the alarm is in runs no action.
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "on", StateValue: StateAlarm, StateReason: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "on", StateValue: StateOK, StateReason: "manual"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 2 || got[1] != "on:ALARM->OK:"+sns {
		t.Fatalf("hooks after SetAlarmState %v", got)
	}
	mu.Unlock()
	h, _ := e.svc.DescribeAlarmHistory(e.ctx, &DescribeAlarmHistoryInput{AlarmName: "on", HistoryItemType: "Action", ScanBy: "TimestampAscending"})
	if len(h.AlarmHistoryItems) != 1 || !strings.Contains(h.AlarmHistoryItems[0].HistorySummary, sns) {
		t.Errorf("action history %+v", h.AlarmHistoryItems)
	}
}

// TestELBIngestAlarm: cumulative load balancer counters become per-period
// sums; an alarm on a target group's HTTPCode_Target_5XX_Count Sum fires.
func TestELBIngestAlarm(t *testing.T) {
	e := newEnv(t)
	lb, tg := "app/web/50dc6c495c0c9188", "targetgroup/blue/73e2d6bc24d8a067"
	dims := map[string]string{"LoadBalancer": lb, "TargetGroup": tg}
	total5xx, rtSum, rtCount := 0.0, 0.0, 0.0
	snapshot := func() []Sample {
		now := e.clk.Now()
		return []Sample{
			{Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count", Dimensions: dims, Value: total5xx, Cumulative: true, Time: now},
			{Namespace: "AWS/ApplicationELB", MetricName: "TargetResponseTime", Dimensions: dims, Value: rtSum, Count: rtCount, Cumulative: true, Time: now},
			{Namespace: "AWS/ApplicationELB", MetricName: "HealthyHostCount", Dimensions: dims, Value: 2, Time: now},
		}
	}
	e.alarm("5xx", func(in *PutMetricAlarmInput) {
		in.Namespace, in.MetricName = "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"
		in.Dimensions = []Dimension{{"TargetGroup", tg}, {"LoadBalancer", lb}}
		in.Threshold, in.TreatMissingData = ptr(3.0), "notBreaching"
	})
	e.svc.Ingest(snapshot()) // baseline at 10:00:00
	for i, step := range []struct {
		new5xx float64
		want   string
	}{{2, StateOK}, {0, StateOK}, {5, StateAlarm}, {0, StateOK}} {
		total5xx += step.new5xx
		rtSum, rtCount = rtSum+0.5, rtCount+10
		e.clk.Advance(30 * time.Second)
		e.svc.Ingest(snapshot())
		e.advance(30 * time.Second)
		if s := e.state("5xx"); s != step.want {
			t.Fatalf("minute %d: state %s, want %s (%s)", i, s, step.want, e.describe("5xx").StateReason)
		}
	}
	st, err := e.svc.GetMetricStatistics(e.ctx, &GetMetricStatisticsInput{Namespace: "AWS/ApplicationELB", MetricName: "TargetResponseTime",
		Dimensions: []Dimension{{"LoadBalancer", lb}, {"TargetGroup", tg}}, StartTime: inTime(t0.Format(time.RFC3339)), EndTime: inTime(e.clk.Now().Format(time.RFC3339)),
		Period: ptr[int32](60), Statistics: []string{"Average", "SampleCount"}})
	if err != nil || len(st.Datapoints) != 4 || *st.Datapoints[0].Average != 0.05 || *st.Datapoints[0].SampleCount != 10 || st.Datapoints[0].Unit != "Seconds" {
		t.Fatalf("TargetResponseTime %+v %v", st, err)
	}
	// Clients may not write AWS namespaces themselves.
	if _, err := e.svc.PutMetricData(e.ctx, &PutMetricDataInput{Namespace: "AWS/ApplicationELB", MetricData: []MetricDatum{{MetricName: "x", Value: ptr(1.0)}}}); err == nil {
		t.Error("PutMetricData into AWS/ApplicationELB accepted")
	}
}

func TestMetricBounds(t *testing.T) {
	e := &env{t: t, ctx: t.Context(), clk: clockAt(), dbPath: t.TempDir() + "/db", limits: Limits{MaxMetrics: 2, MaxPointsPerMetric: 40, Retention: time.Hour, HighResRetention: 10 * time.Minute}}
	e.open()
	e.put("App", "m1", 1, t0)
	e.put("App", "m2", 1, t0)
	_, err := e.svc.PutMetricData(e.ctx, &PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m3", Value: ptr(1.0)}}})
	if code := errCode(err); code != "LimitExceeded" {
		t.Fatalf("third metric: %v", err)
	}
	for i := range 50 {
		e.put("App", "m1", float64(i), t0.Add(time.Duration(i)*time.Minute))
	}
	if _, points := e.svc.metrics.counts(); points != 40+1 {
		t.Fatalf("points %d over the per-metric cap", points)
	}
	// High-resolution points merge into minutes after HighResRetention.
	for i := range 30 {
		e.putHR("App", "m2", 1, t0.Add(time.Duration(i)*time.Second), true)
	}
	e.clk.Advance(11 * time.Minute)
	e.svc.metrics.sweep(e.clk.Now())
	st, err := e.svc.GetMetricStatistics(e.ctx, &GetMetricStatisticsInput{Namespace: "App", MetricName: "m2", StartTime: inTime(t0.Format(time.RFC3339)),
		EndTime: inTime(t0.Add(time.Minute).Format(time.RFC3339)), Period: ptr[int32](1), Statistics: []string{"SampleCount"}})
	if err != nil || len(st.Datapoints) != 1 || *st.Datapoints[0].SampleCount != 31 {
		t.Fatalf("after merge: %+v %v", st, err)
	}
	// Everything goes after Retention, and empty metrics disappear.
	e.clk.Advance(2 * time.Hour)
	e.svc.metrics.sweep(e.clk.Now())
	if m, p := e.svc.metrics.counts(); m != 0 || p != 0 {
		t.Fatalf("after retention: %d metrics %d points", m, p)
	}
}

func TestMetricsSurviveRestart(t *testing.T) {
	e := newEnv(t)
	e.put("App", "m", 3, t0.Add(-30*time.Second), Dimension{"Host", "a"})
	e.putHR("App", "hr", 2, t0.Add(-5*time.Second), true)
	if err := e.svc.SaveMetrics(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.restart()
	st, err := e.svc.GetMetricStatistics(e.ctx, &GetMetricStatisticsInput{Namespace: "App", MetricName: "m", Dimensions: []Dimension{{"Host", "a"}},
		StartTime: "2026-11-25T09:00:00Z", EndTime: "2026-11-25T10:00:00Z", Period: ptr[int32](60), Statistics: []string{"Sum"}})
	if err != nil || len(st.Datapoints) != 1 || *st.Datapoints[0].Sum != 3 {
		t.Fatalf("after restart %+v %v", st, err)
	}
	st, err = e.svc.GetMetricStatistics(e.ctx, &GetMetricStatisticsInput{Namespace: "App", MetricName: "hr",
		StartTime: "2026-11-25T09:59:00Z", EndTime: "2026-11-25T10:00:00Z", Period: ptr[int32](1), Statistics: []string{"Sum"}})
	if err != nil || len(st.Datapoints) != 1 || !st.Datapoints[0].Timestamp.Equal(t0.Add(-5*time.Second)) {
		t.Fatalf("high-resolution after restart %+v %v", st, err)
	}
	// Expired metrics leave the store too.
	e.clk.Advance(16 * 24 * time.Hour)
	if err := e.svc.EvaluateOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SaveMetrics(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if m, _ := e.svc.metrics.counts(); m != 0 {
		t.Fatalf("%d metrics back after expiry", m)
	}
}
