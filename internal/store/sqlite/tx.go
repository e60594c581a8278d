package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// querier is what a tx needs from a connection: the writer connection, or
// one read transaction of the pool.
type querier interface {
	query(query string, args ...any) (*sql.Rows, error)
	execResult(query string, args ...any) (sql.Result, error)
}

// readQuerier runs statements of one View transaction, reusing statements
// prepared once per read connection.
type readQuerier struct {
	ctx context.Context
	tx  *sql.Tx
	db  *DB
}

func (r *readQuerier) stmt(query string) (*sql.Stmt, error) {
	if v, ok := r.db.readStmts.Load(query); ok {
		if st, ok := v.(*sql.Stmt); ok {
			return r.tx.StmtContext(r.ctx, st), nil
		}
	}
	// Not prepared on the pool yet. Preparing there needs a free connection
	// while this View holds one; with every connection held by a View doing
	// the same, none would ever come free. So this use prepares on the
	// transaction's own connection, and the pool's statement is prepared in
	// the background for the next ones.
	r.db.preparePooled(query)
	return r.tx.PrepareContext(r.ctx, query)
}

// preparing marks a query whose pool statement is being prepared.
type preparing struct{}

func (db *DB) preparePooled(query string) {
	db.prepMu.Lock()
	defer db.prepMu.Unlock()
	if db.prepStop {
		return
	}
	if _, loaded := db.readStmts.LoadOrStore(query, preparing{}); loaded {
		return
	}
	db.prepares.Add(1)
	go func() {
		defer db.prepares.Done()
		st, err := db.rdb.PrepareContext(context.Background(), query)
		if err != nil {
			db.readStmts.Delete(query) // a later use tries again
			return
		}
		db.readStmts.Store(query, st)
	}()
}

func (r *readQuerier) query(query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(r.ctx, args...)
}

func (r *readQuerier) execResult(string, ...any) (sql.Result, error) {
	return nil, ErrReadOnly
}

// undoEntry remembers what Put changed in a caller's Record, so a write that
// is not kept leaves the caller's copy as it was and a retry starts from the
// version actually stored.
type undoEntry struct {
	rec              *store.Record
	version          int64
	created, updated time.Time
}

// tx implements store.Tx over a querier.
type tx struct {
	db       *DB
	q        querier
	readOnly bool
	done     atomic.Bool
	undoLog  []undoEntry
}

var errTxDone = errors.New("sqlite: transaction used after its function returned")

// finish makes the tx unusable: a leaked Tx on the writer connection would
// otherwise write into somebody else's transaction.
func (t *tx) finish() { t.done.Store(true) }

// undo restores the Records Put changed, newest first.
func (t *tx) undo() {
	for i := len(t.undoLog) - 1; i >= 0; i-- {
		u := t.undoLog[i]
		u.rec.Version, u.rec.Created, u.rec.Updated = u.version, u.created, u.updated
	}
	t.undoLog = nil
}

func (t *tx) check(write bool) error {
	if t.done.Load() {
		return errTxDone
	}
	if write && t.readOnly {
		return ErrReadOnly
	}
	return nil
}

func (t *tx) Get(kind, key string) (*store.Record, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	rows, err := t.q.query(`SELECT key, idx, data, version, created, updated FROM records WHERE kind = ?1 AND key = ?2`, kind, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %q: %w", kind, key, err)
	}
	recs, err := scanRecords(kind, rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %q: %w", kind, key, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: %s %q", store.ErrNotFound, kind, key)
	}
	return recs[0], nil
}

func (t *tx) Put(rec *store.Record) error {
	if err := t.check(true); err != nil {
		return err
	}
	if rec == nil {
		return errors.New("sqlite: put nil record")
	}
	if rec.Kind == "" || rec.Key == "" {
		return fmt.Errorf("sqlite: put %s %q: kind and key must not be empty", rec.Kind, rec.Key)
	}
	data := rec.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; nil and empty mean the same
	}
	now := t.db.now()
	before := undoEntry{rec: rec, version: rec.Version, created: rec.Created, updated: rec.Updated}

	if rec.Version == 0 {
		res, err := t.q.execResult(`INSERT INTO records (kind, key, idx, data, version, created, updated)
			VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5) ON CONFLICT (kind, key) DO NOTHING`,
			rec.Kind, rec.Key, rec.Index, data, now.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite: put %s %q: %w", rec.Kind, rec.Key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: put %s %q: %w", rec.Kind, rec.Key, err)
		} else if n == 0 {
			return fmt.Errorf("%w: %s %q already exists", store.ErrConflict, rec.Kind, rec.Key)
		}
		t.undoLog = append(t.undoLog, before)
		rec.Version, rec.Created, rec.Updated = 1, now, now
		return nil
	}

	rows, err := t.q.query(`UPDATE records SET idx = ?3, data = ?4, version = version + 1, updated = ?5
		WHERE kind = ?1 AND key = ?2 AND version = ?6 RETURNING version, created`,
		rec.Kind, rec.Key, rec.Index, data, now.UnixNano(), rec.Version)
	if err != nil {
		return fmt.Errorf("sqlite: put %s %q: %w", rec.Kind, rec.Key, err)
	}
	var (
		version, created int64
		found            bool
	)
	for rows.Next() {
		if err := rows.Scan(&version, &created); err != nil {
			_ = rows.Close()
			return fmt.Errorf("sqlite: put %s %q: %w", rec.Kind, rec.Key, err)
		}
		found = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: put %s %q: %w", rec.Kind, rec.Key, err)
	}
	if !found {
		return fmt.Errorf("%w: %s %q is not at version %d", store.ErrConflict, rec.Kind, rec.Key, rec.Version)
	}
	t.undoLog = append(t.undoLog, before)
	rec.Version, rec.Created, rec.Updated = version, fromNanos(created), now
	return nil
}

