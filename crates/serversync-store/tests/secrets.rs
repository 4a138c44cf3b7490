//! Server secrets at rest in the SQLite store: sealed in the file (and its WAL), plain-text
//! rows of older databases encrypted on open, a wrong key refused by name, key rotation all
//! or nothing, database files private (0600), and database URLs redacted.

use std::path::Path;

use serversync_core::model::{Secret, Server};
use serversync_store::prelude::*;
use serversync_store::secrets::SecretKey;
use serversync_store::sqlite::SqliteStore;
use serversync_store::NewAuditEvent;

const PASSWORD: &str = "Pa55/w?rd@x-store";
const TOKEN: &str = "TOKEN-SECRET-123-store";

fn server(name: &str) -> Server {
    Server {
        id: 0,
        name: name.into(),
        module: "cpanel".into(),
        hostname: "127.0.0.1".into(),
        ip_address: "192.0.2.10".into(),
        port: Some(2087),
        secure: false,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(TOKEN),
        disabled: false,
    }
}

fn event(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: action.into(),
        ..Default::default()
    }
}

/// Every file of the database (main, -wal, -shm) as bytes, concatenated.
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn key_at(dir: &Path, name: &str) -> SecretKey {
    let p = dir.join(name);
    let k = SecretKey::generate(p.display().to_string());
    assert!(k.write_file(&p, false).unwrap());
    k
}

#[tokio::test]
async fn secrets_are_sealed_in_the_file_and_read_back_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let url = format!("sqlite://{}", db.display());
    let key = key_at(dir.path(), "s.key");
    let store = SqliteStore::open(&url, key.clone()).await.unwrap();
    let id = store
        .save_server(&server("web1"), &|_| event("server_save"))
        .await
        .unwrap();
    // Stored form: v1:<key id>:<base64>, never the secret.
    let (pw, tok): (String, String) =
        sqlx::query_as("SELECT password, access_hash FROM servers WHERE id = ?")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    for stored in [&pw, &tok] {
        assert!(stored.starts_with(&format!("v1:{}:", key.id())), "{stored}");
    }
    let s = store.server("web1").await.unwrap();
    assert_eq!(s.password.expose(), PASSWORD);
    assert_eq!(s.access_hash.expose(), TOKEN);
    // An update with empty secrets keeps them (write-only), still sealed.
    let mut edit = s.clone();
    edit.password = Secret::new("");
    edit.access_hash = Secret::new("");
    edit.hostname = "10.0.0.1".into();
    store
        .save_server(&edit, &|_| event("server_save"))
        .await
        .unwrap();
    let s = store.server_by_id(id).await.unwrap();
    assert_eq!(
        (s.password.expose(), s.hostname.as_str()),
        (PASSWORD, "10.0.0.1")
    );
    let bytes = database_bytes(&db);
    assert!(!bytes.is_empty());
    for secret in [PASSWORD, TOKEN] {
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the database files"
        );
    }
    store.close().await;
}

#[tokio::test]
async fn plain_text_rows_of_an_older_database_are_encrypted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let url = format!("sqlite://{}", db.display());
    let key = key_at(dir.path(), "old.key");
    {
        // The state an older database is in after migration 4: plain text, secrets_sealed 0.
        let store = SqliteStore::open(&url, key.clone()).await.unwrap();
        sqlx::query(
            "INSERT INTO servers (id, name, module, hostname, ip_address, port, secure, \
             tls_verify, username, password, access_hash, disabled) \
             VALUES (5, 'old1', 'cpanel', 'h', '192.0.2.1', 2087, 0, 1, 'root', ?, ?, 0), \
                    (6, 'old2', 'cpanel', 'h', '192.0.2.2', 2087, 0, 1, 'root', '', 'v1:looks-sealed', 0)",
        )
        .bind(PASSWORD)
        .bind(TOKEN)
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
    }
    assert!(
        contains(&database_bytes(&db), TOKEN),
        "the fixture holds plain text"
    );

    let store = SqliteStore::open(&url, key.clone()).await.unwrap();
    let rows: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, access_hash, secrets_sealed FROM servers ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for (id, stored, sealed) in &rows {
        assert_eq!(*sealed, 1, "server {id}");
        assert!(stored.starts_with(&format!("v1:{}:", key.id())), "{stored}");
    }
    let old1 = store.server("old1").await.unwrap();
    assert_eq!(old1.password.expose(), PASSWORD);
    assert_eq!(old1.access_hash.expose(), TOKEN);
    // A plain-text value that merely looks sealed is taken as the plain text it is.
    let old2 = store.server("old2").await.unwrap();
    assert_eq!(old2.access_hash.expose(), "v1:looks-sealed");
    assert_eq!(old2.password.expose(), "");
    store.close().await;
    let bytes = database_bytes(&db);
    for secret in [PASSWORD, TOKEN] {
        assert!(
            !contains(&bytes, secret),
            "{secret} left in the database files"
        );
    }
}

