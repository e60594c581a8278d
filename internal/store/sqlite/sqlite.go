// Package sqlite is cutover's embedded store: store.Store on one SQLite file
// through modernc.org/sqlite (pure Go, no cgo).
//
// # Connections
//
// The file is in WAL mode, so readers never block the writer nor each other.
// View runs on a pool of read-only connections. Every write (Update and the
// lease calls) goes through one writer connection, because SQLite allows one
// writer at a time anyway and queueing in Go is cheaper and fairer than
// contending on the file lock with busy_timeout.
//
// # Group commit
//
// A durable commit costs a sync of the WAL, which dominates the cost of a
// small write. Concurrent writers are therefore batched: a writer goroutine
// takes every queued request, opens one transaction, gives each request its
// own SAVEPOINT in turn, and commits once. A request whose fn fails rolls
// back to its savepoint only, so the batch members are as isolated from
// each other's failures as separate transactions would be; the ones that
// succeeded share one commit. The sync itself is pipelined (see sync.go):
// it runs beside the next batch and covers every batch committed before it.
// An Update returns nil only after the commit that contains it is durable,
// and View never shows a commit that is not.
//
// fn runs on the caller's own goroutine (the transaction is handed over and
// back), so a panic in fn unwinds the caller as usual, after its savepoint is
// rolled back.
//
// # Nesting
//
// Calling Update (or AcquireLease, ReleaseLease) from inside an Update fn
// would wait for the writer the fn itself is holding. It is detected on the
// same goroutine and fails at once with ErrNestedUpdate. A nested call made
// from another goroutine that fn waits for cannot be detected; it blocks until
// its context ends, and the writer logs a warning while an fn holds it longer
// than a few seconds. View inside Update works, but reads the last committed
// state, not the fn's pending writes. View inside View takes a second read
// connection, so nesting deeper than the pool size waits for its context.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petermattis/goid"

	"github.com/cutover/cutover/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = store.ErrClosed
	// ErrNestedUpdate is returned when a write is started from inside an
	// Update fn on the same goroutine, which would otherwise deadlock.
	ErrNestedUpdate = errors.New("sqlite: Update called from inside an Update function")
	// ErrReadOnly is returned by writes attempted inside View.
	ErrReadOnly = errors.New("sqlite: write in a read-only transaction")
)

const (
	defaultBusyTimeout = 10 * time.Second
	defaultMaxBatch    = 256
	// slowFnWarning is how long one fn may hold the writer before we log,
	// since every other writer in the process is waiting on it.
	slowFnWarning = 5 * time.Second
)

// Option configures Open.
type Option func(*config)

type config struct {
	now         func() time.Time
	readConns   int
	maxBatch    int
	busyTimeout time.Duration
}

// WithClock sets the clock used for record timestamps and lease expiry.
// Tests inject a fake one; the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithReadConns sets the size of the read connection pool (default: the
// larger of 4 and GOMAXPROCS).
func WithReadConns(n int) Option {
	return func(c *config) { c.readConns = n }
}

// WithMaxBatch caps how many Update calls share one commit (default 256).
// 1 turns group commit off, which is only useful to measure it.
func WithMaxBatch(n int) Option {
	return func(c *config) { c.maxBatch = n }
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process on the same file (default 10s).
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Commits is the number of transactions committed.
	Commits int64
	// Writes is the number of Update (and lease) calls those commits held.
	Writes int64
	// Syncs is the number of WAL syncs that made those commits durable.
	Syncs int64
}

// DB is a store.Store on one SQLite file. It is safe for concurrent use.
type DB struct {
	log *slog.Logger
	cfg config

	rdb *sql.DB // read-only pool for View and Leases
	wdb *sql.DB // exactly one connection, owned by the writer goroutine
	w   *writerConn

	readStmts sync.Map // SQL text → *sql.Stmt prepared on rdb, or preparing{}
	// prepares are the background pool prepares (tx.go); Close waits for
	// them, since one may open a pool connection (and the database's
	// files) while Close runs. prepMu orders prepStop against new ones.
	prepMu   sync.Mutex
	prepStop bool
	prepares sync.WaitGroup

	queue      chan *request
	closing    chan struct{} // closed by Close: no new writes
	writerDone chan struct{} // closed when the writer goroutine has exited
	closeOnce  sync.Once
	closeErr   error

	// turnG is the id of the goroutine currently running an Update fn (0:
	// none), for ErrNestedUpdate.
	turnG atomic.Uint64

	commits atomic.Int64
	writes  atomic.Int64

	// commitSeq numbers commits; the writer advances it before each COMMIT,
	// so a reader that sees a commit's data sees its number too.
	commitSeq atomic.Int64
	syncer    *walSyncer
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the SQLite database at path and migrates
// it to the schema this binary knows. It fails with ErrSchemaTooNew if the
// file was migrated further by a newer binary.
func Open(ctx context.Context, path string, log *slog.Logger, opts ...Option) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Readers and the writer are separate connections, so they must
		// share a real file; a URI would bypass the pragmas set below.
		return nil, fmt.Errorf("sqlite: open %q: need a plain file path", path)
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: open %q: path must not contain '?'", path)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := config{
		now:         time.Now,
		readConns:   max(4, runtime.GOMAXPROCS(0)),
		maxBatch:    defaultMaxBatch,
		busyTimeout: defaultBusyTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.readConns < 1 || cfg.maxBatch < 1 || cfg.now == nil {
		return nil, fmt.Errorf("sqlite: open %q: invalid options", path)
	}
	log = log.With("store", "sqlite", "path", path)

	db := &DB{
		log:        log,
		cfg:        cfg,
		queue:      make(chan *request, cfg.maxBatch),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		syncer:     newWALSyncer(path),
	}
	if err := db.open(ctx, path); err != nil {
		db.closeConns()
		db.syncer.closeFile()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	go db.syncer.run()
	go db.writer()
	log.Debug("store opened", "read_conns", cfg.readConns, "max_batch", cfg.maxBatch)
	return db, nil
}

func (db *DB) open(ctx context.Context, path string) error {
	busy := strconv.FormatInt(db.cfg.busyTimeout.Milliseconds(), 10)

	// The writer sets the journal mode first: WAL is a property of the file,
	// and readers opened before it would take the rollback-journal path.
	// synchronous=NORMAL leaves the WAL sync of each commit to the syncer
	// (sync.go), which is what Update's durability promise rests on.
	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	wq.Add("_pragma", "foreign_keys(ON)")
	wdb, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return err
	}
	db.wdb = wdb
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		return err
	}
	db.w = &writerConn{conn: conn, stmts: map[string]*sql.Stmt{}}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	// The syncer's design rests on this setting (FULL would sync twice,
	// OFF would skip the syncs checkpoints need), so check it took rather
	// than trust the DSN.
	var sync int
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 1 { // NORMAL
		return fmt.Errorf("synchronous is %d, want 1 (NORMAL)", sync)
	}

	migs, err := loadMigrations(migrationFiles, "migration")
	if err != nil {
		return err
	}
	if err := migrate(ctx, conn, migs, db.log, db.cfg.now().UTC()); err != nil {
		return err
	}
	// Migrations commit outside the writer's batches: make them durable
	// before anything builds on them (no WAL file: nothing was written).
	if err := db.syncer.syncFile(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("after migrating: %w", err)
	}

	// query_only makes a write through View fail in SQLite too, not only in
	// our Tx wrapper.
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(ON)")
	rq.Add("_pragma", "query_only(ON)")
	rdb, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		return err
	}
	db.rdb = rdb
	// Keep read connections (and the statements prepared on them) for the
	// life of the store instead of reopening the file under load.
	rdb.SetMaxOpenConns(db.cfg.readConns)
	rdb.SetMaxIdleConns(db.cfg.readConns)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		return err
	}
	return nil
}

