package agentcmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion = "us-east-1"
	hostA      = "arn:aws:iam::123456789012:user/AWS/CodeDeploy/host-a"
	hostB      = "arn:aws:iam::123456789012:user/AWS/CodeDeploy/host-b"
)

// Keys as the server's credentials file binds them: the root key, one key
// per on-premises instance, and a key bound to nothing.
var (
	rootKey    = sigv4.Credential{AccessKeyID: "AKIDROOT", SecretAccessKey: "root-secret", Root: true}
	keyA       = sigv4.Credential{AccessKeyID: "AKIDHOSTA", SecretAccessKey: "a-secret", ARN: hostA}
	keyB       = sigv4.Credential{AccessKeyID: "AKIDHOSTB", SecretAccessKey: "b-secret", ARN: hostB}
	keyUnbound = sigv4.Credential{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "n-secret"}
)

type testKeys map[string]sigv4.Credential

func (k testKeys) Lookup(id string) (sigv4.Credential, bool) { c, ok := k[id]; return c, ok }

var keys = testKeys{rootKey.AccessKeyID: rootKey, keyA.AccessKeyID: keyA, keyB.AccessKeyID: keyB, keyUnbound.AccessKeyID: keyUnbound}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// env is the service on a real SQLite file with a fake clock, behind the
// real router, SigV4 verifier and an HTTP server.
type env struct {
	t       testing.TB
	ctx     context.Context
	clk     *clock.Fake
	dir     string
	db      store.Store
	svc     *Service
	srv     *httptest.Server
	http    *http.Client
	cfg     Config
	mu      sync.Mutex
	notices []string
}

func newEnv(t testing.TB, adjust ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(t0), dir: t.TempDir(), http: http.DefaultClient}
	e.cfg = Config{LongPoll: 20 * time.Second, Notify: e.notice}
	for _, f := range adjust {
		f(&e.cfg)
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) notice(dep string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notices = append(e.notices, dep)
}

func (e *env) noticed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.notices...)
}

