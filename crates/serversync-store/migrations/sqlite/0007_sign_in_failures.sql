-- serversync schema, version 7 (SQLite): failed sign-ins are counted in the database, so
-- that the sign-in throttle holds across every instance sharing it (issue 10). One row per
-- throttle key (lower-cased user name and client address or /64), deleted on a successful
-- sign-in; a count whose last failure is older than the throttle's memory starts again.
CREATE TABLE sign_in_failures (
    key      TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    -- RFC 3339 TEXT in UTC with a fixed 9-digit fraction, as in the other tables.
    last_at  TEXT NOT NULL
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_at);
