//! `panel-sim hestiacp` as a separate process: both login modes with their HTTP status
//! rules, faults in Hestia's own form, `--accounts-file`, `--delay-ms`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_panel-sim");
/// 20 + 40 characters: an access key pair to Hestia.
const KEY: &str = "AAAAAAAAAAAAAAAAAAA1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";

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

/// POSTs `form` to `/api/`: status, `Hestia-Exit-Code`, content type, body.
async fn post(addr: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String, String) {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
        .post(format!("http://{addr}/api/"))
        .form(form)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let exit = header("hestia-exit-code");
    let ctype = header("content-type").unwrap_or_default();
    (status, exit, ctype, resp.text().await.expect("text"))
}

fn keyed<'a>(cmd: &'a [&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("hash", KEY), ("returncode", "no"), ("cmd", cmd[0])];
    for (i, a) in cmd[1..].iter().enumerate() {
        f.push((["arg1", "arg2", "arg3"][i], a));
    }
    f
}

fn legacy<'a>(password: &'a str, cmd: &'a [&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("user", "admin"),
        ("password", password),
        ("returncode", "no"),
        ("cmd", cmd[0]),
    ];
    for (i, a) in cmd[1..].iter().enumerate() {
        f.push((["arg1", "arg2", "arg3"][i], a));
    }
    f
}

#[tokio::test]
async fn serves_both_login_modes_with_their_status_rules() {
    let (_child, addr) = start(&[
        "hestiacp",
        "--listen",
        "127.0.0.1:0",
        "--accounts",
        "12",
        "--seed",
        "4",
        "--password",
        "S3CRET-PW",
        "--token",
        KEY,
    ]);
    let generated = panel_sim::generate_hestia_accounts(12, 4);

    // Access key: JSON, 200, exit code 0.
    let (status, exit, ctype, body) = post(&addr, &keyed(&["v-list-users", "json"])).await;
    assert_eq!((status, exit.as_deref()), (200, Some("0")));
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let users: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(users.len(), 13);
    assert_eq!(v["admin"]["ROLE"], "admin");
    let third = &generated[3];
    let name = third["USER"].as_str().unwrap();
    assert_eq!(v[name]["PACKAGE"], third["PACKAGE"]);
    assert_eq!(v[name]["DATE"], third["DATE"]);
    assert!(body.ends_with("        }}"), "{}", &body[body.len() - 20..]);

    // Web domains in creation order.
    let (status, _, _, body) = post(&addr, &keyed(&["v-list-web-domains", name, "json"])).await;
    assert_eq!(status, 200);
    let first = third["_web_domains"][0]["DOMAIN"].as_str().unwrap();
    assert!(body.contains(&format!("\"{first}\": {{")), "{body}");

    // A failing command: 400 + exit code 3 with a key, 200 with user/password.
    let (status, exit, _, body) =
        post(&addr, &keyed(&["v-list-web-domains", "nobody", "json"])).await;
    assert_eq!((status, exit.as_deref()), (400, Some("3")));
    assert_eq!(body, "Error: user nobody doesn't exist");
    let (status, exit, _, body) = post(
        &addr,
        &legacy("S3CRET-PW", &["v-list-web-domains", "nobody", "json"]),
    )
    .await;
    assert_eq!((status, exit), (200, None));
    assert_eq!(body, "Error: user nobody doesn't exist\n");

    // Legacy mode lists the same document, with its new line.
    let (status, _, ctype, body) =
        post(&addr, &legacy("S3CRET-PW", &["v-list-users", "json"])).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(body.ends_with("}}\n"));

    // Refusals: 401 with Hestia's text in both modes.
    let (status, exit, _, body) = post(&addr, &legacy("wrong", &["v-list-users", "json"])).await;
    assert_eq!((status, exit.as_deref()), (401, Some("9")));
    assert_eq!(body, "Error: authentication failed");
    let other_key = "CCCCCCCCCCCCCCCCCCC1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
    let (status, _, _, body) = post(
        &addr,
        &[
            ("hash", other_key),
            ("cmd", "v-list-users"),
            ("arg1", "json"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body, "Error: key CCCCCCCCCCCCCCCCCCC1 doesn't exist");
    let (status, _, _, _) = post(&addr, &[("cmd", "v-list-users")]).await;
    assert_eq!(status, 405);
    let (status, exit, _, _) = post(&addr, &keyed(&[""])).await;
    assert_eq!((status, exit.as_deref()), (422, Some("2")));
}

#[tokio::test]
async fn faults_come_in_hestias_form() {
    let (_child, addr) = start(&[
        "hestiacp",
        "--listen",
        "127.0.0.1:0",
        "--token",
        KEY,
        "--fault",
        "error-in-200",
    ]);
    let (status, exit, _, body) = post(&addr, &keyed(&["v-list-users", "json"])).await;
    assert_eq!((status, exit.as_deref()), (400, Some("12")));
    assert!(body.starts_with("Error: can't parse"), "{body}");
    let (status, _, _, body) = post(&addr, &legacy("PASSWORD", &["v-list-users", "json"])).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("Error: can't parse"), "{body}");

    let (_child, addr) = start(&["hestiacp", "--listen", "127.0.0.1:0", "--fault", "bad-auth"]);
    let (status, _, _, body) = post(&addr, &legacy("PASSWORD", &["v-list-users", "json"])).await;
    assert_eq!(
        (status, body.as_str()),
        (401, "Error: authentication failed")
    );

    let (_child, addr) = start(&["hestiacp", "--listen", "127.0.0.1:0", "--fault", "http-500"]);
    let (status, _, _, body) = post(&addr, &legacy("PASSWORD", &["v-list-users", "json"])).await;
    assert_eq!(status, 500);
    assert!(body.contains("500 Internal Server Error"));
}

#[tokio::test]
async fn accounts_file_quirk_and_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.json");
    std::fs::write(
        &file,
        r#"[{"USER":"ann","NAME":"Ann","SUSPENDED":"no","_web_domains":[{"DOMAIN":"ann.test","IP":"192.0.2.14"}]},
            {"USER":"bob","NAME":"Bob","SUSPENDED":"yes","_quirk":"quote"}]"#,
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (_child, addr) = start(&[
        "hestiacp",
        "--listen",
        "127.0.0.1:0",
        "--accounts-file",
        path,
        "--delay-ms",
        "300",
    ]);
    let started = Instant::now();
    let (status, _, ctype, body) =
        post(&addr, &legacy("PASSWORD", &["v-list-users", "json"])).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    // The quirk: bob's NAME holds an unescaped `"`.
    assert!(body.contains("\"NAME\": \"Bob \"The\" Quoted\","), "{body}");
    assert!(serde_json::from_str::<Value>(&body).is_err());

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"NAME":"no user"}]"#).expect("write");
    let out = Command::new(BIN)
        .args(["hestiacp", "--listen", "127.0.0.1:0", "--accounts-file"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("element 0") && err.contains("USER"), "{err}");
}
