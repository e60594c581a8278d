package agentcmd

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"
)

// fetchSpec runs the agent's GetDeploymentSpecification for the host's
// next command and returns the envelope's payload.
func fetchSpec(t *testing.T, e *env, c Command) string {
	t.Helper()
	e.issue(c)
	hc := e.as(keyA).pollNow(c.HostIdentifier)
	var out struct {
		DeploymentSystem        string
		DeploymentSpecification struct{ GenericEnvelope Envelope }
	}
	e.as(keyA).ok("GetDeploymentSpecification", map[string]string{"DeploymentExecutionId": hc.DeploymentExecutionId, "HostIdentifier": c.HostIdentifier}, &out)
	if out.DeploymentSystem != "CodeDeploy" || out.DeploymentSpecification.GenericEnvelope.Format != "PKCS7/JSON" {
		t.Fatalf("spec reply %+v", out)
	}
	return out.DeploymentSpecification.GenericEnvelope.Payload
}

// TestSpecEnvelopeOpenSSL: the payload is a PEM PKCS#7 SignedData that
// OpenSSL parses and verifies (without a chain, as the agent does), and
// its content is the spec JSON the agent reads.
func TestSpecEnvelopeOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	e := newEnv(t)
	c := cmd("d-SPEC00001", hostA, "DownloadBundle")
	payload := fetchSpec(t, e, c)
	path := filepath.Join(t.TempDir(), "spec.pem")
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(c.Spec)
	for _, args := range [][]string{
		{"smime", "-verify", "-inform", "PEM", "-noverify", "-in", path},
		{"cms", "-verify", "-inform", "PEM", "-noverify", "-in", path},
	} {
		cmd := exec.Command("openssl", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		if !bytes.Equal(out, wantJSON) {
			t.Fatalf("openssl %s content:\n%s\nwant\n%s", args[0], out, wantJSON)
		}
		if !strings.Contains(stderr.String(), "Verification successful") {
			t.Fatalf("openssl %s: %s", args[0], stderr.String())
		}
	}
}

// TestSpecJSON: the spec carries exactly the members the agent reads, with
// its spelling, and never AllPossibleLifecycleEvents.
func TestSpecJSON(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"S3", s3Spec("d-SPEC00002"),
			`{"ApplicationName":"app","DeploymentId":"d-SPEC00002","DeploymentGroupName":"group","DeploymentGroupId":"8a2b0c1d-0000-4000-8000-000000000001",` +
				`"Revision":{"RevisionType":"S3","S3Revision":{"Bucket":"bundles","Key":"app/rev1.tgz","BundleType":"tgz","ETag":"abc123"}},` +
				`"DeploymentCreator":"user","DeploymentType":"IN_PLACE","AppSpecFilename":"appspec.yml",` +
				`"AgentActionOverrides":{"AgentOverrides":{"FileExistsBehavior":"OVERWRITE"}}}`},
		{"local directory, defaults omitted", Spec{ApplicationName: "a", DeploymentID: "d-SPEC00003", DeploymentGroupName: "g", DeploymentGroupID: "gid",
			Revision: Revision{RevisionType: RevisionLocalDirectory, LocalRevision: &LocalRevision{Location: "/srv/bundle", BundleType: "directory"}}},
			`{"ApplicationName":"a","DeploymentId":"d-SPEC00003","DeploymentGroupName":"g","DeploymentGroupId":"gid",` +
				`"Revision":{"RevisionType":"Local Directory","LocalRevision":{"Location":"/srv/bundle","BundleType":"directory"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cmd(tc.spec.DeploymentID, hostA, "Install")
			c.Spec = tc.spec
			payload := fetchSpec(t, e, c)
			blk, _ := pem.Decode([]byte(payload))
			if blk == nil || blk.Type != "PKCS7" {
				t.Fatalf("payload is not PEM PKCS7: %q", payload)
			}
			p7, err := pkcs7.Parse(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := p7.Verify(); err != nil {
				t.Fatalf("signature: %v", err)
			}
			if !reflect.DeepEqual(p7.Certificates[0].Raw, e.svc.Certificate().Raw) {
				t.Fatal("signed with another certificate")
			}
			if string(p7.Content) != tc.want {
				t.Fatalf("spec JSON\n%s\nwant\n%s", p7.Content, tc.want)
			}
			if strings.Contains(string(p7.Content), "AllPossibleLifecycleEvents") {
				t.Fatal("AllPossibleLifecycleEvents sent")
			}
			// Finish the command so the next case is delivered.
			hcID := HostCommandID(c.ID)
			e.as(keyA).ok("PutHostCommandAcknowledgement", ack(hcID, false), nil)
			e.as(keyA).ok("PutHostCommandComplete", complete(hcID, "Succeeded", 0, "", "", ""), nil)
		})
	}
}

// TestSignerFile: the key is created 0600 and reused.
func TestSignerFile(t *testing.T) {
	e := newEnv(t)
	fi, err := os.Stat(filepath.Join(e.dir, SignerFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	again, err := loadSigner(e.dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.cert.Raw, e.svc.Certificate().Raw) {
		t.Fatal("a second load made a new key")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, SignerFile), []byte("not pem"), 0o600)
	if _, err := loadSigner(bad, t0); err == nil {
		t.Fatal("a broken key file was accepted")
	}
}

func TestExecutionID(t *testing.T) {
	for _, dep := range []string{"d-AB1CDEF23", "arn:aws:codedeploy:us-east-1:123456789012:deployment/d-AB1CDEF23", strings.Repeat("x", 200)} {
		c := &command{DeploymentID: dep, HostCommandID: HostCommandID(dep)}
		id := executionID(c)
		if len(id) > maxExecutionID || !executionIDPattern.MatchString(id) {
			t.Errorf("%q: %q breaks the model's pattern", dep, id)
		}
		if got := commandFromExecutionID(id); got != c.HostCommandID {
			t.Errorf("%q: parsed %q, want %q", id, got, c.HostCommandID)
		}
	}
	for _, id := range []string{"a/b/c/d", "cutover/d/x/spec", "cutover/d/hc-1/spec/extra"} {
		if got := commandFromExecutionID(id); got != "" {
			t.Errorf("%q parsed as %q", id, got)
		}
	}
}
