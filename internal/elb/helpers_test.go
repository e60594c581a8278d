package elb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/store"
)

// memStore is a map-backed store.Store for tests: Update works on a copy
// and swaps it in only when fn succeeds, so rollback is real.
type memStore struct {
	mu   sync.Mutex
	recs map[string]store.Record // kind + "\x00" + key
}

func newMemStore() *memStore { return &memStore{recs: map[string]store.Record{}} }

type memTx struct {
	recs     map[string]store.Record
	readOnly bool
}

func (m *memStore) View(ctx context.Context, fn func(store.Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(&memTx{recs: m.recs, readOnly: true})
}

func (m *memStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := make(map[string]store.Record, len(m.recs))
	for k, v := range m.recs {
		cp[k] = v
	}
	if err := fn(&memTx{recs: cp}); err != nil {
		return err
	}
	m.recs = cp
	return nil
}

func (m *memStore) AcquireLease(context.Context, string, string, time.Duration) (store.Lease, error) {
	return store.Lease{}, errors.New("not implemented")
}
func (m *memStore) ReleaseLease(context.Context, string, string) error    { return nil }
func (m *memStore) Leases(context.Context, string) ([]store.Lease, error) { return nil, nil }
func (m *memStore) Close() error                                          { return nil }

func (t *memTx) Get(kind, key string) (*store.Record, error) {
	r, ok := t.recs[kind+"\x00"+key]
	if !ok {
		return nil, store.ErrNotFound
	}
	r.Data = append([]byte(nil), r.Data...)
	return &r, nil
}

func (t *memTx) Put(rec *store.Record) error {
	if t.readOnly {
		return errors.New("read-only transaction")
	}
	k := rec.Kind + "\x00" + rec.Key
	have, ok := t.recs[k]
	if (!ok && rec.Version != 0) || (ok && have.Version != rec.Version) {
		return store.ErrConflict
	}
	rec.Version++
	rec.Updated = time.Now().UTC()
	if !ok {
		rec.Created = rec.Updated
	}
	c := *rec
	c.Data = append([]byte(nil), rec.Data...)
	t.recs[k] = c
	return nil
}

func (t *memTx) Delete(kind, key string, version int64) error {
	if t.readOnly {
		return errors.New("read-only transaction")
	}
	k := kind + "\x00" + key
	have, ok := t.recs[k]
	if !ok {
		return store.ErrNotFound
	}
	if version != -1 && have.Version != version {
		return store.ErrConflict
	}
	delete(t.recs, k)
	return nil
}

func (t *memTx) List(kind string, o store.ListOptions) ([]*store.Record, error) {
	var out []*store.Record
	for _, r := range t.recs {
		if r.Kind != kind || !strings.HasPrefix(r.Key, o.Prefix) || (o.Index != "" && r.Index != o.Index) ||
			!strings.HasPrefix(r.Index, o.IndexPrefix) || (o.After != "" && r.Key <= o.After) {
			continue
		}
		c := r
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out, nil
}

func (t *memTx) Count(kind string, o store.ListOptions) (int, error) {
	o.Limit = 0
	l, err := t.List(kind, o)
	return len(l), err
}

// fakePlane records the configurations it is given and can refuse them.
type fakePlane struct {
	mu      sync.Mutex
	last    *proxy.Config
	applies int
	refuse  error
	health  map[string][]proxy.TargetHealth
}

func (f *fakePlane) Apply(c *proxy.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.last = c
	f.applies++
	return nil
}

func (f *fakePlane) TargetHealth(arn string) []proxy.TargetHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health[arn]
}

func (f *fakePlane) config() *proxy.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	t      *testing.T
	svc    *Service
	store  *memStore
	plane  *fakePlane
	client *elbv2.Client
	ctx    context.Context
}

// newEnv serves a Service over real HTTP and returns an SDK client for it.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, store: newMemStore(), plane: &fakePlane{health: map[string][]proxy.TargetHealth{}}, ctx: context.Background()}
	e.start()
	return e
}

func (e *env) start() {
	svc, err := New(Config{Region: "us-east-1", AccountID: "123456789012", Store: e.store, DataPlane: e.plane, Log: quietLog()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.client = sdkClient(e.t, svc.Query())
}

func sdkClient(t *testing.T, h http.Handler) *elbv2.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(awsproto.WithPrincipal(r.Context(), awsproto.Principal{AccessKeyID: "AKIDTEST", Root: true})))
	}))
	t.Cleanup(srv.Close)
	return elbv2.New(elbv2.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  aws.AnonymousCredentials{},
		Retryer:      aws.NopRetryer{},
	})
}

// snapshot returns every stored record, to assert that bad input changed
// nothing.
func (e *env) snapshot() map[string]string {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	out := map[string]string{}
	for k, v := range e.store.recs {
		out[k] = string(v.Data)
	}
	return out
}
