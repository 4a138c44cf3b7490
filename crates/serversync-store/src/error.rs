//! The store's error: [`StoreError`] with its [`StoreErrorKind`], the backend's own error kept
//! as the `source` (for the log, never in the message).

use serversync_core::model::{ServerId, ServiceId};
use time::OffsetDateTime;

use crate::{IdentifierClash, ServerLock};

/// The database driver's own error, kept as the `source` of [`StoreError::Unavailable`],
/// [`StoreError::Conflict`], [`StoreError::Migration`] and [`StoreError::Backend`]: for the
/// log (and the CLI's chain of causes), never part of the error's own message, so a web
/// answer built from the message shows no SQL or driver text.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a [`StoreError`] is, independent of the database behind the store:
/// what a caller decides on (retry, 404, 409, 400, 503, 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// A row that must exist does not.
    NotFound,
    /// The write lost against another one (a changed version, a taken unique identifier, a
    /// lost lease, a database constraint): nothing was written; read again and retry.
    Conflict,
    /// A server's lease is held by someone else.
    Busy,
    /// The input is refused (names the value).
    Invalid,
    /// The database cannot be reached, or stayed busy past the timeout: try again later.
    Unavailable,
    /// Anything else (a corrupt stored value, a secret that cannot be opened, a driver error).
    Other,
}

/// Errors of the store. The message never holds a URL's password nor the driver's text
/// (that is the [`std::error::Error::source`]). The driver's error converts only inside
/// this crate; no `From<sqlx::Error>` is public:
///
/// ```compile_fail,E0277
/// fn convert(e: sqlx::Error) -> serversync_store::StoreError {
///     serversync_store::StoreError::from(e)
/// }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connect failed, the pool timed out, TLS failed) or
    /// stayed locked past the busy timeout.
    #[error("the database is unavailable (cannot connect, or busy past the timeout)")]
    Unavailable {
        #[source]
        source: BackendError,
    },
    /// A write the database refused by a constraint (unique, foreign key, check) that the
    /// store did not turn into a more precise error; nothing of its transaction was written.
    #[error("the database refused the write (a constraint failed)")]
    Conflict {
        #[source]
        source: BackendError,
    },
    /// The embedded migrations could not be applied (or the database holds a migration
    /// this build does not know, or one whose checksum differs).
    #[error("the database schema could not be migrated")]
    Migration {
        #[source]
        source: BackendError,
    },
    /// Any other error of the database driver.
    #[error("database error")]
    Backend {
        #[source]
        source: BackendError,
    },
    /// A row that must exist does not (`what` names it, e.g. `service 1000`).
    #[error("{0} not found")]
    NotFound(String),
    /// A billing record changed since it was read (optimistic check failed).
    #[error("service {service_id} changed since the analysis (version {expected} expected, {found} found)")]
    VersionConflict {
        service_id: ServiceId,
        expected: i64,
        found: i64,
    },
    /// A stored value could not be read back (names table, row and column).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Another analysis or apply holds this server's lease (who, and until when).
    #[error(
        "server {} is busy: {} holds its lock until {} (taken at {})",
        .0.server_id,
        .0.holder.describe(),
        show_time(.0.expires_at),
        show_time(.0.taken_at)
    )]
    Busy(Box<ServerLock>),
    /// The lease this work ran under is no longer its holder's (it ran out and was taken
    /// over, or was released by hand); nothing was written by the call that found out.
    #[error(
        "the lock of server {0} was lost (it ran out and was taken over, or was released by hand)"
    )]
    LockLost(ServerId),
    /// Services a change set would create are already live on their server under the same
    /// unique identifier key (written meanwhile by someone else); nothing was written.
    #[error("{}", clashes_message(.0))]
    IdentifierTaken(Vec<IdentifierClash>),
    /// Bad input (e.g. an unsupported database URL).
    #[error("{0}")]
    Invalid(String),
    /// A server secret cannot be encrypted or decrypted, or the key file is missing or bad
    /// (names the server, the field and the key file; never the secret).
    #[error("{0}")]
    Secret(String),
}

impl StoreError {
    /// The kind of this error (what a caller decides on).
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound(_) => StoreErrorKind::NotFound,
            StoreError::Conflict { .. }
            | StoreError::VersionConflict { .. }
            | StoreError::LockLost(_)
            | StoreError::IdentifierTaken(_) => StoreErrorKind::Conflict,
            StoreError::Busy(_) => StoreErrorKind::Busy,
            StoreError::Invalid(_) => StoreErrorKind::Invalid,
            StoreError::Unavailable { .. } => StoreErrorKind::Unavailable,
            StoreError::Migration { .. }
            | StoreError::Backend { .. }
            | StoreError::Corrupt(_)
            | StoreError::Secret(_) => StoreErrorKind::Other,
        }
    }
}

