package cloudwatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cutover/cutover/internal/awsproto/cbor"
)

// do signs a raw request the way any client would and returns the answer.
func (e *env) do(method, path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	if err := v4.NewSigner().SignHTTP(e.ctx, aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}, req, h, SigningName, testRegion, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *env) json10(op string, body string) (*http.Response, map[string]any) {
	e.t.Helper()
	resp, b := e.do("POST", "/", map[string]string{"X-Amz-Target": TargetPrefix + "." + op, "Content-Type": "application/x-amz-json-1.0"}, []byte(body))
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s: not JSON: %s", op, b)
	}
	return resp, out
}

func TestJSON10(t *testing.T) {
	e := newEnv(t)
	ts := t0.Add(-30 * time.Second).Unix()
	resp, out := e.json10("PutMetricData", `{"Namespace":"App","MetricData":[{"MetricName":"Hits","Value":3,"Timestamp":`+itoa(ts)+`,"Dimensions":[{"Name":"Host","Value":"a"}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PutMetricData %d %v", resp.StatusCode, out)
	}
	resp, out = e.json10("GetMetricStatistics", `{"Namespace":"App","MetricName":"Hits","Dimensions":[{"Name":"Host","Value":"a"}],"StartTime":`+itoa(ts-60)+`,"EndTime":`+itoa(ts+60)+`,"Period":60,"Statistics":["Sum"]}`)
	dps, _ := out["Datapoints"].([]any)
	if resp.StatusCode != 200 || len(dps) != 1 || dps[0].(map[string]any)["Sum"] != 3.0 || dps[0].(map[string]any)["Timestamp"] != float64(t0.Add(-time.Minute).Unix()) {
		t.Fatalf("GetMetricStatistics %d %v", resp.StatusCode, out)
	}
	resp, out = e.json10("DescribeAlarms", `{}`)
	if resp.StatusCode != 200 || out["MetricAlarms"] == nil {
		t.Fatalf("DescribeAlarms %v", out)
	}
	tests := []struct {
		op, body, typ, queryErr string
		status                  int
	}{
		{"SetAlarmState", `{"AlarmName":"none","StateValue":"OK","StateReason":"x"}`, "ResourceNotFound", "ResourceNotFound;Sender", 404},
		{"PutMetricData", `{"Namespace":"App"}`, "MissingRequiredParameterException", "MissingParameter;Sender", 400},
		{"PutMetricData", `{"Namespace":"App","MetricData":[{"MetricName":"x","Value":1,"Values":[1]}]}`, "InvalidParameterCombinationException", "InvalidParameterCombination;Sender", 400},
		{"PutMetricAlarm", `{"AlarmName":"a","Namespace":"n","MetricName":"m","Statistic":"Sum","Period":60,"EvaluationPeriods":1,"Threshold":1,"ComparisonOperator":"GreaterThanUpperThreshold"}`, "InvalidParameterValueException", "InvalidParameterValue;Sender", 400},
		{"DescribeAlarms", `{"NextToken":"garbage"}`, "InvalidNextToken", "InvalidNextToken;Sender", 400},
		{"Nope", `{}`, "UnknownOperationException", "", 400},
	}
	for _, tc := range tests {
		resp, out := e.json10(tc.op, tc.body)
		if resp.StatusCode != tc.status || out["__type"] != tc.typ || resp.Header.Get("x-amzn-query-error") != tc.queryErr {
			t.Errorf("%s %s: %d %v %q", tc.op, tc.body, resp.StatusCode, out, resp.Header.Get("x-amzn-query-error"))
		}
	}
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (e *env) query(form url.Values) (*http.Response, []byte) {
	e.t.Helper()
	form.Set("Version", APIVersion)
	return e.do("POST", "/", map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, []byte(form.Encode()))
}

func TestQuery(t *testing.T) {
	e := newEnv(t)
	resp, b := e.query(url.Values{"Action": {"PutMetricData"}, "Namespace": {"App"},
		"MetricData.member.1.MetricName": {"Hits"}, "MetricData.member.1.Value": {"4"}, "MetricData.member.1.Unit": {"Count"},
		"MetricData.member.1.Timestamp":                {t0.Add(-30 * time.Second).Format(time.RFC3339)},
		"MetricData.member.1.Dimensions.member.1.Name": {"Host"}, "MetricData.member.1.Dimensions.member.1.Value": {"a"},
		"MetricData.member.2.MetricName": {"Hits"}, "MetricData.member.2.Values.member.1": {"1"}, "MetricData.member.2.Values.member.2": {"2"},
		"MetricData.member.2.Timestamp":                {t0.Add(-30 * time.Second).Format(time.RFC3339)},
		"MetricData.member.2.Dimensions.member.1.Name": {"Host"}, "MetricData.member.2.Dimensions.member.1.Value": {"a"},
	})
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<PutMetricDataResponse xmlns=\""+XMLNamespace+"\">") {
		t.Fatalf("PutMetricData %d %s", resp.StatusCode, b)
	}
	resp, b = e.query(url.Values{"Action": {"GetMetricStatistics"}, "Namespace": {"App"}, "MetricName": {"Hits"},
		"Dimensions.member.1.Name": {"Host"}, "Dimensions.member.1.Value": {"a"}, "StartTime": {t0.Add(-time.Hour).Format(time.RFC3339)},
		"EndTime": {t0.Format(time.RFC3339)}, "Period": {"60"}, "Statistics.member.1": {"Sum"}, "Statistics.member.2": {"Maximum"}, "ExtendedStatistics.member.1": {"p50"}})
	var gms struct {
		Result struct {
			Label      string `xml:"Label"`
			Datapoints []struct {
				Timestamp string  `xml:"Timestamp"`
				Sum       float64 `xml:"Sum"`
				Maximum   float64 `xml:"Maximum"`
				Extended  []struct {
					Key   string  `xml:"key"`
					Value float64 `xml:"value"`
				} `xml:"ExtendedStatistics>entry"`
			} `xml:"Datapoints>member"`
		} `xml:"GetMetricStatisticsResult"`
	}
	if err := xml.Unmarshal(b, &gms); err != nil || resp.StatusCode != 200 || len(gms.Result.Datapoints) != 1 {
		t.Fatalf("GetMetricStatistics %d %s %v", resp.StatusCode, b, err)
	}
	if dp := gms.Result.Datapoints[0]; dp.Sum != 7 || dp.Maximum != 4 || dp.Timestamp != "2026-11-25T09:59:00.000Z" || len(dp.Extended) != 1 || dp.Extended[0].Key != "p50" {
		t.Errorf("datapoint %+v", dp)
	}
	resp, b = e.query(url.Values{"Action": {"PutMetricAlarm"}, "AlarmName": {"q"}, "Namespace": {"App"}, "MetricName": {"Hits"}, "Statistic": {"Sum"},
		"Dimensions.member.1.Name": {"Host"}, "Dimensions.member.1.Value": {"a"}, "Period": {"60"}, "EvaluationPeriods": {"1"}, "Threshold": {"5"},
		"ComparisonOperator": {"GreaterThanOrEqualToThreshold"}, "AlarmActions.member.1": {"arn:aws:sns:us-east-1:123456789012:t"}})
	if resp.StatusCode != 200 {
		t.Fatalf("PutMetricAlarm %d %s", resp.StatusCode, b)
	}
	e.advance(0)
	resp, b = e.query(url.Values{"Action": {"DescribeAlarms"}, "AlarmNames.member.1": {"q"}})
	for _, want := range []string{"<StateValue>ALARM</StateValue>", "<AlarmArn>arn:aws:cloudwatch:us-east-1:123456789012:alarm:q</AlarmArn>",
		"<AlarmActions><member>arn:aws:sns:us-east-1:123456789012:t</member></AlarmActions>", "<Dimensions><member><Name>Host</Name><Value>a</Value></member></Dimensions>",
		"<StateUpdatedTimestamp>2026-11-25T10:00:00.000Z</StateUpdatedTimestamp>", "<ActionsEnabled>true</ActionsEnabled>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("DescribeAlarms lacks %s:\n%s", want, b)
		}
	}
	// Unknown names are skipped; the known one is still deleted.
	resp, b = e.query(url.Values{"Action": {"DeleteAlarms"}, "AlarmNames.member.1": {"nope"}, "AlarmNames.member.2": {"q"}})
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<DeleteAlarmsResponse") {
		t.Errorf("DeleteAlarms with an unknown name: %d %s", resp.StatusCode, b)
	}
	if _, ok, _ := e.svc.AlarmState(e.ctx, "q"); ok {
		t.Error("known alarm not deleted beside an unknown one")
	}
	resp, b = e.query(url.Values{"Action": {"GetMetricStatistics"}, "Namespace": {"App"}, "MetricName": {"Hits"}, "StartTime": {"yesterday"},
		"EndTime": {t0.Format(time.RFC3339)}, "Period": {"60"}, "Statistics.member.1": {"Sum"}})
	if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>InvalidParameterValue</Code>") {
		t.Errorf("bad time: %d %s", resp.StatusCode, b)
	}
}

// TestCBORRaw checks the wire details the SDK test cannot see.
func TestCBORRaw(t *testing.T) {
	e := newEnv(t)
	hdr := map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"}
	body := must(cbor.Marshal(map[string]any{"AlarmName": "none", "StateValue": "OK", "StateReason": "x"}))
	resp, b := e.do("POST", "/service/"+TargetPrefix+"/operation/SetAlarmState", hdr, body)
	var out map[string]any
	if err := cbor.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || out["__type"] != "ResourceNotFound" || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("x-amzn-query-error") != "ResourceNotFound;Sender" {
		t.Errorf("error answer %d %v %v", resp.StatusCode, out, resp.Header)
	}
	// An unsigned CBOR request is refused in CBOR.
	req, _ := http.NewRequest("POST", e.srv.URL+"/service/"+TargetPrefix+"/operation/DescribeAlarms", bytes.NewReader([]byte{0xa0}))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r2.Body)
	r2.Body.Close()
	out = nil
	if err := cbor.Unmarshal(b, &out); err != nil || out["__type"] != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: %d %x %v", r2.StatusCode, b, err)
	}
}
