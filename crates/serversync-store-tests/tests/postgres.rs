//! The store test suite against PostgreSQL: each test on a database of its own, created on
//! the server `SERVERSYNC_TEST_POSTGRES_URL` names (a role that may `CREATE DATABASE`;
//! `scripts/pg-test.sh` starts a throwaway one). Without that variable the tests skip, except
//! with `CI=true`, where they fail: CI must run them.

#[macro_use]
mod common;

use std::sync::Arc;

use serversync_store::postgres::PgStore;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::secrets::SecretKey;
use serversync_store::{Store, StoreErrorKind};

/// The server's URL, or `None` (skip) outside CI.
fn server_url() -> Option<String> {
    match std::env::var("SERVERSYNC_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "SERVERSYNC_TEST_POSTGRES_URL is not set and CI=true: run the tests through \
             scripts/pg-test.sh"
        ),
        _ => {
            eprintln!("SERVERSYNC_TEST_POSTGRES_URL not set: PostgreSQL test skipped");
            None
        }
    }
}

/// A new, empty database on the test server; its URL.
async fn fresh_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to SERVERSYNC_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let mut url = url::Url::parse(server).expect("SERVERSYNC_TEST_POSTGRES_URL parses");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn fresh() -> Option<PgStore> {
    let server = server_url()?;
    let url = fresh_database(&server).await;
    Some(
        PgStore::open(&url, SecretKey::ephemeral())
            .await
            .expect("open the PostgreSQL store"),
    )
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = fresh().await else { return };
                serversync_store_tests::$name(&store).await;
            }
        )*
    };
}

each_store_test!(suite);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let Some(store) = fresh().await else { return };
    serversync_store_tests::run_all(Arc::new(store)).await;
}

/// `open` picks the PostgreSQL store by the scheme, migrates on first use and again (a
/// no-op) on the next open, and keeps the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_scheme_migrates_once_and_keeps_data() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server).await;
    let key = SecretKey::ephemeral();
    let store: Arc<dyn Store> = serversync_store::open(&url, key.clone()).await.unwrap();
    let holder = serversync_store::LockHolder {
        id: "cli:test".into(),
        actor: "cli:test".into(),
        host: "test-host".into(),
        process: None,
    };
    store
        .lock_server(1, &holder, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    drop(store);
    let again = serversync_store::open(&url.replacen("postgres://", "postgresql://", 1), key)
        .await
        .unwrap();
    let locks = again.locks().await.unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].holder.id, "cli:test");
}

/// A password holding `@`, `/` and `?` (percent-encoded in the URL, as URLs require) signs
/// in; a wrong one fails as `Unavailable` and no message shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_url_characters_works_and_is_never_shown() {
    use sqlx::Connection;
    let Some(server) = server_url() else { return };
    let db = fresh_database(&server).await;
    let db_name = url::Url::parse(&db).unwrap().path()[1..].to_string();
    let role = format!("r_{:08x}", rand::random::<u32>());
    let password = "p@ss/w?rd#1:x";
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    for stmt in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
        format!("ALTER DATABASE {db_name} OWNER TO {role}"),
    ] {
        sqlx::query(&stmt).execute(&mut admin).await.unwrap();
    }
    let mut url = url::Url::parse(&db).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some(password)).unwrap();
    let url = url.to_string();
    assert!(url.contains("p%40ss%2Fw%3Frd%231"), "{url}");

    let store = serversync_store::open(&url, SecretKey::ephemeral())
        .await
        .expect("the encoded password signs in");
    assert!(store.servers().await.unwrap().is_empty());
    assert_eq!(
        serversync_store::redact_url(&url),
        format!(
            "postgres://127.0.0.1:{}/{db_name}",
            url::Url::parse(&db).unwrap().port().unwrap()
        )
    );

    let wrong = url.replace("p%40ss", "p%40sz");
    match serversync_store::open(&wrong, SecretKey::ephemeral()).await {
        Err(e) => {
            let shown = format!("{e} {e:?} {}", serversync_store::redact_url(&wrong));
            assert!(
                !shown.contains("w%3Frd") && !shown.contains("w?rd"),
                "{shown}"
            );
            // 28P01 invalid_password: not a busy or unreachable database.
            assert_eq!(e.kind(), StoreErrorKind::Other, "{e:?}");
        }
        Ok(_) => panic!("a wrong password signed in"),
    }
}

