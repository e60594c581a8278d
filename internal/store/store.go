// Package store is cutover's persistence seam: records of any kind, read and
// written in transactions, with a version per record for optimistic
// concurrency and leases for ownership of work across replicas. sqlite/ is
// the embedded implementation; storetest/ is the conformance suite every
// implementation must pass.
//
// Records are opaque to the store: services keep their own JSON in Data.
// Keys are unique within a kind; Index is one secondary key per record that
// List can filter on (for example "application/group" on deployments). Keys
// and index values are compared as raw bytes (they need not be UTF-8), so a
// backend must store them as bytes (PostgreSQL: bytea).
//
// Rules every implementation keeps (storetest checks them):
//   - View is one consistent snapshot (PostgreSQL: REPEATABLE READ READ ONLY).
//   - When an Update is not kept, the Records passed to Put come back exactly
//     as they were (version and times restored), so a retry starts clean.
//   - Lease epochs start at 1, stay the same on renewal by the holder and grow
//     on every change of hands, including re-acquisition after a release. A
//     lease is free from Expires on. ReleaseLease by another owner while the
//     lease is fresh is ErrLeaseHeld; releasing a free or unknown lease does
//     nothing. Leases lists leases that have an owner, expired ones included.
//     A ttl of zero or less is refused.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no record with that kind and key.
	ErrNotFound = errors.New("store: record not found")
	// ErrConflict: the record's version is not the one the writer read
	// (or it exists when the writer expected to create it).
	ErrConflict = errors.New("store: version conflict")
	// ErrLeaseHeld: another owner holds a fresh lease.
	ErrLeaseHeld = errors.New("store: lease held by another owner")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// Record is one stored item.
type Record struct {
	Kind  string
	Key   string
	Index string
	Data  []byte
	// Version is 0 for a record not yet stored; each successful Put makes it
	// one higher.
	Version int64
	// Created and Updated are set by the store (UTC).
	Created time.Time
	Updated time.Time
}

// ListOptions narrows List. Results are ordered by key.
type ListOptions struct {
	// Prefix keeps keys that start with it.
	Prefix string
	// Index keeps records whose Index equals it (exact match) when non-empty.
	Index string
	// IndexPrefix keeps records whose Index starts with it when non-empty.
	IndexPrefix string
	// After keeps keys strictly greater than it (paging).
	After string
	// Limit caps the result; 0 means no cap.
	Limit int
	// KeysOnly sets only Kind and Key in the results, for callers that page
	// through names or delete by key and need not pay for reading the rest.
	KeysOnly bool
}

// Tx reads and writes records inside one transaction. It is not safe for
// concurrent use and must not be kept after the function it was given to
// returns.
type Tx interface {
	// Get returns the record or ErrNotFound.
	Get(kind, key string) (*Record, error)
	// Put stores rec if rec.Version equals the stored version (0: must not
	// exist), else ErrConflict. On success rec.Version, Created and Updated
	// are updated in place.
	Put(rec *Record) error
	// Delete removes the record if version equals the stored version, or
	// unconditionally when version is -1. ErrNotFound if it does not exist.
	Delete(kind, key string, version int64) error
	// List returns the records of a kind that match opts.
	List(kind string, opts ListOptions) ([]*Record, error)
	// Count returns how many records of a kind match opts (Limit ignored).
	Count(kind string, opts ListOptions) (int, error)
}

// Lease is a named claim on a piece of work (a deployment, a watch rule, ...).
type Lease struct {
	Name    string
	Owner   string
	Expires time.Time
	// Epoch grows each time the lease changes owner, so a former owner can
	// tell that its claim was taken.
	Epoch int64
}

// Store is the whole persistence interface.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed durably before
	// Update returns nil. If fn returns an error nothing it did is kept.
	Update(ctx context.Context, fn func(Tx) error) error

	// AcquireLease takes or renews the named lease for owner until now+ttl.
	// It fails with ErrLeaseHeld while another owner's lease is unexpired.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
	// Leases lists the leases whose name starts with prefix.
	Leases(ctx context.Context, prefix string) ([]Lease, error)

	Close() error
}
