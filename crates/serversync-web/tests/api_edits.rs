//! The API's record edits and connection test, in-process: a temporary SQLite store, a
//! cPanel simulator on loopback (accepting the WHM token `TOKEN`), the web router served on
//! loopback, driven with reqwest. Also: a read-only token may dry-run but never apply.

mod common;

use std::time::Duration;

use common::{service, ApiWorld, WEB1_IP};
use panel_sim::CpanelAccount;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// web1 lists `ann.test` (in sync) and `bob.test` (suspended; billing says Active).
fn accounts() -> Vec<Value> {
    let mut ann = CpanelAccount::new("ann", "ann.test").created(1_706_706_900);
    ann.plan = "basic".into();
    ann.ip = WEB1_IP.into();
    let mut bob = CpanelAccount::new("bob", "bob.test").created(1_706_706_900);
    bob.plan = "basic".into();
    bob.ip = WEB1_IP.into();
    vec![
        ann.into_value(),
        bob.suspended("Suspended for nonpayment.", 1_730_000_000)
            .into_value(),
    ]
}

type World = ApiWorld;

impl World {
    async fn new() -> World {
        World::start(
            accounts(),
            vec![
                service(1000, "ann.test", "ann", "Active"),
                service(1001, "bob.test", "bob", "Active"),
            ],
        )
        .await
    }

