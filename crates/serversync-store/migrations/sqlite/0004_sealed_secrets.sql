-- serversync schema, version 4: server secrets are encrypted at rest (see src/secrets.rs).
--
-- `secrets_sealed` tells the stored form of `password` and `access_hash`: 0 = plain text
-- (rows of older databases; encrypted by the store on its next open), 1 = the `v1:` form.
-- A column rather than a guess from the value, because a plain-text password may itself
-- begin with `v1:`. Portable as is to PostgreSQL.
ALTER TABLE servers ADD COLUMN secrets_sealed INTEGER NOT NULL DEFAULT 0;
