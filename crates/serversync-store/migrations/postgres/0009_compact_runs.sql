-- serversync schema, version 9 (PostgreSQL): compact stored runs (issue 11). A run's remote
-- list and its stored analysis are zstd frames of their JSON text (`src/compact.rs`) instead
-- of jsonb columns: a 100,000-account run took ~74 MB as JSON. New runs leave `accounts` as
-- '[]' and `analysis_json` NULL; runs stored before keep their jsonb columns and read as
-- before (the reader takes the compressed column when it is set).
ALTER TABLE sync_runs ADD COLUMN accounts_zstd bytea NULL;
ALTER TABLE sync_runs ADD COLUMN analysis_zstd bytea NULL;
