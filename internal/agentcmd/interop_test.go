package agentcmd

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cutover/cutover/internal/agent/protocol"
	"github.com/cutover/cutover/internal/agent/spec"
)

// TestCutoverAgentClient drives the service with `cutover agent`'s own
// protocol client and specification reader: a failed command reported
// twice, then the next one, with the spec verified against the service's
// certificate as a pinned root.
func TestCutoverAgentClient(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	cl := protocol.NewClient(e.srv.URL, testRegion, "1.8.1",
		aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(keyA.AccessKeyID, keyA.SecretAccessKey, "")),
		&http.Client{Timeout: 80 * time.Second})

	c1, c2 := cmd("d-AGENT0001", hostA, "AfterInstall"), cmd("d-AGENT0001", hostA, "ApplicationStart")
	e.issue(c1)
	e.issue(c2)
	hc, err := cl.PollHostCommand(ctx, hostA)
	if err != nil || hc == nil || hc.CommandName != "AfterInstall" || hc.HostIdentifier != hostA {
		t.Fatalf("poll: %+v %v", hc, err)
	}
	ds, err := cl.GetDeploymentSpecification(ctx, hc.DeploymentExecutionID, hostA)
	if err != nil || ds.DeploymentSystem != spec.DeploymentSystem || ds.DeploymentSpecification == nil || ds.DeploymentSpecification.GenericEnvelope == nil {
		t.Fatalf("spec: %+v %v", ds, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.svc.Certificate())
	env := ds.DeploymentSpecification.GenericEnvelope
	data, err := spec.Open(env.Format, env.Payload, roots)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := c1.Spec
	if sp.DeploymentID != want.DeploymentID || sp.DeploymentGroupID != want.DeploymentGroupID || sp.ApplicationName != want.ApplicationName ||
		sp.FileExistsBehavior != "OVERWRITE" || sp.Revision.Type != RevisionS3 || sp.Revision.S3 == nil ||
		sp.Revision.S3.Key != want.Revision.S3Revision.Key || sp.Revision.S3.ETag != want.Revision.S3Revision.ETag || len(sp.AllPossibleLifecycleEvents) != 0 {
		t.Fatalf("agent read %+v", sp)
	}

	st, err := cl.PutHostCommandAcknowledgement(ctx, hc.HostCommandIdentifier, false)
	if err != nil || st != protocol.StatusInProgress {
		t.Fatalf("ack: %q %v", st, err)
	}
	if st, err := cl.PostHostCommandUpdate(ctx, hc.HostCommandIdentifier, t0.Add(time.Minute)); err != nil || st != protocol.StatusInProgress {
		t.Fatalf("update: %q %v", st, err)
	}
	first := protocol.Diagnostics{ErrorCode: 4, ScriptName: "scripts/fail.sh", Message: "exit 3", Log: "[stderr]no\n"}
	if err := cl.PutHostCommandComplete(ctx, hc.HostCommandIdentifier, protocol.StatusFailed, first); err != nil {
		t.Fatal(err)
	}
	if err := cl.PutHostCommandComplete(ctx, hc.HostCommandIdentifier, protocol.StatusFailed, protocol.Diagnostics{ErrorCode: 5, Message: "exit 3"}); err != nil {
		t.Fatal(err)
	}
	if got := e.status(c1); got.Status != StatusFailed || got.Diagnostics != (Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/fail.sh", Message: "exit 3", LogTail: "[stderr]no\n"}) {
		t.Fatalf("status %+v", got)
	}
	if hc, err := cl.PollHostCommand(ctx, hostA); err != nil || hc == nil || hc.CommandName != "ApplicationStart" {
		t.Fatalf("second poll: %+v %v", hc, err)
	}
	// Another host's identity is refused with the model's error.
	_, err = cl.PollHostCommand(ctx, hostB)
	var apiErr *protocol.APIError
	if !errors.As(err, &apiErr) || apiErr.Type != "ClientException" || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("polling as B: %v", err)
	}
}
