//! External modules (`module.toml`: command and URL) through the registry, with module
//! folders written to a temp dir: Python 3 and shell scripts for commands, an in-process
//! wiremock server on loopback for URLs.

use std::path::Path;
use std::time::{Duration, Instant};

use serversync_core::model::Secret;
use serversync_core::module::{RemoteStatus, ServerParams};
use serversync_modules::{
    ModuleError, ModuleKind, ModuleOptions, ModuleRegistry, NoProgress, RegistryConfig,
};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "pw\"Sec-ret42";
const ACCESS_HASH: &str = "HASH-abcdef-9876";

fn params() -> ServerParams {
    ServerParams {
        server_id: 15,
        ip: "192.0.2.15".into(),
        hostname: "ext1.test".into(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(ACCESS_HASH),
        secure: true,
        tls_verify: true,
        port: None,
    }
}

/// A modules directory with one module `name` made of `files` (path, text, executable).
fn module_dir(name: &str, files: &[(&str, &str, bool)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    add_module(d.path(), name, files);
    d
}

fn add_module(dir: &Path, name: &str, files: &[(&str, &str, bool)]) {
    let m = dir.join(name);
    std::fs::create_dir_all(&m).unwrap();
    for (rel, text, exec) in files {
        let p = m.join(rel);
        std::fs::write(&p, text).unwrap();
        if *exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

async fn registry(dir: &Path, options: ModuleOptions) -> ModuleRegistry {
    ModuleRegistry::load(RegistryConfig {
        options,
        modules_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn list(dir: &Path, name: &str) -> Result<serversync_core::module::Listing, ModuleError> {
    list_with(dir, name, ModuleOptions::default()).await
}

async fn list_with(
    dir: &Path,
    name: &str,
    options: ModuleOptions,
) -> Result<serversync_core::module::Listing, ModuleError> {
    let reg = registry(dir, options).await;
    let m = reg
        .get(name)
        .unwrap_or_else(|e| panic!("module {name} not usable: {e}"));
    reg.list_accounts(m.as_ref(), &params(), &NoProgress).await
}

/// A Python command module printing `out` (a Python expression of the answer) after reading
/// its stdin.
fn python_module(body: &str) -> Vec<(&'static str, String, bool)> {
    vec![
        (
            "module.toml",
            "command = [\"python3\", \"list_accounts.py\"]\n".to_string(),
            false,
        ),
        (
            "list_accounts.py",
            format!("import json, sys, os, time\nparams = json.load(sys.stdin)\n{body}\n"),
            false,
        ),
    ]
}

fn py_dir(name: &str, body: &str) -> tempfile::TempDir {
    let files = python_module(body);
    let refs: Vec<(&str, &str, bool)> =
        files.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
    module_dir(name, &refs)
}

fn assert_no_secret(text: &str) {
    for s in [PASSWORD, ACCESS_HASH, "pw\\\"Sec-ret42", "Sec-ret42"] {
        assert!(!text.contains(s), "secret {s:?} shown in: {text}");
    }
}

const GOOD: &str = r#"{"email": "ann@mail.test", "username": "ann", "domain": "ann.test",
  "uniqueIdentifier": "ann.test", "product": "basic", "primaryip": "192.0.2.15",
  "created": "2024-01-31 13:15:00", "status": "Active"}"#;

#[tokio::test]
async fn a_command_lists_from_its_stdin_and_never_gets_secrets_in_argv_or_env() {
    // The module checks that the parameters came on stdin only and echoes what it got.
    let d = py_dir(
        "mypanel",
        &format!(
            r#"
leak = any(params["serverpassword"] in a for a in sys.argv) or \
       any(params["serverpassword"] in v or params["serveraccesshash"] in v for v in os.environ.values())
acc = {GOOD}
acc["username"] = params["serverusername"] + "-" + str(params["serverid"]) + "-" + params["serverport"] + "-" + str(params["serversecure"]) + "-" + params["serverhttpprefix"]
acc["uniqueIdentifier"] = params["serverhostname"]
acc["primaryip"] = params["serverip"]
ok = params["serverpassword"] == {PASSWORD:?} and params["serveraccesshash"] == {ACCESS_HASH:?}
acc["domain"] = "secrets-on-stdin" if ok and not leak else "WRONG"
acc["cwd"] = os.getcwd()
print(json.dumps({{"success": True, "accounts": [acc]}}))
"#
        ),
    );
    let l = list(d.path(), "mypanel").await.unwrap();
    assert!(l.is_complete(), "{:?}", l.skipped);
    assert_eq!(l.accounts.len(), 1);
    let a = &l.accounts[0];
    assert_eq!(a.unique_identifier, "ext1.test");
    assert_eq!(a.username, "admin-15--True-https");
    assert_eq!(a.primary_ip, "192.0.2.15");
    assert_eq!(a.domain, "secrets-on-stdin");
    assert_eq!(a.status, RemoteStatus::Active);
    assert!(a.notes.is_empty(), "{:?}", a.notes);
}

#[tokio::test]
async fn success_true_without_accounts_is_a_failed_listing() {
    let d = py_dir("mypanel", r#"print(json.dumps({"success": True}))"#);
    let e = list(d.path(), "mypanel").await.unwrap_err();
    assert!(matches!(e, ModuleError::Protocol(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the module's answer is not the ListAccounts wire form: \"success\" is true but \
         \"accounts\" is missing (a server without accounts answers \"accounts\": [])"
    );
}

#[tokio::test]
async fn a_bare_list_and_empty_output_are_failed_listings() {
    let d = py_dir("mypanel", "print('[]')");
    let e = list(d.path(), "mypanel").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("the answer is a list, not an object"),
        "{e}"
    );
    let d = py_dir("mypanel", "pass");
    assert_eq!(
        list(d.path(), "mypanel").await.unwrap_err(),
        ModuleError::Protocol("the answer is empty".into())
    );
}

#[tokio::test]
async fn the_modules_own_error_message_is_reported() {
    let d = py_dir(
        "mypanel",
        r#"print(json.dumps({"success": False, "error": "Invalid API key"}))"#,
    );
    let e = list(d.path(), "mypanel").await.unwrap_err();
    assert_eq!(e, ModuleError::Remote("Invalid API key".into()));
    assert!(e.to_string().contains("Invalid API key"));
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_its_children() {
    let d = tempfile::tempdir().unwrap();
    let pids = d.path().join("pids.txt");
    add_module(
        d.path(),
        "slowpanel",
        &[
            (
                "module.toml",
                "command = [\"python3\", \"list_accounts.py\"]\ntimeout_seconds = 2\n",
                false,
            ),
            (
                "list_accounts.py",
                &format!(
                    "import os, subprocess, sys, time\nsys.stdin.read()\n\
                     child = subprocess.Popen(['sleep', '60'])\n\
                     open({:?}, 'w').write('%d %d' % (os.getpid(), child.pid))\n\
                     time.sleep(60)\nprint('{{\"success\": true, \"accounts\": []}}')\n",
                    pids.display().to_string()
                ),
                false,
            ),
        ],
    );
    let started = Instant::now();
    let e = list(d.path(), "slowpanel").await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::ModuleTimeout {
            after: Duration::from_secs(2)
        }
    );
    assert_eq!(e.to_string(), "the module did not answer within 2 s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Every process started in the module's folder is gone (the script and its child)…
    let folder = std::fs::canonicalize(d.path().join("slowpanel")).unwrap();
    let left = processes_in(&folder);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    // …including the two the script recorded, when it got that far.
    if let Ok(text) = std::fs::read_to_string(&pids) {
        for pid in text.split_whitespace() {
            assert!(gone(pid), "process {pid} survived the time-out");
        }
    }
}

/// Live (not zombie) processes whose working directory is `dir`, after giving the kernel a
/// moment to reap the killed ones.
fn processes_in(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for _ in 0..50 {
        left = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
                    && !gone_now(pid)
            })
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    left
}

fn gone_now(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    matches!(state, None | Some(Some('Z')) | Some(Some('X')))
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped; the state
/// follows the command name in parentheses in `/proc/PID/stat`), giving the kernel a moment.
fn gone(pid: &str) -> bool {
    for _ in 0..50 {
        if gone_now(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[tokio::test]
async fn a_bad_created_among_valid_records_is_skipped_and_the_listing_incomplete() {
    let d = py_dir(
        "mypanel",
        r#"
accs = [
  {"uniqueIdentifier": "a.test", "domain": "a.test", "username": "a", "status": "Active", "created": "2024-01-31 10:00:00"},
  {"uniqueIdentifier": "b.test", "domain": "b.test", "username": "bob", "status": "Active", "created": "31/01/2024"},
  {"uniqueIdentifier": "c.test", "domain": "c.test", "username": "c", "status": "active", "created": "2024-01-31", "product": 3},
]
print(json.dumps({"success": True, "accounts": accs}))
"#,
    );
    let l = list(d.path(), "mypanel").await.unwrap();
    let ids: Vec<&str> = l
        .accounts
        .iter()
        .map(|a| a.unique_identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["a.test", "c.test"]);
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(l.skipped[0].index, 1);
    assert_eq!(l.skipped[0].identifier.as_deref(), Some("bob"));
    assert_eq!(
        l.skipped[0].reason,
        "created \"31/01/2024\" is not \"Y-m-d H:i:s\" or \"Y-m-d\""
    );
    assert!(!l.is_complete());
    assert_eq!(
        l.accounts[1].notes,
        vec![
            "status \"active\" read as Active",
            "created \"2024-01-31\" has no time: taken as 00:00:00",
            "product was the number 3, taken as the text \"3\"",
            "not given by the module (shown empty, not compared): email, primaryip",
        ]
    );
}

#[tokio::test]
async fn the_password_printed_to_stderr_never_reaches_the_error() {
    let d = py_dir(
        "mypanel",
        r#"
sys.stderr.write("debug: got " + json.dumps(params) + "\n")
sys.stderr.write("password=" + params["serverpassword"] + " hash=" + params["serveraccesshash"] + "\n")
sys.stderr.write("Error: login refused\n")
sys.exit(3)
"#,
    );
    let e = list(d.path(), "mypanel").await.unwrap_err();
    let ModuleError::Process { what, stderr } = &e else {
        panic!("expected a process error, got {e:?}");
    };
    assert_eq!(what, "exited with status 3");
    let text = e.to_string();
    assert_no_secret(&text);
    assert!(
        text.contains("password=[redacted] hash=[redacted]"),
        "{text}"
    );
    assert!(stderr.ends_with("Error: login refused"), "{stderr}");
}

#[tokio::test]
async fn a_python_traceback_shows_its_last_line() {
    let d = py_dir(
        "mypanel",
        "def f(x):\n    return x['missing']\n[f({}) for _ in range(1)]",
    );
    let e = list(d.path(), "mypanel").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("the module's process exited with status 1: "),
        "{text}"
    );
    assert!(text.ends_with("KeyError: 'missing'"), "{text}");
}

#[tokio::test]
async fn a_relative_program_runs_in_the_module_folder_without_a_shell() {
    let d = module_dir(
        "shpanel",
        &[
            ("module.toml", "command = [\"./list.sh\", \"a b; echo injected\"]\n", false),
            (
                "list.sh",
                "#!/bin/sh\ncat >/dev/null\nuid=$(cat uid.txt)\n\
                 printf '{\"success\":true,\"accounts\":[{\"uniqueIdentifier\":\"%s\",\"username\":\"%s\",\"status\":\"Suspended\"}]}' \"$uid\" \"$1\"\n",
                true,
            ),
            ("uid.txt", "from-the-folder.test", false),
        ],
    );
    let l = list(d.path(), "shpanel").await.unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(l.accounts[0].unique_identifier, "from-the-folder.test");
    // The argument arrives as one word: no shell splits or runs it.
    assert_eq!(l.accounts[0].username, "a b; echo injected");
    assert_eq!(l.accounts[0].status, RemoteStatus::Suspended);
}

#[tokio::test]
async fn output_over_the_cap_fails() {
    let d = py_dir(
        "mypanel",
        "sys.stdout.write('{\"success\": true, \"accounts\": [' + ','.join(['{}'] * 100000) + ']}')",
    );
    let e = list_with(
        d.path(),
        "mypanel",
        ModuleOptions {
            max_response_bytes: 10_000,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the module's output is larger than the limit of 10000 bytes"
    );
}

#[tokio::test]
async fn modules_list_shows_kinds_and_broken_manifests_with_their_reason() {
    let d = py_dir("mypanel", "print('{}')");
    add_module(
        d.path(),
        "webpanel",
        &[(
            "module.toml",
            "url = \"https://panel.example.net/list\"\n[meta_data]\nDisplayName = \"Web Panel\"\nListAccountsUniqueIdentifierField = \"username\"\n",
            false,
        )],
    );
    add_module(
        d.path(),
        "brokenurl",
        &[(
            "module.toml",
            "url = \"https://panel.example.net/list\"\ntimeout_seconds = 0\n",
            false,
        )],
    );
    add_module(
        d.path(),
        "typo",
        &[("module.toml", "comand = [\"python3\"]\n", false)],
    );
    let reg = registry(d.path(), ModuleOptions::default()).await;
    assert_eq!(
        reg.names(),
        vec![
            "cpanel",
            "directadmin",
            "virtualmin",
            "plesk",
            "hestiacp",
            "mypanel",
            "webpanel"
        ]
    );
    let kinds: Vec<(String, ModuleKind, Option<String>)> = reg
        .modules()
        .into_iter()
        .map(|m| (m.name, m.kind, m.error))
        .collect();
    let base = std::fs::canonicalize(d.path()).unwrap();
    assert_eq!(
        kinds,
        vec![
            ("cpanel".into(), ModuleKind::Builtin, None),
            ("directadmin".into(), ModuleKind::Builtin, None),
            ("virtualmin".into(), ModuleKind::Builtin, None),
            ("plesk".into(), ModuleKind::Builtin, None),
            ("hestiacp".into(), ModuleKind::Builtin, None),
            (
                "brokenurl".into(),
                ModuleKind::Http,
                Some(format!(
                    "{}: timeout_seconds = 0 is out of range (1 to 3600 seconds)",
                    base.join("brokenurl/module.toml").display()
                ))
            ),
            ("mypanel".into(), ModuleKind::Command, None),
            (
                "typo".into(),
                ModuleKind::Command,
                Some(format!(
                    "{}: unknown key `comand` (allowed: command, url, timeout_seconds, meta_data)",
                    base.join("typo/module.toml").display()
                ))
            ),
            ("webpanel".into(), ModuleKind::Http, None),
        ]
    );
    let web = reg.get("webpanel").unwrap();
    assert_eq!(web.meta().display_name, "Web Panel");
    assert_eq!(web.meta().unique_identifier_display_name, "Username");
}

// ---------------------------------------------------------------------------------------
// URL modules.

fn url_module(url: &str, extra: &str) -> tempfile::TempDir {
    module_dir(
        "webpanel",
        &[("module.toml", &format!("url = \"{url}\"\n{extra}"), false)],
    )
}

fn expected_params() -> serde_json::Value {
    serde_json::json!({"serverid": 15, "serverip": "192.0.2.15", "serverhostname": "ext1.test",
        "serverusername": "admin", "serverpassword": PASSWORD, "serveraccesshash": ACCESS_HASH,
        "serversecure": true, "serverhttpprefix": "https", "serverport": ""})
}

#[tokio::test]
async fn a_url_module_gets_the_parameters_posted_as_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/serversync/list"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected_params()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(r#"{{"success": true, "accounts": [{GOOD}]}}"#),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let d = url_module(&format!("{}/serversync/list", server.uri()), "");
    let l = list(d.path(), "webpanel").await.unwrap();
    assert!(l.is_complete());
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(l.accounts[0].unique_identifier, "ann.test");
    assert_eq!(l.accounts[0].email.as_deref(), Some("ann@mail.test"));
}

#[tokio::test]
async fn url_module_failures_are_failed_listings() {
    let server = MockServer::start().await;
    Mock::given(path("/error500"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string(format!("internal error for password {PASSWORD}")),
        )
        .mount(&server)
        .await;
    Mock::given(path("/refused"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"success": false, "error": "Invalid API key"}"#),
        )
        .mount(&server)
        .await;
    Mock::given(path("/bare"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .mount(&server)
        .await;
    Mock::given(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/redirect"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:1/"))
        .mount(&server)
        .await;
    let cases: &[(&str, &str)] = &[
        (
            "/error500",
            "the panel answered HTTP 500: internal error for password [redacted]",
        ),
        ("/refused", "the panel reported an error: Invalid API key"),
        (
            "/bare",
            "the module's answer is not the ListAccounts wire form: the answer is a list, not \
             an object {\"success\": …, \"accounts\": […]} (a bare list is never taken as the \
             account list)",
        ),
        (
            "/html",
            "the module's answer is not the ListAccounts wire form: the answer is not JSON \
             (expected value at line 1 column 1); it starts with: <html>maintenance</html>",
        ),
        ("/redirect", "the panel answered HTTP 302: (empty body)"),
    ];
    for (p, want) in cases {
        let d = url_module(&format!("{}{p}", server.uri()), "");
        let e = list(d.path(), "webpanel").await.unwrap_err();
        assert_eq!(e.to_string(), *want, "{p}");
    }
}

#[tokio::test]
async fn a_slow_url_module_times_out() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"success": true, "accounts": []}"#)
                .set_delay(Duration::from_secs(20)),
        )
        .mount(&server)
        .await;
    let d = url_module(&format!("{}/slow", server.uri()), "timeout_seconds = 1\n");
    let started = Instant::now();
    let e = list(d.path(), "webpanel").await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::ModuleTimeout {
            after: Duration::from_secs(1)
        }
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_url_is_never_shown_with_its_credentials_or_query() {
    let server = MockServer::start().await;
    Mock::given(path("/list"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down"))
        .mount(&server)
        .await;
    let addr = server.address();
    let d = url_module(
        &format!("http://urluser:URLPASS99@{addr}/list?key=QUERYSECRET"),
        "",
    );
    let e = list(d.path(), "webpanel").await.unwrap_err();
    assert_eq!(e.to_string(), "the panel answered HTTP 503: down");
    // Nothing listens on port 1 of loopback: a connection error names host:port only.
    let d = url_module(
        "http://urluser:URLPASS99@127.0.0.1:1/list?key=QUERYSECRET",
        "",
    );
    let e = list(d.path(), "webpanel").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("could not connect to 127.0.0.1:1: "),
        "{text}"
    );
    for s in ["URLPASS99", "QUERYSECRET", "urluser"] {
        assert!(!text.contains(s), "{s} shown in {text}");
    }
}
