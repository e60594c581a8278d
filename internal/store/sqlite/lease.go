package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// AcquireLease takes or renews the named lease for owner until now+ttl, now
// being the store's clock. Taking a lease from a different owner (after it
// expired or was released) increments Epoch; renewing keeps it. It goes
// through the writer like any Update, so it is durable when it returns.
func (db *DB) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (store.Lease, error) {
	if name == "" || owner == "" {
		return store.Lease{}, errors.New("sqlite: acquire lease: name and owner must not be empty")
	}
	if ttl <= 0 {
		return store.Lease{}, fmt.Errorf("sqlite: acquire lease %q: ttl %s is not positive", name, ttl)
	}
	var lease store.Lease
	err := db.write(ctx, func(t *tx) error {
		now := db.now()
		// One statement decides and writes: the WHERE of the upsert is the
		// "may this owner have it" rule, and no row back means refused.
		// SQLite evaluates every SET expression against the old row, so the
		// epoch CASE sees the previous owner.
		rows, err := t.q.query(`INSERT INTO leases (name, owner, expires, epoch) VALUES (?1, ?2, ?3, 1)
			ON CONFLICT (name) DO UPDATE SET
				owner = excluded.owner,
				expires = excluded.expires,
				epoch = CASE WHEN leases.owner = excluded.owner THEN leases.epoch ELSE leases.epoch + 1 END
			WHERE leases.owner = excluded.owner OR leases.owner = '' OR leases.expires <= ?4
			RETURNING epoch`,
			name, owner, now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite: acquire lease %q: %w", name, err)
		}
		var epoch int64
		found := false
		for rows.Next() {
			if err := rows.Scan(&epoch); err != nil {
				_ = rows.Close()
				return fmt.Errorf("sqlite: acquire lease %q: %w", name, err)
			}
			found = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: acquire lease %q: %w", name, err)
		}
		if !found {
			holder, err := t.lease(name)
			if err != nil {
				return fmt.Errorf("sqlite: acquire lease %q: %w", name, err)
			}
			return fmt.Errorf("%w: %q is held by %q until %s", store.ErrLeaseHeld, name,
				holder.Owner, holder.Expires.Format(time.RFC3339Nano))
		}
		lease = store.Lease{Name: name, Owner: owner, Expires: fromNanos(now.Add(ttl).UnixNano()), Epoch: epoch}
		return nil
	})
	if err != nil {
		return store.Lease{}, err
	}
	return lease, nil
}

// ReleaseLease gives the lease up if owner holds it, so that another owner
// can take it before it expires. Releasing a lease that is free, expired or
// unknown is a no-op; releasing one another owner holds fresh fails with
// ErrLeaseHeld and changes nothing. The row stays (with no owner) so that the
// epoch keeps counting up.
func (db *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" || owner == "" {
		return errors.New("sqlite: release lease: name and owner must not be empty")
	}
	return db.write(ctx, func(t *tx) error {
		now := db.now()
		res, err := t.q.execResult(`UPDATE leases SET owner = '', expires = ?3 WHERE name = ?1 AND owner = ?2`,
			name, owner, now.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite: release lease %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			if err != nil {
				return fmt.Errorf("sqlite: release lease %q: %w", name, err)
			}
			return nil
		}
		holder, err := t.lease(name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: release lease %q: %w", name, err)
		}
		if holder.Owner != "" && holder.Expires.After(now) {
			return fmt.Errorf("%w: %q is held by %q, not %q", store.ErrLeaseHeld, name, holder.Owner, owner)
		}
		return nil
	})
}

// Leases lists, by name, the leases under prefix that have an owner. Expired
// leases are included (their owner has not released them); compare Expires
// with the clock to tell.
func (db *DB) Leases(ctx context.Context, prefix string) ([]store.Lease, error) {
	var out []store.Lease
	err := db.View(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		query := `SELECT name, owner, expires, epoch FROM leases WHERE owner != '' AND name >= ?1`
		args := []any{prefix}
		if end, ok := prefixEnd(prefix); ok && prefix != "" {
			query += ` AND name < ?2`
			args = append(args, end)
		}
		rows, err := t.q.query(query+` ORDER BY name`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []store.Lease{}
		for rows.Next() {
			var (
				l       store.Lease
				expires int64
			)
			if err := rows.Scan(&l.Name, &l.Owner, &expires, &l.Epoch); err != nil {
				return err
			}
			l.Expires = fromNanos(expires)
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: list leases %q: %w", prefix, err)
	}
	return out, nil
}

// lease reads one lease row inside the writer's transaction.
func (t *tx) lease(name string) (store.Lease, error) {
	rows, err := t.q.query(`SELECT owner, expires, epoch FROM leases WHERE name = ?1`, name)
	if err != nil {
		return store.Lease{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.Lease{}, err
		}
		return store.Lease{}, store.ErrNotFound
	}
	l := store.Lease{Name: name}
	var expires int64
	if err := rows.Scan(&l.Owner, &expires, &l.Epoch); err != nil {
		return store.Lease{}, err
	}
	l.Expires = fromNanos(expires)
	return l, rows.Err()
}
