//! Shared by both backends: bulk statements. Multi-row `INSERT … VALUES (…), (…)` built with
//! [`QueryBuilder::push_values`] (placeholders in the backend's own style), batched under the
//! backend's bind parameter limit ([`super::MAX_BINDS`]) and at most
//! [`MAX_ROWS_PER_STATEMENT`] rows; the full-size shape stays prepared and is reused, so
//! 100,000 services are a few dozen statements, not 100,000 round trips.

use std::collections::{HashMap, HashSet};

use serversync_core::model::ServiceId;
use sqlx::QueryBuilder;

use super::rows::{Cols, V};
use super::{Db, DbConn, MAX_BINDS};
use crate::error::DbResult;
use crate::Result;

/// Rows per multi-row statement (fewer when the columns would pass the bind limit).
pub const MAX_ROWS_PER_STATEMENT: usize = 1_000;
/// Ids per `WHERE id IN (…)` lookup.
const IN_CHUNK: usize = 500;

/// Rows of `cols` columns per statement.
fn rows_per_statement(cols: usize) -> usize {
    (MAX_BINDS / cols.max(1)).clamp(1, MAX_ROWS_PER_STATEMENT)
}

/// `INSERT INTO table (cols) VALUES …` of `rows` (each in `cols` order), with the binds.
fn insert_statement<'a>(table: &str, cols: &[&str], rows: Vec<Vec<V>>) -> QueryBuilder<'a, Db> {
    let mut qb = QueryBuilder::new(format!("INSERT INTO {table} ({}) ", cols.join(", ")));
    qb.push_values(rows, |mut b, row| {
        for v in row {
            match v {
                V::I(x) => b.push_bind(x),
                V::NI(x) => b.push_bind(x),
                V::T(x) => b.push_bind(x),
                V::NT(x) => b.push_bind(x),
                V::B(x) => b.push_bind(x),
                V::Ts(x) => b.push_bind(x),
                V::J(x) => b.push_bind(x),
                V::NJ(x) => b.push_bind(x),
            };
        }
    });
    qb
}

/// Inserts `rows` (each in `cols` order) in multi-row statements; with `upsert`, a row whose
/// `id` exists replaces that row's other columns.
pub(super) async fn insert_rows(
    conn: &mut DbConn,
    table: &str,
    cols: &[&str],
    upsert: bool,
    rows: Vec<Vec<V>>,
) -> Result<()> {
    let tail = upsert.then(|| {
        let sets: Vec<String> = cols
            .iter()
            .filter(|c| **c != "id")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(" ON CONFLICT (id) DO UPDATE SET {}", sets.join(", "))
    });
    insert_rows_then(conn, table, cols, tail.as_deref(), rows).await
}

/// [`insert_rows`] with `tail` (an `ON CONFLICT …` clause, written by us) after each
/// statement's `VALUES`.
pub(super) async fn insert_rows_then(
    conn: &mut DbConn,
    table: &str,
    cols: &[&str],
    tail: Option<&str>,
    rows: Vec<Vec<V>>,
) -> Result<()> {
    let per_stmt = rows_per_statement(cols.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<V>> = rows.by_ref().take(per_stmt).collect();
        let full = chunk.len() == per_stmt;
        let mut qb = insert_statement(table, cols, chunk);
        if let Some(tail) = tail {
            qb.push(tail);
        }
        // Only the full-size shape is worth keeping prepared.
        qb.build().persistent(full).execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// Inserts `rows` (each in `cols` order, without `id`) and returns the ids the database gave
/// them, in row order.
///
/// Both databases give the rows of one multi-row `INSERT` ascending ids in `VALUES` order
/// (SQLite: each new rowid is the largest one plus one; PostgreSQL: the identity's sequence
/// is drawn row by row), while the order `RETURNING` lists them in is not promised: sorting
/// the returned ids gives the row order.
pub(super) async fn insert_returning_ids(
    conn: &mut DbConn,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<V>>,
) -> Result<Vec<i64>> {
    let per_stmt = rows_per_statement(cols.len());
    let mut ids = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<V>> = rows.by_ref().take(per_stmt).collect();
        let full = chunk.len() == per_stmt;
        let mut qb = insert_statement(table, cols, chunk);
        qb.push(" RETURNING id");
        let mut got: Vec<i64> = qb
            .build_query_scalar()
            .persistent(full)
            .fetch_all(&mut *conn)
            .await
            .db()?;
        got.sort_unstable();
        ids.extend(got);
    }
    Ok(ids)
}

/// `select` with ` WHERE id IN (…)` of `ids`, one statement per [`IN_CHUNK`] ids.
fn in_list<'a>(select: &str, ids: &'a [i64]) -> QueryBuilder<'a, Db> {
    let mut qb = QueryBuilder::new(select);
    qb.push(" WHERE id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
    qb
}

/// `SELECT id FROM table WHERE id IN (…)`, chunked; returns the ids that exist.
pub(super) async fn existing_ids(
    conn: &mut DbConn,
    table: &str,
    ids: &HashSet<i64>,
) -> Result<HashSet<i64>> {
    let mut found = HashSet::with_capacity(ids.len());
    let ids: Vec<i64> = ids.iter().copied().collect();
    let select = format!("SELECT id FROM {table}");
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = in_list(&select, chunk);
        let q = qb.build_query_scalar::<i64>();
        found.extend(
            q.persistent(chunk.len() == IN_CHUNK)
                .fetch_all(&mut *conn)
                .await
                .db()?,
        );
    }
    Ok(found)
}

/// Current versions of the given services, chunked.
pub(super) async fn service_versions(
    conn: &mut DbConn,
    ids: &HashSet<i64>,
) -> Result<HashMap<ServiceId, i64>> {
    let mut found = HashMap::with_capacity(ids.len());
    let ids: Vec<i64> = ids.iter().copied().collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = in_list("SELECT id, version FROM services", chunk);
        let rows = qb
            .build()
            .persistent(chunk.len() == IN_CHUNK)
            .fetch_all(&mut *conn)
            .await
            .db()?;
        for row in rows {
            let c = Cols::new(&row, "services")?;
            found.insert(c.id, c.get::<i64>("version")?);
        }
    }
    Ok(found)
}
