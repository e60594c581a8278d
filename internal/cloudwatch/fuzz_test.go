package cloudwatch

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cutover/cutover/internal/awsproto/cbor"
)

// FuzzCBOROperations sends arbitrary CBOR bodies to every operation,
// bypassing signatures: no body may panic the service or produce an answer
// that is not a CBOR map, and server errors are never the client's fault.
func FuzzCBOROperations(f *testing.F) {
	ops := []string{"PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics", "PutMetricAlarm", "DescribeAlarms",
		"DescribeAlarmHistory", "DeleteAlarms", "SetAlarmState", "EnableAlarmActions", "DisableAlarmActions"}
	seed := func(v any) []byte { return must(cbor.Marshal(v)) }
	f.Add(uint8(0), seed(map[string]any{"Namespace": "App", "MetricData": []any{map[string]any{"MetricName": "m", "Value": 1.5}}}))
	f.Add(uint8(1), seed(map[string]any{"Namespace": "App", "MetricName": "m", "StartTime": 1.0, "EndTime": 2.0e9, "Period": 60, "Statistics": []string{"Sum"}}))
	f.Add(uint8(4), seed(map[string]any{"AlarmName": "a", "Namespace": "App", "MetricName": "m", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}))
	f.Add(uint8(8), seed(map[string]any{"AlarmName": "a", "StateValue": "ALARM", "StateReason": "x", "StateReasonData": "{}"}))
	f.Add(uint8(2), []byte{0xbf, 0xff})
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		name := ops[int(op)%len(ops)]
		req := httptest.NewRequest(http.MethodPost, "/service/"+TargetPrefix+"/operation/"+name, bytes.NewReader(body))
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
		rec := httptest.NewRecorder()
		e.svc.ServeHTTP(rec, req)
		var out map[string]any
		if err := cbor.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: answer is not a CBOR map: %v", name, err)
		}
		if rec.Code >= 500 {
			t.Fatalf("%s: status %d %v", name, rec.Code, out)
		}
	})
}
