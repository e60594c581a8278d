package spec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

func sign(t *testing.T, data []byte) (string, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	out, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: out})), cert
}

func TestOpen(t *testing.T) {
	body := []byte(`{"DeploymentId":"d-1"}`)
	env, cert := sign(t, body)
	got, err := Open(FormatPKCS7, env, nil)
	if err != nil || string(got) != string(body) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	if _, err := Open(FormatPKCS7, env, roots); err != nil {
		t.Errorf("with the signer as root: %v", err)
	}
	other, _ := sign(t, body)
	_, otherCert := sign(t, body)
	foreign := x509.NewCertPool()
	foreign.AddCert(otherCert)
	if _, err := Open(FormatPKCS7, other, foreign); err == nil {
		t.Error("a signer outside the roots was accepted")
	}

	// Tamper with the attached content: the signature no longer matches.
	block, _ := pem.Decode([]byte(env))
	der := []byte(strings.Replace(string(block.Bytes), `"d-1"`, `"d-2"`, 1))
	tampered := string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der}))
	if _, err := Open(FormatPKCS7, tampered, nil); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered spec: %v", err)
	}
	for _, tc := range []struct{ format, payload, want string }{
		{FormatText, `{}`, "TEXT/JSON"},
		{"XML", `{}`, "unsupported"},
		{FormatPKCS7, "not pem", "not PEM"},
		{FormatPKCS7, "-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n", "parse PKCS#7"},
	} {
		if _, err := Open(tc.format, tc.payload, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: err = %v, want %q", tc.format, tc.payload, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	const s3 = `"Revision":{"RevisionType":"S3","S3Revision":{"Bucket":"b","Key":"k.tgz","BundleType":"tgz","ETag":"e"}}`
	full := `{"DeploymentId":"arn:aws:codedeploy:us-east-1:1:deployment/d-ABC","DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a",` +
		`"AgentActionOverrides":{"AgentOverrides":{"FileExistsBehavior":"overwrite"}},` + s3 + `}`
	sp, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if sp.DeploymentID != "d-ABC" || sp.FileExistsBehavior != "OVERWRITE" || sp.AppSpecFilename != "appspec.yml" ||
		sp.DeploymentCreator != "user" || sp.DeploymentType != "IN_PLACE" || sp.Revision.S3.ETag != "e" {
		t.Errorf("spec = %+v", sp)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a",` + s3 + `}`, "DeploymentId is missing"},
		{`{"DeploymentId":"d","DeploymentGroupName":"n","ApplicationName":"a",` + s3 + `}`, "DeploymentGroupId is missing"},
		{`{"DeploymentId":"d","DeploymentGroupId":"../x","DeploymentGroupName":"n","ApplicationName":"a",` + s3 + `}`, "cannot name a directory"},
		{`{"DeploymentId":"d","DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a"}`, "Revision is missing"},
		{`{"DeploymentId":"d","DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a","Revision":{"RevisionType":"S3","S3Revision":{"Bucket":"b","Key":"k","BundleType":"rar"}}}`, "BundleType"},
		{`{"DeploymentId":"d","DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a","Revision":{"RevisionType":"CodeCommit"}}`, "RevisionType"},
		{`{"DeploymentId":"d","DeploymentGroupId":"g","DeploymentGroupName":"n","ApplicationName":"a","AgentActionOverrides":{"AgentOverrides":{"FileExistsBehavior":"MERGE"}},` + s3 + `}`, "FileExistsBehavior"},
		{`[`, "deployment specification"},
	} {
		if _, err := Parse([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.json, err, tc.want)
		}
	}
}
