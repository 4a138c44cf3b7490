-- serversync schema (PostgreSQL), version 5: typed timestamps and JSON.
--
-- Version 1 stored every timestamp as RFC 3339 TEXT COLLATE "C" (UTC, fixed 9-digit
-- fraction, so text order was time order) and every JSON document as TEXT, as SQLite does.
-- They become what PostgreSQL has for them: timestamps `timestamptz` (compared as time,
-- microsecond precision: a stored 9-digit fraction is rounded to 6), JSON documents `jsonb`
-- (checked on write). The text already stored is converted in place; indexes on these
-- columns are rebuilt by ALTER TABLE. (0004 made `sync_jobs`, converted here too.)

ALTER TABLE sync_runs
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING finished_at::timestamptz,
    ALTER COLUMN applied_at TYPE timestamptz USING applied_at::timestamptz,
    ALTER COLUMN accounts TYPE jsonb USING accounts::jsonb,
    ALTER COLUMN skipped TYPE jsonb USING skipped::jsonb,
    ALTER COLUMN analysis_json TYPE jsonb USING analysis_json::jsonb,
    ALTER COLUMN counts_json TYPE jsonb USING counts_json::jsonb,
    ALTER COLUMN service_versions TYPE jsonb USING service_versions::jsonb;

ALTER TABLE audit_events
    ALTER COLUMN at TYPE timestamptz USING at::timestamptz,
    ALTER COLUMN before_json TYPE jsonb USING before_json::jsonb,
    ALTER COLUMN after_json TYPE jsonb USING after_json::jsonb;

ALTER TABLE products
    ALTER COLUMN config_options TYPE jsonb USING config_options::jsonb;

ALTER TABLE services
    ALTER COLUMN custom_fields TYPE jsonb USING custom_fields::jsonb;

ALTER TABLE server_locks
    ALTER COLUMN taken_at TYPE timestamptz USING taken_at::timestamptz,
    ALTER COLUMN expires_at TYPE timestamptz USING expires_at::timestamptz;

ALTER TABLE admin_users
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE sessions
    ALTER COLUMN expires_at TYPE timestamptz USING expires_at::timestamptz,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE api_tokens
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN last_used_at TYPE timestamptz USING last_used_at::timestamptz;

ALTER TABLE setup_token
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE sync_jobs
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz,
    ALTER COLUMN expires_at TYPE timestamptz USING expires_at::timestamptz;
