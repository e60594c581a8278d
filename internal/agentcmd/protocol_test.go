package agentcmd

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/awsproto/sigv4"
)

// TestOneCommand runs the exchange AWS's agent makes for one lifecycle
// command, under both names of the API, with the agent's own bodies.
func TestOneCommand(t *testing.T) {
	for _, tc := range []struct{ service, prefix string }{
		{SigningName, TargetPrefix},
		{SecureSigningName, SecureTargetPrefix},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			e := newEnv(t)
			a := e.as(keyA)
			a.service, a.prefix = tc.service, tc.prefix
			c := cmd("d-AB1CDEF23", hostA, "ApplicationStop")
			e.issue(c)
			if st := e.status(c); st.Status != StatusPending || !st.Started.IsZero() {
				t.Fatalf("after Issue: %+v", st)
			}

			hc := a.pollNow(hostA)
			want := wireCommand{HostCommandIdentifier: HostCommandID(c.ID), HostIdentifier: hostA, CommandName: "ApplicationStop", Nonce: 1}
			if hc.DeploymentExecutionId == "" || !executionIDPattern.MatchString(hc.DeploymentExecutionId) || len(hc.DeploymentExecutionId) > 129 {
				t.Fatalf("DeploymentExecutionId %q does not match the model", hc.DeploymentExecutionId)
			}
			want.DeploymentExecutionId = hc.DeploymentExecutionId
			if *hc != want {
				t.Fatalf("HostCommand = %+v, want %+v", *hc, want)
			}
			if st := e.status(c); st.Status != StatusPending || !st.Started.Equal(t0) {
				t.Fatalf("after poll: %+v", st)
			}

			var spec struct {
				DeploymentSystem        string
				DeploymentSpecification struct{ GenericEnvelope Envelope }
			}
			a.ok("GetDeploymentSpecification", map[string]string{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": hostA}, &spec)
			if spec.DeploymentSystem != "CodeDeploy" || spec.DeploymentSpecification.GenericEnvelope.Format != "PKCS7/JSON" ||
				!strings.HasPrefix(spec.DeploymentSpecification.GenericEnvelope.Payload, "-----BEGIN PKCS7-----\n") {
				t.Fatalf("spec = %+v", spec)
			}

			e.clk.Advance(time.Second)
			var st struct{ CommandStatus string }
			a.ok("PutHostCommandAcknowledgement", ack(hc.HostCommandIdentifier, true), &st)
			if st.CommandStatus != "InProgress" {
				t.Fatalf("ack CommandStatus = %q", st.CommandStatus)
			}
			if s := e.status(c); s.Status != StatusInProgress || !s.Acknowledged.Equal(t0.Add(time.Second)) || !s.Noop {
				t.Fatalf("after ack: %+v", s)
			}

			e.clk.Advance(time.Second)
			var upd struct{ CommandStatus string }
			a.ok("PostHostCommandUpdate", map[string]any{"HostCommandIdentifier": hc.HostCommandIdentifier, "EstimatedCompletionTime": 1700000000}, &upd)
			if upd.CommandStatus != "InProgress" {
				t.Fatalf("update CommandStatus = %q", upd.CommandStatus)
			}

			e.clk.Advance(time.Second)
			r := a.call("PutHostCommandComplete", complete(hc.HostCommandIdentifier, "Succeeded", 0, "", "Succeeded: ", ""))
			if r.status != http.StatusOK || string(r.body) != "{}" || r.header.Get("Content-Type") != "application/x-amz-json-1.1" {
				t.Fatalf("complete: HTTP %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			got := e.status(c)
			if got.Status != StatusSucceeded || got.Diagnostics.ErrorCode != "Success" || got.Diagnostics.Message != "Succeeded: " ||
				!got.Ended.Equal(t0.Add(3*time.Second)) || !got.LastUpdate.Equal(t0.Add(2*time.Second)) ||
				!got.EstimatedCompletion.Equal(time.Unix(1700000000, 0)) {
				t.Fatalf("after complete: %+v", got)
			}
			// Acknowledged, updated, completed: three changes announced.
			if n := e.noticed(); len(n) != 3 || n[0] != c.DeploymentID {
				t.Fatalf("Notify calls = %v", n)
			}
		})
	}
}

// TestErrors sends every operation what it must refuse, and checks the
// error and that nothing changed.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	c := cmd("d-ERR000001", hostA, "BeforeInstall")
	e.issue(c)
	queued := cmd("d-ERR000001", hostA, "Install")
	e.issue(queued)
	a := e.as(keyA)
	hc := a.pollNow(hostA)
	hcID := hc.HostCommandIdentifier
	before := e.status(c)
	long := strings.Repeat("x", 8193)

	for _, tc := range []struct {
		name   string
		op     string
		body   string
		status int
		typ    string
	}{
		{"poll without host", "PollHostCommand", `{}`, 400, "ClientException"},
		{"poll host too long", "PollHostCommand", `{"HostIdentifier":"` + strings.Repeat("h", 1025) + `"}`, 400, "ClientException"},
		{"poll host wrong type", "PollHostCommand", `{"HostIdentifier":5}`, 400, "SerializationException"},
		{"poll not an object", "PollHostCommand", `[]`, 400, "SerializationException"},
		{"spec without execution id", "GetDeploymentSpecification", `{"HostIdentifier":"` + hostA + `"}`, 400, "ClientException"},
		{"spec execution id off pattern", "GetDeploymentSpecification", `{"DeploymentExecutionId":"a/b","HostIdentifier":"` + hostA + `"}`, 400, "ClientException"},
		{"spec execution id too long", "GetDeploymentSpecification", `{"DeploymentExecutionId":"a/b/c/` + strings.Repeat("d", 130) + `","HostIdentifier":"` + hostA + `"}`, 400, "ClientException"},
		{"spec unknown execution", "GetDeploymentSpecification", `{"DeploymentExecutionId":"cutover/d-1/hc-00/spec","HostIdentifier":"` + hostA + `"}`, 400, "ClientException"},
		{"spec foreign execution id", "GetDeploymentSpecification", `{"DeploymentExecutionId":"a/b/c/d","HostIdentifier":"` + hostA + `"}`, 400, "ClientException"},
		{"spec without host", "GetDeploymentSpecification", `{"DeploymentExecutionId":"` + hc.DeploymentExecutionId + `"}`, 400, "ClientException"},
		{"ack without id", "PutHostCommandAcknowledgement", `{}`, 400, "ClientException"},
		{"ack unknown id", "PutHostCommandAcknowledgement", `{"HostCommandIdentifier":"hc-nope"}`, 400, "ClientException"},
		{"ack undelivered", "PutHostCommandAcknowledgement", `{"HostCommandIdentifier":"` + HostCommandID(queued.ID) + `"}`, 400, "ClientException"},
		{"ack payload too long", "PutHostCommandAcknowledgement", `{"HostCommandIdentifier":"` + hcID + `","Diagnostics":{"Format":"JSON","Payload":"` + long + `"}}`, 400, "ClientException"},
		{"ack format too long", "PutHostCommandAcknowledgement", `{"HostCommandIdentifier":"` + hcID + `","Diagnostics":{"Format":"` + strings.Repeat("f", 65) + `"}}`, 400, "ClientException"},
		{"update unknown id", "PostHostCommandUpdate", `{"HostCommandIdentifier":"hc-nope"}`, 400, "ClientException"},
		{"update time as string", "PostHostCommandUpdate", `{"HostCommandIdentifier":"` + hcID + `","EstimatedCompletionTime":"soon"}`, 400, "SerializationException"},
		{"complete without status", "PutHostCommandComplete", `{"HostCommandIdentifier":"` + hcID + `"}`, 400, "ClientException"},
		{"complete in progress", "PutHostCommandComplete", `{"HostCommandIdentifier":"` + hcID + `","CommandStatus":"InProgress"}`, 400, "ClientException"},
		{"complete unknown status", "PutHostCommandComplete", `{"HostCommandIdentifier":"` + hcID + `","CommandStatus":"Done"}`, 400, "ClientException"},
		{"complete unknown id", "PutHostCommandComplete", `{"HostCommandIdentifier":"hc-nope","CommandStatus":"Succeeded"}`, 400, "ClientException"},
		{"complete undelivered", "PutHostCommandComplete", `{"HostCommandIdentifier":"` + HostCommandID(queued.ID) + `","CommandStatus":"Failed"}`, 400, "ClientException"},
		{"complete payload too long", "PutHostCommandComplete", `{"HostCommandIdentifier":"` + hcID + `","CommandStatus":"Failed","Diagnostics":{"Format":"JSON","Payload":"` + long + `"}}`, 400, "ClientException"},
		{"unknown operation", "ListHostCommands", `{}`, 400, "UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.raw(e.ctx, tc.op, []byte(tc.body))
			if r.status != tc.status || r.errType() != tc.typ {
				t.Fatalf("HTTP %d %s, want %d %s", r.status, r.body, tc.status, tc.typ)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Fatalf("error Content-Type %q", ct)
			}
			if r.message() == "" && tc.typ == "ClientException" {
				t.Fatalf("no message in %s", r.body)
			}
		})
	}
	if after := e.status(c); after != before {
		t.Fatalf("refused requests changed the command: %+v -> %+v", before, after)
	}
	if st := e.status(queued); st.Status != StatusPending || !st.Started.IsZero() {
		t.Fatalf("refused requests changed the queued command: %+v", st)
	}
	if n := e.noticed(); len(n) != 0 {
		t.Fatalf("refused requests notified the engine: %v", n)
	}
}

