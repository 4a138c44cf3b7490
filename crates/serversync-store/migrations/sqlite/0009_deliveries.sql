-- serversync schema, version 9 (SQLite): the delivery log of alerts (issue 11). One row per
-- attempt to deliver one alert event to one target (a webhook URL shown without its user
-- information, path and query, or the e-mail recipients), with the HTTP status or the error.
CREATE TABLE alert_deliveries (
    id        INTEGER PRIMARY KEY,
    -- `{run id}-{kind}` for run events, `daily-{YYYY-MM-DD}` for the daily report.
    event_id  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    channel   TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    -- No foreign key: the log outlives what it names and never blocks a server's removal.
    server_id BIGINT NULL,
    target    TEXT NOT NULL,
    attempt   BIGINT NOT NULL,
    status    BIGINT NULL,
    error     TEXT NULL,
    delivered BOOLEAN NOT NULL,
    -- RFC 3339 TEXT in UTC with a fixed 9-digit fraction, as in the other tables.
    at        TEXT NOT NULL
);
CREATE INDEX alert_deliveries_event ON alert_deliveries (event_id, channel);
