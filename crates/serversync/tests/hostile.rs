//! Hostile panels through the real binary: a cPanel simulator answering with a lying total,
//! an endless or trickling body, 10 MB fields, the wrong envelope or an unasked-for gzip body.
//!
//! Each failing mode must end `analyse` with exit 2 and exactly one short, printable stderr
//! line naming the server and the cause; the run is stored as failed; the server's lock is
//! released (the next analysis succeeds at once); and the child's peak memory (`ru_maxrss`
//! of `getrusage(RUSAGE_CHILDREN)` once it was reaped) stays bounded with the caps set small
//! by `--max-listing-bytes`.
//!
//! That figure is an upper bound of the child's own peak: it is the largest peak of every
//! child this test process reaped so far, and Linux carries the spawning process's
//! high-water mark across `exec` (the test process is ~100 MB once the 10 MB fields are
//! built), so a figure near that is the test's, and anything above it a child's. The bound
//! is still sound: a child that grew past it fails the test.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use common::*;
use nix::sys::resource::{getrusage, UsageWho};
use panel_sim::{spawn_cpanel, CpanelSimConfig, Fault, SimHandle};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// The listing cap every test sets (64 MiB).
const CAP: u64 = 64 << 20;
/// The child's peak resident memory may not pass this (KiB): the cap, one copy of it while
/// the buffer grows, and the binary's own ~30 MB.
const MAX_RSS_KIB: i64 = 300 * 1024;
/// Longest stderr line accepted.
const MAX_LINE: usize = 500;

/// What a measured child left behind.
struct Measured {
    out: Out,
    /// Peak resident set size in KiB (Linux `ru_maxrss` of the reaped children).
    max_rss_kib: i64,
}

/// Runs `serversync --database DB ARGS…` in `cwd`, then reads the peak memory of the
/// reaped children. Killed (and the test failed) after `limit`.
fn run_measured(
    cwd: &Path,
    db: &str,
    args: &[&str],
    vars: &[(String, String)],
    limit: Duration,
) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serversync"))
        .arg("--database")
        .arg(db)
        .args(args)
        .current_dir(cwd)
        .env_remove("SERVERSYNC_DATABASE_URL")
        .env_remove("SERVERSYNC_LOG")
        .env_remove("SERVERSYNC_MAX_LISTING_BYTES")
        .env_remove("SERVERSYNC_LISTING_DEADLINE_SECS")
        .env("NO_COLOR", "1")
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serversync");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let pid = i32::try_from(child.id()).expect("pid fits pid_t");
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(limit).is_err() {
            // Still running: kill it so the test fails instead of hanging.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            return true;
        }
        false
    });
    let status = child.wait().expect("wait for serversync");
    let _ = done_tx.send(());
    let killed = watchdog.join().expect("watchdog");
    assert!(!killed, "serversync {args:?} ran longer than {limit:?}");
    // The largest peak of every child reaped so far: this child's, or a bigger one's.
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage(RUSAGE_CHILDREN)");
    let code = status
        .code()
        .unwrap_or_else(|| -status.signal().unwrap_or(0));
    Measured {
        out: Out {
            code,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        },
        max_rss_kib: usage.max_rss(),
    }
}

/// A server `web1` on a cPanel simulator with `n` generated accounts (chunk size 5,000, so
/// a 5,000-account server is one page) and no services.
async fn setup(n: usize) -> (Env, SimHandle) {
    let env = Env::new();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::generated(n, 7),
    )
    .await
    .expect("spawn cpanel simulator");
    env.import(&base_doc(sim.addr.port(), vec![])).await;
    (env, sim)
}

/// `serversync --max-listing-bytes CAP GLOBAL… analyse web1 AFTER…`, measured.
async fn analyse_measured(env: &Env, global: &[&str], after: &[&str]) -> Measured {
    analyse_measured_env(env, global, after, &[]).await
}

