//! The store's SQL, written with SQLite's `?` placeholders, for PostgreSQL (`$1`, `$2`, …).
//!
//! The PostgreSQL store shares its statements' text with the SQLite one (one dialect of
//! portable SQL: `ON CONFLICT … DO UPDATE`, `RETURNING`, multi-row `VALUES`); only the
//! placeholders differ. Each distinct statement is converted once and kept for the life of
//! the process (sqlx borrows a statement's text for as long as its query lives, and keeps it
//! prepared per connection anyway). The number of distinct statements is bounded: fixed
//! statements, plus multi-row inserts and `IN (…)` lists whose sizes are capped
//! (`MAX_ROWS_PER_STATEMENT`, `IN_CHUNK`), plus the audit filter's few combinations.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{FromRow, Postgres};

/// `sql` with each `?` outside quotes numbered `$1`, `$2`, … in order.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + sql.len() / 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// The `$n` form of `sql`, converted once per distinct statement.
fn pg(sql: &str) -> &'static str {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned cache still holds only complete entries.
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = map.get(sql) {
        return s;
    }
    let converted: &'static str = Box::leak(numbered(sql).into_boxed_str());
    map.insert(sql.to_string(), converted);
    converted
}

pub(crate) fn query<'q>(sql: &str) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(pg(sql))
}

pub(crate) fn query_scalar<'q, O>(sql: &str) -> QueryScalar<'q, Postgres, O, PgArguments>
where
    (O,): for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_scalar(pg(sql))
}

pub(crate) fn query_as<'q, O>(sql: &str) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(pg(sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            numbered("SELECT '?' , \"a?\" FROM t WHERE x = ? AND y = '??'"),
            "SELECT '?' , \"a?\" FROM t WHERE x = $1 AND y = '??'"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn a_statement_is_converted_once() {
        let a = pg("SELECT ? + ?");
        let b = pg("SELECT ? + ?");
        assert_eq!(a, "SELECT $1 + $2");
        assert!(std::ptr::eq(a, b));
    }
}
