package agentcmd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cutover/cutover/internal/awsproto"
)

// FuzzOperations sends arbitrary bodies to every operation as the root
// key and as host A's key: no body may panic the service, every answer is
// a JSON object, and no failure is the server's.
func FuzzOperations(f *testing.F) {
	ops := []string{"PollHostCommand", "GetDeploymentSpecification", "PutHostCommandAcknowledgement", "PostHostCommandUpdate", "PutHostCommandComplete"}
	e := newEnv(f)
	c := cmd("d-FUZZ00001", hostA, "Install")
	e.issue(c)
	hc := e.as(keyA).pollNow(hostA)
	// Polls answer at once from here on, so a fuzzed poll never waits.
	e.svc.Close()
	seed := func(v any) []byte { b, _ := json.Marshal(v); return b }
	f.Add(uint8(0), false, seed(map[string]string{"HostIdentifier": hostA}))
	f.Add(uint8(1), true, seed(map[string]string{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": hostA}))
	f.Add(uint8(2), true, seed(ack(hc.HostCommandIdentifier, true)))
	f.Add(uint8(3), false, seed(map[string]any{"HostCommandIdentifier": hc.HostCommandIdentifier, "EstimatedCompletionTime": 1.7e9}))
	f.Add(uint8(4), true, seed(complete(hc.HostCommandIdentifier, "Failed", 4, "s.sh", "m", "l")))
	f.Add(uint8(4), false, []byte(`{"HostCommandIdentifier":"`+hc.HostCommandIdentifier+`","CommandStatus":"Succeeded","Diagnostics":{"Format":"JSON","Payload":"{\"error_code\":1e400}"}}`))
	f.Add(uint8(3), false, []byte(`{"HostCommandIdentifier":"x","EstimatedCompletionTime":1e300}`))
	f.Add(uint8(1), true, []byte(`{"DeploymentExecutionId":"cutover/%zz/hc-/spec","HostIdentifier":""}`))
	f.Fuzz(func(t *testing.T, op uint8, asRoot bool, body []byte) {
		name := ops[int(op)%len(ops)]
		p := awsproto.Principal{AccessKeyID: keyA.AccessKeyID, ARN: hostA}
		if asRoot {
			p = awsproto.Principal{AccessKeyID: rootKey.AccessKeyID, Root: true}
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req = req.WithContext(awsproto.WithPrincipal(req.Context(), p))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", TargetPrefix+"."+name)
		rec := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: answer is not a JSON object: %q", name, rec.Body.Bytes())
		}
		if rec.Code >= 500 {
			t.Fatalf("%s: status %d %s", name, rec.Code, rec.Body.Bytes())
		}
	})
}