/// [`analyse_measured`] with environment variables `vars` set for the child (the
/// `--max-listing-bytes` flag is left out when `vars` sets `SERVERSYNC_MAX_LISTING_BYTES`).
async fn analyse_measured_env(
    env: &Env,
    global: &[&str],
    after: &[&str],
    vars: &[(&str, &str)],
) -> Measured {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut args: Vec<String> = Vec::new();
    if !vars
        .iter()
        .any(|(k, _)| k == "SERVERSYNC_MAX_LISTING_BYTES")
    {
        args.extend(["--max-listing-bytes".into(), CAP.to_string()]);
    }
    args.extend(global.iter().map(|s| s.to_string()));
    args.extend(["analyse".into(), "web1".into()]);
    args.extend(after.iter().map(|s| s.to_string()));
    let cwd = env.dir.path().to_path_buf();
    let db = env.db.clone();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_measured(&cwd, &db, &refs, &vars, Duration::from_secs(120))
    })
    .await
    .expect("runner")
}

/// The latest run of web1: (listing_status, error).
async fn last_run(env: &Env) -> Option<(String, Option<String>)> {
    let pool = SqlitePool::connect_with(SqliteConnectOptions::from_str(&env.db).unwrap())
        .await
        .expect("open the database");
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT listing_status, error FROM sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&pool)
            .await
            .expect("query runs");
    pool.close().await;
    row
}

/// Runs `analyse web1` (with `extra` global flags) against `fault` on a server of `n`
/// accounts and checks everything a failed hostile listing must be.
async fn assert_hostile_failure(n: usize, fault: Fault, extra: &[&str], expect: &[&str]) {
    assert_hostile_failure_env(n, fault, extra, &[], expect).await;
}

/// [`assert_hostile_failure`] with environment variables `vars` set for `analyse`.
async fn assert_hostile_failure_env(
    n: usize,
    fault: Fault,
    extra: &[&str],
    vars: &[(&str, &str)],
    expect: &[&str],
) {
    let (env, sim) = setup(n).await;
    sim.set_fault(Some(fault));
    let m = analyse_measured_env(&env, extra, &[], vars).await;
    let out = &m.out;
    eprintln!(
        "{fault}: exit {}, peak RSS {} KiB, stderr {:?}",
        out.code,
        m.max_rss_kib,
        out.stderr.trim_end()
    );
    assert_eq!(out.code, 2, "{fault}: exit 2 expected: {:?}", out.stderr);
    assert_eq!(out.stdout, "", "{fault}: nothing on stdout");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{fault}: one stderr line, got {lines:?}");
    let line = lines[0];
    assert!(
        line.len() < MAX_LINE,
        "{fault}: line of {} bytes",
        line.len()
    );
    assert!(
        !line.chars().any(char::is_control),
        "{fault}: control characters in {line:?}"
    );
    assert!(
        !line.contains('\u{fffd}'),
        "{fault}: binary bytes shown in {line:?}"
    );
    assert!(
        line.starts_with("serversync: error: server web1: listing failed: "),
        "{fault}: {line}"
    );
    for e in expect {
        assert!(line.contains(e), "{fault}: {line:?} should contain {e:?}");
    }
    assert!(
        m.max_rss_kib < MAX_RSS_KIB,
        "{fault}: peak RSS {} KiB",
        m.max_rss_kib
    );

    // Stored as a failed run with the same cause.
    let (status, error) = last_run(&env).await.expect("a run is stored");
    assert_eq!(status, "failed", "{fault}");
    let error = error.unwrap_or_default();
    assert!(
        line.ends_with(&error),
        "{fault}: stored error {error:?} is not the line {line:?}"
    );

    // The lock was released: the next analysis (panel healthy again) starts and succeeds.
    sim.set_fault(None);
    let next = env.run(&["analyse", "web1", "--json"]).await;
    assert_eq!(next.code, 0, "{fault}: next analysis: {next:#?}");
    assert_eq!(next.json()["listing"]["accounts"], n as u64);
}

/// Kind 1: a page of 5,000 real accounts claiming 10^14 records fails at once, allocating
/// nothing by the claim.
#[tokio::test(flavor = "multi_thread")]
async fn huge_total_fails_in_one_line() {
    assert_hostile_failure(
        5_000,
        Fault::HugeTotal,
        &[],
        &[
            "the listing of 100000000000000 accounts announced by 127.0.0.1:",
            "(metadata.chunk.records) is larger than the limit of 67108864 bytes",
        ],
    )
    .await;
}

