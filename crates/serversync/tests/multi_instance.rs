//! Two real `serve` processes on one PostgreSQL database (issue 10, "Several instances on one
//! database"): a killed instance's server and sync job are taken over after the lease, two
//! instances starting one sync share one job, one apply posted to both is applied once, and
//! a password with URL characters works and is never printed.
//!
//! Each test makes its own database on the server SERVERSYNC_TEST_POSTGRES_URL names
//! (`scripts/pg-test.sh` starts one), owned by a role of its own whose password holds `@`,
//! `/` and `?`; every process gets the URL (percent-encoded) from SERVERSYNC_DATABASE_URL_FILE,
//! never from argv. Without the variable the tests skip, except with CI=true, where they fail.

mod common;
#[path = "multi_instance/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use common::*;
use harness::*;
use panel_sim::Fault;
use serde_json::{json, Value};

/// (a) Instance A is SIGKILLed while it holds server 7's lease and runs its sync job (the
/// panel is slow); instance B then starts a sync of server 7 and finishes it within the
/// lease plus a few seconds, and shows A's job failed "instance stopped".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_frees_server_7_within_the_lease() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let mut a = db.serve(None).await;
    let b = db.serve(None).await;
    let mut conn = db.connect().await;

    sim.set_fault(Some(Fault::Slow(Duration::from_secs(120))));
    let (status, job_a) = a.call("POST", "/api/servers/7/runs", &token, None).await;
    assert_eq!(status, 202, "{job_a}");
    let a_id = job_a["id"].as_u64().expect("job id");
    // Wait (bounded) until A holds server 7's lease: its listing is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &mut conn,
        "SELECT COUNT(*) FROM server_locks WHERE server_id = 7",
    )
    .await
        == 0
    {
        assert!(Instant::now() < deadline, "A never took server 7's lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B sees A's job, and cannot start another one meanwhile.
    let seen = b.get(&format!("/api/jobs/{a_id}"), &token).await;
    assert_eq!(
        (seen["server_id"].as_i64(), seen["server_name"].as_str()),
        (Some(7), Some("web7"))
    );
    a.kill();
    let killed = Instant::now();
    sim.set_fault(None);

    // B retries "Sync accounts" until A's job lease ran out.
    let b_id = loop {
        let (status, v) = b.call("POST", "/api/servers/7/runs", &token, None).await;
        match status {
            202 => break v["id"].as_u64().expect("job id"),
            409 => {
                let e = v["error"].as_str().unwrap_or_default();
                assert!(
                    e.contains(&format!("sync job {a_id} is running")),
                    "refused for A's job: {v}"
                );
            }
            other => panic!("unexpected {other}: {v}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECS) + SLACK,
            "server 7 still blocked {:?} after A died",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(b_id, a_id);
    let done = b.finished_job(b_id, &token, SLACK).await;
    assert_eq!(done["state"], "done", "{done}");
    let took = killed.elapsed();
    eprintln!("B analysed server 7 {took:?} after A was killed (lease {LEASE_SECS} s)");
    assert!(
        took < Duration::from_secs(LEASE_SECS) + SLACK,
        "B analysed server 7 {took:?} after A was killed"
    );
    let run = b
        .get(&format!("/api/runs/{}", done["run_id"]), &token)
        .await;
    assert_eq!(run["counts"]["not_in_billing"], 2, "{run}");

    // A's job is shown failed, on B, and stored so.
    let stopped = b.get(&format!("/api/jobs/{a_id}"), &token).await;
    assert_eq!(stopped["state"], "failed", "{stopped}");
    assert!(
        stopped["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("instance stopped"),
        "{stopped}"
    );
    // Both jobs in the server's job history, newest first.
    let history = b.get("/api/servers/7/jobs", &token).await;
    let states: Vec<(u64, &str)> = history
        .as_array()
        .expect("array")
        .iter()
        .map(|j| (j["id"].as_u64().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(b_id, "done"), (a_id, "failed")], "{history}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM sync_jobs WHERE state = 'running'"
        )
        .await,
        0
    );
    // A stored nothing: the one run is B's.
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM sync_runs WHERE server_id = 7"
        )
        .await,
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM server_locks").await,
        0
    );
}

/// (b) Both instances get "Sync accounts" for server 7 at the same moment: one job runs, the
/// other instance refuses to start a second and names that job, and both show the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_syncs_on_two_instances_share_one_job() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let a = db.serve(None).await;
    let b = db.serve(None).await;
    // A slow panel keeps the job running while both answers arrive.
    sim.set_fault(Some(Fault::Slow(Duration::from_secs(2))));

    let (ra, rb) = tokio::join!(
        a.call("POST", "/api/servers/7/runs", &token, None),
        b.call("POST", "/api/servers/7/runs", &token, None)
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "A: {ra:?}, B: {rb:?}");
    let (started, refused, started_on, other) = if ra.0 == 202 {
        (ra.1, rb.1, &a, &b)
    } else {
        (rb.1, ra.1, &b, &a)
    };
    let id = started["id"].as_u64().expect("job id");
    assert_eq!(
        refused["error"],
        format!("server web7 is busy: sync job {id} is running (GET /api/jobs/{id})")
    );
    let on_other = other.get(&format!("/api/jobs/{id}"), &token).await;
    assert_eq!(
        (
            on_other["id"].as_u64(),
            on_other["server_id"].as_i64(),
            on_other["server_name"].as_str()
        ),
        (Some(id), Some(7), Some("web7")),
        "{on_other}"
    );
    sim.set_fault(None);
    let done_other = other
        .finished_job(id, &token, Duration::from_secs(60))
        .await;
    let done_started = started_on.get(&format!("/api/jobs/{id}"), &token).await;
    assert_eq!(done_other["state"], "done", "{done_other}");
    assert_eq!(done_other, done_started);
    assert_eq!(
        done_other["received"], 2,
        "progress written for all: {done_other}"
    );
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM sync_jobs").await, 1);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM sync_runs").await, 1);
}

