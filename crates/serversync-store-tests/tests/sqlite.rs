//! The store test suite against SQLite (a fresh temporary database file per test), plus the
//! SQLite-specific checks: URLs, persistence, corrupt values.

#[macro_use]
mod common;

use std::sync::Arc;

#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::secrets::SecretKey;
use serversync_store::sqlite::SqliteStore;
use serversync_store::{IdentifierFields, Store, StoreError};
use serversync_store_tests::{records_event, token_event, user_event};
use tempfile::TempDir;

const LONG: std::time::Duration = std::time::Duration::from_secs(60);

fn holder(id: &str) -> serversync_store::LockHolder {
    serversync_store::LockHolder {
        id: id.into(),
        actor: id.into(),
        host: "test-host".into(),
        process: None,
    }
}

async fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::open(&url, SecretKey::ephemeral())
        .await
        .expect("open store");
    (dir, store)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, store) = fresh().await;
                serversync_store_tests::$name(&store).await;
            }
        )*
    };
}

each_store_test!(suite);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let (_dir, store) = fresh().await;
    serversync_store_tests::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_in_memory() {
    let store = serversync_store::open_with_default_key("sqlite::memory:")
        .await
        .expect("open");
    serversync_store_tests::run_all(store).await;
}

#[tokio::test]
async fn open_dispatches_on_the_scheme_and_hides_passwords() {
    let err = |r: Result<Arc<dyn Store>, StoreError>| match r {
        Err(StoreError::Invalid(m)) => m,
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(_) => panic!("expected an error"),
    };
    // Nothing listens on port 1: the PostgreSQL store is tried, and its failure shows
    // neither the password nor the driver's text.
    for url in [
        "postgres://app:s3cret@127.0.0.1:1/serversync",
        "PostgreSQL://app:s3cret@127.0.0.1:1/serversync?sslmode=disable",
    ] {
        match serversync_store::open(url, SecretKey::ephemeral()).await {
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    serversync_store::StoreErrorKind::Unavailable,
                    "{e:?}"
                );
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains("s3cret"), "{shown}");
            }
            Ok(_) => panic!("expected an error"),
        }
    }
    let m = err(serversync_store::open(
        "mysql://root:s3cret@db:3306/x?password=s3cret",
        SecretKey::ephemeral(),
    )
    .await);
    assert!(!m.contains("s3cret"), "{m}");
    assert!(m.contains("\"mysql\""), "{m}");
    assert_eq!(
        m,
        "unsupported database URL mysql://db:3306/x?… (scheme \"mysql\"); use sqlite://PATH or \
         postgres://HOST/DB"
    );
    let m = err(serversync_store::open("serversync.db", SecretKey::ephemeral()).await);
    assert!(m.contains("has no scheme"), "{m}");
    assert_eq!(
        serversync_store::redact_url("postgres://u:p@h:5432/db?sslmode=require"),
        "postgres://h:5432/db?…"
    );
    assert_eq!(
        serversync_store::redact_url("sqlite://data/x.db"),
        "sqlite://data/x.db"
    );
    assert!(matches!(
        SqliteStore::open("sqlite://", SecretKey::ephemeral()).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn sqlite_url_forms_create_the_file_and_data_persists() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    let b = dir.path().join("sub-less-b.db");
    for url in [
        format!("sqlite://{}", a.display()),
        format!("sqlite:{}", b.display()),
    ] {
        let store = serversync_store::open_with_default_key(&url)
            .await
            .expect("open");
        store
            .lock_server(1, &holder("cli:test"), LONG)
            .await
            .expect("write works");
        drop(store);
        // Reopening runs the migrations again (a no-op) and sees the data.
        let store = serversync_store::open_with_default_key(&url)
            .await
            .expect("reopen");
        assert!(matches!(
            store.lock_server(1, &holder("web:other"), LONG).await,
            Err(StoreError::Busy(l)) if l.server_id == 1 && l.holder.id == "cli:test"
        ));
    }
    assert!(a.exists() && b.exists());
    // Upper-case scheme is accepted too.
    let c = dir.path().join("c.db");
    serversync_store::open_with_default_key(&format!("SQLite://{}", c.display()))
        .await
        .expect("open");
    assert!(c.exists());
    // WAL journal and foreign keys are on.
    let store = SqliteStore::open(&format!("sqlite://{}", a.display()), SecretKey::ephemeral())
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn memory_stores_are_private() {
    let one = serversync_store::open_with_default_key("sqlite::memory:")
        .await
        .unwrap();
    let two = serversync_store::open_with_default_key("sqlite::memory:")
        .await
        .unwrap();
    one.lock_server(7, &holder("a"), LONG).await.unwrap();
    two.lock_server(7, &holder("b"), LONG).await.unwrap();
}

#[tokio::test]
async fn corrupt_values_are_reported_with_table_row_and_column() {
    let (_dir, store) = fresh().await;
    sqlx::query(
        "INSERT INTO clients (id, email, email_key, first_name, last_name, company, status) \
         VALUES (1, 'a@b.test', 'a@b.test', 'A', 'B', '', 'Active')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO products (id, name, module, config_options) VALUES (2, 'P', 'cpanel', '{}')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO services (id, client_id, product_id, server_id, domain, username, \
         dedicated_ip, regdate, status, billing_cycle, amount, next_due_date, \
         termination_date, custom_fields, version) \
         VALUES (5, 1, 2, NULL, 'a.test', 'a', '', '2024-01-31', 'x', 'Monthly', '1.00', \
         NULL, NULL, '{}', 1)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    match store.service(5).await {
        Err(StoreError::Corrupt(m)) => {
            assert_eq!(m, "services.id=5 status: unknown status \"x\"")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    sqlx::query("UPDATE services SET status = 'Active', regdate = '31/01/2024' WHERE id = 5")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.services(None).await,
        Err(StoreError::Corrupt(m)) if m.starts_with("services.id=5 regdate: invalid date")
    ));
    sqlx::query("UPDATE services SET regdate = NULL, custom_fields = '[1' WHERE id = 5")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.service(5).await,
        Err(StoreError::Corrupt(m)) if m.starts_with("services.id=5 custom_fields: invalid JSON")
    ));
    sqlx::query("UPDATE services SET custom_fields = '{}', version = 'seven' WHERE id = 5")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.service(5).await,
        Err(StoreError::Corrupt(m)) if m.starts_with("services.id=5 version:")
    ));
}