// TestAuthErrors: the router's SigV4 checks answer in this protocol.
func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"HostIdentifier":"` + hostA + `"}`)
	for _, tc := range []struct {
		name   string
		c      *caller
		status int
		typ    string
	}{
		{"unsigned", &caller{e: e, prefix: TargetPrefix}, 400, "MissingAuthenticationTokenException"},
		{"unknown key", &caller{e: e, key: keyUnknown(), service: SigningName, prefix: TargetPrefix}, 400, "UnrecognizedClientException"},
		{"wrong secret", &caller{e: e, key: withSecret(keyA, "nope"), service: SigningName, prefix: TargetPrefix}, 400, "InvalidSignatureException"},
		{"other service's name", &caller{e: e, key: keyA, service: "codedeploy", prefix: TargetPrefix}, 400, "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			defer cancel()
			r := tc.c.raw(ctx, "PollHostCommand", body)
			if r.status != tc.status || r.errType() != tc.typ {
				t.Fatalf("HTTP %d %s, want %d %s", r.status, r.body, tc.status, tc.typ)
			}
		})
	}
}

func keyUnknown() (k sigv4.Credential) {
	k = keyA
	k.AccessKeyID = "AKIDUNKNOWN"
	return k
}

func withSecret(k sigv4.Credential, secret string) sigv4.Credential {
	k.SecretAccessKey = secret
	return k
}

// TestServerException: a failure of the server (here a closed store) is
// the model's ServerException with HTTP 500, which the agent retries; the
// cause stays in the log.
func TestServerException(t *testing.T) {
	e := newEnv(t)
	e.db.Close()
	for _, op := range []string{"PollHostCommand", "PutHostCommandComplete"} {
		r := e.as(rootKey).call(op, map[string]string{"HostIdentifier": hostA, "HostCommandIdentifier": "hc-1", "CommandStatus": "Failed"})
		if r.status != http.StatusInternalServerError || r.errType() != "ServerException" || strings.Contains(r.message(), "closed") {
			t.Fatalf("%s: HTTP %d %s", op, r.status, r.body)
		}
	}
}
