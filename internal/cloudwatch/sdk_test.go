package cloudwatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

// TestSDK drives every operation with the current Go SDK, which speaks
// RPC v2 CBOR, through the real router and SigV4 verifier.
func TestSDK(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := e.ctx
	now := e.clk.Now()
	dims := []types.Dimension{{Name: aws.String("Service"), Value: aws.String("web")}}

	_, err := c.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Latency"), Dimensions: dims, Value: aws.Float64(5), Timestamp: aws.Time(now.Add(-90 * time.Second)), Unit: types.StandardUnitMilliseconds},
		{MetricName: aws.String("Latency"), Dimensions: dims, Values: []float64{1, 2, 3}, Counts: []float64{1, 1, 2}, Timestamp: aws.Time(now.Add(-90 * time.Second)), Unit: types.StandardUnitMilliseconds},
		{MetricName: aws.String("Latency"), Dimensions: dims, StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(2), Sum: aws.Float64(20), Minimum: aws.Float64(8), Maximum: aws.Float64(12)}, Timestamp: aws.Time(now.Add(-30 * time.Second)), Unit: types.StandardUnitMilliseconds},
	}})
	if err != nil {
		t.Fatal(err)
	}

	st, err := c.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: dims,
		StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)), Period: aws.Int32(60),
		Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount, types.StatisticMaximum, types.StatisticAverage}, ExtendedStatistics: []string{"p50"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Datapoints) != 2 {
		t.Fatalf("datapoints %+v", st.Datapoints)
	}
	first := st.Datapoints[0]
	if *first.Sum != 14 || *first.SampleCount != 5 || *first.Maximum != 5 || !first.Timestamp.Equal(now.Add(-2*time.Minute)) || first.ExtendedStatistics["p50"] != 3 {
		t.Errorf("first datapoint %+v %v", first, first.ExtendedStatistics)
	}
	if *st.Datapoints[1].Average != 10 || st.Datapoints[1].Unit != types.StandardUnitMilliseconds {
		t.Errorf("second datapoint %+v", st.Datapoints[1])
	}

	md, err := c.GetMetricData(ctx, &cw.GetMetricDataInput{StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("m1"), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: dims}, Period: aws.Int32(60), Stat: aws.String("Sum")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := md.MetricDataResults[0]; len(r.Values) != 2 || r.Values[0] != 20 || r.StatusCode != types.StatusCodeComplete || !r.Timestamps[0].Equal(now.Add(-time.Minute)) {
		t.Errorf("GetMetricData %+v", md.MetricDataResults)
	}
	_, err = c.GetMetricData(ctx, &cw.GetMetricDataInput{StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("e1"), Expression: aws.String("SUM(METRICS())")}}})
	wantCode(t, err, "InvalidParameterValue")

	lm, err := c.ListMetrics(ctx, &cw.ListMetricsInput{Namespace: aws.String("App"), Dimensions: []types.DimensionFilter{{Name: aws.String("Service")}}})
	if err != nil || len(lm.Metrics) != 1 || *lm.Metrics[0].MetricName != "Latency" {
		t.Fatalf("ListMetrics %+v %v", lm, err)
	}

	_, err = c.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{AlarmName: aws.String("high-latency"), Namespace: aws.String("App"), MetricName: aws.String("Latency"),
		Dimensions: dims, Statistic: types.StatisticMaximum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, AlarmActions: []string{"arn:aws:sns:us-east-1:123456789012:ops"},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}}})
	if err != nil {
		t.Fatal(err)
	}
	da, err := c.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{AlarmNamePrefix: aws.String("high")})
	if err != nil || len(da.MetricAlarms) != 1 {
		t.Fatalf("DescribeAlarms %+v %v", da, err)
	}
	a := da.MetricAlarms[0]
	if a.StateValue != types.StateValueInsufficientData || *a.AlarmArn != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:high-latency" ||
		a.ComparisonOperator != types.ComparisonOperatorGreaterThanThreshold || !*a.ActionsEnabled || a.AlarmConfigurationUpdatedTimestamp == nil || a.TreatMissingData == nil || *a.TreatMissingData != "missing" {
		t.Errorf("alarm %+v", a)
	}

	e.advance(0) // evaluates [09:59, 10:00): Maximum 12 > 1
	da, _ = c.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{AlarmNames: []string{"high-latency"}, StateValue: types.StateValueAlarm})
	if len(da.MetricAlarms) != 1 || !strings.HasPrefix(*da.MetricAlarms[0].StateReason, "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (25/11/26 09:59:00)] was greater than the threshold (1.0)") {
		t.Fatalf("after evaluation %+v", da.MetricAlarms)
	}

	_, err = c.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("high-latency"), StateValue: types.StateValueOk, StateReason: aws.String("testing")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("nope"), StateValue: types.StateValueOk, StateReason: aws.String("x")})
	wantCode(t, err, "ResourceNotFound")
	var rnf *types.ResourceNotFound
	if !errors.As(err, &rnf) {
		t.Errorf("SetAlarmState on unknown alarm: %T, want *types.ResourceNotFound", err)
	}
	_, err = c.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("high-latency"), StateValue: types.StateValueOk, StateReason: aws.String("x"), StateReasonData: aws.String("{bad")})
	wantCode(t, err, "InvalidFormat")

	h, err := c.DescribeAlarmHistory(ctx, &cw.DescribeAlarmHistoryInput{AlarmName: aws.String("high-latency"), HistoryItemType: types.HistoryItemTypeStateUpdate})
	if err != nil || len(h.AlarmHistoryItems) != 2 || *h.AlarmHistoryItems[0].HistorySummary != "Alarm updated from ALARM to OK" {
		t.Fatalf("history %+v %v", h, err)
	}
	if _, err := c.DisableAlarmActions(ctx, &cw.DisableAlarmActionsInput{AlarmNames: []string{"high-latency"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnableAlarmActions(ctx, &cw.EnableAlarmActionsInput{AlarmNames: []string{"high-latency"}}); err != nil {
		t.Fatal(err)
	}

	// Validation errors come back with the model's codes.
	_, err = c.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1)}}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{AlarmName: aws.String("a"), Namespace: aws.String("App"), MetricName: aws.String("m"),
		Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold})
	wantCode(t, err, "InvalidParameterCombination")

	if _, err := c.DeleteAlarms(ctx, &cw.DeleteAlarmsInput{AlarmNames: []string{"high-latency"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.svc.AlarmState(ctx, "high-latency"); ok {
		t.Error("alarm still exists after DeleteAlarms")
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Errorf("error code %q (%v), want %q", ae.ErrorCode(), err, code)
	}
}
