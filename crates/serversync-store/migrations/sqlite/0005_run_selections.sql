-- serversync schema, version 5 (SQLite): the items an administrator ticked on a run's pages,
-- kept across pages until they review (per run and user, server-side: the pages have no
-- script).
--
-- Portable as written: PostgreSQL accepts the same statement (BIGINT, TEXT, composite
-- primary key, ON DELETE CASCADE).

CREATE TABLE run_selections (
    run_id   BIGINT NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    -- `{item index}:{action}` as the run page's checkboxes post it (`12:sync`).
    item_key TEXT NOT NULL,
    PRIMARY KEY (run_id, user_id, item_key)
);
