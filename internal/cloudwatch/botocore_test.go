package cloudwatch

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// botocoreScript makes botocore prefer RPC v2 CBOR (botocore 1.43 ranks
// JSON first, so the CLI speaks JSON 1.0) and drives a few operations, so
// botocore's own CBOR serializer and parser meet this server too.
const botocoreScript = `
import sys, datetime, botocore.session, botocore.model as m
m.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ('smithy-rpc-v2-cbor',) + tuple(p for p in m.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS if p != 'smithy-rpc-v2-cbor')
s = botocore.session.get_session()
c = s.create_client('cloudwatch', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
t0 = datetime.datetime(2026, 11, 25, 10, 0, 0, tzinfo=datetime.timezone.utc)
c.put_metric_data(Namespace='App', MetricData=[{'MetricName': 'Hits', 'Value': 2.5, 'Timestamp': t0 - datetime.timedelta(seconds=30), 'Dimensions': [{'Name': 'Host', 'Value': 'a'}]}])
r = c.get_metric_statistics(Namespace='App', MetricName='Hits', Dimensions=[{'Name': 'Host', 'Value': 'a'}], StartTime=t0 - datetime.timedelta(hours=1), EndTime=t0, Period=60, Statistics=['Sum'])
dp = r['Datapoints'][0]
assert dp['Sum'] == 2.5, r
assert dp['Timestamp'] == t0 - datetime.timedelta(minutes=1), dp['Timestamp']
c.put_metric_alarm(AlarmName='b', Namespace='App', MetricName='Hits', Statistic='Sum', Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator='GreaterThanThreshold')
a = c.describe_alarms(AlarmNames=['b'])['MetricAlarms'][0]
assert a['StateValue'] == 'INSUFFICIENT_DATA' and a['Threshold'] == 1.0, a
try:
    c.set_alarm_state(AlarmName='nope', StateValue='OK', StateReason='x')
    raise SystemExit('no error')
except c.exceptions.ResourceNotFound as e:
    print('error code', e.response['Error']['Code'])
print('protocol', c.meta.service_model.protocol)
`

func TestBotocoreCBOR(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs Python")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	if exec.Command(py, "-c", "import botocore").Run() != nil {
		t.Skip("no botocore")
	}
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	cborSeen := 0
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" {
			mu.Lock()
			cborSeen++
			mu.Unlock()
		}
		e.srv.Config.Handler.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", botocoreScript, "http://"+ln.Addr().String(), testKeyID, testSecret)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("botocore: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "protocol smithy-rpc-v2-cbor") || !strings.Contains(out.String(), "error code ResourceNotFound") || cborSeen < 5 {
		t.Fatalf("botocore output %s, %d CBOR requests", out.String(), cborSeen)
	}
}
