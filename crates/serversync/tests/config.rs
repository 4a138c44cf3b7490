//! The configuration through the real binary (issue 11): `serversync.toml`, `--config`,
//! `SERVERSYNC_CONFIG`, `SERVERSYNC_…` variables and `_FILE` secrets, the command line on
//! top; `config check` shows each value's source with secrets redacted; unknown keys are an
//! error naming the key and the file; the merged values are the ones commands use.

mod common;

use std::path::Path;
use std::process::Command;

use common::{base_doc, Out};

/// Runs serversync in `dir` with exactly these extra variables (every SERVERSYNC_ one of
/// the test process removed first).
fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serversync"));
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("SERVERSYNC_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run serversync");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `key = value  # source` line of `key`, as (value, source).
fn setting(out: &Out, key: &str) -> (String, String) {
    let prefix = format!("{key} = ");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{}", out.stdout));
    let rest = &line[prefix.len()..];
    let (value, source) = rest.split_once("# ").expect("a source comment");
    (value.trim().to_string(), source.trim().to_string())
}

/// Asserts each `(key, value, source)`: the `config check` line of `key` shows that value and
/// that source.
fn assert_settings(out: &Out, expected: &[(&str, &str, &str)]) {
    for &(key, value, source) in expected {
        assert_eq!(
            setting(out, key),
            (value.to_string(), source.to_string()),
            "{key}"
        );
    }
}

const FILE: &str = r#"
database_url = "postgres://ss:hunter2-db@db.example:5432/ss"
connect_timeout_secs = 5
read_timeout_secs = 30

[scan]
concurrency = 8
interval_secs = 600

[scan.servers.web1]
deadline_secs = 60

[guards]
max_terminate_percent = 10

[[notify.webhooks]]
url = "https://hooks.example/services/T000/B000/tokentoken"
secret = "hunter2-hook"

[notify.smtp]
host = "mail.example"
from = "serversync@example"
to = ["ops@example"]
password = "hunter2-smtp-in-file"
"#;