/// (c) The same apply (import both accounts of one run, by name) posted to both instances at once:
/// applied once, the other refused with its reason; one set of audit events; both
/// instances then show the run applied, also a run applied by the CLI alone (the run cache
/// follows the data version, not a local call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_apply_posted_to_two_instances_is_applied_once() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let token = db.setup(&sim).await;
    let run_id = db.ok(&["analyse", "web7", "--json"]).await.json()["run_id"]
        .as_i64()
        .expect("run_id");
    let a = db.serve(None).await;
    let b = db.serve(None).await;
    let path = format!("/api/runs/{run_id}");
    // Both instances cache the run as not applied.
    for i in [&a, &b] {
        assert_eq!(i.get(&path, &token).await["applied_at"], Value::Null);
    }

    // The items by name, as the page posts them (an `"all"` selects only what is still open
    // when the apply runs, so the later one would have nothing to refuse).
    let body = json!({"import": ["ann.test", "bob.test"]});
    let apply = format!("{path}/apply");
    let (ra, rb) = tokio::join!(
        a.call("POST", &apply, &token, Some(&body)),
        b.call("POST", &apply, &token, Some(&body))
    );
    let applied = |r: &(u16, Value)| {
        r.0 == 200
            && r.1["results"]
                .as_array()
                .is_some_and(|v| v.len() == 2 && v.iter().all(|x| x["outcome"] == "applied"))
    };
    assert!(
        applied(&ra) ^ applied(&rb),
        "exactly one applies: A {ra:?}, B {rb:?}"
    );
    let other = if applied(&ra) { &rb } else { &ra };
    // Refused whole (the server is busy: the other apply holds it) or item by item (already
    // applied by the other): either way with the reason.
    match other.0 {
        409 => {
            let e = other.1["error"].as_str().unwrap_or_default();
            assert!(e.starts_with("server web7 is busy"), "{other:?}");
        }
        200 => {
            let results = other.1["results"].as_array().expect("results");
            assert_eq!(results.len(), 2, "{other:?}");
            for r in results {
                assert_eq!(r["outcome"], "refused", "{other:?}");
                assert!(
                    r["notes"][0]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with(&format!(
                            "{} was already applied (import) from run {run_id}: audit event ",
                            r["target"].as_str().unwrap_or_default()
                        )),
                    "{other:?}"
                );
            }
        }
        s => panic!("unexpected status {s}: {other:?}"),
    }
    let mut conn = db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'import'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM services WHERE server_id = 7"
        )
        .await,
        2
    );
    for i in [&a, &b] {
        let run = i.get(&path, &token).await;
        assert!(
            run["applied_at"].is_string(),
            "stale cache on one instance: {run}"
        );
    }

    // A run applied without either instance taking part (the CLI): both caches had it as
    // not applied, and both show it applied (they follow the data version, not a call).
    sim.set_accounts(vec![
        acct("ann", "ann.test", "basic").to_value(),
        acct("bob", "bob.test", "silver").to_value(),
        acct("cy", "cy.test", "basic").to_value(),
    ]);
    let run2 = db.ok(&["analyse", "web7", "--json"]).await.json()["run_id"]
        .as_i64()
        .expect("run_id");
    let path2 = format!("/api/runs/{run2}");
    for i in [&a, &b] {
        assert_eq!(i.get(&path2, &token).await["applied_at"], Value::Null);
    }
    db.ok(&[
        "apply",
        "web7",
        "--run",
        &run2.to_string(),
        "--import",
        "cy.test",
    ])
    .await;
    for i in [&a, &b] {
        let run = i.get(&path2, &token).await;
        assert!(
            run["applied_at"].is_string(),
            "stale cache on one instance: {run}"
        );
    }
}

