package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// request is one queued write. Its fn runs on the caller's goroutine; the
// channels hand the transaction over and the outcome back.
type request struct {
	ctx context.Context
	// turn: writer → caller, unbuffered. Receiving it means the caller's
	// savepoint is open and the caller alone may use the writer connection
	// until it sends on result.
	turn chan *tx
	// result: caller → writer, buffered. fn's error (errPanicked if it
	// panicked).
	result chan error
	// done: writer → caller, buffered. The final outcome: commit error, or
	// an error that prevented fn from running.
	done chan error
}

var errPanicked = errors.New("sqlite: Update function panicked")

// write queues fn for the writer and runs it when its turn comes.
func (db *DB) write(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.isClosed() {
		return ErrClosed
	}
	// Only pay for the goroutine id when someone is inside an fn right now.
	if g := db.turnG.Load(); g != 0 && g == goroutineID() {
		return ErrNestedUpdate
	}

	req := &request{
		ctx:    ctx,
		turn:   make(chan *tx),
		result: make(chan error, 1),
		done:   make(chan error, 1),
	}
	select {
	case db.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return ErrClosed
	}

	var t *tx
	select {
	case t = <-req.turn:
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The writer selects on the same ctx before handing the turn over,
		// so it will skip this request.
		return ctx.Err()
	case <-db.writerDone:
		// Close raced with the enqueue and the writer left without seeing
		// this request.
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}

	err := db.runTurn(req, t, fn)
	if err != nil {
		t.undo()
		return err
	}
	if err := <-req.done; err != nil {
		t.undo()
		return err
	}
	return nil
}

// runTurn runs fn with the writer's transaction and hands the outcome back
// to the writer, also when fn panics (then the panic continues after the
// writer has been told, so the batch goes on without this request).
func (db *DB) runTurn(req *request, t *tx, fn func(*tx) error) (err error) {
	db.turnG.Store(goroutineID())
	panicked := true
	defer func() {
		db.turnG.Store(0)
		t.finish()
		if panicked {
			t.undo()
			req.result <- errPanicked
			return // the panic keeps unwinding
		}
		req.result <- err
	}()
	err = fn(t)
	panicked = false
	return err
}