#[tokio::test]
async fn server_secrets_never_show_in_debug() {
    use serversync_core::model::{Secret, Server};
    let (_dir, store) = fresh().await;
    let server = Server {
        id: 1,
        name: "web1".into(),
        module: "cpanel".into(),
        hostname: "h".into(),
        ip_address: "192.0.2.1".into(),
        port: None,
        secure: true,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new("hunter2"),
        access_hash: Secret::new("TOKEN-XYZ"),
        disabled: false,
    };
    store
        .import_records(
            &serversync_store::Records {
                servers: vec![server],
                ..Default::default()
            },
            &IdentifierFields::new(),
            &records_event,
        )
        .await
        .unwrap();
    let got = store.server("web1").await.unwrap();
    assert_eq!(got.password.expose(), "hunter2");
    let dbg = format!("{got:?} {store:?}");
    assert!(
        !dbg.contains("hunter2") && !dbg.contains("TOKEN-XYZ"),
        "{dbg}"
    );
}

#[tokio::test]
async fn disabled_users_have_no_session() {
    use serversync_store::Role;
    let (_dir, store) = fresh().await;
    let user = store
        .create_user(
            "dave",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            Role::Admin,
            &user_event,
        )
        .await
        .unwrap();
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    store
        .create_session("aa11", user.id, "csrf", expires)
        .await
        .unwrap();
    assert!(store.session("aa11").await.unwrap().is_some());
    sqlx::query("UPDATE admin_users SET disabled = 1 WHERE id = ?")
        .bind(user.id)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.session("aa11").await.unwrap(), None);
    assert!(store.user_by_name("dave").await.unwrap().unwrap().disabled);
    // Enabled again: the (unexpired) session is back.
    sqlx::query("UPDATE admin_users SET disabled = 0 WHERE id = ?")
        .bind(user.id)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        store.session("aa11").await.unwrap().map(|s| s.user.id),
        Some(user.id)
    );
}

