package agentcmd

import (
	"net/http"
	"strings"
	"testing"
)

// TestIdentityIsolation: a host's key acts only as that host and only on
// its own commands; refused requests change nothing; the root key acts
// for anyone.
func TestIdentityIsolation(t *testing.T) {
	e := newEnv(t)
	c := cmd("d-ISO000001", hostA, "BeforeInstall")
	e.issue(c)
	a, b, root, nobody := e.as(keyA), e.as(keyB), e.as(rootKey), e.as(keyUnbound)
	hc := a.pollNow(hostA)
	hcID := hc.HostCommandIdentifier
	specAsA := map[string]string{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": hostA}
	specAsB := map[string]string{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": hostB}

	for _, tc := range []struct {
		name string
		c    *caller
		op   string
		in   any
	}{
		{"B polls as A", b, "PollHostCommand", map[string]string{"HostIdentifier": hostA}},
		{"unbound key polls", nobody, "PollHostCommand", map[string]string{"HostIdentifier": hostA}},
		{"B reads A's spec as A", b, "GetDeploymentSpecification", specAsA},
		{"B acknowledges A's command", b, "PutHostCommandAcknowledgement", ack(hcID, false)},
		{"B updates A's command", b, "PostHostCommandUpdate", map[string]any{"HostCommandIdentifier": hcID}},
		{"B completes A's command", b, "PutHostCommandComplete", complete(hcID, "Failed", 4, "x.sh", "forged", "")},
		{"unbound key completes", nobody, "PutHostCommandComplete", complete(hcID, "Succeeded", 0, "", "", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.fail(tc.op, tc.in, http.StatusBadRequest, "ClientException")
			if !strings.HasPrefix(r.message(), "AccessDeniedException") {
				t.Fatalf("message %q does not say access denied", r.message())
			}
		})
	}
	// B asking about A's execution as itself learns nothing either.
	b.fail("GetDeploymentSpecification", specAsB, http.StatusBadRequest, "ClientException")

	if st := e.status(c); st.Status != StatusPending || !st.Acknowledged.IsZero() || len(e.noticed()) != 0 {
		t.Fatalf("refused requests changed the command: %+v, notices %v", st, e.noticed())
	}

	// B polling as itself gets none of A's work.
	e.issue(cmd("d-ISO000001", hostA, "Install"))
	var out map[string]any
	done := b.pollAsync(hostB)
	e.waitPolling(1)
	e.clk.Advance(e.cfg.LongPoll)
	if got := recv(t, done, "B's poll"); got != nil {
		t.Fatalf("B got %+v", got)
	}

	// Root may act for A.
	root.ok("GetDeploymentSpecification", specAsA, &out)
	root.ok("PutHostCommandAcknowledgement", ack(hcID, false), &out)
	root.ok("PutHostCommandComplete", complete(hcID, "Succeeded", 0, "", "Succeeded: ", ""), nil)
	if st := e.status(c); st.Status != StatusSucceeded {
		t.Fatalf("after root's complete: %+v", st)
	}
	if next := root.pollNow(hostA); next.CommandName != "Install" || next.HostIdentifier != hostA {
		t.Fatalf("root polling for A got %+v", next)
	}
}
