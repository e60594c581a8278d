package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// The writer commits with synchronous=NORMAL, which in WAL mode writes a
// commit's frames to the WAL without syncing it, and hands the committed
// batch to the syncer. The syncer syncs the WAL file itself and only then
// acknowledges the batch's writes. So the writer runs the next batch while
// the previous one's sync is in flight, and one sync covers every batch
// committed since the last: with many writers the number of syncs per
// second stays what the disk allows while the writes per sync grow.
//
// Durability is unchanged from synchronous=FULL where it matters: Update
// returns nil only after a sync that started after its commit, and a sync
// of the WAL makes every earlier frame durable too, so acknowledgements are
// in commit order. SQLite itself keeps the file consistent in NORMAL mode
// (a crash loses at most unsynced commits, never atomicity), and
// checkpoints sync the WAL before copying it into the database file.
//
// Readers could otherwise see a commit in the short window before its sync
// and act on a state that a power cut would then take back. View therefore
// waits, when writes are in flight, until everything committed before its
// snapshot is durable.

// syncData is datasync; tests replace it to hold or fail syncs.
var syncData = datasync

// syncBatch is one committed batch waiting for its sync.
type syncBatch struct {
	seq  int64
	reqs []*request
}

type walSyncer struct {
	path string
	f    *os.File // opened at the first sync: the WAL exists once a commit has run

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending grows or stop is set
	pending []syncBatch
	stop    bool
	// synced is the highest commit sequence known durable; advanced is
	// closed and replaced whenever it moves, for waiting readers.
	synced   int64
	syncedA  atomic.Int64 // synced, for await's lock-free fast path
	advanced chan struct{}
	// err is sticky: after a failed sync nothing about the WAL's contents on
	// disk is certain (the kernel may have dropped the dirty pages), so the
	// store refuses further writes until it is reopened and SQLite recovers.
	err  error
	done chan struct{}

	syncs int64 // under mu
}

func newWALSyncer(dbPath string) *walSyncer {
	s := &walSyncer{path: dbPath + "-wal", advanced: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// add queues a committed batch; it never blocks on the sync in progress.
func (s *walSyncer) add(b syncBatch) {
	s.mu.Lock()
	s.pending = append(s.pending, b)
	s.mu.Unlock()
	s.cond.Signal()
}

// failed is the sticky sync error, if any.
func (s *walSyncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// run syncs and acknowledges batches until close is called and nothing is
// pending.
func (s *walSyncer) run() {
	defer close(s.done)
	var batches []syncBatch
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.stop {
			s.cond.Wait()
		}
		if len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		batches, s.pending = s.pending, batches[:0]
		failed := s.err
		s.mu.Unlock()

		err := failed
		if err == nil {
			err = s.syncFile()
		}
		s.mu.Lock()
		s.syncs++
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("sqlite: syncing the WAL failed, writes are refused until the store is reopened: %w", err)
			err = s.err
		}
		if err == nil {
			s.synced = batches[len(batches)-1].seq
			s.syncedA.Store(s.synced)
		}
		close(s.advanced)
		s.advanced = make(chan struct{})
		s.mu.Unlock()

		for _, b := range batches {
			for _, r := range b.reqs {
				r.done <- err
			}
		}
		clear(batches)
	}
}

func (s *walSyncer) syncFile() error {
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open WAL: %w", err)
		}
		s.f = f
	}
	if err := syncData(s.f); err != nil {
		return fmt.Errorf("sync WAL: %w", err)
	}
	return nil
}

// await returns once every commit up to seq is durable, or a sync failed
// before it was (the sticky error), or ctx ended.
func (s *walSyncer) await(ctx context.Context, seq int64) error {
	if s.syncedA.Load() >= seq {
		return nil // the usual case: no write in flight
	}
	s.mu.Lock()
	for s.synced < seq && s.err == nil {
		ch := s.advanced
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	err := s.err
	s.mu.Unlock()
	return err
}

// close lets the pending batches be synced, stops run and closes the file.
func (s *walSyncer) close() error {
	s.mu.Lock()
	s.stop = true
	s.mu.Unlock()
	s.cond.Signal()
	<-s.done
	return s.closeFile()
}

// closeFile closes the WAL handle; alone, it is for an Open that failed
// before run started.
func (s *walSyncer) closeFile() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

func (s *walSyncer) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}
