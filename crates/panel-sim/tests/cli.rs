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