#[test]
fn config_check_layers_file_env_and_command_line_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("serversync.toml"), FILE).unwrap();
    let pw = dir.path().join("smtp-password");
    std::fs::write(&pw, "hunter2-smtp-from-file\n").unwrap();
    let pw_shown = pw.display().to_string();
    let out = run(
        dir.path(),
        &["--connect-timeout", "3", "config", "check"],
        &[
            // env over file
            ("SERVERSYNC_READ_TIMEOUT_SECS", "20"),
            ("SERVERSYNC_SCAN__JITTER_SECS", "30"),
            ("SERVERSYNC_NOTIFY__SMTP__PASSWORD_FILE", &pw_shown),
            // not configuration: ignored
            ("SERVERSYNC_LOG", "warn"),
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some("# configuration file: serversync.toml")
    );
    let file = "file serversync.toml".to_string();
    // command line > env > file > default
    assert_settings(
        &out,
        &[
            (
                "connect_timeout_secs",
                "3",
                "command line --connect-timeout",
            ),
            (
                "read_timeout_secs",
                "20",
                "env SERVERSYNC_READ_TIMEOUT_SECS",
            ),
            ("scan.concurrency", "8", &file),
            ("scan.interval_secs", "600", &file),
            ("scan.jitter_secs", "30", "env SERVERSYNC_SCAN__JITTER_SECS"),
            ("scan.deadline_secs", "900", "default"),
            ("scan.servers.web1.deadline_secs", "60", &file),
            ("guards.max_terminate_percent", "10.0", &file),
            ("guards.max_move_percent", "25.0", "default"),
            ("listen", "\"127.0.0.1:8080\"", "default"),
        ],
    );
    // Secrets: the database password, the SMTP password (from the _FILE variable, over the
    // file's), the webhook secret and the webhook URL's token path never appear.
    let (db, source) = setting(&out, "database_url");
    assert_eq!(source, file);
    assert!(
        !db.contains("hunter2") && db.contains("db.example:5432/ss"),
        "{db}"
    );
    assert_eq!(
        setting(&out, "notify.smtp.password"),
        (
            "\"(redacted)\"".into(),
            format!("env SERVERSYNC_NOTIFY__SMTP__PASSWORD_FILE (file {pw_shown})")
        )
    );
    assert_eq!(
        setting(&out, "notify.webhooks"),
        (
            r#"[{"secret":"(redacted)","url":"https://hooks.example/…"}]"#.into(),
            file.clone()
        )
    );
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(!out.stdout.contains("tokentoken"), "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[scan]\nconcurency = 3\n").unwrap();
    let bad_shown = bad.display().to_string();
    let out = run(
        dir.path(),
        &["--config", &bad_shown, "config", "check"],
        &[],
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "serversync: error: configuration: unknown key `scan.concurency` (file {bad_shown})"
        )
    );
    assert!(out.stdout.is_empty());
    // SERVERSYNC_CONFIG names the file the same way; any command refuses to run with it.
    let out = run(
        dir.path(),
        &["servers", "list"],
        &[("SERVERSYNC_CONFIG", &bad_shown)],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown key `scan.concurency`"),
        "{out:#?}"
    );
    // A top-level typo in serversync.toml of the working directory.
    std::fs::write(dir.path().join("serversync.toml"), "databse_url = \"x\"\n").unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: unknown key `databse_url` (file serversync.toml)"
    );
    std::fs::remove_file(dir.path().join("serversync.toml")).unwrap();
    // A value out of range, from the environment.
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_GUARDS__MAX_MOVE_PERCENT", "120")],
    );
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `guards.max_move_percent` is 120, not between 0 \
         and 100 (env SERVERSYNC_GUARDS__MAX_MOVE_PERCENT)"
    );
    // A value of the wrong type, from the command line.
    let out = run(dir.path(), &["scan", "--all", "--concurrency", "0"], &[]);
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `scan.concurrency` must be at least 1 (command \
         line --concurrency)"
    );
    // A --config file that does not exist is an error, not an empty configuration.
    let out = run(
        dir.path(),
        &["--config", "missing.toml", "config", "check"],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("serversync: error: cannot read the configuration file missing.toml"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merged_configuration_is_what_commands_use() {
    let dir = tempfile::tempdir().unwrap();
    // The database of the file, the records imported into it, read back through it.
    std::fs::write(
        dir.path().join("serversync.toml"),
        "database_url = \"sqlite://from-config.db\"\n",
    )
    .unwrap();
    let sim = common::sim(vec![]).await;
    let doc = base_doc(sim.addr.port(), vec![]);
    let records = dir.path().join("records.json");
    std::fs::write(&records, serde_json::to_vec(&doc).unwrap()).unwrap();
    let d = dir.path().to_path_buf();
    let r = records.display().to_string();
    let out = tokio::task::spawn_blocking(move || run(&d, &["records", "import", &r], &[]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(dir.path().join("from-config.db").exists());
    assert!(!dir.path().join("serversync.db").exists());
    // SERVERSYNC_DATABASE_URL_FILE (a secret file) still works, below SERVERSYNC_DATABASE_URL
    // and above the file.
    let url_file = dir.path().join("db-url");
    std::fs::write(&url_file, "sqlite://from-secret-file.db\n").unwrap();
    let shown = url_file.display().to_string();
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_DATABASE_URL_FILE", &shown)],
    );
    assert_eq!(
        setting(&out, "database_url"),
        (
            "\"sqlite://from-secret-file.db\"".into(),
            format!("env SERVERSYNC_DATABASE_URL_FILE (file {shown})")
        )
    );
    let out = run(
        dir.path(),
        &["config", "check"],
        &[
            ("SERVERSYNC_DATABASE_URL_FILE", &shown),
            ("SERVERSYNC_DATABASE_URL", "sqlite://from-env.db"),
        ],
    );
    assert_eq!(
        setting(&out, "database_url"),
        (
            "\"sqlite://from-env.db\"".into(),
            "env SERVERSYNC_DATABASE_URL".into()
        )
    );
    let out = run(
        dir.path(),
        &["--database", "sqlite://from-cli.db", "config", "check"],
        &[("SERVERSYNC_DATABASE_URL", "sqlite://from-env.db")],
    );
    assert_eq!(
        setting(&out, "database_url"),
        (
            "\"sqlite://from-cli.db\"".into(),
            "command line --database".into()
        )
    );
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&d, &["servers", "list", "--json"], &[]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[0]["name"], "web1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_of_the_configuration_are_applys_defaults() {
    // Two billed services, one not listed: terminating it is 50 % of the live services.
    // Refused under the default 25 %; allowed when the file raises the limit to 60 %;
    // refused again when the command line lowers it to 10 %.
    let env = common::Env::new();
    let sim = common::sim(vec![common::acct("ann", "ann.test", "basic").into_value()]).await;
    env.import(&base_doc(
        sim.addr.port(),
        vec![
            common::service(1000, 1, 10, 100, "ann.test", "ann", "Active"),
            common::service(1001, 1, 10, 100, "gone.test", "gone", "Active"),
        ],
    ))
    .await;
    env.analyse("web1").await;
    let refused = env
        .apply("web1", &["--terminate", "all", "--dry-run"])
        .await;
    assert_eq!(refused.code, 1, "{refused:#?}");
    std::fs::write(
        env.path("serversync.toml"),
        "[guards]\nmax_terminate_percent = 60\n",
    )
    .unwrap();
    let allowed = env
        .apply("web1", &["--terminate", "all", "--dry-run"])
        .await;
    assert_eq!(allowed.code, 0, "{allowed:#?}");
    let flag = env
        .apply(
            "web1",
            &[
                "--terminate",
                "all",
                "--dry-run",
                "--max-terminate-percent",
                "10",
            ],
        )
        .await;
    assert_eq!(flag.code, 1, "{flag:#?}");
}

/// `lease_secs` is a configuration key like the other long options: from the file, below
/// the environment, checked for its range with the file named.
#[test]
fn lease_secs_comes_from_the_file_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("l.toml");
    std::fs::write(&f, "lease_secs = 30\n").unwrap();
    let shown = f.display().to_string();
    let out = run(dir.path(), &["--config", &shown, "config", "check"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("lease_secs "))
        .expect("lease_secs shown");
    assert!(
        line.contains("= 30") && line.ends_with(&format!("# file {shown}")),
        "{line}"
    );
    let out = run(
        dir.path(),
        &["--config", &shown, "config", "check"],
        &[("SERVERSYNC_LEASE_SECS", "40")],
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("lease_secs "))
        .expect("lease_secs shown");
    assert!(
        line.contains("= 40") && line.ends_with("# env SERVERSYNC_LEASE_SECS"),
        "{line}"
    );
    std::fs::write(&f, "lease_secs = 0\n").unwrap();
    let out = run(dir.path(), &["--config", &shown, "config", "check"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!("serversync: error: configuration: `lease_secs` is 0, not between 1 and 3600 (file {shown})")
    );
}

/// `GET path` over plain HTTP/1.0 with an optional `Authorization` header: (status, body).
fn http_get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to serve");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `[metrics] token` read from `SERVERSYNC_METRICS__TOKEN_FILE`: never shown by `config
/// check`, and `serve` (on loopback) then answers `/metrics` only with that token.
#[test]
fn the_metrics_token_comes_from_a_file_is_never_shown_and_guards_serve() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "scrape-s3cret\n").unwrap();
    let shown = token_file.display().to_string();
    let vars = [("SERVERSYNC_METRICS__TOKEN_FILE", shown.as_str())];
    let out = run(dir.path(), &["config", "check"], &vars);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        setting(&out, "metrics.token"),
        (
            "\"(redacted)\"".into(),
            format!("env SERVERSYNC_METRICS__TOKEN_FILE (file {shown})")
        )
    );
    assert!(!out.stdout.contains("scrape-s3cret"), "{}", out.stdout);
    let plain = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(
        setting(&plain, "metrics.token"),
        ("(not set)".into(), "default".into())
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serversync"));
    cmd.args([
        "--database",
        "sqlite://m.db",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .current_dir(dir.path())
    .env_remove("SERVERSYNC_LOG")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("SERVERSYNC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(vars[0].0, vars[0].1);
    let mut child = cmd.spawn().expect("start serve");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    let addr = first
        .trim()
        .strip_prefix("Web page: http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    // Keep reading serve's stdout so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let without = http_get(&addr, "/metrics", None);
    let wrong = http_get(&addr, "/metrics", Some("Bearer nope"));
    let with = http_get(&addr, "/metrics", Some("Bearer scrape-s3cret"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(without.0, 401, "{without:?}");
    assert_eq!(wrong.0, 401, "{wrong:?}");
    assert_eq!(with.0, 200, "{with:?}");
    assert!(
        with.1
            .contains("# TYPE serversync_lease_takeovers_total counter"),
        "{}",
        with.1
    );
    assert!(!with.1.contains("scrape-s3cret"));
}

#[test]
fn gone_after_shrink_limit_and_auto_apply_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serversync.toml"),
        "[scan]\nauto_apply = [\"sync:status\"]\n[scan.servers.web1]\ngone_after = 5\n\
         auto_apply = [\"sync:ip\", \"terminate\"]\n[guards]\nmax_shrink_percent = 40\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        setting(&out, "guards.max_shrink_percent"),
        ("40.0".into(), "file serversync.toml".into())
    );
    assert_eq!(
        setting(&out, "guards.gone_after"),
        ("3".into(), "default".into())
    );
    assert_eq!(
        setting(&out, "scan.servers.web1.gone_after").0,
        "5".to_string()
    );
    assert_eq!(
        setting(&out, "scan.servers.web1.auto_apply").0,
        r#"["sync:ip","terminate"]"#.to_string()
    );
    // An action that is not safe, a zero threshold and a shrink limit out of range are
    // refused naming the key and the source.
    std::fs::write(
        dir.path().join("serversync.toml"),
        "[scan.servers.web1]\nauto_apply = [\"import\"]\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("`scan.servers.web1.auto_apply`")
            && out.stderr.contains("\"import\" is not a safe action"),
        "{out:#?}"
    );
    std::fs::remove_file(dir.path().join("serversync.toml")).unwrap();
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_GUARDS__GONE_AFTER", "0")],
    );
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `guards.gone_after` must be at least 1 (env \
         SERVERSYNC_GUARDS__GONE_AFTER)"
    );
    let out = run(
        dir.path(),
        &[
            "apply",
            "web1",
            "--terminate",
            "all",
            "--max-shrink-percent",
            "101",
        ],
        &[],
    );
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `guards.max_shrink_percent` is 101, not between 0 \
         and 100 (command line --max-shrink-percent)"
    );
}

#[test]
fn notify_delivery_keys_come_from_the_file_and_env_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("n.toml");
    std::fs::write(
        &f,
        "[notify]\nbase_url = \"https://sync.example\"\ndaily_report_at = \"07:30\"\n\
         retry_delay_ms = 50\n",
    )
    .unwrap();
    let shown = f.display().to_string();
    let file = format!("file {shown}");
    let out = run(
        dir.path(),
        &["--config", &shown, "config", "check"],
        &[("SERVERSYNC_NOTIFY__ATTEMPTS", "5")],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_settings(
        &out,
        &[
            ("notify.daily_report_at", "\"07:30\"", &file),
            ("notify.base_url", "\"https://sync.example\"", &file),
            ("notify.retry_delay_ms", "50", &file),
            ("notify.attempts", "5", "env SERVERSYNC_NOTIFY__ATTEMPTS"),
            ("notify.timeout_secs", "10", "default"),
        ],
    );
    std::fs::write(&f, "[notify]\ndaily_report_at = \"7am\"\n").unwrap();
    let out = run(dir.path(), &["--config", &shown, "config", "check"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "serversync: error: configuration: `notify.daily_report_at` is not a time of day \
             HH:MM (UTC) ({file})"
        )
    );
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_NOTIFY__ATTEMPTS", "0")],
    );
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `notify.attempts` is not between 1 and 10 (env \
         SERVERSYNC_NOTIFY__ATTEMPTS)"
    );
}

/// `[runs] keep` (file or `SERVERSYNC_RUNS__KEEP`) is what `analyse` and `runs prune`
/// prune each server's runs to, beside its newest six complete runs; 0 is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_keep_of_the_configuration_prunes_old_runs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("serversync.toml");
    std::fs::write(&f, "database_url = \"sqlite://k.db\"\n[runs]\nkeep = 2\n").unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(
        setting(&out, "runs.keep"),
        ("2".into(), "file serversync.toml".into())
    );
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_RUNS__KEEP", "3")],
    );
    assert_eq!(
        setting(&out, "runs.keep"),
        ("3".into(), "env SERVERSYNC_RUNS__KEEP".into())
    );
    let out = run(
        dir.path(),
        &["config", "check"],
        &[("SERVERSYNC_RUNS__KEEP", "0")],
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "serversync: error: configuration: `runs.keep` must be at least 1 (env SERVERSYNC_RUNS__KEEP)"
    );

    let sim = common::sim(vec![]).await;
    let doc = base_doc(sim.addr.port(), vec![]);
    let records = dir.path().join("records.json");
    std::fs::write(&records, serde_json::to_vec(&doc).unwrap()).unwrap();
    let d = dir.path().to_path_buf();
    let r = records.display().to_string();
    let runs = tokio::task::spawn_blocking(move || {
        assert_eq!(run(&d, &["records", "import", &r], &[]).code, 0);
        // Within a larger keep first: every run stays.
        (0..8)
            .map(|_| {
                let out = run(
                    &d,
                    &["analyse", "web1", "--json"],
                    &[("SERVERSYNC_RUNS__KEEP", "50")],
                );
                assert_eq!(out.code, 0, "{out:#?}");
                out.json()["run_id"].as_i64().expect("a run id")
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_runs ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(left, runs);
    // `runs prune` applies the file's smaller `keep` to every server now; the newest six
    // complete runs stay whatever `keep` is (the newest and the five the shrink guard
    // compares it with).
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&d, &["runs", "prune"], &[]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "web1: 2 runs deleted (keeping 2)\n");
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_runs ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(left, runs[2..].to_vec());
    // And each stored run prunes its server to the same.
    let d = dir.path().to_path_buf();
    let newest = tokio::task::spawn_blocking(move || {
        let out = run(&d, &["analyse", "web1", "--json"], &[]);
        assert_eq!(out.code, 0, "{out:#?}");
        out.json()["run_id"].as_i64().expect("a run id")
    })
    .await
    .unwrap();
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_runs ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let mut expected = runs[3..].to_vec();
    expected.push(newest);
    assert_eq!(left, expected);
}
