package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer cutover than this one: running old code on a newer schema could
// silently drop what the newer code relies on, so we refuse instead.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this binary")

//go:embed migration/*.sql
var migrationFiles embed.FS

// migration is one numbered SQL file, e.g. migration/0001_init.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads every *.sql file of dir in fsys. File names are
// NNNN_description.sql; versions must run 1, 2, 3, ... without gaps or
// duplicates, because a gap almost always means a file was lost in a merge.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	migs := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", base)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: %q is not a positive version number", base, num)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", base, err)
		}
		migs = append(migs, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i, m := range migs {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d (versions must be contiguous from 1)", m.name, i+1)
		}
	}
	return migs, nil
}

// migrate brings the database up to the last of migs. Everything happens in
// one IMMEDIATE transaction: the schema moves from one known version to
// another or not at all, and two processes opening the same file at once
// cannot both apply a migration.
func migrate(ctx context.Context, conn *sql.Conn, migs []migration, log *slog.Logger, now time.Time) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			// The transaction may already be gone (SQLite rolls back on some
			// errors by itself); the original error is the one that matters.
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()

	const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER NOT NULL PRIMARY KEY,
		name    TEXT    NOT NULL,
		applied INTEGER NOT NULL -- unix nanoseconds, UTC
	)`
	if _, err := conn.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := len(migs)
	if current > latest {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d", ErrSchemaTooNew, current, latest)
	}
	for _, m := range migs[current:] {
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
			m.version, m.name, now.UnixNano()); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
		log.Info("applied schema migration", "version", m.version, "name", m.name)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}