/// SQLite result codes (primary code, the low byte) and PostgreSQL SQLSTATEs that mean "busy
/// or unreachable, try again": SQLITE_BUSY, SQLITE_LOCKED; PG class 08 (connection), 53
/// (insufficient resources), 57P0x (shutdown), 40001 / 40P01 (serialization, deadlock),
/// 55P03 (lock not available).
fn unavailable_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        return code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P0")
        || matches!(code, "40001" | "40P01" | "55P03")
}

/// The driver's error as a [`StoreError`], sorted into a kind by what it means (the driver's
/// error is kept as the source, its text never in the message). Crate-private on purpose:
/// no `From<sqlx::Error>` is public API, so callers never see (nor can build errors from)
/// the backend's types; the store's statements convert with [`DbResult::db`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    let unavailable = match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            unavailable_code(
                &c,
                db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
            )
        }),
        _ => false,
    };
    let constraint = match &e {
        sqlx::Error::Database(db) => matches!(
            db.kind(),
            ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
        ),
        _ => false,
    };
    let source: BackendError = Box::new(e);
    if unavailable {
        StoreError::Unavailable { source }
    } else if constraint {
        StoreError::Conflict { source }
    } else {
        StoreError::Backend { source }
    }
}

/// An error of SQLite's bulk reads (`sqlite/bulk_read.rs`, through `rusqlite`) as a
/// [`StoreError`], sorted as [`from_sqlx`] sorts SQLite's codes (crate-private likewise).
pub(crate) fn from_rusqlite(e: rusqlite::Error) -> StoreError {
    let unavailable = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let source: BackendError = Box::new(e);
    if unavailable {
        StoreError::Unavailable { source }
    } else {
        StoreError::Backend { source }
    }
}

/// A migration's failure as [`StoreError::Migration`] (crate-private, as [`from_sqlx`]).
pub(crate) fn from_migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migration {
        source: Box::new(e),
    }
}

/// `.db()` turns a driver result into the store's ([`from_sqlx`], [`from_migrate`]): what
/// `?` would do with a `From` impl, without making that conversion public.
pub(crate) trait DbResult<T> {
    /// The result with the driver's error converted to a [`StoreError`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(from_sqlx)
    }
}

impl<T> DbResult<T> for Result<T, sqlx::migrate::MigrateError> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(from_migrate)
    }
}

/// `2026-11-30 14:05:09 UTC`: times in messages, to the second.
pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn clashes_message(c: &[IdentifierClash]) -> String {
    let shown: Vec<String> = c
        .iter()
        .take(3)
        .map(|c| format!("ops[{}] {:?} (live service {})", c.op, c.key, c.service_id))
        .collect();
    let more = c.len().saturating_sub(3);
    format!(
        "{} service(s) to create already have a live service with their unique identifier on \
         their server: {}{}",
        c.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod error_tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn driver_errors_are_sorted_into_kinds_with_the_driver_text_only_in_the_source() {
        let e = from_sqlx(sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), StoreErrorKind::Unavailable);
        assert_eq!(
            e.to_string(),
            "the database is unavailable (cannot connect, or busy past the timeout)"
        );
        let source = e.source().expect("driver error kept as source").to_string();
        assert!(source.contains("timed out"), "{source}");

        let e = from_sqlx(sqlx::Error::ColumnNotFound("secret_col".into()));
        assert_eq!(e.kind(), StoreErrorKind::Other);
        assert_eq!(e.to_string(), "database error");
        assert!(e.source().unwrap().to_string().contains("secret_col"));
    }

    #[test]
    fn busy_and_unreachable_codes_of_both_databases() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517 = 5 | 2 << 8), SQLITE_LOCKED.
        for c in ["5", "517", "6"] {
            assert!(unavailable_code(c, true), "{c}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CONSTRAINT.
        for c in ["2067", "19"] {
            assert!(!unavailable_code(c, true), "{c}");
        }
        for c in ["08006", "57P01", "40001", "40P01", "55P03", "53300"] {
            assert!(unavailable_code(c, false), "{c}");
        }
        // unique_violation, syntax error, and an SQLite code read as a SQLSTATE.
        for c in ["23505", "42601", "5"] {
            assert!(!unavailable_code(c, false), "{c}");
        }
    }

    #[tokio::test]
    async fn a_unique_violation_is_a_conflict() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&pool)
            .await
            .unwrap();
        let e = from_sqlx(
            sqlx::query("INSERT INTO t VALUES ('a')")
                .execute(&pool)
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), StoreErrorKind::Conflict);
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        assert!(!e.to_string().contains("UNIQUE"), "{e}");
    }
}