/// Several instances opening one new database at once all succeed (sqlx's migrator holds an
/// advisory lock; the others wait and find the migrations applied), and of several
/// instances taking one server's lease at once, exactly one wins; the others are `Busy`
/// naming the winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_one_database_open_together_and_one_holds_a_lease() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server).await;
    let key = SecretKey::ephemeral();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move { PgStore::open(&url, key).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(Arc::new(o.await.unwrap().expect("concurrent open")));
    }
    let takes: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let holder = serversync_store::LockHolder {
                    id: format!("instance-{i}"),
                    actor: format!("web:{i}"),
                    host: format!("host-{i}"),
                    process: None,
                };
                s.lock_server(7, &holder, std::time::Duration::from_secs(60))
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut busy = Vec::new();
    for t in takes {
        match t.await.unwrap() {
            Ok(l) => won.push(l.holder.id),
            Err(serversync_store::StoreError::Busy(l)) => busy.push(l.holder.id),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "won {won:?}, busy {busy:?}");
    assert_eq!(busy.len(), 3);
    assert!(busy.iter().all(|h| *h == won[0]), "{busy:?} vs {won:?}");
    let locks = stores[3].locks().await.unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].holder.id, won[0]);
}

/// Stored times order and compare as time in SQL (`timestamptz`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_times_order_as_time() {
    let Some(store) = fresh().await else { return };
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

/// A lease expires by the database server's clock (`clock_timestamp()`), whatever the
/// clock of the host that took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_follows_the_backend_clock() {
    let Some(store) = fresh().await else { return };
    let pool = store.pool().clone();
    serversync_store_tests::lease_expiry_follows_the_backend_clock(&store, |server, secs| {
        let pool = pool.clone();
        async move {
            let done = sqlx::query(&format!(
                "UPDATE server_locks SET expires_at = \
                 clock_timestamp() + make_interval(secs => {secs}) WHERE server_id = {server}"
            ))
            .execute(&pool)
            .await
            .expect("move the expiry");
            assert_eq!(done.rows_affected(), 1);
        }
    })
    .await;
}

