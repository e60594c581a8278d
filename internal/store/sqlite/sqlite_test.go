package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/store/storetest"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTest(t testing.TB, opts ...Option) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cutover.db")
	db, err := Open(context.Background(), path, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store { return openTest(t) },
		storetest.WithClock(func(t *testing.T, now func() time.Time) store.Store {
			return openTest(t, WithClock(now))
		}))
}

// TestConformanceRealClock runs the suite the way a store without an
// injectable clock (PostgreSQL's now()) will: lease expiry by sleeping.
func TestConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps through lease TTLs")
	}
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cutover.db")
	db, err := Open(ctx, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.Record{Kind: "deployment", Key: "d-ABCDEFGHI", Index: "app/group", Data: []byte(`{"status":"InProgress"}`)}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put(rec) }); err != nil {
		t.Fatal(err)
	}
	lease, err := db.AcquireLease(ctx, "deployment/d-ABCDEFGHI", "replica-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, testLogger(t))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	var got *store.Record
	if err := db.View(ctx, func(tx store.Tx) error {
		got, err = tx.Get("deployment", "d-ABCDEFGHI")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != string(rec.Data) || got.Index != rec.Index || got.Version != 1 ||
		!got.Created.Equal(rec.Created) || !got.Updated.Equal(rec.Updated) {
		t.Errorf("after reopen: %+v, want %+v", *got, *rec)
	}
	ls, err := db.Leases(ctx, "deployment/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Owner != lease.Owner || ls[0].Epoch != lease.Epoch || !ls[0].Expires.Equal(lease.Expires) {
		t.Errorf("leases after reopen: %+v, want [%+v]", ls, lease)
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cutover.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A newer cutover migrated the file further.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_version (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("error does not name the version: %v", err)
	}
}

func TestMigrateIsIdempotentAndRecorded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cutover.db")
	for range 3 {
		db, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n, max int
	if err := raw.QueryRow(`SELECT count(*), max(version) FROM schema_version`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	migs, err := loadMigrations(migrationFiles, "migration")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(migs) || max != len(migs) {
		t.Errorf("schema_version has %d rows up to %d, want %d", n, max, len(migs))
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"ordered by number", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/0010_j.sql": file("J"),
			"m/0003_c.sql": file(""), "m/0004_d.sql": file(""), "m/0005_e.sql": file(""), "m/0006_f.sql": file(""),
			"m/0007_g.sql": file(""), "m/0008_h.sql": file(""), "m/0009_i.sql": file("")},
			[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ""},
		{"other files ignored", fstest.MapFS{"m/0001_a.sql": file("A"), "m/README": file("")}, []int{1}, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, nil, "expected version 2"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "expected version 2"},
		{"no number", fstest.MapFS{"m/init.sql": file("A")}, nil, "NNNN_description"},
		{"zero", fstest.MapFS{"m/0000_a.sql": file("A")}, nil, "not a positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			migs, err := loadMigrations(tc.files, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range migs {
				got = append(got, m.version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("versions %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("versions %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory", "/tmp/a?b"} {
		if db, err := Open(context.Background(), p, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestNestedUpdateFails(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	ctx := context.Background()
	var inner, lease error
	err := db.Update(ctx, func(tx store.Tx) error {
		inner = db.Update(ctx, func(store.Tx) error { return nil })
		_, lease = db.AcquireLease(ctx, "l", "me", time.Minute)
		return tx.Put(&store.Record{Kind: "k", Key: "a"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrNestedUpdate) {
		t.Errorf("nested Update: %v, want ErrNestedUpdate", inner)
	}
	if !errors.Is(lease, ErrNestedUpdate) {
		t.Errorf("nested AcquireLease: %v, want ErrNestedUpdate", lease)
	}
	// A View inside an Update works (on the committed state).
	if err := db.Update(ctx, func(tx store.Tx) error {
		return db.View(ctx, func(vtx store.Tx) error {
			_, err := vtx.Get("k", "a")
			return err
		})
	}); err != nil {
		t.Errorf("View inside Update: %v", err)
	}
}

func TestTxUnusableAfterFn(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	ctx := context.Background()
	var leaked store.Tx
	if err := db.Update(ctx, func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.Put(&store.Record{Kind: "k", Key: "a"}); !errors.Is(err, errTxDone) {
		t.Errorf("Put on a leaked write Tx: %v, want errTxDone", err)
	}
	if err := db.View(ctx, func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get("k", "a"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on a leaked read Tx: %v, want errTxDone", err)
	}
}

// TestGroupCommit checks that concurrent writers share commits, and that a
// failing member of a batch costs the others nothing.
func TestGroupCommit(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	ctx := context.Background()

	// Hold the writer inside one fn until all the others are queued, so
	// they are certain to land in one batch.
	const n = 32
	release := make(chan struct{})
	entered := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = db.Update(ctx, func(tx store.Tx) error {
			close(entered)
			<-release
			return tx.Put(&store.Record{Kind: "k", Key: "first"})
		})
	})
	<-entered
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Update(ctx, func(tx store.Tx) error {
				if err := tx.Put(&store.Record{Kind: "k", Key: string(rune('a' + i))}); err != nil {
					return err
				}
				if i%4 == 0 {
					return errBoomTest // rolled back alone
				}
				return nil
			})
		})
	}
	waitFor(t, func() bool { return len(db.queue) == n })
	before := db.Stats()
	close(release)
	wg.Wait()
	after := db.Stats()

	for i, err := range errs {
		if (i%4 == 0) != errors.Is(err, errBoomTest) || (i%4 != 0 && err != nil) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	var count int
	if err := db.View(ctx, func(tx store.Tx) error {
		var err error
		count, err = tx.Count("k", store.ListOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := 1 + n - n/4; count != want {
		t.Errorf("%d records kept, want %d", count, want)
	}
	// The held fn's batch commits once; the queued 32 form at most a couple
	// more (the writer may have taken the queue in two bites).
	if commits := after.Commits - before.Commits; commits > 3 {
		t.Errorf("%d commits for %d concurrent writers: no group commit", commits, n+1)
	}
	t.Logf("stats %+v → %+v", before, after)
}

var errBoomTest = errors.New("boom")

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCancelWhileQueued: a writer stuck behind a slow one gives up when its
// context ends, and its fn never runs.
func TestCancelWhileQueued(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	release := make(chan struct{})
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(tx store.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	err := db.Update(ctx, func(tx store.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued Update: %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Let the writer pass the canceled request.
	if err := db.Update(context.Background(), func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("fn of a canceled Update ran")
	}
}

// TestListUsesIndexes guards the query plans: a prefix or index filter must
// seek, not scan the whole table.
func TestListUsesIndexes(t *testing.T) {
	db := openTest(t)
	defer db.Close()
	for _, tc := range []struct {
		name string
		opts store.ListOptions
		want string
	}{
		{"prefix", store.ListOptions{Prefix: "d-"}, "key>? AND key<?"},
		{"prefix after", store.ListOptions{Prefix: "d-", After: "d-5"}, "key>? AND key<?"},
		{"index", store.ListOptions{Index: "app/group"}, "records_idx (kind=? AND idx=?)"},
		{"index after", store.ListOptions{Index: "app/group", After: "x"}, "records_idx (kind=? AND idx=? AND key>?)"},
		{"index prefix", store.ListOptions{IndexPrefix: "app/"}, "records_idx (kind=? AND idx>? AND idx<?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := buildList("SELECT key", "deployment", tc.opts, true)
			rows, err := db.rdb.Query("EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, tc.want) || strings.Contains(joined, "SCAN records") {
				t.Errorf("plan %q, want a search with %q", joined, tc.want)
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a", "b", true},
		{"a/", "a0", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"\xfe\xff", "\xff", true},
		{"\xff", "", false},
		{"\xff\xff", "", false},
		{"é", "é"[:1] + "\xaa", true},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