func (db *DB) now() time.Time { return db.cfg.now().UTC() }

// Stats reports the writer's counters; Writes/Commits is the average batch.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Writes: db.writes.Load(), Syncs: db.syncer.count()}
}

// View runs fn in a read-only transaction on one consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if fn == nil {
		return errors.New("sqlite: View with nil function")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.isClosed() {
		return ErrClosed
	}
	stx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		if db.isClosed() {
			return ErrClosed
		}
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	t := &tx{db: db, q: &readQuerier{ctx: ctx, tx: stx, db: db}, readOnly: true}
	err = func() error {
		// Nothing to commit; rolling back just ends the snapshot.
		defer func() { _ = stx.Rollback() }()
		defer t.finish()
		return fn(t)
	}()
	// Whatever the snapshot showed (found or not) must be durable before
	// the caller acts on it; commitSeq read now is at least the snapshot's.
	// The connection went back to the pool first: waiting holds nothing.
	if werr := db.syncer.await(ctx, db.commitSeq.Load()); werr != nil {
		return werr
	}
	return err
}

// Update runs fn in a read-write transaction and returns once it is durably
// committed (nil) or discarded (an error; fn's own error is returned as is).
// ctx bounds the wait for the writer; once fn has run, Update reports the
// real outcome of the commit even if ctx ends meanwhile.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if fn == nil {
		return errors.New("sqlite: Update with nil function")
	}
	return db.write(ctx, func(t *tx) error { return fn(t) })
}

func (db *DB) isClosed() bool {
	select {
	case <-db.closing:
		return true
	default:
		return false
	}
}

// Close stops accepting writes, lets the batch in progress finish, fails the
// writes still queued with ErrClosed and closes the file. It is idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		<-db.writerDone
		db.prepMu.Lock()
		db.prepStop = true
		db.prepMu.Unlock()
		db.prepares.Wait()
		db.closeErr = errors.Join(db.syncer.close(), db.closeConns())
		db.log.Debug("store closed", "commits", db.commits.Load(), "writes", db.writes.Load())
	})
	return db.closeErr
}

func (db *DB) closeConns() error {
	var errs []error
	db.readStmts.Range(func(_, v any) bool {
		if st, ok := v.(*sql.Stmt); ok {
			errs = append(errs, st.Close())
		}
		return true
	})
	if db.w != nil {
		errs = append(errs, db.w.close())
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
	}
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	return errors.Join(errs...)
}

// goroutineID returns the runtime's id of the calling goroutine. Go hides
// it on purpose; we need it only to turn a certain deadlock (a nested
// Update) into an error. It runs on every write, so it reads the id where
// the runtime keeps it (goid) when that agrees with the slow but certain
// parse of runtime.Stack, checked once per process.
func goroutineID() uint64 {
	if fastGoidWorks() {
		return uint64(goid.Get())
	}
	return stackGoroutineID()
}

// fastGoidWorks checks goid against stackGoroutineID on two goroutines: a
// future runtime that moved the field would make goid read garbage.
var fastGoidWorks = sync.OnceValue(func() bool {
	ok := make(chan bool)
	check := func() { ok <- goid.Get() > 0 && uint64(goid.Get()) == stackGoroutineID() }
	go check()
	go check()
	return <-ok && <-ok
})

// stackGoroutineID reads the id from the header line of runtime.Stack
// ("goroutine 123 [running]:").
func stackGoroutineID() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	s := strings.TrimPrefix(string(buf[:n]), "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		if id, err := strconv.ParseUint(s[:i], 10, 64); err == nil {
			return id
		}
	}
	return 0
}
