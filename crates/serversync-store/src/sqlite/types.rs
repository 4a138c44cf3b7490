//! How SQLite stores the typed values of the shared statements: SQLite has no timestamp or
//! JSON type, so both are TEXT — but the statements bind and read [`Ts`] and [`Doc`], never
//! strings, exactly as on PostgreSQL (`src/postgres/types.rs`).

use std::borrow::Cow;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Sqlite, Type};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Timestamps as TEXT: RFC 3339, UTC, a fixed 9-digit fraction (`2026-12-03T15:04:05.123456000Z`),
/// so that text order is time order (`ORDER BY`, `<` on the column compare correctly). The
/// format of every SQLite database since schema 1; unchanged, so old rows need no rewrite.
const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
);

/// A timestamp column's value (`created_at`, `expires_at`, …), UTC; built by
/// `rows::fmt_ts`, which also checks the year fits the fixed-width format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ts(pub(super) OffsetDateTime);

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        let text = self.0.to_offset(time::UtcOffset::UTC).format(TS_FORMAT)?;
        args.push(SqliteArgumentValue::Text(Cow::Owned(text)));
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Ts)
            .map_err(|e| format!("invalid timestamp {text:?}: {e}").into())
    }
}

/// A JSON document column's value (`custom_fields`, `analysis_json`, …) as its serialised
/// text, stored as is; built by `rows::json` / `rows::doc` (which check it is JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Doc(pub(super) String);

impl Type<Sqlite> for Doc {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Doc {
    fn encode(self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        args.push(SqliteArgumentValue::Text(Cow::Owned(self.0)));
        Ok(IsNull::No)
    }

    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        args.push(SqliteArgumentValue::Text(Cow::Owned(self.0.clone())));
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Sqlite> for Doc {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Doc(<String as Decode<Sqlite>>::decode(value)?))
    }
}

/// `col` (a JSON document column) as a JSON value inside `json_array(…)`: SQLite would
/// embed TEXT as a string, `json(…)` embeds the document itself (as PostgreSQL does).
pub(super) fn json_doc(col: &str) -> String {
    format!("json({col})")
}
