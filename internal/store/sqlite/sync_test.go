package sqlite

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// holdSyncs replaces the WAL sync for one test: each sync waits for a value
// on release and returns it.
func holdSyncs(t *testing.T) (release chan error, started chan struct{}) {
	release, started = make(chan error), make(chan struct{}, 100)
	orig := syncData
	syncData = func(f *os.File) error {
		started <- struct{}{}
		return <-release
	}
	t.Cleanup(func() { syncData = orig })
	return release, started
}

func put(db *DB, key string) error {
	return db.Update(context.Background(), func(tx store.Tx) error {
		return tx.Put(&store.Record{Kind: "k", Key: key})
	})
}

// TestUpdateWaitsForSync: an Update is acknowledged only after the WAL sync
// that follows its commit, and a reader that could see the commit waits for
// the same sync.
func TestUpdateWaitsForSync(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	release, started := holdSyncs(t)

	var acked atomic.Bool
	updated := make(chan error, 1)
	go func() {
		err := put(db, "a")
		acked.Store(true)
		updated <- err
	}()
	<-started // committed, sync in progress

	viewed := make(chan error, 1)
	go func() {
		viewed <- db.View(context.Background(), func(tx store.Tx) error {
			_, err := tx.Get("k", "a")
			return err
		})
	}()
	select {
	case err := <-viewed:
		t.Fatalf("View returned (%v) while the commit it could see was not durable", err)
	case <-time.After(100 * time.Millisecond):
	}
	if acked.Load() {
		t.Fatal("Update acknowledged before its sync finished")
	}
	release <- nil
	if err := <-updated; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := <-viewed; err != nil {
		t.Fatalf("View: %v", err)
	}
	if s := db.Stats(); s.Syncs != 1 || s.Commits != 1 {
		t.Errorf("stats %+v, want one commit and one sync", s)
	}
}

// TestSyncCoversLaterCommits: while one sync runs, later batches commit and
// are all covered by the next single sync.
func TestSyncCoversLaterCommits(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	release, started := holdSyncs(t)

	first := make(chan error, 1)
	go func() { first <- put(db, "first") }()
	<-started
	const n = 8
	rest := make(chan error, n)
	for i := range n {
		go func() { rest <- put(db, string(rune('a'+i))) }()
	}
	// Wait until all n have committed (the writer does not wait for syncs).
	for deadline := time.Now().Add(10 * time.Second); db.Stats().Writes < n+1; {
		if time.Now().After(deadline) {
			t.Fatalf("writes never committed: %+v", db.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-started
	release <- nil
	for range n {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	if s := db.Stats(); s.Syncs != 2 {
		t.Errorf("stats %+v, want 2 syncs for %d writes", s, n+1)
	}
}

// TestSyncFailureIsSticky: a failed sync fails the writes it covered and
// every later write and every read of state that was not durable, until the
// store is reopened.
func TestSyncFailureIsSticky(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	if err := put(db, "durable"); err != nil {
		t.Fatal(err)
	}
	release, started := holdSyncs(t)
	done := make(chan error, 1)
	go func() { done <- put(db, "lost") }()
	<-started
	eio := errors.New("input/output error")
	release <- eio
	if err := <-done; !errors.Is(err, eio) {
		t.Fatalf("Update over a failed sync: %v, want %v", err, eio)
	}
	if err := put(db, "later"); !errors.Is(err, eio) {
		t.Errorf("Update after a failed sync: %v, want %v", err, eio)
	}
	err := db.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Get("k", "durable")
		return err
	})
	if !errors.Is(err, eio) {
		t.Errorf("View after a failed sync: %v, want %v", err, eio)
	}
}

func TestGoroutineID(t *testing.T) {
	if !fastGoidWorks() {
		t.Log("goid disagrees with runtime.Stack on this Go version; the slow path is in use")
	}
	ids := make(chan [2]uint64, 4)
	for range 4 {
		go func() { ids <- [2]uint64{goroutineID(), stackGoroutineID()} }()
	}
	seen := map[uint64]bool{}
	for range 4 {
		id := <-ids
		if id[0] != id[1] || id[0] == 0 || seen[id[0]] {
			t.Errorf("goroutineID %d, runtime.Stack says %d (seen before: %v)", id[0], id[1], seen[id[0]])
		}
		seen[id[0]] = true
	}
}

// TestViewsOutnumberReadConnections: Views whose statements are not yet
// prepared must not wait for a free connection while holding one (with a
// pool of one, the first View alone would).
func TestViewsOutnumberReadConnections(t *testing.T) {
	db := openTest(t, WithReadConns(1))
	defer db.Close()
	if err := put(db, "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			errs <- db.View(ctx, func(tx store.Tx) error {
				if _, err := tx.Get("k", "a"); err != nil {
					return err
				}
				_, err := tx.List("k", store.ListOptions{Prefix: "a"})
				return err
			})
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("View: %v", err)
		}
	}
}
