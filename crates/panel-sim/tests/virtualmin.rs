//! The Virtualmin simulator over HTTP: remote.cgi's authentication, answer shapes, flags and
//! faults, and `panel-sim virtualmin` as a separate process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use panel_sim::{
    generate_virtualmin_accounts, spawn_virtualmin, Fault, SimHandle, VirtualminDomain,
    VirtualminSimConfig,
};
use serde_json::Value;

const LIST: &str = "/virtual-server/remote.cgi?program=list-domains&multiline=&json=1";

async fn sim(cfg: VirtualminSimConfig) -> SimHandle {
    spawn_virtualmin("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

struct Answer {
    status: u16,
    content_type: String,
    www_auth: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn get(base: &str, path_query: &str, user: &str, pass: Option<&str>) -> Answer {
    let mut req = client().get(format!("{base}{path_query}"));
    if let Some(p) = pass {
        req = req.basic_auth(user, Some(p));
    }
    answer(req.send().await.expect("send")).await
}

async fn answer(resp: reqwest::Response) -> Answer {
    let h = |n: reqwest::header::HeaderName| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Answer {
        status: resp.status().as_u16(),
        content_type: h(reqwest::header::CONTENT_TYPE),
        www_auth: h(reqwest::header::WWW_AUTHENTICATE),
        body: resp.text().await.expect("body"),
    }
}

#[tokio::test]
async fn serves_list_domains_in_json_pp_pretty_form() {
    let s = sim(VirtualminSimConfig::generated(20, 2)).await;
    let a = get(&s.base_url(), LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/json");
    assert!(
        a.body
            .starts_with("{\n   \"status\" : \"success\",\n   \"data\" : [\n"),
        "{}",
        &a.body[..80]
    );
    assert!(a.body.ends_with("   \"command\" : \"list-domains\"\n}\n"));
    let v = a.json();
    assert_eq!(
        v["data"],
        Value::Array(generate_virtualmin_accounts(20, 2)),
        "the served objects, as generated"
    );
    // json=minified: the same data, compact.
    let m = get(
        &s.base_url(),
        "/virtual-server/remote.cgi?program=list-domains&multiline=&json=minified",
        "root",
        Some("PASSWORD"),
    )
    .await;
    assert!(!m.body.contains("\n   "));
    assert_eq!(m.json()["data"], v["data"]);
    // Without `multiline=`, list-domains prints its table, and remote.cgi (which forces
    // multiline parsing with a format) turns each table line into an empty object.
    let table = get(
        &s.base_url(),
        "/virtual-server/remote.cgi?program=list-domains&json=1",
        "root",
        Some("PASSWORD"),
    )
    .await
    .json();
    let rows = table["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2 + v["data"].as_array().unwrap().len());
    assert!(rows[0]["name"].as_str().unwrap().starts_with("Domain "));
    assert!(rows.iter().all(|r| r["values"] == serde_json::json!({})));
    s.shutdown().await;
}

#[tokio::test]
async fn basic_auth_is_required_and_refusals_take_remote_cgis_forms() {
    let s = sim(VirtualminSimConfig::generated(3, 1)).await;
    let base = s.base_url();
    for (user, pass) in [
        ("root", None),
        ("root", Some("nope")),
        ("admin", Some("PASSWORD")),
    ] {
        let a = get(&base, LIST, user, pass).await;
        assert_eq!(a.status, 401, "{user} {pass:?}");
        assert_eq!(a.www_auth, "Basic realm=\"Webmin Server\"");
        assert!(a.body.contains("401 Unauthorized"));
    }
    // Refused after the format is known: {"status":"error"} in text/plain.
    let a = get(
        &base,
        "/virtual-server/remote.cgi?program=list-users&json=1",
        "root",
        Some("PASSWORD"),
    )
    .await;
    assert_eq!((a.status, a.content_type.as_str()), (200, "text/plain"));
    let v = a.json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"], "Remote program list-users does not exist");
    assert!(v.get("command").is_none());
    // Without a format: plain ERROR text.
    let a = get(
        &base,
        "/virtual-server/remote.cgi?program=bad%20name",
        "root",
        Some("PASSWORD"),
    )
    .await;
    assert_eq!(a.body, "ERROR: Invalid remote program name\n");
    // A failed command: the failure shape, HTTP 200.
    let a = get(
        &base,
        "/virtual-server/remote.cgi?program=list-domains&json=1&bogus=",
        "root",
        Some("PASSWORD"),
    )
    .await;
    let v = a.json();
    assert_eq!(v["status"], "failure");
    assert_eq!(v["error"], "Unknown parameter --bogus");
    assert!(v["full_error"]
        .as_str()
        .is_some_and(|f| f.starts_with("Unknown parameter --bogus\n")));
    s.shutdown().await;

    let s = sim(VirtualminSimConfig {
        master_admin: false,
        ..VirtualminSimConfig::generated(3, 1)
    })
    .await;
    let a = get(&s.base_url(), LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.body, panel_sim::virtualmin::NOT_ALLOWED);
    s.shutdown().await;
}

#[tokio::test]
async fn flags_filter_and_post_forms_work_like_remote_cgi() {
    let mut sub = VirtualminDomain::new("blog.test", "ann");
    sub.kind = panel_sim::virtualmin::DomainKind::SubServer {
        parent: "ann.test".into(),
    };
    let mut alias = VirtualminDomain::new("ann.example", "ann");
    alias.kind = panel_sim::virtualmin::DomainKind::Alias {
        real: "ann.test".into(),
    };
    let s = sim(VirtualminSimConfig::with_accounts(vec![
        VirtualminDomain::new("ann.test", "ann").to_value(),
        sub.to_value(),
        alias.to_value(),
        VirtualminDomain::new("bob.test", "bob")
            .disabled("Manually", 1_700_000_100)
            .to_value(),
    ]))
    .await;
    let base = s.base_url();
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let q = |extra: &str| format!("{LIST}{extra}");
    let top = get(&base, &q("&toplevel="), "root", Some("PASSWORD"))
        .await
        .json();
    assert_eq!(names(&top), ["ann.test", "bob.test"]);
    let disabled = get(&base, &q("&disabled="), "root", Some("PASSWORD"))
        .await
        .json();
    assert_eq!(names(&disabled), ["bob.test"]);
    let two = get(
        &base,
        &q("&domain=bob.test&domain=blog.test"),
        "root",
        Some("PASSWORD"),
    )
    .await
    .json();
    assert_eq!(names(&two), ["blog.test", "bob.test"]);
    let only = get(
        &base,
        "/virtual-server/remote.cgi?program=list-domains&name-only=&json=1",
        "root",
        Some("PASSWORD"),
    )
    .await
    .json();
    // Parsed as multiline output too: names with no values.
    assert_eq!(
        names(&only),
        ["ann.test", "blog.test", "ann.example", "bob.test"]
    );
    assert_eq!(only["data"][0]["values"], serde_json::json!({}));
    let missing = get(&base, &q("&domain=nope.test"), "root", Some("PASSWORD"))
        .await
        .json();
    assert_eq!(missing["error"], "Virtual server nope.test does not exist");

    // POST with a form body, as WHMCS's module sends it.
    let resp = client()
        .post(format!("{base}/virtual-server/remote.cgi"))
        .basic_auth("root", Some("PASSWORD"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("program=list-domains&json=1&multiline=&user=bob")
        .send()
        .await
        .unwrap();
    assert_eq!(names(&answer(resp).await.json()), ["bob.test"]);

    // Without a format: list-domains' text and its exit status.
    let text = get(
        &base,
        "/virtual-server/remote.cgi?program=list-domains&multiline=&domain=ann.test",
        "root",
        Some("PASSWORD"),
    )
    .await;
    assert_eq!(text.content_type, "text/plain");
    assert!(text.body.starts_with("ann.test\n    "), "{}", text.body);
    assert!(text
        .body
        .contains("\n    IP address: 192.0.2.20 (Shared)\n"));
    assert!(text.body.contains("\n    Type: Top-level server\n"));
    assert!(text.body.ends_with("\nExit status: 0\n"));
    s.shutdown().await;
}

#[tokio::test]
async fn faults_in_virtualmins_own_forms() {
    let s = sim(VirtualminSimConfig::generated(5, 1)).await;
    let base = s.base_url();
    s.set_fault(Some(Fault::ErrorIn200));
    let a = get(&base, LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["status"], "failure");
    assert_eq!(v["command"], "list-domains");
    assert_eq!(v["error"], panel_sim::virtualmin::FAULT_ERROR);

    s.set_fault(Some(Fault::Http500));
    let a = get(&base, LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.status, 500);
    assert!(a.body.contains("Perl execution failed"));

    s.set_fault(Some(Fault::BadAuth));
    assert_eq!(get(&base, LIST, "root", Some("PASSWORD")).await.status, 401);

    s.set_fault(Some(Fault::Truncated));
    let resp = client()
        .get(format!("{base}{LIST}"))
        .basic_auth("root", Some("PASSWORD"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.is_err(), "the body breaks off");
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// `panel-sim virtualmin` as a separate process (CONTRACT.md "Panel simulators").

const BIN: &str = env!("CARGO_BIN_EXE_panel-sim");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

#[tokio::test]
async fn the_cli_serves_generated_servers_with_the_given_credentials() {
    let (_child, addr) = start(&[
        "virtualmin",
        "--listen",
        "127.0.0.1:0",
        "--accounts",
        "12",
        "--seed",
        "4",
        "--username",
        "admin",
        "--password",
        "S3CRET",
    ]);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let base = format!("http://{addr}");
    let a = get(&base, LIST, "admin", Some("S3CRET")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json()["data"],
        Value::Array(generate_virtualmin_accounts(12, 4))
    );
    assert_eq!(get(&base, LIST, "root", Some("PASSWORD")).await.status, 401);
}

#[tokio::test]
async fn the_cli_takes_faults_files_and_the_default_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("domains.json");
    std::fs::write(
        &file,
        r#"[{"name":"ann.test","values":{"type":["Top-level server"],"username":["ann"]}}]"#,
    )
    .expect("write");
    let (_child, addr) = start(&[
        "virtualmin",
        "--listen",
        "127.0.0.1:0",
        "--accounts-file",
        file.to_str().expect("utf-8 path"),
    ]);
    let a = get(&format!("http://{addr}"), LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.json()["data"][0]["name"], "ann.test");

    let (_child, addr) = start(&[
        "virtualmin",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "error-in-200",
    ]);
    let a = get(&format!("http://{addr}"), LIST, "root", Some("PASSWORD")).await;
    assert_eq!(a.json()["status"], "failure");

    let out = Command::new(BIN)
        .args([
            "virtualmin",
            "--listen",
            "127.0.0.1:0",
            "--accounts-file",
            "/nonexistent/d.json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/d.json"));
}