    /// The answer as (status, headers, body text, body JSON).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer is not JSON ({e}): {text:?}"));
        (status, headers, text, v)
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, _, v) = self.call(method, path, &self.admin, Some(body)).await;
        (s, v)
    }

    async fn get(&self, path: &str) -> Value {
        let (s, _, _, v) = self.call(Method::GET, path, &self.admin, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// A new cPanel server body for the simulator, with `token` as its WHM API token.
    fn web2(&self, token: &str) -> Value {
        json!({"name": "web2", "module": "cpanel", "hostname": "127.0.0.1",
               "ip_address": "192.0.2.20", "port": self.sim.addr.port(), "secure": false,
               "username": "root", "access_hash": token})
    }

    /// Runs web1 through a sync job; returns the run id.
    async fn run(&self) -> i64 {
        let (s, _, _, job) = self
            .call(Method::POST, "/api/servers/100/runs", &self.admin, None)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        let path = format!("/api/jobs/{}", job["id"]);
        for _ in 0..500 {
            let job = self.get(&path).await;
            if job["state"] == "done" {
                return job["run_id"].as_i64().expect("run_id");
            }
            assert_eq!(job["state"], "running", "{job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {path} still running after 10 s");
    }
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

#[tokio::test]
async fn servers_are_added_replaced_and_patched() {
    let w = World::new().await;
    let (status, headers, text, created) = w
        .call(
            Method::POST,
            "/api/servers",
            &w.admin,
            Some(w.web2("SECRET-TOKEN-2")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        !text.contains("SECRET-TOKEN-2"),
        "the secret is echoed: {text}"
    );
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        headers.get("location").and_then(|l| l.to_str().ok()),
        Some(format!("/api/servers/{id}").as_str())
    );
    insta::assert_json_snapshot!("server_created", created, { ".id" => "[id]", ".port" => "[sim port]" });
    let listed = w.get("/api/servers").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web1", "web2"]);
    // The list says which secrets are stored, as the single server does.
    assert_eq!(listed[1]["access_hash_set"], true, "{listed}");
    assert_eq!(listed[1]["password_set"], false, "{listed}");
    // The Location answers with the server as created, by id and by name.
    assert_eq!(w.get(&format!("/api/servers/{id}")).await, created);
    assert_eq!(w.get("/api/servers/web2").await, created);

    // PATCH by name: only the fields given change; the stored token is kept.
    let (status, patched) = w
        .admin(
            Method::PATCH,
            "/api/servers/web2",
            json!({"ip_address": "2001:db8::20", "port": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["ip_address"], "2001:db8::20");
    assert_eq!(patched["port"], Value::Null);
    assert_eq!(patched["hostname"], "127.0.0.1");
    assert_eq!(patched["access_hash_set"], true);

    // PUT by id replaces every setting; an empty secret keeps the stored one.
    let mut whole = w.web2("");
    whole["name"] = json!("web2-new");
    whole["disabled"] = json!(true);
    let (status, replaced) = w
        .admin(Method::PUT, &format!("/api/servers/{id}"), whole)
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"], "web2-new");
    assert_eq!(replaced["ip_address"], "192.0.2.20");
    assert_eq!(replaced["disabled"], true);
    assert_eq!(replaced["access_hash_set"], true);

    // Audited as the token, without the secret.
    let audit = w.get("/api/audit").await;
    let events: Vec<(&str, &str)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("server_edit", "api:deploy"),
            ("server_edit", "api:deploy"),
            ("server_add", "api:deploy"),
        ]
    );
    assert!(!audit.to_string().contains("SECRET-TOKEN-2"));
}

#[tokio::test]
async fn server_input_is_checked_like_the_page_form() {
    let w = World::new().await;
    let cases = [
        (
            json!({"ip_address": "300.1.1.1"}),
            "ip_address: \"300.1.1.1\" is not an IPv4 or IPv6 address",
        ),
        (
            json!({"name": " WEB1 "}),
            "name: \"WEB1\" is already used by web1 (server 100); names are compared ignoring case and surrounding spaces",
        ),
        (
            json!({"access_hash": ""}),
            "password: the cpanel module needs a password or an access hash (API token)",
        ),
        (
            json!({"username": ""}),
            "username: the cpanel module signs in with a user name",
        ),
        (json!({"module": "nopanel"}), "module: unknown module \"nopanel\""),
        (
            json!({"hostname": "https://web2.test/"}),
            "hostname: ",
        ),
    ];
    for (change, want) in cases {
        let mut body = w.web2("TOKEN");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = w.admin(Method::POST, "/api/servers", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}: {v}");
        assert!(error_of(&v).starts_with(want), "{change}: {v}");
    }
    // The body's own shape: a bad field is named.
    let mut body = w.web2("TOKEN");
    body["port"] = json!(70000);
    let (status, v) = w.admin(Method::POST, "/api/servers", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&v).starts_with("port: invalid value: integer `70000`"),
        "{v}"
    );
    let mut body = w.web2("TOKEN");
    body["passwrod"] = json!("x");
    let (status, v) = w.admin(Method::POST, "/api/servers", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&v).starts_with("passwrod: unknown field `passwrod`"),
        "{v}"
    );
    let (status, v) = w
        .admin(Method::POST, "/api/servers", json!({"name": "web2"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).contains("missing field `module`"), "{v}");
    // A rename onto another server's name, and a server that does not exist.
    let (s, v) = w.admin(Method::POST, "/api/servers", w.web2("T")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (status, v) = w
        .admin(Method::PATCH, "/api/servers/web2", json!({"name": "Web1"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&v).starts_with("name: \"Web1\" is already used by web1 (server 100)"),
        "{v}"
    );
    let (status, v) = w
        .admin(
            Method::PATCH,
            "/api/servers/nosuch",
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    // Nothing refused was written.
    assert_eq!(w.get("/api/servers").await.as_array().unwrap().len(), 2);

    // Read-only tokens change nothing.
    for (method, path) in [
        (Method::POST, "/api/servers"),
        (Method::PUT, "/api/servers/web1"),
        (Method::PATCH, "/api/servers/web1"),
        (Method::PATCH, "/api/products/10"),
    ] {
        let (status, _, _, v) = w
            .call(method.clone(), path, &w.readonly, Some(w.web2("TOKEN")))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        assert_eq!(error_of(&v), "API token \"monitor\" is read-only");
    }
}

#[tokio::test]
async fn products_are_mapped_like_the_product_form() {
    let w = World::new().await;
    let (status, product) = w
        .admin(
            Method::PATCH,
            "/api/products/10",
            json!({"package": "gold", "config_options": {"configoption2": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    insta::assert_json_snapshot!("product_mapped", product);
    // Given settings change, the others are kept; an empty value removes one.
    let (status, product) = w
        .admin(
            Method::PATCH,
            "/api/products/10",
            json!({"name": "Gold Hosting", "config_options": {"configoption2": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    assert_eq!(
        product,
        json!({"id": 10, "name": "Gold Hosting", "module": "cpanel",
               "config_options": {"configoption1": "gold"}})
    );
    assert_eq!(w.get("/api/products").await, json!([product]));
    let audit = w.get("/api/audit").await;
    assert_eq!(audit["events"][0]["action"], "product_edit");
    assert_eq!(audit["events"][0]["actor"], "api:deploy");

    for (body, want) in [
        (
            json!({"config_options": {"configoption99": "x"}}),
            "configoption99: not a module setting (configoption1..24)",
        ),
        (
            json!({"package": "gold", "config_options": {"configoption1": "silver"}}),
            "package: \"gold\" and config_options.configoption1 set the same setting differently",
        ),
        (json!({"name": " "}), "name: a product needs a name"),
        (
            json!({"packages": "x"}),
            "packages: unknown field `packages`",
        ),
    ] {
        let (status, v) = w
            .admin(Method::PATCH, "/api/products/10", body.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(error_of(&v).starts_with(want), "{body}: {v}");
    }
    let (status, v) = w
        .admin(Method::PATCH, "/api/products/99", json!({"package": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(error_of(&v), "product 99 not found");
}

#[tokio::test]
async fn connection_test_lists_once_and_says_so_in_one_line() {
    let w = World::new().await;
    let runs_before = w.get("/api/servers/100/runs").await;
    // Read-only tokens may test: it writes nothing.
    let (status, _, _, ok) = w
        .call(Method::POST, "/api/servers/web1/test", &w.readonly, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let line = ok["line"].as_str().unwrap().to_string();
    assert!(
        line.starts_with("web1: connected, 2 accounts listed in ") && line.ends_with(" s"),
        "{line}"
    );
    insta::assert_json_snapshot!("connection_ok", ok, {
        ".seconds" => "[seconds]",
        ".line" => "[line]",
    });
    assert_eq!(w.get("/api/servers/100/runs").await, runs_before);

    // A wrong token: the test ran and failed, with the panel's cause.
    let (s, created) = w.admin(Method::POST, "/api/servers", w.web2("WRONG")).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (status, _, text, failed) = w
        .call(Method::POST, "/api/servers/web2/test", &w.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!(failed["connected"], false);
    assert_eq!(failed["accounts"], 0);
    let cause = failed["error"].as_str().expect("error");
    assert_eq!(failed["line"], format!("web2: failed: {cause}"));
    assert!(cause.contains("403") || cause.contains("401"), "{cause}");
    assert!(!text.contains("WRONG"), "the secret is echoed: {text}");
    insta::assert_json_snapshot!("connection_failed", failed, {
        ".seconds" => "[seconds]",
        ".server_id" => "[id]",
    });

    let (status, _, _, v) = w
        .call(Method::POST, "/api/servers/nosuch/test", &w.admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn read_only_token_may_dry_run_but_never_apply() {
    let w = World::new().await;
    let run = w.run().await;
    let apply = format!("/api/runs/{run}/apply");
    let services_before = w.get("/api/services").await;
    let audit_before = w.get("/api/audit").await;

    let (status, _, _, dry) = w
        .call(
            Method::POST,
            &apply,
            &w.readonly,
            Some(json!({"sync": "all", "dry_run": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let outcomes: Vec<(&str, &str)> = dry["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [("bob.test", "would_apply")], "{dry}");
    // The same review as an admin token's.
    let (_, admin_dry) = w
        .admin(
            Method::POST,
            &apply,
            json!({"sync": "all", "dry_run": true}),
        )
        .await;
    assert_eq!(admin_dry["results"], dry["results"]);

    for body in [
        json!({"sync": "all"}),
        json!({"sync": "all", "dry_run": false}),
        json!({"sync": "all", "dry_run": "true"}),
    ] {
        let (status, _, _, v) = w
            .call(Method::POST, &apply, &w.readonly, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {v}");
        assert_eq!(error_of(&v), "API token \"monitor\" is read-only");
    }
    assert_eq!(w.get("/api/services").await, services_before);
    assert_eq!(w.get("/api/audit").await, audit_before);
    assert_eq!(
        w.get(&format!("/api/runs/{run}")).await["applied_at"],
        Value::Null
    );
}