#[tokio::test]
async fn a_wrong_key_is_refused_at_open_naming_the_server_and_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let right = key_at(dir.path(), "right.key");
    let store = SqliteStore::open(&url, right.clone()).await.unwrap();
    store
        .save_server(&server("web1"), &|_| event("server_save"))
        .await
        .unwrap();
    store.close().await;
    let wrong = key_at(dir.path(), "wrong.key");
    let e = SqliteStore::open(&url, wrong.clone()).await.unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with(&format!(
            "secret of server web1 (password) cannot be decrypted with the key in {}",
            wrong.source()
        )),
        "{m}"
    );
    assert!(m.contains(right.id()) && m.contains(wrong.id()), "{m}");
    assert!(!m.contains(PASSWORD), "{m}");
}

#[tokio::test]
async fn rotating_the_key_re_encrypts_every_secret_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let old = key_at(dir.path(), "old.key");
    let store = SqliteStore::open(&url, old.clone()).await.unwrap();
    for name in ["web1", "web2"] {
        store
            .save_server(&server(name), &|_| event("server_save"))
            .await
            .unwrap();
    }
    let mut bare = server("bare");
    bare.password = Secret::new("");
    bare.access_hash = Secret::new("");
    store
        .save_server(&bare, &|_| event("server_save"))
        .await
        .unwrap();

    let new = key_at(dir.path(), "new.key");
    let n = store
        .rotate_secret_key(&new, &|n| NewAuditEvent {
            note: Some(format!("{n} servers")),
            ..event("secrets_rotate_key")
        })
        .await
        .unwrap();
    assert_eq!(n, 2, "servers holding a secret");
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT access_hash FROM servers WHERE access_hash <> ''")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|s| s.starts_with(&format!("v1:{}:", new.id()))),
        "{stored:?}"
    );
    // The same store writes with the new key from now on.
    store
        .save_server(&server("web3"), &|_| event("server_save"))
        .await
        .unwrap();
    let events = store.audit_events(None, None, None, 0).await.unwrap();
    let rotated = events
        .iter()
        .find(|e| e.action == "secrets_rotate_key")
        .expect("audited");
    assert_eq!(rotated.note.as_deref(), Some("2 servers"));
    store.close().await;

    assert!(
        SqliteStore::open(&url, old).await.is_err(),
        "the old key opens nothing"
    );
    let store = SqliteStore::open(&url, new).await.unwrap();
    for name in ["web1", "web2", "web3"] {
        let s = store.server(name).await.unwrap();
        assert_eq!(
            (s.password.expose(), s.access_hash.expose()),
            (PASSWORD, TOKEN)
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_files_it_creates_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let store = SqliteStore::open(
        &format!("sqlite://{}", db.display()),
        SecretKey::ephemeral(),
    )
    .await
    .unwrap();
    store
        .save_server(&server("web1"), &|_| event("server_save"))
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{p}");
    }
    store.close().await;
}