func (e *env) open() {
	t := e.t
	db, err := sqlite.Open(e.ctx, filepath.Join(e.dir, "cutover.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Store, cfg.DataDir = db, e.dir
	if cfg.Clock == nil {
		cfg.Clock = e.clk
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt := awsproto.NewRouter(sigv4.New(keys, testRegion, nil), slog.New(slog.DiscardHandler))
	svc.Register(rt)
	e.db, e.svc, e.srv = db, svc, httptest.NewServer(rt)
}

func (e *env) close() {
	if e.srv != nil {
		e.svc.Close()
		e.srv.Close()
		e.db.Close()
		e.srv = nil
	}
}

// restart closes the server and the store and opens both again.
func (e *env) restart() {
	e.close()
	e.open()
}

// caller signs requests as one key, the way the agent's Ruby SDK does:
// X-Amz-Content-Sha256 sent and signed.
type caller struct {
	e       *env
	key     sigv4.Credential
	service string // signing name
	prefix  string // X-Amz-Target prefix
}

func (e *env) as(k sigv4.Credential) *caller {
	return &caller{e: e, key: k, service: SigningName, prefix: TargetPrefix}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// errType is the __type of an error reply.
func (r reply) errType() string {
	var v struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(r.body, &v)
	return v.Type
}

func (r reply) message() string {
	var v struct {
		Message string `json:"message"`
	}
	json.Unmarshal(r.body, &v)
	return v.Message
}

func (c *caller) raw(ctx context.Context, op string, body []byte) reply {
	c.e.t.Helper()
	r, err := c.do(ctx, op, body)
	if err != nil {
		c.e.t.Errorf("%s: %v", op, err)
	}
	return r
}

// do sends one signed request.
func (c *caller) do(ctx context.Context, op string, body []byte) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.e.srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", c.prefix+"."+op)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if c.key.AccessKeyID != "" {
		creds := aws.Credentials{AccessKeyID: c.key.AccessKeyID, SecretAccessKey: c.key.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, c.service, testRegion, time.Now()); err != nil {
			return reply{}, err
		}
	}
	resp, err := c.e.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (c *caller) call(op string, in any) reply {
	c.e.t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.raw(c.e.ctx, op, b)
}

// ok calls op, requires a 200 and decodes the answer into out (if not nil).
func (c *caller) ok(op string, in, out any) {
	c.e.t.Helper()
	r := c.call(op, in)
	if r.status != http.StatusOK {
		c.e.t.Fatalf("%s as %s: HTTP %d %s", op, c.key.AccessKeyID, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.e.t.Fatalf("%s: decoding %s: %v", op, r.body, err)
		}
	}
}

// fail calls op and requires an error reply with that status and __type.
func (c *caller) fail(op string, in any, status int, typ string) reply {
	c.e.t.Helper()
	r := c.call(op, in)
	if r.status != status || r.errType() != typ {
		c.e.t.Fatalf("%s as %s: got HTTP %d %s, want %d %s", op, c.key.AccessKeyID, r.status, r.body, status, typ)
	}
	return r
}

type wireCommand struct {
	HostCommandIdentifier string
	HostIdentifier        string
	DeploymentExecutionId string
	CommandName           string
	Nonce                 int64
}

// pollNow polls and expects an answer without waiting: the host has a
// command ready.
func (c *caller) pollNow(host string) *wireCommand {
	c.e.t.Helper()
	var out struct{ HostCommand *wireCommand }
	c.ok("PollHostCommand", map[string]string{"HostIdentifier": host}, &out)
	if out.HostCommand == nil {
		c.e.t.Fatalf("poll for %s: no command", host)
	}
	return out.HostCommand
}

// pollAsync starts a long poll and returns where its answer arrives.
func (c *caller) pollAsync(host string) <-chan *wireCommand {
	ch := make(chan *wireCommand, 1)
	go func() {
		r := c.raw(c.e.ctx, "PollHostCommand", []byte(`{"HostIdentifier":"`+host+`"}`))
		var out struct{ HostCommand *wireCommand }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
			c.e.t.Errorf("long poll: HTTP %d %s", r.status, r.body)
		}
		ch <- out.HostCommand
	}()
	return ch
}

// waitPolling waits until n long polls hold a timer on the fake clock.
func (e *env) waitPolling(n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if err := e.clk.BlockUntil(ctx, n); err != nil {
		e.t.Fatalf("waiting for %d long polls: %v", n, err)
	}
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func s3Spec(dep string) Spec {
	return Spec{
		ApplicationName: "app", DeploymentID: dep, DeploymentGroupName: "group",
		DeploymentGroupID: "8a2b0c1d-0000-4000-8000-000000000001",
		Revision: Revision{RevisionType: RevisionS3, S3Revision: &S3Revision{
			Bucket: "bundles", Key: "app/rev1.tgz", BundleType: "tgz", ETag: "abc123"}},
		DeploymentCreator: "user", DeploymentType: "IN_PLACE", AppSpecFilename: "appspec.yml",
		AgentActionOverrides: &AgentActionOverrides{AgentOverrides: AgentOverrides{FileExistsBehavior: "OVERWRITE"}},
	}
}

func cmd(dep, host, event string) Command {
	return Command{
		ID: dep + "/" + host + "/" + event, DeploymentID: dep, HostIdentifier: host,
		InstanceName: "inst", CommandName: event, Spec: s3Spec(dep),
	}
}

func (e *env) issue(c Command) {
	e.t.Helper()
	if err := e.svc.Issue(e.ctx, c); err != nil {
		e.t.Fatalf("Issue %s: %v", c.ID, err)
	}
}

func (e *env) status(c Command) CommandState {
	e.t.Helper()
	st, err := e.svc.Status(e.ctx, c.ID)
	if err != nil {
		e.t.Fatalf("Status %s: %v", c.ID, err)
	}
	return st
}

func ack(hc string, noop bool) map[string]any {
	p, _ := json.Marshal(map[string]bool{"IsCommandNoop": noop})
	return map[string]any{"HostCommandIdentifier": hc, "Diagnostics": map[string]string{"Format": "JSON", "Payload": string(p)}}
}

func complete(hc, status string, code int, script, msg, log string) map[string]any {
	p, _ := json.Marshal(map[string]any{"error_code": code, "script_name": script, "message": msg, "log": log})
	return map[string]any{"HostCommandIdentifier": hc, "CommandStatus": status, "Diagnostics": map[string]string{"Format": "JSON", "Payload": string(p)}}
}