/// Kind 2: an endless body stops at the cap, memory near it.
#[tokio::test(flavor = "multi_thread")]
async fn endless_body_stops_at_the_cap() {
    assert_hostile_failure(
        50,
        Fault::Endless,
        &[],
        &["is larger than the limit of 67108864 bytes"],
    )
    .await;
}

/// Kind 2: a byte every 700 ms resets the read time-out each time; the rate floor ends it
/// once the body has taken longer than the read time-out (2 s here).
#[tokio::test(flavor = "multi_thread")]
async fn trickled_body_is_refused_as_too_slow() {
    assert_hostile_failure(
        50,
        Fault::Trickle(Duration::from_millis(700)),
        &["--read-timeout", "2"],
        &["arrives too slowly", "bytes per second are expected"],
    )
    .await;
}

/// Kind 2: the overall listing deadline ends a trickle under the rate floor's grace.
#[tokio::test(flavor = "multi_thread")]
async fn listing_deadline_ends_a_trickle() {
    assert_hostile_failure(
        50,
        Fault::Trickle(Duration::from_millis(700)),
        &["--listing-deadline-secs", "3"],
        &["the listing did not finish within 3 s"],
    )
    .await;
}

/// The deadline from the environment (`SERVERSYNC_LISTING_DEADLINE_SECS`).
#[tokio::test(flavor = "multi_thread")]
async fn listing_deadline_from_the_environment() {
    assert_hostile_failure_env(
        50,
        Fault::Trickle(Duration::from_millis(700)),
        &[],
        &[("SERVERSYNC_LISTING_DEADLINE_SECS", "2")],
        &["the listing did not finish within 2 s"],
    )
    .await;
}

/// The byte cap from the environment (`SERVERSYNC_MAX_LISTING_BYTES`, 32 MiB here).
#[tokio::test(flavor = "multi_thread")]
async fn listing_cap_from_the_environment() {
    assert_hostile_failure_env(
        50,
        Fault::Endless,
        &[],
        &[("SERVERSYNC_MAX_LISTING_BYTES", "33554432")],
        &["is larger than the limit of 33554432 bytes"],
    )
    .await;
}

/// Kind 13: a top-level JSON array is not a listing.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_envelope_is_a_failed_listing() {
    assert_hostile_failure(
        50,
        Fault::WrongEnvelope,
        &[],
        &["the response is a JSON list, not the WHM API 1 envelope"],
    )
    .await;
}

/// Kind 13: an unasked-for gzip body is named, never shown.
#[tokio::test(flavor = "multi_thread")]
async fn gzip_body_is_named_not_shown() {
    assert_hostile_failure(
        50,
        Fault::Gzip,
        &[],
        &["answered gzip-compressed data (Content-Encoding: gzip)"],
    )
    .await;
}

