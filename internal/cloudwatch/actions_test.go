package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// published records what an alarm hook published, as SNS would receive it.
type published struct {
	mu    sync.Mutex
	calls []publishCall
	fail  map[string]bool
}

type publishCall struct{ Topic, Subject, Message string }

func (p *published) Publish(ctx context.Context, topicARN, subject, message string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail[topicARN] {
		return "", errors.New("topic does not exist")
	}
	p.calls = append(p.calls, publishCall{topicARN, subject, message})
	return "id", nil
}

func (p *published) take() []publishCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

func TestAlarmNotificationsToSNS(t *testing.T) {
	e := newEnv(t)
	pub := &published{fail: map[string]bool{"arn:aws:sns:us-east-1:123456789012:gone": true}}
	e.svc.NotifySNS(e.ctx, pub)
	alarmTopic := "arn:aws:sns:us-east-1:123456789012:ops"
	okTopic := "arn:aws:sns:us-east-1:123456789012:ok"
	if _, err := e.svc.PutMetricAlarm(e.ctx, &PutMetricAlarmInput{
		AlarmName: "web-5xx", AlarmDescription: ptr("Too many errors"), Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count",
		Statistic: "Sum", Dimensions: []Dimension{{Name: "LoadBalancer", Value: "app/web/1"}}, Period: ptr(int32(60)),
		EvaluationPeriods: ptr(int32(2)), DatapointsToAlarm: ptr(int32(1)), Threshold: ptr(5.0), ComparisonOperator: "GreaterThanThreshold",
		TreatMissingData: "notBreaching", Unit: "Count",
		AlarmActions: []string{alarmTopic, "arn:aws:sns:us-east-1:123456789012:gone", "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x"},
		OKActions:    []string{okTopic},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "web-5xx", StateValue: StateAlarm, StateReason: "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0)."}); err != nil {
		t.Fatal(err)
	}
	calls := pub.take()
	if len(calls) != 1 || calls[0].Topic != alarmTopic {
		t.Fatalf("published %+v; want one publish to %s (the failing topic and the autoscaling action skipped)", calls, alarmTopic)
	}
	if calls[0].Subject != `ALARM: "web-5xx" in US East (N. Virginia)` {
		t.Fatalf("subject %q", calls[0].Subject)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(calls[0].Message), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"AlarmName": "web-5xx", "AlarmDescription": "Too many errors", "AWSAccountId": testAccount,
		"NewStateValue": "ALARM", "OldStateValue": "INSUFFICIENT_DATA", "Region": "US East (N. Virginia)",
		"AlarmArn":        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx",
		"NewStateReason":  "Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (5.0).",
		"StateChangeTime": "2026-11-25T10:00:00.000+0000", "AlarmConfigurationUpdatedTimestamp": "2026-11-25T10:00:00.000+0000",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	trig, _ := json.Marshal(m["Trigger"])
	if string(trig) != `{"ComparisonOperator":"GreaterThanThreshold","DatapointsToAlarm":1,"Dimensions":[{"name":"LoadBalancer","value":"app/web/1"}],"EvaluateLowSampleCountPercentile":"","EvaluationPeriods":2,"MetricName":"HTTPCode_Target_5XX_Count","Namespace":"AWS/ApplicationELB","Period":60,"Statistic":"SUM","StatisticType":"Statistic","Threshold":5,"TreatMissingData":"notBreaching","Unit":"Count"}` {
		t.Errorf("Trigger %s", trig)
	}
	// The fields come in CloudWatch's order.
	if !strings.HasPrefix(calls[0].Message, `{"AlarmName":"web-5xx","AlarmDescription":"Too many errors","AWSAccountId":`) {
		t.Errorf("message %s", calls[0].Message)
	}

	// Back to OK notifies the OK topic; disabled actions notify nobody.
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "web-5xx", StateValue: StateOK, StateReason: "back"}); err != nil {
		t.Fatal(err)
	}
	if calls := pub.take(); len(calls) != 1 || calls[0].Topic != okTopic || !strings.HasPrefix(calls[0].Subject, `OK: "web-5xx"`) {
		t.Fatalf("OK: %+v", calls)
	}
	if _, err := e.svc.DisableAlarmActions(e.ctx, &AlarmNamesInput{AlarmNames: []string{"web-5xx"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetAlarmState(e.ctx, &SetAlarmStateInput{AlarmName: "web-5xx", StateValue: StateAlarm, StateReason: "again"}); err != nil {
		t.Fatal(err)
	}
	if calls := pub.take(); len(calls) != 0 {
		t.Fatalf("published with actions disabled: %+v", calls)
	}
}

func TestAlarmSubjectRules(t *testing.T) {
	for _, tc := range []struct{ state, name, region, want string }{
		{StateInsufficientData, "a", "Canada (Central)", `INSUFFICIENT_DATA: "a" in Canada (Central)`},
		{StateAlarm, "é\nx", "EU (Paris)", `ALARM: "??x" in EU (Paris)`},
		{StateAlarm, strings.Repeat("n", 200), "EU (Paris)", `ALARM: "` + strings.Repeat("n", 92)},
	} {
		if got := alarmSubject(tc.state, tc.name, tc.region); got != tc.want {
			t.Errorf("alarmSubject(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	_, msg, err := alarmNotification(MetricAlarm{AlarmName: "p", ExtendedStatistic: "p99"}, StateOK, StateAlarm, "xx-test-1", "1")
	if err != nil || !strings.Contains(msg, `"StatisticType":"ExtendedStatistic","ExtendedStatistic":"p99","Unit":null`) ||
		!strings.Contains(msg, `"Region":"xx-test-1"`) || !strings.Contains(msg, `"AlarmDescription":null`) {
		t.Fatalf("extended statistic notification: %s %v", msg, err)
	}
}
