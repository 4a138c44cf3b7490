//! How PostgreSQL stores the typed values of the shared statements: timestamps are
//! `timestamptz`, JSON documents `jsonb` (migration 0005). The statements bind and read
//! [`Ts`] and [`Doc`] as on SQLite (`src/sqlite/types.rs`), where both are TEXT.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Encode, Postgres, Type, ValueRef};
use time::OffsetDateTime;

/// A timestamp column's value (`created_at`, `expires_at`, …): `timestamptz`, which keeps
/// whole microseconds (`rows::fmt_ts` cuts to those on both backends) and compares as time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub(super) struct Ts(pub(super) OffsetDateTime);

/// A JSON document column's value (`custom_fields`, `analysis_json`, …) as serialised text,
/// sent as `jsonb` (binary format version 1: a `1` byte, then the text), so the server
/// parses it once into the column. Read back, it is the server's text of the document:
/// equal as JSON, but in `jsonb`'s normal form (keys ordered, `": "` spacing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Doc(pub(super) String);

/// `jsonb`'s binary format version.
const JSONB_VERSION: u8 = 1;

fn jsonb() -> PgTypeInfo {
    <Json<()> as Type<Postgres>>::type_info()
}

impl Type<Postgres> for Doc {
    fn type_info() -> PgTypeInfo {
        jsonb()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<()> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Doc {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(JSONB_VERSION);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Postgres> for Doc {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let binary_jsonb = value.format() == PgValueFormat::Binary && *value.type_info() == jsonb();
        let mut bytes = value.as_bytes()?;
        if binary_jsonb {
            match bytes.split_first() {
                Some((&JSONB_VERSION, rest)) => bytes = rest,
                _ => return Err("unsupported jsonb format version".into()),
            }
        }
        Ok(Doc(std::str::from_utf8(bytes)?.to_string()))
    }
}

/// `col` (a JSON document column) as a JSON value inside `json_build_array(…)`: a `jsonb`
/// column is embedded as the document itself.
pub(super) fn json_doc(col: &str) -> String {
    col.to_string()
}