#[tokio::test]
async fn expired_sessions_are_dropped() {
    use serversync_store::Role;
    let (_dir, store) = fresh().await;
    let user = store
        .create_user("erin", "h", Role::ReadOnly, &user_event)
        .await
        .unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    store
        .create_session("old1", user.id, "c", past)
        .await
        .unwrap();
    store
        .create_session("old2", user.id, "c", past)
        .await
        .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    // Creating old2 dropped old1 (expired); looking old2 up drops it.
    assert_eq!(count().await, 1);
    assert_eq!(store.session("old2").await.unwrap(), None);
    assert_eq!(count().await, 0);
    store
        .create_session("new", user.id, "c", future)
        .await
        .unwrap();
    assert!(store.session("new").await.unwrap().is_some());
    assert_eq!(count().await, 1);
}

#[tokio::test]
async fn corrupt_roles_are_reported() {
    use serversync_store::Role;
    let (_dir, store) = fresh().await;
    let user = store
        .create_user("frank", "h", Role::Admin, &user_event)
        .await
        .unwrap();
    let token = store
        .create_api_token("ci", "bb22", Role::ReadOnly, &token_event)
        .await
        .unwrap();
    sqlx::query("UPDATE admin_users SET role = 'x'")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET role = 'root'")
        .execute(store.pool())
        .await
        .unwrap();
    match store.user_by_name("frank").await {
        Err(StoreError::Corrupt(m)) => assert_eq!(
            m,
            format!("admin_users.id={} role: unknown role \"x\"", user.id)
        ),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(store.users().await, Err(StoreError::Corrupt(_))));
    match store.api_tokens().await {
        Err(StoreError::Corrupt(m)) => assert_eq!(
            m,
            format!("api_tokens.id={} role: unknown role \"root\"", token.id)
        ),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Two `serve`s started at once on a new database: every concurrent open migrates it (the
/// migrator takes no lock; a loser retries and finds the migrations recorded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_of_a_new_database_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let opens = (0..4).map(|_| {
            let url = url.clone();
            async move { serversync_store::open_with_default_key(&url).await }
        });
        for (i, r) in futures_join_all(opens).await.into_iter().enumerate() {
            let store = r.unwrap_or_else(|e| panic!("round {round}, open {i}: {e}"));
            assert!(store.users().await.unwrap().is_empty());
        }
    }
}

/// Awaits every future concurrently (no `futures` dependency here).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Stored times order and compare as time in SQL (fixed-width UTC text).
#[tokio::test]
async fn run_times_order_as_time() {
    let (_dir, store) = fresh().await;
    let pool = store.pool().clone();
    serversync_store_tests::run_times_order_as_time(&store, |sql| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_all(&pool)
                .await
                .expect("query")
        }
    })
    .await;
}

/// A lease expires by SQLite's clock (this host's): `expires_at` moved relative to SQLite's
/// `'now'`, written in the store's fixed-width format.
#[tokio::test]
async fn lease_expiry_follows_the_backend_clock() {
    let (_dir, store) = fresh().await;
    let pool = store.pool().clone();
    serversync_store_tests::lease_expiry_follows_the_backend_clock(&store, |server, secs| {
        let pool = pool.clone();
        async move {
            let done = sqlx::query(&format!(
                "UPDATE server_locks SET expires_at = \
                 strftime('%Y-%m-%dT%H:%M:%f', 'now', '{secs} seconds') || '000000Z' \
                 WHERE server_id = {server}"
            ))
            .execute(&pool)
            .await
            .expect("move the expiry");
            assert_eq!(done.rows_affected(), 1);
        }
    })
    .await;
}

/// SQLite's TEXT holds a NUL character in a document.
#[tokio::test]
async fn documents_with_a_nul_character() {
    let (_dir, store) = fresh().await;
    serversync_store_tests::documents_with_a_nul_character(&store, true).await;
}