/// Kind 7: a 10 MB e-mail and a 10 MB plan name skip their records with short reasons; the
/// other accounts are listed, the run is incomplete, and nothing prints the values.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_fields_skip_their_records() {
    let (env, sim) = setup(20).await;
    let listed: Vec<String> = sim
        .accounts()
        .iter()
        .map(|a| a["user"].as_str().unwrap().to_string())
        .collect();
    sim.set_fault(Some(Fault::OversizedField));
    let m = analyse_measured(&env, &[], &["--json"]).await;
    let out = &m.out;
    eprintln!(
        "oversized-field: exit {}, peak RSS {} KiB, {} bytes of stdout",
        out.code,
        m.max_rss_kib,
        out.stdout.len()
    );
    assert_eq!(out.code, 0, "{:?}", out.stderr);
    assert!(out.stderr.trim().is_empty(), "{:?}", out.stderr);
    assert!(
        out.stdout.len() < 200_000,
        "stdout holds {} bytes",
        out.stdout.len()
    );
    assert!(
        !out.stdout.contains("xxxxxxxxxxxxxxxxxxxx"),
        "a value leaked"
    );
    assert!(
        m.max_rss_kib < MAX_RSS_KIB,
        "peak RSS {} KiB",
        m.max_rss_kib
    );
    let doc = out.json();
    assert_eq!(doc["listing"]["complete"], false);
    assert_eq!(doc["listing"]["accounts"], 18);
    let skipped: Vec<(String, String)> = doc["listing"]["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["identifier"].as_str().unwrap_or("").to_string(),
                s["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            (
                listed[0].clone(),
                "email is 10000001 bytes long, more than the 254 allowed".to_string()
            ),
            (
                listed[1].clone(),
                "product is 10000000 bytes long, more than the 255 allowed".to_string()
            ),
        ]
    );
    // Neither record became an analysis item (nothing can be imported from them).
    let uids: Vec<&str> = items(&doc)
        .iter()
        .filter_map(|i| i["username"].as_str())
        .collect();
    assert!(!uids.contains(&listed[0].as_str()), "{uids:?}");
    assert!(!uids.contains(&listed[1].as_str()), "{uids:?}");
    let (status, _) = last_run(&env).await.expect("a run is stored");
    assert_eq!(status, "incomplete");
    // The table form too: one short skip line per record.
    let table = env.run(&["analyse", "web1"]).await;
    let skip_lines: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.contains("skipped record"))
        .collect();
    assert_eq!(skip_lines.len(), 2, "{}", table.stdout);
    assert!(skip_lines.iter().all(|l| l.len() < 200), "{skip_lines:?}");
}

/// One HTTP/1.1 request to `addr` (blocking; `Connection: close`): (status, body).
fn http(addr: &str, method: &str, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to serve");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    // Read to the end; a reset after the answer (the server closing first) ends it too.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() => {
                eprintln!("after {} bytes: {e}", raw.len());
                break;
            }
            Err(e) => panic!("read the answer: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Kind 1 through the web server: a listing of a panel claiming 10^14 records, started from
/// the API, fails as a job with the one-line cause, and `serve` keeps answering.
#[tokio::test(flavor = "multi_thread")]
async fn serve_survives_a_huge_total_listing_from_the_api() {
    let (env, sim) = setup(5_000).await;
    sim.set_fault(Some(Fault::HugeTotal));
    let token = env.ok(&["tokens", "add", "hostile"]).await.stdout;
    let token = token.trim().to_string();
    assert!(!token.is_empty());

    let mut child = Command::new(env!("CARGO_BIN_EXE_serversync"))
        .args(["--database", &env.db, "--max-listing-bytes"])
        .arg(CAP.to_string())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(env.dir.path())
        .env_remove("SERVERSYNC_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let (first_tx, first_rx) = std::sync::mpsc::channel::<String>();
    // Keep reading serve's stdout: closing the pipe would end serve at its next line.
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = first_tx.send(line);
        }
    });
    let addr = tokio::task::spawn_blocking(move || {
        let first = first_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve prints its address");
        first
            .trim()
            .strip_prefix("Web page: http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string()
    })
    .await
    .unwrap();

    let (a, t) = (addr.clone(), token.clone());
    let (status, body) =
        tokio::task::spawn_blocking(move || http(&a, "POST", "/api/servers/100/runs", &t))
            .await
            .unwrap();
    assert_eq!(status, 202, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).expect("job JSON");
    let id = job["id"].as_u64().expect("job id");

    let mut last = serde_json::Value::Null;
    for _ in 0..600 {
        let (a, t) = (addr.clone(), token.clone());
        let (status, body) =
            tokio::task::spawn_blocking(move || http(&a, "GET", &format!("/api/jobs/{id}"), &t))
                .await
                .unwrap();
        assert_eq!(status, 200, "serve stopped answering: {body}");
        last = serde_json::from_str(&body).expect("job JSON");
        if last["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["state"], "failed", "{last}");
    let error = last["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("server web1: listing failed: the listing of 100000000000000 accounts"),
        "{error}"
    );
    assert!(error.len() < MAX_LINE, "{error}");

    // Still alive and answering.
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "serve exited"
    );
    let (a, t) = (addr.clone(), token.clone());
    let (status, body) = tokio::task::spawn_blocking(move || http(&a, "GET", "/api/servers", &t))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("web1"), "{body}");
    let _ = child.kill();
    let _ = child.wait();
}
