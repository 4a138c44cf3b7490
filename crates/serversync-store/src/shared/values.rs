//! Shared by both backends (compiled into `sqlite` and `postgres`, see `src/lib.rs`): the
//! values the statements bind — multi-row values ([`V`]), timestamps ([`fmt_ts`]) and JSON
//! documents ([`json`], [`doc`]) as the backend's typed values ([`Ts`], [`Doc`]), never
//! strings. Re-exported by `rows`, where the statements take them from.

use serversync_core::model::format_date;
use time::{Date, OffsetDateTime, UtcOffset};

use super::{Doc, Ts};
use crate::{Result, StoreError};

/// A value to bind in a multi-row statement.
pub(super) enum V {
    I(i64),
    NI(Option<i64>),
    T(String),
    NT(Option<String>),
    B(bool),
    /// A timestamp ([`fmt_ts`]).
    Ts(Ts),
    /// A JSON document ([`json`], [`doc`]).
    J(Doc),
    NJ(Option<Doc>),
}

/// `t` as a timestamp column's value: UTC, cut to whole microseconds (what PostgreSQL's
/// `timestamptz` keeps, so that both backends read back the same value). Years outside
/// 0000–9999 are refused (SQLite's fixed-width text would no longer sort as time).
pub(super) fn fmt_ts(t: OffsetDateTime) -> Result<Ts> {
    let t = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(StoreError::Invalid(format!(
            "timestamp {t} cannot be stored (years 0000-9999 only)"
        )));
    }
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros)
        .map(Ts)
        .map_err(|e| StoreError::Invalid(format!("timestamp {t} cannot be stored: {e}")))
}

/// This host's clock as a timestamp column's value ([`fmt_ts`]).
pub(super) fn now_ts() -> Result<Ts> {
    fmt_ts(OffsetDateTime::now_utc())
}

pub(super) fn opt_date(d: Option<Date>) -> Option<String> {
    d.map(format_date)
}

/// `v` as a JSON document column's value (`what` names it in the error).
pub(super) fn json<T: serde::Serialize + ?Sized>(what: &str, v: &T) -> Result<Doc> {
    let text = serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))?;
    storable(what, &text)?;
    Ok(Doc(text))
}

/// Refuses a document the backend cannot store: PostgreSQL's `jsonb` (like its text) holds
/// no NUL character, and would refuse the whole write with a driver error; the message
/// names the document instead (a panel's account can carry one in any field).
fn storable(what: &str, text: &str) -> Result<()> {
    storable_prepared(
        what,
        !super::DOCUMENTS_HOLD_NUL && crate::compact::has_nul_escape(text),
    )
}

/// A document the caller serialised (`analysis_json`, audit `before`/`after`) as a JSON
/// column's value; refused unless it is JSON (PostgreSQL's `jsonb` would refuse it with a
/// driver error, SQLite would store it unchecked).
pub(super) fn doc(what: &str, text: &str) -> Result<Doc> {
    check_doc(what, text)?;
    Ok(Doc(text.to_string()))
}

/// The check of [`doc`] alone: JSON ([`crate::compact::check_json`]) this backend can hold.
pub(super) fn check_doc(what: &str, text: &str) -> Result<()> {
    crate::compact::check_json(what, text)?;
    storable(what, text)
}

/// The refusal of [`storable`] for a document checked ahead
/// ([`crate::PreparedAccounts`], [`crate::PreparedAnalysis`]), which remembers whether it
/// holds a NUL character: the same message for the same document.
pub(super) fn storable_prepared(what: &str, has_nul: bool) -> Result<()> {
    if has_nul && !super::DOCUMENTS_HOLD_NUL {
        return Err(StoreError::Invalid(format!(
            "{what} holds a NUL character (\\u0000), which this database cannot store"
        )));
    }
    Ok(())
}

/// [`doc`] of an optional document.
pub(super) fn opt_doc(what: &str, text: Option<&str>) -> Result<Option<Doc>> {
    text.map(|t| doc(what, t)).transpose()
}