// writer is the only goroutine that starts and ends write transactions.
func (db *DB) writer() {
	defer close(db.writerDone)
	batch := make([]*request, 0, db.cfg.maxBatch)
	for {
		select {
		case r := <-db.queue:
			batch = append(batch[:0], r)
		case <-db.closing:
			db.failQueued()
			return
		}
		// Everything that queued up while the previous commit was syncing
		// joins this batch; no waiting for more, so a lone writer pays no
		// latency for group commit.
	fill:
		for len(batch) < db.cfg.maxBatch {
			select {
			case r := <-db.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
		clear(batch) // drop references to finished requests
	}
}

func (db *DB) failQueued() {
	for {
		select {
		case r := <-db.queue:
			r.done <- ErrClosed
		default:
			return
		}
	}
}

// commitBatch runs every request of batch in its own savepoint of one
// transaction and commits once.
func (db *DB) commitBatch(batch []*request) {
	w := db.w
	if err := db.syncer.failed(); err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}

	var timer *time.Timer
	kept := batch[:0:0]
	for i, r := range batch {
		if r.ctx.Err() != nil {
			continue // the caller has returned ctx.Err() already
		}
		if err := w.exec("SAVEPOINT w"); err != nil {
			db.abortBatch(kept, batch[i:], err)
			return
		}
		t := &tx{db: db, q: w}
		select {
		case r.turn <- t:
		case <-r.ctx.Done():
			if err := w.exec("RELEASE w"); err != nil {
				db.abortBatch(kept, batch[i+1:], err)
				return
			}
			continue
		}
		fnErr := db.awaitResult(r, &timer)
		if fnErr != nil {
			// The caller has its error already; only its savepoint goes.
			if err := w.exec("ROLLBACK TO w"); err != nil {
				db.abortBatch(kept, batch[i+1:], err)
				return
			}
		}
		// RELEASE also fails if SQLite had to roll the whole transaction
		// back under fn (disk full, I/O error): then the batch is lost and
		// everyone must hear so.
		if err := w.exec("RELEASE w"); err != nil {
			if fnErr == nil {
				kept = append(kept, r)
			}
			db.abortBatch(kept, batch[i+1:], err)
			return
		}
		if fnErr == nil {
			kept = append(kept, r)
		}
	}
	if timer != nil {
		timer.Stop()
	}

	if len(kept) == 0 {
		// Nothing to keep: skip the fsync.
		if err := w.exec("ROLLBACK"); err != nil {
			db.log.Error("rollback of empty batch failed", "err", err)
		}
		return
	}
	seq := db.commitSeq.Add(1)
	if cerr := w.exec("COMMIT"); cerr != nil {
		err := fmt.Errorf("sqlite: commit: %w", cerr)
		db.rollbackAfterFailure()
		db.log.Error("commit failed", "writes", len(kept), "err", cerr)
		for _, r := range kept {
			r.done <- err
		}
		// Readers may be waiting on seq; the syncer still has to pass it.
		db.syncer.add(syncBatch{seq: seq})
		return
	}
	db.commits.Add(1)
	db.writes.Add(int64(len(kept)))
	// The callers hear from the syncer once the WAL holding this commit is
	// durable; meanwhile the writer goes on with the next batch.
	db.syncer.add(syncBatch{seq: seq, reqs: kept})
}

// awaitResult waits for the caller running fn, warning now and then if it
// holds the writer for long: every other write in the process waits too.
func (db *DB) awaitResult(r *request, timer **time.Timer) error {
	select {
	case err := <-r.result:
		return err
	default:
	}
	if *timer == nil {
		*timer = time.NewTimer(slowFnWarning)
	} else {
		(*timer).Reset(slowFnWarning)
	}
	start := time.Now()
	for {
		select {
		case err := <-r.result:
			(*timer).Stop()
			return err
		case <-(*timer).C:
			db.log.Warn("an Update function is holding the writer; a nested Update from another goroutine deadlocks here",
				"held", time.Since(start).Round(time.Second))
			(*timer).Reset(slowFnWarning)
		}
	}
}

// abortBatch ends a batch whose transaction is in an unknown state: nothing
// of it is kept, the requests that ran and the ones still waiting all fail.
func (db *DB) abortBatch(ran, waiting []*request, cause error) {
	err := fmt.Errorf("sqlite: write batch aborted: %w", cause)
	db.log.Error("write batch aborted", "ran", len(ran), "waiting", len(waiting), "err", cause)
	db.rollbackAfterFailure()
	for _, r := range ran {
		r.done <- err
	}
	for _, r := range waiting {
		r.done <- err
	}
}

func (db *DB) rollbackAfterFailure() {
	// "no transaction is active" is fine here: SQLite may have rolled back
	// already. Anything else is worth a log line.
	if err := db.w.exec("ROLLBACK"); err != nil && !isNoTx(err) {
		db.log.Error("rollback failed", "err", err)
	}
}

func isNoTx(err error) bool {
	return err != nil && containsFold(err.Error(), "no transaction is active")
}

// writerConn is the single write connection with its prepared statements.
// Only the goroutine holding the turn (or the writer between turns) uses
// it; the channel hand-offs order those uses, so it needs no mutex.
type writerConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// Statements on the writer run with a background context on purpose:
// cancelling one caller must not interrupt a statement, because SQLite rolls
// back the whole transaction on an interrupted write, and that transaction
// holds other callers' work.
var writeCtx = context.Background()

func (w *writerConn) exec(query string, args ...any) error {
	st, err := w.stmt(query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(writeCtx, args...)
	return err
}

func (w *writerConn) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(writeCtx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writerConn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(writeCtx, args...)
}

func (w *writerConn) execResult(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(writeCtx, args...)
}

func (w *writerConn) close() error {
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, w.conn.Close())
	return errors.Join(errs...)
}
