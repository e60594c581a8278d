package cloudwatch

import (
	"fmt"
	"testing"
	"time"
)

func TestPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 7 {
		e.alarm(fmt.Sprintf("a%02d", i), nil)
	}
	t.Run("DescribeAlarms", func(t *testing.T) {
		var names []string
		tok := ""
		for range 10 {
			out, err := e.svc.DescribeAlarms(e.ctx, &DescribeAlarmsInput{MaxRecords: ptr[int32](3), NextToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.MetricAlarms {
				names = append(names, a.AlarmName)
			}
			if tok = out.NextToken; tok == "" {
				break
			}
		}
		if fmt.Sprint(names) != "[a00 a01 a02 a03 a04 a05 a06]" {
			t.Errorf("pages gave %v", names)
		}
	})
	t.Run("DescribeAlarmHistory", func(t *testing.T) {
		for _, scan := range []string{"TimestampDescending", "TimestampAscending"} {
			var names []string
			tok := ""
			for range 10 {
				out, err := e.svc.DescribeAlarmHistory(e.ctx, &DescribeAlarmHistoryInput{MaxRecords: ptr[int32](2), NextToken: tok, ScanBy: scan})
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range out.AlarmHistoryItems {
					names = append(names, h.AlarmName)
				}
				if tok = out.NextToken; tok == "" {
					break
				}
			}
			want := "[a00 a01 a02 a03 a04 a05 a06]"
			if scan == "TimestampDescending" {
				want = "[a06 a05 a04 a03 a02 a01 a00]"
			}
			if fmt.Sprint(names) != want {
				t.Errorf("%s: %v", scan, names)
			}
		}
	})
	t.Run("GetMetricData", func(t *testing.T) {
		for i := range 5 {
			e.put("App", "m", float64(i), t0.Add(-time.Duration(i+1)*time.Minute))
		}
		var vals []float64
		tok := ""
		for range 10 {
			out, err := e.svc.GetMetricData(e.ctx, &GetMetricDataInput{StartTime: inTime(t0.Add(-time.Hour).Format(time.RFC3339)), EndTime: inTime(t0.Format(time.RFC3339)),
				MaxDatapoints: ptr[int32](2), NextToken: tok, MetricDataQueries: []MetricDataQuery{{Id: "q", MetricStat: &MetricStat{
					Metric: &Metric{Namespace: "App", MetricName: "m"}, Period: ptr[int32](60), Stat: "Sum"}}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.MetricDataResults {
				vals = append(vals, r.Values...)
			}
			if tok = out.NextToken; tok == "" {
				break
			}
		}
		if fmt.Sprint(vals) != "[0 1 2 3 4]" {
			t.Errorf("values over pages %v", vals)
		}
		if _, err := e.svc.GetMetricData(e.ctx, &GetMetricDataInput{StartTime: "2026-11-25T09:00:00Z", EndTime: "2026-11-25T10:00:00Z", NextToken: "bogus",
			MetricDataQueries: []MetricDataQuery{{Id: "q", MetricStat: &MetricStat{Metric: &Metric{Namespace: "App", MetricName: "m"}, Period: ptr[int32](60), Stat: "Sum"}}}}); errCode(err) != "InvalidNextToken" {
			t.Errorf("bad token: %v", err)
		}
	})
}

func TestPutMetricDataValidation(t *testing.T) {
	e := newEnv(t)
	big := make([]MetricDatum, maxMetricData+1)
	for i := range big {
		big[i] = MetricDatum{MetricName: "m", Value: ptr(1.0)}
	}
	tests := []struct {
		name string
		in   PutMetricDataInput
		code string
	}{
		{"ok", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0)}}}, ""},
		{"1000 is fine", PutMetricDataInput{Namespace: "App", MetricData: big[:maxMetricData]}, ""},
		{"1001 too many", PutMetricDataInput{Namespace: "App", MetricData: big}, "InvalidParameterValue"},
		{"no namespace", PutMetricDataInput{MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0)}}}, "MissingParameter"},
		{"no value", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m"}}}, "MissingParameter"},
		{"too small", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1e-200)}}}, "InvalidParameterValue"},
		{"too large", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1e200)}}}, "InvalidParameterValue"},
		{"bad unit", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0), Unit: "Parsecs"}}}, "InvalidParameterValue"},
		{"counts mismatch", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Values: []float64{1, 2}, Counts: []float64{1}}}}, "InvalidParameterValue"},
		{"old timestamp", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0), Timestamp: "2026-10-01T00:00:00Z"}}}, "InvalidParameterValue"},
		{"bad resolution", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0), StorageResolution: ptr[int32](5)}}}, "InvalidParameterValue"},
		{"duplicate dimension", PutMetricDataInput{Namespace: "App", MetricData: []MetricDatum{{MetricName: "m", Value: ptr(1.0), Dimensions: []Dimension{{"a", "1"}, {"a", "2"}}}}}, "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.PutMetricData(e.ctx, &tc.in)
			if got := errCode(err); got != tc.code || (tc.code == "" && err != nil) {
				t.Errorf("code %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}
