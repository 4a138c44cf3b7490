//! The `panel-sim` binary: the `listening on` line, serving, errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_panel-sim");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the address it printed.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Child(
        Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn panel-sim"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    let addr = line
        .strip_prefix("listening on ")
        .map(|a| a.trim().to_string())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, addr)
}

async fn list(addr: &str, auth: &str) -> (u16, String) {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
        .get(format!("http://{addr}/json-api/listaccts?api.version=1"))
        .header("Authorization", auth)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("text"))
}

#[tokio::test]
async fn serves_generated_accounts_with_given_credentials() {
    let (_child, addr) = start(&[
        "cpanel",
        "--listen",
        "127.0.0.1:0",
        "--accounts",
        "12",
        "--seed",
        "4",
        "--username",
        "admin",
        "--token",
        "S3CRET",
    ]);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let (status, body) = list(&addr, "whm admin:S3CRET").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["data"]["acct"],
        Value::Array(panel_sim::generate_cpanel_accounts(12, 4))
    );
    assert_eq!(list(&addr, "whm root:TOKEN").await.0, 403);
}

#[tokio::test]
async fn fault_and_accounts_file_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("accts.json");
    std::fs::write(
        &file,
        r#"[{"user":"ann","domain":"ann.test","suspended":"1"}]"#,
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (_child, addr) = start(&["cpanel", "--listen", "127.0.0.1:0", "--accounts-file", path]);
    let (status, body) = list(&addr, "whm root:TOKEN").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["data"]["acct"][0]["suspended"], "1");

    let (_child, addr) = start(&[
        "cpanel",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "error-in-200",
    ]);
    let (status, body) = list(&addr, "whm root:TOKEN").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["metadata"]["result"], 0);
}

fn run_failing(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn errors_exit_2_with_a_clear_message() {
    let (code, out, err) = run_failing(&["plesk-ish", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("plesk-ish") && err.contains("cpanel"), "{err}");

    let (code, _, err) = run_failing(&["cpanel", "--listen", "127.0.0.1:0", "--fault", "flaky"]);
    assert_eq!(code, 2);
    assert!(err.contains("flaky"), "{err}");

    let (code, out, err) = run_failing(&[
        "cpanel",
        "--listen",
        "127.0.0.1:0",
        "--accounts-file",
        "/nonexistent/accts.json",
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("/nonexistent/accts.json"), "{err}");
}

#[test]
fn help_documents_defaults() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        // --username has a default per panel.
        "default root",
        "default admin",
        "[default: TOKEN]",
        "[default: 100]",
        "[default: 1]",
        "[default: 120]",
        "bad-auth",
    ] {
        assert!(help.contains(needle), "missing {needle} in:\n{help}");
    }
}

async fn plesk_post(addr: &str, headers: &[(&str, &str)], packet: &str) -> String {
    let mut req = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
        .post(format!("http://{addr}/enterprise/control/agent.php"))
        .header("Content-Type", "text/xml")
        .body(packet.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("text")
}

const WEBSPACES: &str = "<packet><webspace><get><filter/><dataset><gen_info/></dataset></get>\
                         </webspace></packet>";

#[tokio::test]
async fn plesk_serves_subscriptions_with_key_or_login_and_faults() {
    let (_child, addr) = start(&[
        "plesk",
        "--listen",
        "127.0.0.1:0",
        "--accounts",
        "7",
        "--token",
        "K3Y",
        "--password",
        "pw",
    ]);
    let body = plesk_post(&addr, &[("KEY", "K3Y")], WEBSPACES).await;
    assert_eq!(
        body.matches("<result><status>ok</status>").count(),
        7,
        "{body}"
    );
    let body = plesk_post(
        &addr,
        &[("HTTP_AUTH_LOGIN", "admin"), ("HTTP_AUTH_PASSWD", "pw")],
        WEBSPACES,
    )
    .await;
    assert_eq!(body.matches("<gen_info>").count(), 7);
    let body = plesk_post(&addr, &[("KEY", "nope")], WEBSPACES).await;
    assert!(
        body.contains("<system><status>error</status><errcode>11003</errcode>"),
        "{body}"
    );
    let body = plesk_post(&addr, &[("HTTP_AUTH_LOGIN", "admin")], WEBSPACES).await;
    assert!(body.contains("<errcode>1001</errcode>"), "{body}");

    let (_child, addr) = start(&[
        "plesk",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "error-in-200",
    ]);
    let body = plesk_post(&addr, &[("KEY", "TOKEN")], WEBSPACES).await;
    assert!(
        body.contains("<result><status>error</status><errcode>1023</errcode>"),
        "{body}"
    );
}

#[tokio::test]
async fn plesk_accounts_file_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("subs.json");
    std::fs::write(
        &file,
        r#"[{"id": 1, "name": "one.test", "status": 272, "cr_date": "2024-01-31",
             "owner_id": 2, "owner_login": "ann", "owner_type": "customer",
             "ips": ["2001:db8::1", "192.0.2.1"]}]"#,
    )
    .expect("write");
    let (_child, addr) = start(&[
        "plesk",
        "--listen",
        "127.0.0.1:0",
        "--accounts-file",
        file.to_str().expect("utf-8 path"),
    ]);
    let body = plesk_post(&addr, &[("KEY", "TOKEN")], WEBSPACES).await;
    assert!(body.contains("<name>one.test</name>"), "{body}");
    assert!(body.contains("<status>272</status>"), "{body}");
    assert!(body.contains("<dns_ip_address>2001:db8::1</dns_ip_address><dns_ip_address>192.0.2.1</dns_ip_address>"), "{body}");

    std::fs::write(&file, r#"[{"id": 1}]"#).expect("write");
    let (code, _, err) = run_failing(&[
        "plesk",
        "--listen",
        "127.0.0.1:0",
        "--accounts-file",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("element 0"), "{err}");
}