/// A database of schema 3 (timestamps and JSON as TEXT, as serversync wrote them before
/// migration 0005) upgrades on open: every timestamp column becomes `timestamptz`, every
/// JSON column `jsonb`, and the values read back through the store are the ones stored
/// (the 9-digit fraction rounded to microseconds by PostgreSQL's cast).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_3_database_upgrades_to_typed_columns_with_its_values() {
    use serversync_core::module::{RemoteAccount, RemoteStatus};
    use time::macros::datetime;

    let Some(server) = server_url() else { return };
    let url = fresh_database(&server).await;
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../serversync-store/migrations/postgres");
    let mut old = sqlx::migrate::Migrator::new(dir)
        .await
        .expect("read the migrations");
    old.migrations = old
        .migrations
        .iter()
        .filter(|m| m.version <= 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    assert_eq!(old.migrations.len(), 3);
    old.run(&pool).await.expect("schema 3");

    let account = RemoteAccount {
        email: Some("ann@mail.test".into()),
        username: "ann".into(),
        domain: "ann.test".into(),
        unique_identifier: "ann.test".into(),
        product: "basic".into(),
        primary_ip: "192.0.2.10".into(),
        created: Some(datetime!(2024-01-31 13:15:00)),
        status: RemoteStatus::Active,
        owner: Some("root".into()),
        status_detail: None,
        notes: Vec::new(),
    };
    let accounts = serde_json::to_string(&vec![account.clone()]).unwrap();
    for sql in [
        "INSERT INTO clients (id, email, email_key, first_name, last_name, company, status) \
         VALUES (1, 'ann@mail.test', 'ann@mail.test', 'Ann', 'A', '', 'Active')",
        "INSERT INTO products (id, name, module, config_options) \
         VALUES (2, 'Basic', 'cpanel', '{\"configoption1\":\"basic\"}')",
        "INSERT INTO servers (id, name, module, hostname, ip_address, port, secure, tls_verify, \
         username, password, access_hash, disabled, secrets_sealed) \
         VALUES (3, 'web1', 'cpanel', 'h.test', '192.0.2.1', NULL, TRUE, TRUE, 'root', 'pw', '', \
         FALSE, FALSE)",
        "INSERT INTO services (id, client_id, product_id, server_id, domain, username, \
         dedicated_ip, regdate, status, billing_cycle, amount, next_due_date, termination_date, \
         custom_fields, version) VALUES (4, 1, 2, 3, 'ann.test', 'ann', '', '2024-01-31', \
         'Active', 'Monthly', '1.00', NULL, NULL, '{\"Instance ID\":\"i-1\"}', 1)",
        "INSERT INTO audit_events (at, actor, action, server_id, run_id, service_id, client_id, \
         before_json, after_json, note) VALUES ('2026-12-03T12:05:00.000000000Z', 'cli:old', \
         'sync', 3, 1, 4, 1, '{\"status\":\"Active\"}', '{\"status\":\"Suspended\"}', NULL)",
        "INSERT INTO admin_users (username, password_hash, role, disabled, created_at) \
         VALUES ('old', 'hash', 'admin', FALSE, '2026-01-01T00:00:00.000000000Z')",
        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, created_at) \
         VALUES ('s1', 1, 'csrf', '2999-01-01T00:00:00.000000000Z', \
         '2026-01-01T00:00:01.000000000Z')",
        "INSERT INTO server_locks (server_id, holder, actor, host, machine, pid, pid_start, \
         taken_at, expires_at) VALUES (3, 'h', 'cli:x', 'host', NULL, NULL, NULL, \
         '2026-12-03T12:00:00.000000000Z', '2999-12-03T12:00:15.000000000Z')",
        "INSERT INTO api_tokens (name, token_hash, role, created_at, last_used_at) \
         VALUES ('t', 'th', 'readonly', '2026-02-02T00:00:00.500000000Z', NULL)",
        "INSERT INTO setup_token (id, token_hash, created_at) \
         VALUES (1, 'st', '2026-01-01T00:00:00.000000000Z')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    sqlx::query(
        "INSERT INTO sync_runs (server_id, started_at, finished_at, listing_status, error, \
         accounts_count, accounts, skipped, analysis_json, counts_json, service_versions, \
         applied_at) VALUES (3, '2026-12-03T12:00:00.123456789Z', \
         '2026-12-03T12:00:01.000000000Z', 'complete', NULL, 1, $1, '[]', \
         '{\"items\":[]}', '{\"in_sync\":1}', '[[4,1]]', '2026-12-03T12:05:00.000000000Z')",
    )
    .bind(&accounts)
    .execute(&pool)
    .await
    .expect("a schema 3 run");

    let store = PgStore::open(&url, SecretKey::ephemeral())
        .await
        .expect("open upgrades the schema");

    let types: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND (column_name = 'at' OR column_name LIKE '%\\_at' OR column_name LIKE '%\\_json' \
         OR column_name IN ('accounts', 'skipped', 'service_versions', 'custom_fields', \
         'config_options')) ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // 21 of schema 3, the three of 0004's `sync_jobs`, 0006's `sign_in_failures.last_at`,
    // 0008's `alert_deliveries.at` and 0011's `alert_claims.claimed_at`.
    assert_eq!(types.len(), 27, "{types:?}");
    for (table, col, ty) in &types {
        let want = if col == "at" || col.ends_with("_at") {
            "timestamp with time zone"
        } else {
            "jsonb"
        };
        assert_eq!(ty, want, "{table}.{col}");
    }

    let run = store.run(1).await.expect("the old run");
    assert_eq!(run.started_at, datetime!(2026-12-03 12:00:00.123457 UTC));
    assert_eq!(run.finished_at, datetime!(2026-12-03 12:00:01 UTC));
    assert_eq!(run.applied_at, Some(datetime!(2026-12-03 12:05:00 UTC)));
    assert_eq!(run.accounts, vec![account]);
    assert!(run.skipped.is_empty());
    assert_eq!(run.service_versions, vec![(4, 1)]);
    assert_eq!(
        serversync_store_tests::json_of(run.analysis_json.as_deref()),
        Some(serde_json::json!({"items": []}))
    );
    assert_eq!(
        serversync_store_tests::json_of(Some(&run.counts_json)),
        Some(serde_json::json!({"in_sync": 1}))
    );

    let service = store.service(4).await.expect("the old service");
    assert_eq!(
        service.custom_fields.get("Instance ID").map(String::as_str),
        Some("i-1")
    );
    let products = store.products().await.unwrap();
    assert_eq!(
        products[0]
            .config_options
            .get("configoption1")
            .map(String::as_str),
        Some("basic")
    );

    let events = store.audit_events(Some(3), None, None, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].at, datetime!(2026-12-03 12:05:00 UTC));
    assert_eq!(
        serversync_store_tests::json_of(events[0].after.as_deref()),
        Some(serde_json::json!({"status": "Suspended"}))
    );

    let users = store.users().await.unwrap();
    assert_eq!(users[0].created_at, datetime!(2026-01-01 00:00:00 UTC));
    let session = store.session("s1").await.unwrap().expect("the old session");
    assert_eq!(session.expires_at, datetime!(2999-01-01 00:00:00 UTC));
    let locks = store.locks().await.unwrap();
    assert_eq!(
        (locks[0].taken_at, locks[0].expires_at),
        (
            datetime!(2026-12-03 12:00:00 UTC),
            datetime!(2999-12-03 12:00:15 UTC)
        )
    );
    let tokens = store.api_tokens().await.unwrap();
    assert_eq!(tokens[0].created_at, datetime!(2026-02-02 00:00:00.5 UTC));
    assert_eq!(tokens[0].last_used_at, None);
    // The stored lease still keeps others out (it runs until 2999).
    assert!(matches!(
        store
            .lock_server(
                3,
                &serversync_store::LockHolder {
                    id: "new".into(),
                    actor: "cli:new".into(),
                    host: "host".into(),
                    process: None,
                },
                std::time::Duration::from_secs(60)
            )
            .await,
        Err(serversync_store::StoreError::Busy(_))
    ));
}

/// PostgreSQL's `jsonb` cannot hold a NUL character: refused as invalid input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_with_a_nul_character() {
    let Some(store) = fresh().await else { return };
    serversync_store_tests::documents_with_a_nul_character(&store, false).await;
}