func (t *tx) Delete(kind, key string, version int64) error {
	if err := t.check(true); err != nil {
		return err
	}
	res, err := t.q.execResult(`DELETE FROM records WHERE kind = ?1 AND key = ?2 AND (?3 = -1 OR version = ?3)`, kind, key, version)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", kind, key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", kind, key, err)
	}
	if n > 0 {
		return nil
	}
	// Nothing deleted: tell "gone" from "changed since you read it".
	if _, err := t.Get(kind, key); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s %q is not at version %d", store.ErrConflict, kind, key, version)
}

func (t *tx) List(kind string, opts store.ListOptions) ([]*store.Record, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	sel, scan := "SELECT key, idx, data, version, created, updated", scanRecords
	if opts.KeysOnly {
		// One column instead of six: the driver's cost is per column.
		sel, scan = "SELECT key", scanKeys
	}
	query, args := buildList(sel, kind, opts, true)
	rows, err := t.q.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", kind, err)
	}
	recs, err := scan(kind, rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", kind, err)
	}
	return recs, nil
}

func (t *tx) Count(kind string, opts store.ListOptions) (int, error) {
	if err := t.check(false); err != nil {
		return 0, err
	}
	query, args := buildList("SELECT count(*)", kind, opts, false)
	rows, err := t.q.query(query, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", kind, err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: count %s: %w", kind, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", kind, err)
	}
	return n, nil
}

// buildList writes the query for List and Count. Prefixes become half-open
// ranges rather than LIKE, so they seek in an index and treat '%', '_' and
// any byte literally. The SQL text depends only on which options are set,
// so the few shapes there are get prepared once and reused.
func buildList(sel, kind string, opts store.ListOptions, ordered bool) (string, []any) {
	var b strings.Builder
	b.WriteString(sel)
	b.WriteString(" FROM records WHERE kind = ?1")
	args := []any{kind}
	arg := func(v any) string {
		args = append(args, v)
		return "?" + strconv.Itoa(len(args))
	}
	if opts.Prefix != "" {
		b.WriteString(" AND key >= " + arg(opts.Prefix))
		if end, ok := prefixEnd(opts.Prefix); ok {
			b.WriteString(" AND key < " + arg(end))
		}
	}
	if opts.Index != "" {
		b.WriteString(" AND idx = " + arg(opts.Index))
	}
	if opts.IndexPrefix != "" {
		b.WriteString(" AND idx >= " + arg(opts.IndexPrefix))
		if end, ok := prefixEnd(opts.IndexPrefix); ok {
			b.WriteString(" AND idx < " + arg(end))
		}
	}
	if opts.After != "" {
		b.WriteString(" AND key > " + arg(opts.After))
	}
	if ordered {
		b.WriteString(" ORDER BY key")
		if opts.Limit > 0 {
			b.WriteString(" LIMIT " + arg(opts.Limit))
		}
	}
	return b.String(), args
}

// prefixEnd returns the smallest string greater than every string that
// starts with p, in byte order: p with trailing 0xff bytes dropped and the
// last remaining byte incremented. ok is false when there is none (p is all
// 0xff bytes), and then the range has no upper bound.
func prefixEnd(p string) (end string, ok bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

func scanRecords(kind string, rows *sql.Rows) ([]*store.Record, error) {
	defer rows.Close()
	recs := []*store.Record{}
	for rows.Next() {
		var (
			r                store.Record
			created, updated int64
		)
		// Scanning into *[]byte copies, so Data does not alias driver memory.
		if err := rows.Scan(&r.Key, &r.Index, &r.Data, &r.Version, &created, &updated); err != nil {
			return nil, err
		}
		r.Kind = kind
		r.Created, r.Updated = fromNanos(created), fromNanos(updated)
		recs = append(recs, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

func scanKeys(kind string, rows *sql.Rows) ([]*store.Record, error) {
	defer rows.Close()
	recs := []*store.Record{}
	for rows.Next() {
		r := &store.Record{Kind: kind}
		if err := rows.Scan(&r.Key); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}
