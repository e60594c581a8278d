package agent

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/cutover/cutover/internal/agent/config"
	"github.com/cutover/cutover/internal/agent/protocol"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
)

const (
	testKeyID  = "AKIDAGENTTEST"
	testSecret = "agent-test-secret"
	testHostID = "arn:aws:iam::123456789012:user/test-host"
	testRegion = "us-east-1"
)

type keys struct{}

func (keys) Lookup(id string) (sigv4.Credential, bool) {
	if id != testKeyID {
		return sigv4.Credential{}, false
	}
	return sigv4.Credential{AccessKeyID: testKeyID, SecretAccessKey: testSecret, ARN: testHostID}, true
}

// call is one request the fake command service received.
type call struct {
	Op   string
	Body map[string]any
}

// completion is one PutHostCommandComplete.
type completion struct {
	ID     string
	Status string
	Diag   protocol.Diagnostics
}

// fakeService is a command service speaking the contract's exchange: it
// verifies SigV4 (service codedeploy-commands), serves queued commands one
// at a time, and signs specifications as PKCS#7 with attached JSON.
type fakeService struct {
	t      *testing.T
	srv    *httptest.Server
	verify *sigv4.Verifier
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey

	mu          sync.Mutex
	calls       []call
	queue       []*protocol.HostCommand
	outstanding string
	specs       map[string][]byte // execution id → spec JSON
	ackStatus   string
	completions []completion
	completed   chan completion
	polled      chan struct{} // a signal per PollHostCommand (dropped when full)
	failPolls   int           // answer this many polls with a throttling error
}

func newFakeService(t *testing.T) *fakeService {
	t.Helper()
	f := &fakeService{t: t, specs: map[string][]byte{}, completed: make(chan completion, 64), polled: make(chan struct{}, 1)}
	f.verify = sigv4.New(keys{}, testRegion, nil)
	f.key, f.cert = selfSigned(t)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func selfSigned(t *testing.T) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spec signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func (f *fakeService) envelope(data []byte) string {
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := sd.AddSigner(f.cert, f.key, pkcs7.SignerInfoConfig{}); err != nil {
		f.t.Fatal(err)
	}
	der, err := sd.Finish()
	if err != nil {
		f.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der}))
}

func (f *fakeService) fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.WriteHeader(http.StatusNotFound) // the agent accepts any answer
		return
	}
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	if got := r.Header.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(sum[:]) {
		f.fail(w, 400, "ClientException", "X-Amz-Content-Sha256 does not match the body")
		return
	}
	if svc := f.verify.SigningService(r); svc != "codedeploy-commands" {
		f.fail(w, 400, "InvalidSignatureException", "signing service "+svc)
		return
	}
	if _, err := f.verify.Verify(r, hex.EncodeToString(sum[:])); err != nil {
		f.fail(w, 403, "InvalidSignatureException", err.Error())
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "x-amz-codedeploy-agent-version") || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		f.fail(w, 400, "ClientException", "agent version header unsigned or wrong content type")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "CodeDeployCommandService_v20141006.")
	if !ok {
		f.fail(w, 400, "UnknownOperationException", r.Header.Get("X-Amz-Target"))
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		f.fail(w, 400, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{op, in})
	var out any = struct{}{}
	switch op {
	case "PollHostCommand":
		select {
		case f.polled <- struct{}{}:
		default:
		}
		if f.failPolls > 0 {
			f.failPolls--
			f.mu.Unlock()
			f.fail(w, 400, "ThrottlingException", "Rate exceeded")
			return
		}
		if in["HostIdentifier"] != testHostID {
			f.mu.Unlock()
			f.fail(w, 400, "ClientException", "unknown host")
			return
		}
		if f.outstanding == "" && len(f.queue) > 0 {
			c := f.queue[0]
			f.queue = f.queue[1:]
			f.outstanding = c.HostCommandIdentifier
			out = map[string]any{"HostCommand": c}
		}
	case "GetDeploymentSpecification":
		data, ok := f.specs[fmt.Sprint(in["DeploymentExecutionId"])]
		if !ok {
			f.mu.Unlock()
			f.fail(w, 400, "ClientException", "no such execution")
			return
		}
		out = map[string]any{"DeploymentSystem": "CodeDeploy", "DeploymentSpecification": map[string]any{
			"GenericEnvelope": map[string]string{"Format": "PKCS7/JSON", "Payload": f.envelope(data)}}}
	case "PutHostCommandAcknowledgement":
		st := f.ackStatus
		if st == "" {
			st = "InProgress"
		}
		out = map[string]string{"CommandStatus": st}
	case "PutHostCommandComplete":
		var d protocol.Diagnostics
		diag, _ := in["Diagnostics"].(map[string]any)
		if diag["Format"] != "JSON" {
			f.mu.Unlock()
			f.fail(w, 400, "ClientException", "diagnostics format")
			return
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(diag["Payload"])), &d); err != nil {
			f.mu.Unlock()
			f.fail(w, 400, "ClientException", "diagnostics payload: "+err.Error())
			return
		}
		c := completion{ID: fmt.Sprint(in["HostCommandIdentifier"]), Status: fmt.Sprint(in["CommandStatus"]), Diag: d}
		f.completions = append(f.completions, c)
		if f.outstanding == c.ID {
			f.outstanding = ""
		}
		f.completed <- c
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// deployment registers a specification and returns its execution id.
func (f *fakeService) deployment(spec map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("arn:aws:codedeploy:us-east-1:123456789012/%s/exec/%d", spec["DeploymentId"], len(f.specs)+1)
	data, _ := json.Marshal(spec)
	f.specs[id] = data
	return id
}

func (f *fakeService) enqueue(cmds ...*protocol.HostCommand) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, cmds...)
}

