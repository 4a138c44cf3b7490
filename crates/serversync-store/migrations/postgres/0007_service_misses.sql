-- serversync schema (PostgreSQL), version 7: the miss counter (issue 11). One row per
-- service that the latest complete listing of its server did not contain: how many complete
-- listings in a row missed it, and the run that counted last. A service whose account is
-- listed again has no row (its count is 0). Written in the transaction that stores the run;
-- failed and incomplete listings leave the table alone.
CREATE TABLE service_misses (
    service_id  BIGINT NOT NULL PRIMARY KEY,
    server_id   BIGINT NOT NULL REFERENCES servers (id),
    misses      BIGINT NOT NULL CHECK (misses > 0),
    -- No reference to sync_runs: pruning old runs must not depend on this table.
    last_run_id BIGINT NOT NULL
);
CREATE INDEX service_misses_server ON service_misses (server_id);