/// (d) Every command, and two `serve` instances with debug logging, work with a password
/// holding `@`, `/` and `?` (percent-encoded in the URL file), and neither the password nor
/// its encoded form appears in anything they print; a wrong password is refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_url_characters_works_and_is_never_printed() {
    let Some(db) = Db::new().await else { return };
    let sim = two_accounts_sim().await;
    let mut printed = String::new();
    let token = db.setup(&sim).await;
    let a = db.serve(Some("debug")).await;
    let b = db.serve(Some("debug")).await;
    let (status, job) = a.call("POST", "/api/servers/7/runs", &token, None).await;
    assert_eq!(status, 202, "{job}");
    let done = b
        .finished_job(job["id"].as_u64().unwrap(), &token, Duration::from_secs(60))
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let servers = b.get("/api/servers", &token).await;
    assert_eq!(servers[0]["name"], "web7", "{servers}");
    for args in [
        &["servers", "list", "--json"][..],
        &["locks", "list"],
        &["apply", "web7", "--import", "all", "--json"],
        &["services", "list", "--json"],
    ] {
        let out = db.ok(args).await;
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
    }
    assert!(printed.contains("bob.test"), "{printed}");
    // A wrong password: refused, and the URL shown without it.
    let bad = db.url.replace(ENCODED, "wr%40ng%2Fpw%3F");
    std::fs::write(db.dir.path().join("bad-url"), format!("{bad}\n")).unwrap();
    let mut c = db.command(&["servers", "list"]);
    c.env("SERVERSYNC_DATABASE_URL_FILE", "bad-url");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(refused.contains("cannot open database"), "{refused}");
    printed.push_str(&refused);
    printed.push_str(&a.output());
    printed.push_str(&b.output());
    assert!(printed.contains("Web page: http://"), "{printed}");
    for secret in [PASSWORD, ENCODED, "cr/et", "cr%2Fet", "wr%40ng", "wr@ng"] {
        assert!(!printed.contains(secret), "{secret:?} printed: {printed}");
    }
}

/// One sign-in attempt on `inst` (GET /login for the form's CSRF token and cookie, then the
/// POST); the HTTP status.
async fn sign_in(inst: &Instance, user: &str, password: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn raw(addr: &str, req: String) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
    let page = raw(
        &inst.addr,
        format!(
            "GET /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            inst.addr
        ),
    )
    .await;
    let cookie = page
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: serversync_login_csrf=")
                .or_else(|| l.strip_prefix("Set-Cookie: serversync_login_csrf="))
        })
        .and_then(|v| v.split(';').next())
        .expect("login CSRF cookie")
        .to_string();
    let csrf = page
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_string())
        .expect("csrf field");
    let body = format!("username={user}&password={password}&csrf={csrf}");
    let answer = raw(
        &inst.addr,
        format!(
            "POST /login HTTP/1.1\r\nHost: {}\r\nCookie: serversync_login_csrf={cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            inst.addr,
            body.len()
        ),
    )
    .await;
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Sign-in throttling holds across instances: failures on A and on B are one count in the
/// database (per user name and address), so spreading guesses over instances does not
/// reset it; a success on either clears it for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_on_two_instances_are_one_count() {
    let Some(db) = Db::new().await else { return };
    let pw = db.dir.path().join("pw");
    std::fs::write(&pw, "right-password-1\n").unwrap();
    db.ok(&[
        "users",
        "add",
        "ops",
        "--password-file",
        pw.to_str().unwrap(),
    ])
    .await;
    let a = db.serve(None).await;
    let b = db.serve(None).await;
    let mut conn = db.connect().await;
    let failures = "SELECT COALESCE(MAX(failures), 0) FROM sign_in_failures \
                    WHERE key = 'ops|127.0.0.1'";
    for _ in 0..3 {
        assert_eq!(sign_in(&a, "ops", "wrong").await, 401);
    }
    for _ in 0..2 {
        assert_eq!(sign_in(&b, "ops", "wrong").await, 401);
    }
    assert_eq!(count(&mut conn, failures).await, 5);
    // B has seen two failures itself, but the shared count (5) is what slows it: a wrong
    // password there is still counted, now the sixth.
    assert_eq!(sign_in(&b, "OPS", "wrong").await, 401);
    assert_eq!(count(&mut conn, failures).await, 6);
    // The right password still works (after a bounded wait), on A, and clears the count.
    assert_eq!(sign_in(&a, "ops", "right-password-1").await, 303);
    assert_eq!(count(&mut conn, failures).await, 0);
}
