package codedeploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/smithy-go"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/sqlite"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testRole    = "arn:aws:iam::123456789012:role/CodeDeployServiceRole"
)

// env is one service on a real SQLite store behind a real HTTP server,
// driven by the real Go SDK client.
type env struct {
	svc    *Service
	st     store.Store
	client *cd.Client
	url    string
	now    time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cutover.db"), log)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{st: db, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.svc, err = New(Config{Region: testRegion, AccountID: testAccount, Store: db, Log: log, Now: func() time.Time {
		e.now = e.now.Add(time.Second) // every call sees a later instant, so sorting by time is testable
		return e.now
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Small pages, so every paginator crosses page boundaries.
	e.svc.pageSize = 2
	// Signature checking is the router's job and tested there; here every
	// request is treated as signed by the root key.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDEXAMPLE", Root: true})
		e.svc.JSON().ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client = cd.New(cd.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	return e
}

// raw posts a body directly, for requests the SDK refuses to send (missing
// required members), and returns the status and the __type.
func (e *env) raw(t *testing.T, op, body string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "CodeDeploy_20141006."+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: answer is not JSON: %s", op, b)
	}
	typ, _ := m["__type"].(string)
	return resp.StatusCode, typ, m
}

// wantCode asserts that err is the modelled AWS exception code, decoded by
// the SDK into its typed error (not a generic API error).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got non-API error %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	var generic *smithy.GenericAPIError
	if errors.As(err, &generic) {
		t.Fatalf("%s is not a modelled exception: the SDK decoded it as a generic error", code)
	}
	if ae.ErrorMessage() == "" {
		t.Fatalf("%s has no message", code)
	}
}

// wantType asserts err is the SDK's typed exception E.
func wantType[E error](t *testing.T, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("want %T, got %v", e, err)
	}
	return e
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// snapshot reads every record this package stores, with versions, so a
// test can prove a refused request changed nothing.
func (e *env) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		for _, k := range []string{kindApplication, kindGroup, kindConfig, kindRevision, kindInstance, kindECSService} {
			recs, err := tx.List(k, store.ListOptions{})
			if err != nil {
				return err
			}
			for _, r := range recs {
				out[k+"\x00"+r.Key] = r.Index + "\x00" + string(r.Data) + "\x00" + string(rune(r.Version))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

func (e *env) unchanged(t *testing.T, before map[string]string, what string) {
	t.Helper()
	if after := e.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the store", what)
	}
}

var bg = context.Background()

func asAWS(err error) *awsproto.Error { return awsproto.AsError(err) }
