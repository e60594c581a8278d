package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

var errBoom = errors.New("boom")

func testUpdateErrorKeepsNothing(t *testing.T, e *env) {
	keep := e.put(t, &store.Record{Kind: "k", Key: "keep", Data: []byte("v1")})
	gone := e.put(t, &store.Record{Kind: "k", Key: "gone"})

	created := &store.Record{Kind: "k", Key: "new", Data: []byte("x")}
	changed := &store.Record{Kind: "k", Key: "keep", Data: []byte("v2"), Version: keep.Version, Created: keep.Created, Updated: keep.Updated}
	err := e.s.Update(e.ctx, func(tx store.Tx) error {
		if err := tx.Put(created); err != nil {
			return err
		}
		if err := tx.Put(changed); err != nil {
			return err
		}
		if err := tx.Delete("k", "gone", gone.Version); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if r := e.get(t, "k", "new"); r != nil {
		t.Error("a create in a failed Update was kept")
	}
	if r := e.get(t, "k", "keep"); string(r.Data) != "v1" || r.Version != 1 {
		t.Errorf("an update in a failed Update was kept: %q v%d", r.Data, r.Version)
	}
	if e.get(t, "k", "gone") == nil {
		t.Error("a delete in a failed Update was kept")
	}
	// Put updates Records in place; when the write is not kept they must
	// read as before, so a retry loop does not carry a version that was
	// never stored.
	if created.Version != 0 || !created.Created.IsZero() || !created.Updated.IsZero() {
		t.Errorf("Record of a discarded create was left at v%d %v", created.Version, created.Created)
	}
	if changed.Version != keep.Version || !changed.Updated.Equal(keep.Updated) {
		t.Errorf("Record of a discarded update was left at v%d, want v%d", changed.Version, keep.Version)
	}
	// A retry with the same Record succeeds.
	if err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(changed) }); err != nil {
		t.Errorf("retry after discarded Update: %v", err)
	}
}

func testUpdatePanicKeepsNothing(t *testing.T, e *env) {
	func() {
		defer func() {
			if r := recover(); r != "fn panicked" {
				t.Errorf("recovered %v, want fn's panic value", r)
			}
		}()
		_ = e.s.Update(e.ctx, func(tx store.Tx) error {
			if err := tx.Put(&store.Record{Kind: "k", Key: "a"}); err != nil {
				return err
			}
			panic("fn panicked")
		})
		t.Error("Update returned instead of propagating the panic")
	}()
	if e.get(t, "k", "a") != nil {
		t.Error("a write from a panicking Update was kept")
	}
	// The store is still usable for writes.
	e.put(t, &store.Record{Kind: "k", Key: "b"})
}

func testReadYourWrites(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "old", Index: "i"})
	err := e.s.Update(e.ctx, func(tx store.Tx) error {
		rec := &store.Record{Kind: "k", Key: "new", Index: "i", Data: []byte("pending")}
		if err := tx.Put(rec); err != nil {
			return err
		}
		got, err := tx.Get("k", "new")
		if err != nil {
			return err
		}
		if string(got.Data) != "pending" || got.Version != 1 {
			t.Errorf("Get in the same transaction = %q v%d", got.Data, got.Version)
		}
		rec.Data = []byte("twice")
		if err := tx.Put(rec); err != nil {
			return err
		}
		if rec.Version != 2 {
			t.Errorf("second Put in one transaction: Version %d, want 2", rec.Version)
		}
		if err := tx.Delete("k", "old", -1); err != nil {
			return err
		}
		if _, err := tx.Get("k", "old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of a record deleted in this transaction: %v", err)
		}
		recs, err := tx.List("k", store.ListOptions{Index: "i"})
		if err != nil {
			return err
		}
		if got := keys(recs); len(got) != 1 || got[0] != "new" {
			t.Errorf("List in the same transaction = %q, want [new]", got)
		}
		n, err := tx.Count("k", store.ListOptions{})
		if err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("Count in the same transaction = %d, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "k", "new"); string(r.Data) != "twice" || r.Version != 2 {
		t.Errorf("after commit: %q v%d", r.Data, r.Version)
	}
}

func testViewIsReadOnly(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "a"})
	for _, tc := range []struct {
		name string
		fn   func(store.Tx) error
	}{
		{"put", func(tx store.Tx) error { return tx.Put(&store.Record{Kind: "k", Key: "b"}) }},
		{"delete", func(tx store.Tx) error { return tx.Delete("k", "a", -1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inner error
			err := e.s.View(e.ctx, func(tx store.Tx) error {
				inner = tc.fn(tx)
				return nil
			})
			if inner == nil {
				t.Errorf("%s in View succeeded", tc.name)
			}
			if err != nil {
				t.Errorf("View: %v", err)
			}
		})
	}
	if e.get(t, "k", "a") == nil || e.get(t, "k", "b") != nil {
		t.Error("a write in View changed the store")
	}
}

