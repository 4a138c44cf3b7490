-- serversync schema, version 6 (SQLite): sync jobs are rows, so that every instance on the
-- database sees a job another one runs (issue 10). Timestamps are RFC 3339 TEXT in UTC with
-- a fixed 9-digit fraction (text order is time order), as in the other tables.
CREATE TABLE sync_jobs (
    id          INTEGER PRIMARY KEY,
    server_id   BIGINT NOT NULL REFERENCES servers(id),
    -- The server's name when the job started, for the page.
    server_name TEXT NOT NULL,
    -- The instance running the job (its lease holder id); progress and finish compare it.
    holder      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    received    BIGINT NOT NULL DEFAULT 0,
    total       BIGINT NULL,
    run_id      BIGINT NULL,
    error       TEXT NULL,
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- A running job past this is one whose instance stopped renewing it.
    expires_at  TEXT NOT NULL
);

-- At most one running job per server, across every instance.
CREATE UNIQUE INDEX sync_jobs_one_running ON sync_jobs (server_id) WHERE state = 'running';
CREATE INDEX sync_jobs_server ON sync_jobs (server_id, id);
