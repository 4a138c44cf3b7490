-- serversync schema, version 3 (SQLite): server locks become leases with a checkable owner,
-- and the first-run setup token is one row in the database.
--
-- Portable like 0001_initial.sql. What PostgreSQL needs instead of this file:
--   * Timestamps are RFC 3339 TEXT in UTC with a fixed 9-digit fraction; `expires_at` is
--     compared with `<` against the current time: compare with `COLLATE "C"` or store
--     TIMESTAMPTZ. Take "now" from the database (`now()`), not from each host's clock.
--   * `CHECK (id = 1)` keeps `setup_token` at one row in both.
--   * `DROP TABLE` then `CREATE TABLE` is accepted by both.

-- Locks are short-lived (seconds): the old rows (holder + taken_at, an hour to go stale) are
-- dropped rather than converted.
DROP TABLE server_locks;
CREATE TABLE server_locks (
    server_id  BIGINT NOT NULL PRIMARY KEY,
    -- Unique holder id (`<instance>:<pid>@<host>`); renew and release compare it.
    holder     TEXT NOT NULL,
    -- Who acts (`cli:alice`), for messages and `locks list`.
    actor      TEXT NOT NULL,
    host       TEXT NOT NULL,
    -- Boot id + pid namespace where `pid` is meaningful, the pid and its start time in clock
    -- ticks after boot; NULL where the holder's system could not tell.
    machine    TEXT NULL,
    pid        BIGINT NULL,
    pid_start  BIGINT NULL,
    taken_at   TEXT NOT NULL,
    -- The lease runs out here unless renewed; then anyone may take it over.
    expires_at TEXT NOT NULL
);

-- The one-time first-run setup link's token (its SHA-256 hex hash): at most one row, created
-- insert-if-absent while no administrator exists, deleted in the transaction that creates
-- the first administrator with it.
CREATE TABLE setup_token (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
