//! The real binary on PostgreSQL (`serversync --database postgres://…`): records import,
//! analyse against a cPanel simulator, apply, analyse again; the URL from
//! SERVERSYNC_DATABASE_URL_FILE; the password never printed. Each test makes its own
//! database on the server SERVERSYNC_TEST_POSTGRES_URL names (`scripts/pg-test.sh` starts
//! one); without it the tests skip, except with CI=true, where they fail.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use serversync_store::secrets::SecretKey;

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

/// A new database on the test server (its name unique to this process and call); its URL.
async fn fresh_database(server: &str) -> (String, String) {
    use sqlx::Connection;
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000;
    let name = format!(
        "cli_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(server).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let (base, _) = server.rsplit_once('/').expect("URL has a path");
    (format!("{base}/{name}"), name)
}

/// An [`Env`] on a fresh PostgreSQL database, with a key file (`key`) for its secrets.
async fn pg_env() -> Option<Env> {
    let server = server_url()?;
    let (db, _) = fresh_database(&server).await;
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        db,
    };
    SecretKey::generate("key")
        .write_file(&env.path("key"), false)
        .unwrap();
    Some(env)
}

#[tokio::test(flavor = "multi_thread")]
async fn records_analyse_apply_on_postgres() {
    let Some(env) = pg_env().await else { return };
    let sim = sim(vec![
        acct("ann", "ann.test", "basic").to_value(),
        acct("bob", "bob.test", "silver").to_value(),
    ])
    .await;
    let doc = base_doc(
        sim.addr.port(),
        vec![service(1000, 1, 10, 100, "ann.test", "ann", "Active")],
    );
    let f = env.write_json("records.json", &doc);
    env.ok(&[
        "--secret-key-file",
        "key",
        "records",
        "import",
        f.to_str().unwrap(),
    ])
    .await;

    let out = env
        .ok(&["--secret-key-file", "key", "analyse", "web1", "--json"])
        .await;
    let an = out.json();
    assert_eq!(
        nonzero_counts(&an),
        counts(&[("in_sync", 1), ("not_in_billing", 1)]),
        "{an:#}"
    );
    assert_eq!(item(&an, "bob.test")["category"], "not_in_billing");

    let out = env
        .run(&[
            "--secret-key-file",
            "key",
            "apply",
            "web1",
            "--import",
            "all",
            "--json",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        outcomes(&out.json()),
        vec![("import".into(), "bob.test".into(), "applied".into())]
    );
    let services = env
        .ok(&["--secret-key-file", "key", "services", "list", "--json"])
        .await
        .json();
    let bob: Vec<_> = services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["domain"] == "bob.test")
        .collect();
    assert_eq!(bob.len(), 1, "{services:#}");
    assert_eq!(bob[0]["product_id"], 11);
    assert_eq!(bob[0]["server_id"], 100);
    assert_eq!(bob[0]["client_id"], 1);

    let again = env
        .ok(&["--secret-key-file", "key", "analyse", "web1", "--json"])
        .await
        .json();
    assert_eq!(
        nonzero_counts(&again),
        counts(&[("in_sync", 2)]),
        "{again:#}"
    );

    // Without a key file a PostgreSQL database is refused (no key is made up for it).
    let out = env.run(&["analyse", "web1", "--json"]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("--secret-key-file"), "{out:#?}");
}