/// New runs keep their remote list and analysis only in the compressed columns (far smaller
/// than the JSON they replace); a run stored in the JSON columns before schema 10 still reads
/// back; a damaged frame is reported with table, row and column.
#[tokio::test]
async fn compact_run_columns_old_rows_and_damage() {
    let (_dir, store) = fresh().await;
    sqlx::query(
        "INSERT INTO servers (id, name, module, hostname, ip_address, port, secure, tls_verify, \
         username, password, access_hash, disabled) \
         VALUES (3, 'web3', 'cpanel', 'h', '192.0.2.1', NULL, 1, 1, 'root', '', '', 0)",
    )
    .execute(store.pool())
    .await
    .expect("a server");
    let account = serde_json::json!({"email": "a@b.test", "username": "ann",
        "domain": "ann.test", "uniqueIdentifier": "ann.test", "product": "basic",
        "primaryip": "192.0.2.1", "created": null, "status": "Active"});
    let accounts: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            let mut a = account.clone();
            a["username"] = format!("u{i}").into();
            a["domain"] = format!("u{i}.test").into();
            a["uniqueIdentifier"] = format!("u{i}.test").into();
            a
        })
        .collect();
    let remote: Vec<serversync_core::module::RemoteAccount> =
        serde_json::from_value(serde_json::Value::from(accounts.clone())).expect("accounts");
    let id = store
        .insert_run(&serversync_store::NewRun {
            server_id: 3,
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            listing_status: serversync_store::ListingStatus::Complete,
            error: None,
            accounts: remote.clone(),
            skipped: Vec::new(),
            analysis_json: Some(r#"{"items":[]}"#.into()),
            counts_json: "{}".into(),
            service_versions: Vec::new(),
            misses: None,
        })
        .await
        .expect("insert");
    let (json_accounts, json_analysis, z_accounts, z_analysis): (
        String,
        Option<String>,
        Vec<u8>,
        Vec<u8>,
    ) = sqlx::query_as(
        "SELECT accounts, analysis_json, accounts_zstd, analysis_zstd FROM sync_runs WHERE id = ?",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((json_accounts.as_str(), json_analysis), ("[]", None));
    let plain = serde_json::to_string(&remote).unwrap().len();
    assert!(
        z_accounts.len() * 5 < plain,
        "{} compressed of {plain}",
        z_accounts.len()
    );
    assert!(!z_analysis.is_empty());
    assert_eq!(store.run(id).await.unwrap().accounts, remote);

    // A run as schema 9 and earlier stored it.
    sqlx::query(
        "INSERT INTO sync_runs (id, server_id, started_at, finished_at, listing_status, error, \
         accounts_count, accounts, skipped, analysis_json, counts_json, service_versions) \
         VALUES (90, 3, '2026-12-03T12:00:00.000000000Z', '2026-12-03T12:00:01.000000000Z', \
         'complete', NULL, 1000, ?, '[]', '{\"items\":[1]}', '{}', '[[4,1]]')",
    )
    .bind(serde_json::Value::from(accounts).to_string())
    .execute(store.pool())
    .await
    .expect("an old run");
    let old = store.run(90).await.expect("the old run reads");
    assert_eq!(old.accounts, remote);
    assert_eq!(
        serversync_store_tests::json_of(old.analysis_json.as_deref()),
        Some(serde_json::json!({"items": [1]}))
    );
    assert_eq!(old.service_versions, vec![(4, 1)]);

    sqlx::query("UPDATE sync_runs SET accounts_zstd = x'00010203' WHERE id = ?")
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    match store.run(id).await {
        Err(StoreError::Corrupt(m)) => {
            assert!(
                m.starts_with(&format!(
                    "sync_runs.id={id} accounts_zstd: not a zstd frame"
                )),
                "{m}"
            )
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A corrupt value met by a bulk read (one server's services, every service, the live
/// services of a module, the clients, their e-mails) is named by table, row id and column, with the same
/// message as the one-row read gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reads_name_the_row_and_column_of_a_corrupt_value() {
    let (_dir, store) = fresh().await;
    for sql in [
        "INSERT INTO clients (id, email, email_key, first_name, last_name, company, status) \
         VALUES (1, 'a@b.test', 'a@b.test', 'A', 'B', '', 'Active')",
        "INSERT INTO products (id, name, module, config_options) VALUES (2, 'P', 'cpanel', '{}')",
        "INSERT INTO servers (id, name, module, hostname, ip_address, port, secure, tls_verify, \
         username, password, access_hash, disabled, secrets_sealed) \
         VALUES (7, 'web7', 'cpanel', 'h', '192.0.2.1', NULL, 1, 1, 'root', '', '', 0, 0)",
        "INSERT INTO services (id, client_id, product_id, server_id, domain, username, \
         dedicated_ip, regdate, status, billing_cycle, amount, next_due_date, \
         termination_date, custom_fields, version) \
         VALUES (5, 1, 2, 7, 'a.test', 'a', '', '31/01/2024', 'Active', 'Monthly', '1.00', \
         NULL, NULL, '{}', 1)",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    let corrupt = |r: Result<Vec<serversync_core::model::Service>, StoreError>| match r {
        Err(StoreError::Corrupt(m)) => m,
        other => panic!("expected Corrupt, got {other:?}"),
    };
    let bad_date = "services.id=5 regdate: invalid date \"31/01/2024\", expected YYYY-MM-DD";
    assert_eq!(corrupt(store.services(Some(7)).await), bad_date);
    assert_eq!(corrupt(store.services(None).await), bad_date);
    assert_eq!(
        corrupt(store.live_services_of_module("cpanel", 0).await),
        bad_date
    );
    match store.service(5).await {
        Err(StoreError::Corrupt(m)) => assert_eq!(m, bad_date),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let set = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    set("UPDATE services SET regdate = NULL, next_due_date = '2024-13-01' WHERE id = 5").await;
    assert_eq!(
        corrupt(store.services(Some(7)).await),
        "services.id=5 next_due_date: invalid date \"2024-13-01\", expected YYYY-MM-DD"
    );
    set("UPDATE services SET next_due_date = NULL, status = 'x' WHERE id = 5").await;
    assert_eq!(
        corrupt(store.services(Some(7)).await),
        "services.id=5 status: unknown status \"x\""
    );
    set("UPDATE services SET status = 'Active', custom_fields = '[1' WHERE id = 5").await;
    let m = corrupt(store.services(Some(7)).await);
    assert!(
        m.starts_with("services.id=5 custom_fields: invalid JSON"),
        "{m}"
    );
    set("UPDATE services SET custom_fields = '{\"a\":1}' WHERE id = 5").await;
    let m = corrupt(store.services(Some(7)).await);
    assert!(
        m.starts_with("services.id=5 custom_fields: invalid JSON"),
        "{m}"
    );
    set("UPDATE services SET custom_fields = '{}', version = 'seven' WHERE id = 5").await;
    assert_eq!(
        corrupt(store.services(Some(7)).await),
        "services.id=5 version: text where an integer is expected"
    );
    set("UPDATE services SET version = 1, domain = x'00ff' WHERE id = 5").await;
    assert_eq!(
        corrupt(store.services(Some(7)).await),
        "services.id=5 domain: a blob where text is expected"
    );
    set("UPDATE services SET domain = 'a.test' WHERE id = 5").await;
    assert_eq!(store.services(Some(7)).await.unwrap().len(), 1);

    set("UPDATE clients SET email = CAST(x'61ff' AS TEXT) WHERE id = 1").await;
    match store.clients().await {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.starts_with("clients.id=1 email: invalid UTF-8"), "{m}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match store.client_emails().await {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.starts_with("clients.id=1 email: invalid UTF-8"), "{m}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    set("UPDATE clients SET email = x'00ff' WHERE id = 1").await;
    match store.client_emails().await {
        Err(StoreError::Corrupt(m)) => {
            assert_eq!(m, "clients.id=1 email: a blob where text is expected")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// The bulk reads see every committed write and nothing of a transaction still open, and
/// do not wait for it; after the store is closed they fail as every other read does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reads_see_committed_writes_only_and_fail_once_closed() {
    let (_dir, store) = fresh().await;
    sqlx::query(
        "INSERT INTO clients (id, email, email_key, first_name, last_name, company, status) \
         VALUES (1, 'a@b.test', 'a@b.test', 'A', 'B', '', 'Active')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    assert_eq!(store.clients().await.unwrap().len(), 1);
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query(
        "INSERT INTO clients (id, email, email_key, first_name, last_name, company, status) \
         VALUES (2, 'c@d.test', 'c@d.test', 'C', 'D', '', 'Active')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let ids = |c: Vec<serversync_core::model::Client>| c.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(store.clients().await.unwrap()), vec![1]);
    tx.commit().await.unwrap();
    assert_eq!(ids(store.clients().await.unwrap()), vec![1, 2]);

    store.close().await;
    assert!(matches!(
        store.clients().await,
        Err(StoreError::Unavailable { .. })
    ));
    assert!(matches!(
        store.services(None).await,
        Err(StoreError::Unavailable { .. })
    ));
}