// testViewSeesCommittedOnly reads while an Update is in the middle of fn:
// its pending writes must not show; once Update returns, they must.
func testViewSeesCommittedOnly(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("v1")})
	inFn := make(chan struct{})
	checked := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.s.Update(e.ctx, func(tx store.Tx) error {
			r, err := tx.Get("k", "a")
			if err != nil {
				return err
			}
			r.Data = []byte("v2")
			if err := tx.Put(r); err != nil {
				return err
			}
			if err := tx.Put(&store.Record{Kind: "k", Key: "b"}); err != nil {
				return err
			}
			close(inFn)
			<-checked
			return nil
		})
	}()
	select {
	case <-inFn:
	case err := <-done:
		t.Fatalf("Update ended early: %v", err)
	}
	if r := e.get(t, "k", "a"); string(r.Data) != "v1" {
		t.Errorf("View saw an uncommitted update: %q", r.Data)
	}
	if e.get(t, "k", "b") != nil {
		t.Error("View saw an uncommitted create")
	}
	if n := e.count(t, "k", store.ListOptions{}); n != 1 {
		t.Errorf("View counted %d records, want 1 committed", n)
	}
	close(checked)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "k", "a"); string(r.Data) != "v2" {
		t.Errorf("View after commit = %q, want v2", r.Data)
	}
	if e.get(t, "k", "b") == nil {
		t.Error("View after commit misses the created record")
	}
}

// testViewIsASnapshot: a View reads one consistent state, even when a write
// commits between two of its reads (repeatable read at least).
func testViewIsASnapshot(t *testing.T, e *env) {
	e.put(t, &store.Record{Kind: "k", Key: "a", Data: []byte("v1")})
	firstRead := make(chan struct{})
	written := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.s.View(e.ctx, func(tx store.Tx) error {
			r, err := tx.Get("k", "a")
			if err != nil {
				return err
			}
			close(firstRead)
			<-written
			again, err := tx.Get("k", "a")
			if err != nil {
				return err
			}
			if string(again.Data) != string(r.Data) || again.Version != r.Version {
				t.Errorf("one View read %q v%d, then %q v%d", r.Data, r.Version, again.Data, again.Version)
			}
			n, err := tx.Count("k", store.ListOptions{})
			if err != nil {
				return err
			}
			if n != 1 {
				t.Errorf("View counted %d records after a concurrent create, want its snapshot's 1", n)
			}
			return nil
		})
	}()
	select {
	case <-firstRead:
	case err := <-done:
		t.Fatalf("View ended early: %v", err)
	}
	if err := e.s.Update(e.ctx, func(tx store.Tx) error {
		r, err := tx.Get("k", "a")
		if err != nil {
			return err
		}
		r.Data = []byte("v2")
		if err := tx.Put(r); err != nil {
			return err
		}
		return tx.Put(&store.Record{Kind: "k", Key: "b"})
	}); err != nil {
		t.Fatalf("Update during a View: %v", err)
	}
	close(written)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// testLostUpdate increments one counter from many goroutines, half reading
// inside the Update, half reading in a View and writing back with the version
// they read (retrying on ErrConflict). No increment may be lost.
func testLostUpdate(t *testing.T, e *env) {
	const (
		workers = 16
		each    = 20
	)
	e.put(t, &store.Record{Kind: "counter", Key: "c", Data: []byte("0")})
	incr := func(r *store.Record) error {
		n, err := strconv.Atoi(string(r.Data))
		if err != nil {
			return err
		}
		r.Data = []byte(strconv.Itoa(n + 1))
		return nil
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
	)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for range each {
				if w%2 == 0 {
					// Read-modify-write in one transaction.
					if err := e.s.Update(e.ctx, func(tx store.Tx) error {
						r, err := tx.Get("counter", "c")
						if err != nil {
							return err
						}
						if err := incr(r); err != nil {
							return err
						}
						return tx.Put(r)
					}); err != nil {
						errs <- err
						return
					}
					continue
				}
				// Read in a View, write in an Update: optimistic concurrency.
				for {
					var r *store.Record
					if err := e.s.View(e.ctx, func(tx store.Tx) error {
						var err error
						r, err = tx.Get("counter", "c")
						return err
					}); err != nil {
						errs <- err
						return
					}
					if err := incr(r); err != nil {
						errs <- err
						return
					}
					err := e.s.Update(e.ctx, func(tx store.Tx) error { return tx.Put(r) })
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						errs <- err
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r := e.get(t, "counter", "c")
	if string(r.Data) != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, want %d (lost updates)", r.Data, workers*each)
	}
	if r.Version != workers*each+1 {
		t.Errorf("Version = %d, want %d", r.Version, workers*each+1)
	}
	t.Logf("%d conflicts retried", conflicts)
}

func testConcurrentCreate(t *testing.T, e *env) {
	const workers = 16
	results := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			results <- e.s.Update(e.ctx, func(tx store.Tx) error {
				return tx.Put(&store.Record{Kind: "k", Key: "once", Data: []byte(strconv.Itoa(w))})
			})
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("create race: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of one key succeeded, want exactly 1", won)
	}
}

func testCanceledContext(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	ran := false
	if err := e.s.Update(ctx, func(tx store.Tx) error {
		ran = true
		return tx.Put(&store.Record{Kind: "k", Key: "a"})
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with canceled context: %v, want context.Canceled", err)
	}
	if err := e.s.View(ctx, func(tx store.Tx) error {
		ran = true
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("View with canceled context: %v, want context.Canceled", err)
	}
	if ran {
		t.Error("fn ran under a canceled context")
	}
	if e.get(t, "k", "a") != nil {
		t.Error("Update with canceled context wrote")
	}
	if _, err := e.s.AcquireLease(ctx, "l", "me", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("AcquireLease with canceled context: %v, want context.Canceled", err)
	}
}
