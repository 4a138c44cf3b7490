-- serversync schema (PostgreSQL), version 11: claims of alert events (issue 11). The daily
-- drift report is sent by the one instance whose claim of `daily-{YYYY-MM-DD}` was inserted
-- first: instances sharing a database that fire at the same moment send it once.
CREATE TABLE alert_claims (
    event_id   TEXT COLLATE "C" NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    -- The claiming instance (`<instance>:<pid>@<host>`), for diagnostics.
    holder     TEXT NOT NULL,
    claimed_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, channel)
);
