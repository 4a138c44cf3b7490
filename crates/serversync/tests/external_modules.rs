//! End to end through the real binary: external modules (`module.toml`, CONTRACT.md
//! "Modules") written in Python and served over HTTP, listed, checked, analysed and applied.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "Pa55-word-XYZ";

/// A Python command module `name` in `dir` that prints `answer` (after reading its stdin).
fn python_module(dir: &Path, name: &str, answer: &Value, meta: &str) {
    let m = dir.join(name);
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("module.toml"),
        format!("command = [\"python3\", \"list_accounts.py\"]\ntimeout_seconds = 30\n{meta}"),
    )
    .unwrap();
    std::fs::write(
        m.join("list_accounts.py"),
        "import json, sys\nparams = json.load(sys.stdin)\nassert params['serverid'] > 0\n\
         sys.stdout.write(open('answer.json').read())\n",
    )
    .unwrap();
    std::fs::write(m.join("answer.json"), serde_json::to_vec(answer).unwrap()).unwrap();
}

/// A module whose script is `script` (Python, after `import json, sys`).
fn python_script_module(dir: &Path, name: &str, script: &str) {
    let m = dir.join(name);
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("module.toml"),
        "command = [\"python3\", \"list_accounts.py\"]\n",
    )
    .unwrap();
    std::fs::write(
        m.join("list_accounts.py"),
        format!("import json, sys\nparams = json.load(sys.stdin)\n{script}\n"),
    )
    .unwrap();
}

fn ext_server(id: i64, name: &str, module: &str) -> Value {
    json!({"id": id, "name": name, "module": module, "hostname": "ext.test",
           "ip_address": WEB1_IP, "secure": true, "tls_verify": true,
           "username": "admin", "password": PASSWORD, "access_hash": ""})
}

fn ext_product(id: i64, module: &str, pkg: &str) -> Value {
    json!({"id": id, "name": format!("{pkg} plan"), "module": module,
           "config_options": {"configoption1": pkg}})
}

fn remote(uid: &str, user: &str, status: &str, created: &str) -> Value {
    json!({"email": "ann@mail.test", "username": user, "domain": uid, "uniqueIdentifier": uid,
           "product": "basic", "primaryip": WEB1_IP, "created": created, "status": status})
}

/// The accounts of a server with drift: ann (in sync), bob (suspended on the server),
/// new.test (not in billing; a `Y-m-d` date and a lower-case status, read leniently).
fn drift_answer() -> Value {
    json!({"success": true, "accounts": [
        remote("ann.test", "ann", "Active", "2024-01-31 13:15:00"),
        remote("bob.test", "bob", "Suspended", "2024-01-31 13:15:00"),
        remote("new.test", "newbie", "active", "2024-02-01"),
    ]})
}

/// Billing for server `id` of `module`: clients 1 and 5, product `id*10` (`basic`), services
/// ann.test and bob.test (Active).
fn billing(id: i64, name: &str, module: &str, extra_services: Vec<Value>) -> Value {
    let mut services = vec![
        service(id * 10, 1, id * 10, id, "ann.test", "ann", "Active"),
        service(id * 10 + 1, 1, id * 10, id, "bob.test", "bob", "Active"),
    ];
    services.extend(extra_services);
    json!({
        "clients": [client(1, "ann@mail.test"), client(5, "unassigned@provider.test")],
        "products": [ext_product(id * 10, module, "basic")],
        "servers": [ext_server(id, name, module)],
        "services": services,
    })
}

struct World {
    env: Env,
    modules: PathBuf,
}

impl World {
    fn new() -> Self {
        let env = Env::new();
        let modules = env.path("mods");
        std::fs::create_dir_all(&modules).unwrap();
        World { env, modules }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["--modules-dir", self.modules.to_str().unwrap()];
        a.extend_from_slice(args);
        a
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.env.run(&self.args(args)).await
    }

