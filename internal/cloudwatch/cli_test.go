package cloudwatch

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awscli"
)

// TestAWSCLI drives the service with the AWS CLIs on the machine, over a
// real http.Server: pip's aws-cli v1 (botocore 1.43, which picks RPC v2
// CBOR for CloudWatch) and Debian's aws-cli 2.9 (whose model says Query).
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the AWS CLI")
	}
	for name, bin := range awscli.Installed() {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			protos := map[string]bool{}
			spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := "query"
				switch {
				case r.Header.Get("Smithy-Protocol") != "":
					p = "cbor"
				case r.Header.Get("X-Amz-Target") != "":
					p = "json"
				}
				mu.Lock()
				protos[p] = true
				mu.Unlock()
				e.srv.Config.Handler.ServeHTTP(w, r)
			})
			hs := &http.Server{Handler: spy, ReadHeaderTimeout: 10 * time.Second}
			go hs.Serve(ln)
			t.Cleanup(func() { hs.Close() })
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := awscli.CLI{Bin: bin, Endpoint: "http://" + ln.Addr().String(), Region: testRegion, AccessKeyID: testKeyID, SecretAccessKey: testSecret}.Run(ctx, append([]string{"cloudwatch"}, args...)...)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return out
			}
			ts := t0.Add(-30 * time.Second).Format(time.RFC3339)
			run("put-metric-data", "--namespace", "App", "--metric-name", "Errors", "--value", "7", "--unit", "Count",
				"--timestamp", ts, "--dimensions", "Service=web")
			var st struct {
				Datapoints []struct {
					Sum       float64
					Timestamp any
				}
			}
			out := run("get-metric-statistics", "--namespace", "App", "--metric-name", "Errors", "--dimensions", "Name=Service,Value=web",
				"--start-time", t0.Add(-time.Hour).Format(time.RFC3339), "--end-time", t0.Format(time.RFC3339), "--period", "60", "--statistics", "Sum")
			if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Datapoints) != 1 || st.Datapoints[0].Sum != 7 || !isTime(st.Datapoints[0].Timestamp, t0.Add(-time.Minute)) {
				t.Fatalf("get-metric-statistics: %s %v", out, err)
			}
			if out := run("list-metrics", "--namespace", "App"); !strings.Contains(out, `"Errors"`) {
				t.Fatalf("list-metrics: %s", out)
			}
			run("put-metric-alarm", "--alarm-name", "cli", "--namespace", "App", "--metric-name", "Errors", "--statistic", "Sum",
				"--dimensions", "Name=Service,Value=web", "--period", "60", "--evaluation-periods", "1", "--threshold", "5",
				"--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching",
				"--alarm-actions", "arn:aws:sns:us-east-1:123456789012:ops")
			e.advance(0)
			var da struct {
				MetricAlarms []struct {
					AlarmName, StateValue, StateReason, AlarmArn string
					StateUpdatedTimestamp                        any
					Dimensions                                   []struct{ Name, Value string }
				}
			}
			out = run("describe-alarms", "--alarm-names", "cli")
			if err := json.Unmarshal([]byte(out), &da); err != nil || len(da.MetricAlarms) != 1 || da.MetricAlarms[0].StateValue != "ALARM" ||
				da.MetricAlarms[0].Dimensions[0].Value != "web" || !isT0(da.MetricAlarms[0].StateUpdatedTimestamp) {
				t.Fatalf("describe-alarms: %s %v", out, err)
			}
			run("set-alarm-state", "--alarm-name", "cli", "--state-value", "OK", "--state-reason", "manual")
			if out := run("describe-alarm-history", "--alarm-name", "cli", "--history-item-type", "StateUpdate"); !strings.Contains(out, "Alarm updated from ALARM to OK") {
				t.Fatalf("describe-alarm-history: %s", out)
			}
			run("disable-alarm-actions", "--alarm-names", "cli")
			run("enable-alarm-actions", "--alarm-names", "cli")
			run("delete-alarms", "--alarm-names", "cli")
			if out := run("describe-alarms"); strings.Contains(out, `"cli"`) {
				t.Fatalf("alarm left after delete: %s", out)
			}
			t.Logf("%s spoke %v", name, protos)
		})
	}
}

// isTime accepts a timestamp as each CLI prints it: aws-cli v1 prints what
// was on the wire (epoch seconds from CBOR), v2 prints ISO 8601.
func isTime(v any, want time.Time) bool {
	switch x := v.(type) {
	case float64:
		return int64(x) == want.Unix()
	case string:
		tm, err := time.Parse(time.RFC3339, x)
		return err == nil && tm.Equal(want)
	}
	return false
}

func isT0(v any) bool { return isTime(v, t0) }
