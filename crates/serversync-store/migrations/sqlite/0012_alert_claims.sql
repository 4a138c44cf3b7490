-- serversync schema, version 12 (SQLite): claims of alert events (issue 11). The daily drift
-- report is sent by the one instance whose claim of `daily-{YYYY-MM-DD}` was inserted first:
-- instances sharing a database that fire at the same moment send it once.
CREATE TABLE alert_claims (
    event_id   TEXT NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    -- The claiming instance (`<instance>:<pid>@<host>`), for diagnostics.
    holder     TEXT NOT NULL,
    -- RFC 3339 TEXT in UTC with a fixed 9-digit fraction, as in the other tables.
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (event_id, channel)
);