    async fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "serversync {args:?} failed: {out:#?}");
        out
    }

    async fn import(&self, doc: &Value) {
        let f = self.env.write_json("records.json", doc);
        self.ok(&["records", "import", f.to_str().unwrap()]).await;
    }

    async fn analyse(&self, server: &str) -> Value {
        let out = self.ok(&["analyse", server, "--json"]).await;
        assert!(out.stderr.trim().is_empty(), "{}", out.stderr);
        out.json()
    }

    /// `analyse SERVER` that must fail: exit 2, nothing on stdout, one stderr line, which
    /// is returned.
    async fn failed_analyse(&self, server: &str) -> String {
        let out = self.run(&["analyse", server, "--json"]).await;
        assert_eq!(out.code, 2, "{out:#?}");
        assert_eq!(out.stdout, "");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "one line: {lines:#?}");
        assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
        lines[0].to_string()
    }

    /// `apply SERVER --terminate all --import all` must be refused: no applicable run.
    async fn apply_refused(&self, server: &str) {
        let out = self
            .run(&[
                "apply",
                server,
                "--import",
                "all",
                "--terminate",
                "all",
                "--json",
            ])
            .await;
        assert_eq!(out.code, 2, "{out:#?}");
        assert_eq!(out.stdout, "");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("cannot be applied"), "{}", lines[0]);
        assert!(lines[0].contains(server), "{}", lines[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn modules_list_and_check() {
    let w = World::new();
    python_module(
        &w.modules,
        "mypanel",
        &drift_answer(),
        "[meta_data]\nDisplayName = \"My Panel\"\nListAccountsUniqueIdentifierDisplayName = \"Site\"\n",
    );
    std::fs::create_dir_all(w.modules.join("webpanel")).unwrap();
    std::fs::write(
        w.modules.join("webpanel/module.toml"),
        "url = \"https://panel.example.net/list\"\n[meta_data]\nListAccountsUniqueIdentifierField = \"username\"\nListAccountsProductField = \"configoption2\"\nDefaultSSLPort = 8443\n",
    )
    .unwrap();
    std::fs::create_dir_all(w.modules.join("broken")).unwrap();
    std::fs::write(
        w.modules.join("broken/module.toml"),
        "command = [\"python3\", \"x.py\"]\ntimeout_seconds = 9999\n",
    )
    .unwrap();

    let list = w.ok(&["modules", "list", "--json"]).await.json();
    let rows: Vec<(String, String, Value, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["kind"].as_str().unwrap().to_string(),
                m["meta_data"].clone(),
                m["error"].clone(),
            )
        })
        .collect();
    let manifest = |n: &str| {
        std::fs::canonicalize(w.modules.join(n))
            .unwrap()
            .join("module.toml")
            .display()
            .to_string()
    };
    assert_eq!(
        rows,
        vec![
            (
                "cpanel".into(),
                "builtin".into(),
                json!({"DisplayName": "cPanel", "ListAccountsUniqueIdentifierDisplayName": "Domain",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption1",
                       "DefaultSSLPort": 2087, "DefaultNonSSLPort": 2086}),
                Value::Null
            ),
            (
                "directadmin".into(),
                "builtin".into(),
                json!({"DisplayName": "DirectAdmin", "ListAccountsUniqueIdentifierDisplayName": "Domain",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption1",
                       "DefaultSSLPort": 2222, "DefaultNonSSLPort": 2222}),
                Value::Null
            ),
            (
                "virtualmin".into(),
                "builtin".into(),
                json!({"DisplayName": "Virtualmin", "ListAccountsUniqueIdentifierDisplayName": "Domain",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption2",
                       "DefaultSSLPort": 10000, "DefaultNonSSLPort": 10000}),
                Value::Null
            ),
            (
                "plesk".into(),
                "builtin".into(),
                json!({"DisplayName": "Plesk", "ListAccountsUniqueIdentifierDisplayName": "Domain",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption1",
                       "DefaultSSLPort": 8443, "DefaultNonSSLPort": 8880}),
                Value::Null
            ),
            (
                "hestiacp".into(),
                "builtin".into(),
                json!({"DisplayName": "HestiaCP", "ListAccountsUniqueIdentifierDisplayName": "Domain",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption1",
                       "DefaultSSLPort": 8083, "DefaultNonSSLPort": 8083}),
                Value::Null
            ),
            (
                "broken".into(),
                "command".into(),
                Value::Null,
                json!(format!(
                    "{}: timeout_seconds = 9999 is out of range (1 to 3600 seconds)",
                    manifest("broken")
                ))
            ),
            (
                "mypanel".into(),
                "command".into(),
                json!({"DisplayName": "My Panel", "ListAccountsUniqueIdentifierDisplayName": "Site",
                       "ListAccountsUniqueIdentifierField": "domain", "ListAccountsProductField": "configoption1",
                       "DefaultSSLPort": 443, "DefaultNonSSLPort": 80}),
                Value::Null
            ),
            (
                "webpanel".into(),
                "http".into(),
                json!({"DisplayName": "webpanel", "ListAccountsUniqueIdentifierDisplayName": "Username",
                       "ListAccountsUniqueIdentifierField": "username", "ListAccountsProductField": "configoption2",
                       "DefaultSSLPort": 8443, "DefaultNonSSLPort": 80}),
                Value::Null
            ),
        ]
    );

    let check = w.ok(&["modules", "check", "mypanel"]).await;
    assert_eq!(
        check.stdout.trim(),
        "module mypanel (command) is usable: My Panel, unique identifier domain (Site), product field configoption1"
    );
    let check = w.ok(&["modules", "check", "webpanel"]).await;
    assert!(
        check.stdout.starts_with("module webpanel (http) is usable"),
        "{check:#?}"
    );

    let bad = w.run(&["modules", "check", "broken"]).await;
    assert_eq!(bad.code, 2, "{bad:#?}");
    let lines = bad.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("module \"broken\" is unusable")
            && lines[0].contains("timeout_seconds = 9999 is out of range"),
        "{}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_module_lists_analyses_and_applies() {
    let w = World::new();
    python_module(&w.modules, "mypanel", &drift_answer(), "");
    w.import(&billing(15, "ext1", "mypanel", vec![])).await;

    let doc = w.analyse("ext1").await;
    assert_eq!(doc["server"]["module"], "mypanel");
    assert_eq!(doc["listing"]["complete"], true);
    assert_eq!(
        nonzero_counts(&doc),
        counts(&[("in_sync", 1), ("out_of_sync", 1), ("not_in_billing", 1)])
    );
    assert_eq!(
        item(&doc, "bob.test")["diffs"],
        json!([{"field": "status", "remote": "Suspended", "billing": "Active"}])
    );
    let new = item(&doc, "new.test");
    assert_eq!(new["category"], "not_in_billing");
    assert_eq!(new["remote"]["created"], "2024-02-01 00:00:00");
    assert_eq!(new["remote"]["status"], "Active");
    assert_eq!(
        new["notes"],
        json!([
            "status \"active\" read as Active",
            "created \"2024-02-01\" has no time: taken as 00:00:00"
        ])
    );

    let applied = w
        .run(&[
            "apply", "ext1", "--import", "all", "--sync", "all", "--json",
        ])
        .await;
    assert_eq!(applied.code, 0, "{applied:#?}");
    assert_eq!(
        outcomes(&applied.json()),
        vec![
            ("import".into(), "new.test".into(), "applied".into()),
            ("sync".into(), "bob.test".into(), "applied".into()),
        ]
    );

    let again = w.analyse("ext1").await;
    assert_eq!(nonzero_counts(&again), counts(&[("in_sync", 3)]));
    let imported = w
        .env
        .services()
        .await
        .into_iter()
        .find(|s| s["domain"] == "new.test")
        .expect("new.test imported");
    assert_eq!(imported["username"], "newbie");
    assert_eq!(imported["regdate"], "2024-02-01");
    assert_eq!(imported["status"], "Active");
    assert_eq!(imported["product_id"], 150);
}