#[test]
fn database_urls_are_redacted_from_their_parsed_form() {
    use serversync_store::redact_url as r;
    let cases = [
        // Passwords not percent-encoded, holding `/`, `?`, `@`, `#`.
        (
            "postgres://app:se/cr?et@db:5432/x",
            "postgres://db:5432/x",
            "se/cr",
        ),
        (
            "postgres://app:p@ss#wd@db/x?sslmode=require",
            "postgres://db/x?…",
            "ss#wd",
        ),
        ("postgres://app:a?b/c@db/x", "postgres://db/x", "a?b"),
        ("postgres://app:%2Fenc%3F@db/x", "postgres://db/x", "enc"),
        // A password in the query string of an SQLite URL.
        (
            "sqlite://data/x.db?password=hunter/2?x",
            "sqlite://data/x.db?…",
            "hunter",
        ),
        (
            "sqlite:data/x.db?mode=rwc&password=hunter2",
            "sqlite:data/x.db?…",
            "hunter",
        ),
        (
            "sqlite://data/x.db#frag-secret",
            "sqlite://data/x.db?…",
            "frag-secret",
        ),
        ("sqlite::memory:", "sqlite::memory:", "\u{0}"),
        (
            "mysql://root:s3cret@db:3306/x?password=s3cret",
            "mysql://db:3306/x?…",
            "s3cret",
        ),
        // Does not parse even without the user information: only the scheme is shown.
        ("postgres://app:pw@[not-a-host/x", "postgres://…", "pw"),
    ];
    for (url, shown, secret) in cases {
        let got = r(url);
        assert_eq!(got, shown, "{url}");
        assert!(!got.contains(secret), "{url} → {got}");
        assert!(!got.contains("app"), "{url} → {got}");
    }
}

#[tokio::test]
async fn server_names_differing_in_case_or_spaces_are_one_name() {
    let store = SqliteStore::open("sqlite::memory:", SecretKey::ephemeral())
        .await
        .unwrap();
    let id = store
        .save_server(&server("web1"), &|_| event("server_save"))
        .await
        .unwrap();
    let e = store
        .save_server(&server("WEB1 "), &|_| event("server_save"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("server name \"WEB1 \" is already used by server {id}")
    );
    let mut other = server("Web1");
    other.id = 200;
    let records = serversync_store::Records {
        servers: vec![other],
        ..Default::default()
    };
    let e = store
        .import_records(
            &records,
            &serversync_store::IdentifierFields::new(),
            &|_| event("records_import"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("servers[0].name: \"Web1\" is already the name of server {id}")
    );
    assert_eq!(store.servers().await.unwrap().len(), 1, "nothing written");
}

/// A database made by a version before secrets were sealed (schema 3, the migrations of
/// that version run by sqlx as that version did), with plain-text secrets: the next open
/// migrates it, encrypts the secrets, and leaves no plain text in its files.
#[tokio::test]
async fn a_schema_3_database_with_plain_text_secrets_is_migrated_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let old_migrations = dir.path().join("migrations");
    std::fs::create_dir(&old_migrations).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for name in ["0001_initial.sql", "0002_web.sql", "0003_leases_setup.sql"] {
        std::fs::copy(src.join(name), old_migrations.join(name)).unwrap();
    }
    let db = dir.path().join("v3.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(old_migrations.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO servers (id, name, module, hostname, ip_address, port, secure, \
             tls_verify, username, password, access_hash, disabled) \
             VALUES (7, 'legacy', 'cpanel', 'h', '192.0.2.7', 2087, 0, 1, 'root', ?, ?, 0)",
        )
        .bind(PASSWORD)
        .bind(TOKEN)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    assert!(
        contains(&database_bytes(&db), PASSWORD),
        "the fixture holds plain text"
    );

    let key = key_at(dir.path(), "v3.key");
    let store = SqliteStore::open(&format!("sqlite://{}", db.display()), key.clone())
        .await
        .unwrap();
    let s = store.server("legacy").await.unwrap();
    assert_eq!(
        (s.password.expose(), s.access_hash.expose()),
        (PASSWORD, TOKEN)
    );
    let stored: String = sqlx::query_scalar("SELECT password FROM servers WHERE id = 7")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(stored.starts_with(&format!("v1:{}:", key.id())), "{stored}");
    store.close().await;
    let bytes = database_bytes(&db);
    for secret in [PASSWORD, TOKEN] {
        assert!(
            !contains(&bytes, secret),
            "{secret} left in the database files"
        );
    }
}
