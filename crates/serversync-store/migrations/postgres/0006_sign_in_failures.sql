-- serversync schema (PostgreSQL), version 6: failed sign-ins are counted in the database,
-- so that the sign-in throttle holds across every instance sharing it. One row per throttle
-- key (lower-cased user name and client address or /64), deleted on a successful sign-in; a
-- count whose last failure is older than the throttle's memory starts again.
CREATE TABLE sign_in_failures (
    key      TEXT COLLATE "C" PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_at  timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_at);
