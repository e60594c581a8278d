// Package storetest is the conformance suite for store.Store. Every
// implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... a fresh, empty store ... },
//			storetest.WithClock(func(t *testing.T, now func() time.Time) store.Store { ... }))
//
// The suite is the executable form of store.go's contract, plus the choices
// store.go leaves open that callers rely on (they are listed in the tests'
// names and comments): exact byte-order keys, snapshot reads in View, Records
// left untouched by a failed Update, lease release and epoch rules.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// Option configures Run.
type Option func(*config)

type config struct {
	openClocked func(t *testing.T, now func() time.Time) store.Store
}

// WithClock lets the suite drive the store's clock: open must return a fresh,
// empty store that reads the time from now (for record timestamps and lease
// expiry). With it, timestamps are checked exactly and lease expiry is
// tested without sleeping; without it, lease tests sleep past short TTLs.
func WithClock(open func(t *testing.T, now func() time.Time) store.Store) Option {
	return func(c *config) { c.openClocked = open }
}

// Run runs the whole suite. open must return a fresh, empty store each time
// it is called; it may be called from parallel subtests. The suite closes the
// stores it opens.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	for _, tc := range suite() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t, open, cfg))
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, e *env)
}

// suite lists every test, grouped as the files are.
func suite() []test {
	return []test{
		// records.go: one record at a time.
		{"CreateAndGet", testCreateAndGet},
		{"GetMissing", testGetMissing},
		{"UpdateBumpsVersion", testUpdateBumpsVersion},
		{"CreateOnlyConflict", testCreateOnlyConflict},
		{"StaleVersionConflict", testStaleVersionConflict},
		{"DeleteWithVersion", testDeleteWithVersion},
		{"DeleteUnconditional", testDeleteUnconditional},
		{"KindsAreSeparate", testKindsAreSeparate},
		{"DataRoundTrip", testDataRoundTrip},
		{"ReturnedRecordIsACopy", testReturnedRecordIsACopy},
		{"Timestamps", testTimestamps},
		// list.go: List and Count.
		{"ListOrderedByKey", testListOrderedByKey},
		{"ListFilters", testListFilters},
		{"ListPaging", testListPaging},
		{"ListKeysOnly", testListKeysOnly},
		{"PrefixEdgeCases", testPrefixEdgeCases},
		// tx.go: transactions.
		{"UpdateErrorKeepsNothing", testUpdateErrorKeepsNothing},
		{"UpdatePanicKeepsNothing", testUpdatePanicKeepsNothing},
		{"ReadYourWrites", testReadYourWrites},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ViewSeesCommittedOnly", testViewSeesCommittedOnly},
		{"ViewIsASnapshot", testViewIsASnapshot},
		{"LostUpdate", testLostUpdate},
		{"ConcurrentCreate", testConcurrentCreate},
		{"CanceledContext", testCanceledContext},
		// lease.go: leases.
		{"LeaseAcquireAndRenew", testLeaseAcquireAndRenew},
		{"LeaseHeldByOther", testLeaseHeldByOther},
		{"LeaseTakeoverAfterExpiry", testLeaseTakeoverAfterExpiry},
		{"LeaseExpiryBoundary", testLeaseExpiryBoundary},
		{"LeaseRelease", testLeaseRelease},
		{"LeaseList", testLeaseList},
		{"LeaseConcurrentAcquire", testLeaseConcurrentAcquire},
		// close.go
		{"Close", testClose},
	}
}

// env is one test's store and clock.
type env struct {
	s     store.Store
	clock *fakeClock // nil when the store keeps its own time
	ctx   context.Context
	// closed records that the test closed the store itself.
	closed bool
}

// start is the fake clock's first reading: far from the zero time and with
// nanoseconds set, so truncation to micro- or milliseconds shows.
var start = time.Date(2031, time.March, 4, 5, 6, 7, 123456789, time.UTC)

func newEnv(t *testing.T, open func(t *testing.T) store.Store, cfg config) *env {
	e := &env{ctx: t.Context()}
	if cfg.openClocked != nil {
		e.clock = &fakeClock{now: start}
		e.s = cfg.openClocked(t, e.clock.Now)
	} else {
		e.s = open(t)
	}
	if e.s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if !e.closed {
			if err := e.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return e
}

// ttl is a lease duration suited to the clock: long with a fake clock (time
// only moves when told), short with a real one (tests sleep through it).
func (e *env) ttl() time.Duration {
	if e.clock != nil {
		return time.Minute
	}
	return 300 * time.Millisecond
}

// advance moves the store's time forward by d.
func (e *env) advance(d time.Duration) {
	if e.clock != nil {
		e.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

// now is the store's time as far as the test can tell.
func (e *env) now() time.Time {
	if e.clock != nil {
		return e.clock.Now()
	}
	return time.Now().UTC()
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// put stores rec in its own Update and fails the test on error.
func (e *env) put(t *testing.T, rec *store.Record) *store.Record {
	t.Helper()
	if err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(rec) }); err != nil {
		t.Fatalf("put %s %q: %v", rec.Kind, rec.Key, err)
	}
	return rec
}

// get reads kind/key in its own View; a nil record means ErrNotFound.
func (e *env) get(t *testing.T, kind, key string) *store.Record {
	t.Helper()
	var rec *store.Record
	err := e.s.View(e.ctx, func(tx store.Tx) error {
		var err error
		rec, err = tx.Get(kind, key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s %q: %v", kind, key, err)
	}
	return rec
}

func (e *env) list(t *testing.T, kind string, opts store.ListOptions) []*store.Record {
	t.Helper()
	var recs []*store.Record
	if err := e.s.View(e.ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.List(kind, opts)
		return err
	}); err != nil {
		t.Fatalf("list %s %+v: %v", kind, opts, err)
	}
	return recs
}

func (e *env) count(t *testing.T, kind string, opts store.ListOptions) int {
	t.Helper()
	var n int
	if err := e.s.View(e.ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.Count(kind, opts)
		return err
	}); err != nil {
		t.Fatalf("count %s %+v: %v", kind, opts, err)
	}
	return n
}

func keys(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}