/// A role whose password holds `@`, `/`, `?`: the URL (percent-encoded, given by
/// SERVERSYNC_DATABASE_URL_FILE) works, and neither the password nor its encoded form is
/// printed, also when the database does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn password_with_url_characters_from_a_url_file_is_never_printed() {
    use sqlx::Connection;
    let Some(server) = server_url() else { return };
    let (db, name) = fresh_database(&server).await;
    let role = format!("{name}_r");
    let password = "s3@cr/et?x";
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    for stmt in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
        format!("ALTER DATABASE {name} OWNER TO {role}"),
    ] {
        sqlx::query(&stmt).execute(&mut admin).await.unwrap();
    }
    let encoded = "s3%40cr%2Fet%3Fx";
    let hostpart = db.split_once('@').unwrap().1;
    let url = format!("postgres://{role}:{encoded}@{hostpart}");
    let dir = tempfile::tempdir().unwrap();
    SecretKey::generate("key")
        .write_file(&dir.path().join("key"), false)
        .unwrap();
    std::fs::write(dir.path().join("db-url"), format!("{url}\n")).unwrap();
    let missing = format!("postgres://{role}:{encoded}@{}_gone", hostpart);
    std::fs::write(dir.path().join("gone-url"), format!("{missing}\n")).unwrap();

    let run = |file: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_serversync"))
            .args(["--secret-key-file", "key"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("SERVERSYNC_DATABASE_URL")
            .env_remove("SERVERSYNC_LOG")
            .env("SERVERSYNC_DATABASE_URL_FILE", file)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, text) = run("db-url", &["servers", "list", "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.trim(), "[]");
    let (code, text) = run("gone-url", &["servers", "list", "--json"]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{name}_gone")),
        "names the database: {text}"
    );
    for secret in [password, encoded, "cr/et", "cr%2Fet"] {
        assert!(!text.contains(secret), "{secret:?} printed: {text}");
    }
}

/// Instance A is SIGKILLed while it holds server web1's lease (mid-analysis of 50,000
/// accounts); instance B's analysis right after is not refused as busy (the lease of a
/// process of this machine that no longer exists is taken over at once; another host's would
/// wait for the 15 s expiry) and stores its run, while A's unfinished run was never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_holding_a_lease_does_not_block_the_next() {
    use sqlx::Connection;
    let Some(env) = pg_env().await else { return };
    let sim = panel_sim::spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        panel_sim::CpanelSimConfig::generated(50_000, 11),
    )
    .await
    .unwrap();
    let f = env.write_json("records.json", &base_doc(sim.addr.port(), vec![]));
    env.ok(&[
        "--secret-key-file",
        "key",
        "records",
        "import",
        f.to_str().unwrap(),
    ])
    .await;
    let mut db = sqlx::PgConnection::connect(&env.db).await.unwrap();

    let mut a = Command::new(env!("CARGO_BIN_EXE_serversync"))
        .args(["--database", &env.db, "--secret-key-file", "key"])
        .args(["analyse", "web1", "--json"])
        .current_dir(env.dir.path())
        .env_remove("SERVERSYNC_DATABASE_URL")
        .env_remove("SERVERSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until A holds the lease, then kill it without a chance to clean up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM server_locks WHERE server_id = 100")
                .fetch_one(&mut db)
                .await
                .unwrap();
        if held == 1 {
            break;
        }
        assert!(
            a.try_wait().unwrap().is_none(),
            "A ended before taking the lease"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "A never took the lease"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let pid = nix::unistd::Pid::from_raw(a.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = tokio::task::spawn_blocking(move || a.wait().unwrap())
        .await
        .unwrap();
    assert!(status.code().is_none(), "A was killed: {status:?}");
    let runs_after_kill = count(&mut db, "sync_runs").await;
    assert_eq!(runs_after_kill, 0, "A was killed before storing its run");
    let stale: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_locks")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stale, 1, "the killed instance left its lease behind");

    let t = std::time::Instant::now();
    let out = env
        .run(&["--secret-key-file", "key", "analyse", "web1", "--json"])
        .await;
    assert_eq!(out.code, 0, "B's analysis: {}", out.stderr);
    assert!(!out.stderr.contains("busy"), "{}", out.stderr);
    assert_eq!(out.json()["counts"]["not_in_billing"], 50_000);
    assert!(t.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(count(&mut db, "sync_runs").await, runs_after_kill + 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_locks")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0, "B released its lease");
}

async fn count(db: &mut sqlx::PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db)
        .await
        .unwrap()
}