#[tokio::test(flavor = "multi_thread")]
async fn success_true_without_accounts_fails_and_nothing_is_applicable() {
    let w = World::new();
    python_module(&w.modules, "mypanel", &json!({"success": true}), "");
    w.import(&billing(15, "ext1", "mypanel", vec![])).await;
    let line = w.failed_analyse("ext1").await;
    assert_eq!(
        line,
        "serversync: error: server ext1: listing failed: the module's answer is not the \
         ListAccounts wire form: \"success\" is true but \"accounts\" is missing (a server \
         without accounts answers \"accounts\": [])"
    );
    w.apply_refused("ext1").await;
    // Billing is untouched.
    assert_eq!(w.env.service(150).await["status"], "Active");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_modules_own_error_is_in_the_line() {
    let w = World::new();
    python_module(
        &w.modules,
        "mypanel",
        &json!({"success": false, "error": "Invalid API key"}),
        "",
    );
    w.import(&billing(15, "ext1", "mypanel", vec![])).await;
    let line = w.failed_analyse("ext1").await;
    assert!(line.contains("server ext1: listing failed"), "{line}");
    assert!(line.contains("Invalid API key"), "{line}");
    w.apply_refused("ext1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_a_module_prints_never_appears() {
    let w = World::new();
    python_script_module(
        &w.modules,
        "mypanel",
        "sys.stderr.write('connecting with ' + json.dumps(params) + '\\n')\n\
         sys.stderr.write('login ' + params['serverusername'] + ':' + params['serverpassword'] + ' refused\\n')\n\
         print(params['serverpassword'])\nsys.exit(4)",
    );
    w.import(&billing(15, "ext1", "mypanel", vec![])).await;
    let line = w.failed_analyse("ext1").await;
    assert!(
        line.contains("the module's process exited with status 4"),
        "{line}"
    );
    assert!(line.contains("login admin:[redacted] refused"), "{line}");
    // Nor in the stored run, the run list or the export.
    let runs = w.ok(&["records", "export"]).await;
    assert!(!runs.stdout.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_created_is_skipped_and_no_termination_is_offered() {
    let w = World::new();
    let mut answer = drift_answer();
    answer["accounts"].as_array_mut().unwrap().push(remote(
        "odd.test",
        "odd",
        "Active",
        "31/01/2024",
    ));
    python_module(&w.modules, "mypanel", &answer, "");
    // gone.test is not on the server: with a complete listing it would be offered.
    w.import(&billing(
        15,
        "ext1",
        "mypanel",
        vec![service(152, 1, 150, 15, "gone.test", "gone", "Active")],
    ))
    .await;
    let doc = w.analyse("ext1").await;
    assert_eq!(doc["listing"]["complete"], false);
    assert_eq!(
        doc["listing"]["skipped"],
        json!([{"index": 3, "identifier": "odd", "reason": "created \"31/01/2024\" is not \"Y-m-d H:i:s\" or \"Y-m-d\""}])
    );
    assert_eq!(
        nonzero_counts(&doc),
        counts(&[
            ("in_sync", 1),
            ("out_of_sync", 1),
            ("not_in_billing", 1),
            ("not_on_server", 1)
        ])
    );
    let gone = item(&doc, "gone.test");
    assert_eq!(gone["category"], "not_on_server");
    assert_eq!(gone["actions"], json!([]));
    // The incomplete run is not applicable without --force.
    let out = w
        .run(&["apply", "ext1", "--terminate", "all", "--json"])
        .await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("listing was incomplete"),
        "{}",
        out.stderr
    );
    assert_eq!(w.env.service(152).await["status"], "Active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_module_lists_analyses_and_applies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/serversync/list"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            serde_json::to_vec(&drift_answer()).unwrap(),
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/broken"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"success\": true}"))
        .mount(&server)
        .await;
    let w = World::new();
    for (name, p) in [("webpanel", "/serversync/list"), ("webbroken", "/broken")] {
        std::fs::create_dir_all(w.modules.join(name)).unwrap();
        std::fs::write(
            w.modules.join(name).join("module.toml"),
            format!(
                "url = \"{}{p}?key=QUERYSECRET\"\ntimeout_seconds = 20\n",
                server.uri()
            ),
        )
        .unwrap();
    }
    let mut doc = billing(16, "ext2", "webpanel", vec![]);
    let broken = billing(17, "ext3", "webbroken", vec![]);
    for section in ["products", "servers", "services"] {
        let extra = broken[section].as_array().unwrap().clone();
        doc[section].as_array_mut().unwrap().extend(extra);
    }
    w.import(&doc).await;

    let first = w.analyse("ext2").await;
    assert_eq!(first["server"]["module"], "webpanel");
    assert_eq!(
        nonzero_counts(&first),
        counts(&[("in_sync", 1), ("out_of_sync", 1), ("not_in_billing", 1)])
    );
    let applied = w
        .run(&[
            "apply", "ext2", "--import", "all", "--sync", "all", "--json",
        ])
        .await;
    assert_eq!(applied.code, 0, "{applied:#?}");
    let again = w.analyse("ext2").await;
    assert_eq!(nonzero_counts(&again), counts(&[("in_sync", 3)]));

    let line = w.failed_analyse("ext3").await;
    assert!(
        line.contains(
            "server ext3: listing failed: the module's answer is not the ListAccounts wire form"
        ),
        "{line}"
    );
    assert!(!line.contains("QUERYSECRET"), "{line}");
    w.apply_refused("ext3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_modules_folder_is_used() {
    // No --modules-dir: `modules` in the working directory.
    let env = Env::new();
    python_module(&env.path("modules"), "mypanel", &drift_answer(), "");
    let out = env.ok(&["modules", "check", "mypanel"]).await;
    assert!(
        out.stdout.starts_with("module mypanel (command) is usable"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_has_a_python_module_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), vec!["demo".into(), "--once".into()]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains(
            "ext1: external command module extpanel (Python, serversync-demo-modules/extpanel/list_accounts.py)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "ext1 (extpanel): 7 accounts listed, listing complete; 4 live services in billing"
        ),
        "{}",
        out.stdout
    );
    let db = format!(
        "sqlite://{}",
        dir.path().join("serversync-demo.db").display()
    );
    let args: Vec<String> = [
        "--database",
        &db,
        "--modules-dir",
        "serversync-demo-modules",
        "analyse",
        "ext1",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let doc: Value = serde_json::from_str(&run_in(dir.path(), args).await.stdout).unwrap();
    assert_eq!(
        nonzero_counts(&doc),
        counts(&[
            ("in_sync", 2),
            ("out_of_sync", 1),
            ("terminated_in_billing", 1),
            ("not_in_billing", 1),
            ("conflict", 2),
            ("not_on_server", 1)
        ])
    );
    assert_eq!(
        item(&doc, "plan15.test")["notes"],
        json!([
            "status \"active\" read as Active",
            "created \"2024-03-01\" has no time: taken as 00:00:00",
            "product was the number 2, taken as the text \"2\"",
            "not given by the module (shown empty, not compared): email"
        ])
    );
    let args: Vec<String> = [
        "--database",
        &db,
        "--modules-dir",
        "serversync-demo-modules",
        "apply",
        "ext1",
        "--dry-run",
        "--sync",
        "all",
        "--reactivate",
        "all",
        "--import",
        "all",
        "--terminate",
        "all",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_in(dir.path(), args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        outcomes(&out.json()),
        vec![
            ("import".into(), "new15.test".into(), "would_apply".into()),
            // old15.test is terminated in billing: reactivated only by --reactivate.
            (
                "reactivate".into(),
                "old15.test".into(),
                "would_apply".into()
            ),
            ("sync".into(), "blog15.test".into(), "would_apply".into()),
            ("terminate".into(), "1503".into(), "would_apply".into()),
        ]
    );
}