func (f *fakeService) opsFor(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []string
	for _, c := range f.calls {
		if c.Body["HostCommandIdentifier"] == id {
			ops = append(ops, c.Op)
		}
	}
	return ops
}

func (f *fakeService) ackNoop(id string) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Op == "PutHostCommandAcknowledgement" && c.Body["HostCommandIdentifier"] == id {
			d := c.Body["Diagnostics"].(map[string]any)
			var p struct{ IsCommandNoop bool }
			json.Unmarshal([]byte(d["Payload"].(string)), &p)
			return p.IsCommandNoop, true
		}
	}
	return false, false
}

// s3Server serves objects path-style with ETags, verifying SigV4 for s3.
type s3Server struct {
	srv     *httptest.Server
	mu      sync.Mutex
	objects map[string][]byte
	gets    []string
}

func newS3(t *testing.T) *s3Server {
	s := &s3Server{objects: map[string][]byte{}}
	v := sigv4.New(keys{}, testRegion, nil)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.SigningService(r) != "s3" {
			http.Error(w, "<Error><Code>AccessDenied</Code></Error>", 403)
			return
		}
		if _, err := v.Verify(r, r.Header.Get("X-Amz-Content-Sha256")); err != nil {
			http.Error(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>"+err.Error()+"</Message></Error>", 403)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.gets = append(s.gets, r.URL.RequestURI())
		data, ok := s.objects[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.Error(w, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>", 404)
			return
		}
		w.Header().Set("ETag", etag(data))
		w.Write(data)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func etag(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (s *s3Server) put(bucketKey string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucketKey] = data
	return etag(data)
}

// entry is one archive member for the bundle builders.
type entry struct {
	name string
	body string
	mode int64
	typ  byte // tar type; 0 for a regular file
	link string
}

func tarBundle(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func zipBundle(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		switch e.typ {
		case tar.TypeSymlink:
			h.SetMode(0o777 | 1<<27) // fs.ModeSymlink
		case tar.TypeDir:
			h.SetMode(0o755 | 1<<31)
		default:
			h.SetMode(fs.FileMode(mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeSymlink {
			w.Write([]byte(e.link))
		} else {
			w.Write([]byte(e.body))
		}
	}
	zw.Close()
	return buf.Bytes()
}

// testAgent builds an agent against the fake services.
func testAgent(t *testing.T, svc *fakeService, s3 *s3Server, root string, clk clock.Clock, mutate ...func(*config.Settings)) *Agent {
	t.Helper()
	set := config.DefaultSettings()
	set.Endpoint = svc.srv.URL
	if s3 != nil {
		set.S3Endpoint = s3.srv.URL
	}
	set.RootDir = root
	set.LogDir = root
	set.WaitBetweenRuns = 10 * time.Millisecond
	set.ShutdownGrace = 0
	for _, m := range mutate {
		m(&set)
	}
	a, err := New(Options{
		Settings:   set,
		OnPremises: &config.OnPremises{AccessKeyID: testKeyID, SecretAccessKey: testSecret, IAMUserARN: testHostID, Region: testRegion},
		Version:    "cutover-test",
		Clock:      clk,
		HTTP:       &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// runCommand hands the agent one command directly, as the poller would,
// and returns what it completed with.
func runCommand(t *testing.T, a *Agent, svc *fakeService, execID, id, name string) completion {
	t.Helper()
	a.Process(context.Background(), &protocol.HostCommand{HostCommandIdentifier: id, HostIdentifier: testHostID, DeploymentExecutionID: execID, CommandName: name})
	select {
	case c := <-svc.completed:
		return c
	default:
		t.Fatalf("%s: no PutHostCommandComplete", name)
		return completion{}
	}
}
