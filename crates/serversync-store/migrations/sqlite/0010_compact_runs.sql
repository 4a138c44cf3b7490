-- serversync schema, version 10 (SQLite): compact stored runs (issue 11). A run's remote list
-- and its stored analysis are zstd frames of their JSON text (`src/compact.rs`) instead of
-- JSON columns: a 100,000-account run took ~74 MB as JSON. New runs leave `accounts` as '[]'
-- and `analysis_json` NULL; runs stored before keep their JSON columns and read as before
-- (the reader takes the compressed column when it is set).
ALTER TABLE sync_runs ADD COLUMN accounts_zstd BLOB NULL;
ALTER TABLE sync_runs ADD COLUMN analysis_zstd BLOB NULL;
