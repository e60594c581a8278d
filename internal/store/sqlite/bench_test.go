package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cutover/cutover/internal/store"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/store/sqlite/

// payload is about the size of a stored deployment.
var payload = []byte(fmt.Sprintf(`{"deploymentId":"d-ABCDEFGHI","status":"InProgress","pad":%q}`, make([]byte, 400)))

func seed(b *testing.B, db *DB, n int) {
	b.Helper()
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			rec := &store.Record{Kind: "deployment", Key: fmt.Sprintf("d-%06d", i), Index: fmt.Sprintf("app-%d/group", i%10), Data: payload}
			if err := tx.Put(rec); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGet reads random records from all CPUs at once: the read pool.
func BenchmarkGet(b *testing.B) {
	db := openTest(b)
	defer db.Close()
	const n = 1000
	seed(b, db, n)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("d-%06d", rand.IntN(n))
			if err := db.View(ctx, func(tx store.Tx) error {
				_, err := tx.Get("deployment", key)
				return err
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

// BenchmarkUpdateSerial is one writer doing read-modify-write: every Update
// pays a full fsync.
func BenchmarkUpdateSerial(b *testing.B) {
	db := openTest(b)
	defer db.Close()
	seed(b, db, 1)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := db.Update(ctx, func(tx store.Tx) error {
			r, err := tx.Get("deployment", "d-000000")
			if err != nil {
				return err
			}
			return tx.Put(r)
		}); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

// BenchmarkUpdateParallel is 8 goroutines each updating its own record.
// "group" is the default; "no-group" caps batches at one write to show what
// group commit buys.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{
		{"group", defaultMaxBatch},
		{"no-group", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const workers = 8
			db := openTest(b, WithMaxBatch(bc.maxBatch))
			defer db.Close()
			seed(b, db, workers)
			ctx := context.Background()
			var next atomic.Int64
			before := db.Stats()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				key := fmt.Sprintf("d-%06d", w)
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := db.Update(ctx, func(tx store.Tx) error {
							r, err := tx.Get("deployment", key)
							if err != nil {
								return err
							}
							return tx.Put(r)
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportOps(b)
			after := db.Stats()
			if c := after.Commits - before.Commits; c > 0 {
				b.ReportMetric(float64(after.Writes-before.Writes)/float64(c), "writes/commit")
			}
			if n := after.Syncs - before.Syncs; n > 0 {
				b.ReportMetric(float64(after.Writes-before.Writes)/float64(n), "writes/sync")
			}
		})
	}
}

// BenchmarkList100 lists 100 records by exact index out of 1000.
func BenchmarkList100(b *testing.B) {
	db := openTest(b)
	defer db.Close()
	seed(b, db, 1000)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := db.View(ctx, func(tx store.Tx) error {
			recs, err := tx.List("deployment", store.ListOptions{Index: "app-3/group"})
			if err != nil {
				return err
			}
			if len(recs) != 100 {
				return fmt.Errorf("listed %d", len(recs))
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}
