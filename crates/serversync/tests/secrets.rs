//! Server secrets at rest, end to end with the real binary: no output, log line, error line,
//! export or database file holds a test secret (while the module still gets them in clear),
//! the key file is created 0600 beside the database, a wrong key is a clear error (exit 2),
//! `secrets rotate-key` works, and database URLs with secrets are redacted.

mod common;

use std::path::Path;
use std::process::Command;

use common::{acct, base_doc, service, Env, Out};
use panel_sim::{spawn_cpanel, CpanelSimConfig, SimHandle};
use serde_json::{json, Value};

/// Not percent-encoding-safe on purpose (`/`, `?`, `@`).
const PASSWORD: &str = "Pa55/w?rd@x";
const TOKEN: &str = "TOKEN-SECRET-123-e2e";
/// Pieces that must not show either (a secret cut at a `/` or `?` is still a leak).
const PIECES: &[&str] = &["Pa55", "w?rd", "SECRET-123"];

/// Runs the binary in `env`'s directory with `SERVERSYNC_LOG=debug` and extra variables.
async fn run(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Out {
    let mut full = vec!["--database".to_string(), env.db.clone()];
    full.extend(args.iter().map(|s| s.to_string()));
    run_raw(env.dir.path(), vars, full).await
}

async fn run_raw(cwd: &Path, vars: &[(&str, &str)], args: Vec<String>) -> Out {
    let cwd = cwd.to_path_buf();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_serversync"))
            .args(&args)
            .current_dir(&cwd)
            .env_remove("SERVERSYNC_DATABASE_URL")
            .env_remove("SERVERSYNC_SECRET_KEY_FILE")
            .env("SERVERSYNC_LOG", "debug")
            .env("NO_COLOR", "1")
            .envs(vars)
            .output()
            .expect("run serversync");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn secret_sim(accounts: Vec<Value>) -> SimHandle {
    let mut config = CpanelSimConfig::with_accounts(accounts);
    config.token = TOKEN.into();
    config.password = Some(PASSWORD.into());
    spawn_cpanel("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("spawn cpanel simulator")
}

/// web1 on the simulator and `dead1` on a closed port, both holding the test secrets.
fn secret_doc(port: u16, dead_port: u16) -> Value {
    let mut doc = base_doc(
        port,
        vec![service(1000, 1, 10, 100, "alice.test", "alice", "Active")],
    );
    doc["servers"][0]["password"] = json!(PASSWORD);
    doc["servers"][0]["access_hash"] = json!(TOKEN);
    let mut dead = doc["servers"][0].clone();
    dead["id"] = json!(101);
    dead["name"] = json!("dead1");
    dead["port"] = json!(dead_port);
    doc["servers"].as_array_mut().unwrap().push(dead);
    doc
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn leaks(text: &[u8]) -> Vec<&'static str> {
    [PASSWORD, TOKEN]
        .iter()
        .chain(PIECES)
        .copied()
        .filter(|s| text.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

/// Writes a key file only its owner can read (as serversync itself creates them).
fn write_private(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_log_error_export_or_database_file_holds_a_secret() {
    let sim = secret_sim(vec![
        acct("alice", "alice.test", "basic").to_value(),
        acct("bob", "bob.test", "basic").to_value(),
    ])
    .await;
    let env = Env::new();
    let doc = secret_doc(sim.addr.port(), closed_port());
    let records = env.write_json("records.json", &doc);
    let export_file = env.path("export.json");

    let import = run(&env, &[], &["records", "import", records.to_str().unwrap()]).await;
    assert_eq!(import.code, 0, "{import:#?}");
    // The first use creates the key file beside the database and says where.
    let key_file = env.path("t.db.key");
    assert!(
        import.stderr.contains(&format!(
            "created the secret key file {}",
            key_file.display()
        )),
        "{import:#?}"
    );
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key_text.trim().len(), 64, "64 hex digits");
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&env.path("t.db")), 0o600);
    }

    let mut outputs = vec![import];
    let analysed = run(&env, &[], &["analyse", "web1", "--json"]).await;
    assert_eq!(analysed.code, 0, "{analysed:#?}");
    // The module got the decrypted token: the simulator answered, bob is an import.
    let a = analysed.json();
    assert_eq!(a["listing"]["accounts"], 2, "{a:#}");
    assert_eq!(
        common::nonzero_counts(&a),
        common::counts(&[("in_sync", 1), ("not_in_billing", 1)]),
        "{a:#}"
    );
    outputs.push(analysed);
    let exported = run(
        &env,
        &[],
        &["records", "export", export_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(exported.code, 0, "{exported:#?}");
    outputs.push(exported);
    for args in [
        &["analyse", "web1"][..],
        &["apply", "web1", "--import", "all", "--json"],
        &["servers", "list"],
        &["servers", "list", "--json"],
        &["services", "list", "--json"],
        &["locks", "list", "--json"],
        &["records", "export"],
    ] {
        let out = run(&env, &[], args).await;
        assert_eq!(out.code, 0, "{args:?}: {out:#?}");
        outputs.push(out);
    }
    // The servers list shows that secrets are set, not what they are.
    let servers: Value = serde_json::from_str(&outputs[outputs.len() - 4].stdout).unwrap();
    assert_eq!(servers[0]["name"], "web1", "{servers:#}");
    // A failed listing: the error line and the debug log name the server, not its secrets.
    let failed = run(&env, &[], &["analyse", "dead1"]).await;
    assert_eq!(failed.code, 2, "{failed:#?}");
    assert!(failed.stderr.contains("dead1"), "{failed:#?}");
    outputs.push(failed);

    let export = std::fs::read(&export_file).unwrap();
    assert!(!export.is_empty());
    let exported: Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(exported["servers"][0]["name"], "web1");
    assert_eq!(leaks(&export), Vec::<&str>::new(), "records export file");
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(
            leaks(out.stdout.as_bytes()),
            Vec::<&str>::new(),
            "stdout {i}: {out:#?}"
        );
        assert_eq!(
            leaks(out.stderr.as_bytes()),
            Vec::<&str>::new(),
            "stderr {i}: {out:#?}"
        );
    }
    // The debug log really ran (so its silence about secrets means something).
    assert!(
        outputs.iter().any(|o| o.stderr.contains("DEBUG")),
        "no debug log line seen"
    );
    // The raw database files: main file, WAL and shared memory.
    let mut seen = 0;
    for name in ["t.db", "t.db-wal", "t.db-shm"] {
        if let Ok(bytes) = std::fs::read(env.path(name)) {
            seen += 1;
            assert_eq!(leaks(&bytes), Vec::<&str>::new(), "{name}");
        }
    }
    assert!(seen >= 1);
    // The runs stored hold the listing (a run per analyse): the database file was checked
    // above, and it is not empty of them.
    let url = env.db.clone();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(runs >= 3, "{runs} runs");
    let stored: String = sqlx::query_scalar("SELECT access_hash FROM servers WHERE id = 100")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:"), "{stored}");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_file_is_a_clear_error() {
    let sim = secret_sim(vec![acct("alice", "alice.test", "basic").to_value()]).await;
    let env = Env::new();
    let records = env.write_json("records.json", &secret_doc(sim.addr.port(), closed_port()));
    let import = run(&env, &[], &["records", "import", records.to_str().unwrap()]).await;
    assert_eq!(import.code, 0, "{import:#?}");

    let other = env.path("other.key");
    write_private(&other, &format!("{}\n", "ab".repeat(32)));
    let other_s = other.to_str().unwrap();
    for (vars, args) in [
        (
            vec![],
            vec!["--secret-key-file", other_s, "analyse", "web1"],
        ),
        (
            vec![("SERVERSYNC_SECRET_KEY_FILE", other_s)],
            vec!["servers", "list"],
        ),
    ] {
        let out = run(&env, &vars, &args).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let lines: Vec<&str> = out
            .stderr_lines()
            .into_iter()
            .filter(|l| !l.contains(" DEBUG ") && !l.contains(" INFO "))
            .collect();
        assert_eq!(lines.len(), 1, "{out:#?}");
        assert!(
            lines[0].contains(&format!(
                "secret of server web1 (password) cannot be decrypted with the key in {other_s}"
            )),
            "{}",
            lines[0]
        );
        assert_eq!(leaks(out.stderr.as_bytes()), Vec::<&str>::new());
    }
    let missing = env.path("missing.key");
    let out = run(
        &env,
        &[],
        &[
            "--secret-key-file",
            missing.to_str().unwrap(),
            "servers",
            "list",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains(&format!(
            "secret key file {}: cannot be read",
            missing.display()
        )),
        "{out:#?}"
    );
    // The right key (given explicitly) still works.
    let key = env.path("t.db.key");
    let ok = run(
        &env,
        &[],
        &[
            "--secret-key-file",
            key.to_str().unwrap(),
            "analyse",
            "web1",
            "--json",
        ],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:#?}");
    // No place for a key beside a database that is not an SQLite file.
    let pg = run_raw(
        env.dir.path(),
        &[],
        vec![
            "--database".into(),
            "postgres://app:se/cr?et@db/x".into(),
            "servers".into(),
            "list".into(),
        ],
    )
    .await;
    assert_eq!(pg.code, 2, "{pg:#?}");
    assert!(pg.stderr.contains("--secret-key-file"), "{pg:#?}");
    assert!(
        !pg.stderr.contains("se/cr") && !pg.stderr.contains("app"),
        "{pg:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_re_encrypts_and_the_old_key_opens_nothing() {
    let sim = secret_sim(vec![acct("alice", "alice.test", "basic").to_value()]).await;
    let env = Env::new();
    let records = env.write_json("records.json", &secret_doc(sim.addr.port(), closed_port()));
    assert_eq!(
        run(&env, &[], &["records", "import", records.to_str().unwrap()])
            .await
            .code,
        0
    );
    let key_file = env.path("t.db.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let old_copy = env.path("old.key");
    write_private(&old_copy, &old_key);

    let rotated = run(&env, &[], &["secrets", "rotate-key"]).await;
    assert_eq!(rotated.code, 0, "{rotated:#?}");
    assert!(
        rotated
            .stdout
            .starts_with("re-encrypted the secrets of 2 servers with key "),
        "{rotated:#?}"
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!env.path("t.db.key.new").exists(), "no staging file left");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    // The module still gets the token, through the new key.
    let a = run(&env, &[], &["analyse", "web1", "--json"]).await;
    assert_eq!(a.code, 0, "{a:#?}");
    assert_eq!(a.json()["listing"]["accounts"], 1);
    // The old key opens nothing.
    let old = run(
        &env,
        &[],
        &[
            "--secret-key-file",
            old_copy.to_str().unwrap(),
            "servers",
            "list",
        ],
    )
    .await;
    assert_eq!(old.code, 2, "{old:#?}");
    assert!(
        old.stderr.contains("cannot be decrypted with the key in"),
        "{old:#?}"
    );

    // To another file: that file works, the default one no longer does.
    let elsewhere = env.path("elsewhere.key");
    let moved = run(
        &env,
        &[],
        &[
            "secrets",
            "rotate-key",
            "--new-key-file",
            elsewhere.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(moved.code, 0, "{moved:#?}");
    assert!(moved.stdout.contains("--secret-key-file"), "{moved:#?}");
    #[cfg(unix)]
    assert_eq!(mode(&elsewhere), 0o600);
    let ok = run(
        &env,
        &[],
        &[
            "--secret-key-file",
            elsewhere.to_str().unwrap(),
            "analyse",
            "web1",
            "--json",
        ],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:#?}");
    assert_eq!(run(&env, &[], &["servers", "list"]).await.code, 2);

    // Audited, once per rotation.
    let pool = sqlx::SqlitePool::connect(&env.db).await.unwrap();
    let notes: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT note FROM audit_events WHERE action = 'secrets_rotate_key' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0]
            .as_deref()
            .unwrap_or("")
            .starts_with("2 servers re-encrypted"),
        "{notes:?}"
    );
    pool.close().await;
}

#[tokio::test]
async fn database_urls_with_secrets_are_redacted_in_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    write_private(&key, &format!("{}\n", "cd".repeat(32)));
    let key = key.to_str().unwrap().to_string();
    for (url, secret, shown) in [
        (
            "sqlite://x.db?password=Pa55/w?rd@x",
            "w?rd",
            "sqlite://x.db?…",
        ),
        (
            "sqlite://x.db?mode=rwc&password=Pa55%2Fx",
            "Pa55",
            "sqlite://x.db?…",
        ),
        (
            "postgres://app:Pa55/w?rd@x@db:5432/x",
            "w?rd",
            "postgres://db:5432/x:",
        ),
        (
            "postgres://app:se#cr@et@db/x?password=Pa55",
            "cr@et",
            "postgres://db/x?…",
        ),
        ("mysql://root:Pa55/w@db/x", "Pa55", "mysql://db/x:"),
    ] {
        let out = run_raw(
            dir.path(),
            &[],
            vec![
                "--database".into(),
                url.into(),
                "--secret-key-file".into(),
                key.clone(),
                "servers".into(),
                "list".into(),
            ],
        )
        .await;
        assert_eq!(out.code, 2, "{url}: {out:#?}");
        assert!(
            out.stderr
                .contains(&format!("cannot open database {shown}")),
            "{url}: {out:#?}"
        );
        for s in [secret, "Pa55", "app:", "root:"] {
            assert!(!out.stderr.contains(s), "{url}: {s:?} in {}", out.stderr);
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_key_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let key = env.path("open.key");
    std::fs::write(&key, format!("{}\n", "ef".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        &env,
        &[("SERVERSYNC_LOG", "warn")],
        &[
            "--secret-key-file",
            key.to_str().unwrap(),
            "servers",
            "list",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(&format!(
            "secret key file {} can be read by other users (mode 644)",
            key.display()
        )),
        "{out:#?}"
    );
}
