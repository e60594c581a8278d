package cloudwatch

import (
	"context"
	"testing"
	"time"
)

// TestRunAndCollect runs the evaluator loop and the collector on the fake
// clock: ticks drive both, with no sleeping in the code under test.
func TestRunAndCollect(t *testing.T) {
	e := newEnv(t)
	tg := map[string]string{"LoadBalancer": "app/web/1", "TargetGroup": "targetgroup/blue/2"}
	total := 0.0
	source := func() []Sample {
		return []Sample{{Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count", Dimensions: tg, Value: total, Cumulative: true}}
	}
	e.alarm("5xx", func(in *PutMetricAlarmInput) {
		in.Namespace, in.MetricName, in.Threshold = "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", ptr(0.0)
		in.Dimensions = []Dimension{{"LoadBalancer", "app/web/1"}, {"TargetGroup", "targetgroup/blue/2"}}
		in.TreatMissingData = "notBreaching"
	})
	ctx, cancel := context.WithCancel(e.ctx)
	e.svc.AddSource(source)
	done := make(chan struct{}, 1)
	go func() { e.svc.Run(ctx); done <- struct{}{} }()
	defer func() {
		cancel()
		<-done
	}()
	wait := func(n int) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if err := e.clk.BlockUntil(wctx, n); err != nil {
			t.Fatal(err)
		}
	}
	wait(1)
	want := func(state string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if s, _, _ := e.svc.AlarmState(e.ctx, "5xx"); s == state {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		s, _, _ := e.svc.AlarmState(e.ctx, "5xx")
		t.Fatalf("state %s, want %s", s, state)
	}
	want(StateOK)
	total = 4
	// The goroutines see each tick a little later than the test sends it,
	// so a datum may land one period late; ALARM must come by 10:02.
	for e.clk.Now().Before(t0.Add(2 * time.Minute)) {
		e.clk.Advance(10 * time.Second)
		wait(1)
		time.Sleep(20 * time.Millisecond)
		if s, _, _ := e.svc.AlarmState(e.ctx, "5xx"); s == StateAlarm {
			return
		}
	}
	want(StateAlarm)
}
