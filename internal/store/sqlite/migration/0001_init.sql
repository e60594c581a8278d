-- 0001: records and leases.
--
-- Keys and index values are TEXT compared with the BINARY collation (memcmp),
-- so ORDER BY key is Go's byte order and a prefix is a half-open key range
-- that the primary key and records_idx can seek into.

CREATE TABLE records (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	idx     TEXT    NOT NULL DEFAULT '',
	data    BLOB    NOT NULL,
	version INTEGER NOT NULL CHECK (version > 0),
	created INTEGER NOT NULL, -- unix nanoseconds, UTC
	updated INTEGER NOT NULL, -- unix nanoseconds, UTC
	PRIMARY KEY (kind, key)
);

-- key is the last column so an exact Index match comes back already in key
-- order, without a sort.
CREATE INDEX records_idx ON records (kind, idx, key);

-- A released lease keeps its row (owner '') so that its epoch keeps growing:
-- a later owner must never reuse an epoch a former owner saw.
CREATE TABLE leases (
	name    TEXT    NOT NULL PRIMARY KEY,
	owner   TEXT    NOT NULL,
	expires INTEGER NOT NULL, -- unix nanoseconds, UTC
	epoch   INTEGER NOT NULL
);
